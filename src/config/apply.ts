/**
 * NsJailConfig message → ConfigState, and nsjail's precedence rule for
 * `-C/--config`: the file's state replaces every config-backed setting made
 * before it, while what nsjail keeps outside its proto (id maps, pass_fd,
 * log settings, chroot, rw, proc_rw) survives and accumulates.
 */
import type { ConfigState, Exe, IdMap, JailSpec, LogLevel, Mode, MountPt, RlimitType, TsjailExt } from '../spec.js';
import { RLIMIT_NAMES, defaultConfig, defaultExt } from '../spec.js';
import type { Int64, NsJailConfigMessage } from './load.js';
import { ConfigError, loadConfigFile, parseConfigText } from './load.js';

/** Enum numbers of config.proto, indexed by value. */
export const MODE_NAMES: readonly Mode[] = ['LISTEN_TCP', 'STANDALONE_ONCE', 'STANDALONE_RERUN', 'STANDALONE_EXECVE'];
export const LOG_LEVEL_NAMES: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'FATAL'];
export const RLIMIT_TYPE_NAMES: readonly RlimitType[] = ['VALUE', 'SOFT', 'HARD', 'INF'];
const LOG_FORMATS: readonly TsjailExt['log_format'][] = ['text', 'json'];

/**
 * Fields whose capability tsjail does not have yet. Validation refuses a run
 * that uses one ("config field 'user_net' is not supported yet"), so a config
 * never silently loses part of its meaning. A field counts as used when it is
 * given with a value other than its default; user_net counts when merely
 * present, since `user_net { }` alone turns networking on.
 */
export const UNSUPPORTED_FIELDS = [
  'iface_own',
  'macvlan_iface',
  'macvlan_vs_ip',
  'macvlan_vs_nm',
  'macvlan_vs_gw',
  'macvlan_vs_ma',
  'macvlan_vs_mo',
  'traffic_rule',
  'user_net',
] as const;

/** A config file's contribution: its state, plus the id maps and argv nsjail keeps outside the proto. */
export interface ConfigFromFile {
  state: ConfigState;
  uidmap: IdMap[];
  gidmap: IdMap[];
  /** exec_bin as an argv: [path, arg…], argv[0] replaced by arg0 when given. */
  argv: string[];
}

const has = (m: object, key: string): boolean => Object.hasOwn(m, key);
const big = (v: Int64): bigint => BigInt(v.toString());

function enumName<T>(names: readonly T[], value: number, field: string): T {
  const name = names[value];
  if (name === undefined) throw new ConfigError(`config field '${field}': unknown value ${value}`);
  return name;
}

export function configToState(msg: NsJailConfigMessage): ConfigFromFile {
  const m = msg as unknown as Record<string, unknown>;
  const state = defaultConfig(false);
  const s = state as unknown as Record<string, unknown>;

  // Scalars and lists that keep their proto name and type. Absent fields read
  // their proto default through the message prototype.
  for (const key of PLAIN_FIELDS) s[key] = m[key];
  for (const key of REPEATED_FIELDS) s[key] = [...(m[key] as unknown[])];
  for (const key of INT64_FIELDS) s[key] = big(m[key] as Int64);
  // Fields without a default, where nsjail asks has_*().
  for (const key of PRESENCE_FIELDS) if (has(m, key)) s[key] = m[key];

  state.mode = enumName(MODE_NAMES, msg.mode, 'mode');
  if (has(msg, 'log_level')) state.log_level = enumName(LOG_LEVEL_NAMES, msg.log_level, 'log_level');
  for (const name of RLIMIT_NAMES) {
    state.rlimits[name] = {
      value: big(m[`rlimit_${name}`] as Int64),
      type: enumName(RLIMIT_TYPE_NAMES, m[`rlimit_${name}_type`] as number, `rlimit_${name}_type`),
    };
  }
  state.mount = msg.mount.map(toMountPt);
  if (has(msg, 'exec_bin') && msg.exec_bin) state.exec_bin = toExe(msg.exec_bin);
  if (has(msg, 'tsjail') && msg.tsjail) state.ext = toExt(msg.tsjail);

  const base = defaultMessage(msg);
  for (const key of UNSUPPORTED_FIELDS) {
    const value = m[key];
    const used = key === 'user_net' ? has(m, key) : Array.isArray(value) ? value.length > 0 : has(m, key) && value !== base[key];
    if (used) state.unsupported.push(key);
  }

  return { state, uidmap: msg.uidmap.map(toIdMap), gidmap: msg.gidmap.map(toIdMap), argv: state.exec_bin ? exeArgv(state.exec_bin) : [] };
}

/** nsjail builds the argv when it reads the file: a -x given later changes the path run, not argv[0]. */
function exeArgv(e: Exe): string[] {
  const argv = [...(e.path !== undefined ? [e.path] : []), ...e.arg];
  if (e.arg0 !== undefined && argv.length) argv[0] = e.arg0;
  return argv;
}

/** The prototype holds the proto defaults; own properties are what the file set. */
function defaultMessage(msg: NsJailConfigMessage): Record<string, unknown> {
  return Object.getPrototypeOf(msg) as Record<string, unknown>;
}

type Key = keyof ConfigState & string;

const PLAIN_FIELDS: readonly Key[] = [
  'hostname', 'cwd', 'no_pivotroot', 'port', 'bindhost', 'max_conns', 'max_conns_per_ip', 'time_limit', 'daemon',
  'max_cpus', 'nice_level', 'keep_env', 'keep_caps', 'silent', 'skip_setsid', 'stderr_to_null', 'disable_no_new_privs',
  'forward_signals', 'disable_tsc', 'disable_rl', 'persona_addr_compat_layout', 'persona_mmap_page_zero',
  'persona_read_implies_exec', 'persona_addr_limit_3gb', 'persona_addr_no_randomize', 'clone_newnet', 'clone_newuser',
  'clone_newns', 'clone_newpid', 'clone_newipc', 'clone_newuts', 'clone_newcgroup', 'clone_newtime', 'mount_proc',
  'seccomp_log', 'cgroup_mem_mount', 'cgroup_mem_parent', 'cgroup_pids_mount', 'cgroup_pids_parent',
  'cgroup_net_cls_classid', 'cgroup_net_cls_mount', 'cgroup_net_cls_parent', 'cgroup_cpu_ms_per_sec', 'cgroup_cpu_mount',
  'cgroup_cpu_parent', 'cgroupv2_mount', 'use_cgroupv2', 'detect_cgroupv2', 'iface_no_lo', 'macvlan_vs_ip', 'macvlan_vs_nm',
  'macvlan_vs_gw', 'macvlan_vs_ma', 'macvlan_vs_mo', 'use_core_scheduling', 'init', 'seccomp_unotify',
];
const REPEATED_FIELDS: readonly Key[] = ['description', 'envar', 'cap', 'pass_fd', 'seccomp_string', 'iface_own'];
const INT64_FIELDS: readonly Key[] = ['cgroup_mem_max', 'cgroup_mem_memsw_max', 'cgroup_mem_swap_max', 'cgroup_pids_max'];
const PRESENCE_FIELDS: readonly Key[] = ['name', 'log_fd', 'log_file', 'oom_score_adj', 'seccomp_policy_file', 'macvlan_iface', 'seccomp_unotify_report'];

/** Every ConfigState field that maps one-to-one onto a proto field of the same name and type. */
export const DIRECT_FIELDS: readonly Key[] = [...PLAIN_FIELDS, ...REPEATED_FIELDS, ...INT64_FIELDS, ...PRESENCE_FIELDS];

function toIdMap(m: NsJailConfigMessage['uidmap'][number]): IdMap {
  return { inside_id: m.inside_id, outside_id: m.outside_id, count: m.count, use_newidmap: m.use_newidmap };
}

const MOUNT_OPTIONAL_STRINGS = ['src', 'prefix_src_env', 'prefix_dst_env', 'fstype', 'options'] as const;

function toMountPt(m: NsJailConfigMessage['mount'][number]): MountPt {
  const out: { -readonly [K in keyof MountPt]: MountPt[K] } = {
    dst: m.dst,
    is_bind: m.is_bind,
    rw: m.rw,
    mandatory: m.mandatory,
    is_symlink: m.is_symlink,
    nosuid: m.nosuid,
    nodev: m.nodev,
    noexec: m.noexec,
  };
  for (const key of MOUNT_OPTIONAL_STRINGS) if (has(m, key)) out[key] = m[key];
  if (has(m, 'src_content')) out.src_content = new Uint8Array(m.src_content);
  if (has(m, 'is_dir')) out.is_dir = m.is_dir;
  if (has(m, 'is_dev')) out.is_dev = m.is_dev;
  // nsjail's default is false too, so only a `nodev: false` written out asks for host devices.
  if (has(m, 'nodev') && !m.nodev) out.dev = true;
  if (has(m, 'is_overlay')) out.is_overlay = m.is_overlay;
  return out;
}

function toExe(m: NonNullable<NsJailConfigMessage['exec_bin']>): Exe {
  return { path: m.path, arg: [...m.arg], exec_fd: m.exec_fd, ...(has(m, 'arg0') ? { arg0: m.arg0 } : {}) };
}

function toExt(m: NonNullable<NsJailConfigMessage['tsjail']>): TsjailExt {
  const ext = defaultExt();
  if (has(m, 'landlock') && m.landlock) {
    const l = m.landlock;
    ext.landlock = {
      ro: [...l.ro], rw: [...l.rw], rx: [...l.rx],
      ro_try: [...l.ro_try], rw_try: [...l.rw_try], rx_try: [...l.rx_try],
      bind_tcp: [...l.bind_tcp], connect_tcp: [...l.connect_tcp],
      scope_abstract_unix: l.scope_abstract_unix, scope_signal: l.scope_signal, required: l.required,
      log: (l as unknown as { log: boolean }).log,
    };
  }
  ext.syscall_allow = [...m.syscall_allow];
  ext.syscall_deny = [...m.syscall_deny];
  ext.seccomp_preset = [...m.seccomp_preset];
  ext.seccomp_equivalents = m.seccomp_equivalents;
  if (has(m, 'seccomp_bpf_file')) ext.seccomp_bpf_file = m.seccomp_bpf_file;
  ext.seccomp_notify = (m as unknown as { seccomp_notify: boolean }).seccomp_notify;
  if (has(m, 'status_fd')) ext.status_fd = m.status_fd;
  if (has(m, 'status_file')) ext.status_file = m.status_file;
  const format = LOG_FORMATS.find((f) => f === m.log_format);
  if (!format) throw new ConfigError(`config field 'tsjail.log_format': '${m.log_format}' is not one of ${LOG_FORMATS.join(', ')}`);
  ext.log_format = format;
  return ext;
}

/**
 * `envar` entries as `-E` reads them: "NAME=value" is kept, a bare "NAME"
 * copies NAME from our own environment, and is dropped with a warning when
 * NAME is not set.
 */
export function expandEnvar(entries: readonly string[], env: NodeJS.ProcessEnv): { envar: string[]; warnings: string[] } {
  const envar: string[] = [];
  const warnings: string[] = [];
  for (const entry of entries) {
    if (entry.includes('=')) envar.push(entry);
    else if (env[entry] !== undefined) envar.push(`${entry}=${env[entry]}`);
    else warnings.push(`Environment variable '${entry}' is not set, not passing it to the jail`);
  }
  return { envar, warnings };
}

/**
 * `-C path` at its place on the command line. Returns warnings for the log
 * (bare envar names that are not set). Throws ConfigError.
 */
export function applyConfigFile(spec: JailSpec, path: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return applyConfigMessage(spec, loadConfigFile(path), env);
}

/** A config given as an object in nsjail's JSON form (the library API): checked against the schema as a file would be. */
export function applyConfigObject(spec: JailSpec, config: Record<string, unknown>, origin: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return applyConfigMessage(spec, parseConfigText(JSON.stringify(config), origin), env);
}

function applyConfigMessage(spec: JailSpec, msg: NsJailConfigMessage, env: NodeJS.ProcessEnv): string[] {
  const { state, uidmap, gidmap, argv } = configToState(msg);
  const { envar, warnings } = expandEnvar(state.envar, env);
  state.envar = envar;

  // nsjail holds these outside its proto: they accumulate across -C and flags.
  spec.cli.uidmap.push(...uidmap);
  spec.cli.gidmap.push(...gidmap);
  spec.cli.config_argv.push(...argv);
  spec.cli.pass_fd.push(...state.pass_fd);
  state.pass_fd = [];
  // Log settings take effect as the file is read and outlive a later -C.
  if (state.log_fd !== undefined) spec.cli.log_fd = state.log_fd;
  if (state.log_file !== undefined) spec.cli.log_file = state.log_file;
  if (state.log_level !== undefined) spec.cli.log_level = state.log_level;
  delete state.log_fd;
  delete state.log_file;
  delete state.log_level;

  spec.cfg = state;
  return warnings;
}
