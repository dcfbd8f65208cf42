/** UTS namespace: the hostname (only set in a new UTS namespace, as nsjail). */
import { int, op, str, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

export function planUts(p: Prepared): ChildOp[] {
  const name = p.hostname;
  if (name === undefined) return [];
  return [op('sethostname', 'uts', [str(name), int(Buffer.byteLength(name))])];
}
