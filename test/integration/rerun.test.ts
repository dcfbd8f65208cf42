/** Re-run mode (issue 8): the program runs again each time it exits, until a signal; a failing launch stops it. */
import { describe, expect, it } from 'vitest';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

describe.skipIf(!!skip)('re-run mode', () => {
  it('restarts a program that exits and stops on SIGTERM with 143', async () => {
    let runs = 0;
    const r = await runTsjail(['-Mr', '--chroot', '/', '--', '/bin/sh', '-c', 'echo run; sleep 0.1'], {
      timeoutMs: 20_000,
      onSpawn: (child) => {
        child.stdout!.on('data', (d: Buffer) => {
          runs += (d.toString().match(/run\n/g) ?? []).length;
          if (runs === 3) child.kill('SIGTERM');
        });
      },
    });
    expect(r.exitCode).toBe(143);
    expect(r.stdout.match(/run\n/g)!.length).toBeGreaterThanOrEqual(3);
    expect(r.stderr.match(/Executing '\/bin\/sh' for '\[STANDALONE MODE\]'/g)!.length).toBeGreaterThanOrEqual(3);
    expect(r.stderr).toMatch(/pid=\d+ \(\[STANDALONE MODE\]\) exited with status: 0, \(PIDs left: 0\)/);
    expect(r.stderr).toContain('Server stops due to fatal signal (15) caught. Exiting');
  });

  it('a launch that fails before execve stops with 255 instead of looping (nsjail #84)', async () => {
    const r = await runTsjail(['-Mr', '--chroot', '/', '--', '/nonexistent']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr.match(/execve\('\/nonexistent'\) failed: ENOENT/g)).toHaveLength(1);
    expect(r.stderr.match(/Couldn't launch the child process/g)).toHaveLength(1);
  });
});
