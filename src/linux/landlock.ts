/**
 * The running kernel's Landlock ABI: landlock_create_ruleset(NULL, 0,
 * LANDLOCK_CREATE_RULESET_VERSION). Probed in the parent, before any clone;
 * Landlock does not depend on namespaces, so the jail sees the same ABI.
 */
import { LANDLOCK_CREATE_RULESET_VERSION } from '../landlock/abi.js';
import { SYS } from './consts.js';
import { formatErrno } from './errno.js';
import { rawSyscall3 } from './libc.js';

const ENOSYS = 38;
const EOPNOTSUPP = 95;

export const LANDLOCK_UNSUPPORTED = 'landlock is not supported by the kernel or not enabled at boot';
const HINT = "(Linux >= 5.13 with CONFIG_SECURITY_LANDLOCK=y and 'landlock' in CONFIG_LSM or the lsm= boot parameter)";

export interface LandlockSupport {
  /** 0 when the kernel has no usable Landlock. */
  readonly abi: number;
  /** Why abi is 0. */
  readonly reason?: string;
}

export function probeLandlockAbi(): LandlockSupport {
  const r = rawSyscall3(SYS.landlock_create_ruleset, null, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (r > 0) return { abi: r };
  const e = -r;
  if (e === ENOSYS || e === EOPNOTSUPP) return { abi: 0, reason: `${LANDLOCK_UNSUPPORTED} ${HINT}` };
  return { abi: 0, reason: `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): ${formatErrno(e)}` };
}
