import { describe, expect, it } from 'vitest';
import { lingerUntil, lingeringEnded } from '../../../src/proc/lingering.js';

describe('threads the entry point waits for before it exits', () => {
  it('waits for a thread that ends, and only as long as it runs', async () => {
    let ended = false;
    lingerUntil(new Promise<void>((resolve) => setImmediate(() => ((ended = true), resolve()))));
    await lingeringEnded();
    expect(ended).toBe(true);
  });

  it('gives up on a thread that never ends once its limit has passed', async () => {
    lingerUntil(new Promise<void>(() => {}), 20);
    const start = process.hrtime.bigint();
    await lingeringEnded();
    expect(process.hrtime.bigint() - start).toBeGreaterThanOrEqual(15_000_000n);
  });

  it('does not fail the exit when the thread ended with an error', async () => {
    lingerUntil(Promise.reject(new Error('worker failed')));
    await expect(lingeringEnded()).resolves.toBeUndefined();
  });
});
