/**
 * One jail under the supervisor, as every supervised mode starts it: the
 * `Executing` line, clone, tracking with the time limit, and the status
 * features' hooks (start at clone, setup_failed when the launch fails before execve).
 */
import type { Socket } from 'node:net';
import type { RunContext } from './context.js';
import type { JailControl } from '../features/types.js';
import { JailError, errorText } from '../errors.js';
import { errnoName } from '../linux/errno.js';
import { log } from '../log/logger.js';
import { LaunchError, launchJail } from '../proc/spawn.js';
import type { ExitInfo, Supervisor } from '../proc/supervisor.js';

export interface Started {
  readonly pid: number;
  /** false: the launch failed before execve (logged, and reported on the status channel). */
  readonly executed: Promise<boolean>;
  readonly exited: Promise<ExitInfo>;
}

/** Listen mode: an accepted connection, as a descriptor for the jail and as Node's socket. */
export interface Conn {
  readonly fd: number;
  readonly socket: Socket;
}

/** A jail set up ahead of its connection (listen mode): namespaces, mounts and privileges done, waiting in recvmsg(). */
export interface Spare {
  readonly pid: number;
  /** false when it failed before execve (also when it failed before getting a connection). */
  readonly executed: Promise<boolean>;
  readonly exited: Promise<ExitInfo>;
  /** Releases it (with its connection in listen mode); returns the jail, or undefined if the spare is gone (the caller starts one directly, already announced). */
  handOff(remote: string, conn?: Conn): Started | undefined;
  /** After `executed` resolved false: the child ran short of a resource (EMFILE in a burst), a later spare may work. */
  shortage(): boolean;
}

/** tsjail ran short of a resource (descriptors, memory, processes): a later launch may well succeed. */
const SHORTAGE = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

/** One promise per supervisor for every jail's control (listen mode starts many). */
const stopping = new WeakMap<Supervisor, Promise<number>>();

/** What features may do to a started jail. With a feature supplying the stdio, it gets the connection (and owns it). */
function control(sup: Supervisor, pid: number, conn: Conn | undefined, stdioOwned: boolean): JailControl {
  let whenStopping = stopping.get(sup);
  if (!whenStopping) stopping.set(sup, (whenStopping = sup.whenFatal()));
  return { ...(stdioOwned && conn ? { conn: conn.socket } : {}), kill: (reason) => sup.kill(pid, 'SIGKILL', reason), stopping: whenStopping };
}

/**
 * Undefined when clone or the parent-side setup failed (logged, as for
 * startJail); `failed` then learns whether that was a passing shortage.
 */
export function startSpare({ p, sup, features }: RunContext, withConn: boolean, failed?: (shortage: boolean) => void): Spare | undefined {
  // A feature's pipes are the jail's stdio from the clone on; the release then carries no connection.
  const io = features.openStdio();
  let jail;
  try {
    jail = launchJail(p, { handoff: withConn && !io ? 'conn' : 'go', stdioFds: io?.child, anchors: features.anchors, parent: features.parent });
  } catch (e) {
    io?.launched(undefined);
    log.error(errorText(e));
    failed?.(e instanceof JailError && e.errno !== undefined && SHORTAGE.has(errnoName(e.errno)));
    return undefined;
  }
  const { pid } = jail;
  io?.launched(pid);
  const exited = sup.track(pid, '[spare]', 0, jail.executed, true);
  return {
    pid,
    executed: jail.executed,
    exited,
    shortage: () => jail.failureErrno !== undefined && SHORTAGE.has(errnoName(jail.failureErrno)),
    handOff(remote, conn) {
      // Before the release: the program may be done before the next line of ours runs.
      log.info(`Executing '${p.exec.path}' for '${remote}'`);
      try {
        jail.handOff!(io ? undefined : conn?.fd);
      } catch {
        jail.discard!();
        return undefined;
      }
      sup.assign(pid, remote, p.cfg.time_limit);
      features.onStart(pid, remote, control(sup, pid, conn, io !== undefined));
      const executed = jail.executed.then((ok) => {
        if (!ok) features.onSetupFailed(jail.failure ?? 'the launch failed before execve', pid, remote);
        return ok;
      });
      return { pid, executed, exited };
    },
  };
}

/** Undefined when clone or the parent-side setup failed (logged; spawn reaped the killed child). */
export function startJail({ p, sup, features }: RunContext, remote: string, conn?: Conn, announced = false): Started | undefined {
  if (!announced) log.info(`Executing '${p.exec.path}' for '${remote}'`);
  const io = features.openStdio();
  let jail;
  try {
    jail = launchJail(p, { ...(io ? { stdioFds: io.child } : { connFd: conn?.fd }), anchors: features.anchors, parent: features.parent });
  } catch (e) {
    io?.launched(undefined);
    const msg = errorText(e);
    log.error(msg);
    const pid = e instanceof LaunchError ? e.pid : undefined;
    features.onSetupFailed(msg, pid, remote);
    return undefined;
  }
  const { pid } = jail;
  io?.launched(pid);
  const exited = sup.track(pid, remote, p.cfg.time_limit, jail.executed);
  features.onStart(pid, remote, control(sup, pid, conn, io !== undefined));
  const executed = jail.executed.then((ok) => {
    if (!ok) features.onSetupFailed(jail.failure ?? 'the launch failed before execve', pid, remote);
    return ok;
  });
  return { pid, executed, exited };
}
