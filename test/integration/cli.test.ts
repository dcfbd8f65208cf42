/** The command line around the jail, through the built CLI: usage errors, --help TOPIC, --version, doctor, generate. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAGS, TOPICS } from '../../src/cli/flags.js';
import { ROOT, runTsjail } from './helpers/run-tsjail.js';

const lines = (s: string) => s.split('\n').filter(Boolean);
const SEE = /^\[F\]\[[^\]]+\]\[\d+\] \S+ Couldn't parse cmdline options; see tsjail --help( [a-z]+)?$/;

describe('usage errors: the problem on one line, then where to look; never the whole usage', () => {
  const cases: Array<[string[], RegExp, string]> = [
    [['--bogus'], /unknown option '--bogus'$/, 'see tsjail --help'],
    [['--chroott', '/', '--', '/bin/true'], /unknown option '--chroott' \(did you mean --chroot\?\)$/, 'see tsjail --help'],
    [['-y'], /unknown option '-y'$/, 'see tsjail --help'],
    [['--chroot'], /--chroot \(-c\) needs a value: --chroot DIR$/, 'see tsjail --help filesystem'],
    [['-t'], /--time_limit \(-t\) needs a value: --time_limit SECONDS$/, 'see tsjail --help limits'],
    [['--time_limit', 'ten', '--', '/bin/true'], /--time_limit: 'ten' is not a number$/, 'see tsjail --help limits'],
    [['-Mx', '--', '/bin/true'], /Modes supported: .*\(got 'x'\)$/, 'see tsjail --help'],
    [['--rlimit_', '1'], /option '--rlimit_' is ambiguous; possibilities: /, 'see tsjail --help'],
    [['--help', 'bogus'], /--help: 'bogus' is not a topic; topics: modes, /, 'see tsjail --help'],
  ];
  for (const [argv, problem, see] of cases) {
    it(argv.join(' '), async () => {
      const r = await runTsjail(argv);
      expect(r.exitCode).toBe(255);
      expect(r.stdout).toBe('');
      const l = lines(r.stderr);
      expect(l.length, r.stderr).toBeLessThanOrEqual(3);
      expect(l, r.stderr).toHaveLength(2);
      expect(l[0]).toMatch(/^\[F\]/);
      expect(l[0]).toMatch(problem);
      expect(l[1]).toMatch(SEE);
      expect(l[1]!.endsWith(see)).toBe(true);
    });
  }
});

describe('--help', () => {
  it('lists the topics and every group on stdout, exit 0', async () => {
    const r = await runTsjail(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: tsjail /);
    for (const t of TOPICS) expect(r.stdout).toContain(`\n  ${t.name.padEnd(12)}${t.title}\n`);
    for (const f of FLAGS) expect(r.stdout, f.long).toContain(`--${f.long}`);
  });

  it('TOPIC prints that group only', async () => {
    const r = await runTsjail(['--help', 'landlock']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Landlock file and port rules \(tsjail --help landlock\):\n/);
    expect(r.stdout).toContain('--landlock_rx PATH');
    expect(r.stdout).not.toContain('--chroot');
    expect(r.stdout).not.toContain('Usage:');
    const short = await runTsjail(['-h', 'fs']);
    expect(short.stdout).toMatch(/^Filesystem: /);
  });
});

describe('--version', () => {
  it("prints the package's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runTsjail(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`tsjail ${version}\n`);
    expect(r.stderr).toBe('');
  });
});

describe('tsjail doctor', () => {
  it('prints one line per feature: name, status, what was found -> what follows; exit 0', async () => {
    const r = await runTsjail(['doctor']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const [head, blank, columns, ...rows] = r.stdout.split('\n').slice(0, -1);
    expect(head).toMatch(/^tsjail doctor: what this host offers a jail \(uid \d+/);
    expect(blank).toBe('');
    expect(columns).toMatch(/^FEATURE +STATUS FOUND -> WHAT FOLLOWS$/);
    const features = rows.map((row) => {
      const m = /^(\S.*?) +(yes|no|partly|info) +(\S.*?) -> (\S.*)$/.exec(row);
      expect(m, row).not.toBeNull();
      return m![1]!;
    });
    for (const f of ['kernel', 'user namespaces', 'newuidmap', 'newgidmap', '/etc/subuid ranges', 'cgroup v2', 'cgroup v1 memory', 'Landlock', 'seccomp filters', 'seccomp user notification', 'pasta', 'nftables', 'clone3, CLONE_CLEAR_SIGHAND', 'open_tree, move_mount, mount_setattr', 'time namespaces', 'ia32 emulation']) {
      expect(features).toContain(f);
    }
    // This host's own answers, read independently.
    const max = readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim();
    expect(r.stdout).toContain(`user.max_user_namespaces = ${max}`);
    expect(r.stdout).toMatch(/^kernel +yes +Linux \S+ on x86_64 -> /m);
  });

  it('takes no arguments', async () => {
    const r = await runTsjail(['doctor', 'extra']);
    expect(r.exitCode).toBe(255);
    expect(lines(r.stderr)[0]).toMatch(/doctor takes no arguments/);
  });
});

describe('tsjail generate (for packaging)', () => {
  it('prints the man page and the completions; refuses anything else', async () => {
    const man = await runTsjail(['generate', 'man']);
    expect(man.exitCode).toBe(0);
    expect(man.stdout).toMatch(/^\.\\" Generated by/);
    expect(man.stdout).toContain('\n.TH TSJAIL 1 ');
    for (const sh of ['bash', 'zsh', 'fish']) {
      const r = await runTsjail(['generate', sh]);
      expect(r.exitCode, sh).toBe(0);
      expect(r.stdout, sh).toContain('--chroot');
    }
    const bad = await runTsjail(['generate', 'pdf']);
    expect(bad.exitCode).toBe(255);
    expect(lines(bad.stderr)[0]).toMatch(/generate: expected one of man, bash, zsh, fish \(got 'pdf'\)$/);
  });
});
