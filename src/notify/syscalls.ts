/**
 * The calls --seccomp_unotify traces, and what each argument is. One table
 * drives the filter (which numbers are notified), the decoding and the report
 * (nsjail's unotify.proto). nsjail's list, plus the path calls it misses
 * (statx, faccessat2, fchmodat2, creat, truncate, utimensat) and sendmsg's
 * address, so that `ls` or `touch` leave a trace too. socket() is left out:
 * it has neither a path nor an address, and nsjail's report never shows it.
 */
import { syscallByName, TABLES } from '../seccomp/syscalls/index.js';

export type Role =
  /** A path string; resolved against the preceding dirfd, or the cwd. */
  | 'path'
  | 'dirfd'
  /** open(2) flags: the access mode, and the other flags as mode_extra. */
  | 'oflags'
  /** struct open_how *: its flags as oflags, resolve=N. */
  | 'ohow'
  | 'octal'
  | 'access'
  | 'uid'
  | 'gid'
  | 'argv'
  | 'envp'
  /** A socket descriptor: fd=N and its type. */
  | 'fd'
  /** struct sockaddr *, its length in the next argument. */
  | 'saddr'
  /** Integer flags: flags=N. */
  | 'iflags'
  /** struct msghdr *: its msg_name as an address. */
  | 'msghdr'
  | 'skip';

export interface Traced {
  /** Kafel's name (the syscall table's). */
  readonly name: string;
  /** The name in the report (nsjail: stat, lstat). */
  readonly display: string;
  readonly roles: readonly Role[];
  /** creat: open flags the call implies. */
  readonly impliedFlags?: number;
}

const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

const T = (name: string, roles: Role[], display = name, impliedFlags?: number): Traced => ({ name, display, roles, impliedFlags });

export const TRACED: readonly Traced[] = [
  T('open', ['path', 'oflags']),
  T('creat', ['path', 'octal'], 'creat', O_CREAT | O_WRONLY | O_TRUNC),
  T('newstat', ['path'], 'stat'),
  T('newlstat', ['path'], 'lstat'),
  T('access', ['path', 'access']),
  T('chmod', ['path', 'octal']),
  T('chown', ['path', 'uid', 'gid']),
  T('lchown', ['path', 'uid', 'gid']),
  T('readlink', ['path']),
  T('mkdir', ['path', 'octal']),
  T('mknod', ['path', 'octal']),
  T('rmdir', ['path']),
  T('unlink', ['path']),
  T('truncate', ['path']),
  T('execve', ['path', 'argv', 'envp']),
  T('chdir', ['path']),
  T('chroot', ['path']),
  T('openat', ['dirfd', 'path', 'oflags']),
  T('openat2', ['dirfd', 'path', 'ohow']),
  T('newfstatat', ['dirfd', 'path']),
  T('statx', ['dirfd', 'path']),
  T('faccessat', ['dirfd', 'path', 'access']),
  T('faccessat2', ['dirfd', 'path', 'access']),
  T('fchmodat', ['dirfd', 'path', 'octal']),
  T('fchmodat2', ['dirfd', 'path', 'octal']),
  T('fchownat', ['dirfd', 'path', 'uid', 'gid']),
  T('readlinkat', ['dirfd', 'path']),
  T('mkdirat', ['dirfd', 'path', 'octal']),
  T('mknodat', ['dirfd', 'path', 'octal']),
  T('unlinkat', ['dirfd', 'path']),
  T('utimensat', ['dirfd', 'path']),
  T('execveat', ['dirfd', 'path', 'argv', 'envp']),
  T('rename', ['path', 'path']),
  T('link', ['path', 'path']),
  T('symlink', ['path', 'path']),
  T('renameat', ['dirfd', 'path', 'dirfd', 'path']),
  T('renameat2', ['dirfd', 'path', 'dirfd', 'path']),
  T('linkat', ['dirfd', 'path', 'dirfd', 'path']),
  // The target is a string resolved against the cwd, as nsjail does; then newdirfd and the link.
  T('symlinkat', ['path', 'dirfd', 'path']),
  T('connect', ['fd', 'saddr', 'skip']),
  T('bind', ['fd', 'saddr', 'skip']),
  T('sendto', ['fd', 'skip', 'skip', 'iflags', 'saddr', 'skip']),
  T('sendmsg', ['fd', 'msghdr', 'iflags']),
];

const table = TABLES.x86_64!;
/** Traced calls by x86_64 number. */
export const TRACED_BY_NR: ReadonlyMap<number, Traced> = new Map(
  TRACED.flatMap((t) => {
    const info = syscallByName(table, t.name);
    return info ? [[info.nr, t] as const] : [];
  }),
);
