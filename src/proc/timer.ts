/**
 * setTimeout for any delay. Node keeps timer delays in a signed 32-bit
 * millisecond count: anything above 2^31-1 ms (about 24.8 days, so a time
 * limit of 2147484 s or more) is replaced by 1 ms, which would kill a jail at
 * once. Long delays are waited for in steps against a monotonic deadline.
 */

/** The longest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Monotonic milliseconds (performance.now() would load perf_hooks at every start-up). */
function now(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export function longTimeout(fn: () => void, ms: number): LongTimer {
  const deadline = now() + ms;
  const step = (): void => {
    const left = deadline - now();
    if (left > 0) handle = setTimeout(step, Math.min(Math.ceil(left), MAX_TIMER_MS));
    else fn();
  };
  let handle = setTimeout(step, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
  return { clear: () => clearTimeout(handle) };
}
