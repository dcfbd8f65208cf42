/**
 * A fatal signal during tsjail's start-up (issue 11): caught from the first
 * line of tsjail's code, acted on as the supervisor starts. The signal is sent
 * as soon as tsjail catches it and before it has logged its parameters, i.e.
 * while it still parses and prepares (it used to die there by the default
 * action, with no `Server stops …` line).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/listen.js';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, type RunResult } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

/**
 * Bit n-1 of SigCgt in /proc/<pid>/status: a handler for signal n is installed.
 * Node itself catches SIGINT and SIGTERM from its start (to reset the terminal
 * and die by them), not SIGHUP: tsjail handles SIGHUP once its own handlers for
 * all three are in place.
 */
function catches(pid: number, signal: number): boolean {
  try {
    const m = /SigCgt:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) >> BigInt(signal - 1)) % 2n === 1n;
  } catch {
    return false;
  }
}

/**
 * Run tsjail; once its handlers are in place while it has not logged its
 * parameters yet, send `sig`. The log goes to a file, read synchronously: what
 * tsjail wrote is there at once (a pipe could lag behind).
 */
async function signalDuringStartUp(opts: string[], cmd: string[], sig: NodeJS.Signals): Promise<{ r: RunResult; log: string; sentEarly: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-early-'));
  const file = join(dir, 'log');
  const logged = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  let sentEarly = false;
  try {
    const r = await runTsjail([...opts, '--log', file, '--', ...cmd], {
      timeoutMs: 20_000,
      onSpawn: (c) => {
        const poll = () => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          if (logged().includes('Mode: ')) {
            c.kill(sig); // too late to be early: still send it, the run must end
            return;
          }
          if (catches(c.pid!, 1)) {
            sentEarly = true;
            c.kill(sig);
            return;
          }
          setImmediate(poll);
        };
        poll();
      },
    });
    return { r, log: logged(), sentEarly };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!!skip)('a fatal signal during start-up', () => {
  it.each<[NodeJS.Signals, number]>([
    ['SIGINT', 2],
    ['SIGTERM', 15],
  ])('%s: a clean exit with 128+signal and the stop line; no jail runs', async (sig, num) => {
    const { r, log, sentEarly } = await signalDuringStartUp(['-Mo', '--chroot', '/'], ['/bin/sh', '-c', 'echo ran'], sig);
    expect(sentEarly, 'tsjail caught the signal before it logged its parameters').toBe(true);
    expect(r.signal, log).toBeNull();
    expect(r.exitCode).toBe(128 + num);
    expect(log).toContain(`Server stops due to fatal signal (${num}) caught. Exiting`);
    expect(log).not.toContain('Executing');
    expect(r.stdout).toBe('');
  });

  it('-Ml: exits 0 with the stop line, as after a signal while listening', async () => {
    const port = String(await freePort());
    const { r, log, sentEarly } = await signalDuringStartUp(['-Ml', '--bindhost', '127.0.0.1', '--port', port, '--chroot', '/'], ['/bin/true'], 'SIGINT');
    expect(sentEarly, 'tsjail caught the signal before it logged its parameters').toBe(true);
    expect(r.signal, log).toBeNull();
    expect(r.exitCode).toBe(0);
    expect(log).toContain('Server stops due to fatal signal (2) caught. Exiting');
  });
});
