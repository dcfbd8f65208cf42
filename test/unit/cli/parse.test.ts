import { describe, expect, it } from 'vitest';
import { parseNumber, parseRlimit, parseIdMap, parseMode } from '../../../src/cli/flags.js';
import { usage } from '../../../src/cli/help.js';
import { expandAbbreviations, parseCommandLine, UsageError } from '../../../src/cli/parse.js';

describe('getopt_long-compatible parsing', () => {
  it('bundles switches and glues values to short options', async () => {
    const { spec } = await parseCommandLine(['-Mo', '-Nv', '-Qc/', '--', '/bin/echo', 'x']);
    expect(spec.cfg.mode).toBe('STANDALONE_ONCE');
    expect(spec.cfg.clone_newnet).toBe(false);
    expect(spec.cli.chroot).toBe('/');
    expect(spec.cli.log_level).toBe('FATAL');
    expect(spec.cli.argv).toEqual(['/bin/echo', 'x']);
  });

  it('looks only at the first character of -M', async () => {
    for (const [v, m] of [['once', 'STANDALONE_ONCE'], ['listen', 'LISTEN_TCP'], ['execve', 'STANDALONE_EXECVE'], ['r', 'STANDALONE_RERUN']] as const) {
      expect(parseMode(v)).toBe(m);
    }
    expect(() => parseMode('x')).toThrow(/Modes supported/);
  });

  it('accepts --opt=value and unique prefixes, rejects ambiguous ones', async () => {
    expect(expandAbbreviations(['--chr', '/', '--time=5', '--', '--chr'])).toEqual(['--chroot', '/', '--time_limit=5', '--', '--chr']);
    expect(() => expandAbbreviations(['--rlimit_'])).toThrow(/ambiguous/);
    const { spec } = await parseCommandLine(['--chr=/', '--time=5', '--', '/bin/true']);
    expect(spec.cli.chroot).toBe('/');
    expect(spec.cfg.time_limit).toBe(5);
  });

  it('permutes options after positionals unless -- is used', async () => {
    await expect(parseCommandLine(['-c', '/', '/bin/echo', 'x', '-n'])).rejects.toThrow(UsageError);
    const { spec } = await parseCommandLine(['-c', '/', '/bin/echo', '-H', 'h']);
    expect(spec.cfg.hostname).toBe('h');
    expect(spec.cli.argv).toEqual(['/bin/echo']);
  });

  it('--port also selects listen mode; a later -M wins', async () => {
    expect((await parseCommandLine(['-p', '9000', '--', '/bin/sh'])).spec.cfg.mode).toBe('LISTEN_TCP');
    expect((await parseCommandLine(['-p', '9000', '-Mo', '--', '/bin/sh'])).spec.cfg.mode).toBe('STANDALONE_ONCE');
  });

  it('parses numbers with strtoul base-0 syntax, but only whole numbers (nsjail reads junk as 0)', () => {
    expect(parseNumber('t', '0x10', 'uint32')).toBe(16n);
    expect(parseNumber('t', '010', 'uint32')).toBe(8n);
    expect(() => parseNumber('t', '12abc', 'uint32')).toThrow("--t: '12abc' is not a number");
    expect(() => parseNumber('t', 'junk', 'uint32')).toThrow("--t: 'junk' is not a number");
  });

  it('rlimit keywords are case-insensitive and never multiplied', () => {
    expect(parseRlimit('rlimit_as', 'SOFT')).toEqual({ value: 0n, type: 'SOFT' });
    expect(parseRlimit('rlimit_as', 'def')).toEqual({ value: 0n, type: 'SOFT' });
    expect(parseRlimit('rlimit_as', 'Max')).toEqual({ value: 0n, type: 'HARD' });
    expect(parseRlimit('rlimit_as', 'inf')).toEqual({ value: 0n, type: 'INF' });
    expect(parseRlimit('rlimit_as', '64')).toEqual({ value: 64n, type: 'VALUE' });
    expect(() => parseRlimit('rlimit_as', '12x')).toThrow("--rlimit_as: '12x' is neither a number (in MiB) nor 'soft', 'hard' or 'inf'");
  });

  it('id maps: inside[:outside[:count]], count 1 when not given (0 is refused by validation)', () => {
    expect(parseIdMap('99999', false)).toEqual({ inside_id: '99999', outside_id: '', count: 1, use_newidmap: false });
    expect(parseIdMap('0:1000:0', true)).toEqual({ inside_id: '0', outside_id: '1000', count: 0, use_newidmap: true });
  });

  it('mount options split on colons as nsjail', async () => {
    const { spec } = await parseCommandLine(['-R', '/a', '-B', '/b:/c:nosuid', '-m', 'none:/t:tmpfs:size=1m:x', '-s', '/proc/self/fd:/dev/fd', '-T', '/tmp', '--', '/x']);
    expect(spec.cfg.mount.map((m) => [m.src, m.dst, m.fstype, m.options, m.is_bind, m.rw, m.is_symlink])).toEqual([
      ['/a', '/a', '', '', true, false, false],
      ['/b', '/c', '', 'nosuid', true, true, false],
      ['none', '/t', 'tmpfs', 'size=1m:x', false, true, false],
      ['/proc/self/fd', '/dev/fd', '', '', false, false, true],
      ['', '/tmp', 'tmpfs', 'size=4194304', false, true, false],
    ]);
  });

  it('options apply in order; -E NAME copies from the environment', async () => {
    process.env.TSJAIL_TEST_VAR = 'v1';
    const { spec } = await parseCommandLine(['-E', 'A=1', '-E', 'TSJAIL_TEST_VAR', '-H', 'a', '-H', 'b', '--', '/x']);
    expect(spec.cfg.envar).toEqual(['A=1', 'TSJAIL_TEST_VAR=v1']);
    expect(spec.cfg.hostname).toBe('b');
  });

  it('--seccomp_unotify and its report are options like any other, not refused', async () => {
    const { spec } = await parseCommandLine(['--seccomp_unotify', '--seccomp_unotify_report', '/r', '--', '/x']);
    expect(spec.cfg.seccomp_unotify).toBe(true);
    expect(spec.cfg.seccomp_unotify_report).toBe('/r');
    expect(spec.cfg.unsupported).toEqual([]);
  });

  it('usage lists every flag with its short letter and value name', () => {
    const u = usage();
    expect(u).toContain('\n  -c, --chroot DIR\n');
    expect(u).toContain('\n  -N, --disable_clone_newnet\n');
    expect(u).toContain('\n      --rw\n');
  });
});

describe("options of older nsjail releases", () => {
  it('are mapped where the meaning survives', async () => {
    expect((await parseCommandLine(['--use_switchroot', '--', '/x'])).spec.cfg.no_pivotroot).toBe(true);
    expect((await parseCommandLine(['--disable_clone_newcgroup', '--enable_clone_newcgroup', '--', '/x'])).spec.cfg.clone_newcgroup).toBe(true);
  });

  it('are refused by name where it does not', async () => {
    await expect(parseCommandLine(['--use_pasta', '--', '/x'])).rejects.toThrow('--use_pasta is an option of older nsjail releases: replaced by --user_net');
    await expect(parseCommandLine(['--iface_vs_ip', '10.0.0.2', '--', '/x'])).rejects.toThrow('now --macvlan_vs_ip');
    await expect(parseCommandLine(['--tmpfs_size', '1', '--', '/x'])).rejects.toThrow('-m none:DST:tmpfs:size=N');
  });

  it('match exactly only, so abbreviations keep their nsjail meaning, and are listed under the legacy topic', async () => {
    expect(expandAbbreviations(['--tmpfs', '/t'])).toEqual(['--tmpfsmount', '/t']);
    expect(usage('legacy')).toContain('--use_pasta  [legacy]');
    expect(usage('modes')).not.toContain('--use_pasta');
  });
});

describe('--compat 3.4', () => {
  it('has no time limit by default on the command line, unless -t or a config gives one', async () => {
    expect((await parseCommandLine(['--compat', '3.4', '--', '/x'])).spec.cfg.time_limit).toBe(0);
    expect((await parseCommandLine(['-t', '5', '--compat', '3.4', '--', '/x'])).spec.cfg.time_limit).toBe(5);
    expect((await parseCommandLine(['--', '/x'])).spec.cfg.time_limit).toBe(600);
  });

  it('lets the last --seccomp_string win', async () => {
    const args = ['--seccomp_string', 'ERRNO(1) { newuname }', '--seccomp_string', 'DEFAULT ALLOW', '--', '/x'];
    expect((await parseCommandLine(['--compat', '3.4', ...args])).spec.cfg.seccomp_string).toEqual(['DEFAULT ALLOW']);
    expect((await parseCommandLine(args)).spec.cfg.seccomp_string).toEqual(['ERRNO(1) { newuname }', 'DEFAULT ALLOW']);
  });

  it('knows only 3.4 and master', async () => {
    await expect(parseCommandLine(['--compat', '2.9', '--', '/x'])).rejects.toThrow("--compat: '2.9' is not '3.4' or 'master'");
  });
});
