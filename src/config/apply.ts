/**
 * NsJailConfig message → ConfigState, and nsjail's precedence rule for
 * `-C/--config`: the file's state replaces every config-backed setting made
 * before it, while what nsjail keeps outside its proto (id maps, pass_fd,
 * log settings, chroot, rw, proc_rw) survives and accumulates.
 */
import type { ConfigState, IdMap, JailSpec } from '../spec.js';
import { stateFromFields } from '../spec.js';
import { fromMessage, unsupportedIn } from './fields.js';
import type { NsJailConfigMessage } from './load.js';
import { loadConfigFile, parseConfigText } from './load.js';

/** A config file's contribution: its state, plus the id maps and argv nsjail keeps outside the proto. */
export interface ConfigFromFile {
  state: ConfigState;
  uidmap: IdMap[];
  gidmap: IdMap[];
  /** exec_bin as an argv: [path, arg…], argv[0] replaced by arg0 when given. */
  argv: string[];
}

/**
 * A decoded config → ConfigState. Fields marked [(tsjail_unsupported) = true]
 * in config.proto that the file uses are listed in `unsupported`, so that
 * validation refuses the run naming them: a config never silently loses part
 * of its meaning.
 */
export function configToState(msg: NsJailConfigMessage): ConfigFromFile {
  const fields = fromMessage('nsjail.NsJailConfig', msg);
  const state = stateFromFields(fields);
  // nsjail's default is false too, so only a `nodev: false` written out asks for host devices.
  state.mount = state.mount.map((m, i) => (Object.hasOwn(msg.mount[i]!, 'nodev') && !m.nodev ? { ...m, dev: true } : m));
  state.unsupported = unsupportedIn('nsjail.NsJailConfig', msg);
  return { state, uidmap: fields.uidmap, gidmap: fields.gidmap, argv: fields.exec_bin ? exeArgv(fields.exec_bin) : [] };
}

/** nsjail builds the argv when it reads the file: a -x given later changes the path run, not argv[0]. */
function exeArgv(e: { path: string; arg: readonly string[]; arg0?: string }): string[] {
  const argv = [e.path, ...e.arg];
  if (e.arg0 !== undefined) argv[0] = e.arg0;
  return argv;
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
