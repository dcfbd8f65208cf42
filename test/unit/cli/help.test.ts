/** --help: grouped by topic, every option with its value and default, in tsjail's own words. */
import { describe, expect, it } from 'vitest';
import { FLAGS, SECCOMP_PRESET_NAMES, TOPICS, type Flag } from '../../../src/cli/flags.js';
import { commandLines, EXAMPLES, resolveTopic, synopsis, usage } from '../../../src/cli/help.js';
import { parseCommandLine, UsageError } from '../../../src/cli/parse.js';
import { presetNames } from '../../../src/seccomp/presets.js';
import { defaultSpec } from '../../../src/spec.js';

/**
 * Fragments of nsjail's --help texts (cmdline.cc), typos included, that the
 * first tsjail help copied. None may come back.
 */
const NSJAIL_FRAGMENTS = [
  'Help plz', 'Usefull', 'escapable is some', 'convention here', 'Can be specified multiple times', 'can be specified multiple times',
  'can be used multiple times', 'Requires euid==0', 'Location of', 'Which pre-existing', 'List of mountpoints', 'Launch a single process',
  "Don't use CLONE_", 'Maximum number of', "Redirect child process'", 'config.proto ProtoBuf format', 'default to limits set by parent',
  'Additional environment variable', 'the current envar value', 'Path to file containing', 'String with kafel', 'Is procfs mounted',
  'Directory containing / of the jail', 'Mount chroot dir', 'Username/uid', 'Groupname/gid', 'UTS name (hostname)',
  'Directory in the namespace the process will run', 'TCP port to bind to', 'IP address to bind the port to', 'Log FD', 'Daemonize after start',
  'Verbose output', 'Log warning and more important', 'Log fatal messages only', "Don't drop any capabilities", 'Retain this capability',
  "Don't call setsid()", "Don't close this FD", "Don't set the prctl", 'Disable mounting procfs', 'Path used to mount procfs',
  'Arbitrary mount, format', 'Symlink, format', 'Add a custom uid mapping', 'Add a custom gid mapping', 'Setting this requires',
  'Class identifier of network packets', 'Number of milliseconds of CPU time per second', "Don't bring the 'lo' interface up",
  'Move this existing network interface', "put inside the subprocess' namespace", 'Forward fatal signals', 'Disable rdtsc and rdtscp',
  'seem to rely on RDTSC', 'Use SECCOMP_FILTER_FLAG_LOG. Log all actions', 'Set jailed process niceness', '-priority', 'File to exec',
  'Use execveat() to execute a file-descriptor', 'Execution mode', 'Maximum time that a jail can exist', 'Pass all environment variables',
  'Supported with kernel versions', 'Enable user-mode networking (nstun)', 'Use cgroupv2, if it is available',
];

describe('the flag table', () => {
  it('describes every option in its own words: a sentence, no nsjail fragment', () => {
    for (const f of FLAGS) {
      const text = `${f.help} ${f.def ?? ''}`;
      expect(f.help, f.long).toMatch(/\S\.$/);
      for (const bad of NSJAIL_FRAGMENTS) expect(text, `--${f.long}`).not.toContain(bad);
    }
  });

  it('gives every option a known topic, and every topic options', () => {
    const names = TOPICS.map((t) => t.name as string);
    for (const f of FLAGS) expect(names, f.long).toContain(f.topic);
    for (const t of TOPICS) expect(FLAGS.some((f) => f.topic === t.name), t.name).toBe(true);
    expect(FLAGS.filter((f) => f.legacy).every((f) => f.topic === 'legacy')).toBe(true);
  });

  it('marks exactly the options validation refuses as not supported yet', async () => {
    for (const f of FLAGS.filter((x) => !x.legacy && x.long !== 'help' && x.long !== 'version' && x.long !== 'config')) {
      const { spec } = await parseCommandLine([`--${f.long}`, ...(f.arg ? [valueFor(f)] : []), '--', '/bin/true']);
      expect(spec.cfg.unsupported.includes(`--${f.long}`), f.long).toBe(!!f.refused);
    }
  });

  it('lists the seccomp presets the compiler knows', () => {
    expect([...SECCOMP_PRESET_NAMES].sort()).toEqual(presetNames().sort());
  });

  /** Options whose shown default is a description rather than a value the option takes. */
  const DESCRIBED = new Set(['dir', 'port', 'exec_file', 'user', 'group', 'chroot', 'pass_fd', 'oom_score_adj', 'log', 'macvlan_vs_ma', 'output_limit', 'pow']);

  it('shows the defaults the parser really has: giving the shown value changes nothing', async () => {
    const base = defaultSpec().cfg;
    const tested: string[] = [];
    for (const f of FLAGS.filter((x) => x.arg && x.def !== undefined && !DESCRIBED.has(x.long))) {
      const value = f.def!.split(/[ ,]/)[0]!.replace(/^'(.*)'$/, '$1');
      const { spec } = await parseCommandLine([`--${f.long}`, value, '--', '/bin/true']);
      const rl = (c: typeof base) => Object.fromEntries(Object.entries(c.rlimits).map(([k, v]) => [k, v.type === 'VALUE' ? v : v.type]));
      expect({ ...spec.cfg, rlimits: rl(spec.cfg) }, `--${f.long} ${value}`).toEqual({ ...base, rlimits: rl(base) });
      tested.push(f.long);
    }
    expect(tested).toEqual(expect.arrayContaining(['mode', 'hostname', 'cwd', 'time_limit', 'rlimit_as', 'rlimit_nproc', 'cgroup_mem_swap_max', 'cgroup_pids_mount', 'nice_level', 'bindhost']));
  });
});

/** A value each option accepts, for the refusal test. */
function valueFor(f: Flag): string {
  if (f.choices) return f.choices[0]!;
  if (f.numeric || /^(N|PORT|FD|ID|MS|SECONDS|MIB|KIB|BYTES)$/.test(f.arg!)) return f.long === 'user' || f.long === 'group' ? '0' : f.long.endsWith('_mapping') ? '0:0:1' : '1';
  if (f.long === 'env') return 'A=1';
  if (f.arg === 'HOST:PORT') return '127.0.0.1:9100';
  if (f.long === 'traffic_rule') return 'proto=tcp,dport=80';
  if (f.long === 'cap') return 'CAP_CHOWN';
  if (f.long === 'file') return '/x=hi';
  if (f.long === 'file_fd') return '0:/x';
  if (f.long === 'overlay_ro') return '/a:/b:/c';
  if (f.arg === 'LIST') return f.long.startsWith('syscall_') ? 'read' : 'x';
  return '/tmp';
}

describe('tsjail --help', () => {
  it('lists the topics, then every group, then examples of its own', () => {
    const u = usage();
    const topicsAt = u.indexOf('Topics (tsjail --help TOPIC prints one):');
    expect(topicsAt).toBeGreaterThan(0);
    let last = topicsAt;
    for (const t of TOPICS) {
      const at = u.indexOf(`\n${t.title} (tsjail --help ${t.name}):\n`);
      expect(at, t.name).toBeGreaterThan(last);
      last = at;
    }
    for (const f of FLAGS) expect(u, f.long).toContain(`  ${synopsis(f)}`);
    for (const [, cmd] of EXAMPLES) expect(u.replace(/ \\\n {10}/g, ' ')).toContain(`      ${cmd}\n`);
    expect(u).not.toMatch(/31337|"ABC"/);
  });

  it('wraps at 80 columns; long example commands with backslashes, quoted words whole', () => {
    for (const line of usage().split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(commandLines("tsjail -a 'b c d' --e f", 16)).toEqual(['tsjail -a \\', "    'b c d' \\", '    --e f']);
  });

  it('prints one topic: its options and no other', () => {
    const s = usage('seccomp');
    expect(s.startsWith('Seccomp system-call filters (tsjail --help seccomp):\n')).toBe(true);
    for (const f of FLAGS) expect(s.includes(`--${f.long}${f.arg ? ' ' : '\n'}`) || s.includes(`--${f.long}  [`), f.long).toBe(f.topic === 'seccomp');
    expect(usage('examples')).toMatch(/^Examples:\n/);
  });

  it('shows defaults with units and marks refused and legacy options', () => {
    const limits = usage('limits').replace(/\n {8}/g, ' ');
    expect(limits).toMatch(/--time_limit SECONDS [^\n]*Default: 600 seconds\.\n/);
    expect(limits).toContain('--rlimit_as MIB Size of the address space (RLIMIT_AS), in MiB, or a keyword. Default: 4096 MiB.\n');
    expect(usage('seccomp')).not.toContain('not supported yet');
    expect(usage('legacy')).toContain('--use_switchroot  [legacy]');
  });

  it('takes topic names, unique prefixes and a few aliases; refuses others with the list', () => {
    expect(resolveTopic('seccomp')).toBe('seccomp');
    expect(resolveTopic('land')).toBe('landlock');
    expect(resolveTopic('fs')).toBe('filesystem');
    expect(resolveTopic('cgroups')).toBe('limits');
    expect(() => resolveTopic('l')).toThrow(UsageError);
    expect(() => resolveTopic('bogus')).toThrow("--help: 'bogus' is not a topic; topics: modes, process");
  });

  it('--help TOPIC and --version reach the entry point through the parser', async () => {
    expect(await parseCommandLine(['--help', 'seccomp'])).toMatchObject({ help: true, helpTopic: 'seccomp' });
    expect(await parseCommandLine(['-h'])).toMatchObject({ help: true, version: false });
    expect(await parseCommandLine(['--version'])).toMatchObject({ help: false, version: true });
    // --version is matched exactly: --ver stays an abbreviation of --verbose, as in nsjail.
    expect((await parseCommandLine(['--ver', '--', '/bin/true'])).spec.cli.log_level).toBe('DEBUG');
  });
});

describe('usage errors', () => {
  it('name the option and the problem on one line', async () => {
    await expect(parseCommandLine(['--bogus'])).rejects.toThrow(/^unknown option '--bogus'$/);
    await expect(parseCommandLine(['--chroo'])).rejects.toThrow('--chroot (-c) needs a value: --chroot DIR');
    await expect(parseCommandLine(['--time_limit'])).rejects.toThrow('--time_limit (-t) needs a value: --time_limit SECONDS');
    await expect(parseCommandLine(['--hostnam'])).rejects.toThrow('--hostname (-H) needs a value: --hostname NAME');
    await expect(parseCommandLine(['--bindhos'])).rejects.toThrow('--bindhost needs a value: --bindhost ADDR');
    await expect(parseCommandLine(['--chroott', '/'])).rejects.toThrow(/^unknown option '--chroott' \(did you mean --chroot\?\)$/);
    // An ambiguous prefix keeps its own message (it was lost behind commander's, empty, one).
    await expect(parseCommandLine(['--rlimit_', '1'])).rejects.toThrow("option '--rlimit_' is ambiguous; possibilities: '--rlimit_as'");
  });
});
