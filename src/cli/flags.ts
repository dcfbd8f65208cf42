/**
 * The flag table: one row per option drives commander, `--help`, the man page
 * and the shell completions. Each `apply` only writes the JailSpec; nothing is
 * performed while parsing. Names, short letters, defaults and semantics are
 * nsjail's interface; the descriptions are tsjail's own.
 */
import { log } from '../log/logger.js';
import { IntegerError, isNumericId, parseId, parseInteger, type IntegerOptions, type IntType } from '../numbers.js';
import { parseHostPort } from '../hostport.js';
import { quoted } from '../text.js';
import type { ConfigState, IdMap, JailSpec, LogLevel, MountPt, RlimitName, RlimitSetting } from '../spec.js';
import { defaultMount, defaultUserNet, POW_MAX, POW_TIMEOUT_MAX } from '../spec.js';
import type { UnsupportedField } from '../config/schema.gen.js';
import { parseTrafficRuleFlag } from '../net/traffic.js';
import { UsageError } from './usage-error.js';

// Defined in a module of its own, so that the entry point tells a usage error without loading this table.
export { UsageError };

/** The groups `tsjail --help TOPIC` prints; every option belongs to one. */
export const TOPICS = [
  { name: 'modes', title: 'Modes, configuration files and this help' },
  { name: 'process', title: "The program's command, environment and process" },
  { name: 'identity', title: 'Identity: user and group ids, capabilities' },
  { name: 'namespaces', title: 'Namespaces', note: 'A jail gets a namespace of each kind except time; the --disable_clone_* switches share the host\'s instead.' },
  { name: 'filesystem', title: 'Filesystem: the root, binds and other mounts', note: 'Paths after the first colon are in the jail; missing mount points and parent directories are created inside the jail, never on the host.' },
  { name: 'limits', title: 'Limits: time, rlimits and cgroups', note: "An rlimit is a number in its unit or a keyword: 'soft' (or 'def') is tsjail's own soft limit, 'hard' (or 'max') its hard limit, 'inf' no limit. The program gets the value as both its soft and hard limit, so it cannot raise it." },
  { name: 'seccomp', title: 'Seccomp system-call filters', note: "All of these combine into one filter, installed just before the program starts. 'tsjail seccomp compile|dump|eval|lint' try policies out." },
  { name: 'landlock', title: 'Landlock file and port rules', note: 'Paths are as the jail sees them. Once one path rule is given, any file access not allowed is denied, /proc and the libraries included. What the kernel\'s Landlock ABI cannot enforce is dropped with a warning.' },
  { name: 'network', title: 'Network' },
  { name: 'logging', title: 'Logging and status' },
  { name: 'legacy', title: 'Options of older nsjail releases', note: 'Accepted under their exact names only, so that old scripts keep working or stop with a clear message.' },
] as const satisfies ReadonlyArray<{ name: string; title: string; note?: string }>;
export type Topic = (typeof TOPICS)[number]['name'];

export interface Flag {
  readonly long: string;
  readonly short?: string;
  /** Value name shown in --help (SECONDS, DIR, …); absent for switches. */
  readonly arg?: string;
  readonly help: string;
  readonly topic: Topic;
  /** The default, with its unit, as --help shows it. */
  readonly def?: string;
  /** The complete set of values, for shell completion (a comma list may combine them where the option says so). */
  readonly choices?: readonly string[];
  /** Accepted but refused at validation with "not supported yet": --help marks it. */
  readonly refused?: true;
  readonly apply: (spec: JailSpec, value: string) => void;
  /** An option older nsjail releases had: exact name only, listed under the legacy topic. */
  readonly legacy?: true;
  /** Only the exact name selects it, never an abbreviation (so `--ver` stays nsjail's --verbose). */
  readonly exact?: true;
  /** The value is a number (or holds numbers): parsed strictly; every such option is in the numbers table test. */
  readonly numeric?: true;
}

/** Options whose value is a byte count accept binary size suffixes; --help says so with these words. */
const SIZES_HELP = 'K, M, G or T suffix (powers of 1024)';

/** A strict integer of the option's type (strtoul base-0 syntax, the whole value). */
export function parseNumber(flag: string, v: string, type: IntType, opts: IntegerOptions = {}): bigint {
  try {
    return parseInteger(v, type, opts);
  } catch (e) {
    if (e instanceof IntegerError) throw new UsageError(`--${flag}: ${e.message}`);
    throw e;
  }
}

/** The unit of each rlimit's numeric value (nsjail's); only a byte count takes size suffixes. */
const RLIMIT_UNIT: Record<RlimitName, string> = { as: 'MiB', core: 'MiB', cpu: 'seconds', fsize: 'MiB', nofile: '', nproc: '', stack: 'MiB', memlock: 'KiB', rtprio: '', msgqueue: 'bytes' };

/** Rlimit values: a number in the option's unit, or soft/def, hard/max, inf (any case). */
export function parseRlimit(flag: string, v: string, name = flag.replace(/^rlimit_/, '') as RlimitName): RlimitSetting {
  const unit = RLIMIT_UNIT[name];
  const sizes = unit === 'bytes';
  const k = v.toLowerCase();
  if (k === 'soft' || k === 'def') return { value: 0n, type: 'SOFT' };
  if (k === 'hard' || k === 'max') return { value: 0n, type: 'HARD' };
  if (k === 'inf') return { value: 0n, type: 'INF' };
  try {
    return { value: parseInteger(v, 'uint64', { sizes }), type: 'VALUE' };
  } catch (e) {
    if (!(e instanceof IntegerError)) throw e;
    if (/is out of range/.test(e.message)) throw new UsageError(`--${flag}: ${e.message}`);
    throw new UsageError(`--${flag}: ${quoted(v)} is neither a number${unit ? ` (in ${unit}${sizes ? ', optionally with a K, M, G or T suffix' : ''})` : ''} nor 'soft', 'hard' or 'inf'`);
  }
}

/** inside[:outside[:count]]; an empty count means 1. Names are resolved in prepare; numbers are checked here. */
export function parseIdMap(v: string, newidmap: boolean, flag = newidmap ? 'uid_mapping' : 'user'): IdMap {
  const [inside = '', outside = '', count = ''] = v.split(':');
  for (const id of [inside, outside]) {
    if (!isNumericId(id)) continue;
    try {
      parseId(id);
    } catch (e) {
      if (e instanceof IntegerError) throw new UsageError(`--${flag}: id ${e.message}`);
      throw e;
    }
  }
  return { inside_id: inside, outside_id: outside, count: count === '' ? 1 : Number(parseNumber(flag, count, 'uint32')), use_newidmap: newidmap };
}

const MODES: Record<string, ConfigState['mode']> = { l: 'LISTEN_TCP', o: 'STANDALONE_ONCE', e: 'STANDALONE_EXECVE', r: 'STANDALONE_RERUN' };

export function parseMode(v: string): ConfigState['mode'] {
  const m = MODES[v.charAt(0)];
  if (!m) throw new UsageError(`Modes supported: -M l - listen_tcp, -M o - standalone_once, -M e - standalone_execve, -M r - standalone_rerun (got ${quoted(v)})`, true);
  return m;
}

const mountDefaults = defaultMount();

function splitFirst(v: string, n: number): string[] {
  const parts = v.split(':');
  return n > 0 && parts.length > n ? [...parts.slice(0, n - 1), parts.slice(n - 1).join(':')] : parts;
}

function bindMount(v: string, rw: boolean, mandatory: boolean): MountPt {
  const [src = '', dst, options] = splitFirst(v, 3);
  return { ...mountDefaults, src, dst: dst || src, is_bind: true, rw, mandatory, ...(options ? { options } : {}) };
}

/** A path inside the jail given to one of tsjail's container ops: present and absolute. */
function jailPath(flag: string, v: string, dst: string): string {
  if (!dst) throw new UsageError(`--${flag}: ${quoted(v)} names no destination`);
  if (!dst.startsWith('/')) throw new UsageError(`--${flag}: destination ${quoted(dst)} in ${quoted(v)} is not an absolute path`);
  return dst;
}

/** --dir DST[:MODE]: the text after the last ':' is an octal mode. */
function dirEntry(v: string): MountPt {
  const cut = v.lastIndexOf(':');
  const [dst, mode] = cut < 0 ? [v, '755'] : [v.slice(0, cut), v.slice(cut + 1)];
  if (!/^0?[0-7]{1,4}$/.test(mode)) throw new UsageError(`--dir: mode ${quoted(mode)} in ${quoted(v)} is not an octal mode (0 to 07777)`);
  return { ...mountDefaults, dst: jailPath('dir', v, dst), dir_mode: Number.parseInt(mode, 8), rw: true, is_dir: true };
}

/** --file DST=TEXT: everything after the first '=' is the content. */
function fileEntry(v: string): MountPt {
  const cut = v.indexOf('=');
  if (cut < 0) throw new UsageError(`--file: ${quoted(v)} is not DST=TEXT`);
  const text = v.slice(cut + 1);
  if (!text) throw new UsageError(`--file: ${quoted(v)} has no TEXT (an empty file: --file_fd with a descriptor at end of file)`);
  return { ...mountDefaults, dst: jailPath('file', v, v.slice(0, cut)), src_content: new TextEncoder().encode(text), is_dir: false };
}

/** --file_fd FD:DST */
function fileFdEntry(v: string): MountPt {
  const cut = v.indexOf(':');
  const fd = cut < 0 ? v : v.slice(0, cut);
  if (!/^[0-9]{1,9}$/.test(fd)) throw new UsageError(`--file_fd: descriptor ${quoted(fd)} in ${quoted(v)} is not a number`);
  return { ...mountDefaults, dst: jailPath('file_fd', v, cut < 0 ? '' : v.slice(cut + 1)), src_fd: Number(fd), is_dir: false };
}

/** --overlay_ro LOWER1:LOWER2[:...]:DST */
function overlayRoEntry(v: string): MountPt {
  const parts = v.split(':');
  const dst = parts.pop()!;
  if (parts.length < 2 || parts.some((p) => !p)) throw new UsageError(`--overlay_ro: ${quoted(v)} is not LOWER1:LOWER2[:...]:DST (at least two lower dirs)`);
  return { ...mountDefaults, dst: jailPath('overlay_ro', v, dst), overlay_lower: parts, is_dir: true };
}

const set =
  <K extends keyof ConfigState>(key: K, value: ConfigState[K]) =>
  (s: JailSpec) => {
    s.cfg[key] = value;
  };
const setStr =
  <K extends keyof ConfigState>(key: K) =>
  (s: JailSpec, v: string) => {
    (s.cfg as unknown as Record<string, unknown>)[key] = v;
  };
/** A number option that sets the config field of the same name (a JS number for 32-bit fields, a bigint for 64-bit ones). */
const setNum =
  <K extends keyof ConfigState>(key: K, type: IntType, opts: IntegerOptions = {}) =>
  (s: JailSpec, v: string) => {
    const n = parseNumber(key, v, type, opts);
    (s.cfg as unknown as Record<string, unknown>)[key] = type.endsWith('64') ? n : Number(n);
  };
const push =
  (get: (s: JailSpec) => string[]) =>
  (s: JailSpec, v: string) => {
    get(s).push(v);
  };
const logLevel = (l: LogLevel) => (s: JailSpec) => {
  s.cli.log_level = l;
};
/** Options of config fields marked unsupported in config.proto: refused by validation, never ignored. */
const unsupported = (name: UnsupportedField) => (s: JailSpec) => {
  s.cfg.unsupported.push(`--${name}`);
};

/** What each rlimit bounds, its unit and nsjail's default (the keywords are explained once, in the topic's note). */
const RLIMIT_HELP: Record<RlimitName, readonly [what: string, unit: string, def: string]> = {
  as: ['Size of the address space (RLIMIT_AS)', 'MiB', '4096 MiB'],
  core: ['Largest core dump written (RLIMIT_CORE)', 'MiB', '0, no core dumps'],
  cpu: ['Processor time of each process (RLIMIT_CPU); SIGXCPU, then SIGKILL, when used up', 'seconds', '600 seconds'],
  fsize: ['Largest file a process may write (RLIMIT_FSIZE)', 'MiB', '1 MiB'],
  nofile: ['Open descriptors per process (RLIMIT_NOFILE)', 'count', '32'],
  nproc: ["Processes of the jail's user id (RLIMIT_NPROC)", 'count', "'soft'"],
  stack: ['Stack size of the main thread (RLIMIT_STACK)', 'MiB', "'soft'"],
  memlock: ['Memory locked in RAM (RLIMIT_MEMLOCK)', 'KiB', "'soft'"],
  rtprio: ['Highest real-time priority (RLIMIT_RTPRIO)', 'priority', "'soft'"],
  msgqueue: [`Bytes in POSIX message queues (RLIMIT_MSGQUEUE), a ${SIZES_HELP} allowed`, 'bytes', "'soft'"],
};
const RLIMIT_ARG: Record<string, string> = { MiB: 'MIB', KiB: 'KIB', seconds: 'SECONDS', count: 'N', priority: 'N', bytes: 'BYTES' };

/** The personality(2) flags and what each changes for the program. */
const PERSONAS = {
  addr_compat_layout: 'the legacy bottom-up mmap layout of kernels before 2.6.9',
  mmap_page_zero: 'page 0 mapped read-only, as some SVr4 programs expect',
  read_implies_exec: 'readable memory executable too (PROT_READ implies PROT_EXEC)',
  addr_limit_3gb: 'addresses kept below 3 GiB (32-bit programs)',
  addr_no_randomize: 'no address-space layout randomisation (ASLR)',
} as const;

/** --disable_clone_* switches: the topic they are documented under and what sharing the host's namespace means. */
const NAMESPACES: ReadonlyArray<readonly [ns: 'newnet' | 'newuser' | 'newns' | 'newpid' | 'newipc' | 'newuts' | 'newcgroup', topic: Topic, help: string]> = [
  ['newnet', 'network', "Keep the host's network stack: the jail sees every host interface and can use them. Without it the jail has a network namespace of its own with only loopback."],
  ['newuser', 'namespaces', "Keep the host's user namespace: the jail's ids are host ids and any capability it keeps is a real one. Needs root."],
  ['newns', 'namespaces', "Keep the host's mount table: no mount option applies, a --chroot is a plain chroot(2)."],
  ['newpid', 'namespaces', "Keep the host's pid namespace: the program sees every host process and is not PID 1 of anything."],
  ['newipc', 'namespaces', "Keep the host's System V IPC objects and POSIX message queues."],
  ['newuts', 'namespaces', "Keep the host's hostname and domain name (--hostname has no effect then)."],
  ['newcgroup', 'namespaces', "Show the jail the host's whole cgroup tree instead of making its own cgroup the root of it."],
];

/** Numeric cgroup options carry their config field's integer type; byte counts take size suffixes. */
const BYTES = { sizes: true } as const;
type CgroupRow = readonly [key: keyof ConfigState, arg: string, help: string, def: string, num?: readonly [IntType, IntegerOptions?]];
/** v1 hierarchies: where each is mounted and the cgroup under it that holds the jails' cgroups. */
const v1Place = (ctrl: string): CgroupRow[] => [
  [`cgroup_${ctrl === 'memory' ? 'mem' : ctrl}_mount` as keyof ConfigState, 'DIR', `cgroup v1: the directory where the ${ctrl} controller's hierarchy is mounted.`, `/sys/fs/cgroup/${ctrl}`],
  [`cgroup_${ctrl === 'memory' ? 'mem' : ctrl}_parent` as keyof ConfigState, 'NAME', `cgroup v1: the ${ctrl} cgroup, below that mount, under which each jail gets its own; created when missing.`, 'NSJAIL'],
];
const CGROUP_FLAGS: readonly CgroupRow[] = [
  ['cgroup_mem_max', 'BYTES', `Memory the jail may use (memory.max; v1 memory.limit_in_bytes), in bytes or with a ${SIZES_HELP}.`, '0, no limit', ['uint64', BYTES]],
  ['cgroup_mem_memsw_max', 'BYTES', `Memory plus swap the jail may use (v1 memory.memsw.limit_in_bytes; on v2 the part above --cgroup_mem_max becomes memory.swap.max), in bytes or with a ${SIZES_HELP}.`, '0, no limit', ['uint64', BYTES]],
  ['cgroup_mem_swap_max', 'BYTES', `Swap the jail may use (memory.swap.max), in bytes or with a ${SIZES_HELP}; -1 leaves swap alone. Not together with --cgroup_mem_memsw_max.`, '-1', ['int64', BYTES]],
  ...v1Place('memory'),
  ['cgroup_pids_max', 'N', 'Tasks (processes and threads) the jail may have at once (pids.max).', '0, no limit', ['uint64']],
  ...v1Place('pids'),
  ['cgroup_net_cls_classid', 'ID', "cgroup v1 only: class id given to the jail's packets (net_cls.classid), for tc or firewall rules.", '0, none', ['uint32']],
  ...v1Place('net_cls'),
  ['cgroup_cpu_ms_per_sec', 'MS', 'CPU time the jail may use per second of wall time, in milliseconds summed over all CPUs (1000 = one whole CPU).', '0, no limit', ['uint32']],
  ...v1Place('cpu'),
  ['cgroupv2_mount', 'DIR', 'cgroup v2: the directory where the unified hierarchy is mounted.', '/sys/fs/cgroup'],
];

/** The --macvlan_vs_* values: the value's name, what it sets on 'vs' and nsjail's default. */
const MACVLAN_VS = {
  ip: ['ADDR', "the IPv4 address of 'vs'", '192.168.0.2'],
  nm: ['MASK', 'its netmask', '255.255.255.0'],
  gw: ['ADDR', 'the default gateway through it', '192.168.0.1'],
  ma: ['MAC', 'its MAC address', 'one the kernel picks'],
  mo: ['MODE', 'its MACVLAN mode: private, vepa, bridge or passthru', 'private'],
} as const;

/** --seccomp_preset's names, for completion; a unit test keeps them equal to src/seccomp/presets.ts (not imported here: it is slow to load). */
export const SECCOMP_PRESET_NAMES = ['default', 'deny_common', 'deny_system', 'deny_userns', 'deny_mount', 'deny_chown', 'deny_setid', 'deny_ns', 'deny_emu', 'deny_socket_family', 'deny_personality', 'deny_io_uring', 'deny_tty', 'deny_devel'] as const;

const ll = (s: JailSpec) => s.cfg.ext.landlock;

/** -E NAME copies NAME from tsjail's environment at parse time; an unset one is skipped with a warning (nsjail). */
function envEntry(v: string): string | undefined {
  if (v.includes('=')) return v;
  const value = process.env[v];
  if (value === undefined) {
    log.warn(`--env ${quoted(v)}: not set in tsjail's environment, not passed to the jail`);
    return undefined;
  }
  return `${v}=${value}`;
}
const csv = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
const port = (flag: string, v: string) => Number(parseNumber(flag, v, 'uint32', { max: 65535n }));
/** Descriptors: int32 in the config, and never negative. */
const fd = (flag: string, v: string) => Number(parseNumber(flag, v, 'int32', { min: 0n }));

/** Options of older nsjail releases, for old scripts: mapped where the meaning survives, refused by name where it does not. */
const gone = (name: string, instead: string) => () => {
  throw new UsageError(`--${name} is an option of older nsjail releases: ${instead}`);
};
const LEGACY_FLAGS: readonly Flag[] = [
  { long: 'enable_clone_newcgroup', legacy: true, topic: 'legacy', help: 'nsjail 2.x switch for the cgroup namespace, which is on by default now; accepted.', apply: set('clone_newcgroup', true) },
  { long: 'use_switchroot', legacy: true, topic: 'legacy', help: 'The earlier name of --no_pivotroot; accepted.', apply: set('no_pivotroot', true) },
  { long: 'pivot_root_only', legacy: true, topic: 'legacy', help: 'Asked for pivot_root(2), which is the default now; accepted.', apply: set('no_pivotroot', false) },
  { long: 'tmpfs_size', legacy: true, topic: 'legacy', arg: 'BYTES', help: 'Refused: a tmpfs size is given per mount now, -m none:DST:tmpfs:size=N.', apply: gone('tmpfs_size', "give the size per mount: -m none:DST:tmpfs:size=N") },
  ...['iface', 'iface_vs_ip', 'iface_vs_nm', 'iface_vs_gw'].map((n): Flag => ({ long: n, legacy: true, topic: 'legacy', arg: 'VALUE', help: `Refused: renamed --${n.replace('iface', 'macvlan_iface').replace('macvlan_iface_vs', 'macvlan_vs')}.`, apply: gone(n, `now --${n.replace('iface', 'macvlan_iface').replace('macvlan_iface_vs', 'macvlan_vs')}`) })),
  ...['use_pasta', 'use_nstun'].map((n): Flag => ({ long: n, legacy: true, topic: 'legacy', help: 'Refused: nsjail 3.5 and 3.6 only, replaced by --user_net.', apply: gone(n, 'replaced by --user_net') })),
];

const MODE_HELP =
  "How tsjail runs the program. 'o': once; tsjail waits for it and exits with its status. " +
  "'e': tsjail itself becomes the program (same pid, no supervisor, so no time limit). " +
  "'r': once, then again each time it exits, until tsjail gets a signal. " +
  "'l': a fresh jail for each TCP connection (see --port). Only the first letter is read, so -Monce works.";

export const FLAGS: readonly Flag[] = [
  { long: 'help', short: 'h', topic: 'modes', help: "Print this help and exit. Followed by a topic name ('tsjail --help seccomp'), print that topic only.", apply: () => {} },
  { long: 'mode', short: 'M', arg: 'MODE', topic: 'modes', help: MODE_HELP, def: 'o', choices: ['o', 'e', 'r', 'l'], apply: (s, v) => { s.cfg.mode = parseMode(v); } },
  { long: 'config', short: 'C', arg: 'FILE', topic: 'modes', help: "Read a config file in nsjail's config.proto format, as protobuf text or ProtoJSON. It acts where it stands: what it sets replaces the same options given earlier, and options given later override it.", apply: (s, v) => { s.cli.config_files.push(v); } },
  { long: 'exec_file', short: 'x', arg: 'PATH', topic: 'process', help: "The program to execute, when it is not the command's first word (which still becomes argv[0]). No PATH search: an absolute path, or one relative to --cwd.", def: "the command's first word", apply: (s, v) => { s.cfg.exec_bin = { arg: s.cfg.exec_bin?.arg ?? [], exec_fd: s.cfg.exec_bin?.exec_fd ?? false, ...(s.cfg.exec_bin?.arg0 !== undefined ? { arg0: s.cfg.exec_bin.arg0 } : {}), path: v }; } },
  { long: 'execute_fd', topic: 'process', help: "Open the program on the host, before the jail's mounts exist, and start it from that descriptor with execveat(2); it need not be visible inside the jail.", apply: (s) => { s.cfg.exec_bin = { arg: [], ...s.cfg.exec_bin, exec_fd: true }; } },
  { long: 'chroot', short: 'c', arg: 'DIR', topic: 'filesystem', help: "Make host directory DIR the jail's root: a recursive bind, read-only unless --rw.", def: 'none; the root is an empty tmpfs, read-only once set up', apply: (s, v) => { s.cli.chroot = v; } },
  { long: 'no_pivotroot', topic: 'filesystem', help: 'Enter the new root by moving it over / (MS_MOVE) and calling chroot(2), not pivot_root(2), for hosts where pivot_root fails (a root on initramfs). Weaker: the old root stays underneath, and a program with enough capabilities can climb out.', apply: set('no_pivotroot', true) },
  { long: 'rw', topic: 'filesystem', help: 'Leave the root writable: the --chroot bind, or the tmpfs root when there is no --chroot.', def: 'read-only', apply: (s) => { s.cli.rw = true; } },
  { long: 'user', short: 'u', arg: 'USER', topic: 'identity', help: "The program's user, by name or uid. Also takes a uid_map line, INSIDE[:OUTSIDE[:COUNT]], written directly; repeatable, the first entry gives the program's uid. Names are looked up as getpwnam(3) does (files, LDAP, sssd…). Run as root, an INSIDE id without OUTSIDE is that same id on the host.", def: "the caller's uid", numeric: true, apply: (s, v) => { s.cli.uidmap.push(parseIdMap(v, false, 'user')); } },
  { long: 'group', short: 'g', arg: 'GROUP', topic: 'identity', help: "The program's group, by name or gid, or a gid_map line INSIDE[:OUTSIDE[:COUNT]]; repeatable, as --user. Names are looked up as getgrnam(3) does.", def: "the caller's gid", numeric: true, apply: (s, v) => { s.cli.gidmap.push(parseIdMap(v, false, 'group')); } },
  { long: 'hostname', short: 'H', arg: 'NAME', topic: 'namespaces', help: "Hostname inside the jail's UTS namespace.", def: 'NSJAIL', apply: setStr('hostname') },
  { long: 'cwd', short: 'D', arg: 'DIR', topic: 'process', help: 'Working directory of the program, as the jail sees it.', def: '/', apply: setStr('cwd') },
  { long: 'port', short: 'p', arg: 'PORT', topic: 'modes', help: "Listen on this TCP port and give every connection a jail of its own, the socket being the program's stdin, stdout and stderr. Selects -Ml.", def: '0, not listening', numeric: true, apply: (s, v) => { s.cfg.port = port('port', v); s.cfg.mode = 'LISTEN_TCP'; } },
  { long: 'bindhost', arg: 'ADDR', topic: 'modes', help: "-Ml: the address to listen on; '::' takes IPv6 and IPv4 connections.", def: '::', apply: setStr('bindhost') },
  { long: 'pow', arg: 'DIFFICULTY', topic: 'modes', help: `-Ml: before it gets a jail, a client solves a kCTF proof-of-work challenge of this difficulty (1..${POW_MAX} rounds; 1337 is about a second of solving); one that fails or stays silent is turned away.`, def: 'none', numeric: true, apply: (s, v) => { s.cfg.ext.pow = Number(parseNumber('pow', v, 'uint32', { min: 1n, max: BigInt(POW_MAX) })); } },
  { long: 'pow_timeout', arg: 'SECONDS', topic: 'modes', help: '-Ml with --pow: how long a client has to send its solution.', def: '600 seconds', numeric: true, apply: (s, v) => { s.cfg.ext.pow_timeout = Number(parseNumber('pow_timeout', v, 'uint32', { min: 1n, max: BigInt(POW_TIMEOUT_MAX) })); } },
  { long: 'pow_bypass_key', arg: 'PEM_FILE', topic: 'modes', help: "-Ml with --pow: a P-256 public key; 'b.' and the hex of its ECDSA signature of the challenge stand for a solution (kCTF's bypass for health checks).", apply: (s, v) => { s.cfg.ext.pow_bypass_key = v; } },
  { long: 'max_conns', arg: 'N', topic: 'modes', help: '-Ml: turn new connections away while N jails are running.', def: '0, no limit', numeric: true, apply: setNum('max_conns', 'uint32') },
  { long: 'max_conns_per_ip', short: 'i', arg: 'N', topic: 'modes', help: "-Ml: turn a client address's new connections away while N of its jails are running.", def: '0, no limit', numeric: true, apply: setNum('max_conns_per_ip', 'uint32') },
  { long: 'log', short: 'l', arg: 'FILE', topic: 'logging', help: 'Append the log to FILE.', def: 'descriptor 2 (stderr)', apply: (s, v) => { s.cli.log_file = v; } },
  { long: 'log_fd', short: 'L', arg: 'FD', topic: 'logging', help: 'Write the log to this open descriptor.', def: '2', numeric: true, apply: (s, v) => { s.cli.log_fd = fd('log_fd', v); } },
  { long: 'log_format', arg: 'FORMAT', topic: 'logging', help: "'text': nsjail's log lines; 'json': one JSON object per line.", def: 'text', choices: ['text', 'json'], apply: (s, v) => { if (v !== 'text' && v !== 'json') throw new UsageError(`--log_format: ${quoted(v)} is not 'text' or 'json'`); s.cfg.ext.log_format = v; } },
  { long: 'output_limit', arg: 'BYTES', topic: 'limits', help: `Bytes the program may write to stdout and stderr together, or with a ${SIZES_HELP}; past them the rest is cut and the jail killed (verdict OLE). Its stdout and stderr are then pipes that tsjail relays. Not in -Me.`, def: '0, no limit', numeric: true, apply: (s, v) => { s.cfg.ext.output_limit = parseNumber('output_limit', v, 'uint64', { sizes: true, min: 1n }); } },
  { long: 'time_limit', short: 't', arg: 'SECONDS', topic: 'limits', help: 'Wall-clock time each jail may run; then it is killed with SIGKILL (exit status 137). 0: no limit. Not in -Me, which has no supervisor.', def: '600 seconds', numeric: true, apply: setNum('time_limit', 'uint32') },
  { long: 'max_cpus', arg: 'N', topic: 'process', help: 'Pin the program to N CPUs drawn at random from those tsjail may run on.', def: '0, every CPU', numeric: true, apply: setNum('max_cpus', 'uint32') },
  { long: 'daemon', short: 'd', topic: 'modes', help: 'Run in the background, detached from the terminal; the log then goes to /var/log/tsjail.log unless --log or --log_fd names another place.', apply: set('daemon', true) },
  { long: 'verbose', short: 'v', topic: 'logging', help: 'Log debug lines as well.', def: 'info and above', apply: logLevel('DEBUG') },
  { long: 'quiet', short: 'q', topic: 'logging', help: 'Log warnings and errors only.', apply: logLevel('WARNING') },
  { long: 'really_quiet', short: 'Q', topic: 'logging', help: 'Log fatal errors only.', apply: logLevel('FATAL') },
  { long: 'keep_env', short: 'e', topic: 'process', help: "Give the program tsjail's whole environment.", def: 'an empty environment, plus --env', apply: set('keep_env', true) },
  { long: 'env', short: 'E', arg: 'NAME[=VALUE]', topic: 'process', help: "Put one variable in the program's environment; repeatable. A bare NAME takes its value from tsjail's environment, and is left out with a warning when tsjail has none.", apply: (s, v) => { const e = envEntry(v); if (e) s.cfg.envar.push(e); } },
  { long: 'keep_caps', topic: 'identity', help: "Let the program keep every capability it holds in the jail's user namespace, in the inheritable and ambient sets too.", def: 'all dropped, the bounding set included', apply: set('keep_caps', true) },
  { long: 'cap', arg: 'CAP_NAME', topic: 'identity', help: 'Keep this one capability, spelled as the kernel does (CAP_NET_BIND_SERVICE); repeatable.', apply: push((s) => s.cfg.cap) },
  { long: 'silent', topic: 'process', help: "Point the program's stdin, stdout and stderr at /dev/null.", apply: set('silent', true) },
  { long: 'stderr_to_null', topic: 'process', help: "Point only the program's stderr at /dev/null.", apply: set('stderr_to_null', true) },
  { long: 'skip_setsid', topic: 'process', help: "Leave the program in tsjail's session, so it keeps the controlling terminal and gets its keyboard signals. Risky: a program that shares a terminal can push input into it.", def: 'a new session (setsid)', apply: set('skip_setsid', true) },
  { long: 'pass_fd', arg: 'FD', topic: 'process', help: 'Leave descriptor FD open for the program; repeatable.', def: 'only 0, 1 and 2 stay open', numeric: true, apply: (s, v) => { s.cli.pass_fd.push(fd('pass_fd', v)); } },
  { long: 'disable_no_new_privs', topic: 'identity', help: 'Do not set no_new_privs, so set-user-id programs in the jail can gain privileges. Forced back on when a seccomp filter is installed. Unsafe.', apply: set('disable_no_new_privs', true) },
  ...(Object.keys(RLIMIT_HELP) as RlimitName[]).map((r): Flag => {
    const [what, unit, def] = RLIMIT_HELP[r];
    return { long: `rlimit_${r}`, arg: RLIMIT_ARG[unit]!, topic: 'limits', help: `${what}, in ${unit}, or a keyword.`, def, numeric: true, apply: (s, v) => { s.cfg.rlimits = { ...s.cfg.rlimits, [r]: parseRlimit(`rlimit_${r}`, v, r) }; } };
  }),
  { long: 'disable_rlimits', topic: 'limits', help: "Set no rlimits at all: the program inherits tsjail's.", apply: set('disable_rl', true) },
  ...(Object.keys(PERSONAS) as Array<keyof typeof PERSONAS>).map((p): Flag => ({ long: `persona_${p}`, topic: 'process', help: `Run the program with the ${p.toUpperCase()} personality(2) flag: ${PERSONAS[p]}.`, apply: set(`persona_${p}`, true) })),
  ...NAMESPACES.map(([n, topic, help]): Flag => ({ long: `disable_clone_${n}`, ...(n === 'newnet' ? { short: 'N' } : {}), topic, help, apply: set(`clone_${n}`, false) })),
  { long: 'enable_clone_newtime', topic: 'namespaces', help: "Give the jail a time namespace of its own (Linux >= 5.6); its clocks start out equal to the host's. Not with -Me.", apply: set('clone_newtime', true) },
  { long: 'uid_mapping', short: 'U', arg: 'IN:OUT:COUNT', topic: 'identity', help: 'A uid_map line written by the set-user-id helper newuidmap(1), so that an unprivileged caller can map the ranges /etc/subuid grants it; repeatable. Not with -Me.', numeric: true, apply: (s, v) => { s.cli.uidmap.push(parseIdMap(v, true, 'uid_mapping')); } },
  { long: 'gid_mapping', short: 'G', arg: 'IN:OUT:COUNT', topic: 'identity', help: 'A gid_map line written by newgidmap(1), from the ranges in /etc/subgid; repeatable.', numeric: true, apply: (s, v) => { s.cli.gidmap.push(parseIdMap(v, true, 'gid_mapping')); } },
  { long: 'bindmount_ro', short: 'R', arg: 'SRC[:DST]', topic: 'filesystem', help: 'Show host path SRC read-only at DST in the jail (the same path when DST is left out), together with the mounts below it; repeatable.', apply: (s, v) => { s.cfg.mount.push(bindMount(v, false, true)); } },
  { long: 'bindmount', short: 'B', arg: 'SRC[:DST[:OPTS]]', topic: 'filesystem', help: "Show host path SRC writable at DST; OPTS are extra mount options such as 'noexec' or 'dev'; repeatable.", apply: (s, v) => { s.cfg.mount.push(bindMount(v, true, true)); } },
  { long: 'dev_bind', arg: 'SRC[:DST]', topic: 'filesystem', help: 'A writable bind in which device nodes can be opened; every other bind is nodev.', apply: (s, v) => { s.cfg.mount.push({ ...bindMount(v, true, true), dev: true }); } },
  { long: 'bindmount_ro_try', arg: 'SRC[:DST]', topic: 'filesystem', help: 'As --bindmount_ro, skipped with a warning when SRC does not exist.', apply: (s, v) => { s.cfg.mount.push(bindMount(v, false, false)); } },
  { long: 'bindmount_try', arg: 'SRC[:DST[:OPTS]]', topic: 'filesystem', help: 'As --bindmount, skipped with a warning when SRC does not exist.', apply: (s, v) => { s.cfg.mount.push(bindMount(v, true, false)); } },
  { long: 'tmpfsmount', short: 'T', arg: 'DST', topic: 'filesystem', help: 'An empty writable tmpfs of 4 MiB at DST; repeatable. Another size: -m none:DST:tmpfs:size=64m.', apply: (s, v) => { s.cfg.mount.push({ ...mountDefaults, dst: v, fstype: 'tmpfs', options: 'size=4194304', rw: true, is_dir: true }); } },
  { long: 'mount', short: 'm', arg: 'SRC:DST:TYPE:OPTS', topic: 'filesystem', help: 'Mount any filesystem: its source, the path in the jail, the filesystem type, and options as mount(8) takes them (flags such as ro or nosuid; the rest goes to the filesystem); repeatable.', apply: (s, v) => { const [src = '', dst = '', fstype = '', options = ''] = splitFirst(v, 4); s.cfg.mount.push({ ...mountDefaults, src, dst, fstype, options, rw: true }); } },
  { long: 'symlink', short: 's', arg: 'TARGET:LINK', topic: 'filesystem', help: 'Make LINK in the jail a symbolic link to TARGET; repeatable.', apply: (s, v) => { const [src = '', dst = ''] = splitFirst(v, 2); s.cfg.mount.push({ ...mountDefaults, src, dst, is_symlink: true }); } },
  { long: 'mount_dev', topic: 'filesystem', help: 'A minimal writable /dev: null, zero, full, random, urandom and tty, a private shm and pts, and the fd, stdin, stdout and stderr links.', apply: (s) => { s.cfg.mount.push({ ...mountDefaults, dst: '/dev', is_dev: true, rw: true, is_dir: true }); } },
  { long: 'dir', arg: 'DST[:MODE]', topic: 'filesystem', help: 'Create directory DST in the jail with the octal MODE, and any missing parents; repeatable.', def: '0755', apply: (s, v) => { s.cfg.mount.push(dirEntry(v)); } },
  { long: 'file', arg: 'DST=TEXT', topic: 'filesystem', help: 'Place a read-only file DST in the jail holding TEXT (everything after the first =); repeatable.', apply: (s, v) => { s.cfg.mount.push(fileEntry(v)); } },
  { long: 'file_fd', arg: 'FD:DST', topic: 'filesystem', help: "Place a read-only file DST in the jail holding what tsjail reads from its own descriptor FD, to end of file (at most 4 MiB); repeatable.", apply: (s, v) => { s.cfg.mount.push(fileFdEntry(v)); } },
  { long: 'overlay_ro', arg: 'LOWER1:LOWER2[:...]:DST', topic: 'filesystem', help: 'Show host directories stacked as one read-only overlayfs at DST, LOWER1 on top; at least two; repeatable.', apply: (s, v) => { s.cfg.mount.push(overlayRoEntry(v)); } },
  { long: 'tmp_overlay', arg: 'DIR', topic: 'filesystem', help: 'Show host directory DIR at the same path with a tmpfs layered on top (overlayfs): the jail can change it, and its changes stay in memory and vanish with it.', apply: (s, v) => { s.cfg.mount.push({ ...mountDefaults, src: v, dst: v, is_overlay: true, rw: true, is_dir: true }); } },
  { long: 'disable_proc', topic: 'filesystem', help: 'Mount no procfs in the jail.', def: 'procfs at /proc', apply: set('mount_proc', false) },
  { long: 'proc_path', arg: 'PATH', topic: 'filesystem', help: 'Where in the jail procfs goes; also undoes --disable_proc.', def: '/proc', apply: (s, v) => { s.cli.proc_path = v; s.cfg.mount_proc = true; } },
  { long: 'proc_rw', topic: 'filesystem', help: 'Mount procfs writable.', def: 'read-only, nosuid, nodev, noexec', apply: (s) => { s.cli.proc_rw = true; } },
  { long: 'experimental_mnt', arg: 'WHICH', topic: 'filesystem', help: "nsjail's choice of mount API; no effect in tsjail, which always sets mount flags with mount_setattr(2). Accepted so nsjail command lines keep working.", choices: ['old', 'new', 'auto'], apply: (s, v) => { if (!['old', 'new', 'auto'].includes(v)) throw new UsageError(`--experimental_mnt: ${quoted(v)} is not 'old', 'new' or 'auto'`); s.cli.experimental_mnt = v; } },
  { long: 'seccomp_policy', short: 'P', arg: 'FILE', topic: 'seccomp', help: "A seccomp policy in nsjail's Kafel language, read from FILE, compiled by tsjail and installed as the last step before the program starts. Not together with --seccomp_string.", apply: setStr('seccomp_policy_file') },
  { long: 'seccomp_string', arg: 'POLICY', topic: 'seccomp', help: 'A Kafel seccomp policy on the command line; repeatable, the pieces are joined with newlines.', apply: push((s) => s.cfg.seccomp_string) },
  { long: 'seccomp_log', topic: 'seccomp', help: 'Install the filter with SECCOMP_FILTER_FLAG_LOG, so that the kernel logs (audit) each of its actions other than ALLOW.', apply: set('seccomp_log', true) },
  { long: 'syscall_allow', arg: 'LIST', topic: 'seccomp', help: 'Allow only these system calls (comma-separated names); any other fails with EPERM. Repeatable, and combines with a policy.', apply: (s, v) => { s.cfg.ext.syscall_allow.push(...csv(v)); } },
  { long: 'syscall_deny', arg: 'LIST', topic: 'seccomp', help: 'Make these system calls (comma-separated names) fail with EPERM; repeatable.', apply: (s, v) => { s.cfg.ext.syscall_deny.push(...csv(v)); } },
  { long: 'seccomp_preset', arg: 'LIST', topic: 'seccomp', help: "Refuse sets of rarely needed, risky calls (comma-separated): 'default' is every set but deny_setid; the sets are deny_common, deny_system, deny_userns, deny_mount, deny_chown, deny_setid, deny_emu, deny_socket_family, deny_personality, deny_io_uring, deny_tty, deny_devel, and deny_ns for userns, mount, chown and setid together. README.md lists the calls.", choices: SECCOMP_PRESET_NAMES, apply: (s, v) => { s.cfg.ext.seccomp_preset.push(...csv(v)); } },
  { long: 'seccomp_no_equivalents', topic: 'seccomp', help: 'Apply each rule to the call it names only, as Kafel does. Without it a rule also covers the calls that do the same thing (openat: open, creat, openat2, io_uring; execve: execveat; clone: fork, vfork, clone3; …).', apply: (s) => { s.cfg.ext.seccomp_equivalents = false; } },
  { long: 'seccomp_bpf_file', arg: 'FILE', topic: 'seccomp', help: "Also install a ready-made classic BPF filter, an array of struct sock_filter as 'tsjail seccomp compile -o' or libseccomp export it; checked as the kernel would before use.", apply: (s, v) => { s.cfg.ext.seccomp_bpf_file = v; } },
  { long: 'seccomp_no_notify', topic: 'seccomp', help: "Let the kernel carry out the filter's refusals on its own, without tsjail first logging each refused call with its arguments; refusals are then named only from the kernel's audit record, when tsjail runs as root.", apply: (s) => { s.cfg.ext.seccomp_notify = false; } },
  { long: 'go_mod', arg: 'FILE', topic: 'seccomp', help: "Confine modules of a Go program: FILE is a go.mod whose '// gomodjail:confined' and '// gomodjail:unconfined' comments choose them (on the module line: the default; on a require block or line: those modules). A call outside a base allow-list (opening files, exec, sockets, new processes, pidfds…) fails with EPERM, and is logged, when a function of a confined module is on the calling goroutine's stack. Applies when the program's main module is FILE's module.", apply: (s, v) => { s.cfg.ext.go_mod = v; } },
  { long: 'go_module_policy', arg: 'MODULE=POLICY', topic: 'seccomp', help: "With --go_mod: make MODULE 'confined' or 'unconfined', whatever go.mod's comments say; repeatable, the last one for a module counts.", apply: push((s) => s.cfg.ext.go_module_policy) },
  { long: 'go_unwind_fail', arg: 'deny|allow', topic: 'seccomp', help: "With --go_mod: what happens to a call whose Go stack tsjail cannot walk to its end (cgo or foreign frames): 'deny' fails it with EPERM, 'allow' lets it through; logged either way.", def: 'deny', choices: ['deny', 'allow'], apply: (s, v) => { if (v !== 'deny' && v !== 'allow') throw new UsageError(`--go_unwind_fail: ${quoted(v)} is not 'deny' or 'allow'`); s.cfg.ext.go_unwind_fail = v; } },
  { long: 'seccomp_unotify', topic: 'seccomp', help: "Watch the program's file and network calls through a seccomp user-notification filter and log each path and address it uses.", apply: set('seccomp_unotify', true) },
  { long: 'seccomp_unotify_report', arg: 'FILE', topic: 'seccomp', help: 'With --seccomp_unotify: also write what was seen to FILE when the jail ends.', apply: setStr('seccomp_unotify_report') },
  { long: 'nice_level', arg: 'N', topic: 'process', help: "The program's nice value, from -20 (most CPU) to 19 (least).", def: '19', numeric: true, apply: setNum('nice_level', 'int32') },
  ...CGROUP_FLAGS.map(([key, arg, help, def, num]): Flag => (num ? { long: key, arg, topic: 'limits', help, def, numeric: true, apply: setNum(key, ...num) } : { long: key, arg, topic: 'limits', help, def, apply: setStr(key) })),
  { long: 'use_cgroupv2', topic: 'limits', help: 'Put the cgroup limits in the v2 hierarchy (--cgroupv2_mount). Chosen on its own on a host that runs v2 only.', def: 'v1', apply: set('use_cgroupv2', true) },
  { long: 'detect_cgroupv2', topic: 'limits', help: 'Use v2 when --cgroupv2_mount holds a cgroup2 filesystem, v1 otherwise.', apply: set('detect_cgroupv2', true) },
  { long: 'iface_no_lo', topic: 'network', help: "Leave the loopback interface of the jail's network namespace down.", def: 'loopback up', apply: set('iface_no_lo', true) },
  { long: 'iface_own', arg: 'IFACE', topic: 'network', help: "Move host interface IFACE into the jail's network namespace as it is (down, unconfigured), and back when the jail ends; repeatable. Needs root.", apply: push((s) => s.cfg.iface_own) },
  { long: 'macvlan_iface', short: 'I', arg: 'IFACE', topic: 'network', help: "Give the jail an interface named 'vs', a MACVLAN on top of host interface IFACE, configured by the --macvlan_vs_* options. Needs root.", apply: (s, v) => { s.cfg.macvlan_iface = v; } },
  ...(['ip', 'nm', 'gw', 'ma', 'mo'] as const).map((k): Flag => {
    const [arg, what, def] = MACVLAN_VS[k];
    return { long: `macvlan_vs_${k}`, arg, topic: 'network', help: `With --macvlan_iface: ${what}.`, def, ...(k === 'mo' ? { choices: ['private', 'vepa', 'bridge', 'passthru'] } : {}), apply: setStr(`macvlan_vs_${k}`) };
  }),
  { long: 'disable_tsc', topic: 'process', help: 'Make the rdtsc and rdtscp instructions fault (prctl PR_SET_TSC; x86 only). Dynamically linked programs die at once (ld.so reads the TSC); static ones run. A seccomp rule must also refuse prctl(PR_SET_TSC), or the program can switch the TSC back on.', apply: set('disable_tsc', true) },
  { long: 'forward_signals', topic: 'process', help: 'When tsjail gets SIGINT or SIGTERM, pass that signal on to the jails instead of killing them with SIGKILL.', apply: set('forward_signals', true) },
  { long: 'use_core_scheduling', topic: 'process', help: "Give the jail a core-scheduling cookie of its own (prctl PR_SCHED_CORE), so that no other task runs on a hyperthread sibling of the jail's CPU at the same time. Linux >= 5.14 with CONFIG_SCHED_CORE.", apply: set('use_core_scheduling', true) },
  { long: 'user_net', topic: 'network', help: "User-mode networking, no root needed: the jail gets eth0 (10.255.255.2, gateway 10.255.255.1, fc00::2) and its TCP, UDP and ping leave through tsjail on the host (nsjail's NSTUN backend, built in). Needs /dev/net/tun openable by tsjail's user.", apply: (s) => { s.cfg.user_net = { ...(s.cfg.user_net ?? defaultUserNet()), backend: 'NSTUN' }; } },
  { long: 'net_allow', arg: 'NAME[:PORT]', topic: 'network', help: "Let the jail reach only these DNS names (repeatable; '*.example.com' covers the names below it), through user-mode networking, which this turns on: tsjail answers the jail's DNS itself and lets a connection through only to an address it gave out for an allowed name, on 80 or 443 unless :PORT says another, and only when the TLS server name or HTTP Host it opens with is that name. Denials are logged and sent to the status channel.", apply: (s, v) => { s.cfg.ext.net_allow.push(v); s.cfg.user_net ??= { ...defaultUserNet(), backend: 'NSTUN' }; } },
  { long: 'traffic_rule', arg: 'RULE', topic: 'network', help: "A firewall rule for what the jail sends, as comma-separated KEY=VALUE with the config's field names (src_ip, dst_ip, iif, oif, proto, sport, dport, sport_end, dport_end, action, ip_family), e.g. proto=tcp,dport=443,action=reject; repeatable, the first rule that matches decides. Needs root and nft.", apply: (s, v) => { try { s.cfg.traffic_rule.push(parseTrafficRuleFlag(v)); } catch (e) { throw new UsageError((e as Error).message); } } },
  { long: 'netns', arg: 'PATH', topic: 'network', help: 'Run the jail in this existing network namespace (/run/netns/NAME, /proc/PID/ns/net) instead of a new one, used as it is. Needs root.', apply: (s, v) => { s.cfg.ext.netns = v; } },
  { long: 'oom_score_adj', arg: 'N', topic: 'process', help: "Write N, from -1000 to 1000, to the program's oom_score_adj: the higher, the sooner the OOM killer picks it.", def: "tsjail's own", numeric: true, apply: (s, v) => { s.cfg.oom_score_adj = Number(parseNumber('oom_score_adj', v, 'int32')); } },
  { long: 'init', topic: 'process', help: "Start a small reaper as PID 1 of the jail's pid namespace: the program runs as PID 2, orphans are reaped, and the signals the jail gets reach the program.", apply: set('init', true) },
  { long: 'landlock_ro', arg: 'PATH', topic: 'landlock', help: 'Allow reading files and listing directories under PATH; repeatable.', apply: push((s) => ll(s).ro) },
  { long: 'landlock_rw', arg: 'PATH', topic: 'landlock', help: 'Allow every file operation under PATH except executing: writing, creating, removing, renaming, truncating, device ioctls; repeatable.', apply: push((s) => ll(s).rw) },
  { long: 'landlock_rx', arg: 'PATH', topic: 'landlock', help: 'Allow reading and executing under PATH (programs, libraries); repeatable.', apply: push((s) => ll(s).rx) },
  { long: 'landlock_ro_try', arg: 'PATH', topic: 'landlock', help: 'As --landlock_ro, skipped with a warning when PATH does not exist in the jail.', apply: push((s) => ll(s).ro_try) },
  { long: 'landlock_rw_try', arg: 'PATH', topic: 'landlock', help: 'As --landlock_rw, skipped with a warning when PATH does not exist in the jail.', apply: push((s) => ll(s).rw_try) },
  { long: 'landlock_rx_try', arg: 'PATH', topic: 'landlock', help: 'As --landlock_rx, skipped with a warning when PATH does not exist in the jail.', apply: push((s) => ll(s).rx_try) },
  { long: 'landlock_bind_tcp', arg: 'PORT', topic: 'landlock', help: 'Allow bind(2) to this TCP port; once one is given, binding any other port is refused. Repeatable; Landlock ABI 4 (Linux 6.7).', numeric: true, apply: (s, v) => { ll(s).bind_tcp.push(port('landlock_bind_tcp', v)); } },
  { long: 'landlock_connect_tcp', arg: 'PORT', topic: 'landlock', help: 'Allow connect(2) to this TCP port; once one is given, connecting to any other port is refused. Repeatable; ABI 4.', numeric: true, apply: (s, v) => { ll(s).connect_tcp.push(port('landlock_connect_tcp', v)); } },
  { long: 'landlock_scope', arg: 'LIST', topic: 'landlock', help: "Comma-separated: 'abstract_unix' stops connections to abstract unix sockets made outside the jail, 'signal' stops signals to processes outside it. ABI 6 (Linux 6.12).", choices: ['abstract_unix', 'signal'], apply: (s, v) => { for (const x of csv(v)) { if (x === 'abstract_unix') ll(s).scope_abstract_unix = true; else if (x === 'signal') ll(s).scope_signal = true; else throw new UsageError(`--landlock_scope: unknown scope ${quoted(x)}`); } } },
  { long: 'landlock_log', topic: 'landlock', help: 'Log each file call (open, exec, create, remove) on a path outside the Landlock rules, naming the path, before Landlock refuses it. Needs rules.', apply: (s) => { ll(s).log = true; } },
  { long: 'landlock_required', topic: 'landlock', help: 'Refuse to start unless the kernel enforces every Landlock rule given.', def: 'enforce what the kernel can, and warn', apply: (s) => { ll(s).required = true; } },
  { long: 'status_fd', arg: 'FD', topic: 'logging', help: "Write one JSON object per event to this open descriptor: a jail's start, its exit with status, cause and resource use, or its failure to start.", numeric: true, apply: (s, v) => { s.cfg.ext.status_fd = fd('status_fd', v); } },
  { long: 'status_file', arg: 'FILE', topic: 'logging', help: 'Append the same JSON status lines to FILE.', apply: (s, v) => { s.cfg.ext.status_file = v; } },
  { long: 'metrics_addr', arg: 'HOST:PORT', topic: 'logging', help: '-Ml and -Mr: serve Prometheus metrics over HTTP at /metrics on this address (IPv6 in brackets, [::]:9100), and /healthz, which answers 200 once tsjail serves.', apply: (s, v) => { const a = parseHostPort(v); if (typeof a === 'string') throw new UsageError(`--metrics_addr: ${a}`); s.cfg.ext.metrics_addr = v; } },
  ...LEGACY_FLAGS,
  { long: 'compat', arg: 'VERSION', topic: 'modes', help: "'3.4': act as nsjail 3.4, which many distributions still ship: no time limit unless -t or a config sets one, only the last --seccomp_string counts, and 3.4's start-up log lines. 'master': current nsjail.", def: 'master', choices: ['3.4', 'master'], apply: (s, v) => { if (v !== '3.4' && v !== 'master') throw new UsageError(`--compat: ${quoted(v)} is not '3.4' or 'master'`); s.cli.compat = v === '3.4' ? '3.4' : undefined; } },
  { long: 'dump_config', topic: 'modes', help: 'Print the configuration that results from the config files and options, as a text config tsjail reads back to the same jail, and exit without running anything.', apply: (s) => { s.cli.dump_config = true; } },
  { long: 'version', topic: 'modes', exact: true, help: "Print tsjail's version and exit.", apply: () => {} },
];
