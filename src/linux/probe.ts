/**
 * Whether the running kernel has a system call, found by calling it with
 * arguments it must refuse before doing anything (a size of 0, unknown flags,
 * a NULL path): EINVAL, EFAULT or EBADF mean it exists, ENOSYS that it does
 * not, EPERM that a seccomp filter around tsjail (a container) refuses it.
 * For `tsjail doctor`; nothing is created or changed.
 */
import { SYS } from './consts.js';
import { rawSyscallProbe } from './libc.js';

/** Not in SYS: tsjail calls it from native/runner.c only. */
const SYS_clone3 = 435;
const SECCOMP_GET_NOTIF_SIZES = 3;
/** Every bit set: any flags check fails. */
const ALL_FLAGS = 0xffffffff;

export interface SyscallProbe {
  /** The kernel has the call and lets tsjail make it. */
  readonly present: boolean;
  /** The errno the probe got when it is not there (ENOSYS), or is refused (EPERM). */
  readonly errno?: number;
}

const ENOSYS = 38;
const EPERM = 1;

function judge(r: number): SyscallProbe {
  return r === -ENOSYS || r === -EPERM ? { present: false, errno: -r } : { present: true };
}

/** Each call with arguments it refuses up front; see the header. */
export const PROBES = {
  clone3: () => judge(rawSyscallProbe(SYS_clone3, 0, 0, null)), // size 0 < CLONE_ARGS_SIZE_VER0: EINVAL
  open_tree: () => judge(rawSyscallProbe(SYS.open_tree, -1, 0, null)), // NULL path: EFAULT
  move_mount: () => judge(rawSyscallProbe(SYS.move_mount, -1, 0, null, 0, ALL_FLAGS)), // unknown flags: EINVAL
  mount_setattr: () => judge(rawSyscallProbe(SYS.mount_setattr, -1, 0, null, 0, 0)), // size 0: EINVAL
  openat2: () => judge(rawSyscallProbe(SYS.openat2, -1, 0, null, 0)), // size 0: EINVAL
  close_range: () => judge(rawSyscallProbe(SYS.close_range, 1, 0, null)), // first > last: EINVAL
} as const satisfies Record<string, () => SyscallProbe>;

/** seccomp(SECCOMP_GET_NOTIF_SIZES): the kernel supports seccomp user notification (Linux >= 5.0). */
export function probeSeccompNotify(): SyscallProbe {
  const sizes = Buffer.alloc(6);
  const r = rawSyscallProbe(SYS.seccomp, SECCOMP_GET_NOTIF_SIZES, 0, sizes);
  return r >= 0 ? { present: true } : { present: false, errno: -r };
}
