/** UTS namespace: the hostname (only set in a new UTS namespace, as nsjail). */
import { int, op, str, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

export function planUts(p: Prepared): ChildOp[] {
  if (!p.cfg.clone_newuts) return [];
  const name = p.cfg.hostname;
  return [op('sethostname', 'uts', [str(name), int(Buffer.byteLength(name))])];
}
