/**
 * rlimits with soft = hard, so the program cannot raise them again. Values
 * come resolved from prepare (the unit applied to numbers only, never to
 * soft/hard/inf: nsjail 3.6 multiplied an inherited limit, issue #266).
 */
import { RLIM64_INFINITY, RLIMIT_RESOURCES } from '../linux/consts.js';
import { bytes, int, named, nul, op, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

const HINTS = {
  EPERM: 'raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace: use a value within tsjail\'s own hard limit (\'hard\')',
  EINVAL: 'RLIMIT_NOFILE cannot exceed /proc/sys/fs/nr_open',
};

export function planRlimits(p: Prepared): ChildOp[] {
  return p.rlimits.map((r) => {
    // A number times its unit past 64 bits means "no limit", not a wrapped small one.
    const value = r.value > RLIM64_INFINITY ? RLIM64_INFINITY : r.value;
    const lim = new Struct(16).u64(0, value).u64(8, value).done();
    const shown = value === RLIM64_INFINITY ? 'RLIM64_INFINITY' : String(value);
    return op('prlimit64', 'rlimits', [int(0), named(r.resource, RLIMIT_RESOURCES), bytes(lim, `{${shown}, ${shown}}`), nul], { hints: HINTS });
  });
}
