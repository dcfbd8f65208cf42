/**
 * One jail: build the plan, clone, run the parent-side setup, release the
 * child, and read its error pipe (EOF = execve succeeded). Reports name the
 * failing op through the describer.
 */
import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { errnoName } from '../linux/errno.js';
import { pipeCloexec, reapKilled, releasePlan, seqpacketPair, sendFd, spawnPlan } from '../linux/libc.js';
import { log } from '../log/logger.js';
import { newContext, type PlanContext } from '../phases/context.js';
import { setupUserFromParent } from '../phases/user.js';
import { describeFailure } from '../plan/describe.js';
import { encodePlan, OP_SIZE, OPS_OFF } from '../plan/encode.js';
import type { ChildOp } from '../plan/ops.js';
import { buildChildProgram, type PlanExtras } from '../plan/program.js';
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
  soft: boolean;
}

function parseReports(buf: Buffer): Report[] {
  const out: Report[] = [];
  for (let at = 0; at + 24 <= buf.length; at += 24) {
    out.push({ index: buf.readUInt32LE(at), errno: buf.readInt32LE(at + 4), soft: buf.readUInt32LE(at + 16) !== 0 });
  }
  return out;
}

function describeReport(ops: readonly ChildOp[], r: Report): string {
  const op = ops[r.index];
  if (!op) return r.index === ops.length ? 'the plan ended without execve' : `plan rejected by the native runner: ${errnoName(r.errno)}`;
  return `${describeFailure(op, r.errno)} [op ${r.index + 1}/${ops.length}, phase ${op.phase}]`;
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
const FD_ROLES = ['syncFd', 'syncParentFd', 'errFd', 'connFd', 'handoffFd'] as const;
const standIn = (i: number) => 0x7473_6a00_0000n + BigInt(i);

interface Template {
  readonly extras?: PlanExtras;
  readonly stdio: Stdio;
  readonly ops: readonly ChildOp[];
  readonly plan: Buffer;
  /** Byte offsets of each role's stand-in. */
  readonly at: ReadonlyArray<readonly number[]>;
}
const templates = new WeakMap<Prepared, Template[]>();

/** Where the jail's stdio comes from: tsjail's, a connection known at clone, one handed over later, or tsjail's in a spare released later. */
type Stdio = 'inherit' | 'conn' | 'handoff' | 'go';

function planTemplate(p: Prepared, extras: PlanExtras | undefined, stdio: Stdio): Template {
  const list = templates.get(p) ?? [];
  templates.set(p, list);
  const hit = list.find((t) => t.extras === extras && t.stdio === stdio);
  if (hit) return hit;
  const fd = (i: number) => Number(standIn(i));
  const ctx: PlanContext = newContext({
    syncFd: fd(0),
    syncParentFd: fd(1),
    errFd: fd(2),
    connFd: stdio === 'conn' ? fd(3) : undefined,
    handoffFd: stdio === 'handoff' || stdio === 'go' ? fd(4) : undefined,
    handoffConn: stdio === 'handoff',
  });
  const ops = buildChildProgram(p, ctx, extras);
  const plan = encodePlan(ops);
  // Descriptors are only ever integer arguments: look in the op records' argument words, never in
  // data (a src_content file could hold any bytes).
  const at = FD_ROLES.map((_, i) => {
    const offs: number[] = [];
    ops.forEach((o, k) =>
      o.args.forEach((a, j) => {
        if (a.t === 'int' && a.v === standIn(i)) offs.push(OPS_OFF + k * OP_SIZE + 8 + 8 * j);
      }),
    );
    return offs;
  });
  const t: Template = { extras, stdio, ops, plan, at };
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

export function launchJail(p: Prepared, opts: { connFd?: number; handoff?: 'conn' | 'go'; extras?: PlanExtras; parent?: ParentSetup } = {}): Launched {
  const held = new Held();
  let fds: ReturnType<typeof launchFds>;
  let ops: readonly ChildOp[];
  let pid: number;
  let region: bigint | undefined;
  try {
    fds = launchFds(held, opts.handoff !== undefined);
    const stdio: Stdio = opts.handoff === 'conn' ? 'handoff' : opts.handoff === 'go' ? 'go' : opts.connFd !== undefined ? 'conn' : 'inherit';
    const t = planTemplate(p, opts.extras, stdio);
    ops = t.ops;
    // tsj_spawn copies the blob before clone: patching the shared template in place is safe.
    [fds.syncR, fds.syncW, fds.errW, opts.connFd ?? -1, fds.handChild].forEach((v, i) => t.at[i]!.forEach((o) => t.plan.writeBigInt64LE(BigInt(v), o)));
    // Share memory until execve (no page tables to copy) unless --init forks a reaper that
    // lives on in the child, or the child is charged to a memory cgroup that may OOM-kill it.
    ({ pid, region } = spawnPlan(t.plan, p.cloneFlags, fds.errW, !p.cfg.init && !opts.parent?.privateMemory));
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
        if (r.soft) log.warn(describeReport(ops, r));
        else {
          launched.failure = describeReport(ops, r);
          launched.failureErrno = r.errno;
          log.error(launched.failure);
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
