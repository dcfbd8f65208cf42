import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/cli/parse.js';
import { validateSpec } from '../../src/validate.js';

const problems = async (args: string[]) => validateSpec((await parseCommandLine(args)).spec);

describe('validateSpec reports every problem before any clone', () => {
  it('accepts a plain run', async () => {
    expect(await problems(['--chroot', '/', '--', '/bin/true'])).toEqual([]);
  });

  it('collects several problems at once', async () => {
    const p = await problems(['--cap', 'CAP_BOGUS', '--nice_level', '30', '--seccomp_policy', '/p', '--seccomp_string', 'DEFAULT ALLOW', '--seccomp_unotify_report', '/r']);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringContaining('without --seccomp_unotify'),
        'No command provided',
        expect.stringContaining('both a seccomp policy file'),
        expect.stringContaining("unknown capability 'CAP_BOGUS'"),
        'nice_level 30 is outside -20..19',
      ]),
    );
  });

  it('memsw together with swap is an error', async () => {
    expect(await problems(['--cgroup_mem_memsw_max', '100', '--cgroup_mem_swap_max', '0', '--', '/x'])).toContain('cannot set both cgroup_mem_memsw_max and cgroup_mem_swap_max');
  });

  it('--init needs a pid namespace', async () => {
    expect(await problems(['--init', '--disable_clone_newpid', '--', '/x'])).toContain('--init needs a new pid namespace (drop --disable_clone_newpid)');
  });
});
