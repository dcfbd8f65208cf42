/**
 * A feature is one optional capability of a jail (cgroups, Landlock, the
 * seccomp filter, the status channel, …). It declares whether a spec asks for
 * it and prepares itself once per run; what it returns says where it acts:
 * ops at named anchors of the child's plan, parent-side steps between clone
 * and release, and hooks at start, exit and the end of the run. Execute and the
 * modes only iterate the active features (src/features/active.ts); they never
 * name one.
 */
import type { PlanContext } from '../phases/context.js';
import type { ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import type { Socket } from 'node:net';
import type { ExitInfo, KillReason } from '../proc/supervisor.js';
import type { JailSpec } from '../spec.js';

/**
 * Named points of buildChildProgram() where features add ops; each anchor's
 * place and reason is given there. Several features at one anchor run in
 * table order.
 */
export const ANCHORS = ['net', 'root_final', 'filter'] as const;
export type Anchor = (typeof ANCHORS)[number];

export type PlanStep = (p: Prepared, ctx: PlanContext) => ChildOp[];
export type Anchors = Partial<Record<Anchor, readonly PlanStep[]>>;

/** What the supervised modes let a feature do to a jail it is told has started. */
export interface JailControl {
  /** Listen mode, when a feature supplies the jail's stdio: the client's connection, which the feature then owns and closes. */
  readonly conn?: Socket;
  /** SIGKILL the jail, recording why (the status channel's reason and verdict). */
  kill(reason: KillReason): void;
  /** Resolves when tsjail is told to stop (its fatal signal): a feature waiting on a jail's behalf gives up then. */
  readonly stopping: Promise<unknown>;
}

/** Descriptors one launch's fds 0-2 come from, supplied by a feature (its pipes). */
export interface LaunchStdio {
  readonly child: readonly [number, number, number];
  /** The clone happened (pid) or the launch failed (undefined): tsjail's copies of `child` can go. */
  launched(pid: number | undefined): void;
}

/** Events of a supervised mode (not of one jail), for features that report on the run as a whole. */
export type RunEvent =
  /** The run serves: listen mode is listening, re-run mode's first jail runs. */
  | { readonly kind: 'ready' }
  /** Listen mode: a connection got a jail, or was turned away (by a limit, naming it, or by the proof-of-work gate). */
  | { readonly kind: 'connection'; readonly result: 'accepted' | 'rejected_limit' | 'pow_failed'; readonly limit?: 'max_conns' | 'max_conns_per_ip' }
  /** Listen mode: how a proof-of-work challenge ended, and how long the client took. */
  | { readonly kind: 'pow'; readonly outcome: 'correct' | 'wrong' | 'eof' | 'timeout' | 'bypass'; readonly seconds: number };

/** A connection listen mode holds back until every feature's gate has admitted it. */
export interface GatedConnection {
  readonly socket: Socket;
  readonly fd: number;
  /** The peer, as log lines name it. */
  readonly remote: string;
  /** True once the run is stopping: a gate then leaves the socket undecided. */
  stopped(): boolean;
  /** Raises a run event for every feature (the gate's outcome, for metrics). */
  event(e: RunEvent): void;
}

/** What a feature does for one run, once prepared. Every member is optional. */
export interface FeatureRun {
  /** Ops this feature adds to every child plan, by anchor. */
  readonly ops?: Partial<Record<Anchor, PlanStep>>;
  /**
   * Right before clone3(), in the thread that clones (e.g. to clone into another namespace); may throw.
   * afterClone runs right after, also when the clone failed, whenever beforeClone succeeded.
   */
  beforeClone?(): void;
  afterClone?(): void;
  /** Between clone and release, before the id maps are written; may throw (the launch then fails). */
  beforeRelease?(pid: number): void;
  /**
   * Undoes beforeRelease when a launch fails or a spare jail is discarded.
   * Called for every feature, also when its own beforeRelease did not run or
   * threw, so it must tolerate a pid it knows nothing of.
   */
  undoRelease?(pid: number): void;
  /**
   * beforeRelease charges the child to a memory cgroup with a limit: it must not
   * share tsjail's memory until execve, or that cgroup's OOM killer would take
   * tsjail down with it (every process using the victim's memory is killed).
   */
  readonly privateMemory?: boolean;
  /**
   * Per launch (spares too), before clone: the jail's fds 0-2 are this feature's descriptors instead of tsjail's
   * stdio or the connection. At most one feature of a run has it.
   */
  stdio?(): LaunchStdio;
  /** Right after clone (for a spare: when it gets its connection), with the peer; the supervised modes give control. */
  onStart?(pid: number, remote: string, ctl?: JailControl): void;
  /**
   * Listen mode: a check each connection passes before it gets a jail (the proof-of-work gate).
   * Resolves true to admit it; false when the gate turned it away (answered, closed, its events
   * raised); undefined when the run stopped meanwhile or the check failed (the mode closes it).
   */
  admit?(c: GatedConnection): Promise<boolean | undefined>;
  /** A supervised mode's events (readiness, connections, proof-of-work). */
  onRunEvent?(e: RunEvent): void;
  /** A launch that failed before execve, with the reason; pid when the clone happened. */
  onSetupFailed?(error: string, pid: number | undefined, remote: string): void;
  /** After each jail is reaped, awaited before the mode sees the exit; runs in table order. */
  onExit?(e: ExitInfo): void | Promise<void>;
  /**
   * The signal a jail killed by tsjail is to be reported as (its exit line, status and code): a
   * seccomp kill of a pid namespace's PID 1 has to be a SIGKILL but stands for SIGSYS.
   */
  exitSignal?(pid: number): number | undefined;
  /** An event another feature raised during a run (a seccomp violation), e.g. for the status channel. */
  onEvent?(e: JailEvent): void;
  /** At the end of the run, whatever the exit path. */
  dispose?(): void;
}

/** One record of what happened in a jail: `event` names it, the rest is the status channel's JSON fields. */
export type JailEvent = { readonly event: string } & Readonly<Record<string, unknown>>;

/**
 * Decisions a feature adds to the seccomp notification supervisor, which the
 * seccomp feature (later in the table) installs: there is one listener per
 * jail, so every such feature shares its filter and worker.
 */
export interface NotifyContributions {
  /** Go module confinement: the calls to notify and the worker's tables. */
  go?: { readonly init: import('../notify/protocol.js').GoInit; readonly rules: readonly import('../seccomp/model.js').Rule[] };
}

/** What a feature's prepare step gets besides the prepared run. */
export interface FeatureContext {
  /** Hands an event to every feature's onEvent, in table order. */
  emit(e: JailEvent): void;
  /** Filled by features before the seccomp feature reads it (absent outside the feature table: learn). */
  readonly notify?: NotifyContributions;
}

export interface Feature {
  readonly name: string;
  /** Does this spec ask for the feature? Pure: it reads the spec only. */
  applies(spec: JailSpec): boolean;
  /** Once per run, after the base prepare and before any clone; may throw to stop the run. */
  prepare(p: Prepared, ctx: FeatureContext): FeatureRun | Promise<FeatureRun>;
}
