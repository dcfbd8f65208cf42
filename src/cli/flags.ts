/**
 * The flag table: one row per option drives commander and `--help`. Each
 * `apply` only writes the JailSpec; nothing is performed while parsing.
 * Names, short letters and semantics are nsjail's (cmdline.cc).
 */
import { log } from '../log/logger.js';
import { IntegerError, isNumericId, parseId, parseInteger, type IntegerOptions, type IntType } from '../numbers.js';
import { quoted } from '../text.js';
import type { ConfigState, IdMap, JailSpec, LogLevel, MountPt, RlimitName, RlimitSetting } from '../spec.js';

/**
 * A command line tsjail refuses. showUsage: getopt's own refusals (an unknown
 * option, a missing value, a bad -M), after which nsjail prints its usage; a
 * bad value is one line naming the option and the value.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
  }
}

export interface Flag {
  readonly long: string;
  readonly short?: string;
  /** Value name shown in --help; absent for switches. */
  readonly arg?: string;
  readonly help: string;
  readonly apply: (spec: JailSpec, value: string) => void;
  /** An option older nsjail releases had: exact name only, not in --help. */
  readonly legacy?: true;
  /** The value is a number (or holds numbers): parsed strictly; every such option is in the numbers table test. */
  readonly numeric?: true;
}

/** Options whose value is a byte count accept binary size suffixes; --help says so with these words. */
const SIZES_HELP = 'or with a K, M, G or T suffix (KiB, MiB, GiB, TiB)';

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

const mountDefaults = { is_bind: false, rw: false, mandatory: true, is_symlink: false, nosuid: false, nodev: false, noexec: false } as const;

function splitFirst(v: string, n: number): string[] {
  const parts = v.split(':');
  return n > 0 && parts.length > n ? [...parts.slice(0, n - 1), parts.slice(n - 1).join(':')] : parts;
}

function bindMount(v: string, rw: boolean, mandatory: boolean): MountPt {
  const [src = '', dst, options] = splitFirst(v, 3);
  return { ...mountDefaults, src, dst: dst || src, is_bind: true, rw, mandatory, ...(options ? { options } : {}) };
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
/** Options tsjail does not implement yet: refused by validation, never ignored. */
const unsupported = (name: string) => (s: JailSpec) => {
  s.cfg.unsupported.push(`--${name}`);
};

const RLIMIT_HELP: Record<RlimitName, string> = {
  as: "RLIMIT_AS in MiB, 'max' or 'hard' for the current hard limit, 'def' or 'soft' for the current soft limit, 'inf' for RLIM64_INFINITY (default: 4096)",
  core: 'RLIMIT_CORE in MiB, keywords as above (default: 0)',
  cpu: 'RLIMIT_CPU in seconds, keywords as above (default: 600)',
  fsize: 'RLIMIT_FSIZE in MiB, keywords as above (default: 1)',
  nofile: 'RLIMIT_NOFILE, keywords as above (default: 32)',
  nproc: "RLIMIT_NPROC, keywords as above (default: 'soft')",
  stack: "RLIMIT_STACK in MiB, keywords as above (default: 'soft')",
  memlock: "RLIMIT_MEMLOCK in KiB, keywords as above (default: 'soft')",
  rtprio: "RLIMIT_RTPRIO, keywords as above (default: 'soft')",
  msgqueue: `RLIMIT_MSGQUEUE in bytes, ${SIZES_HELP}, keywords as above (default: 'soft')`,
};

const PERSONAS = ['addr_compat_layout', 'mmap_page_zero', 'read_implies_exec', 'addr_limit_3gb', 'addr_no_randomize'] as const;
const NAMESPACES = ['newnet', 'newuser', 'newns', 'newpid', 'newipc', 'newuts', 'newcgroup'] as const;

/** Numeric cgroup options carry their config field's integer type; byte counts take size suffixes. */
const BYTES = { sizes: true } as const;
const CGROUP_FLAGS: ReadonlyArray<readonly [keyof ConfigState, string, string, (readonly [IntType, IntegerOptions?])?]> = [
  ['cgroup_mem_max', 'VALUE', `Maximum number of bytes to use in the group, ${SIZES_HELP} (default: 0 - disabled)`, ['uint64', BYTES]],
  ['cgroup_mem_memsw_max', 'VALUE', `Maximum number of memory+swap bytes to use, ${SIZES_HELP} (default: 0 - disabled)`, ['uint64', BYTES]],
  ['cgroup_mem_swap_max', 'VALUE', `Maximum number of swap bytes to use, ${SIZES_HELP} (default: -1 - disabled)`, ['int64', BYTES]],
  ['cgroup_mem_mount', 'VALUE', "Location of memory cgroup FS (default: '/sys/fs/cgroup/memory')"],
  ['cgroup_mem_parent', 'VALUE', "Which pre-existing memory cgroup to use as a parent (default: 'NSJAIL')"],
  ['cgroup_pids_max', 'VALUE', 'Maximum number of pids in a cgroup (default: 0 - disabled)', ['uint64']],
  ['cgroup_pids_mount', 'VALUE', "Location of pids cgroup FS (default: '/sys/fs/cgroup/pids')"],
  ['cgroup_pids_parent', 'VALUE', "Which pre-existing pids cgroup to use as a parent (default: 'NSJAIL')"],
  ['cgroup_net_cls_classid', 'VALUE', 'Class identifier of network packets in the group (default: 0 - disabled)', ['uint32']],
  ['cgroup_net_cls_mount', 'VALUE', "Location of net_cls cgroup FS (default: '/sys/fs/cgroup/net_cls')"],
  ['cgroup_net_cls_parent', 'VALUE', "Which pre-existing net_cls cgroup to use as a parent (default: 'NSJAIL')"],
  ['cgroup_cpu_ms_per_sec', 'VALUE', 'Number of milliseconds of CPU time per second that the process group can use (default: 0 - no limit)', ['uint32']],
  ['cgroup_cpu_mount', 'VALUE', "Location of cpu cgroup FS (default: '/sys/fs/cgroup/cpu')"],
  ['cgroup_cpu_parent', 'VALUE', "Which pre-existing cpu cgroup to use as a parent (default: 'NSJAIL')"],
  ['cgroupv2_mount', 'VALUE', "Location of cgroupv2 directory (default: '/sys/fs/cgroup')"],
];

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
  { long: 'enable_clone_newcgroup', legacy: true, help: 'nsjail 2.5: CLONE_NEWCGROUP, on by default since', apply: set('clone_newcgroup', true) },
  { long: 'use_switchroot', legacy: true, help: 'renamed --no_pivotroot', apply: set('no_pivotroot', true) },
  { long: 'pivot_root_only', legacy: true, help: 'pivot_root only (the default)', apply: set('no_pivotroot', false) },
  { long: 'tmpfs_size', legacy: true, arg: 'VALUE', help: 'nsjail 2.5', apply: gone('tmpfs_size', "give the size per mount: -m none:DST:tmpfs:size=N") },
  ...['iface', 'iface_vs_ip', 'iface_vs_nm', 'iface_vs_gw'].map((n): Flag => ({ long: n, legacy: true, arg: 'VALUE', help: 'nsjail 2.5', apply: gone(n, `now --${n.replace('iface', 'macvlan_iface').replace('macvlan_iface_vs', 'macvlan_vs')}, and MACVLAN is not supported yet`) })),
  ...['use_pasta', 'use_nstun'].map((n): Flag => ({ long: n, legacy: true, help: 'nsjail 3.5/3.6', apply: gone(n, 'replaced by --user_net, and user-mode networking is not supported yet') })),
];

export const FLAGS: readonly Flag[] = [
  { long: 'help', short: 'h', help: 'Help plz..', apply: () => {} },
  { long: 'mode', short: 'M', arg: 'VALUE', help: 'Execution mode (default: \'o\' [MODE_STANDALONE_ONCE]):\n\tl: Wait for connections on a TCP port (specified with --port) [MODE_LISTEN_TCP]\n\to: Launch a single process on the console using clone/execve [MODE_STANDALONE_ONCE]\n\te: Launch a single process on the console using execve [MODE_STANDALONE_EXECVE]\n\tr: Launch a single process on the console with clone/execve, keep doing it forever [MODE_STANDALONE_RERUN]', apply: (s, v) => { s.cfg.mode = parseMode(v); } },
  { long: 'config', short: 'C', arg: 'VALUE', help: 'Configuration file in the config.proto ProtoBuf format (text or JSON); options given before it are replaced, options after it override it', apply: (s, v) => { s.cli.config_files.push(v); } },
  { long: 'exec_file', short: 'x', arg: 'VALUE', help: 'File to exec (default: argv[0])', apply: (s, v) => { s.cfg.exec_bin = { arg: s.cfg.exec_bin?.arg ?? [], exec_fd: s.cfg.exec_bin?.exec_fd ?? false, ...(s.cfg.exec_bin?.arg0 !== undefined ? { arg0: s.cfg.exec_bin.arg0 } : {}), path: v }; } },
  { long: 'execute_fd', help: 'Use execveat() to execute a file-descriptor instead of executing the binary path. In such case argv[0]/exec_file denotes a file path before mount namespacing', apply: (s) => { s.cfg.exec_bin = { arg: [], ...s.cfg.exec_bin, exec_fd: true }; } },
  { long: 'chroot', short: 'c', arg: 'VALUE', help: "Directory containing / of the jail (default: none)", apply: (s, v) => { s.cli.chroot = v; } },
  { long: 'no_pivotroot', help: 'When creating a mount namespace, use mount(MS_MOVE) and chroot rather than pivot_root. Usefull when pivot_root is disallowed (e.g. initramfs). Note: escapable is some configuration', apply: set('no_pivotroot', true) },
  { long: 'rw', help: 'Mount chroot dir (/) R/W (default: R/O)', apply: (s) => { s.cli.rw = true; } },
  { long: 'user', short: 'u', arg: 'VALUE', help: "Username/uid of processes inside the jail (default: your current uid). You can also use inside_ns_uid:outside_ns_uid:count convention here. Can be specified multiple times", numeric: true, apply: (s, v) => { s.cli.uidmap.push(parseIdMap(v, false, 'user')); } },
  { long: 'group', short: 'g', arg: 'VALUE', help: 'Groupname/gid of processes inside the jail (default: your current gid). You can also use inside_ns_gid:global_ns_gid:count convention here. Can be specified multiple times', numeric: true, apply: (s, v) => { s.cli.gidmap.push(parseIdMap(v, false, 'group')); } },
  { long: 'hostname', short: 'H', arg: 'VALUE', help: "UTS name (hostname) of the jail (default: 'NSJAIL')", apply: setStr('hostname') },
  { long: 'cwd', short: 'D', arg: 'VALUE', help: "Directory in the namespace the process will run (default: '/')", apply: setStr('cwd') },
  { long: 'port', short: 'p', arg: 'VALUE', help: 'TCP port to bind to (enables MODE_LISTEN_TCP) (default: 0)', numeric: true, apply: (s, v) => { s.cfg.port = port('port', v); s.cfg.mode = 'LISTEN_TCP'; } },
  { long: 'bindhost', arg: 'VALUE', help: "IP address to bind the port to (only in [MODE_LISTEN_TCP]), (default: '::')", apply: setStr('bindhost') },
  { long: 'max_conns', arg: 'VALUE', help: 'Maximum number of connections across all IPs (only in [MODE_LISTEN_TCP]), (default: 0 (unlimited))', numeric: true, apply: setNum('max_conns', 'uint32') },
  { long: 'max_conns_per_ip', short: 'i', arg: 'VALUE', help: 'Maximum number of connections per one IP (only in [MODE_LISTEN_TCP]), (default: 0 (unlimited))', numeric: true, apply: setNum('max_conns_per_ip', 'uint32') },
  { long: 'log', short: 'l', arg: 'VALUE', help: 'Log file (default: use log_fd)', apply: (s, v) => { s.cli.log_file = v; } },
  { long: 'log_fd', short: 'L', arg: 'VALUE', help: 'Log FD (default: 2)', numeric: true, apply: (s, v) => { s.cli.log_fd = fd('log_fd', v); } },
  { long: 'log_format', arg: 'VALUE', help: "tsjail: log line format, 'text' (nsjail's) or 'json' (one object per line) (default: 'text')", apply: (s, v) => { if (v !== 'text' && v !== 'json') throw new UsageError(`--log_format: ${quoted(v)} is not 'text' or 'json'`); s.cfg.ext.log_format = v; } },
  { long: 'time_limit', short: 't', arg: 'VALUE', help: 'Maximum time that a jail can exist, in seconds (default: 600)', numeric: true, apply: setNum('time_limit', 'uint32') },
  { long: 'max_cpus', arg: 'VALUE', help: 'Maximum number of CPUs a single jailed process can use (default: 0 \'no limit\')', numeric: true, apply: setNum('max_cpus', 'uint32') },
  { long: 'daemon', short: 'd', help: 'Daemonize after start', apply: set('daemon', true) },
  { long: 'verbose', short: 'v', help: 'Verbose output', apply: logLevel('DEBUG') },
  { long: 'quiet', short: 'q', help: 'Log warning and more important messages only', apply: logLevel('WARNING') },
  { long: 'really_quiet', short: 'Q', help: 'Log fatal messages only', apply: logLevel('FATAL') },
  { long: 'keep_env', short: 'e', help: "Pass all environment variables to the child process (default: all envars are cleared)", apply: set('keep_env', true) },
  { long: 'env', short: 'E', arg: 'VALUE', help: "Additional environment variable (can be used multiple times). If the envar doesn't contain '=' (e.g. just the 'DISPLAY' string), the current envar value will be used", apply: (s, v) => { const e = envEntry(v); if (e) s.cfg.envar.push(e); } },
  { long: 'keep_caps', help: "Don't drop any capabilities", apply: set('keep_caps', true) },
  { long: 'cap', arg: 'VALUE', help: "Retain this capability, e.g. CAP_PTRACE (can be specified multiple times)", apply: push((s) => s.cfg.cap) },
  { long: 'silent', help: 'Redirect child process\' fd:0/1/2 to /dev/null', apply: set('silent', true) },
  { long: 'stderr_to_null', help: 'Redirect child process\' fd:2 to /dev/null', apply: set('stderr_to_null', true) },
  { long: 'skip_setsid', help: "Don't call setsid(), allows for terminal signal handling in the sandboxed process. Dangerous", apply: set('skip_setsid', true) },
  { long: 'pass_fd', arg: 'VALUE', help: 'Don\'t close this FD before executing the child process (can be specified multiple times), by default: 0/1/2 are kept open', numeric: true, apply: (s, v) => { s.cli.pass_fd.push(fd('pass_fd', v)); } },
  { long: 'disable_no_new_privs', help: "Don't set the prctl(NO_NEW_PRIVS, 1) (DANGEROUS)", apply: set('disable_no_new_privs', true) },
  ...(Object.keys(RLIMIT_HELP) as RlimitName[]).map((r): Flag => ({ long: `rlimit_${r}`, arg: 'VALUE', help: RLIMIT_HELP[r], numeric: true, apply: (s, v) => { s.cfg.rlimits = { ...s.cfg.rlimits, [r]: parseRlimit(`rlimit_${r}`, v, r) }; } })),
  { long: 'disable_rlimits', help: 'Disable all rlimits, default to limits set by parent', apply: set('disable_rl', true) },
  ...PERSONAS.map((p): Flag => ({ long: `persona_${p}`, help: `personality(${p.toUpperCase()})`, apply: set(`persona_${p}`, true) })),
  ...NAMESPACES.map((n): Flag => ({ long: `disable_clone_${n}`, ...(n === 'newnet' ? { short: 'N' } : {}), help: `Don't use CLONE_${n.toUpperCase()}${n === 'newuser' ? '. Requires euid==0' : ''}`, apply: set(`clone_${n}`, false) })),
  { long: 'enable_clone_newtime', help: 'Use CLONE_NEWTIME. Supported with kernel versions >= 5.3', apply: set('clone_newtime', true) },
  { long: 'uid_mapping', short: 'U', arg: 'VALUE', help: 'Add a custom uid mapping of the form inside_uid:outside_uid:count. Setting this requires newuidmap (set-uid) to be present', numeric: true, apply: (s, v) => { s.cli.uidmap.push(parseIdMap(v, true, 'uid_mapping')); } },
  { long: 'gid_mapping', short: 'G', arg: 'VALUE', help: 'Add a custom gid mapping of the form inside_gid:outside_gid:count. Setting this requires newgidmap (set-uid) to be present', numeric: true, apply: (s, v) => { s.cli.gidmap.push(parseIdMap(v, true, 'gid_mapping')); } },
  { long: 'bindmount_ro', short: 'R', arg: 'VALUE', help: "List of mountpoints to be mounted --bind (ro) inside the container. Can be specified multiple times. Supports 'source' syntax, or 'source:dest'", apply: (s, v) => { s.cfg.mount.push(bindMount(v, false, true)); } },
  { long: 'bindmount', short: 'B', arg: 'VALUE', help: "List of mountpoints to be mounted --bind (rw) inside the container. Can be specified multiple times. Supports 'source' syntax, or 'source:dest', or 'source:dest:options'", apply: (s, v) => { s.cfg.mount.push(bindMount(v, true, true)); } },
  { long: 'dev_bind', arg: 'VALUE', help: "tsjail: a read-write bind whose device nodes work ('source' or 'source:dest'); other binds are nodev", apply: (s, v) => { s.cfg.mount.push({ ...bindMount(v, true, true), dev: true }); } },
  { long: 'bindmount_ro_try', arg: 'VALUE', help: 'tsjail: like --bindmount_ro, but a missing source is skipped with a warning', apply: (s, v) => { s.cfg.mount.push(bindMount(v, false, false)); } },
  { long: 'bindmount_try', arg: 'VALUE', help: 'tsjail: like --bindmount, but a missing source is skipped with a warning', apply: (s, v) => { s.cfg.mount.push(bindMount(v, true, false)); } },
  { long: 'tmpfsmount', short: 'T', arg: 'VALUE', help: "List of mountpoints to be mounted as tmpfs (R/W) inside the container. Can be specified multiple times. Supports 'dest' syntax. Alternatively, use '-m none:dest:tmpfs:size=8388608'", apply: (s, v) => { s.cfg.mount.push({ ...mountDefaults, dst: v, fstype: 'tmpfs', options: 'size=4194304', rw: true, is_dir: true }); } },
  { long: 'mount', short: 'm', arg: 'VALUE', help: "Arbitrary mount, format src:dst:fs_type:options", apply: (s, v) => { const [src = '', dst = '', fstype = '', options = ''] = splitFirst(v, 4); s.cfg.mount.push({ ...mountDefaults, src, dst, fstype, options, rw: true }); } },
  { long: 'symlink', short: 's', arg: 'VALUE', help: 'Symlink, format src:dst', apply: (s, v) => { const [src = '', dst = ''] = splitFirst(v, 2); s.cfg.mount.push({ ...mountDefaults, src, dst, is_symlink: true }); } },
  { long: 'mount_dev', help: 'tsjail: a minimal /dev (null, zero, full, random, urandom, tty, shm, pts, and the fd/stdin/stdout/stderr links)', apply: (s) => { s.cfg.mount.push({ ...mountDefaults, dst: '/dev', is_dev: true, rw: true, is_dir: true }); } },
  { long: 'tmp_overlay', arg: 'VALUE', help: 'tsjail: an overlay of this host directory at the same path; writes land in a tmpfs and vanish with the jail', apply: (s, v) => { s.cfg.mount.push({ ...mountDefaults, src: v, dst: v, is_overlay: true, rw: true, is_dir: true }); } },
  { long: 'disable_proc', help: 'Disable mounting procfs in the jail', apply: set('mount_proc', false) },
  { long: 'proc_path', arg: 'VALUE', help: "Path used to mount procfs (default: '/proc')", apply: (s, v) => { s.cli.proc_path = v; s.cfg.mount_proc = true; } },
  { long: 'proc_rw', help: 'Is procfs mounted as R/W (default: R/O)', apply: (s) => { s.cli.proc_rw = true; } },
  { long: 'experimental_mnt', arg: 'VALUE', help: "tsjail always uses mount_setattr(2) for access flags; accepted values: 'old', 'new', 'auto'", apply: (s, v) => { if (!['old', 'new', 'auto'].includes(v)) throw new UsageError(`--experimental_mnt: ${quoted(v)} is not 'old', 'new' or 'auto'`); s.cli.experimental_mnt = v; } },
  { long: 'seccomp_policy', short: 'P', arg: 'VALUE', help: 'Path to file containing seccomp-bpf policy (see kafel/)', apply: setStr('seccomp_policy_file') },
  { long: 'seccomp_string', arg: 'VALUE', help: 'String with kafel seccomp-bpf policy (see kafel/); repeated values are joined with newlines', apply: push((s) => s.cfg.seccomp_string) },
  { long: 'seccomp_log', help: 'Use SECCOMP_FILTER_FLAG_LOG. Log all actions except SECCOMP_RET_ALLOW). Supported since kernel version 4.14', apply: set('seccomp_log', true) },
  { long: 'syscall_allow', arg: 'LIST', help: 'tsjail: comma-separated syscalls to allow; every other syscall fails with EPERM', apply: (s, v) => { s.cfg.ext.syscall_allow.push(...csv(v)); } },
  { long: 'syscall_deny', arg: 'LIST', help: 'tsjail: comma-separated syscalls that fail with EPERM', apply: (s, v) => { s.cfg.ext.syscall_deny.push(...csv(v)); } },
  { long: 'seccomp_preset', arg: 'LIST', help: 'tsjail: comma-separated hardening presets: default, deny_common, deny_system, deny_userns, deny_mount, deny_chown, deny_setid, deny_ns, deny_emu, deny_socket_family, deny_personality, deny_io_uring, deny_tty, deny_devel (see README.md)', apply: (s, v) => { s.cfg.ext.seccomp_preset.push(...csv(v)); } },
  { long: 'seccomp_no_equivalents', help: 'tsjail: apply seccomp rules only to the calls they name, as Kafel does (by default a rule on openat also covers open, openat2 and io_uring, execve covers execveat, clone covers clone3…)', apply: (s) => { s.cfg.ext.seccomp_equivalents = false; } },
  { long: 'seccomp_no_notify', help: "tsjail: let the kernel apply the filter's refusals itself instead of tsjail naming each one (with its arguments) first; violations are then named only from the kernel's audit record, as root", apply: (s) => { s.cfg.ext.seccomp_notify = false; } },
  { long: 'seccomp_bpf_file', arg: 'FILE', help: "tsjail: also install this raw seccomp filter (struct sock_filter[], as 'tsjail seccomp compile' writes it); checked before use", apply: (s, v) => { s.cfg.ext.seccomp_bpf_file = v; } },
  { long: 'seccomp_unotify', help: 'Trace file and network syscalls through a seccomp user-notification filter', apply: set('seccomp_unotify', true) },
  { long: 'seccomp_unotify_report', arg: 'VALUE', help: 'Write the seccomp_unotify report to this file', apply: setStr('seccomp_unotify_report') },
  { long: 'nice_level', arg: 'VALUE', help: 'Set jailed process niceness (-20 is highest -priority, 19 is lowest). By default, set to 19', numeric: true, apply: setNum('nice_level', 'int32') },
  ...CGROUP_FLAGS.map(([key, arg, help, num]): Flag => (num ? { long: key, arg, help, numeric: true, apply: setNum(key, ...num) } : { long: key, arg, help, apply: setStr(key) })),
  { long: 'use_cgroupv2', help: 'Use cgroup v2', apply: set('use_cgroupv2', true) },
  { long: 'detect_cgroupv2', help: 'Use cgroupv2, if it is available. (Specify instead of use_cgroupv2)', apply: set('detect_cgroupv2', true) },
  { long: 'iface_no_lo', help: "Don't bring the 'lo' interface up", apply: set('iface_no_lo', true) },
  { long: 'iface_own', arg: 'VALUE', help: 'Move this existing network interface into the new NET namespace. Can be specified multiple times', apply: (s, v) => { s.cfg.iface_own.push(v); s.cfg.unsupported.push('--iface_own'); } },
  { long: 'macvlan_iface', short: 'I', arg: 'VALUE', help: "Interface which will be cloned (MACVLAN) and put inside the subprocess' namespace as 'vs'", apply: unsupported('macvlan_iface') },
  ...(['ip', 'nm', 'gw', 'ma', 'mo'] as const).map((k): Flag => ({ long: `macvlan_vs_${k}`, arg: 'VALUE', help: `MACVLAN 'vs' ${{ ip: 'IP', nm: 'netmask', gw: 'default gateway', ma: 'MAC address', mo: 'mode (private, vepa, bridge, passthru)' }[k]}`, apply: setStr(`macvlan_vs_${k}`) })),
  { long: 'disable_tsc', help: 'Disable rdtsc and rdtscp instructions. WARNING: To make it effective, you also need to forbid `prctl(PR_SET_TSC, PR_TSC_ENABLE, ...)` in seccomp rules! (x86 and x86_64 only). Dynamic binaries produced by GCC seem to rely on RDTSC, but static ones should work', apply: set('disable_tsc', true) },
  { long: 'forward_signals', help: 'Forward fatal signals to the child process instead of always using SIGKILL', apply: set('forward_signals', true) },
  { long: 'use_core_scheduling', help: 'Use core scheduling (prctl PR_SCHED_CORE) to isolate the jail on its own physical cores (kernel >= 5.14)', apply: set('use_core_scheduling', true) },
  { long: 'user_net', help: 'Enable user-mode networking (nstun)', apply: unsupported('user_net') },
  { long: 'oom_score_adj', arg: 'VALUE', help: 'Set oom_score_adj of the jailed process (-1000 .. 1000)', numeric: true, apply: (s, v) => { s.cfg.oom_score_adj = Number(parseNumber('oom_score_adj', v, 'int32')); } },
  { long: 'init', help: 'tsjail: run a small reaper as PID 1 of the jail; the program runs as PID 2, zombies are reaped and signals forwarded', apply: set('init', true) },
  { long: 'landlock_ro', arg: 'PATH', help: 'tsjail: Landlock, allow reading under PATH (as seen in the jail); repeatable', apply: push((s) => ll(s).ro) },
  { long: 'landlock_rw', arg: 'PATH', help: 'tsjail: Landlock, allow reading and writing under PATH; repeatable', apply: push((s) => ll(s).rw) },
  { long: 'landlock_rx', arg: 'PATH', help: 'tsjail: Landlock, allow reading and executing under PATH; repeatable', apply: push((s) => ll(s).rx) },
  { long: 'landlock_ro_try', arg: 'PATH', help: 'tsjail: like --landlock_ro; a missing PATH is skipped with a warning', apply: push((s) => ll(s).ro_try) },
  { long: 'landlock_rw_try', arg: 'PATH', help: 'tsjail: like --landlock_rw; a missing PATH is skipped with a warning', apply: push((s) => ll(s).rw_try) },
  { long: 'landlock_rx_try', arg: 'PATH', help: 'tsjail: like --landlock_rx; a missing PATH is skipped with a warning', apply: push((s) => ll(s).rx_try) },
  { long: 'landlock_bind_tcp', arg: 'PORT', help: 'tsjail: Landlock (ABI >= 4), allow bind() to this TCP port; repeatable', numeric: true, apply: (s, v) => { ll(s).bind_tcp.push(port('landlock_bind_tcp', v)); } },
  { long: 'landlock_connect_tcp', arg: 'PORT', help: 'tsjail: Landlock (ABI >= 4), allow connect() to this TCP port; repeatable', numeric: true, apply: (s, v) => { ll(s).connect_tcp.push(port('landlock_connect_tcp', v)); } },
  { long: 'landlock_scope', arg: 'LIST', help: "tsjail: Landlock (ABI >= 6) scopes, comma-separated: 'abstract_unix', 'signal'", apply: (s, v) => { for (const x of csv(v)) { if (x === 'abstract_unix') ll(s).scope_abstract_unix = true; else if (x === 'signal') ll(s).scope_signal = true; else throw new UsageError(`--landlock_scope: unknown scope ${quoted(x)}`); } } },
  { long: 'landlock_log', help: 'tsjail: log each file call (open, exec, create, remove) on a path the Landlock rules do not cover, naming the path, before Landlock refuses it', apply: (s) => { ll(s).log = true; } },
  { long: 'landlock_required', help: 'tsjail: fail when the kernel cannot enforce every Landlock rule asked for (default: best effort, with a warning)', apply: (s) => { ll(s).required = true; } },
  { long: 'status_fd', arg: 'FD', help: 'tsjail: write JSON status lines (start, exit, statistics) to this fd', numeric: true, apply: (s, v) => { s.cfg.ext.status_fd = fd('status_fd', v); } },
  { long: 'status_file', arg: 'PATH', help: 'tsjail: append JSON status lines to this file', apply: (s, v) => { s.cfg.ext.status_file = v; } },
  ...LEGACY_FLAGS,
  { long: 'compat', arg: 'VERSION', help: "tsjail: behave as nsjail 3.4 ('3.4'): no time limit by default on the command line, 3.4's log lines, the last --seccomp_string wins (default: nsjail master)", apply: (s, v) => { if (v !== '3.4' && v !== 'master') throw new UsageError(`--compat: ${quoted(v)} is not '3.4' or 'master'`); s.cli.compat = v === '3.4' ? '3.4' : undefined; } },
  { long: 'dump_config', help: 'tsjail: print the effective configuration (command line merged) as a text-format config and exit', apply: (s) => { s.cli.dump_config = true; } },
];
