/**
 * runMain(argv): parse → validate → prepare → plan → execute, returning the
 * exit status. Nothing here exits the process; bin/tsjail.ts does.
 */
import { writeSync } from 'node:fs';
import { parseCommandLine, usage, UsageError } from './cli/parse.js';
import { formatNodeError } from './linux/errno.js';
import { log } from './log/logger.js';
import type { JailSpec } from './spec.js';
import { validateSpec } from './validate.js';

/** A failure that ends the run with 255 after its message is logged. */
export class FatalError extends Error {}

/** stdout for --help and --dump_config: a failed write (ENOSPC, EPIPE, a closed fd) is an error, not a crash. */
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

async function runPhases(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'seccomp') {
    const { runSeccompCommand } = await import('./seccomp/command.js');
    return runSeccompCommand(argv.slice(1), { stdout: (s: string) => writeSync(1, s), stderr: (s: string) => writeSync(2, s) });
  }
  // tsjail learn -o FILE [--errno N] [jail options] -- PROG ARGS: a jail's command line, run once and learnt from.
  const learn = argv[0] === 'learn' ? await import('./learn/command.js') : undefined;
  const learnOptions = learn?.parseLearnArgs(argv.slice(1));
  if (learnOptions) argv = learnOptions.rest;
  let spec: JailSpec;
  try {
    const parsed = await parseCommandLine(argv, applyConfig);
    if (parsed.help) {
      out(usage(), '--help');
      return 0;
    }
    spec = parsed.spec;
  } catch (e) {
    if (e instanceof UsageError && e.showUsage) {
      // getopt's refusal (unknown option, missing value): nsjail prints the usage first.
      writeSync(2, usage());
      log.fatal(e.message);
      log.fatal("Couldn't parse cmdline options");
      return 255;
    }
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
  const problems = validateSpec(spec);
  if (problems.length) {
    for (const p of problems) {
      log.error(p);
      if (daemonLogOnly) writeSync(2, `tsjail: ${p}\n`);
    }
    return 255;
  }
  try {
    if (learn && learnOptions) return await learn.runLearn(spec, learnOptions);
    const { execute } = await import('./execute.js');
    return await execute(spec);
  } catch (e) {
    log.error((e as Error).message);
    if (e instanceof Error && isUnexpected(e) && e.stack) log.debug(e.stack);
    return 255;
  }
}
