/**
 * errno and signal tables: numbers, kernel names and the messages glibc
 * prints, so failures read as `EACCES (Permission denied)` and exits as
 * `SIGKILL (9)`.
 */

const ERRNO: ReadonlyArray<readonly [number, string, string]> = [
  [1, 'EPERM', 'Operation not permitted'],
  [2, 'ENOENT', 'No such file or directory'],
  [3, 'ESRCH', 'No such process'],
  [4, 'EINTR', 'Interrupted system call'],
  [5, 'EIO', 'Input/output error'],
  [6, 'ENXIO', 'No such device or address'],
  [7, 'E2BIG', 'Argument list too long'],
  [8, 'ENOEXEC', 'Exec format error'],
  [9, 'EBADF', 'Bad file descriptor'],
  [10, 'ECHILD', 'No child processes'],
  [11, 'EAGAIN', 'Resource temporarily unavailable'],
  [12, 'ENOMEM', 'Cannot allocate memory'],
  [13, 'EACCES', 'Permission denied'],
  [14, 'EFAULT', 'Bad address'],
  [15, 'ENOTBLK', 'Block device required'],
  [16, 'EBUSY', 'Device or resource busy'],
  [17, 'EEXIST', 'File exists'],
  [18, 'EXDEV', 'Invalid cross-device link'],
  [19, 'ENODEV', 'No such device'],
  [20, 'ENOTDIR', 'Not a directory'],
  [21, 'EISDIR', 'Is a directory'],
  [22, 'EINVAL', 'Invalid argument'],
  [23, 'ENFILE', 'Too many open files in system'],
  [24, 'EMFILE', 'Too many open files'],
  [25, 'ENOTTY', 'Inappropriate ioctl for device'],
  [26, 'ETXTBSY', 'Text file busy'],
  [27, 'EFBIG', 'File too large'],
  [28, 'ENOSPC', 'No space left on device'],
  [29, 'ESPIPE', 'Illegal seek'],
  [30, 'EROFS', 'Read-only file system'],
  [31, 'EMLINK', 'Too many links'],
  [32, 'EPIPE', 'Broken pipe'],
  [33, 'EDOM', 'Numerical argument out of domain'],
  [34, 'ERANGE', 'Numerical result out of range'],
  [36, 'ENAMETOOLONG', 'File name too long'],
  [38, 'ENOSYS', 'Function not implemented'],
  [39, 'ENOTEMPTY', 'Directory not empty'],
  [40, 'ELOOP', 'Too many levels of symbolic links'],
  [61, 'ENODATA', 'No data available'],
  [71, 'EPROTO', 'Protocol error'],
  [75, 'EOVERFLOW', 'Value too large for defined data type'],
  [88, 'ENOTSOCK', 'Socket operation on non-socket'],
  [93, 'EPROTONOSUPPORT', 'Protocol not supported'],
  [95, 'EOPNOTSUPP', 'Operation not supported'],
  [97, 'EAFNOSUPPORT', 'Address family not supported by protocol'],
  [98, 'EADDRINUSE', 'Address already in use'],
  [99, 'EADDRNOTAVAIL', 'Cannot assign requested address'],
  [100, 'ENETDOWN', 'Network is down'],
  [101, 'ENETUNREACH', 'Network is unreachable'],
  [110, 'ETIMEDOUT', 'Connection timed out'],
  [111, 'ECONNREFUSED', 'Connection refused'],
  [113, 'EHOSTUNREACH', 'No route to host'],
  [116, 'ESTALE', 'Stale file handle'],
  [122, 'EDQUOT', 'Disk quota exceeded'],
];

const byNumber = new Map(ERRNO.map(([n, name, msg]) => [n, { name, msg }]));
const byName = new Map(ERRNO.map(([n, name]) => [name, n]));

export function errnoName(n: number): string {
  return byNumber.get(n)?.name ?? `errno ${n}`;
}
export function errnoMessage(n: number): string {
  return byNumber.get(n)?.msg ?? `Unknown error ${n}`;
}
/** `EACCES (Permission denied)` */
export function formatErrno(n: number): string {
  return `${errnoName(n)} (${errnoMessage(n)})`;
}
/** A Node fs/net error as `ENOSPC (No space left on device)`; other errors by their message. */
export function formatNodeError(e: unknown): string {
  const errno = (e as NodeJS.ErrnoException | undefined)?.errno;
  return typeof errno === 'number' ? formatErrno(-errno) : String((e as Error | undefined)?.message ?? e);
}
export function errnoValue(name: string): number | undefined {
  return byName.get(name);
}

export const SIGNALS: ReadonlyArray<readonly [number, string]> = [
  [1, 'SIGHUP'], [2, 'SIGINT'], [3, 'SIGQUIT'], [4, 'SIGILL'], [5, 'SIGTRAP'], [6, 'SIGABRT'], [7, 'SIGBUS'],
  [8, 'SIGFPE'], [9, 'SIGKILL'], [10, 'SIGUSR1'], [11, 'SIGSEGV'], [12, 'SIGUSR2'], [13, 'SIGPIPE'], [14, 'SIGALRM'],
  [15, 'SIGTERM'], [16, 'SIGSTKFLT'], [17, 'SIGCHLD'], [18, 'SIGCONT'], [19, 'SIGSTOP'], [20, 'SIGTSTP'],
  [21, 'SIGTTIN'], [22, 'SIGTTOU'], [23, 'SIGURG'], [24, 'SIGXCPU'], [25, 'SIGXFSZ'], [26, 'SIGVTALRM'],
  [27, 'SIGPROF'], [28, 'SIGWINCH'], [29, 'SIGIO'], [30, 'SIGPWR'], [31, 'SIGSYS'],
];
const SIGRTMIN = 34;

/** nsjail's spelling: `SIGKILL`, real-time ones as `SIG36-RTMIN+2`. */
export function signalName(n: number): string {
  const known = SIGNALS.find(([v]) => v === n);
  if (known) return known[1];
  if (n >= SIGRTMIN) return `SIG${n}-RTMIN+${n - SIGRTMIN}`;
  return `SIG${n}`;
}
export function signalNumber(name: string): number | undefined {
  return SIGNALS.find(([, s]) => s === name)?.[0];
}
