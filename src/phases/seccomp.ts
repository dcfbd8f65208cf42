/**
 * Install the filters prepared by the seccomp feature: seccomp(SECCOMP_SET_MODE_FILTER),
 * with SECCOMP_FILTER_FLAG_LOG for --seccomp_log. A --seccomp_bpf_file filter
 * goes first and the compiled one last: the kernel runs the newest filter
 * first and the most restrictive answer wins, so on calls both refuse,
 * tsjail's own errno is the one the program sees.
 */
import { SECCOMP_FILTER_FLAG_LOG, SECCOMP_SET_MODE_FILTER } from '../linux/consts.js';
import { bytes, int, op, Struct, type ChildOp } from '../plan/ops.js';

export interface SeccompFilters {
  /** Compiled from policies, lists and presets. */
  readonly compiled?: Uint8Array;
  /** Read from --seccomp_bpf_file and checked. */
  readonly file?: Uint8Array;
  readonly fileName?: string;
}

function install(filter: Uint8Array, flags: number, what: string): ChildOp {
  const len = filter.length / 8;
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Struct(16).u16(0, len).done();
  const prog = bytes(fprog, `{len=${len}}`, [{ at: 8, to: bytes(filter, 'filter') }]);
  return op('seccomp', 'seccomp', [int(SECCOMP_SET_MODE_FILTER), int(flags), prog], { text: `seccomp(SECCOMP_SET_MODE_FILTER${flags ? ', SECCOMP_FILTER_FLAG_LOG' : ''}, ${len} instructions${what})` });
}

export function planSeccomp(f: SeccompFilters, logFlag: boolean): ChildOp[] {
  const flags = logFlag ? SECCOMP_FILTER_FLAG_LOG : 0;
  const ops: ChildOp[] = [];
  if (f.file) ops.push(install(f.file, flags, ` from ${f.fileName}`));
  if (f.compiled) ops.push(install(f.compiled, flags, ''));
  return ops;
}
