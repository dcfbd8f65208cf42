/**
 * Install the filter compiled in the parent. seccomp(SECCOMP_SET_MODE_FILTER)
 * with SECCOMP_FILTER_FLAG_LOG for --seccomp_log.
 */
import { SECCOMP_FILTER_FLAG_LOG, SECCOMP_SET_MODE_FILTER } from '../linux/consts.js';
import { bytes, int, op, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

export function planSeccomp(p: Prepared): ChildOp[] {
  if (!p.seccomp) return [];
  const len = p.seccomp.length / 8;
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Struct(16).u16(0, len).done();
  const prog = bytes(fprog, `{len=${len}}`, [{ at: 8, to: bytes(p.seccomp, 'filter') }]);
  const flags = p.cfg.seccomp_log ? SECCOMP_FILTER_FLAG_LOG : 0;
  return [op('seccomp', 'seccomp', [int(SECCOMP_SET_MODE_FILTER), int(flags), prog], { text: `seccomp(SECCOMP_SET_MODE_FILTER${flags ? ', SECCOMP_FILTER_FLAG_LOG' : ''}, ${len} instructions)` })];
}
