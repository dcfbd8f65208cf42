/**
 * Pipes read on libuv's thread pool. A pipe read through node:net costs a
 * start-up ~4 ms (net and the stream modules behind it), which a one-shot
 * jail pays for one report pipe and, with a policy, the seccomp watcher's
 * wake-ups. A pool read instead holds one of the pool's threads until data or
 * EOF, and the pool is small (UV_THREADPOOL_SIZE, 4 unless set): such long
 * reads get a slot each, and there are slots for all but two of the pool's
 * threads, so that fs calls and a read re-queued after a wake-up always find
 * one. Without a slot, a reader falls back to the event loop (net.Socket).
 */
import { read } from 'node:fs';

/** Slots left; counted at the first take, as libuv sizes its pool at its first use (a program may set the variable before that). */
let free: number | undefined;

/** A slot for a long read, or false when there is none left (the caller reads from the event loop). */
export function takePoolSlot(): boolean {
  free ??= Math.max(0, Math.min(1024, Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4) - 2);
  if (free === 0) return false;
  free--;
  return true;
}

export function releasePoolSlot(): void {
  free = (free ?? 0) + 1;
}

/**
 * read(2) on a pool thread, chunk after chunk: onData for each, then onEnd at
 * EOF (no argument) or at the first failure other than EINTR/EAGAIN. The
 * descriptor stays the caller's to close, after onEnd: a read may be in flight
 * on it until then.
 */
export function readOnPool(fd: number, size: number, onData: (chunk: Buffer) => void, onEnd: (err?: NodeJS.ErrnoException) => void): void {
  const next = (): void => {
    const buf = Buffer.allocUnsafe(size);
    read(fd, buf, 0, size, null, (err, n) => {
      if (err && (err.code === 'EINTR' || err.code === 'EAGAIN')) return next();
      if (err || n === 0) return onEnd(err ?? undefined);
      onData(buf.subarray(0, n));
      next();
    });
  };
  next();
}
