/**
 * One jail: build the plan, clone, run the parent-side setup, release the
 * child, and read its error pipe (EOF = execve succeeded). Reports name the
 * failing op through the describer.
 */
import { errnoName } from '../linux/errno.js';
import { JailError, errorText } from '../errors.js';
import { log } from '../log/logger.js';
import { newContext, type PlanContext } from '../phases/context.js';
import { describeOp } from '../plan/describe.js';
import { encodePlan } from '../plan/encode.js';
import type { ChildOp } from '../plan/ops.js';
import type { Anchors } from '../features/types.js';
import { buildChildProgram } from '../plan/program.js';
import { opArgOffset, REPORT, WIRE } from '../linux/wire.js';
import type { Prepared } from '../prepare.js';
import { sys } from './sys.js';

/** A failure between clone and release; the child (pid) was killed and reaped. Keeps the cause's call and errno. */
export class LaunchError extends JailError {
  constructor(
    cause: unknown,
    readonly pid?: number,
  ) {
    const c = cause instanceof JailError ? cause : undefined;
    super(c ? c.message : typeof cause === 'string' ? cause : errorText(cause), { call: c?.call, args: c?.args, errno: c?.errno, hint: c?.hint, stage: 'launch' });
    this.name = 'LaunchError';
  }
}

/** Parent-side steps between clone and release (cgroups, id maps, networking). */
export interface ParentSetup {
  /** Right before clone3() in this thread; afterClone always follows it, also when the clone fails. */
  beforeClone?: () => void;
  afterClone?: () => void;
  /** Runs before the id maps are written; may throw. */
  beforeRelease?: (pid: number) => void;
  /** Undo what beforeRelease did when the launch fails. */
  onFailure?: (pid: number) => void;
  /**
   * beforeRelease puts the child in a memory cgroup with a limit: it must not
   * share tsjail's memory. The memcg OOM killer kills every process using the
   * victim's memory, so a CLONE_VM child hitting the limit before execve
   * would take tsjail down with it.
   */
  privateMemory?: boolean;
}

export interface Launched {
  readonly pid: number;
  /** Resolves once the child exec'd (true) or failed before it (false; the error is logged). */
  readonly executed: Promise<boolean>;
  /** Why the launch failed, once `executed` resolved false. */
  failure?: string;
  /** The same, typed: the child's report, or the parent-side failure (the report pipe could not be read). */
  error?: JailError;
  /** The errno of that failure. */
  failureErrno?: number;
  /** A spare jail: release it, with its connection in listen mode, once; throws if it is gone. */
  handOff?: (connFd?: number) => void;
  /** A spare jail that will not get a connection: drop tsjail's end of its hand-off socket. */
  discard?: () => void;
}

interface Report {
  index: number;
  errno: number;
  ret: bigint;
  soft: boolean;
}

function parseReports(buf: Buffer): Report[] {
  const out: Report[] = [];
  const f = REPORT.fields;
  for (let at = 0; at + REPORT.size <= buf.length; at += REPORT.size) {
    out.push({ index: buf.readUInt32LE(at + f.op_index!.offset), errno: buf.readInt32LE(at + f.err!.offset), ret: buf.readBigInt64LE(at + f.ret!.offset), soft: buf.readUInt32LE(at + f.soft!.offset) !== 0 });
  }
  return out;
}

/** A child's report as a typed error: the op as a call, its errno and hint, its place in the plan. */
function childError(ops: readonly ChildOp[], r: Report): JailError {
  if (r.index === WIRE.BAD_PLAN_INDEX) {
    const where = r.ret >= 0n && ops[Number(r.ret)] ? `op ${Number(r.ret) + 1} (${ops[Number(r.ret)]!.kind}) has a slot or offset out of range` : 'its header or relocations are malformed';
    return new JailError(`plan rejected by the native runner: ${where}`, { errno: r.errno, stage: 'child' });
  }
  const op = ops[r.index];
  if (!op) {
    return r.index === ops.length
      ? new JailError('the plan ended without execve', { stage: 'child' })
      : new JailError(`the native runner reported op ${r.index}, which the plan does not have`, { errno: r.errno, stage: 'child' });
  }
  const call = describeOp(op);
  const exec = op.kind === 'execve' || op.kind === 'execveat';
  return new JailError(exec ? `${call} failed` : call, {
    call,
    errno: r.errno,
    hint: op.hints?.[errnoName(r.errno)],
    op: r.index,
    ops: ops.length,
    phase: op.phase,
    stage: 'child',
  });
}

/**
 * The plan differs between jails of one run only in four descriptor numbers,
 * so it is built and encoded once with stand-in values, whose places in the
 * blob are found once and patched per launch (listen mode launches a jail per
 * connection). Stand-ins are 64-bit patterns no real argument takes.
 */
const FD_ROLES = ['syncFd', 'syncParentFd', 'errFd', 'connFd', 'handoffFd', 'stdinFd', 'stdoutFd', 'stderrFd'] as const;
const standIn = (i: number) => 0x7473_6a00_0000n + BigInt(i);

interface Template {
  readonly anchors?: Anchors;
  readonly stdio: Stdio;
  readonly ops: readonly ChildOp[];
  readonly plan: Buffer;
  /** Byte offsets of each role's stand-in. */
  readonly at: ReadonlyArray<readonly number[]>;
}
const templates = new WeakMap<Prepared, Template[]>();

/**
 * Where the jail's stdio comes from: tsjail's, a connection known at clone, one handed over later, tsjail's in a spare
 * released later, three descriptors (the library API, a feature that relays the output), or those in a spare released later.
 */
type Stdio = 'inherit' | 'conn' | 'handoff' | 'go' | 'fds' | 'go+fds';

function planTemplate(p: Prepared, anchors: Anchors | undefined, stdio: Stdio): Template {
  const list = templates.get(p) ?? [];
  templates.set(p, list);
  const hit = list.find((t) => t.anchors === anchors && t.stdio === stdio);
  if (hit) return hit;
  const fd = (i: number) => Number(standIn(i));
  const ctx: PlanContext = newContext({
    syncFd: fd(0),
    syncParentFd: fd(1),
    errFd: fd(2),
    connFd: stdio === 'conn' ? fd(3) : undefined,
    handoffFd: stdio === 'handoff' || stdio === 'go' || stdio === 'go+fds' ? fd(4) : undefined,
    handoffConn: stdio === 'handoff',
    stdioFds: stdio === 'fds' || stdio === 'go+fds' ? [fd(5), fd(6), fd(7)] : undefined,
  });
  const ops = buildChildProgram(p, ctx, anchors);
  const plan = encodePlan(ops);
  // Descriptors are only ever integer arguments: look in the op records' argument words, never in
  // data (a src_content file could hold any bytes).
  const at: number[][] = FD_ROLES.map(() => []);
  const first = standIn(0);
  const last = standIn(FD_ROLES.length - 1);
  ops.forEach((o, k) =>
    o.args.forEach((a, j) => {
      if (a.t === 'int' && a.v >= first && a.v <= last) at[Number(a.v - first)]!.push(opArgOffset(k, j));
    }),
  );
  const t: Template = { anchors, stdio, ops, plan, at };
  list.push(t);
  if (log.enabled('DEBUG')) log.debug(`Child plan: ${ops.length} ops, ${plan.length} bytes`);
  return t;
}

export interface LaunchOptions {
  /** Listen mode: the accepted connection becomes fds 0-2. */
  readonly connFd?: number;
  /** A spare jail, released later with (or without) its connection. */
  readonly handoff?: 'conn' | 'go';
  /** The program's fds 0-2 (the library API, or a feature's pipes; with handoff 'go' too); the caller keeps and closes its own copies. */
  readonly stdioFds?: readonly [number, number, number];
  readonly anchors?: Anchors;
  readonly parent?: ParentSetup;
}

export function launchJail(p: Prepared, opts: LaunchOptions = {}): Launched {
  // Every descriptor opened here is closed on every failure path: a launch refused half-way
  // (EMFILE in a burst of connections) must leave nothing behind.
  const held = new Set<number>();
  const hold = (pair: [number, number]) => (pair.forEach((fd) => held.add(fd)), pair);
  const close = (...fds: number[]) => fds.forEach((fd) => held.delete(fd) && sys.close(fd));
  let syncR = -1, syncW = -1, errR = -1, errW = -1, handParent = -1, handChild = -1;
  let ops: readonly ChildOp[];
  let pid: number;
  let region: bigint | undefined;
  let unpin: (() => void) | undefined;
  try {
    [syncR, syncW] = hold(sys.pipeCloexec());
    [errR, errW] = hold(sys.pipeCloexec());
    if (opts.handoff) [handParent, handChild] = hold(sys.seqpacketPair());
    const stdio: Stdio = opts.handoff === 'conn' ? 'handoff' : opts.handoff === 'go' ? (opts.stdioFds ? 'go+fds' : 'go') : opts.connFd !== undefined ? 'conn' : opts.stdioFds ? 'fds' : 'inherit';
    const t = planTemplate(p, opts.anchors, stdio);
    ops = t.ops;
    // tsj_spawn copies the blob before clone: patching the shared template in place is safe.
    [syncR, syncW, errW, opts.connFd ?? -1, handChild, ...(opts.stdioFds ?? [-1, -1, -1])].forEach((v, i) => t.at[i]!.forEach((o) => (t.plan.writeInt32LE(v, o), t.plan.writeInt32LE(v < 0 ? -1 : 0, o + 4))));
    opts.parent?.beforeClone?.();
    try {
      // Fresh clones of the pinned bind sources, at the descriptors the plan names (phases/pins.ts).
      unpin = p.pins?.arm();
      // Share memory until execve (no page tables to copy) unless --init forks a reaper that
      // lives on in the child, or the child is charged to a memory cgroup that may OOM-kill it.
      ({ pid, region } = sys.spawnPlan(t.plan, p.cloneFlags, errW, !p.cfg.init && !opts.parent?.privateMemory));
    } finally {
      unpin?.();
      opts.parent?.afterClone?.();
    }
  } catch (e) {
    close(...held);
    throw e;
  }
  close(syncR, errW, handChild);
  try {
    opts.parent?.beforeRelease?.(pid);
    sys.setupUser(p, pid);
    sys.write(syncW, 'G');
  } catch (e) {
    sys.kill(pid, 'SIGKILL');
    sys.reapKilled(pid);
    if (region !== undefined) sys.releasePlan(region);
    opts.parent?.onFailure?.(pid);
    close(...held);
    throw new LaunchError(e, pid);
  }
  close(syncW);
  // The reader owns the error pipe from here.
  held.delete(errR);
  let handOpen = handParent >= 0;
  const closeHand = () => {
    if (handOpen) close(handParent);
    handOpen = false;
  };
  const launched: Launched = {
    pid,
    executed: sys.readToEnd(errR, `report pipe of pid=${pid}`, handOpen).then(
      function childReports(buf) {
        // EOF: the child exec'd or died, so it no longer uses its plan memory.
        if (region !== undefined) sys.releasePlan(region);
        closeHand();
        for (const r of parseReports(buf)) {
          const err = childError(ops, r);
          if (r.soft) log.warn(err.render(), err.fields());
          else {
            launched.error = err;
            launched.failure = err.render();
            launched.failureErrno = r.errno;
            log.error(launched.failure, err.fields());
          }
        }
        return launched.failure === undefined;
      },
      function reportLost(e: unknown) {
        // Whether the child exec'd is unknown: it must not run on as if it had, nor count as the program.
        launched.error = e instanceof JailError ? e : new JailError(errorText(e), { stage: 'launch' });
        launched.failure = `${launched.error.render()}: the launch outcome is unknown, the jail is killed`;
        log.error(launched.failure);
        try {
          sys.kill(pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
        // The child may still run on its plan memory (it is killed, not yet reaped): the region stays mapped.
        closeHand();
        return false;
      },
    ),
  };
  if (handOpen) {
    launched.handOff = (connFd) => {
      if (!handOpen) throw new LaunchError(`the spare jail pid=${pid} is gone`, pid);
      try {
        sys.sendFd(handParent, connFd ?? -1);
      } finally {
        closeHand();
      }
    };
    launched.discard = closeHand;
  }
  return launched;
}
