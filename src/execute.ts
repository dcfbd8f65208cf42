/**
 * Execute: host facts, prepare, log the parameters, then run the mode under
 * a supervisor. Loaded only once parsing and validation passed.
 *
 * Features that act around each jail (cgroups, Landlock, the status channel)
 * plug in through JailHooks, so modes need not know them.
 */
import { readHostFacts } from './host.js';
import { log } from './log/logger.js';
import { logParams } from './log/params.js';
import { runOnce } from './modes/once.js';
import type { PlanExtras } from './plan/program.js';
import { prepare, type Prepared } from './prepare.js';
import { deliverPendingSignals, FATAL_SIGNALS, takeEarlySignal } from './proc/early-signals.js';
import type { ParentSetup } from './proc/spawn.js';
import { Supervisor, type ExitInfo } from './proc/supervisor.js';
import type { JailSpec, Mode } from './spec.js';
import { wantsCgroups, wantsLandlock } from './validate.js';

export interface JailHooks {
  /** Ops a feature inserts into every child plan. */
  extras: PlanExtras;
  /** Parent-side steps between clone and release. */
  parent: ParentSetup;
  /** After each jail is reaped (accounting, clean-up); awaited before the mode sees the exit. */
  onExit: Array<(e: ExitInfo) => void | Promise<void>>;
  /** At the end of the run, whatever the exit path. */
  dispose: Array<() => void>;
  /** Right after clone, with the jail's pid and peer (the status channel). */
  onStart: Array<(pid: number, remote: string) => void>;
  /** A launch that failed before execve, with the reason; pid when the clone happened. */
  onSetupFailed: Array<(error: string, pid: number | undefined, remote: string) => void>;
}

export interface RunContext {
  readonly p: Prepared;
  readonly sup: Supervisor;
  readonly hooks: JailHooks;
}

/** Feature set-up: each returns the hooks it needs; none is loaded unless asked for. */
async function buildHooks(p: Prepared): Promise<JailHooks> {
  const hooks: JailHooks = { extras: {}, parent: {}, onExit: [], dispose: [], onStart: [], onSetupFailed: [] };
  // Accounting first among the exit hooks: the cgroup's figures are read before it is removed, and others read them.
  if (wantsCgroups(p.cfg)) {
    const cg = (await import('./cgroup/index.js')).setupCgroupsFromParent(p);
    hooks.parent = cg.parent;
    hooks.onExit.unshift(cg.onExit);
    hooks.dispose.push(cg.dispose);
  } else hooks.onExit.unshift((await import('./cgroup/accounting.js')).accountingHook());
  if (p.cfg.ext.status_fd !== undefined || p.cfg.ext.status_file !== undefined) {
    const { StatusChannel } = await import('./status.js');
    const status = new StatusChannel(p.cfg.ext);
    hooks.onStart.push((pid, remote) => status.start(pid, remote));
    hooks.onSetupFailed.push((error, pid, remote) => status.setupFailed(error, pid, remote));
    hooks.onExit.push((e) => status.exit(e));
    hooks.dispose.push(() => status.close());
  }
  if (p.seccomp) {
    const { seccompViolationHook } = await import('./phases/seccomp-report.js');
    hooks.onExit.push(seccompViolationHook());
  }
  if (wantsLandlock(p.cfg)) {
    hooks.extras.landlock = (await import('./landlock/index.js')).landlockHooks(p);
  }
  return hooks;
}

/** Kafel policies, lists and presets, compiled once in the parent before any clone. */
async function compileFilter(spec: JailSpec): Promise<Uint8Array | undefined> {
  const { cfg } = spec;
  const e = cfg.ext;
  if (!cfg.seccomp_string.length && cfg.seccomp_policy_file === undefined && !e.syscall_allow.length && !e.syscall_deny.length && !e.seccomp_preset.length) {
    return undefined;
  }
  const { compileSeccomp, SeccompCompileError } = await import('./seccomp/index.js');
  try {
    const f = compileSeccomp({ policies: cfg.seccomp_string, policyFile: cfg.seccomp_policy_file, allow: e.syscall_allow, deny: e.syscall_deny, presets: e.seccomp_preset });
    if (f) log.debug(`Seccomp filter: ${f.length} BPF instructions`);
    return f?.program;
  } catch (err) {
    if (err instanceof SeccompCompileError) throw new Error(`Could not compile policy: ${err.message}`);
    throw err;
  }
}

/** The modes that run under a supervisor (-Me replaces tsjail instead). */
const SUPERVISED: Record<Exclude<Mode, 'STANDALONE_EXECVE'>, (ctx: RunContext) => Promise<number>> = {
  STANDALONE_ONCE: runOnce,
  STANDALONE_RERUN: async (ctx) => (await import('./modes/rerun.js')).runRerun(ctx),
  LISTEN_TCP: async (ctx) => (await import('./modes/listen.js')).runListen(ctx),
};

export async function execute(spec: JailSpec): Promise<number> {
  const host = readHostFacts();
  // The detached copy of --daemon drops its marker before the jail's environment is built.
  const daemon = spec.cfg.daemon ? await import('./modes/daemon.js') : undefined;
  const detached = daemon?.takeDaemonMarker() ?? false;
  const p: Prepared = { ...prepare(spec, host), seccomp: await compileFilter(spec) };
  if (!detached) logParams(p);
  await deliverPendingSignals();
  if ((daemon && !detached) || p.cfg.mode === 'STANDALONE_EXECVE') {
    // No supervisor to take over a fatal signal that came during start-up: stop here instead.
    const early = takeEarlySignal();
    if (early !== undefined) {
      log.info(`Server stops due to fatal signal (${FATAL_SIGNALS[early]}) caught. Exiting`);
      return 128 + FATAL_SIGNALS[early];
    }
  }
  if (daemon && !detached) return daemon.daemonize(p);
  const hooks = await buildHooks(p);
  if (p.cfg.mode === 'STANDALONE_EXECVE') return (await import('./modes/execve.js')).runExecve(p, hooks);
  const sup = new Supervisor(p.cfg.forward_signals);
  sup.onDiscard = (pid) => hooks.parent.onFailure?.(pid);
  sup.onExit = (e) => {
    const pending = hooks.onExit.map((f) => f(e)).filter((r): r is Promise<void> => r instanceof Promise);
    return pending.length ? Promise.all(pending).then(() => undefined) : undefined;
  };
  sup.start();
  const ctx: RunContext = { p, sup, hooks };
  try {
    return await SUPERVISED[p.cfg.mode](ctx);
  } finally {
    sup.killAll('SIGKILL', 'signal');
    await sup.drain();
    sup.stop();
    for (const d of hooks.dispose) d();
  }
}
