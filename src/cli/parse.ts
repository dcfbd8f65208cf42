/**
 * argv → JailSpec with getopt_long's rules (nsjail's parser): bundled short
 * switches, values glued to short options (-Mo, -Qc/), --opt=value, unique
 * prefixes of long options, options after positionals unless `--`. Options
 * apply in the order given; -C/--config replaces the config state set so far.
 */
import { createRequire } from 'node:module';
import type { JailSpec } from '../spec.js';
import { defaultSpec } from '../spec.js';
import { printable, quoted } from '../text.js';
import { FLAGS, UsageError } from './flags.js';
import { scanArgv, type Scanned } from './getopt.js';

export { UsageError } from './flags.js';

const byLong = new Map(FLAGS.map((f) => [f.long, f]));

/** --chr → --chroot, as getopt_long accepts unique prefixes. */
export function expandAbbreviations(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!a.startsWith('--') || a.length === 2) {
      out.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (byLong.has(name)) {
      out.push(a);
      continue;
    }
    const matches = FLAGS.filter((f) => !f.legacy && f.long.startsWith(name));
    if (matches.length > 1) throw new UsageError(`option ${quoted(`--${name}`)} is ambiguous; possibilities: ${matches.map((f) => `'--${f.long}'`).join(' ')}`, true);
    out.push(matches.length === 1 ? `--${matches[0]!.long}${eq < 0 ? '' : a.slice(eq)}` : a);
  }
  return out;
}

export interface ParseResult {
  spec: JailSpec;
  help: boolean;
}

/** Config loading is injected so that protobufjs is only loaded when -C is used. */
export type ConfigApplier = (spec: JailSpec, path: string) => Promise<void>;

export async function parseCommandLine(argv: readonly string[], applyConfig?: ConfigApplier): Promise<ParseResult> {
  const args = expandAbbreviations(argv);
  const { events, operands } = scanArgv(args) ?? parseWithCommander(args);
  const spec = defaultSpec();
  let help = false;
  for (const { flag, value } of events) {
    if (flag.long === 'help') help = true;
    else if (flag.long === 'config') {
      if (!applyConfig) throw new UsageError('--config is not available here');
      await applyConfig(spec, value);
    } else flag.apply(spec, value);
  }
  spec.cli.argv = operands;
  if (spec.cli.compat === '3.4') applyCompat34(spec, events.map((e) => e.flag.long));
  return { spec, help };
}

/** What scanArgv() leaves: commander parses the line, and its refusal becomes a UsageError. */
export function parseWithCommander(args: readonly string[]): Scanned {
  const require = createRequire(import.meta.url);
  const { Command } = require('commander') as typeof import('commander');
  const program = new Command();
  program.exitOverride().helpOption(false).argument('[command...]').allowExcessArguments(true);
  let errText = '';
  program.configureOutput({ writeErr: (s) => (errText += s), writeOut: () => {} });
  const events: Scanned['events'] = [];
  for (const f of FLAGS) {
    program.option(`${f.short ? `-${f.short}, ` : ''}--${f.long}${f.arg ? ' <value>' : ''}`);
    program.on(`option:${f.long}`, (v: string | undefined) => events.push({ flag: f, value: v ?? '' }));
  }
  try {
    program.parse(args, { from: 'user' });
  } catch {
    // One line: commander adds its suggestion on a line of its own, and echoes the option as typed.
    throw new UsageError(printable(errText.replace(/^error: /, '').trim().replace(/\n(?=\(Did you mean)/, ' '), 200) || "Couldn't parse cmdline options", true);
  }
  return { events, operands: [...program.args] };
}

/**
 * nsjail 3.4's command line: runs without a config file had no time limit unless
 * -t was given (the help text said 600), and --seccomp_string replaced the one
 * before instead of adding to it.
 */
function applyCompat34(spec: JailSpec, given: readonly string[]): void {
  const lastConfig = given.lastIndexOf('config');
  if (lastConfig < 0 && !given.includes('time_limit')) spec.cfg.time_limit = 0;
  const cliPolicies = given.slice(lastConfig + 1).filter((f) => f === 'seccomp_string').length;
  if (cliPolicies > 1) spec.cfg.seccomp_string = spec.cfg.seccomp_string.slice(-1);
}

/** nsjail's usage: ` --name|-x VALUE` then the description, tab-indented. */
export function usage(): string {
  const lines = ['Usage: tsjail [options] -- path_to_command [args]', 'Options:'];
  for (const f of FLAGS.filter((x) => !x.legacy)) {
    lines.push(` --${f.long}${f.short ? `|-${f.short}` : ''}${f.arg ? ` ${f.arg}` : ''}`);
    for (const para of f.help.split('\n')) lines.push(...wrap(para.replace(/^\t/, ''), 72).map((l) => `\t${l}`));
  }
  lines.push(
    '',
    'Examples:',
    ' Wait on a port 31337 for connections, and run /bin/sh',
    "  tsjail -Ml --port 31337 --chroot / -- /bin/sh -i",
    ' Re-run echo command as a sub-process',
    "  tsjail -Mr --chroot / -- /bin/echo \"ABC\"",
    ' Run echo command once only, as a sub-process',
    "  tsjail -Mo --chroot / -- /bin/echo \"ABC\"",
    ' Execute echo command directly, without a supervising process',
    "  tsjail -Me --chroot / --disable_proc -- /bin/echo \"ABC\"",
    ' Seccomp policy tools',
    "  tsjail seccomp eval --policy 'ALLOW { read } DEFAULT KILL' --syscall read",
  );
  return lines.join('\n') + '\n';
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
