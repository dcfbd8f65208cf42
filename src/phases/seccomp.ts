/**
 * Install the filters prepared in the parent: --seccomp_bpf_file's first, then
 * the compiled one. The kernel runs every installed filter and keeps the most
 * restrictive answer; between equal actions the newest filter's data wins, so
 * tsjail's own policy decides the errno when both refuse a call.
 * seccomp(SECCOMP_SET_MODE_FILTER) with SECCOMP_FILTER_FLAG_LOG for --seccomp_log.
 */
import { SECCOMP_FILTER_FLAG_LOG, SECCOMP_SET_MODE_FILTER } from '../linux/consts.js';
import { bytes, int, op, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

function install(filter: Uint8Array, flags: number, what: string): ChildOp {
  const len = filter.length / 8;
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Struct(16).u16(0, len).done();
  const prog = bytes(fprog, `{len=${len}}`, [{ at: 8, to: bytes(filter, 'filter') }]);
  return op('seccomp', 'seccomp', [int(SECCOMP_SET_MODE_FILTER), int(flags), prog], { text: `seccomp(SECCOMP_SET_MODE_FILTER${flags ? ', SECCOMP_FILTER_FLAG_LOG' : ''}, ${len} instructions${what})` });
}

export function planSeccomp(p: Prepared): ChildOp[] {
  const flags = p.cfg.seccomp_log ? SECCOMP_FILTER_FLAG_LOG : 0;
  const ops: ChildOp[] = [];
  if (p.seccompBpfFile) ops.push(install(p.seccompBpfFile, flags, ` from ${p.cfg.ext.seccomp_bpf_file}`));
  if (p.seccomp) ops.push(install(p.seccomp, flags, ''));
  return ops;
}
