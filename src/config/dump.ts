/**
 * --dump_config: the effective configuration (config files and flags merged)
 * as nsjail text format that loads back to the same jail. Command-line state
 * that nsjail keeps outside its proto is folded into config fields first.
 */
import type { ConfigState, Exe, JailSpec } from '../spec.js';
import { defaultMount, fieldsFromState } from '../spec.js';
import type { ConfigFromFile } from './apply.js';
import { toMessage } from './fields.js';
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
    state.mount.unshift({ ...defaultMount(), src: cli.chroot, dst: '/', is_bind: true, is_dir: true, rw: cli.rw });
  }
  // mount_proc means a read-only /proc at /proc; anything else needs a mount entry.
  const procPath = cli.proc_path ?? '/proc';
  if (state.mount_proc && (cli.proc_rw || procPath !== '/proc')) {
    state.mount.push({ ...defaultMount(), dst: procPath, fstype: 'proc', rw: cli.proc_rw });
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

export function dumpConfig(spec: JailSpec): string {
  const { textformat, NsJailConfig } = loadSchema();
  const eff = effectiveConfig(spec);
  const header = ['# tsjail effective configuration (tsjail --dump_config). Fields at their default are left out.'];
  for (const note of eff.notes) header.push(`# ${note}`);
  const message = stateToMessage(eff);
  // Flags spell them '--name'; one that set no field of the config is only named here.
  const lost = eff.state.unsupported.filter((f) => !(f.replace(/^--/, '') in message));
  if (lost.length) header.push(`# Left out, not supported yet: ${lost.join(', ')}`);
  const body = textformat.toText(NsJailConfig, message);
  return `${header.join('\n')}\n${body}${body ? '\n' : ''}`;
}

/** A plain object in config.proto's shape, holding only what differs from the proto defaults. */
export function stateToMessage(eff: ConfigFromFile): Record<string, unknown> {
  const { state } = eff;
  const fields = fieldsFromState(state, eff.uidmap, eff.gidmap);
  const out = toMessage('nsjail.NsJailConfig', fields);
  // Host devices through a bind: nsjail's field written out at its default value.
  state.mount.forEach((m, i) => {
    if (m.dev) ((out['mount'] as Record<string, unknown>[])[i]!)['nodev'] = false;
  });
  // The tsjail block and its Landlock rules say nothing when they hold only defaults.
  const tsjail = out['tsjail'] as Record<string, unknown>;
  if (!Object.keys(tsjail['landlock'] as object).length) delete tsjail['landlock'];
  if (!Object.keys(tsjail).length) delete out['tsjail'];
  return out;
}
