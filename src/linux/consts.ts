/**
 * Kernel constants as {name, value} tables, spelled as in the kernel headers so
 * log lines grep-match man pages. One table per family drives parsing, plan
 * building and descriptions; unknown bits print as hex.
 */

export type NamedBits = ReadonlyArray<readonly [name: string, value: bigint]>;

/** x86_64 syscall numbers of the calls a plan may contain. */
export const SYS = {
  read: 0,
  write: 1,
  recvmsg: 47,
  close: 3,
  rt_sigaction: 13,
  rt_sigprocmask: 14,
  pause: 34,
  ioctl: 16,
  socket: 41,
  execve: 59,
  fcntl: 72,
  chdir: 80,
  umask: 95,
  fchdir: 81,
  setpriority: 141,
  setsid: 112,
  setresuid: 117,
  setresgid: 119,
  setgroups: 116,
  capset: 126,
  personality: 135,
  prctl: 157,
  chroot: 161,
  mount: 165,
  umount2: 166,
  sethostname: 170,
  sched_setaffinity: 203,
  keyctl: 250,
  openat: 257,
  mkdirat: 258,
  mknodat: 259,
  symlinkat: 266,
  unshare: 272,
  dup3: 292,
  pipe2: 293,
  prlimit64: 302,
  execveat: 322,
  seccomp: 317,
  pivot_root: 155,
  open_tree: 428,
  move_mount: 429,
  close_range: 436,
  openat2: 437,
  mount_setattr: 442,
  landlock_create_ruleset: 444,
  landlock_add_rule: 445,
  landlock_restrict_self: 446,
} as const;
export type SyscallName = keyof typeof SYS;

export const CLONE_FLAGS: NamedBits = [
  ['CLONE_NEWTIME', 0x80n],
  ['CLONE_NEWNS', 0x20000n],
  ['CLONE_NEWCGROUP', 0x2000000n],
  ['CLONE_NEWUTS', 0x4000000n],
  ['CLONE_NEWIPC', 0x8000000n],
  ['CLONE_NEWUSER', 0x10000000n],
  ['CLONE_NEWPID', 0x20000000n],
  ['CLONE_NEWNET', 0x40000000n],
];

export const MS_FLAGS: NamedBits = [
  ['MS_RDONLY', 1n],
  ['MS_NOSUID', 2n],
  ['MS_NODEV', 4n],
  ['MS_NOEXEC', 8n],
  ['MS_SYNCHRONOUS', 16n],
  ['MS_REMOUNT', 32n],
  ['MS_MANDLOCK', 64n],
  ['MS_DIRSYNC', 128n],
  ['MS_NOSYMFOLLOW', 256n],
  ['MS_NOATIME', 1024n],
  ['MS_NODIRATIME', 2048n],
  ['MS_BIND', 4096n],
  ['MS_MOVE', 8192n],
  ['MS_REC', 16384n],
  ['MS_SILENT', 32768n],
  ['MS_UNBINDABLE', 1n << 17n],
  ['MS_PRIVATE', 1n << 18n],
  ['MS_SLAVE', 1n << 19n],
  ['MS_SHARED', 1n << 20n],
  ['MS_RELATIME', 1n << 21n],
  ['MS_STRICTATIME', 1n << 24n],
  ['MS_LAZYTIME', 1n << 25n],
];
export const MS = Object.fromEntries(MS_FLAGS) as Record<string, bigint>;

/** mount_setattr(2) attributes. */
export const MOUNT_ATTR: NamedBits = [
  ['MOUNT_ATTR_RDONLY', 0x1n],
  ['MOUNT_ATTR_NOSUID', 0x2n],
  ['MOUNT_ATTR_NODEV', 0x4n],
  ['MOUNT_ATTR_NOEXEC', 0x8n],
];
/** open_tree(2) flags (AT_RECURSIVE is shared with mount_setattr). */
export const OPEN_TREE_FLAGS: NamedBits = [
  ['OPEN_TREE_CLONE', 0x1n],
  ['OPEN_TREE_CLOEXEC', 0o2000000n],
  ['AT_EMPTY_PATH', 0x1000n],
  ['AT_RECURSIVE', 0x8000n],
];
/** Calls tsjail itself makes through syscall(2), outside any plan (x86_64). */
export const NR = { tgkill: 234, pidfd_send_signal: 424, pidfd_open: 434, pidfd_getfd: 438 } as const;
/** move_mount(2) flags. */
export const MOVE_MOUNT_FLAGS: NamedBits = [
  ['MOVE_MOUNT_F_EMPTY_PATH', 0x4n],
  ['MOVE_MOUNT_T_SYMLINKS', 0x10n],
];
export const S_IFREG = 0o100000;
export const AT_FDCWD = -100;
export const AT_RECURSIVE = bit(OPEN_TREE_FLAGS, 'AT_RECURSIVE');
export const AT_EMPTY_PATH = bit(OPEN_TREE_FLAGS, 'AT_EMPTY_PATH');
export const MNT_DETACH = 2;
/** openat2(2) struct open_how.resolve bits. */
export const RESOLVE_FLAGS: NamedBits = [
  ['RESOLVE_NO_MAGICLINKS', 0x2n],
  ['RESOLVE_NO_SYMLINKS', 0x4n],
];
export const F_DUPFD_CLOEXEC = 1030;

export const O_FLAGS: NamedBits = [
  ['O_WRONLY', 0o1n],
  ['O_RDWR', 0o2n],
  ['O_CREAT', 0o100n],
  ['O_EXCL', 0o200n],
  ['O_NOCTTY', 0o400n],
  ['O_TRUNC', 0o1000n],
  ['O_DIRECTORY', 0o200000n],
  ['O_NOFOLLOW', 0o400000n],
  ['O_CLOEXEC', 0o2000000n],
  ['O_PATH', 0o10000000n],
];
/** Not in O_FLAGS (no plan op passes them; O_TMPFILE includes O_DIRECTORY, as the kernel wants it on x86_64). */
export const O_NONBLOCK = 0o4000;
export const O_TMPFILE = 0o20200000;
export const O = Object.fromEntries(O_FLAGS) as Record<string, bigint>;

export const PR = {
  PR_SET_PDEATHSIG: 1,
  PR_SET_KEEPCAPS: 8,
  PR_SET_TSC: 26,
  PR_SET_SECUREBITS: 28,
  PR_CAPBSET_DROP: 24,
  PR_SET_NO_NEW_PRIVS: 38,
  PR_CAP_AMBIENT: 47,
  PR_SCHED_CORE: 62,
} as const;
export const PR_NAMES: NamedBits = Object.entries(PR).map(([k, v]) => [k, BigInt(v)] as const);
export const PR_TSC_SIGSEGV = 2;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
export const PR_SCHED_CORE_CREATE = 1;
export const PIDTYPE_TGID = 1;
export const SECBIT_KEEP_CAPS = 1 << 4;
export const SECBIT_NO_SETUID_FIXUP = 1 << 2;

export const F_SETFD = 2;
export const F_SETFL = 4;
export const CLOSE_RANGE_CLOEXEC = 4;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_PASSCRED = 16;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_ICMPV6 = 58;
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const SO_REUSEADDR = 2;
export const SO_TYPE = 3;
export const SO_PROTOCOL = 38;
export const IPV6_V6ONLY = 26;
/** getsockopt(SOL_IP / SOL_IPV6): a redirected connection's destination before NAT. */
export const SO_ORIGINAL_DST = 80;
export const IP6T_SO_ORIGINAL_DST = 80;
export const EPOLLIN = 1;
export const EPOLLERR = 8;
export const EPOLLHUP = 0x10;
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const MSG_PEEK = 0x2;
export const MSG_DONTWAIT = 0x40;
export const WNOHANG = 1;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const PRIO_PROCESS = 0;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG_TSYNC = 1;
export const SECCOMP_FILTER_FLAG_LOG = 2;
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
/** Linux 5.19: once the supervisor has received a notification, only a fatal signal interrupts the wait. */
export const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32;
export const SECCOMP_FILTER_FLAGS: NamedBits = (
  [
    ['SECCOMP_FILTER_FLAG_TSYNC', SECCOMP_FILTER_FLAG_TSYNC],
    ['SECCOMP_FILTER_FLAG_LOG', SECCOMP_FILTER_FLAG_LOG],
    ['SECCOMP_FILTER_FLAG_NEW_LISTENER', SECCOMP_FILTER_FLAG_NEW_LISTENER],
    ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV', SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV],
  ] as const
).map(([k, v]) => [k, BigInt(v)] as const);
export const RLIM64_INFINITY = 0xffffffffffffffffn;

/** Capabilities in kernel order (value = index). */
export const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;
export type CapName = (typeof CAPS)[number];
export function capValue(name: string): number | undefined {
  const i = (CAPS as readonly string[]).indexOf(name);
  return i < 0 ? undefined : i;
}

/** RLIMIT_* resources with nsjail's units for numeric option values. */
export const RLIMITS = {
  as: { resource: 9, kname: 'RLIMIT_AS', unit: 1n << 20n },
  core: { resource: 4, kname: 'RLIMIT_CORE', unit: 1n << 20n },
  cpu: { resource: 0, kname: 'RLIMIT_CPU', unit: 1n },
  fsize: { resource: 1, kname: 'RLIMIT_FSIZE', unit: 1n << 20n },
  nofile: { resource: 7, kname: 'RLIMIT_NOFILE', unit: 1n },
  nproc: { resource: 6, kname: 'RLIMIT_NPROC', unit: 1n },
  stack: { resource: 3, kname: 'RLIMIT_STACK', unit: 1n << 20n },
  memlock: { resource: 8, kname: 'RLIMIT_MEMLOCK', unit: 1n << 10n },
  rtprio: { resource: 14, kname: 'RLIMIT_RTPRIO', unit: 1n },
  msgqueue: { resource: 12, kname: 'RLIMIT_MSGQUEUE', unit: 1n },
} as const;
export const RLIMIT_RESOURCES: NamedBits = Object.values(RLIMITS).map((r) => [r.kname, BigInt(r.resource)] as const);

export const PERSONA = {
  persona_addr_compat_layout: 0x0200000,
  persona_mmap_page_zero: 0x0100000,
  persona_read_implies_exec: 0x0400000,
  persona_addr_limit_3gb: 0x8000000,
  persona_addr_no_randomize: 0x0040000,
} as const;

/** Render a bit set with a table: 'MS_BIND|MS_REC', unknown bits as hex. */
/** The value of one named bit of a table, as a number (for calls made through koffi). */
export function bit(table: NamedBits, name: string): number {
  const hit = table.find(([n]) => n === name);
  if (!hit) throw new Error(`no ${name} in its table`);
  return Number(hit[1]);
}

export function flagsToStr(value: bigint | number, table: NamedBits): string {
  let v = BigInt(value);
  if (v === 0n) return '0';
  const parts: string[] = [];
  for (const [name, bit] of table) {
    if (bit !== 0n && (v & bit) === bit) {
      parts.push(name);
      v &= ~bit;
    }
  }
  if (v !== 0n) parts.push('0x' + v.toString(16));
  return parts.join('|');
}

/** Render one value by name from a table, or the number. */
export function valueToStr(value: bigint | number, table: NamedBits): string {
  const v = BigInt(value);
  return table.find(([, x]) => x === v)?.[0] ?? String(v);
}
