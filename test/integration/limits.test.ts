/** rlimits, capabilities and process knobs (issue 4), read back from inside the jail. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileC, missingCc, personality32 } from './helpers/cprog.js';
import { jail, runTsjail, sh } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();
const MiB = 1024 * 1024;

/** /proc/self/limits as {'Max open files': [soft, hard]}. */
function parseLimits(text: string): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (m) out[m[1]!] = [m[2]!, m[3]!];
  }
  return out;
}

async function limitsWith(args: string[]): Promise<Record<string, [string, string]>> {
  const r = await sh('cat /proc/self/limits', args);
  expect(r.exitCode, r.stderr).toBe(0);
  return parseLimits(r.stdout);
}

/** tsjail's own limits as its Node process sees them (NOFILE soft already raised to hard). */
function ownLimit(name: string): [string, string] {
  return parseLimits(readFileSync('/proc/self/limits', 'utf8'))[name]!;
}

function caps(status: string): Record<string, string> {
  return Object.fromEntries([...status.matchAll(/^(Cap\w+):\s*(\w+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe.skipIf(!!skip)('rlimits', () => {
  it("applies nsjail's defaults with soft = hard", async () => {
    const l = await limitsWith([]);
    expect(l['Max address space']).toEqual([String(4096 * MiB), String(4096 * MiB)]);
    expect(l['Max core file size']).toEqual(['0', '0']);
    expect(l['Max cpu time']).toEqual(['600', '600']);
    expect(l['Max file size']).toEqual([String(MiB), String(MiB)]);
    expect(l['Max open files']).toEqual(['32', '32']);
    // 'soft' defaults: tsjail's own soft limit, as both soft and hard
    const [stackSoft] = ownLimit('Max stack size');
    expect(l['Max stack size']).toEqual([stackSoft, stackSoft]);
    const [nprocSoft] = ownLimit('Max processes');
    expect(l['Max processes']).toEqual([nprocSoft, nprocSoft]);
  });

  it.each<[string, string, string, string]>([
    ['rlimit_as', '16', 'Max address space', String(16 * MiB)],
    ['rlimit_core', '2', 'Max core file size', String(2 * MiB)],
    ['rlimit_cpu', '7', 'Max cpu time', '7'],
    ['rlimit_fsize', '3', 'Max file size', String(3 * MiB)],
    ['rlimit_nofile', '17', 'Max open files', '17'],
    ['rlimit_nproc', '50', 'Max processes', '50'],
    ['rlimit_stack', '4', 'Max stack size', String(4 * MiB)],
    ['rlimit_memlock', '128', 'Max locked memory', String(128 * 1024)],
    ['rlimit_rtprio', '0', 'Max realtime priority', '0'],
    ['rlimit_msgqueue', '4096', 'Max msgqueue size', '4096'],
  ])('--%s %s is in its unit', async (flag, value, row, want) => {
    const l = await limitsWith([`--${flag}`, value, '--rlimit_as', flag === 'rlimit_as' ? value : 'inf']);
    expect(l[row]).toEqual([want, want]);
  });

  it('never multiplies a keyword by the unit (nsjail 3.6 bug #266: --rlimit_fsize soft)', async () => {
    const [fsizeSoft] = ownLimit('Max file size');
    for (const kw of ['soft', 'SOFT', 'def']) expect((await limitsWith(['--rlimit_fsize', kw]))['Max file size']).toEqual([fsizeSoft, fsizeSoft]);
    const r = await sh('head -c 3000000 /dev/zero > /tmp/big && wc -c < /tmp/big', ['--rlimit_fsize', 'soft', '-T', '/tmp']);
    expect(r.stderr).not.toContain('File too large');
    expect(r.stdout.trim()).toBe('3000000');
  });

  it('takes hard/max and inf', async () => {
    const [, stackHard] = ownLimit('Max stack size');
    expect((await limitsWith(['--rlimit_stack', 'max']))['Max stack size']).toEqual([stackHard, stackHard]);
    expect((await limitsWith(['--rlimit_stack', 'Hard']))['Max stack size']).toEqual([stackHard, stackHard]);
    expect((await limitsWith(['--rlimit_as', 'inf']))['Max address space']).toEqual(['unlimited', 'unlimited']);
  });

  it("'soft' for nofile is tsjail's hard limit: Node raises its own soft limit at start-up", async () => {
    const [, hard] = ownLimit('Max open files');
    expect((await limitsWith(['--rlimit_nofile', 'soft']))['Max open files']).toEqual([hard, hard]);
  });

  it('--rlimit_nofile 5 is what `ulimit -n` shows', async () => {
    expect((await sh('ulimit -n', ['--rlimit_nofile', '5'])).stdout).toBe('5\n');
  });

  it('--disable_rlimits inherits tsjail\'s limits', async () => {
    expect((await limitsWith(['--disable_rlimits']))['Max file size']).toEqual(ownLimit('Max file size'));
  });

  it('names the failing call when a limit cannot be raised', async () => {
    const r = await sh('true', ['--rlimit_nofile', 'inf']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/prlimit64\(0, RLIMIT_NOFILE, \{RLIM64_INFINITY, RLIM64_INFINITY\}, NULL\): E(PERM|INVAL) .*\(hint: /);
  });
});

describe.skipIf(!!skip)('capabilities', () => {
  it('--cap CAP_NET_RAW leaves exactly that capability in every set', async () => {
    const r = await sh('grep ^Cap /proc/self/status', ['--cap', 'CAP_NET_RAW']);
    expect(caps(r.stdout)).toEqual({ CapInh: '0000000000002000', CapPrm: '0000000000002000', CapEff: '0000000000002000', CapBnd: '0000000000002000', CapAmb: '0000000000002000' });
  });

  it('--cap is repeatable and survives a uid switch through the ambient set', async () => {
    const r = await sh('id -u; grep ^CapEff /proc/self/status', ['-u', '1000', '-g', '1000', '--cap', 'CAP_NET_RAW', '--cap', 'CAP_CHOWN']);
    expect(r.stdout).toBe('1000\nCapEff:\t0000000000002001\n');
  });

  it('--keep_caps keeps every permitted capability', async () => {
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const all = ((1n << BigInt(last + 1)) - 1n).toString(16).padStart(16, '0');
    const r = await sh('grep ^Cap /proc/self/status', ['--keep_caps']);
    expect(caps(r.stdout)).toEqual({ CapInh: all, CapPrm: all, CapEff: all, CapBnd: all, CapAmb: all });
  });

  it('without a user namespace keeps only what tsjail holds (no capset EPERM)', async () => {
    const own = caps(readFileSync('/proc/self/status', 'utf8')).CapPrm!;
    const kept = await sh('grep ^CapAmb /proc/self/status', ['--disable_clone_newuser', '--keep_caps']);
    expect(kept.exitCode, kept.stderr).toBe(0);
    expect(kept.stdout).toBe(`CapAmb:\t${own}\n`);
    const none = await sh('grep ^CapEff /proc/self/status', ['--disable_clone_newuser']);
    expect(none.stdout).toBe('CapEff:\t0000000000000000\n');
  });

  it('refuses an unknown capability name', async () => {
    const r = await sh('true', ['--cap', 'CAP_NET_RAWR']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toContain("unknown capability 'CAP_NET_RAWR'");
  });
});

describe.skipIf(!!skip)('process knobs', () => {
  it('--max_cpus 1 leaves one CPU', async () => {
    expect((await sh('nproc', ['--max_cpus', '1'])).stdout).toBe('1\n');
  });

  it('--persona_addr_no_randomize shows in /proc/self/personality', async () => {
    expect((await sh('cat /proc/self/personality', ['--persona_addr_no_randomize'])).stdout).toBe('00040000\n');
    expect((await sh('cat /proc/self/personality', ['--persona_addr_compat_layout', '--persona_mmap_page_zero'])).stdout).toBe('00300000\n');
  });

  // A 64-bit execve clears READ_IMPLIES_EXEC again (set_personality_64bit); a 32-bit one keeps it, so a tiny i386
  // program reports the bit set before execve (0x0400000 >> 16 = 0x40) as its exit status.
  it('--persona_read_implies_exec reaches a 32-bit program', async (ctx) => {
    const prog = personality32();
    const plain = await jail([], [prog]);
    if (plain.exitCode === 255 && /ENOEXEC/.test(plain.stderr)) {
      console.warn('SKIP (ia32): this kernel does not run 32-bit x86 programs');
      ctx.skip();
    }
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect((await jail(['--persona_read_implies_exec'], [prog])).exitCode).toBe(0x40);
  });

  it('nice defaults to 19 and follows --nice_level', async () => {
    const nice = (out: string) => out.trim().split(' ')[18];
    expect(nice((await sh('cat /proc/self/stat')).stdout)).toBe('19');
    expect(nice((await sh('cat /proc/self/stat', ['--nice_level', '5'])).stdout)).toBe('5');
  });

  it('a nice level the jail may not take is a warning, as in nsjail', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--nice_level', '-5', '--', '/bin/true']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/\[W\].*setpriority\(PRIO_PROCESS, 0, -5\): EACCES/);
  });

  it('--oom_score_adj is written before the program starts', async () => {
    expect((await sh('cat /proc/self/oom_score_adj', ['--oom_score_adj', '500'])).stdout).toBe('500\n');
  });

  describe.skipIf(!!missingCc())('--disable_tsc', () => {
    // Static, so that no dynamic loader reads the TSC before main(): 'mode' prints PR_GET_TSC, 'rdtsc' executes one.
    const probe = () =>
      compileC(
        'tsc-probe',
        `#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "rdtsc")) {
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    puts("rdtsc ran");
    return 0;
  }
  int mode = 0;
  if (prctl(PR_GET_TSC, &mode) != 0) return 2;
  printf("%d\\n", mode);
  return 0;
}
`,
      );

    it('sets PR_TSC_SIGSEGV for the program (PR_GET_TSC reads 2; 1 without the flag)', async () => {
      expect((await jail([], [probe(), 'mode'])).stdout).toBe('1\n');
      expect((await jail(['--disable_tsc'], [probe(), 'mode'])).stdout).toBe('2\n');
    });

    it('rdtsc then faults with SIGSEGV (139), where the CPU honours CR4.TSD', async (ctx) => {
      const r = await jail(['--disable_tsc'], [probe(), 'rdtsc']);
      if (r.exitCode === 0) {
        console.warn('SKIP (rdtsc fault): rdtsc did not fault although PR_GET_TSC reads PR_TSC_SIGSEGV: the hypervisor does not trap it');
        ctx.skip();
      }
      expect(r.exitCode).toBe(139);
    });
  });

  it('--use_core_scheduling creates a core-scheduling cookie, or names why the kernel refuses', async (ctx) => {
    const r = await jail(['--use_core_scheduling'], ['/bin/true']);
    if (r.exitCode !== 0) {
      // The refusal itself is checked; the cookie cannot be, so the test counts as skipped.
      expect(r.stderr).toMatch(/prctl\(PR_SCHED_CORE, PR_SCHED_CORE_CREATE, 0, PIDTYPE_TGID\): E(INVAL|NODEV) .*\(hint: /);
      console.warn('SKIP (core scheduling): this kernel refuses PR_SCHED_CORE');
      ctx.skip();
    }
    expect(r.exitCode).toBe(0);
  });
});
