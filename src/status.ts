/**
 * The status channel (--status_fd N / --status_file PATH): one JSON object
 * per line, so a caller can tell the program's own exit status from a
 * tsjail failure (nsjail #80) and read execution statistics (nsjail #105).
 *
 *   {"event":"start","pid":…,"remote":…}
 *   {"event":"exit","pid":…,"remote":…,"exit_code":n | "signal":n,"signal_name":…,"reason":…,"verdict":…,
 *    "wall_ms":…,"user_ms":…,"sys_ms":…,"cpu_source":…,"peak_memory_bytes":…,"memory_source":…}
 *   {"event":"setup_failed","pid":…,"remote":…,"error":…,"verdict":"SE"}
 *   {"event":"net_denied","pid":…,"proto":…,"name":…,"address":…,"port":…,"reason":…}   (--net_allow)
 *
 * The figures are the accounting hook's (cgroup files when the jail had a
 * cgroup, else wait4's rusage). Lines are written synchronously: an exit line
 * is out before tsjail exits.
 *
 * `verdict` is what an online judge calls the run (see verdictOf()): OK, TLE
 * (time limit, wall or CPU), MLE (the memory cgroup's OOM killer), OLE
 * (--output_limit, or RLIMIT_FSIZE's SIGXFSZ), RE (another signal or a
 * non-zero exit), SV (killed by its seccomp filter) or SE (the program never
 * ran to an end of its own: setup failed, or tsjail's fatal signal stopped it).
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { readAccounting, type Accounting } from './cgroup/accounting.js';
import { formatErrno, signalName } from './linux/errno.js';
import { log } from './log/logger.js';
import { RLIM64_INFINITY } from './linux/consts.js';
import type { PreparedRlimit } from './prepare.js';
import type { ExitInfo } from './proc/supervisor.js';
import type { ConfigState } from './spec.js';

export type ExitReason = 'exited' | 'time_limit' | 'seccomp' | 'oom' | 'signal' | 'killed' | 'setup_failed' | 'wait_failed' | 'output_limit';

/** A judge's verdict on one run. */
export type Verdict = 'OK' | 'TLE' | 'MLE' | 'OLE' | 'RE' | 'SV' | 'SE';

const SIGKILL = 9;
const SIGXCPU = 24;
const SIGXFSZ = 25;
const SIGSYS = 31;

/** Why the jail ended: tsjail's own kill first, then the OOM killer, then what the status says. */
export function exitReason(a: Accounting): ExitReason {
  switch (a.killCause) {
    case undefined:
      return 'exited';
    case 'oom_kill':
      return 'oom';
    case 'tsjail_signal':
      return 'signal';
    case 'signal':
      return a.signal === SIGSYS ? 'seccomp' : 'killed';
    default:
      return a.killCause;
  }
}

/**
 * The verdict of one exit. RLIMIT_CPU ends a program with SIGXCPU, or with
 * SIGKILL once the hard limit is reached (tsjail sets soft = hard), so a
 * SIGKILL nobody else explains, after CPU time near the limit, is that. Near,
 * not past: the kernel checks the limit against tick-sampled time, while
 * wait4 and cgroups report the scheduler's exact time, which on a busy
 * machine was seen 17% lower at the kill; half the limit is the bound.
 * `cpuLimitMs` is the jail's RLIMIT_CPU, absent when unlimited.
 */
export function verdictOf(a: Accounting, cpuLimitMs?: number): Verdict {
  const reason = exitReason(a);
  switch (reason) {
    case 'exited':
      return a.exitCode === 0 ? 'OK' : 'RE';
    case 'time_limit':
      return 'TLE';
    case 'oom':
      return 'MLE';
    case 'output_limit':
      return 'OLE';
    case 'seccomp':
      return 'SV';
    case 'setup_failed':
    case 'wait_failed':
    case 'signal':
      return 'SE';
    case 'killed':
      if (a.signal === SIGXCPU || (a.signal === SIGKILL && cpuLimitMs !== undefined && a.userMs + a.systemMs >= cpuLimitMs / 2)) return 'TLE';
      return a.signal === SIGXFSZ ? 'OLE' : 'RE';
  }
}

/** RLIMIT_CPU of the jails in milliseconds, undefined when unlimited (or rlimits are disabled). */
export function cpuLimitMs(rlimits: readonly PreparedRlimit[]): number | undefined {
  const cpu = rlimits.find((r) => r.name === 'cpu');
  return cpu && cpu.value < RLIM64_INFINITY ? Number(cpu.value) * 1000 : undefined;
}

export function exitRecord(e: ExitInfo, cpuLimit?: number): Record<string, unknown> {
  const a = readAccounting(e);
  return {
    event: 'exit',
    pid: e.pid,
    remote: e.remote,
    ...(e.signal === undefined ? { exit_code: e.exitCode } : { signal: e.signal, signal_name: signalName(e.signal) }),
    reason: exitReason(a),
    verdict: verdictOf(a, cpuLimit),
    ...(e.error ? { error: e.error.render() } : {}),
    wall_ms: Math.round(a.wallMs),
    user_ms: Math.round(a.userMs),
    sys_ms: Math.round(a.systemMs),
    cpu_source: a.cpuSource,
    peak_memory_bytes: a.peakMemoryBytes,
    memory_source: a.memorySource,
  };
}

export class StatusChannel {
  private fd?: number;
  private owned = false;

  constructor(
    ext: ConfigState['ext'],
    /** RLIMIT_CPU in ms, to tell a CPU-time kill (TLE) from another SIGKILL. */
    private readonly cpuLimit?: number,
  ) {
    if (ext.status_file !== undefined) {
      try {
        this.fd = openSync(ext.status_file, 'a', 0o640);
      } catch (e) {
        throw new Error(`open('${ext.status_file}', O_WRONLY|O_APPEND|O_CREAT) for --status_file: ${errText(e)}`);
      }
      this.owned = true;
    } else if (ext.status_fd !== undefined) {
      try {
        fstatSync(ext.status_fd);
      } catch (e) {
        throw new Error(`fstat(${ext.status_fd}) for --status_fd: ${errText(e)}`);
      }
      this.fd = ext.status_fd;
    }
  }

  write(record: Record<string, unknown>): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, JSON.stringify(record) + '\n');
    } catch (e) {
      log.warn(`write(status fd ${this.fd}): ${errText(e)}; no more status lines`);
      this.fd = undefined;
    }
  }

  start(pid: number, remote: string): void {
    this.write({ event: 'start', pid, remote });
  }
  exit(e: ExitInfo): void {
    // A jail that failed before execve is reported by setupFailed, not as the program's exit.
    if (e.reason !== 'setup_failed') this.write(exitRecord(e, this.cpuLimit));
  }
  setupFailed(error: string, pid: number | undefined, remote: string): void {
    this.write({ event: 'setup_failed', ...(pid !== undefined ? { pid } : {}), remote, error, verdict: 'SE' });
  }

  close(): void {
    if (this.owned && this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return typeof err.errno === 'number' ? formatErrno(-err.errno) : err.message;
}
