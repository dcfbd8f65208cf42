/**
 * runMain(argv): parse → validate → prepare → plan → execute, returning the
 * exit status. Nothing here exits the process; bin/tsjail.ts does.
 */
import { writeSync } from 'node:fs';
// The flag table, the parser and validation are loaded for a jail's command line only: the
// subcommands (`tsjail seccomp compile` above all) start without them.
import { UsageError } from './cli/usage-error.js';
import { formatNodeError } from './linux/errno.js';
import { log } from './log/logger.js';
import { dropEarlySignals } from './proc/early-signals.js';
import type { JailSpec } from './spec.js';

/** A failure that ends the run with 255 after its message is logged. */
export class FatalError extends Error {}

/** stdout for --help, --version, doctor and --dump_config: a failed write (ENOSPC, EPIPE, a closed fd) is an error, not a crash. */
function out(s: string, what: string): void {
  try {
    writeSync(1, s);
  } catch (e) {
    throw new FatalError(`${what}: write(1, …) to stdout failed: ${formatNodeError(e)}`);
  }
}

async function applyConfig(spec: JailSpec, path: string): Promise<void> {
  const { applyConfigFile } = await import('./config/apply.js');
  for (const w of applyConfigFile(spec, path)) log.warn(w);
  spec.cli.config_files.push(path);
}

export async function runMain(argv: readonly string[]): Promise<number> {
  try {
    return await runPhases(argv);
  } catch (e) {
    return reportError(e);
  }
}

/** Errors of JavaScript itself (a bug, or a Node call nobody wrapped) rather than ones tsjail raises on purpose. */
function isUnexpected(e: Error): boolean {
  return e.constructor === Error || e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError;
}

/**
 * Whatever escapes a phase ends the run as any other failure does: one line
 * with the message, exit 255. The stack is for developers: -v shows it.
 */
export function reportError(e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const unexpected = isUnexpected(err);
  log.fatal(unexpected && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message);
  if (unexpected && err.stack) log.debug(err.stack);
  return 255;
}

/** Subcommands, by their first word; each is loaded only when asked for. */
const SUBCOMMANDS: Record<string, (args: readonly string[]) => Promise<number>> = {
  seccomp: async (args) => {
    const { runSeccompCommand } = await import('./seccomp/command.js');
    return runSeccompCommand([...args], { stdout: (s: string) => writeSync(1, s), stderr: (s: string) => writeSync(2, s) });
  },
  pow: async (args) => {
    const { runPowCommand } = await import('./pow-command.js');
    return runPowCommand([...args], { stdout: (s: string) => writeSync(1, s), stderr: (s: string) => writeSync(2, s) });
  },
  doctor: async (args) => {
    if (args.length) throw new UsageError(`doctor takes no arguments (got ${args.length})`);
    const { runDoctor } = await import('./doctor/index.js');
    out(runDoctor(), 'doctor');
    return 0;
  },
  // For packaging (make install, the Debian package): not in --help.
  generate: async (args) => {
    const { generate } = await import('./cli/generate.js');
    out(generate(args), 'generate');
    return 0;
  },
  // tsjail learn -o FILE [--errno N] [jail options] -- PROG ARGS: a jail's command line, run once and learnt from.
  learn: async (args) => {
    const learn = await import('./learn/command.js');
    const options = learn.parseLearnArgs(args);
    return runJail(options.rest, (spec) => learn.runLearn(spec, options));
  },
};

/** Subcommands that run a jail: early signals stay held for it. */
const RUNS_A_JAIL = new Set(['learn']);

/**
 * A refused command line: the problem on one line, then where to read more —
 * the topic of the option named, when there is one. Never the whole usage.
 */
async function usageError(e: UsageError): Promise<number> {
  const name = /^(?:option '|)--([a-z0-9_]+)/.exec(e.message)?.[1];
  const { FLAGS } = await import('./cli/flags.js');
  const topic = name === 'help' ? undefined : FLAGS.find((f) => f.long === name)?.topic;
  log.fatal(e.message);
  log.fatal(`Couldn't parse cmdline options; see tsjail --help${topic ? ` ${topic}` : ''}`);
  return 255;
}

async function runPhases(argv: readonly string[]): Promise<number> {
  const sub = argv[0] !== undefined && Object.hasOwn(SUBCOMMANDS, argv[0]) ? SUBCOMMANDS[argv[0]]! : undefined;
  // The library API's command-line layer (see src/api.ts): the same entry a Node program uses to run a JailSpec.
  if (!sub) return runJail(argv, async (spec) => (await import('./run-spec.js')).runSpec(spec));
  try {
    // No jail will run: a fatal signal is again fatal at once.
    if (!RUNS_A_JAIL.has(argv[0]!)) dropEarlySignals();
    return await sub(argv.slice(1));
  } catch (e) {
    if (e instanceof UsageError) return usageError(e);
    throw e;
  }
}

/** A jail's command line: parsed, validated, then run by `run`. */
async function runJail(argv: readonly string[], run: (spec: JailSpec) => Promise<number>): Promise<number> {
  let spec: JailSpec;
  try {
    const { parseCommandLine } = await import('./cli/parse.js');
    const parsed = await parseCommandLine(argv, applyConfig);
    if (parsed.help) {
      const { usage } = await import('./cli/help.js');
      out(usage(parsed.helpTopic), '--help');
      return 0;
    }
    if (parsed.version) {
      const { readVersion } = await import('./cli/version.js');
      out(`tsjail ${readVersion()}\n`, '--version');
      return 0;
    }
    spec = parsed.spec;
  } catch (e) {
    if (e instanceof UsageError) return usageError(e);
    throw e;
  }
  const { cfg, cli } = spec;
  log.configure({
    level: cli.log_level ?? cfg.log_level ?? 'INFO',
    fd: cli.log_fd ?? cfg.log_fd ?? 2,
    file: cli.log_file ?? cfg.log_file ?? (cfg.daemon ? '/var/log/tsjail.log' : undefined),
    format: cfg.ext.log_format,
  });
  if (cli.dump_config) {
    const { dumpConfig } = await import('./config/dump.js');
    out(dumpConfig(spec), '--dump_config');
    return 0;
  }
  // --daemon sends the log to a file by default (nsjail); errors found before detaching
  // also reach the terminal that is still there, or the run would end silently.
  const daemonLogOnly = cfg.daemon && !cli.log_file && !cfg.log_file && cli.log_fd === undefined && cfg.log_fd === undefined;
  const { validateSpec } = await import('./validate.js');
  const problems = validateSpec(spec);
  if (problems.length) {
    for (const p of problems) {
      log.error(p);
      if (daemonLogOnly) writeSync(2, `tsjail: ${p}\n`);
    }
    return 255;
  }
  try {
    return await run(spec);
  } catch (e) {
    log.error((e as Error).message);
    if (e instanceof Error && isUnexpected(e) && e.stack) log.debug(e.stack);
    return 255;
  }
}
