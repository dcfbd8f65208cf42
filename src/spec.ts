/**
 * JailSpec: everything a run needs, filled by the command line and by config
 * files, and nothing else. ConfigState is config.proto's NsJailConfig as
 * generated into src/config/schema.gen.ts (snake_case, so a flag that sets
 * exactly one field is spelled like it); only the fields it holds in another
 * form are written out here, with the mapping both ways.
 *
 * `ConfigState` is what a `--config` file replaces wholesale when it appears
 * on the command line; `CliState` survives it (nsjail keeps these outside its
 * proto: chroot, rw, proc_rw, id maps, pass_fd, log settings).
 */

import type * as Proto from './config/schema.gen.js';
import { ConfigError, defaults } from './config/fields.js';

/** nsjail's own names for the proto's Mode values (they appear in logs and messages). */
export type Mode = 'STANDALONE_ONCE' | 'LISTEN_TCP' | 'STANDALONE_EXECVE' | 'STANDALONE_RERUN';
const MODES: Readonly<Record<Proto.Mode, Mode>> = { LISTEN: 'LISTEN_TCP', ONCE: 'STANDALONE_ONCE', RERUN: 'STANDALONE_RERUN', EXECVE: 'STANDALONE_EXECVE' };
const PROTO_MODES = Object.fromEntries(Object.entries(MODES).map(([k, v]) => [v, k])) as Readonly<Record<Mode, Proto.Mode>>;

export type LogLevel = Proto.LogLevel;

/** The X of each rlimit_X / rlimit_X_type pair of the proto. */
export type RlimitName = { [K in keyof Proto.NsJailConfig]-?: K extends `rlimit_${infer N}_type` ? N : never }[keyof Proto.NsJailConfig];
/** nsjail's RLimit enum: a value in the option's unit, or a keyword. */
export type RlimitType = Proto.RLimit;
export interface RlimitSetting {
  readonly value: bigint;
  readonly type: RlimitType;
}

/** Ids are names or numbers; '' is the caller's id. */
export type IdMap = Readonly<Proto.IdMap>;

export interface MountPt extends Readonly<Proto.MountPt> {
  /** tsjail: host device nodes work through this bind (--dev_bind; a config's explicit `nodev: false`). Binds are nodev otherwise. */
  readonly dev?: boolean;
}

/** nsjail's TrafficRule: one firewall rule enforced in the jail's network namespace (src/net/traffic.ts). */
export type TrafficRule = Readonly<Proto.NsJailConfig_TrafficRule>;
export type TrafficProto = Proto.NsJailConfig_TrafficRule_Protocol;
export type TrafficAction = Proto.NsJailConfig_TrafficRule_TrafficAction;

/** nsjail's UserNet: present = user-mode networking on. `pasta` is kept only when given: nsjail's NSTUN backend has none (src/net/pasta.ts). */
export type UserNet = Proto.NsJailConfig_UserNet;
export type PastaOptions = Proto.NsJailConfig_UserNet_Pasta;

/** exec_bin; the path is unset after `--execute_fd` without `-x` (argv[0] is run). */
export interface Exe extends Readonly<Omit<Proto.Exe, 'path' | 'arg'>> {
  readonly path?: string;
  readonly arg: readonly string[];
}

export type LandlockSpec = Proto.TsjailConfig_Landlock;

const LOG_FORMATS = ['text', 'json'] as const;

/** The tsjail block; Landlock rules are always there (empty when none are asked for). */
export interface TsjailExt extends Omit<Proto.TsjailConfig, 'landlock' | 'log_format'> {
  landlock: LandlockSpec;
  log_format: (typeof LOG_FORMATS)[number];
}

/** Proto fields ConfigState holds in another form (or, for id maps, outside: see CliState); rlimit_* too. */
const RESHAPED_FIELDS = ['mode', 'uidmap', 'gidmap', 'mount', 'exec_bin', 'tsjail'] as const;
type Reshaped = (typeof RESHAPED_FIELDS)[number] | `rlimit_${string}`;

/**
 * Fields that a --config file replaces: nsjail's NsJailConfig, field for
 * field as config.proto declares it (see src/config/schema.gen.ts), except
 * for these.
 */
export interface ConfigState extends Omit<Proto.NsJailConfig, Reshaped> {
  mode: Mode;
  /** rlimit_X and rlimit_X_type. */
  rlimits: Record<RlimitName, RlimitSetting>;
  mount: MountPt[];
  exec_bin?: Exe;
  /** The tsjail block (config), tsjail's own flags (command line). */
  ext: TsjailExt;
  /** Options whose capability tsjail lacks: refused by validation, never ignored. */
  unsupported: string[];
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

/** In the proto's order. */
export const RLIMIT_NAMES: readonly RlimitName[] = Object.keys(defaults('nsjail.NsJailConfig')).flatMap((k) => /^rlimit_(.+)_type$/.exec(k)?.[1] ?? []) as RlimitName[];
const RESHAPED = new Set<string>([...RESHAPED_FIELDS, ...RLIMIT_NAMES.flatMap((n) => [`rlimit_${n}`, `rlimit_${n}_type`])]);

/**
 * NsJailConfig in typed form (src/config/fields.ts) → ConfigState. The id
 * maps are left to the caller: nsjail keeps them outside its config state.
 */
export function stateFromFields(f: Proto.NsJailConfig): ConfigState {
  const from = f as unknown as Record<string, unknown>;
  const same: Record<string, unknown> = {};
  for (const key in from) if (!RESHAPED.has(key)) same[key] = from[key];
  const rlimits = {} as Record<RlimitName, RlimitSetting>;
  for (const name of RLIMIT_NAMES) rlimits[name] = { value: from[`rlimit_${name}`] as bigint, type: from[`rlimit_${name}_type`] as RlimitType };
  const state = same as unknown as ConfigState;
  Object.assign(state, { mode: MODES[f.mode], rlimits, mount: f.mount, ext: extFromFields(f.tsjail), unsupported: [] });
  if (f.exec_bin) state.exec_bin = f.exec_bin;
  return state;
}

function extFromFields(t: Proto.TsjailConfig = defaults('nsjail.TsjailConfig')): TsjailExt {
  const { landlock = defaults('nsjail.TsjailConfig.Landlock'), log_format, ...rest } = t;
  const format = LOG_FORMATS.find((f) => f === log_format);
  if (!format) throw new ConfigError(`config field 'tsjail.log_format': '${log_format}' is not one of ${LOG_FORMATS.join(', ')}`);
  return { ...rest, landlock, log_format: format };
}

/** ConfigState → NsJailConfig in typed form, with the id maps in effect; the inverse of stateFromFields. */
export function fieldsFromState(s: ConfigState, uidmap: readonly IdMap[], gidmap: readonly IdMap[]): Proto.NsJailConfig {
  const { mode, rlimits, mount, exec_bin, ext, unsupported: _unsupported, ...rest } = s;
  const out: Record<string, unknown> = {
    ...rest,
    mode: PROTO_MODES[mode],
    uidmap: [...uidmap],
    gidmap: [...gidmap],
    mount: mount.map(({ dev: _dev, ...m }) => m),
    tsjail: ext,
  };
  if (exec_bin) out['exec_bin'] = { ...exec_bin, path: exec_bin.path ?? '', arg: [...exec_bin.arg] };
  for (const name of RLIMIT_NAMES) {
    out[`rlimit_${name}`] = rlimits[name].value;
    out[`rlimit_${name}_type`] = rlimits[name].type;
  }
  return out as unknown as Proto.NsJailConfig;
}

export function defaultExt(): TsjailExt {
  return extFromFields();
}

export function defaultMount(): MountPt {
  return defaults('nsjail.MountPt');
}

export function defaultUserNet(): UserNet {
  return defaults('nsjail.NsJailConfig.UserNet');
}

export function defaultPasta(): PastaOptions {
  return defaults('nsjail.NsJailConfig.UserNet.Pasta');
}

/**
 * nsjail's proto defaults. `fromCli` differs only where nsjail's command line
 * differs from a config file: /proc is mounted by default on the command line.
 */
export function defaultConfig(fromCli: boolean): ConfigState {
  const state = stateFromFields(defaults('nsjail.NsJailConfig'));
  state.mount_proc = fromCli;
  return state;
}

export function defaultCli(): CliState {
  return { rw: false, proc_rw: false, uidmap: [], gidmap: [], pass_fd: [], config_files: [], dump_config: false, argv: [], config_argv: [] };
}

export function defaultSpec(): JailSpec {
  return { cfg: defaultConfig(true), cli: defaultCli() };
}
