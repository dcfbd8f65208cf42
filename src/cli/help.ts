/**
 * `tsjail --help [TOPIC]`: the flag table rendered by topic, each option with
 * its value, default and marks (not supported yet, legacy). The man page and
 * the shell completions are rendered from the same table (manpage.ts,
 * completions.ts), so none of them can drift from what the parser accepts.
 */
import { quoted } from '../text.js';
import { FLAGS, TOPICS, UsageError, type Flag, type Topic } from './flags.js';

const WIDTH = 80;
const INDENT = 8;

export const SYNOPSIS = ['tsjail [OPTION]... [--] PROGRAM [ARG]...', 'tsjail seccomp compile|dump|eval|lint [OPTION]...', 'tsjail doctor'] as const;

export const SUMMARY =
  'Runs PROGRAM in a jail: Linux namespaces, a root made of binds and mounts, resource limits, a seccomp filter and Landlock rules. ' +
  "Options and config files are nsjail's. A long option may be shortened to any unique prefix, and its value may follow as --opt=VALUE; " +
  'options after PROGRAM are still read as options unless -- comes first. No PATH search is done: give PROGRAM as a path.';

/** Examples of tsjail's own: [what it does, the command]. */
export const EXAMPLES: ReadonlyArray<readonly [string, string]> = [
  ["A shell seeing the host's files read-only, as an unprivileged user, offline", 'tsjail --chroot / --user 65534 --group 65534 -- /bin/sh -i'],
  ['An empty root holding a few read-only binds and a scratch /tmp', 'tsjail -R /bin -R /lib -R /lib64 -R /usr -T /tmp -- /bin/ls -l /'],
  ['A TCP echo service: one jail per connection, each for at most 30 seconds', 'tsjail -Ml --port 8000 --time_limit 30 --chroot / -- /bin/cat'],
  ['A build in the current directory, with at most 512 MiB of memory and 64 tasks', 'tsjail --chroot / -B "$PWD" --cwd "$PWD" --cgroup_mem_max 512M --cgroup_pids_max 64 -- /usr/bin/make'],
  ['Refusing rarely needed system calls, and ptrace', 'tsjail --chroot / --seccomp_preset default --syscall_deny ptrace -- /usr/bin/id'],
  ['Landlock: execute from /usr only, read /etc, nothing else', 'tsjail --chroot / --landlock_rx /usr --landlock_ro /etc -- /usr/bin/id'],
  ['A profile in nsjail\'s config format, with the command taken from it', 'tsjail --config configs/minimal-shell.cfg'],
  ['What this host offers a jail', 'tsjail doctor'],
  ['Trying a seccomp policy out', "tsjail seccomp eval --policy 'ERRNO(1) { uname } DEFAULT ALLOW' --syscall uname"],
];

/** Topic names accepted after --help besides the names and their unique prefixes. */
const ALIASES: Record<string, Topic | 'examples'> = {
  mode: 'modes', config: 'modes', program: 'process', env: 'process', ids: 'identity', user: 'identity', caps: 'identity', ns: 'namespaces',
  fs: 'filesystem', mounts: 'filesystem', mount: 'filesystem', rlimits: 'limits', cgroups: 'limits', cgroup: 'limits', net: 'network', log: 'logging', status: 'logging',
};

export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** `-c, --chroot DIR` (long-only options line up under the long names). */
export function synopsis(f: Flag): string {
  return `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.arg ? ` ${f.arg}` : ''}`;
}

/** The marks --help, the man page and completions show next to an option. */
export function marks(f: Flag): string[] {
  const m: string[] = [];
  if (f.refused) m.push('not supported yet: refused');
  if (f.legacy) m.push('legacy');
  return m;
}

/** The description with its default: what --help prints under the option and the man page after it. */
export function description(f: Flag): string {
  return f.def === undefined ? f.help : `${f.help} Default: ${f.def}.`;
}

export const flagsOf = (topic: Topic): Flag[] => FLAGS.filter((f) => f.topic === topic);

function renderFlag(f: Flag): string[] {
  const m = marks(f);
  const head = `  ${synopsis(f)}${m.length ? `  [${m.join(', ')}]` : ''}`;
  return [head, ...wrap(description(f), WIDTH - INDENT).map((l) => ' '.repeat(INDENT) + l)];
}

function renderTopic(name: Topic): string[] {
  const t = TOPICS.find((x) => x.name === name)!;
  const lines = [`${t.title} (tsjail --help ${t.name}):`];
  if ('note' in t) lines.push(...wrap(t.note, WIDTH - 2).map((l) => `  ${l}`), '');
  for (const f of flagsOf(name)) lines.push(...renderFlag(f));
  return lines;
}

/**
 * A shell command cut into lines of at most `width` with trailing backslashes,
 * between words (a quoted argument stays whole), so that it still pastes.
 */
export function commandLines(cmd: string, width: number): string[] {
  const words = cmd.match(/(?:'[^']*'|"[^"]*"|\S)+/g) ?? [];
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length + 2 > width) {
      lines.push(`${line} \\`);
      line = `    ${w}`;
    } else line = line ? `${line} ${w}` : w;
  }
  return [...lines, line];
}

function renderExamples(): string[] {
  return ['Examples:', ...EXAMPLES.flatMap(([what, cmd]) => [`  ${what}:`, ...commandLines(cmd, WIDTH - 6).map((l) => `      ${l}`)])];
}

/** A topic name as typed after --help: a name, a unique prefix of one, or an alias. */
export function resolveTopic(given: string): Topic | 'examples' {
  const names: Array<Topic | 'examples'> = [...TOPICS.map((t) => t.name), 'examples'];
  const g = given.toLowerCase();
  if (names.includes(g as Topic)) return g as Topic;
  if (Object.hasOwn(ALIASES, g)) return ALIASES[g]!;
  const matches = names.filter((n) => n.startsWith(g));
  if (g && matches.length === 1) return matches[0]!;
  throw new UsageError(`--help: ${quoted(given)} is not a topic; topics: ${names.join(', ')}`);
}

/** The whole help (no topic), or one topic's options. */
export function usage(topic?: string): string {
  if (topic !== undefined) {
    const t = resolveTopic(topic);
    return (t === 'examples' ? renderExamples() : renderTopic(t)).join('\n') + '\n';
  }
  const pad = Math.max(...TOPICS.map((t) => t.name.length), 'examples'.length) + 2;
  const lines = [
    ...SYNOPSIS.map((s, i) => `${i ? '       ' : 'Usage: '}${s}`),
    '',
    ...wrap(SUMMARY, WIDTH),
    '',
    'Topics (tsjail --help TOPIC prints one):',
    ...TOPICS.map((t) => `  ${t.name.padEnd(pad)}${t.title}`),
    `  ${'examples'.padEnd(pad)}Examples`,
  ];
  for (const t of TOPICS) lines.push('', ...renderTopic(t.name));
  lines.push('', ...renderExamples());
  return lines.join('\n') + '\n';
}
