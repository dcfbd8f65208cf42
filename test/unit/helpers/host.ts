/** A fixed host for plan tests: uid/gid 1000, rlimits soft 100 / hard 200, 41 capabilities, 2 CPUs. */
import type { HostFacts } from '../../../src/prepare.js';
import { RLIMIT_NAMES } from '../../../src/spec.js';

export const FAKE_HOST: HostFacts = {
  uid: 1000,
  gid: 1000,
  rlimits: Object.fromEntries(RLIMIT_NAMES.map((n) => [n, [100n, 200n]])) as HostFacts['rlimits'],
  capLast: 40,
  cpus: [0, 1],
};
