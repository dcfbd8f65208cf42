/** The metrics feature (issue 19) driven through its hooks: counts, the one reason per end, /healthz before and after ready. */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { startMetrics } from '../../../src/features/metrics.js';
import { log } from '../../../src/log/logger.js';
import { prepare } from '../../../src/prepare.js';
import type { ExitInfo } from '../../../src/proc/supervisor.js';
import { FAKE_HOST } from '../helpers/host.js';

/** The feature prepared for these flags on a port the kernel picks (read from its log line). */
async function start(args: string[]) {
  const { spec } = await parseCommandLine([...args, '--metrics_addr', '127.0.0.1:0', '--', '/bin/true']);
  let logged = '';
  const info = log.info.bind(log);
  log.info = (m: string) => void (logged += `${m}\n`);
  try {
    const run = await startMetrics(prepare(spec, FAKE_HOST));
    const port = Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(logged)![1]);
    return { run, get: (path: string) => fetch(`http://127.0.0.1:${port}${path}`) };
  } finally {
    log.info = info;
  }
}

const exit = (pid: number, o: Partial<ExitInfo> = {}): ExitInfo => ({ pid, remote: 'r', code: 0, exitCode: 0, wallMs: 1500, rusage: { utimeMs: 20, stimeMs: 10, maxRssKiB: 1 }, ...o });

/** Sample lines without comments, as name{labels} → value. */
function samples(text: string): Map<string, number> {
  return new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]),
  );
}

describe('metrics feature', () => {
  it('counts starts, ends by reason, connections and proof of work; /healthz is 503 until ready', async () => {
    const { run, get } = await start(['-Ml', '--port', '9', '--pow', '20']);
    try {
      expect((await get('/healthz')).status).toBe(503);
      run.onRunEvent!({ kind: 'ready' });
      const h = await get('/healthz');
      expect([h.status, await h.text()]).toEqual([200, 'ok\n']);
      expect((await get('/nope')).status).toBe(404);

      run.onStart!(10, 'r');
      run.onStart!(11, 'r');
      run.onStart!(12, 'r');
      run.onSetupFailed!('clone failed', undefined, 'r'); // never tracked: counted at once
      run.onSetupFailed!('execve failed', 12, 'r'); // tracked: counted at its exit
      await run.onExit!(exit(12, { reason: 'setup_failed', exitCode: 255, code: 255 }));
      await run.onExit!(exit(10));
      await run.onExit!(exit(11, { exitCode: undefined, signal: 9, code: 137, reason: 'time_limit' }));
      run.onStart!(13, 'r');
      for (const e of [
        { kind: 'connection', result: 'accepted' },
        { kind: 'connection', result: 'rejected_limit', limit: 'max_conns_per_ip' },
        { kind: 'connection', result: 'pow_failed' },
        { kind: 'pow', outcome: 'wrong', seconds: 0.1 },
        { kind: 'pow', outcome: 'correct', seconds: 0.02 },
      ] as const)
        run.onRunEvent!(e);

      const res = await get('/metrics');
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const m = samples(await res.text());
      expect(m.get('tsjail_jails_started_total')).toBe(5);
      expect(m.get('tsjail_active_jails')).toBe(1);
      expect(m.get('tsjail_jails_ended_total{reason="setup_failure"}')).toBe(2);
      expect(m.get('tsjail_jails_ended_total{reason="exit"}')).toBe(1);
      expect(m.get('tsjail_jails_ended_total{reason="time_limit"}')).toBe(1);
      expect(m.get('tsjail_jails_ended_total{reason="oom"}')).toBe(0);
      expect(m.get('tsjail_jail_duration_seconds_count')).toBe(2);
      expect(m.get('tsjail_jail_duration_seconds_sum')).toBe(3);
      expect(m.get('tsjail_jail_cpu_seconds_sum')).toBeCloseTo(0.06);
      expect(m.get('tsjail_connections_total{result="accepted"}')).toBe(1);
      expect(m.get('tsjail_connections_total{result="rejected_limit",limit="max_conns_per_ip"}')).toBe(1);
      expect(m.get('tsjail_connections_total{result="rejected_limit",limit="max_conns"}')).toBe(0);
      expect(m.get('tsjail_connections_total{result="pow_failed"}')).toBe(1);
      expect(m.get('tsjail_pow_challenges_total{outcome="wrong"}')).toBe(1);
      expect(m.get('tsjail_pow_challenges_total{outcome="correct"}')).toBe(1);
      expect(m.get('tsjail_pow_solve_seconds_count')).toBe(1);
      expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(1 << 20);
      expect(m.get('process_open_fds')).toBeGreaterThan(2);
      expect(m.get('process_max_fds')).toBeGreaterThan(0);
      expect(m.get('process_cpu_seconds_total')).toBeGreaterThan(0);
    } finally {
      run.dispose!();
    }
  });

  it('re-run mode has no connection or proof-of-work series', async () => {
    const { run, get } = await start(['-Mr']);
    try {
      const text = await (await get('/metrics')).text();
      expect(text).toContain('tsjail_jails_started_total 0');
      expect(text).not.toContain('tsjail_connections_total');
      expect(text).not.toContain('tsjail_pow');
    } finally {
      run.dispose!();
    }
  });
});
