/**
 * Execute: host facts, prepare (the base and every feature's step), log the
 * parameters, then run the mode under a supervisor. Loaded only once parsing
 * and validation passed. Modes reach features only through ActiveFeatures.
 */
import { prepareFeatures } from './features/active.js';
import type { RunContext } from './modes/context.js';
import { FEATURES } from './features/table.js';
import type { Feature } from './features/types.js';
import { readHostFacts } from './host.js';
import { log } from './log/logger.js';
import { logParams } from './log/params.js';
import { runOnce } from './modes/once.js';
import { prepare, type Prepared } from './prepare.js';
import { deliverPendingSignals, FATAL_SIGNALS, takeEarlySignal } from './proc/early-signals.js';
import { Supervisor } from './proc/supervisor.js';
import type { JailSpec, Mode } from './spec.js';

/** The modes that run under a supervisor (-Me replaces tsjail instead). */
const SUPERVISED: Record<Exclude<Mode, 'STANDALONE_EXECVE'>, (ctx: RunContext) => Promise<number>> = {
  STANDALONE_ONCE: runOnce,
  STANDALONE_RERUN: async (ctx) => (await import('./modes/rerun.js')).runRerun(ctx),
  LISTEN_TCP: async (ctx) => (await import('./modes/listen.js')).runListen(ctx),
};

export interface ExecuteOptions {
  /** Features added after the built-in table (the library API's extension point; tests use it too). */
  readonly features?: readonly Feature[];
}

export async function execute(spec: JailSpec, opts: ExecuteOptions = {}): Promise<number> {
  const host = readHostFacts();
  // The detached copy of --daemon drops its marker before the jail's environment is built.
  const daemon = spec.cfg.daemon ? await import('./modes/daemon.js') : undefined;
  const detached = daemon?.takeDaemonMarker() ?? false;
  // Prepare in one place: the base, then every feature's step (filters compiled, files checked), before anything is logged or cloned.
  const base = prepare(spec, host);
  // Bind sources opened once for the whole run (phases/pins.ts), before --daemon detaches.
  const pins = base.cfg.clone_newns && !detached ? (await import('./phases/pins.js')).pinBindSources(base.mounts) : undefined;
  const p: Prepared = { ...base, pins };
  const features = await prepareFeatures(p, opts.features ? [...FEATURES, ...opts.features] : FEATURES);
  if (!detached) logParams(p);
  await deliverPendingSignals();
  if ((daemon && !detached) || p.cfg.mode === 'STANDALONE_EXECVE') {
    // No supervisor to take over a fatal signal that came during start-up: stop here instead.
    const early = takeEarlySignal();
    if (early !== undefined) {
      features.dispose();
      log.info(`Server stops due to fatal signal (${FATAL_SIGNALS[early]}) caught. Exiting`);
      return 128 + FATAL_SIGNALS[early];
    }
  }
  if (daemon && !detached) {
    // The detached copy prepares again; this one only proved that it can.
    features.dispose();
    return daemon.daemonize(p);
  }
  if (p.cfg.mode === 'STANDALONE_EXECVE') return (await import('./modes/execve.js')).runExecve(p, features);
  const sup = new Supervisor(p.cfg.forward_signals);
  sup.onDiscard = (pid) => features.parent.onFailure?.(pid);
  sup.onExit = (e) => features.onExit(e);
  sup.exitSignal = (pid) => features.exitSignal(pid);
  sup.start();
  const ctx: RunContext = { p, sup, features };
  try {
    return await SUPERVISED[p.cfg.mode](ctx);
  } finally {
    sup.killAll('SIGKILL', 'signal');
    await sup.drain();
    sup.stop();
    features.dispose();
  }
}
