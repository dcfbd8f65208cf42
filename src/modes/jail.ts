/**
 * One jail under the supervisor, as every supervised mode starts it: the
 * `Executing` line, clone, tracking with the time limit, and the status
 * features' hooks (start at clone, setup_failed when the launch fails before execve).
 */
import type { RunContext } from './context.js';
import { JailError, errorText } from '../errors.js';
import { errnoName } from '../linux/errno.js';
import { log } from '../log/logger.js';
import { LaunchError, launchJail } from '../proc/spawn.js';
import type { ExitInfo } from '../proc/supervisor.js';

export interface Started {
  readonly pid: number;
  /** false: the launch failed before execve (logged, and reported on the status channel). */
  readonly executed: Promise<boolean>;
  readonly exited: Promise<ExitInfo>;
}

/** A jail set up ahead of its connection (listen mode): namespaces, mounts and privileges done, waiting in recvmsg(). */
export interface Spare {
  readonly pid: number;
  /** false when it failed before execve (also when it failed before getting a connection). */
  readonly executed: Promise<boolean>;
  readonly exited: Promise<ExitInfo>;
  /** Releases it (with its connection in listen mode); returns the jail, or undefined if the spare is gone (the caller starts one directly, already announced). */
  handOff(remote: string, connFd?: number): Started | undefined;
  /** After `executed` resolved false: the child ran short of a resource (EMFILE in a burst), a later spare may work. */
  shortage(): boolean;
}

/** tsjail ran short of a resource (descriptors, memory, processes): a later launch may well succeed. */
const SHORTAGE = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

/**
 * Undefined when clone or the parent-side setup failed (logged, as for
 * startJail); `failed` then learns whether that was a passing shortage.
 */
export function startSpare({ p, sup, features }: RunContext, withConn: boolean, failed?: (shortage: boolean) => void): Spare | undefined {
  let jail;
  try {
    jail = launchJail(p, { handoff: withConn ? 'conn' : 'go', anchors: features.anchors, parent: features.parent });
  } catch (e) {
    log.error(errorText(e));
    failed?.(e instanceof JailError && e.errno !== undefined && SHORTAGE.has(errnoName(e.errno)));
    return undefined;
  }
  const { pid } = jail;
  const exited = sup.track(pid, '[spare]', 0, jail.executed, true);
  return {
    pid,
    executed: jail.executed,
    exited,
    shortage: () => jail.failureErrno !== undefined && SHORTAGE.has(errnoName(jail.failureErrno)),
    handOff(remote, connFd) {
      // Before the release: the program may be done before the next line of ours runs.
      log.info(`Executing '${p.exec.path}' for '${remote}'`);
      try {
        jail.handOff!(connFd);
      } catch {
        jail.discard!();
        return undefined;
      }
      sup.assign(pid, remote, p.cfg.time_limit);
      features.onStart(pid, remote);
      const executed = jail.executed.then((ok) => {
        if (!ok) features.onSetupFailed(jail.failure ?? 'the launch failed before execve', pid, remote);
        return ok;
      });
      return { pid, executed, exited };
    },
  };
}

/** Undefined when clone or the parent-side setup failed (logged; spawn reaped the killed child). */
export function startJail({ p, sup, features }: RunContext, remote: string, connFd?: number, announced = false): Started | undefined {
  if (!announced) log.info(`Executing '${p.exec.path}' for '${remote}'`);
  let jail;
  try {
    jail = launchJail(p, { connFd, anchors: features.anchors, parent: features.parent });
  } catch (e) {
    const msg = errorText(e);
    log.error(msg);
    const pid = e instanceof LaunchError ? e.pid : undefined;
    features.onSetupFailed(msg, pid, remote);
    return undefined;
  }
  const { pid } = jail;
  const exited = sup.track(pid, remote, p.cfg.time_limit, jail.executed);
  features.onStart(pid, remote);
  const executed = jail.executed.then((ok) => {
    if (!ok) features.onSetupFailed(jail.failure ?? 'the launch failed before execve', pid, remote);
    return ok;
  });
  return { pid, executed, exited };
}
