/** Pipes read to EOF on libuv's pool or from the event loop: slots for all but two of the pool's threads, the reads themselves. */
import { closeSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pipeCloexec } from '../../../src/linux/libc.js';
import { readPipe, releasePoolSlot, takePoolSlot } from '../../../src/proc/pool.js';
import { REAL_SYS } from '../../../src/proc/sys.js';

/** Takes every slot left; returns how many. */
function takeAll(): number {
  let n = 0;
  while (takePoolSlot()) n++;
  return n;
}
const release = (n: number) => Array.from({ length: n }, releasePoolSlot);

describe('pool reads', () => {
  it('gives out slots for all but two of the pool threads (4 unless UV_THREADPOOL_SIZE says otherwise)', () => {
    const size = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4;
    const n = takeAll();
    expect(n).toBe(Math.max(0, size - 2));
    expect(takePoolSlot()).toBe(false);
    release(n);
    if (n > 0) {
      expect(takePoolSlot()).toBe(true);
      releasePoolSlot();
    }
  });

  for (const fromLoop of [false, true]) {
    it(`reads chunk after chunk until EOF, then closes the descriptor (${fromLoop ? 'from the event loop' : 'on the pool'})`, async () => {
      const [r, w] = pipeCloexec();
      const chunks: string[] = [];
      const ended = new Promise<unknown>((resolve) => readPipe(r, (c) => chunks.push(c.toString()), resolve, { size: 4, fromLoop }));
      writeSync(w, 'abcdefghij');
      closeSync(w);
      expect(await ended).toBeUndefined();
      expect(chunks.join('')).toBe('abcdefghij');
      if (!fromLoop) expect(chunks.every((c) => c.length <= 4)).toBe(true);
      expect(() => closeSync(r)).toThrow(/EBADF/);
    });
  }

  it('a report pipe is read from the event loop when no slot is left', async () => {
    const n = takeAll();
    try {
      const [r, w] = pipeCloexec();
      const got = REAL_SYS.readToEnd(r, 'report pipe', false);
      writeSync(w, 'xyz');
      closeSync(w);
      expect((await got).toString()).toBe('xyz');
      expect(takePoolSlot()).toBe(false);
    } finally {
      release(n);
    }
  });
});
