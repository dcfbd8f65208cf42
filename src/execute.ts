/**
 * Execute: host facts, prepare, log the parameters, then run the mode under
 * a supervisor. Loaded only once parsing and validation passed.
 *
 * Features that act around each jail (cgroups, Landlock, the status channel)
 * plug in through JailHooks, so modes need not know them.
 */
import { readHostFacts } from './host.js';
import { logParams } from './log/params.js';
import { runOnce } from './modes/once.js';
import type { PlanExtras } from './plan/program.js';
import { prepare, type Prepared } from './prepare.js';
import type { ParentSetup } from './proc/spawn.js';
import { Supervisor, type ExitInfo } from './proc/supervisor.js';
import type { JailSpec } from './spec.js';

export interface JailHooks {
  /** Ops a feature inserts into every child plan. */
  extras: PlanExtras;
  /** Parent-side steps between clone and release. */
  parent: ParentSetup;
  /** After each jail is reaped (accounting, clean-up). */
  onExit: Array<(e: ExitInfo) => void>;
  /** At the end of the run, whatever the exit path. */
  dispose: Array<() => void>;
}

export interface RunContext {
  readonly p: Prepared;
  readonly sup: Supervisor;
  readonly hooks: JailHooks;
}

/** Feature set-up: each returns the hooks it needs; none is loaded unless asked for. */
async function buildHooks(p: Prepared): Promise<JailHooks> {
  const hooks: JailHooks = { extras: {}, parent: {}, onExit: [], dispose: [] };
  void p;
  return hooks;
}

export async function execute(spec: JailSpec): Promise<number> {
  const host = readHostFacts();
  const p = prepare(spec, host);
  logParams(p);
  const sup = new Supervisor(p.cfg.forward_signals);
  const hooks = await buildHooks(p);
  sup.onExit = (e) => hooks.onExit.forEach((f) => f(e));
  sup.start();
  const ctx: RunContext = { p, sup, hooks };
  try {
    switch (p.cfg.mode) {
      case 'STANDALONE_ONCE':
        return await runOnce(ctx);
      default:
        throw new Error(`mode ${p.cfg.mode} is not supported yet`);
    }
  } finally {
    sup.killAll('SIGKILL', 'signal');
    await sup.drain();
    sup.stop();
    for (const d of hooks.dispose) d();
  }
}
