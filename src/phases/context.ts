/** What every planner shares: fds the parent set up and the slot allocator. */
export interface PlanContext {
  /** Read end of the pipe the parent writes one byte to once maps and cgroups are set. */
  readonly syncFd?: number;
  /** The parent's write end, closed first so a dead parent reads as EOF. */
  readonly syncParentFd?: number;
  /** The CLOEXEC error pipe (the reaper of --init must close it). */
  readonly errFd: number;
  /** Listen mode: the accepted connection, becoming fds 0, 1 and 2. */
  readonly connFd?: number;
  /** A spare jail: the socket it waits on before the program's steps; a byte releases it. */
  readonly handoffFd?: number;
  /** With handoffFd: the byte carries the connection (SCM_RIGHTS) that becomes fds 0, 1 and 2. */
  readonly handoffConn?: boolean;
  /** Library API: descriptors the parent opened for the program's stdin, stdout and stderr. */
  readonly stdioFds?: readonly [number, number, number];
  /** Standalone -Me: the plan runs in the launcher, which enters the namespaces itself (phases/launcher.ts); no supervisor, so no parent-death signal or sync. */
  readonly execveMode?: boolean;
  /** -Me: the launcher's pid (tsjail's own), whose id maps its helper writes. */
  readonly selfPid?: number;
  nextSlot: number;
}

export function newContext(init: Omit<PlanContext, 'nextSlot'>): PlanContext {
  return { ...init, nextSlot: 0 };
}

export function allocSlot(ctx: PlanContext): number {
  return ctx.nextSlot++;
}
