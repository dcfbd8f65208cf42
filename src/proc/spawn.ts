/**
 * One jail: build the plan, clone, run the parent-side setup, release the
 * child, and read its error pipe (EOF = execve succeeded). Reports name the
 * failing op through the describer.
 */
import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { JailError } from '../errors.js';
import { errnoName } from '../linux/errno.js';
import { pipeCloexec, reapKilled, releasePlan, seqpacketPair, sendFd, spawnPlan } from '../linux/libc.js';
import { log } from '../log/logger.js';
import { newContext, type PlanContext } from '../phases/context.js';
import { setupUserFromParent } from '../phases/user.js';
import { describeOp } from '../plan/describe.js';
import { encodePlan } from '../plan/encode.js';
import type { ChildOp } from '../plan/ops.js';
import type { Anchors } from '../features/types.js';
import { buildChildProgram } from '../plan/program.js';
import { opArgOffset, REPORT, WIRE } from '../linux/wire.js';
import type { Prepared } from '../prepare.js';

/** A failure between clone and release; the child (pid) was killed and still needs reaping. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly pid?: number,
  ) {
    super(message);
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
  /** Why the launch failed, once `executed` resolved false: as a line, and typed. */
  failure?: string;
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

function readAll(fd: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = new Socket({ fd, readable: true, writable: false });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => resolve(Buffer.concat(chunks)));
    s.on('close', () => resolve(Buffer.concat(chunks)));
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

/** Where the jail's stdio comes from: tsjail's, a connection known at clone, one handed over later, tsjail's in a spare released later, or three descriptors (the library API). */
type Stdio = 'inherit' | 'conn' | 'handoff' | 'go' | 'fds';

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
    handoffFd: stdio === 'handoff' || stdio === 'go' ? fd(4) : undefined,
    handoffConn: stdio === 'handoff',
    stdioFds: stdio === 'fds' ? [fd(5), fd(6), fd(7)] : undefined,
  });
  const ops = buildChildProgram(p, ctx, anchors);
  const plan = encodePlan(ops);
  // Descriptors are only ever integer arguments: look in the op records' argument words, never in
  // data (a src_content file could hold any bytes).
  const at = FD_ROLES.map((_, i) => {
    const offs: number[] = [];
    ops.forEach((o, k) =>
      o.args.forEach((a, j) => {
        if (a.t === 'int' && a.v === standIn(i)) offs.push(opArgOffset(k, j));
      }),
    );
    return offs;
  });
  const t: Template = { anchors, stdio, ops, plan, at };
  list.push(t);
  if (log.enabled('DEBUG')) log.debug(`Child plan: ${ops.length} ops, ${plan.length} bytes`);
  return t;
}

/**
 * The descriptors a launch holds until each is handed on or closed. Every
 * failure path closes what is left: a launch refused with EMFILE must not
 * leak, or the next launches fail too and the listener stops serving.
 */
class Held {
  private readonly fds = new Set<number>();
  add<T extends number[]>(fds: T): T {
    for (const fd of fds) if (fd >= 0) this.fds.add(fd);
    return fds;
  }
  /** Close these if still held (each once). */
  close(...fds: number[]): void {
    for (const fd of fds) if (this.fds.delete(fd)) closeSync(fd);
  }
  /** No longer ours to close (a Socket owns it now). */
  release(fd: number): void {
    this.fds.delete(fd);
  }
  closeAll(): void {
    this.close(...this.fds);
  }
}

function launchFds(held: Held, handoff: boolean) {
  const [syncR, syncW] = held.add(pipeCloexec());
  const [errR, errW] = held.add(pipeCloexec());
  const [handParent, handChild] = handoff ? held.add(seqpacketPair()) : [-1, -1];
  return { syncR, syncW, errR, errW, handParent, handChild };
}

export interface LaunchOptions {
  /** Listen mode: the accepted connection becomes fds 0-2. */
  readonly connFd?: number;
  /** A spare jail, released later with (or without) its connection. */
  readonly handoff?: 'conn' | 'go';
  /** The program's fds 0-2 (the library API); the caller keeps and closes its own copies. */
  readonly stdioFds?: readonly [number, number, number];
  readonly anchors?: Anchors;
  readonly parent?: ParentSetup;
}

export function launchJail(p: Prepared, opts: LaunchOptions = {}): Launched {
  const held = new Held();
  let fds: ReturnType<typeof launchFds>;
  let ops: readonly ChildOp[];
  let pid: number;
  let region: bigint | undefined;
  let unpin: (() => void) | undefined;
  try {
    fds = launchFds(held, opts.handoff !== undefined);
    const stdio: Stdio = opts.handoff === 'conn' ? 'handoff' : opts.handoff === 'go' ? 'go' : opts.connFd !== undefined ? 'conn' : opts.stdioFds ? 'fds' : 'inherit';
    const t = planTemplate(p, opts.anchors, stdio);
    ops = t.ops;
    // tsj_spawn copies the blob before clone: patching the shared template in place is safe.
    [fds.syncR, fds.syncW, fds.errW, opts.connFd ?? -1, fds.handChild, ...(opts.stdioFds ?? [-1, -1, -1])].forEach((v, i) => t.at[i]!.forEach((o) => t.plan.writeBigInt64LE(BigInt(v), o)));
    opts.parent?.beforeClone?.();
    try {
      // Fresh clones of the pinned bind sources, at the descriptors the plan names (phases/pins.ts).
      unpin = p.pins?.arm();
      // Share memory until execve (no page tables to copy) unless --init forks a reaper that
      // lives on in the child, or the child is charged to a memory cgroup that may OOM-kill it.
      ({ pid, region } = spawnPlan(t.plan, p.cloneFlags, fds.errW, !p.cfg.init && !opts.parent?.privateMemory));
    } finally {
      unpin?.();
      opts.parent?.afterClone?.();
    }
  } catch (e) {
    held.closeAll();
    throw e;
  }
  const { syncR, syncW, errR, errW, handParent, handChild } = fds;
  held.close(syncR, errW, handChild);
  const abort = (e: unknown): never => {
    process.kill(pid, 'SIGKILL');
    reapKilled(pid);
    if (region !== undefined) releasePlan(region);
    opts.parent?.onFailure?.(pid);
    held.closeAll();
    throw new LaunchError((e as Error).message, pid);
  };
  try {
    opts.parent?.beforeRelease?.(pid);
    setupUserFromParent(p, pid);
    writeSync(syncW, 'G');
  } catch (e) {
    abort(e);
  }
  held.close(syncW);
  let reports: Promise<Buffer>;
  try {
    reports = readAll(errR);
    held.release(errR);
  } catch (e) {
    abort(e);
  }
  let handOpen = handParent >= 0;
  const closeHand = () => {
    held.close(handParent);
    handOpen = false;
  };
  const launched: Launched = {
    pid,
    executed: reports!.then(function childReports(buf) {
      // EOF: the child exec'd or died, so it no longer uses its plan memory.
      if (region !== undefined) releasePlan(region);
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
    }),
  };
  if (handOpen) {
    launched.handOff = (connFd) => {
      if (!handOpen) throw new LaunchError(`the spare jail pid=${pid} is gone`, pid);
      try {
        sendFd(handParent, connFd ?? -1);
      } finally {
        closeHand();
      }
    };
    launched.discard = closeHand;
  }
  return launched;
}
