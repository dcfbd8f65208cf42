/** rlimits with soft = hard, so the program cannot raise them again. */
import { RLIMIT_RESOURCES } from '../linux/consts.js';
import { bytes, int, named, nul, op, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

export function planRlimits(p: Prepared): ChildOp[] {
  return p.rlimits.map((r) => {
    const lim = new Struct(16).u64(0, r.value).u64(8, r.value).done();
    const shown = r.value === 0xffffffffffffffffn ? 'RLIM64_INFINITY' : String(r.value);
    return op('prlimit64', 'rlimits', [int(0), named(r.resource, RLIMIT_RESOURCES), bytes(lim, `{${shown}, ${shown}}`), nul]);
  });
}
