/**
 * Threads that must end before the process does. A worker thread stopped by
 * process.exit() while inside a native (koffi) call aborts the whole process
 * ("napi_throw" fatal error) when the call returns into a terminating
 * isolate, so the entry point waits for these before it exits. Each wait is
 * bounded: a thread that does not end in time is left to process.exit().
 */
const pending = new Set<Promise<void>>();

/** Wait for `ended` (at most `limitMs`) before the process exits. */
export function lingerUntil(ended: Promise<unknown>, limitMs = 2000): void {
  let timer: NodeJS.Timeout | undefined;
  const p: Promise<void> = Promise.race([
    ended.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => {
      // Not unref'd: while it waits, this timer is what keeps the event loop (and so the exit code) alive.
      timer = setTimeout(resolve, limitMs);
    }),
  ]).then(() => {
    clearTimeout(timer);
    pending.delete(p);
  });
  pending.add(p);
}

/** Resolves once every thread registered with lingerUntil() has ended or timed out. */
export async function lingeringEnded(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending]);
}
