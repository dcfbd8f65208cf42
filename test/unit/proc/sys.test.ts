/** The real seam's own logic: reading a report pipe to EOF, and Node errors turned into SyscallErrors with their errno. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyscallError, pipeCloexec } from '../../../src/linux/libc.js';
import { REAL_SYS, sys, useSys } from '../../../src/proc/sys.js';
import { FakeSys } from '../helpers/fake-sys.js';

describe('the real seam', () => {
  // From a pool thread, or (when the writer may wait on tsjail) from the event loop.
  for (const [how, writerWaits] of [['on the pool', false], ['from the event loop', true]] as const) {
    it(`reads a pipe to EOF and closes it (${how})`, async () => {
      const [r, w] = pipeCloexec();
      writeSync(w, 'abc');
      const got = REAL_SYS.readToEnd(r, 'report pipe', writerWaits);
      writeSync(w, 'def');
      // More than one read's worth, written while the reader waits.
      await new Promise((resolve) => setImmediate(resolve));
      writeSync(w, Buffer.alloc(10_000, 'x'));
      closeSync(w);
      expect((await got).toString()).toBe(`abcdef${'x'.repeat(10_000)}`);
      expect(() => closeSync(r)).toThrow(/EBADF/);
    });

    it(`a descriptor it cannot read is an error naming the read, never an empty report (${how})`, async () => {
      const fd = openSync('/', 'r');
      const err = await REAL_SYS.readToEnd(fd, 'report pipe of pid=7', writerWaits).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SyscallError);
      expect(err).toMatchObject({ call: 'read(report pipe of pid=7)' });
      expect(() => closeSync(fd)).toThrow(/EBADF/);
    });
  }

  it('close and write failures carry their errno', () => {
    const [r, w] = pipeCloexec();
    closeSync(r);
    expect(() => REAL_SYS.write(w, 'G')).toThrow(SyscallError);
    expect(() => REAL_SYS.write(w, Buffer.from('G'))).toThrow(expect.objectContaining({ call: `write(${w}, 1 bytes)`, errno: 32 }));
    REAL_SYS.close(w);
    expect(() => REAL_SYS.close(w)).toThrow(expect.objectContaining({ call: `close(${w})`, errno: 9 }));
  });

  it('kill of a process that is gone throws, as process.kill does', () => {
    expect(() => REAL_SYS.kill(5_000_000, 0)).toThrow(/ESRCH/);
  });

  it('useSys swaps the implementation every caller sees, and puts it back', () => {
    const fake = new FakeSys();
    const back = useSys(fake);
    expect(sys).toBe(fake);
    back();
    expect(sys).toBe(REAL_SYS);
  });
});
