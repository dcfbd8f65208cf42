/**
 * The calls of the seccomp notification supervisor (src/notify/), for its
 * worker thread and the main thread alike: the SECCOMP_IOCTL_NOTIF_* ioctls,
 * poll, reading a jailed process's memory, signals and pidfds. Each returns
 * the result or -errno and throws nothing: the worker's loop decides what a
 * failure means. Loaded on first use, in each thread that calls it.
 */
import { AF_UNIX, NR, O, O_NONBLOCK, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_SET_MODE_FILTER, SO_PASSCRED, SOCK_SEQPACKET, SOL_SOCKET, SYS } from './consts.js';
import { errnoValue } from './errno.js';
import { koffi as loadKoffi, nativePath } from './libc.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;

/** struct seccomp_notif: id u64, pid u32, flags u32, struct seccomp_data (nr, arch, ip, args[6]). */
export const SECCOMP_NOTIF_SIZE = 80;
/** struct seccomp_notif_resp: id u64, val s64, error s32, flags u32. */
export const SECCOMP_NOTIF_RESP_SIZE = 24;
export const SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1;

// _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp), _IOW('!', 2, __u64), _IOW('!', 4, __u64)
const SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100;
const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101;
const SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102;
const SECCOMP_IOCTL_NOTIF_SET_FLAGS = 0x40082104;
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1;

const O_CLOEXEC = Number(O.O_CLOEXEC);
const EFAULT = errnoValue('EFAULT')!;

type Name =
  | 'ioctlPtr'
  | 'ioctlVal'
  | 'poll'
  | 'read'
  | 'write'
  | 'close'
  | 'pipe2'
  | 'socketpair'
  | 'setsockopt'
  | 'getsockopt'
  | 'sys3'
  | 'sys4'
  | 'recvFdCred'
  | 'vmRead'
  | 'pathTypes'
  | 'notifContinue'
  | 'threadRegs'
  | 'trap'
  | 'watchStart'
  | 'epollCreate'
  | 'epollCtl'
  | 'epollReady'
  | 'notifyServe';

/** Each call's library and prototype: declared to koffi on first use (a plain policy's supervisor needs a handful). */
const PROTOS: Readonly<Record<Name, readonly ['c' | 'native', string]>> = {
  ioctlPtr: ['c', 'int ioctl(int fd, unsigned long req, void *arg)'],
  ioctlVal: ['c', 'int ioctl(int fd, unsigned long req, unsigned long arg)'],
  poll: ['c', 'int poll(void *fds, unsigned long n, int timeout)'],
  read: ['c', 'long read(int fd, void *buf, unsigned long n)'],
  write: ['c', 'long write(int fd, void *buf, unsigned long n)'],
  close: ['c', 'int close(int fd)'],
  pipe2: ['c', 'int pipe2(_Out_ int *fds, int flags)'],
  socketpair: ['c', 'int socketpair(int domain, int type, int protocol, _Out_ int *fds)'],
  setsockopt: ['c', 'int setsockopt(int fd, int level, int name, void *val, unsigned int len)'],
  getsockopt: ['c', 'int getsockopt(int fd, int level, int name, void *val, void *len)'],
  sys3: ['c', 'long syscall(long nr, long a, long b, long c)'],
  sys4: ['c', 'long syscall(long nr, long a, long b, void *c, long d)'],
  recvFdCred: ['native', 'int tsj_recv_fd_cred(int sock, _Out_ int *fd, _Out_ int *pid)'],
  vmRead: ['native', 'long tsj_vm_read(int pid, uint64_t addr, void *buf, uint64_t len)'],
  pathTypes: ['native', 'void tsj_path_types(int pid, void *path, void *modes)'],
  notifContinue: ['native', 'int tsj_notif_continue(int fd, uint64_t id)'],
  threadRegs: ['native', 'long tsj_thread_regs(int tid, void *exe_id, void *buf, long len, int tries)'],
  trap: ['native', 'int tsj_trap(int fd, uint64_t id, int tgid, int tid, int nr, uint32_t arch, uint64_t ip, uint32_t data, int timeout_ms)'],
  watchStart: ['native', 'int tsj_watch_start(int epfd, int out, int in)'],
  epollCreate: ['c', 'int epoll_create1(int flags)'],
  epollCtl: ['native', 'int tsj_epoll_ctl(int epfd, int del, int fd)'],
  epollReady: ['native', 'int tsj_epoll_ready(int epfd, void *out, int max)'],
  notifyServe: ['native', 'int tsj_notify_serve(void *fds, int nfds, int first, void *table, void *out, int cap, int timeout)'],
};

const fns = new Map<Name, Fn>();
let libs: { c: { func(p: string): Fn }; native: { func(p: string): Fn } } | undefined;

function fn(name: Name): Fn {
  let f = fns.get(name);
  if (!f) {
    const k = loadKoffi();
    libs ??= { c: k.load('libc.so.6'), native: k.load(nativePath('libtsjail.so')) };
    const [where, proto] = PROTOS[name];
    fns.set(name, (f = libs[where].func(proto)));
  }
  return f;
}

const neg = (r: number | bigint): number => (Number(r) < 0 ? -loadKoffi().errno() : Number(r));

/** SECCOMP_IOCTL_NOTIF_RECV into out (SECCOMP_NOTIF_SIZE bytes, zeroed first as the kernel wants): 0 or -errno. */
export function notifRecv(fd: number, out: Buffer): number {
  out.fill(0);
  return neg(fn('ioctlPtr')(fd, SECCOMP_IOCTL_NOTIF_RECV, out));
}

/** SECCOMP_IOCTL_NOTIF_SEND of resp (SECCOMP_NOTIF_RESP_SIZE bytes): 0 or -errno (ENOENT: the caller is gone). */
export function notifSend(fd: number, resp: Buffer): number {
  return neg(fn('ioctlPtr')(fd, SECCOMP_IOCTL_NOTIF_SEND, resp));
}

/** SECCOMP_IOCTL_NOTIF_ID_VALID: the notification (u64 id in idBuf) is still pending, so the process that made it is still waiting. */
export function notifIdValid(fd: number, idBuf: Buffer): boolean {
  return Number(fn('ioctlPtr')(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, idBuf)) === 0;
}

/** SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6): the waiting thread and the supervisor hand the CPU to each other. */
export function notifSyncWakeUp(fd: number): number {
  return neg(fn('ioctlVal')(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP));
}

/** poll(2) over struct pollfd[n] in fds: the count ready, or -errno. */
export function pollFds(fds: Buffer, n: number, timeoutMs: number): number {
  return neg(fn('poll')(fds, n, timeoutMs));
}

export function readFd(fd: number, buf: Buffer, n: number): number {
  return neg(fn('read')(fd, buf, n));
}

export function writeFd(fd: number, buf: Buffer, n: number): number {
  return neg(fn('write')(fd, buf, n));
}

export function closeFd(fd: number): void {
  fn('close')(fd);
}

/** A non-blocking close-on-exec pipe: [read, write] (wakes the worker's poll). */
export function wakePipe(): [number, number] | number {
  const fds = [0, 0];
  const r = neg(fn('pipe2')(fds, O_CLOEXEC | O_NONBLOCK));
  return r < 0 ? r : [fds[0]!, fds[1]!];
}

/** The notify socket: AF_UNIX SOCK_SEQPACKET, close-on-exec; tsjail's end [0] gets SO_PASSCRED (each listener arrives with its sender's pid). */
export function notifySocketPair(): [number, number] | number {
  const fds = [0, 0];
  let r = neg(fn('socketpair')(AF_UNIX, SOCK_SEQPACKET | O_CLOEXEC, 0, fds));
  if (r < 0) return r;
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  r = neg(fn('setsockopt')(fds[0], SOL_SOCKET, SO_PASSCRED, one, 4));
  if (r < 0) {
    fn('close')(fds[0]);
    fn('close')(fds[1]);
    return r;
  }
  return [fds[0]!, fds[1]!];
}

/** One message of the notify socket, without blocking: the listener and the sender's pid, null when none is queued, or -errno. */
export function recvListener(sock: number): { fd: number; pid: number } | null | number {
  const fd = [0];
  const pid = [0];
  const r = Number(fn('recvFdCred')(sock, fd, pid));
  if (r < 0) return r;
  if (r === 0) return null;
  return { fd: fd[0]!, pid: pid[0]! };
}

/** SECCOMP_IOCTL_NOTIF_ID_VALID, then SEND with SECCOMP_USER_NOTIF_FLAG_CONTINUE: 0, or -errno (-ENOENT: the call is gone, not answered). */
export function notifContinue(fd: number, id: bigint): number {
  return Number(fn('notifContinue')(fd, id));
}

/**
 * poll(2) over fds with the traced calls that need no JavaScript observed and continued natively
 * (native/notify.c, tsj_notify_serve): the bytes of records written to out, or -errno.
 */
export function notifyServe(fds: Buffer, n: number, first: number, table: Uint8Array, out: Buffer, timeoutMs: number): number {
  return Number(fn('notifyServe')(fds, n, first, table, out, out.length, timeoutMs));
}

/** An epoll instance, close-on-exec: its descriptor or -errno. */
export function epollCreate(): number {
  return neg(fn('epollCreate')(O_CLOEXEC));
}

/** Adds fd to (or, with del, removes it from) the epoll set, for POLLIN and hang-ups: 0 or -errno. */
export function epollCtl(epfd: number, fd: number, del = false): number {
  return Number(fn('epollCtl')(epfd, del ? 1 : 0, fd));
}

/** What is ready in the epoll set now, without waiting: (fd, events) pairs, or -errno. */
export function epollReady(epfd: number, out: Int32Array): number {
  return Number(fn('epollReady')(epfd, out, out.length >> 1));
}

/**
 * Starts the native readiness watcher (native/notify.c): a thread that waits on epfd, writes a
 * byte to `out` when something is ready, then waits for a byte on `in` (1: watch again, 0: end).
 */
export function watchStart(epfd: number, out: number, inFd: number): number {
  return Number(fn('watchStart')(epfd, out, inFd));
}

/** A close-on-exec pipe, blocking at both ends: [read, write], or -errno. */
export function blockingPipe(): [number, number] | number {
  const fds = [0, 0];
  const r = neg(fn('pipe2')(fds, O_CLOEXEC));
  return r < 0 ? r : [fds[0]!, fds[1]!];
}

/** What the kernel's TRAP would have given the thread, for trapLikeKernel. */
export interface TrapInfo {
  readonly nr: number;
  readonly arch: number;
  readonly ip: bigint;
  /** SECCOMP_RET_DATA of the filter's answer (si_errno). */
  readonly data: number;
}

/**
 * Answers a notified call as SECCOMP_RET_TRAP does, the handler getting the
 * kernel's siginfo (native/notify.c, tsj_trap: tsjail traces the thread for
 * that one signal). 1: done; 0: the call or thread is gone; 2: another signal
 * came first (SIGSYS stays queued as sent); -errno: the thread cannot be
 * traced (an unprivileged tsjail outside the jail's user namespace, or a
 * tracer already there) and nothing was done.
 */
export function trapLikeKernel(fd: number, id: bigint, tgid: number, tid: number, t: TrapInfo, timeoutMs = 500): number {
  return Number(fn('trap')(fd, id, tgid, tid, t.nr, t.arch, t.ip, t.data, timeoutMs));
}

const modes = new Uint32Array(2);
/** st_mode of path (latin1, NUL-terminated in a Buffer) inside /proc/PID/root and on the host; 0 when missing. */
export function pathTypes(pid: number, path: Buffer): [number, number] {
  fn('pathTypes')(pid, path, modes);
  return [modes[0]!, modes[1]!];
}

/** process_vm_readv of len bytes at addr into buf: the bytes read (short at a fault), or -errno. */
export function vmRead(pid: number, addr: bigint, buf: Buffer, len: number): number {
  return Number(fn('vmRead')(pid, addr, buf, len));
}

const exeId = Buffer.alloc(16);
/**
 * The thread's executable as `dev:ino` and its /proc/TID/syscall text (read into buf, retried
 * while the kernel still says 'running'), or -errno.
 */
export function threadRegs(tid: number, buf: Buffer, tries: number): { readonly exe: string; readonly text: string } | number {
  const n = Number(fn('threadRegs')(tid, exeId, buf, buf.length, tries));
  if (n < 0) return n;
  return { exe: `${exeId.readBigUInt64LE(0)}:${exeId.readBigUInt64LE(8)}`, text: buf.toString('latin1', 0, n) };
}

export function tgkill(tgid: number, tid: number, sig: number): number {
  return neg(fn('sys3')(NR.tgkill, tgid, tid, sig));
}

export function pidfdOpen(pid: number): number {
  return neg(fn('sys3')(NR.pidfd_open, pid, 0, 0));
}

export function pidfdSendSignal(pidfd: number, sig: number): number {
  return neg(fn('sys4')(NR.pidfd_send_signal, pidfd, sig, null, 0));
}

/** A close-on-exec copy of another process's descriptor (pidfd_getfd). */
export function pidfdGetfd(pidfd: number, fd: number): number {
  return neg(fn('sys3')(NR.pidfd_getfd, pidfd, fd, 0));
}

/** An int socket option, or -errno. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4);
  const r = neg(fn('getsockopt')(fd, level, name, v, len));
  return r < 0 ? r : v.readInt32LE(0);
}

/**
 * Whether the kernel knows SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19):
 * seccomp() checks its flags before it reads the filter, so a NULL filter gets
 * EFAULT when they are known and EINVAL when not. Nothing is installed.
 */
export function probeWaitKillableRecv(): boolean {
  const r = neg(fn('sys4')(SYS.seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, null, 0));
  return r === -EFAULT;
}
