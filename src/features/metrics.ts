/**
 * --metrics_addr HOST:PORT: Prometheus metrics at /metrics and readiness at
 * /healthz, for listen and re-run modes. prom-client is imported here, and
 * this module only when the option is given: a run without it pays nothing.
 *
 * Counts come from the feature hooks, so they agree with the log and the
 * status channel: every launch is `started`, then either `running` or, once
 * over, `ended` by exactly one reason (started = running + Σ ended). The
 * supervisor's own figures are read at scrape time from /proc and Node, not
 * by prom-client's default collectors (those sample the event loop every 10 ms
 * for as long as the process runs).
 *
 * /healthz answers 503 until the mode says it serves (listen: listening;
 * re-run: the first program runs), then 200.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { readAccounting } from '../cgroup/accounting.js';
import { readVersion } from '../cli/version.js';
import { parseHostPort, formatHostPort, type HostPort } from '../hostport.js';
import { formatErrno } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import { exitReason, type ExitReason } from '../status.js';
import type { FeatureRun, RunEvent } from './types.js';

/** The `reason` label of tsjail_jails_ended_total for each exit reason. */
const ENDED: Record<ExitReason, string> = {
  exited: 'exit',
  killed: 'signal',
  signal: 'signal',
  time_limit: 'time_limit',
  oom: 'oom',
  seccomp: 'seccomp',
  setup_failed: 'setup_failure',
  output_limit: 'output_limit',
  wait_failed: 'wait_failed',
};

const WALL_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const CPU_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 600];

/** tsjail's version; 'unknown' rather than no metrics when it cannot be read. */
function version(): string {
  try {
    return readVersion();
  } catch {
    return 'unknown';
  }
}

function maxFds(): number {
  const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : -1;
}

function listen(server: Server, a: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: a.host, port: a.port, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startMetrics(p: Prepared): Promise<FeatureRun> {
  const addr = parseHostPort(p.cfg.ext.metrics_addr!) as HostPort;
  const require = createRequire(import.meta.url);
  const prom = require('prom-client') as typeof import('prom-client');
  const registry = new prom.Registry();
  const registers = [registry];

  new prom.Gauge({ name: 'tsjail_build_info', help: "tsjail's version (value 1)", labelNames: ['version', 'mode'], registers }).set({ version: version(), mode: p.cfg.mode }, 1);
  const started = new prom.Counter({ name: 'tsjail_jails_started_total', help: 'Jails launched, including those whose setup then failed', registers });
  const running = new prom.Gauge({ name: 'tsjail_active_jails', help: 'Jails running now (spare jails set up ahead are not counted)', registers });
  const ended = new prom.Counter({ name: 'tsjail_jails_ended_total', help: 'Jails ended, by reason: exit, signal, time_limit, oom, seccomp, output_limit, setup_failure', labelNames: ['reason'], registers });
  const wall = new prom.Histogram({ name: 'tsjail_jail_duration_seconds', help: 'Wall-clock seconds per jail, from its start to its end', buckets: WALL_BUCKETS, registers });
  const cpu = new prom.Histogram({ name: 'tsjail_jail_cpu_seconds', help: 'CPU seconds (user + system) per jail', buckets: CPU_BUCKETS, registers });
  // Connection and proof-of-work series only where they can move.
  const listening = p.cfg.mode === 'LISTEN_TCP' ? registers : [];
  const gated = p.cfg.ext.pow > 0 ? registers : [];
  const conns = new prom.Counter({
    name: 'tsjail_connections_total',
    help: 'Listen mode: connections, by result: accepted (past the limits and the proof of work), rejected_limit (with the limit: max_conns or max_conns_per_ip), pow_failed',
    labelNames: ['result', 'limit'],
    registers: listening,
  });
  const pow = new prom.Counter({ name: 'tsjail_pow_challenges_total', help: 'Listen mode: proof-of-work challenges, by outcome: correct, bypass, wrong, eof, timeout', labelNames: ['outcome'], registers: gated });
  const expected = Math.max(0.01, p.cfg.ext.pow / 1337);
  const powSeconds = new prom.Histogram({
    name: 'tsjail_pow_solve_seconds',
    help: 'Listen mode: seconds from a challenge to its accepted answer',
    buckets: [0.25, 0.5, 1, 2, 4, 10, 40].map((k) => Number((k * expected).toPrecision(3))),
    registers: gated,
  });
  // Every label value shows from the start, at 0: a rate over a series that appears later misses its first step.
  for (const reason of new Set(Object.values(ENDED))) ended.inc({ reason }, 0);
  if (p.cfg.mode === 'LISTEN_TCP') {
    conns.inc({ result: 'accepted' }, 0);
    conns.inc({ result: 'rejected_limit', limit: 'max_conns' }, 0);
    conns.inc({ result: 'rejected_limit', limit: 'max_conns_per_ip' }, 0);
    if (p.cfg.ext.pow > 0) {
      conns.inc({ result: 'pow_failed' }, 0);
      for (const outcome of ['correct', 'bypass', 'wrong', 'eof', 'timeout']) pow.inc({ outcome }, 0);
    }
  }

  // The supervisor itself, read when scraped.
  new prom.Gauge({ name: 'process_resident_memory_bytes', help: "tsjail's resident memory in bytes", registers, collect() { this.set(process.memoryUsage.rss()); } });
  new prom.Gauge({ name: 'nodejs_heap_size_used_bytes', help: "tsjail's JavaScript heap in use, in bytes", registers, collect() { this.set(process.memoryUsage().heapUsed); } });
  new prom.Gauge({ name: 'process_open_fds', help: 'Descriptors tsjail has open', registers, collect() { this.set(readdirSync('/proc/self/fd').length - 1); } });
  const limit = maxFds();
  new prom.Gauge({ name: 'process_max_fds', help: "tsjail's RLIMIT_NOFILE soft limit", registers, collect() { this.set(limit); } });
  let cpuSeen = 0;
  new prom.Counter({
    name: 'process_cpu_seconds_total',
    help: 'CPU seconds (user + system) tsjail itself used',
    registers,
    collect() {
      const u = process.cpuUsage();
      const now = (u.user + u.system) / 1e6;
      this.inc(Math.max(0, now - cpuSeen));
      cpuSeen = now;
    },
  });
  new prom.Gauge({ name: 'process_start_time_seconds', help: 'When tsjail started, in seconds since the epoch', registers }).set(Math.round(Date.now() / 1000 - process.uptime()));

  let ready = false;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
        (e: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ready ? 'ok\n' : 'starting\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: /metrics and /healthz are served here\n');
    }
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  try {
    await listen(server, addr);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`bind(${formatHostPort(addr.host, addr.port)}) for --metrics_addr: ${typeof err.errno === 'number' ? formatErrno(-err.errno) : err.message}`);
  }
  const bound = server.address();
  const port = bound && typeof bound === 'object' ? bound.port : addr.port;
  log.info(`Metrics on http://${formatHostPort(addr.host, port)}/metrics, health on /healthz`);

  /** Jails started and not yet ended: a setup failure after the start is counted at the exit. */
  const live = new Set<number>();
  return {
    onStart(pid) {
      live.add(pid);
      started.inc();
      running.inc();
    },
    onSetupFailed(_error, pid) {
      if (pid !== undefined && live.has(pid)) return;
      // Failed before it was tracked (clone or the parent-side setup): no exit follows.
      started.inc();
      ended.inc({ reason: 'setup_failure' });
    },
    onExit(e) {
      if (!live.delete(e.pid)) return;
      running.dec();
      const a = readAccounting(e);
      ended.inc({ reason: ENDED[exitReason(a)] });
      if (e.reason === 'setup_failed') return;
      wall.observe(a.wallMs / 1000);
      cpu.observe((a.userMs + a.systemMs) / 1000);
    },
    onRunEvent(ev: RunEvent) {
      if (ev.kind === 'ready') ready = true;
      else if (ev.kind === 'connection') conns.inc({ result: ev.result, ...(ev.limit ? { limit: ev.limit } : {}) });
      else {
        pow.inc({ outcome: ev.outcome });
        if (ev.outcome === 'correct' || ev.outcome === 'bypass') powSeconds.observe(ev.seconds);
      }
    },
    dispose() {
      server.closeAllConnections();
      server.close();
    },
  };
}
