/**
 * Files the user names as input (config files, seccomp policies, compiled
 * filters): read whole, but only when they are files of a sane size. A
 * device such as /dev/zero would otherwise be read until memory runs out.
 * FIFOs stay allowed, so `--config <(generate-config)` works; they are cut
 * off at the same size.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { formatNodeError } from './linux/errno.js';
import { quoted } from './text.js';

/** Far above any real config or policy (nsjail's shipped configs are a few KiB). */
export const MAX_INPUT_BYTES = 4 << 20;

export class InputFileError extends Error {}

function kind(st: Stats): string | undefined {
  if (st.isFile() || st.isFIFO()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** `what` names the option or purpose in errors ("config file", "--seccomp_policy"). */
export function readInputFile(path: string, what: string, limit = MAX_INPUT_BYTES): Buffer {
  const refuse = (why: string): never => {
    throw new InputFileError(`${what} ${quoted(path, 200)}: ${why}`);
  };
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    return refuse(`stat() failed: ${formatNodeError(e)}`);
  }
  // Checked before open(): opening some devices blocks or has effects of its own.
  const bad = kind(st);
  if (bad) refuse(`is ${bad}, not a file`);
  if (st.isFile() && st.size > limit) refuse(`is ${st.size} bytes, more than the ${limit >> 20} MiB an input file may have`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return refuse(`open(O_RDONLY) failed: ${formatNodeError(e)}`);
  }
  try {
    const again = kind(fstatSync(fd));
    if (again) refuse(`is ${again}, not a file`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(64 << 10, limit + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        return refuse(`read() failed: ${formatNodeError(e)}`);
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > limit) refuse(`holds more than the ${limit >> 20} MiB an input file may have`);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
