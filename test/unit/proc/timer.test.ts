import { afterEach, describe, expect, it, vi } from 'vitest';
import { longTimeout, MAX_TIMER_MS } from '../../../src/proc/timer.js';

describe('longTimeout', () => {
  afterEach(() => vi.useRealTimers());

  // -t 2147484 is 2147484000 ms, past setTimeout's 2^31-1: Node would fire it after 1 ms.
  for (const seconds of [2147484, 4294967295]) {
    it(`waits the whole ${seconds} s, never firing early`, () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'hrtime'] });
      const fired = vi.fn();
      longTimeout(fired, seconds * 1000);
      vi.advanceTimersByTime(1);
      expect(fired).not.toHaveBeenCalled();
      vi.advanceTimersByTime(MAX_TIMER_MS);
      expect(fired).not.toHaveBeenCalled();
      vi.advanceTimersByTime(seconds * 1000 - MAX_TIMER_MS - 2);
      expect(fired).not.toHaveBeenCalled();
      vi.advanceTimersByTime(2);
      expect(fired).toHaveBeenCalledTimes(1);
    });
  }

  it('fires once for a short delay, and not at all once cleared', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'hrtime'] });
    const a = vi.fn();
    const b = vi.fn();
    longTimeout(a, 1000);
    const tb = longTimeout(b, 3_000_000_000);
    vi.advanceTimersByTime(1000);
    expect(a).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    tb.clear();
    vi.advanceTimersByTime(3_000_000_000);
    expect(b).not.toHaveBeenCalled();
  });
});
