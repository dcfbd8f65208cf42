/**
 * Accounting at exit: wall time, user and system CPU time, peak memory and
 * why the jail was killed. The cgroup figures (read before the cgroup is
 * removed) win over wait4's rusage, which misses descendants never waited for.
 * rusage's peak is only an upper bound: at execve Linux records the old
 * memory's high-water mark, and until execve the child's memory is tsjail's
 * (Node's) own, so a small program shows tsjail's resident size there.
 * No koffi and no cgroup code here: loaded for every run.
 */
import { signalName } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { ExitInfo } from '../proc/supervisor.js';

/** Why a jail ended other than by exiting by itself. */
export type KillCause =
  /** --time_limit reached: tsjail sent SIGKILL. */
  | 'time_limit'
  /** The memory cgroup's OOM killer (its oom_kill counter rose) delivered the SIGKILL. */
  | 'oom_kill'
  /** tsjail got SIGINT/SIGTERM/SIGHUP and killed (or forwarded to) the jail. */
  | 'tsjail_signal'
  /** Setup failed before execve. */
  | 'setup_failed'
  /** wait4 failed: how the jail ended is unknown. */
  | 'wait_failed'
  /** Any other signal (the program's own crash, or a kill from outside). */
  | 'signal';

/** Figures a jail's cgroup gives; every field optional but oomKills. */
export interface CgroupUsage {
  readonly userMs?: number;
  readonly systemMs?: number;
  readonly cpuSource?: 'cpu.stat' | 'cpuacct.usage_user';
  readonly peakBytes?: number;
  readonly memorySource?: 'memory.peak' | 'memory.max_usage_in_bytes';
  /** oom_kill from memory.events (v2) or memory.oom_control (v1). */
  readonly oomKills: number;
  /** The memory cgroup directory and its limit, for the OOM log line. */
  readonly memoryDir?: string;
  readonly memoryLimit?: string;
}

/**
 * One jail's accounting. Times in milliseconds, memory in bytes; the
 * `*Source` fields name the kernel file (or 'rusage', wait4's figures).
 */
export interface Accounting {
  readonly pid: number;
  readonly wallMs: number;
  readonly userMs: number;
  readonly systemMs: number;
  readonly cpuSource: 'cpu.stat' | 'cpuacct.usage_user' | 'rusage';
  readonly peakMemoryBytes: number;
  readonly memorySource: 'memory.peak' | 'memory.max_usage_in_bytes' | 'rusage';
  readonly oomKills: number;
  readonly exitCode?: number;
  readonly signal?: number;
  readonly killCause?: KillCause;
}

function killCause(e: ExitInfo, oomKills: number): KillCause | undefined {
  switch (e.reason) {
    case 'time_limit':
      return 'time_limit';
    case 'setup_failed':
      return 'setup_failed';
    case 'wait_failed':
      return 'wait_failed';
    case 'signal':
      return 'tsjail_signal';
    case undefined:
      break;
  }
  if (e.signal === undefined) return undefined;
  return e.signal === 9 && oomKills > 0 ? 'oom_kill' : 'signal';
}

/** Pure: the accounting of an exit, from the cgroup's figures where given, else from rusage. */
export function accountFromUsage(e: ExitInfo, usage?: CgroupUsage): Accounting {
  const oomKills = usage?.oomKills ?? 0;
  const cgroupCpu = usage?.userMs !== undefined && usage.systemMs !== undefined;
  return {
    pid: e.pid,
    wallMs: e.wallMs,
    userMs: cgroupCpu ? usage.userMs! : e.rusage.utimeMs,
    systemMs: cgroupCpu ? usage.systemMs! : e.rusage.stimeMs,
    cpuSource: cgroupCpu ? usage.cpuSource! : 'rusage',
    peakMemoryBytes: usage?.peakBytes ?? e.rusage.maxRssKiB * 1024,
    memorySource: usage?.peakBytes !== undefined ? usage.memorySource! : 'rusage',
    oomKills,
    exitCode: e.exitCode,
    signal: e.signal,
    killCause: killCause(e, oomKills),
  };
}

const recorded = new WeakMap<ExitInfo, Accounting>();

/**
 * The accounting of one exit, for the status channel and modes: the figures
 * recorded by the exit hook (cgroup-based when the jail had a cgroup, read
 * before its removal), or, before that hook ran, the rusage-based ones.
 * Call it from an onExit hook added after the cgroup's, or once track() resolved.
 */
export function readAccounting(e: ExitInfo): Accounting {
  return recorded.get(e) ?? accountFromUsage(e);
}

const CAUSE_TEXT: Record<KillCause, (a: Accounting) => string> = {
  time_limit: () => 'time limit',
  oom_kill: () => 'OOM killer (memory cgroup limit)',
  tsjail_signal: () => "tsjail's fatal signal",
  setup_failed: () => 'setup failure',
  wait_failed: () => 'unknown (wait4 failed)',
  signal: (a) => `signal ${signalName(a.signal!)} (${a.signal})`,
};

const sec = (ms: number) => (ms / 1000).toFixed(3);

export function accountingLine(remote: string, a: Accounting): string {
  const killed = a.killCause ? `, killed by: ${CAUSE_TEXT[a.killCause](a)}` : '';
  return (
    `pid=${a.pid} (${remote}) wall time: ${sec(a.wallMs)} s, user time: ${sec(a.userMs)} s, system time: ${sec(a.systemMs)} s` +
    ` (${a.cpuSource}), peak memory: ${a.memorySource === 'rusage' ? '<= ' : ''}${a.peakMemoryBytes} bytes (${a.memorySource})${killed}`
  );
}

/** Record and log one exit's accounting; an OOM kill is a warning naming the cgroup. */
export function recordAccounting(e: ExitInfo, usage?: CgroupUsage): Accounting {
  const a = accountFromUsage(e, usage);
  recorded.set(e, a);
  // Never ran (figures of the setup only), or no figures at all.
  if (a.killCause === 'setup_failed' || a.killCause === 'wait_failed') return a;
  log.info(accountingLine(e.remote, a));
  if (a.oomKills > 0) {
    const what = a.killCause === 'oom_kill' ? 'was killed by the OOM killer' : `had ${a.oomKills} process(es) killed by the OOM killer`;
    log.warn(`pid=${e.pid} (${e.remote}) ${what}: memory cgroup '${usage?.memoryDir}' reached its limit (${usage?.memoryLimit}), oom_kill: ${a.oomKills}`);
  }
  return a;
}

/** The exit hook of a run without cgroups: rusage figures only. */
export function accountingHook(): (e: ExitInfo) => void {
  return (e) => void recordAccounting(e);
}
