/** Execve mode (issue 8): the program replaces tsjail (same pid), also as root with a user namespace. */
import { describe, expect, it } from 'vitest';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, type RunResult } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

/** Runs tsjail -Me and returns the result with the pid tsjail had. */
async function execve(args: readonly string[], cmd: readonly string[]): Promise<RunResult & { pid: number }> {
  let pid = 0;
  const r = await runTsjail(['-Me', '--chroot', '/', ...args, '--', ...cmd], { onSpawn: (c) => (pid = c.pid!) });
  return { ...r, pid };
}

describe.skipIf(!!skip)('execve mode', () => {
  it('keeps the pid tsjail had, as root with a user namespace', async () => {
    const r = await execve([], ['/bin/sh', '-c', 'echo $$; cat /proc/self/uid_map 2>/dev/null; id -u']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(String(r.pid));
    expect(r.stdout).toMatch(/\n0\n$/);
    expect(r.stderr).toContain("Executing '/bin/sh' for '[STANDALONE MODE]'");
  });

  it('keeps the pid without a user namespace too', async () => {
    const r = await execve(['--disable_clone_newuser'], ['/bin/sh', '-c', 'echo $$']);
    expect(r.stdout).toBe(`${r.pid}\n`);
  });

  it('switches to --user/--group through the maps the helper wrote', async () => {
    const r = await execve(['-q', '--user', '99999', '--group', '99999'], ['/usr/bin/id']);
    expect(r.stdout).toBe('uid=99999 gid=99999 groups=99999\n');
    expect(r.exitCode).toBe(0);
  });

  it("the program's children live in the new pid namespace, under a reaping PID 1, with its /proc", async () => {
    // An orphan that exits at once; the shell waits (bounded) until PID 1 has reaped it.
    const r = await execve(['-q'], [
      '/bin/sh',
      '-c',
      '/bin/sh -c \'echo $$\'; o=$(sh -c "true & echo \\$!"); i=0; while [ -e /proc/$o ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; cat /proc/1/stat | cut -d" " -f3; ls /proc | grep -cE "^[0-9]+$"',
    ]);
    const [inner, initState, procs] = r.stdout.trim().split('\n');
    expect(Number(inner)).toBeLessThan(10); // a pid of the new namespace
    expect(initState).toMatch(/^[SR]$/); // PID 1 is alive and no zombie is left under it
    expect(Number(procs)).toBeLessThanOrEqual(4);
  });

  it('--execute_fd runs the binary opened before the mount phase', async () => {
    const r = await execve(['-q', '--execute_fd'], ['/bin/echo', 'fd']);
    expect(r.stdout).toBe('fd\n');
  });

  it('has no time limit, as nsjail', async () => {
    const r = await execve(['-q', '-t', '1'], ['/bin/sleep', '1.5']);
    expect(r.exitCode).toBe(0);
  });

  it('returns the program status, and 255 with the reason on a setup failure', async () => {
    expect((await execve(['-q'], ['/bin/sh', '-c', 'exit 7'])).exitCode).toBe(7);
    const r = await execve(['-q'], ['/nonexistent']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/^\[E\]\[[^\]]+\]\[\d+\] runExecve\(\):0 execve\('\/nonexistent'\) failed: No such file or directory$/m);
  });
});
