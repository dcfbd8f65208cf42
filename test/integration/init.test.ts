/** --init (issue 8): a reaper is PID 1, the program PID 2; orphans are reaped, signals reach the program. */
import { describe, expect, it } from 'vitest';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, sh } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

describe.skipIf(!!skip)('--init', () => {
  it('runs the program as PID 2 and exits with its status', async () => {
    const r = await sh('echo $$; exit 3', ['--init']);
    expect(r.stdout).toBe('2\n');
    expect(r.exitCode).toBe(3);
  });

  it('reaps a double-forked orphan: no zombie is left in the jail', async () => {
    // The orphan exits at once; the shell waits (bounded) until its /proc entry is gone, which a zombie's never is.
    const r = await sh(
      'o=$(sh -c "true & echo \\$!"); i=0; while [ -e /proc/$o ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; ' +
        '[ -e /proc/$o ] && echo "left: $(cut -d" " -f2,3 /proc/$o/stat)"; for s in /proc/[0-9]*/stat; do cut -d" " -f3 $s; done',
      ['--init'],
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toContain('left:');
    expect(r.stdout.trim().split('\n')).not.toContain('Z');
  });

  it('kill -TERM to tsjail with --forward_signals reaches the program', async () => {
    const r = await runTsjail(
      ['-Mo', '--chroot', '/', '--init', '--forward_signals', '--', '/bin/sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'],
      {
        timeoutMs: 15_000,
        onSpawn: (child) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && child.kill('SIGTERM')),
      },
    );
    expect(r.stdout).toBe('ready\ngot-term\n');
    expect(r.exitCode).toBe(143); // tsjail's own status after a fatal signal is 128+15, as nsjail
    expect(r.stderr).toMatch(/pid=\d+ \(\[STANDALONE MODE\]\) exited with status: 7/);
  });
});
