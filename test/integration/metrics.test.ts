/** --metrics_addr (issue 19): what a listen run's /metrics says against what happened; /healthz; re-run mode; a taken address. */
import { createServer, createConnection, type Server as NetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseChallenge, solve } from '../../src/pow.js';
import { freePort, startServer } from './helpers/listen.js';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, TSJAIL } from './helpers/run-tsjail.js';
import { spawn } from 'node:child_process';

const skip = missingRoot() ?? missingUserns();

/** A client: answers the proof of work (a solution, or `wrong`), then sends `input`; resolves at EOF with what came after `Correct`. */
function client(port: number, input: string, pow: 'solve' | 'wrong' | 'none'): Promise<{ text: string; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
    let text = '';
    let answered = pow === 'none';
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    c.on('error', () => {});
    c.on('end', () => c.destroy());
    c.on('connect', () => {
      if (answered) c.write(input);
    });
    c.on('data', (d: Buffer) => {
      text += d.toString();
      if (!answered && text.includes('Solution? ')) {
        answered = true;
        const ch = /solve (\S+)\n/.exec(text)![1]!;
        c.write(pow === 'solve' ? `${solve(parseChallenge(ch)!)}\n${input}` : 's.AAAA\n');
      }
      if (text.includes('Correct\n') || text.includes('fail')) resolve({ text, closed });
    });
    c.on('close', () => resolve({ text, closed }));
  });
}

async function scrape(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]),
  );
}

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await get();
    if (ok(v) || Date.now() - t0 > timeoutMs) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!!skip)('--metrics_addr', () => {
  it('a listen run: /metrics counts what happened (3 jails, 2 limit rejections, 1 proof-of-work failure, 1 time-limit kill), /healthz is up', async () => {
    const mport = await freePort();
    const s = await startServer(['--chroot', '/', '--metrics_addr', `127.0.0.1:${mport}`, '--pow', '20', '--max_conns_per_ip', '1', '-t', '3', '--', '/bin/sh', '-c', 'read x; [ "$x" = sleep ] && sleep 30; echo "done $x"']);
    try {
      const health = await fetch(`http://127.0.0.1:${mport}/healthz`);
      expect([health.status, await health.text()]).toEqual([200, 'ok\n']);

      // A holds its jail until the time limit; B and C come from the same IP meanwhile.
      const a = await client(s.port, 'sleep\n', 'solve');
      expect(a.text).toMatch(/Correct\n$/);
      await s.waitLog(/Executing/);
      for (let i = 0; i < 2; i++) {
        const r = await client(s.port, '', 'none');
        await r.closed;
        expect(r.text).toBe('');
      }
      await a.closed;
      await s.waitLog(/run time >= time limit/);
      // Its jail is over (and its peer no longer counted) once the exit is counted.
      await until(() => scrape(mport), (m) => m.get('tsjail_jails_ended_total{reason="time_limit"}') === 1);
      // D fails the proof of work; E and F pass and run to their end.
      const d = await client(s.port, '', 'wrong');
      expect(d.text).toMatch(/Proof-of-work fail/);
      for (const [i, name] of ['e', 'f'].entries()) {
        const r = await client(s.port, `${name}\n`, 'solve');
        await r.closed;
        // The client sees EOF before tsjail has reaped the jail; until then its peer still counts for --max_conns_per_ip.
        await until(() => scrape(mport), (m) => m.get('tsjail_jails_ended_total{reason="exit"}') === i + 1);
      }
      const m = await until(
        () => scrape(mport),
        (m) => m.get('tsjail_jails_ended_total{reason="exit"}') === 2 && m.get('tsjail_connections_total{result="pow_failed"}') === 1,
      );
      expect(m.get('tsjail_connections_total{result="accepted"}')).toBe(3);
      expect(m.get('tsjail_connections_total{result="rejected_limit",limit="max_conns_per_ip"}')).toBe(2);
      expect(m.get('tsjail_connections_total{result="rejected_limit",limit="max_conns"}')).toBe(0);
      expect(m.get('tsjail_connections_total{result="pow_failed"}')).toBe(1);
      expect(m.get('tsjail_pow_challenges_total{outcome="correct"}')).toBe(3);
      expect(m.get('tsjail_pow_challenges_total{outcome="wrong"}')).toBe(1);
      expect(m.get('tsjail_jails_started_total')).toBe(3);
      expect(m.get('tsjail_active_jails')).toBe(0);
      expect(m.get('tsjail_jails_ended_total{reason="time_limit"}')).toBe(1);
      expect(m.get('tsjail_jails_ended_total{reason="exit"}')).toBe(2);
      expect(m.get('tsjail_jails_ended_total{reason="setup_failure"}')).toBe(0);
      expect(m.get('tsjail_jail_duration_seconds_count')).toBe(3);
      expect(m.get('tsjail_jail_duration_seconds_bucket{le="2"}')).toBe(2); // E and F; A ran 3 s
      expect(m.get('tsjail_jail_cpu_seconds_count')).toBe(3);
      expect(m.get('process_open_fds')).toBeGreaterThan(3);
      expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(10 << 20);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('re-run mode: jails counted as they end; healthy once the first runs', async () => {
    const mport = await freePort();
    const child = spawn(process.execPath, [TSJAIL, '-Mr', '--chroot', '/', '-q', '--metrics_addr', `127.0.0.1:${mport}`, '--', '/bin/sh', '-c', 'sleep 0.2'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      const h = await until(
        () => fetch(`http://127.0.0.1:${mport}/healthz`).then((r) => r.status, () => 0),
        (status) => status === 200,
      );
      expect(h).toBe(200);
      const m = await until(() => scrape(mport), (m) => (m.get('tsjail_jails_ended_total{reason="exit"}') ?? 0) >= 2);
      expect(m.get('tsjail_jails_ended_total{reason="exit"}')).toBeGreaterThanOrEqual(2);
      expect(m.get('tsjail_jails_started_total')).toBe(m.get('tsjail_jails_ended_total{reason="exit"}')! + m.get('tsjail_active_jails')!);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('an address already in use: one line naming it, exit 255, no jail', async () => {
    const taken: NetServer = createServer();
    const port = await new Promise<number>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, () => r((taken.address() as { port: number }).port)));
    try {
      const r = await runTsjail(['-Ml', '--bindhost', '127.0.0.1', '--port', String(await freePort()), '--chroot', '/', '--metrics_addr', `127.0.0.1:${port}`, '--', '/bin/true']);
      expect(r.exitCode).toBe(255);
      expect(r.stderr).toContain(`bind(127.0.0.1:${port}) for --metrics_addr: EADDRINUSE (Address already in use)`);
      expect(r.stderr).not.toContain('Listening on');
    } finally {
      taken.close();
    }
  });
});
