/**
 * The features a run uses, prepared: what execute and the modes call. Each
 * call fans out over the features in table order.
 */
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import type { ParentSetup } from '../proc/spawn.js';
import type { ExitInfo } from '../proc/supervisor.js';
import type { JailSpec } from '../spec.js';
import { FEATURES } from './table.js';
import { ANCHORS, type Anchors, type Feature, type FeatureContext, type FeatureRun, type GatedConnection, type JailControl, type LaunchStdio, type PlanStep, type RunEvent } from './types.js';

export class ActiveFeatures {
  /** Ops for buildChildProgram(), by anchor, in table order. */
  readonly anchors: Anchors;
  /** The parent-side steps of every feature, as one step for launchJail(). */
  readonly parent: ParentSetup;

  constructor(readonly runs: ReadonlyArray<FeatureRun & { readonly name: string }>) {
    const anchors: Partial<Record<(typeof ANCHORS)[number], PlanStep[]>> = {};
    for (const a of ANCHORS) {
      const steps = runs.flatMap((r) => (r.ops?.[a] ? [r.ops[a]] : []));
      if (steps.length) anchors[a] = steps;
    }
    this.anchors = anchors;
    const cloners = runs.filter((r) => r.beforeClone || r.afterClone);
    this.parent = {
      ...(cloners.length
        ? {
            beforeClone: () => cloners.forEach((r) => r.beforeClone?.()),
            afterClone: () => [...cloners].reverse().forEach((r) => r.afterClone?.()),
          }
        : {}),
      beforeRelease: (pid) => runs.forEach((r) => r.beforeRelease?.(pid)),
      privateMemory: runs.some((r) => r.privateMemory),
      // Undo in reverse, every feature (each tolerates a pid it did not set up), and never stop half-way.
      onFailure: (pid) =>
        [...runs].reverse().forEach((r) => {
          try {
            r.undoRelease?.(pid);
          } catch (e) {
            log.warn(`${r.name}: undoing its set-up of pid=${pid}: ${(e as Error).message}`);
          }
        }),
    };
  }

  /** Does a feature supply the jails' fds 0-2 (then listen mode hands it the connection instead of the jail)? */
  get ownsStdio(): boolean {
    return this.runs.some((r) => r.stdio);
  }

  /** One launch's fds 0-2 from the feature that supplies them, if any. */
  openStdio(): LaunchStdio | undefined {
    return this.runs.find((r) => r.stdio)?.stdio!();
  }

  /** Does a feature hold connections back until it admits them (listen mode)? */
  get gated(): boolean {
    return this.runs.some((r) => r.admit);
  }

  /** Every gate in table order; the first that does not admit decides. */
  async admit(c: GatedConnection): Promise<boolean | undefined> {
    for (const r of this.runs) {
      if (!r.admit) continue;
      const ok = await r.admit(c);
      if (ok !== true) return ok;
    }
    return true;
  }

  onStart(pid: number, remote: string, ctl?: JailControl): void {
    for (const r of this.runs) r.onStart?.(pid, remote, ctl);
  }

  onRunEvent(e: RunEvent): void {
    for (const r of this.runs) r.onRunEvent?.(e);
  }

  onSetupFailed(error: string, pid: number | undefined, remote: string): void {
    for (const r of this.runs) r.onSetupFailed?.(error, pid, remote);
  }

  /** Exit hooks in table order; each awaited before the next, so later ones see earlier ones' results. */
  onExit(e: ExitInfo): void | Promise<void> {
    let chain: Promise<void> | undefined;
    for (const r of this.runs) {
      if (!r.onExit) continue;
      if (chain) chain = chain.then(() => r.onExit!(e));
      else {
        const out = r.onExit(e);
        if (out instanceof Promise) chain = out;
      }
    }
    return chain;
  }

  exitSignal(pid: number): number | undefined {
    for (const r of this.runs) {
      const s = r.exitSignal?.(pid);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  dispose(): void {
    for (const r of this.runs) {
      try {
        r.dispose?.();
      } catch (e) {
        log.warn(`${r.name}: clean-up failed: ${(e as Error).message}`);
      }
    }
  }
}

/** The prepare steps of every feature the spec asks for, in table order (the table is an argument for tests). */
export async function prepareFeatures(p: Prepared, table: readonly Feature[] = FEATURES): Promise<ActiveFeatures> {
  const runs: Array<FeatureRun & { name: string }> = [];
  const spec: JailSpec = p.spec;
  const ctx: FeatureContext = {
    notify: {},
    emit: (e) => {
      for (const r of runs) {
        try {
          r.onEvent?.(e);
        } catch (err) {
          log.warn(`${r.name}: handling a ${e.event} event: ${(err as Error).message}`);
        }
      }
    },
  };
  try {
    for (const f of table) if (f.applies(spec)) runs.push({ name: f.name, ...(await f.prepare(p, ctx)) });
    const stdio = runs.filter((r) => r.stdio).map((r) => r.name);
    if (stdio.length > 1) throw new Error(`features ${stdio.join(' and ')} both supply the jail's stdio: only one can`);
  } catch (e) {
    // A later feature failed: what the earlier ones set up for the run goes.
    new ActiveFeatures(runs).dispose();
    throw e;
  }
  return new ActiveFeatures(runs);
}
