/**
 * The only place koffi is loaded: libc calls Node does not offer, and the
 * native plan runner. Loaded on first use so `--help` and parse errors never
 * pay for it.
 *
 * The native parts are files in native/build beside the code, or, in the
 * single binary, assets of the executable copied into anonymous memory files
 * (nativePath()): nothing is loaded or executed through a path that another
 * user could write or swap.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embedded, type AssetName } from '../embedded.js';
import { JailError } from '../errors.js';
import { AT_EMPTY_PATH, AT_RECURSIVE, bit, F_DUPFD_CLOEXEC, F_SETFD, MSG_DONTWAIT, MSG_PEEK, O, O_TMPFILE, OPEN_TREE_FLAGS, RESOLVE_FLAGS, SYS, WNOHANG } from './consts.js';
import { errnoValue, formatNodeError } from './errno.js';
import { quoted } from '../text.js';
import { WIRE } from './wire.js';

const NATIVE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../native/build');

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;

/** koffi's native module: what its index.js wraps. tsjail calls load(), func() and errno() only. */
interface Koffi {
  load(path: string): { func(decl: string): Fn };
  errno(): number;
}

/** libc's functions tsjail calls, each declared to koffi on first use (~20 µs apiece, most runs need few). */
const LIBC = {
  socketpair: 'int socketpair(int domain, int type, int protocol, _Out_ int *fds)',
  pipe2: 'int pipe2(_Out_ int *fds, int flags)',
  wait4: 'int wait4(int pid, void *status, int options, void *rusage)',
  prlimit64: 'int prlimit64(int pid, int resource, void *newlim, void *oldlim)',
  fcntl: 'int fcntl(int fd, int cmd, int arg)',
  syscall3: 'long syscall(long nr, void *a, size_t b, uint32_t c)',
  memfd_create: 'int memfd_create(const char *name, unsigned int flags)',
  execve: 'int execve(const char *path, const char **argv, const char **envp)',
  syscallPath: 'long syscall(long nr, int dirfd, const char *path, void *arg, size_t size)',
  syscallFdFlags: 'long syscall(long nr, int dirfd, const char *path, unsigned int flags)',
  dup3: 'int dup3(int oldfd, int newfd, int flags)',
  close: 'int close(int fd)',
  syscallProbe: 'long syscall(long nr, long a, long b, void *c, long d, long e)',
  getpwnam_r: 'int getpwnam_r(const char *name, void *pwd, void *buf, size_t buflen, void *result)',
  getgrnam_r: 'int getgrnam_r(const char *name, void *grp, void *buf, size_t buflen, void *result)',
  recv: 'long recv(int fd, void *buf, size_t len, int flags)',
  isatty: 'int isatty(int fd)',
  _exit: 'void _exit(int status)',
} as const;
type Libc = Record<keyof typeof LIBC, Fn>;
interface Runner {
  tsj_abi_version: Fn;
  tsj_spawn: Fn;
  tsj_spawn_vm: Fn;
  tsj_release: Fn;
  tsj_send_fd: Fn;
}

let koffiModule: Koffi | undefined;
let libc: Libc | undefined;
let lib: (Libc & Runner) | undefined;

/**
 * koffi.node itself, without koffi's index.js: that file also carries koffi's
 * installer, which loads crypto, https and zlib (several ms of every start).
 */
export function koffi(): Koffi {
  if (koffiModule) return koffiModule;
  if (embedded && inherited?.koffi) {
    // A worker thread of the single binary: the main thread's copy, already loaded under this path.
    const m = { exports: {} as Koffi };
    process.dlopen(m, inherited.koffi);
    return (koffiModule = m.exports);
  }
  if (embedded) return (koffiModule = loadEmbeddedKoffi());
  const require = createRequire(import.meta.url);
  const file = join(dirname(require.resolve('koffi/package.json')), 'build/koffi', `${process.platform}_${process.arch}`, 'koffi.node');
  // Other builds (musl, …) are found by koffi's own loader.
  koffiModule = (existsSync(file) ? require(file) : require('koffi')) as Koffi;
  return koffiModule;
}

function loadLibc(): Libc {
  if (libc) return libc;
  const c = koffi().load('libc.so.6');
  const fns = {} as Libc;
  for (const [name, decl] of Object.entries(LIBC)) {
    Object.defineProperty(fns, name, {
      configurable: true,
      enumerable: true,
      get() {
        const fn = c.func(decl);
        Object.defineProperty(fns, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  return (libc = fns);
}

function load(): Libc & Runner {
  if (lib) return lib;
  const c = loadLibc();
  const native = koffi().load(nativePath('libtsjail.so'));
  const runner: Runner = {
    tsj_abi_version: native.func('int tsj_abi_version(void)'),
    tsj_spawn: native.func('long tsj_spawn(const void *plan, uint32_t size, uint64_t flags, int err_fd)'),
    tsj_spawn_vm: native.func('long tsj_spawn_vm(const void *plan, uint32_t size, uint64_t flags, int err_fd, void *region)'),
    tsj_release: native.func('void tsj_release(uint64_t region)'),
    tsj_send_fd: native.func('int tsj_send_fd(int sock, int fd)'),
  };
  const abi = runner.tsj_abi_version();
  if (abi !== WIRE.ABI_VERSION) throw new Error(`native runner ABI ${abi}, expected ${WIRE.ABI_VERSION}: rebuild with 'npm run build'`);
  // libc's functions through the prototype: a spread would declare them all.
  lib = Object.assign(Object.create(c) as Libc & Runner, runner);
  return lib;
}

function errno(): number {
  return koffi().errno();
}

/** A parent-side syscall that failed: the call as printed and its errno. */
export class SyscallError extends JailError {
  declare readonly call: string;
  declare readonly errno: number;
  constructor(call: string, errno: number, hint?: string) {
    super(call, { call, errno, hint });
    this.name = 'SyscallError';
  }
}

function check(call: string, r: number | bigint): number {
  if (Number(r) < 0) throw new SyscallError(call, errno());
  return Number(r);
}

const O_CLOEXEC = Number(O.O_CLOEXEC);
const E = (name: string) => errnoValue(name)!;
const [EINVAL, ENOSYS, EAGAIN, EINTR, ERANGE] = ['EINVAL', 'ENOSYS', 'EAGAIN', 'EINTR', 'ERANGE'].map(E);

export function pipeCloexec(): [number, number] {
  const fds = [0, 0];
  check('pipe2(O_CLOEXEC)', load().pipe2(fds, O_CLOEXEC));
  return [fds[0]!, fds[1]!];
}

/**
 * Clone the child running `plan`. With `shareMemory` it shares tsjail's memory
 * until execve (no page tables to copy: the per-jail cost in listen mode); the
 * returned region must then be released once the child exec'd or died.
 */
export function spawnPlan(plan: Buffer, cloneFlags: bigint, errFd: number, shareMemory: boolean): { pid: number; region?: bigint } {
  const out = Buffer.alloc(8);
  if (shareMemory) {
    const r = Number(load().tsj_spawn_vm(plan, plan.length, cloneFlags, errFd, out));
    if (r >= 0) return { pid: r, region: out.readBigUInt64LE(0) };
    // Kernels without clone3 (< 5.3) or CLONE_CLEAR_SIGHAND (< 5.5): the copying clone retries without them.
    if (-r !== ENOSYS && -r !== EINVAL) throw new SyscallError(`clone3(flags=0x${cloneFlags.toString(16)}|CLONE_VM)`, -r);
  }
  const r = Number(load().tsj_spawn(plan, plan.length, cloneFlags, errFd));
  if (r < 0) throw new SyscallError(`clone3(flags=0x${cloneFlags.toString(16)})`, -r);
  return { pid: r };
}

/** A CLOEXEC AF_UNIX SOCK_SEQPACKET pair (a spare jail's hand-off socket). */
export function seqpacketPair(): [number, number] {
  const fds = [0, 0];
  check('socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC)', load().socketpair(1, 5 | O_CLOEXEC, 0, fds));
  return [fds[0]!, fds[1]!];
}

/** One byte over an AF_UNIX socket, carrying fd (SCM_RIGHTS) unless it is -1. */
export function sendFd(sock: number, fd: number): void {
  const r = Number(load().tsj_send_fd(sock, fd));
  if (r < 0) throw new SyscallError(`sendmsg(hand-off socket, SCM_RIGHTS fd ${fd})`, -r);
}

/** A raw syscall with a pointer and two integers; -errno on failure (e.g. landlock_create_ruleset's version probe). */
export function rawSyscall3(nr: number, ptr: Buffer | null, size: number, flags: number): number {
  const r = Number(load().syscall3(nr, ptr, size, flags));
  return r < 0 ? -errno() : r;
}

export function releasePlan(region: bigint): void {
  load().tsj_release(region);
}

export interface Rusage {
  utimeMs: number;
  stimeMs: number;
  maxRssKiB: number;
}
export interface WaitResult {
  status: number;
  rusage: Rusage;
}

/** Non-blocking wait4 for one pid: undefined while it runs. */
export function waitPid(pid: number): WaitResult | undefined {
  const st = Buffer.alloc(4);
  const ru = Buffer.alloc(144);
  const r = load().wait4(pid, st, WNOHANG, ru);
  if (r === 0) return undefined;
  check(`wait4(${pid}, WNOHANG)`, r);
  // Stopped, not ended: a ptrace stop while the notify supervisor gives a TRAP handler the kernel's siginfo (native/notify.c).
  if ((st.readInt32LE(0) & 0xff) === 0x7f) return undefined;
  const tv = (at: number) => Number(ru.readBigInt64LE(at)) * 1000 + Number(ru.readBigInt64LE(at + 8)) / 1000;
  return { status: st.readInt32LE(0), rusage: { utimeMs: tv(0), stimeMs: tv(16), maxRssKiB: Number(ru.readBigInt64LE(32)) } };
}

/** Blocking wait4 for a child just sent SIGKILL (it cannot linger). */
export function reapKilled(pid: number): void {
  const st = Buffer.alloc(4);
  while (Number(load().wait4(pid, st, 0, null)) < 0 && errno() === 4 /* EINTR */);
}

/** [soft, hard] of one RLIMIT_* resource of this process. */
export function getRlimit(resource: number): [bigint, bigint] {
  const old = Buffer.alloc(16);
  check(`prlimit64(0, ${resource})`, load().prlimit64(0, resource, null, old));
  return [old.readBigUInt64LE(0), old.readBigUInt64LE(8)];
}

/** A close-on-exec duplicate numbered 3 or above (F_DUPFD_CLOEXEC). */
export function dupCloexec(fd: number): number {
  return check(`fcntl(${fd}, F_DUPFD_CLOEXEC, 3)`, load().fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

/** Clear FD_CLOEXEC: the descriptor survives execve. */
export function keepOnExec(fd: number): void {
  check(`fcntl(${fd}, F_SETFD, 0)`, load().fcntl(fd, F_SETFD, 0));
}

/** An anonymous file without MFD_CLOEXEC, to hand data to an exec'd program. */
export function memfdCreate(name: string): number {
  return check(`memfd_create('${name}', 0)`, load().memfd_create(name, 0));
}

/** execve(2) in place: Node's process becomes `path`, keeping its pid. Returns only by throwing. */
export function execInPlace(path: string, argv: readonly string[], env: readonly string[]): never {
  load().execve(path, [...argv, null], [...env, null]);
  throw new SyscallError(`execve('${path}')`, errno());
}


const O_PATH = Number(O.O_PATH);
const RESOLVE_NO_MAGICLINKS = bit(RESOLVE_FLAGS, 'RESOLVE_NO_MAGICLINKS');
const RESOLVE_NO_SYMLINKS = bit(RESOLVE_FLAGS, 'RESOLVE_NO_SYMLINKS');
const OPEN_TREE_CLONE = bit(OPEN_TREE_FLAGS, 'OPEN_TREE_CLONE');

/** An O_PATH descriptor of `path`, refusing every symlink on the way (openat2 RESOLVE_NO_SYMLINKS). */
export function openNoSymlinks(path: string): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O_PATH | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), 16);
  const r = Number(load().syscallPath(SYS.openat2, -100, path, how, how.length));
  return check(`openat2('${path}', O_PATH|O_CLOEXEC, RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)`, r);
}

/** A detached copy of the mount tree at the descriptor (open_tree OPEN_TREE_CLONE|AT_RECURSIVE); `what` names it in errors. */
export function cloneMountTree(fd: number, what: string): number {
  const r = Number(load().syscallFdFlags(SYS.open_tree, fd, '', OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
  return check(`open_tree(${what}, OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH|AT_RECURSIVE)`, r);
}

/** dup3(old, new, O_CLOEXEC): `new` now refers to what `old` does. */
export function dupOnto(oldFd: number, newFd: number): void {
  check(`dup3(${oldFd}, ${newFd}, O_CLOEXEC)`, load().dup3(oldFd, newFd, O_CLOEXEC));
}

export function closeFd(fd: number): void {
  load().close(fd);
}


/**
 * _exit(2), in a process that loaded koffi already; returns at once otherwise.
 * Node's own exit stops its platform's threads and tears V8 and the native
 * modules down (~3 ms) before the kernel frees it all anyway.
 */
export function exitNow(code: number): void {
  if (libc) libc._exit(code);
}

/** isatty(3): whether fd is a terminal (false for a closed fd). */
export function isatty(fd: number): boolean {
  return loadLibc().isatty(fd) === 1;
}

/**
 * recv(MSG_DONTWAIT), with MSG_PEEK to look without taking: the bytes read
 * (0 at EOF), or undefined when nothing is waiting. Lets tsjail read a line
 * from a client and no byte more, so what follows it stays for the jail.
 */
export function recvNow(fd: number, buf: Buffer, len: number, peek: boolean): number | undefined {
  const r = Number(loadLibc().recv(fd, buf, len, MSG_DONTWAIT | (peek ? MSG_PEEK : 0)));
  if (r >= 0) return r;
  const e = errno();
  if (e === EAGAIN || e === EINTR) return undefined;
  throw new SyscallError(`recv(${fd}, …, ${len}, MSG_DONTWAIT${peek ? '|MSG_PEEK' : ''})`, e);
}

/* The single binary's native parts: anonymous files holding copies of its assets. */

const O_RDWR = Number(O.O_RDWR);
const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const MFD_NOEXEC_SEAL = 0x8;
const MFD_EXEC = 0x10;
const F_ADD_SEALS = 1033;
const F_SEAL_ALL = 0x1 | 0x2 | 0x4 | 0x8; // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
/**
 * Where koffi.node's anonymous copy may live: memfd_create needs koffi, so this
 * one file is an O_TMPFILE, which has no name anyone could open or replace. The
 * first directory on a mount that allows mapping code wins (tmpfs first).
 */
const TMPFILE_DIRS = ['/dev/shm', '/run', '/tmp', '/var/tmp'];

const nativePaths = new Map<AssetName, string>();
let embeddedKoffiPath: string | undefined;
/** In a worker thread: the main thread's loaded native parts (workers share its descriptors). */
let inherited: NativePaths | undefined;

/** Where the single binary's native parts were loaded from (memfd paths), for a worker thread to use the same ones. */
export interface NativePaths {
  readonly koffi?: string;
  readonly lib?: string;
}

export function loadedNativePaths(): NativePaths {
  return { koffi: embeddedKoffiPath, lib: nativePaths.get('libtsjail.so') };
}

/** A worker thread takes the main thread's copies rather than writing its own. */
export function inheritNativePaths(p: NativePaths | undefined): void {
  inherited = p;
  if (p?.lib) nativePaths.set('libtsjail.so', p.lib);
}

function copyAsset(name: AssetName, fd: number, what: string): void {
  try {
    embedded!.copyAsset(name, fd);
  } catch (e) {
    throw new JailError(`copying ${name} into ${what} failed: ${formatNodeError(e)}`);
  }
}

function loadEmbeddedKoffi(): Koffi {
  const tried: string[] = [];
  for (const dir of TMPFILE_DIRS) {
    let fd: number;
    try {
      fd = openSync(dir, O_TMPFILE | O_RDWR, 0o700);
    } catch (e) {
      tried.push(`open('${dir}', O_TMPFILE): ${formatNodeError(e)}`);
      continue;
    }
    copyAsset('koffi.node', fd, `O_TMPFILE in ${dir}`);
    const m = { exports: {} as Koffi };
    try {
      // The descriptor stays open: dlopen() knows loaded objects by path, and a
      // later /proc/self/fd/N with a reused number would be taken for this one.
      process.dlopen(m, `/proc/self/fd/${fd}`);
      embeddedKoffiPath = `/proc/self/fd/${fd}`;
      return m.exports;
    } catch (e) {
      closeSync(fd);
      tried.push(`dlopen(O_TMPFILE in ${dir}): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new JailError(`loading koffi.node from an anonymous file failed: ${tried.join('; ')}`, { hint: 'one of these directories must be writable on a mount without noexec' });
}

/**
 * A sealed, read-only memfd holding one asset; its /proc/self/fd path. Exec'd
 * ones get MFD_EXEC (kernels before 6.3 refuse the flag: executable is then
 * the default), the library MFD_NOEXEC_SEAL (mapping code needs no exec bit).
 */
function sealedMemfd(name: AssetName): string {
  const c = loadLibc();
  const exec = name !== 'libtsjail.so';
  const flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  const extra = exec ? MFD_EXEC : MFD_NOEXEC_SEAL;
  let fd = Number(c.memfd_create(name, flags | extra));
  if (fd < 0 && errno() === EINVAL) fd = Number(c.memfd_create(name, flags));
  const hint = exec ? 'vm.memfd_noexec=2 forbids executable memfds' : undefined;
  if (fd < 0) throw new SyscallError(`memfd_create('${name}', MFD_CLOEXEC|MFD_ALLOW_SEALING|${exec ? 'MFD_EXEC' : 'MFD_NOEXEC_SEAL'})`, errno(), hint);
  try {
    copyAsset(name, fd, `memfd '${name}'`);
    check(`fcntl(memfd '${name}', F_ADD_SEALS, F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE)`, c.fcntl(fd, F_ADD_SEALS, F_SEAL_ALL));
    // execve refuses a file that any descriptor holds open for writing (ETXTBSY): keep a read-only one only.
    const path = `/proc/self/fd/${fd}`;
    try {
      return `/proc/self/fd/${openSync(path, 'r')}`;
    } catch (e) {
      throw new JailError(`open('${path}' (memfd '${name}'), O_RDONLY) failed: ${formatNodeError(e)}`);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The path of a native part: native/build/NAME, or in the single binary
 * /proc/self/fd/N of a sealed memfd holding it, kept open for the process's
 * life (jails open it while the host's /proc is still theirs).
 */
export function nativePath(name: Exclude<AssetName, 'koffi.node'>): string {
  if (!embedded) return join(NATIVE_DIR, name);
  let path = nativePaths.get(name);
  if (!path) nativePaths.set(name, (path = sealedMemfd(name)));
  return path;
}

/**
 * A raw syscall with integer arguments and a pointer (or null) third, for
 * probes such as seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) or a mount call
 * with invalid flags; -errno on failure.
 */
export function rawSyscallProbe(nr: number, a: number, b: number, ptr: Buffer | null, d = 0, e = 0): number {
  const r = Number(load().syscallProbe(nr, a, b, ptr, d, e));
  return r < 0 ? -errno() : r;
}

/** Answers of a lookup that found nothing (getpwnam_r(3): some NSS modules give these instead of 0). */
const NOT_FOUND = new Set([2 /* ENOENT */, 3 /* ESRCH */, 9 /* EBADF */, 1 /* EPERM */]);

/**
 * getpwnam_r(3) / getgrnam_r(3): the id of a user or group name as the C
 * library resolves it, through nsswitch.conf (files, LDAP, sssd, systemd…).
 * undefined when there is no such name. uid_t and gid_t both sit at offset 16
 * of struct passwd and struct group on x86_64 (after two char pointers).
 */
export function lookupId(db: 'passwd' | 'group', name: string): number | undefined {
  if (name.includes('\0')) return undefined; // no C string can hold it, so no entry has it
  const call = db === 'passwd' ? 'getpwnam_r' : 'getgrnam_r';
  const entry = Buffer.alloc(48);
  const result = Buffer.alloc(8);
  for (let size = 1024; ; size *= 4) {
    const r = Number(load()[call](name, entry, Buffer.alloc(size), size, result));
    if (r === ERANGE && size < 1 << 24) continue;
    if (r === 0) return result.readBigUInt64LE(0) === 0n ? undefined : entry.readUInt32LE(16);
    if (NOT_FOUND.has(r)) return undefined;
    throw new SyscallError(`${call}(${quoted(name)})`, r);
  }
}
