/**
 * Which calls Go module confinement looks at. A call on this list never
 * leaves the kernel: it only uses what the process already holds (its
 * descriptors, its memory, its own threads and signals, the clock), so it
 * gains a confined module nothing it could not already do, and Go's runtime
 * makes these calls all the time (a notification for every futex or read
 * would cost each of them a round trip to tsjail). Every other call the
 * kernel knows — opening or looking up paths, exec, sockets and their
 * addresses, new processes, pidfds, ptrace, mounts, signals to other
 * processes, ioctl, prctl, and whatever comes with new kernels — is notified
 * and decided on the caller's stack.
 */
import { action } from '../seccomp/actions.js';
import type { Rule } from '../seccomp/model.js';
import { syscallByName, type SyscallTable } from '../seccomp/syscalls/index.js';

export const GO_ALLOWED: ReadonlyArray<readonly [reason: string, names: readonly string[]]> = [
  ['I/O on descriptors the process holds', ['read', 'write', 'pread64', 'pwrite64', 'readv', 'writev', 'preadv', 'pwritev', 'preadv2', 'pwritev2', 'close', 'lseek', 'newfstat', 'fstatfs', 'getdents', 'getdents64', 'fsync', 'fdatasync', 'ftruncate', 'sendfile64', 'splice', 'tee', 'copy_file_range', 'dup', 'dup2', 'dup3', 'fcntl', 'recvfrom', 'recvmsg', 'recvmmsg', 'getsockname', 'getpeername', 'getsockopt', 'shutdown']],
  ['waiting on descriptors, and descriptors that reach nothing outside', ['poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2', 'pipe', 'pipe2']],
  ["the process's own memory", ['mmap', 'mprotect', 'munmap', 'brk', 'mremap', 'msync', 'mincore', 'madvise', 'mlock', 'mlock2', 'munlock', 'membarrier']],
  ["its own signals and threads (tgkill and tkill are how Go's runtime preempts goroutines)", ['rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigtimedwait', 'rt_sigsuspend', 'sigaltstack', 'tgkill', 'tkill', 'futex', 'futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue', 'set_robust_list', 'get_robust_list', 'set_tid_address', 'rseq', 'restart_syscall', 'sched_yield', 'sched_getaffinity', 'exit', 'exit_group', 'wait4', 'waitid']],
  ['clocks and timers', ['nanosleep', 'clock_nanosleep', 'clock_gettime', 'clock_getres', 'gettimeofday', 'time', 'getitimer', 'setitimer', 'alarm', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete']],
  ['facts about itself', ['getpid', 'gettid', 'getppid', 'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'getresuid', 'getresgid', 'getpgrp', 'getpgid', 'getsid', 'getrlimit', 'getrusage', 'getpriority', 'capget', 'sysinfo', 'times', 'newuname', 'getcwd', 'getrandom']],
];

const CLONE_THREAD = 0x10000n;

/**
 * Rules put first in the notify filter: every call of the table not allowed
 * above is notified, clone only when it makes a process (without
 * CLONE_THREAD: Go starts its threads with clone, and a new thread reaches
 * nothing new).
 */
export function goNotifyRules(table: SyscallTable): Rule[] {
  const allowed = new Set(GO_ALLOWED.flatMap(([, names]) => names.map((n) => syscallByName(table, n)?.nr ?? -1)));
  const notif = action('USER_NOTIF');
  const clone = syscallByName(table, 'clone')!.nr;
  const rules: Rule[] = [];
  for (const [, nr] of table.syscalls) {
    if (allowed.has(nr)) continue;
    if (nr === clone) {
      const pos = { line: 0, col: 0 };
      const cond = { k: 'cmp', op: '==', l: { k: '&', l: { k: 'arg', i: 0, size: 8 }, r: { k: 'num', v: CLONE_THREAD } }, r: { k: 'num', v: 0n }, pos } as const;
      rules.push({ nr, action: notif, written: cond, cond });
    } else rules.push({ nr, action: notif });
  }
  return rules;
}

/** Allowed names the table does not know (a test keeps this empty). */
export function unknownAllowed(table: SyscallTable): string[] {
  return GO_ALLOWED.flatMap(([, names]) => names.filter((n) => !syscallByName(table, n)));
}
