/**
 * The seam between src/proc, src/modes and the kernel: every call they make
 * on processes and descriptors goes through `sys` (koffi stays in
 * src/linux/libc.ts), the real implementation
 * unless a test installed another one. Unit tests install a recording fake
 * (test/unit/helpers/fake-sys.ts) and assert the exact list of calls.
 */
import { closeSync, writeSync } from 'node:fs';
import { errnoValue } from '../linux/errno.js';
import { execInPlace, keepOnExec, memfdCreate, pipeCloexec, reapKilled, releasePlan, seqpacketPair, sendFd, spawnPlan, SyscallError, waitPid, type WaitResult } from '../linux/libc.js';
import { setupUserFromParent } from '../phases/user.js';
import { readPipe } from './pool.js';
import type { Prepared } from '../prepare.js';

export interface Sys {
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipeCloexec(): [number, number];
  /** A CLOEXEC AF_UNIX SOCK_SEQPACKET pair. */
  seqpacketPair(): [number, number];
  /** Clones the child running the plan (linux/libc.ts). */
  spawnPlan(plan: Buffer, cloneFlags: bigint, errFd: number, shareMemory: boolean): { pid: number; region?: bigint };
  /** Frees a CLONE_VM child's plan memory once it exec'd or died. */
  releasePlan(region: bigint): void;
  /** One byte over the socket, carrying fd (SCM_RIGHTS) unless it is -1. */
  sendFd(sock: number, fd: number): void;
  /** Non-blocking wait4 for one pid: undefined while it runs; throws SyscallError. */
  waitPid(pid: number): WaitResult | undefined;
  /** Blocking wait4 for a child just sent SIGKILL. */
  reapKilled(pid: number): void;
  /** kill(2); throws as process.kill does when the process is gone. */
  kill(pid: number, signal: NodeJS.Signals | number): void;
  close(fd: number): void;
  write(fd: number, data: string | Uint8Array): void;
  /**
   * Everything the descriptor gives until EOF, after which it is closed; rejects with a SyscallError
   * when a read fails. `writerWaits`: the writer may wait on this process before it closes (a spare
   * jail held for its connection), so the read must not hold a libuv pool thread meanwhile.
   */
  readToEnd(fd: number, what: string, writerWaits: boolean): Promise<Buffer>;
  /** The parent's side of the user namespace: the child's id maps (phases/user.ts). */
  setupUser(p: Prepared, pid: number): void;
  /** An anonymous file that survives execve (-Me hands its plan over in one). */
  memfdCreate(name: string): number;
  /** Clears FD_CLOEXEC. */
  keepOnExec(fd: number): void;
  /** execve(2) of this very process; returns only by throwing. */
  execInPlace(path: string, argv: readonly string[], env: readonly string[]): never;
}

/** The errno of a Node or libuv error, when it has one. */
function errnoOf(e: unknown): number | undefined {
  const err = e as NodeJS.ErrnoException;
  const byName = err.code ? errnoValue(err.code) : undefined;
  return byName ?? (typeof err.errno === 'number' ? Math.abs(err.errno) : undefined);
}

/** A node:fs call whose failure becomes a SyscallError with the errno. */
function nodeCall(call: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === undefined) throw e;
    throw new SyscallError(call, errno);
  }
}

/**
 * A report pipe is read on a libuv pool thread when it can be (proc/pool.ts): the child closes it
 * within milliseconds (execve or death), at most after the seccomp watcher, whose wake-ups the
 * pool keeps a thread for, has started the notification worker for it. A spare jail's child
 * waits on us for its connection, so its pipe is read from the event loop.
 */
function readToEnd(fd: number, what: string, writerWaits: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    readPipe(
      fd,
      (c) => chunks.push(c),
      (err) => (err ? reject(new SyscallError(`read(${what})`, errnoOf(err) ?? 5 /* EIO */)) : resolve(Buffer.concat(chunks))),
      { size: 4096, fromLoop: writerWaits },
    );
  });
}

export const REAL_SYS: Sys = {
  pipeCloexec,
  seqpacketPair,
  spawnPlan,
  releasePlan,
  sendFd,
  waitPid,
  reapKilled,
  kill: (pid, signal) => void process.kill(pid, signal),
  close: (fd) => nodeCall(`close(${fd})`, () => closeSync(fd)),
  write: (fd, data) => nodeCall(`write(${fd}, ${data.length} bytes)`, () => (typeof data === 'string' ? writeSync(fd, data) : writeSync(fd, data))),
  readToEnd,
  setupUser: setupUserFromParent,
  memfdCreate,
  keepOnExec,
  execInPlace,
};

/** The implementation in use (a live binding: callers always see the current one). */
export let sys: Sys = REAL_SYS;

/** Installs another implementation (a test's fake); returns what puts the previous one back. */
export function useSys(s: Sys): () => void {
  const before = sys;
  sys = s;
  return () => {
    sys = before;
  };
}
