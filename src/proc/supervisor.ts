/**
 * The supervisor: reaps through SIGCHLD with a non-blocking wait4 per tracked
 * pid (never waitpid(-1): other children of this process are not ours),
 * enforces time limits with one timer per jail, and turns tsjail's own fatal
 * signals into "kill every jail, then exit 128+signal".
 */
import { JailError, errorText } from '../errors.js';
import { errnoName, signalName } from '../linux/errno.js';
import type { Rusage, WaitResult } from '../linux/libc.js';
import { log } from '../log/logger.js';
import { sys } from './sys.js';
import { longTimeout, type LongTimer } from './timer.js';
import { FATAL_SIGNALS, takeEarlySignal, type FatalSignal } from './early-signals.js';

/** Why a jail ended other than by itself: its time limit, tsjail's own fatal signal, a failed setup, its output crossing --output_limit, or 'wait_failed': wait4 failed, so how it ended is unknown. */
export type KillReason = 'time_limit' | 'signal' | 'setup_failed' | 'output_limit' | 'wait_failed';

export interface ExitInfo {
  readonly pid: number;
  readonly remote: string;
  readonly exitCode?: number;
  readonly signal?: number;
  /** The shell's encoding: the exit code, or 128 + signal; 255 when wait4 failed (`error`). */
  readonly code: number;
  readonly wallMs: number;
  readonly rusage: Rusage;
  readonly reason?: KillReason;
  /** wait4 failed (reason 'wait_failed'): neither exitCode nor signal is known. */
  readonly error?: JailError;
}

const NO_RUSAGE: Rusage = { utimeMs: 0, stimeMs: 0, maxRssKiB: 0 };

/** A failed wait4 as tsjail's own failure: the jail's status is lost, which is never its exit 0. */
function waitFailure(e: unknown, pid: number): JailError {
  const c = e instanceof JailError ? e : undefined;
  const hint = c?.errno !== undefined && errnoName(c.errno) === 'ECHILD' ? `something else in this process reaped pid=${pid}, so its exit status is lost` : undefined;
  return new JailError(c ? c.message : errorText(e), { call: c?.call, errno: c?.errno, hint: c?.hint ?? hint, stage: 'supervise' });
}

interface Jail {
  readonly pid: number;
  remote: string;
  start: number;
  timeLimit: number;
  timer?: LongTimer;
  /** A spare jail waiting for its connection: not counted, listed or logged until assigned. */
  spare: boolean;
  /** Resolves false when the launch failed before execve: the exit is then not the program's. */
  readonly executed?: Promise<boolean>;
  reason?: KillReason;
  readonly resolve: (e: ExitInfo) => void;
}

const FATAL = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const satisfies readonly FatalSignal[];
const LIST = ['SIGUSR1', 'SIGQUIT'] as const;
const IGNORED = ['SIGTTIN', 'SIGTTOU'] as const;

export class Supervisor {
  private readonly jails = new Map<number, Jail>();
  /** Exits reaped but not yet reported (their launch outcome or exit hooks still pending). */
  private readonly reporting = new Set<Promise<void>>();
  private readonly listeners: Array<[string, () => void]> = [];
  private fatal?: number;
  private fatalWaiters: Array<(sig: number) => void> = [];
  /** Keeps the event loop alive while jails run (signal listeners do not), and reaps as a safety net. */
  private keepAlive?: NodeJS.Timeout;
  /** Called for each exit after it is logged (accounting, status channel, cgroup removal); track() resolves after it. */
  onExit?: (e: ExitInfo) => void | Promise<void>;
  /** Called instead of onExit for a spare jail that never got its connection (its cgroup goes). */
  onDiscard?: (pid: number) => void;
  /** The signal a jail that died of one is reported as, when a feature killed it in another's name. */
  exitSignal?: (pid: number) => number | undefined;

  /**
   * With `signals` (the CLI), tsjail's own SIGINT/SIGTERM/SIGHUP kill every
   * jail, SIGUSR1/SIGQUIT list them and SIGTTIN/SIGTTOU are ignored; the
   * library API leaves the host program's signals alone.
   */
  constructor(
    private readonly forwardSignals: boolean,
    private readonly signals = true,
  ) {}

  start(): void {
    const on = (sig: string, fn: () => void) => {
      process.on(sig as NodeJS.Signals, fn);
      this.listeners.push([sig, fn]);
    };
    on('SIGCHLD', () => this.reap());
    if (!this.signals) return;
    for (const s of FATAL) on(s, () => this.fatalSignal(s));
    for (const s of LIST) on(s, () => this.listJails());
    for (const s of IGNORED) on(s, () => {});
    // Ours are in place: one that came during start-up is acted on now (the modes then launch nothing).
    const early = takeEarlySignal();
    if (early !== undefined) this.fatalSignal(early);
  }

  stop(): void {
    for (const [sig, fn] of this.listeners) process.off(sig as NodeJS.Signals, fn);
    this.listeners.length = 0;
  }

  /** Live jails, spares not counted. */
  get size(): number {
    let n = 0;
    for (const j of this.jails.values()) if (!j.spare) n++;
    return n;
  }
  /** The fatal signal tsjail received, if any. */
  get fatalSignalReceived(): number | undefined {
    return this.fatal;
  }
  /** Resolves when tsjail receives SIGINT/SIGTERM/SIGHUP. */
  whenFatal(): Promise<number> {
    return new Promise((r) => (this.fatal !== undefined ? r(this.fatal) : this.fatalWaiters.push(r)));
  }

  /** Track a cloned child; resolves when it is reaped (and its launch outcome is known). */
  track(pid: number, remote: string, timeLimit: number, executed?: Promise<boolean>, spare = false): Promise<ExitInfo> {
    return new Promise((resolve) => {
      const start = Date.now();
      const timer = timeLimit > 0 ? longTimeout(() => this.timeLimitHit(pid), timeLimit * 1000) : undefined;
      this.jails.set(pid, { pid, remote, start, timeLimit, timer, executed, spare, resolve });
      this.keepAlive ??= setInterval(() => this.reap(), 1000);
      // It may have died already (a SIGCHLD before tracking is not lost: reap now).
      this.reap();
    });
  }

  /** A spare jail got its connection: from now on it is an ordinary jail, its time limit running. */
  assign(pid: number, remote: string, timeLimit: number): void {
    const j = this.jails.get(pid);
    if (!j) return;
    Object.assign(j, { remote, start: Date.now(), timeLimit, spare: false });
    if (timeLimit > 0) j.timer = longTimeout(() => this.timeLimitHit(pid), timeLimit * 1000);
  }

  kill(pid: number, signal: NodeJS.Signals | number, reason?: KillReason): void {
    const j = this.jails.get(pid);
    if (j && reason && !j.reason) j.reason = reason;
    try {
      sys.kill(pid, signal);
    } catch {
      /* already gone: the next reap reports it */
    }
  }

  killAll(signal: NodeJS.Signals | number, reason: KillReason): void {
    for (const pid of this.jails.keys()) this.kill(pid, signal, reason);
  }

  /** Resolves once every tracked jail has been reaped and its exit logged and handled (after killAll). */
  async drain(): Promise<void> {
    while (this.jails.size || this.reporting.size) {
      this.reap();
      if (this.reporting.size) await Promise.all(this.reporting);
      else if (this.jails.size) await new Promise((r) => setTimeout(r, 5));
    }
  }

  remaining(): Array<{ pid: number; remote: string; runMs: number; timeLimit: number }> {
    const now = Date.now();
    return [...this.jails.values()].filter((j) => !j.spare).map((j) => ({ pid: j.pid, remote: j.remote, runMs: now - j.start, timeLimit: j.timeLimit }));
  }

  private timeLimitHit(pid: number): void {
    const j = this.jails.get(pid);
    if (!j) return;
    const ran = Math.floor((Date.now() - j.start) / 1000);
    log.info(`pid=${pid} run time >= time limit (${ran} >= ${j.timeLimit}) (${j.remote}). Killing it`);
    this.kill(pid, 'SIGCONT', 'time_limit');
    this.kill(pid, 'SIGKILL', 'time_limit');
  }

  private fatalSignal(name: FatalSignal): void {
    const n = FATAL_SIGNALS[name];
    if (this.fatal === undefined) this.fatal = n;
    log.info(`Server stops due to fatal signal (${n}) caught. Exiting`);
    this.killAll(this.forwardSignals ? name : 'SIGKILL', 'signal');
    for (const w of this.fatalWaiters.splice(0)) w(n);
  }

  private listJails(): void {
    log.info(`Total number of spawned namespaces: ${this.size}`);
    for (const j of this.remaining()) {
      const left = j.timeLimit ? String(Math.max(0, j.timeLimit - Math.floor(j.runMs / 1000))) : 'unlimited';
      log.info(`pid=${j.pid}, Remote host: ${j.remote}, Run time: ${Math.floor(j.runMs / 1000)} sec. (time left: ${left} s.)`);
    }
  }

  reap(): void {
    for (const j of [...this.jails.values()]) {
      let w: WaitResult | undefined;
      let error: JailError | undefined;
      try {
        w = sys.waitPid(j.pid);
      } catch (e) {
        error = waitFailure(e, j.pid);
      }
      if (!w && !error) continue;
      this.jails.delete(j.pid);
      j.timer?.clear();
      const status = w?.status ?? 0;
      const realSig = status & 0x7f;
      // A kill a feature made in another signal's name (a seccomp KILL of a pid namespace's PID 1) is reported as that one.
      const termSig = realSig && (this.exitSignal?.(j.pid) ?? realSig);
      const exited = !error && termSig === 0;
      const exitCode = exited ? (status >> 8) & 0xff : undefined;
      const signal = error || exited ? undefined : termSig;
      const info: ExitInfo = {
        pid: j.pid,
        remote: j.remote,
        exitCode,
        signal,
        code: error ? 255 : exited ? exitCode! : 128 + termSig,
        wallMs: Date.now() - j.start,
        rusage: w?.rusage ?? NO_RUSAGE,
        reason: error ? 'wait_failed' : j.reason,
        ...(error ? { error } : {}),
      };
      const left = this.size;
      if (j.spare) {
        this.onDiscard?.(j.pid);
        j.resolve(info);
        continue;
      }
      const finish = async (launched: boolean): Promise<void> => {
        const e: ExitInfo = launched ? info : { ...info, reason: 'setup_failed' };
        if (error) log.error(`pid=${j.pid} (${j.remote}): ${error.render()}, (PIDs left: ${left})`);
        else if (launched && exited) log.info(`pid=${j.pid} (${j.remote}) exited with status: ${exitCode}, (PIDs left: ${left})`);
        else if (launched) log.info(`pid=${j.pid} (${j.remote}) terminated with signal: ${signalName(termSig)} (${termSig}), (PIDs left: ${left})`);
        try {
          await this.onExit?.(e);
        } finally {
          j.resolve(e);
        }
      };
      // The error pipe may still be unread when the child is reaped: wait for the launch outcome.
      // drain() waits for this, so that no exit goes unlogged when tsjail stops.
      const done: Promise<void> = (j.executed ? j.executed.then(finish) : finish(true))
        .catch((err: unknown) => log.error(`pid=${j.pid}: handling its exit failed: ${(err as Error).message}`))
        .finally(() => this.reporting.delete(done));
      this.reporting.add(done);
    }
    if (this.jails.size === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }
}
