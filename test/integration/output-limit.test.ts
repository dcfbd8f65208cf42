/** --output_limit (issue 19): the jail's stdout and stderr relayed through pipes, counted, cut at the cap, verdict OLE. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startServer } from './helpers/listen.js';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

type Line = Record<string, unknown>;

async function run(cap: string, script: string, extra: readonly string[] = []) {
  const file = `${mkdtempSync('/tmp/tsjail-ole-')}/status.jsonl`;
  const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--status_file', file, '--output_limit', cap, ...extra, '--', '/bin/sh', '-c', script]);
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  return { ...r, exit: lines.find((l) => l.event === 'exit') };
}

/** A client that sends input, half-closes, and counts what comes back until EOF. */
function client(port: number, input: string): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => done(false), 10_000);
    const done = (ended: boolean) => {
      clearTimeout(t);
      c.destroy();
      resolve({ data: Buffer.concat(chunks), ended });
    };
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => done(true));
    c.on('error', () => done(true));
    c.on('connect', () => c.end(input));
  });
}

describe.skipIf(!!skip)('--output_limit', () => {
  it('yes under --output_limit 1M: exactly 1 MiB passes, then SIGKILL, reason output_limit, verdict OLE', async () => {
    const r = await run('1M', 'exec /usr/bin/yes');
    expect(r.exitCode).toBe(137);
    expect(r.stdout.length).toBe(1 << 20);
    expect(r.stdout).toBe('y\n'.repeat(1 << 19));
    expect(r.exit).toMatchObject({ signal: 9, reason: 'output_limit', verdict: 'OLE' });
    expect(r.stderr).not.toContain('output >'); // -q: the kill line is informational
  });

  it('output under the cap passes whole: stdout and stderr kept apart, the exit code kept, verdict OK or RE', async () => {
    const r = await run('1K', 'echo out; echo err >&2; exit 0');
    expect(r).toMatchObject({ exitCode: 0, stdout: 'out\n' });
    expect(r.stderr).toContain('err\n');
    expect(r.exit).toMatchObject({ exit_code: 0, reason: 'exited', verdict: 'OK' });
    const bad = await run('1K', 'echo out; exit 4');
    expect(bad).toMatchObject({ exitCode: 4, stdout: 'out\n' });
    expect(bad.exit).toMatchObject({ verdict: 'RE' });
  });

  it('exactly the cap is no excess; one byte more is, and stdout and stderr count together', async () => {
    const exact = await run('1000', 'head -c 1000 /dev/zero');
    expect(exact.stdout.length).toBe(1000);
    expect(exact.exit).toMatchObject({ verdict: 'OK' });
    const both = await run('1000', 'head -c 600 /dev/zero; head -c 401 /dev/zero >&2; sleep 5');
    const zeros = (t: string) => t.split('').filter((c) => c === '\0').length; // stderr also has tsjail's warnings
    expect(zeros(both.stdout) + zeros(both.stderr)).toBe(1000);
    expect(both.exit).toMatchObject({ reason: 'output_limit', verdict: 'OLE' });
  });

  it('a program that writes past the cap and exits at once is still OLE (the pipe is read to its end after the reap)', async () => {
    const r = await run('1000', 'head -c 3000 /dev/zero; exit 0');
    expect(r.stdout.length).toBe(1000);
    expect(r.exit).toMatchObject({ reason: 'output_limit', verdict: 'OLE' });
  });

  it('listen mode: the client gets the cap and EOF, its half-close is the program\'s EOF, and stdin still works', async () => {
    const s = await startServer(['--chroot', '/', '-q', '--output_limit', '100', '--', '/bin/sh', '-c', 'n=$(wc -c); echo "read $n"; exec /usr/bin/yes']);
    try {
      const r = await client(s.port, 'x'.repeat(200_000));
      expect(r.ended).toBe(true);
      expect(r.data.length).toBe(100);
      expect(r.data.toString()).toMatch(/^read 200000\ny\ny\n/);
      const small = await startServer(['--chroot', '/', '-q', '--output_limit', '1M', '--', '/bin/cat']);
      try {
        const echo = await client(small.port, 'hello\n');
        expect(echo).toMatchObject({ ended: true });
        expect(echo.data.toString()).toBe('hello\n');
      } finally {
        await small.stop();
      }
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('a reader that goes away: the program gets EPIPE as without a cap, and tsjail ends (no wait on a dead pipe)', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--output_limit', '10M', '--', '/usr/bin/yes'], {
      onSpawn: (c) => c.stdout!.once('data', () => c.stdout!.destroy()),
    });
    expect(r.exitCode).toBe(1); // yes: "standard output: Broken pipe" (SIGPIPE is ignored by PID 1 of a pid namespace)
    expect(r.stderr).toContain('Broken pipe');
  });

  it('a cap of 0 is refused with the line naming the option (and the help topic), exit 255', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--output_limit', '0', '--', '/bin/true']);
    expect(r.exitCode).toBe(255);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("--output_limit: '0' is out of range (1..18446744073709551615)");
    expect(lines[1]).toContain("Couldn't parse cmdline options; see tsjail --help limits");
  });
});
