/**
 * --dump_config: the effective configuration (config files and flags merged)
 * as nsjail text format that loads back to the same jail. Command-line state
 * that nsjail keeps outside its proto is folded into config fields first.
 */
import type { ConfigState, Exe, IdMap, JailSpec, MountPt, TsjailExt } from '../spec.js';
import { RLIMIT_NAMES, defaultExt } from '../spec.js';
import type { ConfigFromFile } from './apply.js';
import { DIRECT_FIELDS, LOG_LEVEL_NAMES, MODE_NAMES, RLIMIT_TYPE_NAMES, configToState } from './apply.js';
import type { NsJailConfigMessage } from './load.js';
import { loadSchema } from './load.js';

export interface EffectiveConfig extends ConfigFromFile {
  /** Command-line settings that no config field can express. */
  notes: string[];
}

/** spec.cfg with the surviving command-line state folded in, as a config file would say it. */
export function effectiveConfig(spec: JailSpec): EffectiveConfig {
  const { cfg, cli } = spec;
  const state: ConfigState = structuredClone(cfg);
  const notes: string[] = [];

  // Log settings and pass_fd live on the command-line side once a config is applied.
  state.pass_fd = [...cfg.pass_fd, ...cli.pass_fd];
  const logFd = cli.log_fd ?? cfg.log_fd;
  const logFile = cli.log_file ?? cfg.log_file;
  const logLevel = cli.log_level ?? cfg.log_level;
  if (logFd !== undefined) state.log_fd = logFd;
  if (logFile !== undefined) state.log_file = logFile;
  if (logLevel !== undefined) state.log_level = logLevel;

  // nsjail turns --chroot into a bind mount of "/" in front of all others.
  if (cli.chroot !== undefined) {
    state.mount.unshift({ ...mountDefaults(), src: cli.chroot, dst: '/', is_bind: true, is_dir: true, rw: cli.rw });
  }
  // mount_proc means a read-only /proc at /proc; anything else needs a mount entry.
  const procPath = cli.proc_path ?? '/proc';
  if (state.mount_proc && (cli.proc_rw || procPath !== '/proc')) {
    state.mount.push({ ...mountDefaults(), dst: procPath, fstype: 'proc', rw: cli.proc_rw });
    state.mount_proc = false;
  }
  if (cli.experimental_mnt !== undefined) notes.push(`--experimental_mnt=${cli.experimental_mnt} has no config field`);

  // The argv in effect (a command after `--`, else what config files gave) with the exec path kept.
  const argv = cli.argv.length ? cli.argv : cli.config_argv;
  if (argv.length > 0) {
    const [argv0, ...args] = argv as [string, ...string[]];
    const known = state.exec_bin?.path;
    const exe: { -readonly [K in keyof Exe]: Exe[K] } = { path: known ?? argv0, arg: args, exec_fd: state.exec_bin?.exec_fd ?? false };
    if (known !== undefined && known !== argv0) exe.arg0 = argv0;
    state.exec_bin = exe;
  }

  return { state, uidmap: [...cli.uidmap], gidmap: [...cli.gidmap], argv: [...argv], notes };
}

function mountDefaults(): MountPt {
  return { dst: '', is_bind: false, rw: false, mandatory: true, is_symlink: false, nosuid: false, nodev: false, noexec: false };
}

export function dumpConfig(spec: JailSpec): string {
  const { textformat, NsJailConfig } = loadSchema();
  const eff = effectiveConfig(spec);
  const header = ['# tsjail effective configuration (tsjail --dump_config). Fields at their default are left out.'];
  for (const note of eff.notes) header.push(`# ${note}`);
  // Flags spell them '--name'; either way, a field ConfigState cannot hold is only named here.
  const lost = eff.state.unsupported.filter((f) => !(f.replace(/^--/, '') in eff.state));
  if (lost.length) header.push(`# Left out, not supported yet: ${lost.join(', ')}`);
  const base = configToState(NsJailConfig.create({}) as unknown as NsJailConfigMessage).state;
  const body = textformat.toText(NsJailConfig, stateToMessage(eff, base));
  return `${header.join('\n')}\n${body}${body ? '\n' : ''}`;
}

/** A plain object in config.proto's shape, holding only what differs from `base` (the proto defaults). */
export function stateToMessage(eff: ConfigFromFile, base: ConfigState): Record<string, unknown> {
  const { state } = eff;
  const out: Record<string, unknown> = {};
  const s = state as unknown as Record<string, unknown>;
  const b = base as unknown as Record<string, unknown>;

  for (const key of DIRECT_FIELDS) {
    const value = s[key];
    if (value === undefined || sameValue(value, b[key])) continue;
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  if (state.mode !== base.mode) out['mode'] = MODE_NAMES.indexOf(state.mode);
  if (state.log_level !== undefined) out['log_level'] = LOG_LEVEL_NAMES.indexOf(state.log_level);
  for (const name of RLIMIT_NAMES) {
    const r = state.rlimits[name];
    if (r.value !== base.rlimits[name].value) out[`rlimit_${name}`] = r.value;
    if (r.type !== base.rlimits[name].type) out[`rlimit_${name}_type`] = RLIMIT_TYPE_NAMES.indexOf(r.type);
  }
  if (eff.uidmap.length) out['uidmap'] = eff.uidmap.map(idMapMessage);
  if (eff.gidmap.length) out['gidmap'] = eff.gidmap.map(idMapMessage);
  if (state.mount.length) out['mount'] = state.mount.map(mountMessage);
  if (state.exec_bin) out['exec_bin'] = exeMessage(state.exec_bin);
  const ext = extMessage(state.ext);
  if (ext) out['tsjail'] = ext;
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}

function idMapMessage(m: IdMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m.inside_id !== '') out['inside_id'] = m.inside_id;
  if (m.outside_id !== '') out['outside_id'] = m.outside_id;
  if (m.count !== 1) out['count'] = m.count;
  if (m.use_newidmap) out['use_newidmap'] = true;
  return out;
}

function mountMessage(m: MountPt): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const defaults = mountDefaults() as unknown as Record<string, unknown>;
  // Optional fields are written when set, since their presence is what the file said.
  for (const [key, value] of Object.entries(m)) {
    if (value === undefined) continue;
    // Host devices through a bind: nsjail's field written out at its default value.
    if (key === 'dev') {
      if (value) out['nodev'] = false;
      continue;
    }
    if (key in defaults && key !== 'dst' && value === defaults[key]) continue;
    out[key] = value;
  }
  return out;
}

function exeMessage(e: Exe): Record<string, unknown> {
  const out: Record<string, unknown> = { path: e.path ?? '' };
  if (e.arg.length) out['arg'] = [...e.arg];
  if (e.arg0 !== undefined) out['arg0'] = e.arg0;
  if (e.exec_fd) out['exec_fd'] = true;
  return out;
}

function extMessage(ext: TsjailExt): Record<string, unknown> | undefined {
  const def = defaultExt();
  const out: Record<string, unknown> = {};
  const landlock: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ext.landlock)) {
    if (!sameValue(value, (def.landlock as unknown as Record<string, unknown>)[key])) landlock[key] = value;
  }
  if (Object.keys(landlock).length) out['landlock'] = landlock;
  for (const key of ['syscall_allow', 'syscall_deny', 'seccomp_preset'] as const) if (ext[key].length) out[key] = [...ext[key]];
  if (!ext.seccomp_equivalents) out['seccomp_equivalents'] = false;
  if (!ext.seccomp_notify) out['seccomp_notify'] = false;
  if (ext.seccomp_bpf_file !== undefined) out['seccomp_bpf_file'] = ext.seccomp_bpf_file;
  if (ext.status_fd !== undefined) out['status_fd'] = ext.status_fd;
  if (ext.status_file !== undefined) out['status_file'] = ext.status_file;
  if (ext.log_format !== def.log_format) out['log_format'] = ext.log_format;
  return Object.keys(out).length ? out : undefined;
}
