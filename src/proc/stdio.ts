/**
 * tsjail's descriptors 0-2 are the jail's too: the child inherits them, so
 * both use the same open file descriptions, and O_NONBLOCK lives in the
 * description. Node sets that flag on a pipe, socket or tty the first time
 * anything touches process.stdout/stderr/stdin (it wraps the fd in a libuv
 * stream; net.Socket's destroy() alone looks at process.stderr), at any moment
 * while a jail runs. The jailed program then gets EAGAIN once its reader falls
 * behind and its output is lost (`… | (sleep 1; wc -c)` counted 65536 of
 * 1048576 bytes).
 *
 * Undoing it in the child cannot work: clearing the flag changes tsjail's
 * description as well, and Node may set it again later. Giving the program a
 * description of its own by reopening /proc/self/fd/N works for pipes and
 * ttys only (not for sockets, e.g. a journal's stdout), and gives a regular
 * file a second offset. So the cause goes: tsjail never lets Node wrap these
 * descriptors. process.stdout and process.stderr become synchronous writers
 * on the fd as given (tsjail's logger writes synchronously anyway, as nsjail
 * does) and process.stdin an empty stream that never reads (the jail reads
 * tsjail's stdin, tsjail never does). The descriptors keep the mode the
 * caller gave them, as under nsjail. Imported first by the entry point, before
 * any other module can touch them.
 */
import { writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { nodeStream } from '../lazy.js';

function syncWriter(fd: number): Writable {
  const w = new (nodeStream().Writable)({
    decodeStrings: true,
    write(chunk: Buffer, _enc, done) {
      try {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
      } catch {
        /* a closed or full stdio must not take the supervisor down */
      }
      done();
    },
  });
  return Object.assign(w, { fd, isTTY: false });
}

function emptyReader(fd: number): Readable {
  const r = new (nodeStream().Readable)({
    read() {
      this.push(null);
    },
  });
  return Object.assign(r, { fd, isTTY: false });
}

const streams: Array<[string, () => Writable | Readable]> = [
  ['stdin', () => emptyReader(0)],
  ['stdout', () => syncWriter(1)],
  ['stderr', () => syncWriter(2)],
];
for (const [name, make] of streams) {
  let s: Writable | Readable | undefined;
  Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => (s ??= make()) });
}
