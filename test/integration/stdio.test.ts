/**
 * tsjail's stdio is the jail's (issue 11): Node must never turn it non-blocking
 * under the program. stdout and stderr are one pipe (`2>&1 | slow reader`),
 * a FIFO the test controls: it reads nothing until the program's write has
 * blocked, then drains it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingRoot, missingUserns } from './helpers/require.js';
import { TSJAIL } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();
const MiB = 1024 * 1024;
const pause = () => new Promise((r) => setTimeout(r, 10));

function descendants(pid: number): number[] {
  const kids = (() => {
    try {
      return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      return [];
    }
  })();
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

/** A process below tsjail sleeping in write(1, …): the pipe is full and the writer blocks. */
function blockedWriter(tsjail: number): boolean {
  return descendants(tsjail).some((p) => {
    try {
      return readFileSync(`/proc/${p}/syscall`, 'utf8').startsWith('1 0x1 ');
    } catch {
      return false;
    }
  });
}

describe.skipIf(!!skip)('stdio shared with the jail', () => {
  it('1 MiB through a slow pipe arrives whole, and fds 1 and 2 of the program have no O_NONBLOCK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-stdio-'));
    const fifo = join(dir, 'out');
    execFileSync('mkfifo', [fifo]);
    const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const wr = openSync(fifo, constants.O_WRONLY);
    try {
      const script = 'head -c 1048576 /dev/zero; grep -H flags /proc/self/fdinfo/1 /proc/self/fdinfo/2';
      const child = spawn(process.execPath, [TSJAIL, '-Mo', '--chroot', '/', '-Q', '--', '/bin/sh', '-c', script], { stdio: ['ignore', wr, wr] });
      closeSync(wr);
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      let done = false;
      void exited.then(() => (done = true));
      // The reader starts late: once the program blocks on the full pipe (or, with the bug, has given up).
      for (const t0 = Date.now(); !done && !blockedWriter(child.pid!); await pause()) {
        if (Date.now() - t0 > 20_000) throw new Error('the program never blocked on the full pipe');
      }
      const chunks: Buffer[] = [];
      const b = Buffer.alloc(65536);
      for (;;) {
        let n: number;
        try {
          n = readSync(rd, b);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
          await pause();
          continue;
        }
        if (n === 0) break; // every writer closed
        chunks.push(Buffer.from(b.subarray(0, n)));
      }
      const code = await exited;
      const out = Buffer.concat(chunks);
      const zeros = out.indexOf('/proc');
      expect(zeros, `${out.length} bytes read: ${JSON.stringify(out.subarray(MiB).toString())}`).toBe(MiB);
      expect(out.subarray(0, MiB).every((x) => x === 0)).toBe(true);
      const flags = Object.fromEntries([...out.subarray(MiB).toString().matchAll(/fdinfo\/(\d):flags:\s+(\d+)/g)].map((m) => [m[1], parseInt(m[2]!, 8)]));
      expect(Object.keys(flags)).toEqual(['1', '2']);
      for (const f of Object.values(flags)) expect(f & constants.O_NONBLOCK, `flags 0${f.toString(8)}`).toBe(0);
      expect(code).toBe(0);
    } finally {
      closeSync(rd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
