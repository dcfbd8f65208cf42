/**
 * `--seccomp_bpf_file`: a raw classic-BPF filter (struct sock_filter[], 8
 * little-endian bytes each) from `tsjail seccomp compile` or any other tool
 * (libseccomp's seccomp_export_bpf, bubblewrap's --seccomp input). It is read
 * and checked as the kernel would check it in the parent, so a bad file is one
 * clear error before any clone instead of an EINVAL in the child.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { BPF_MAXINSNS, decode } from './bpf.js';
import { SeccompCompileError } from './errors.js';
import { verify } from './interp.js';

const INSN = 8;
const MAX_BYTES = BPF_MAXINSNS * INSN;

/** Reads at most one byte past the limit, so pipes and endless files (/dev/zero) end too. */
function readBounded(path: string): Uint8Array {
  const buf = new Uint8Array(MAX_BYTES + 1);
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (let got = 1; got > 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes, checked; throws SeccompCompileError with one line naming `what` (the option) and the file. */
export function loadBpfFile(path: string, what = '--seccomp_bpf_file'): Uint8Array {
  const fail = (problem: string): never => {
    throw new SeccompCompileError(`${what} '${path}': ${problem}`);
  };
  let bytes: Uint8Array;
  try {
    bytes = readBounded(path);
  } catch (e) {
    return fail(`cannot read: ${(e as Error).message}`);
  }
  if (bytes.length === 0) fail('empty: a filter needs at least one instruction');
  if (bytes.length > MAX_BYTES) fail(`longer than ${BPF_MAXINSNS} instructions (${MAX_BYTES} bytes), the kernel's limit`);
  if (bytes.length % INSN !== 0) fail(`${bytes.length} bytes is not a whole number of 8-byte struct sock_filter instructions`);
  const problems = verify(decode(bytes));
  if (problems.length) fail(`not a loadable seccomp filter: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`);
  return bytes;
}
