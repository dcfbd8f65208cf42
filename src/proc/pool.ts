/**
 * Pipes read to EOF without loading node:net when libuv's thread pool can
 * take them. Through net.Socket, a start-up pays ~4 ms for net and the stream
 * modules behind it; a one-shot jail has one report pipe and, with a policy,
 * the seccomp watcher's pipe. A pool read instead holds one of the pool's
 * threads until data or EOF, and the pool is small (UV_THREADPOOL_SIZE, 4
 * unless set): such reads take a slot each, and there are slots for all but two
 * of the pool's threads, so that fs calls and a read re-queued after a
 * wake-up always find one. Without a slot, or for a writer that may wait on
 * tsjail for long, the pipe is read from the event loop (epoll, net.Socket).
 */
import { closeSync, read } from 'node:fs';
import { nodeNet } from '../lazy.js';

/** Slots left; counted at the first take, as libuv sizes its pool at its first use (a program may set the variable before that). */
let free: number | undefined;

/** A slot for a long read, or false when there is none left. Exported for the tests. */
export function takePoolSlot(): boolean {
  free ??= Math.max(0, Math.min(1024, Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4) - 2);
  if (free === 0) return false;
  free--;
  return true;
}

export function releasePoolSlot(): void {
  free = (free ?? 0) + 1;
}

export interface PipeReadOptions {
  /** Bytes per read on the pool. */
  readonly size: number;
  /** The writer may wait on tsjail before it closes (a spare jail held for its connection): never on the pool. */
  readonly fromLoop?: boolean;
  /** Read from the event loop, the pipe does not keep the process alive. */
  readonly unref?: boolean;
}

/**
 * Reads fd until EOF: onData for each chunk, then onEnd once, with nothing at
 * EOF or with the first failed read (a failure is no EOF: what the writer would
 * have sent is unknown). The descriptor is tsjail's no more: it is closed
 * before onEnd, and not before (a pool read may be in flight on it until then).
 */
export function readPipe(fd: number, onData: (chunk: Buffer) => void, onEnd: (err?: Error) => void, opts: PipeReadOptions): void {
  if (!opts.fromLoop && takePoolSlot()) {
    const next = (): void => {
      const buf = Buffer.allocUnsafe(opts.size);
      read(fd, buf, 0, opts.size, null, (err, n) => {
        if (err && (err.code === 'EINTR' || err.code === 'EAGAIN')) return next();
        if (!err && n > 0) {
          onData(buf.subarray(0, n));
          return next();
        }
        releasePoolSlot();
        closeQuietly(fd);
        onEnd(err ?? undefined);
      });
    };
    return next();
  }
  let s;
  try {
    s = new (nodeNet().Socket)({ fd, readable: true, writable: false });
  } catch (e) {
    closeQuietly(fd);
    return onEnd(e as Error);
  }
  if (opts.unref) s.unref();
  let failed: Error | undefined;
  s.on('data', onData);
  s.on('error', (e) => (failed = e));
  // The socket closes the descriptor.
  s.on('close', () => onEnd(failed));
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* the read's outcome says what went wrong */
  }
}
