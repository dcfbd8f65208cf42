/**
 * Install the filter compiled in the parent. seccomp(SECCOMP_SET_MODE_FILTER)
 * with SECCOMP_FILTER_FLAG_LOG for --seccomp_log.
 */
import { SECCOMP_FILTER_FLAG_LOG, SECCOMP_SET_MODE_FILTER } from '../linux/consts.js';
import { bytes, int, op, Struct, type ChildOp } from '../plan/ops.js';

export function planSeccomp(filter: Uint8Array, logFlag: boolean): ChildOp[] {
  const len = filter.length / 8;
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Struct(16).u16(0, len).done();
  const prog = bytes(fprog, `{len=${len}}`, [{ at: 8, to: bytes(filter, 'filter') }]);
  const flags = logFlag ? SECCOMP_FILTER_FLAG_LOG : 0;
  return [op('seccomp', 'seccomp', [int(SECCOMP_SET_MODE_FILTER), int(flags), prog], { text: `seccomp(SECCOMP_SET_MODE_FILTER${flags ? ', SECCOMP_FILTER_FLAG_LOG' : ''}, ${len} instructions)` })];
}
