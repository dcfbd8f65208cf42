/**
 * Whether the running kernel has a system call, found by calling it with
 * arguments it must refuse before doing anything (a size of 0, unknown flags,
 * a NULL path): EINVAL, EFAULT or EBADF mean it exists, ENOSYS that it does
 * not, EPERM that a seccomp filter around tsjail (a container) refuses it.
 * For `tsjail doctor`; nothing is created or changed.
 */
import { closeSync, writeSync } from 'node:fs';
import { SYS } from './consts.js';
import { memfdCreate, rawSyscallProbe } from './libc.js';
import { childProcess } from '../lazy.js';

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

/**
 * A tiny static ELF executable that only calls exit(42): i386 through int 0x80,
 * or x86_64 through syscall (the control that memfd execution works). Whether
 * the kernel runs the i386 one is the only sure test of ia32 emulation: a
 * kernel built with it may refuse 32-bit programs at run time
 * (ia32_emulation=0, some hypervisor guests) and still have
 * /proc/sys/abi/vsyscall32.
 */
function tinyExit42(arch: 'i386' | 'x86_64'): Buffer {
  const is32 = arch === 'i386';
  const [ehsize, phsize] = is32 ? [52, 32] : [64, 56];
  const code = is32 ? [0xb8, 1, 0, 0, 0, 0xbb, 42, 0, 0, 0, 0xcd, 0x80] : [0xb8, 60, 0, 0, 0, 0xbf, 42, 0, 0, 0, 0x0f, 0x05];
  const size = ehsize + phsize + code.length;
  const base = 0x400000;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, is32 ? 1 : 2, 1, 1], 0); // ELFCLASS32/64, little-endian, EV_CURRENT
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(is32 ? 3 : 62, 18); // EM_386, EM_X86_64
  b.writeUInt32LE(1, 20); // e_version
  const word = (v: number, at: number) => (is32 ? b.writeUInt32LE(v, at) : b.writeBigUInt64LE(BigInt(v), at));
  const w = is32 ? 4 : 8;
  word(base + ehsize + phsize, 24); // e_entry: the code after the headers
  word(ehsize, 24 + w); // e_phoff
  const flagsAt = 24 + 3 * w;
  b.writeUInt16LE(ehsize, flagsAt + 4); // e_ehsize
  b.writeUInt16LE(phsize, flagsAt + 6); // e_phentsize
  b.writeUInt16LE(1, flagsAt + 8); // e_phnum
  // One PT_LOAD of the whole file, readable and executable.
  const ph = ehsize;
  b.writeUInt32LE(1, ph);
  if (is32) {
    [0, base, base, size, size, 5, 0x1000].forEach((v, i) => b.writeUInt32LE(v, ph + 4 + 4 * i));
  } else {
    b.writeUInt32LE(5, ph + 4);
    [0, base, base, size, size, 0x1000].forEach((v, i) => b.writeBigUInt64LE(BigInt(v), ph + 8 + 8 * i));
  }
  b.set(code, ehsize + phsize);
  return b;
}

/** Runs the program from a memfd; true when it exited with 42. */
function runsExit42(arch: 'i386' | 'x86_64'): boolean {
  const fd = memfdCreate(`tsjail-probe-${arch}`);
  try {
    writeSync(fd, tinyExit42(arch));
    // The descriptor has no CLOEXEC, so the child execs its own copy of it.
    return childProcess().spawnSync(`/proc/self/fd/${fd}`, [], { stdio: 'ignore', timeout: 5000 }).status === 42;
  } finally {
    closeSync(fd);
  }
}

/** Whether this kernel runs 32-bit x86 programs, judged by running one; undefined when not even the 64-bit control ran. */
export function probeIa32(): boolean | undefined {
  if (runsExit42('i386')) return true;
  return runsExit42('x86_64') ? false : undefined;
}
