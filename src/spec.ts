/**
 * JailSpec: everything a run needs, filled by the command line and by config
 * files, and nothing else. Field names follow nsjail's config.proto
 * (snake_case), so a flag that sets exactly one field is spelled like it and
 * the config loader is a plain mapping.
 *
 * `ConfigState` is what a `--config` file replaces wholesale when it appears
 * on the command line; `CliState` survives it (nsjail keeps these outside its
 * proto: chroot, rw, proc_rw, id maps, pass_fd, log settings).
 */

export type Mode = 'STANDALONE_ONCE' | 'LISTEN_TCP' | 'STANDALONE_EXECVE' | 'STANDALONE_RERUN';
export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'FATAL';

export type RlimitName = 'as' | 'core' | 'cpu' | 'fsize' | 'nofile' | 'nproc' | 'stack' | 'memlock' | 'rtprio' | 'msgqueue';
/** nsjail's RLimit enum: a value in the option's unit, or a keyword. */
export type RlimitType = 'VALUE' | 'SOFT' | 'HARD' | 'INF';
export interface RlimitSetting {
  readonly value: bigint;
  readonly type: RlimitType;
}

export interface IdMap {
  readonly inside_id: string; // name or number; '' = the caller's id
  readonly outside_id: string;
  readonly count: number;
  readonly use_newidmap: boolean;
}

export interface MountPt {
  readonly src?: string;
  readonly prefix_src_env?: string;
  readonly src_content?: Uint8Array;
  readonly dst: string;
  readonly prefix_dst_env?: string;
  readonly fstype?: string;
  readonly options?: string;
  readonly is_bind: boolean;
  readonly rw: boolean;
  readonly is_dir?: boolean; // presence matters
  readonly mandatory: boolean;
  readonly is_symlink: boolean;
  readonly nosuid: boolean;
  readonly nodev: boolean;
  readonly noexec: boolean;
  /** tsjail: a tmpfs-backed overlay of src (writes vanish with the jail). */
  readonly is_overlay?: boolean;
  /** tsjail: a minimal /dev at dst. */
  readonly is_dev?: boolean;
  /** tsjail: host device nodes work through this bind (--dev_bind; a config's explicit `nodev: false`). Binds are nodev otherwise. */
  readonly dev?: boolean;
}

export interface Exe {
  readonly path?: string;
  readonly arg: readonly string[];
  readonly arg0?: string;
  readonly exec_fd: boolean;
}

/** Fields that a --config file replaces (nsjail's NsJailConfig). */
export interface ConfigState {
  name?: string;
  description: string[];
  mode: Mode;
  hostname: string;
  cwd: string;
  no_pivotroot: boolean;
  port: number;
  bindhost: string;
  max_conns: number;
  max_conns_per_ip: number;
  time_limit: number;
  daemon: boolean;
  max_cpus: number;
  nice_level: number;
  log_fd?: number;
  log_file?: string;
  log_level?: LogLevel;
  keep_env: boolean;
  envar: string[];
  keep_caps: boolean;
  cap: string[];
  silent: boolean;
  skip_setsid: boolean;
  stderr_to_null: boolean;
  pass_fd: number[];
  disable_no_new_privs: boolean;
  forward_signals: boolean;
  disable_tsc: boolean;
  oom_score_adj?: number;
  rlimits: Record<RlimitName, RlimitSetting>;
  disable_rl: boolean;
  persona_addr_compat_layout: boolean;
  persona_mmap_page_zero: boolean;
  persona_read_implies_exec: boolean;
  persona_addr_limit_3gb: boolean;
  persona_addr_no_randomize: boolean;
  clone_newnet: boolean;
  clone_newuser: boolean;
  clone_newns: boolean;
  clone_newpid: boolean;
  clone_newipc: boolean;
  clone_newuts: boolean;
  clone_newcgroup: boolean;
  clone_newtime: boolean;
  mount_proc: boolean;
  mount: MountPt[];
  seccomp_policy_file?: string;
  seccomp_string: string[];
  seccomp_log: boolean;
  /** --seccomp_unotify (field 99): trace file and network calls through the notification supervisor. */
  seccomp_unotify: boolean;
  /** --seccomp_unotify_report (field 100): where the trace report is written. */
  seccomp_unotify_report?: string;
  cgroup_mem_max: bigint;
  cgroup_mem_memsw_max: bigint;
  cgroup_mem_swap_max: bigint;
  cgroup_mem_mount: string;
  cgroup_mem_parent: string;
  cgroup_pids_max: bigint;
  cgroup_pids_mount: string;
  cgroup_pids_parent: string;
  cgroup_net_cls_classid: number;
  cgroup_net_cls_mount: string;
  cgroup_net_cls_parent: string;
  cgroup_cpu_ms_per_sec: number;
  cgroup_cpu_mount: string;
  cgroup_cpu_parent: string;
  cgroupv2_mount: string;
  use_cgroupv2: boolean;
  detect_cgroupv2: boolean;
  iface_no_lo: boolean;
  iface_own: string[];
  macvlan_iface?: string;
  macvlan_vs_ip: string;
  macvlan_vs_nm: string;
  macvlan_vs_gw: string;
  macvlan_vs_ma: string;
  macvlan_vs_mo: string;
  use_core_scheduling: boolean;
  exec_bin?: Exe;
  /** --init (nsjail PR #272, field 102): a reaper as PID 1, the program as PID 2. */
  init: boolean;
  /** Options whose capability tsjail lacks: refused by validation, never ignored. */
  unsupported: string[];
  /** tsjail extensions (config: the tsjail block, flags: their own names). */
  ext: TsjailExt;
}

export interface LandlockSpec {
  ro: string[];
  rw: string[];
  rx: string[];
  ro_try: string[];
  rw_try: string[];
  rx_try: string[];
  bind_tcp: number[];
  connect_tcp: number[];
  scope_abstract_unix: boolean;
  scope_signal: boolean;
  required: boolean;
  /** --landlock_log: name the file calls on paths outside the rules (the seccomp notification supervisor). */
  log: boolean;
}

export interface TsjailExt {
  landlock: LandlockSpec;
  syscall_allow: string[];
  syscall_deny: string[];
  seccomp_preset: string[];
  /** Carry seccomp rules over to equivalent calls (openat → openat2, io_uring…); --seccomp_no_equivalents clears it. */
  seccomp_equivalents: boolean;
  /** --seccomp_bpf_file: a raw classic-BPF filter installed next to the compiled one. */
  seccomp_bpf_file?: string;
  /** Refusals and USER_NOTIF rules answered by tsjail's notification supervisor (named first); --seccomp_no_notify clears it. */
  seccomp_notify: boolean;
  status_fd?: number;
  status_file?: string;
  log_format: 'text' | 'json';
}

/** State that survives --config (nsjail keeps it outside the proto). */
export interface CliState {
  chroot?: string;
  rw: boolean;
  proc_rw: boolean;
  proc_path?: string;
  experimental_mnt?: string;
  uidmap: IdMap[];
  gidmap: IdMap[];
  pass_fd: number[];
  log_fd?: number;
  log_file?: string;
  log_level?: LogLevel;
  /** The --config files applied, in order (for logs). */
  config_files: string[];
  dump_config: boolean;
  /** --compat 3.4: behave as nsjail 3.4, the release most distributions ship (defaults, log lines). */
  compat?: '3.4';
  /** The positional command after the options; when given, it replaces config_argv. */
  argv: string[];
  /**
   * The argv config files' exec_bin gave: [path, arg…] with arg0 in place of
   * path when set, built as each file is read. nsjail keeps it outside the
   * proto, so a later -x changes the path run but not this argv[0], and it
   * survives (and grows with) a later -C.
   */
  config_argv: string[];
}

export interface JailSpec {
  cfg: ConfigState;
  cli: CliState;
}

export const RLIMIT_NAMES: readonly RlimitName[] = ['as', 'core', 'cpu', 'fsize', 'nofile', 'nproc', 'stack', 'memlock', 'rtprio', 'msgqueue'];

export function defaultExt(): TsjailExt {
  return {
    landlock: { ro: [], rw: [], rx: [], ro_try: [], rw_try: [], rx_try: [], bind_tcp: [], connect_tcp: [], scope_abstract_unix: false, scope_signal: false, required: false, log: false },
    syscall_allow: [],
    syscall_deny: [],
    seccomp_preset: [],
    seccomp_equivalents: true,
    seccomp_notify: true,
    log_format: 'text',
  };
}

/**
 * nsjail's proto defaults. `fromCli` differs only where nsjail's command line
 * differs from a config file: /proc is mounted by default on the command line.
 */
export function defaultConfig(fromCli: boolean): ConfigState {
  const v = (value: bigint): RlimitSetting => ({ value, type: 'VALUE' });
  // The proto's values for these are used only if a config switches the type to VALUE.
  const soft = (value: bigint): RlimitSetting => ({ value, type: 'SOFT' });
  return {
    description: [],
    mode: 'STANDALONE_ONCE',
    hostname: 'NSJAIL',
    cwd: '/',
    no_pivotroot: false,
    port: 0,
    bindhost: '::',
    max_conns: 0,
    max_conns_per_ip: 0,
    time_limit: 600,
    daemon: false,
    max_cpus: 0,
    nice_level: 19,
    keep_env: false,
    envar: [],
    keep_caps: false,
    cap: [],
    silent: false,
    skip_setsid: false,
    stderr_to_null: false,
    pass_fd: [],
    disable_no_new_privs: false,
    forward_signals: false,
    disable_tsc: false,
    rlimits: {
      as: v(4096n),
      core: v(0n),
      cpu: v(600n),
      fsize: v(1n),
      nofile: v(32n),
      nproc: soft(1024n),
      stack: soft(8n),
      memlock: soft(64n),
      rtprio: soft(0n),
      msgqueue: soft(1024n),
    },
    disable_rl: false,
    persona_addr_compat_layout: false,
    persona_mmap_page_zero: false,
    persona_read_implies_exec: false,
    persona_addr_limit_3gb: false,
    persona_addr_no_randomize: false,
    clone_newnet: true,
    clone_newuser: true,
    clone_newns: true,
    clone_newpid: true,
    clone_newipc: true,
    clone_newuts: true,
    clone_newcgroup: true,
    clone_newtime: false,
    mount_proc: fromCli,
    mount: [],
    seccomp_string: [],
    seccomp_log: false,
    seccomp_unotify: false,
    cgroup_mem_max: 0n,
    cgroup_mem_memsw_max: 0n,
    cgroup_mem_swap_max: -1n,
    cgroup_mem_mount: '/sys/fs/cgroup/memory',
    cgroup_mem_parent: 'NSJAIL',
    cgroup_pids_max: 0n,
    cgroup_pids_mount: '/sys/fs/cgroup/pids',
    cgroup_pids_parent: 'NSJAIL',
    cgroup_net_cls_classid: 0,
    cgroup_net_cls_mount: '/sys/fs/cgroup/net_cls',
    cgroup_net_cls_parent: 'NSJAIL',
    cgroup_cpu_ms_per_sec: 0,
    cgroup_cpu_mount: '/sys/fs/cgroup/cpu',
    cgroup_cpu_parent: 'NSJAIL',
    cgroupv2_mount: '/sys/fs/cgroup',
    use_cgroupv2: false,
    detect_cgroupv2: false,
    iface_no_lo: false,
    iface_own: [],
    macvlan_vs_ip: '192.168.0.2',
    macvlan_vs_nm: '255.255.255.0',
    macvlan_vs_gw: '192.168.0.1',
    macvlan_vs_ma: '',
    macvlan_vs_mo: 'private',
    use_core_scheduling: false,
    init: false,
    unsupported: [],
    ext: defaultExt(),
  };
}

export function defaultCli(): CliState {
  return { rw: false, proc_rw: false, uidmap: [], gidmap: [], pass_fd: [], config_files: [], dump_config: false, argv: [], config_argv: [] };
}

export function defaultSpec(): JailSpec {
  return { cfg: defaultConfig(true), cli: defaultCli() };
}
