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

describe('metrics, proof-of-work and the output cap', () => {
  it('name the mode they need', async () => {
    expect(await problems(['--metrics_addr', '127.0.0.1:9100', '--', '/x'])).toEqual(['metrics_addr: metrics are served in listen (-Ml) and re-run (-Mr) modes, not in STANDALONE_ONCE']);
    expect(await problems(['-Mr', '--metrics_addr', '127.0.0.1:9100', '--', '/x'])).toEqual([]);
    expect(await problems(['-Ml', '--port', '9000', '--metrics_addr', '[::]:9100', '--', '/x'])).toEqual([]);
    expect(await problems(['-Mr', '--pow', '20', '--', '/x'])).toEqual(['pow: the proof-of-work gate is for listen mode (-Ml), not STANDALONE_RERUN']);
    expect(await problems(['-Me', '--output_limit', '1M', '--', '/x'])).toEqual([expect.stringContaining('output_limit needs a supervising tsjail')]);
    expect(await problems(['--silent', '--output_limit', '1M', '--', '/x'])).toEqual([expect.stringContaining('output_limit with silent')]);
    expect(await problems(['-Ml', '--port', '9000', '--pow_bypass_key', '/k.pem', '--', '/x'])).toEqual(['pow_bypass_key is set without pow: there is no challenge to bypass']);
  });

  it('refuse a malformed metrics address on the command line, naming it', async () => {
    for (const [v, why] of [
      ['9100', "'9100' is not HOST:PORT"],
      ['localhost:9100', "'localhost' is not an IPv4 address (names are not resolved; IPv6 goes in brackets)"],
      ['[127.0.0.1]:9100', "'127.0.0.1' is not an IPv6 address"],
      ['::1:9100', "'::1:9100' is not HOST:PORT"],
      ['127.0.0.1:65536', 'port 65536 is not a TCP port (0..65535)'],
      ['127.0.0.1:', "'127.0.0.1:' is not HOST:PORT"],
    ]) {
      await expect(parseCommandLine(['-Mr', '--metrics_addr', v!, '--', '/x']), v).rejects.toThrow(why!);
    }
  });
});
