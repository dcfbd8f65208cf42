import { describe, expect, it } from 'vitest';
import { describeFailure, describeOp } from '../../../src/plan/describe.js';
import { encodePlan } from '../../../src/plan/encode.js';
import { bytes, int, op, slot, str, strv } from '../../../src/plan/ops.js';
import { MS_FLAGS } from '../../../src/linux/consts.js';

describe('encodePlan: the native wire format', () => {
  const ops = [
    op('openat', 'mnt', [int(-100), str('/etc'), int(0), int(0)], { save: 3 }),
    op('close', 'mnt', [slot(3, 'fd')], { cond: 3, okErrno: ['EBADF'] }),
    op('execve', 'exec', [str('/bin/sh'), strv(['sh', '-c']), strv([])]),
  ];
  const blob = encodePlan(ops);

  it('writes the header', () => {
    expect(blob.readUInt32LE(0)).toBe(0x504a5354);
    expect(blob.readUInt32LE(4)).toBe(2);
    expect(blob.readUInt32LE(8)).toBe(blob.length);
    expect(blob.readUInt32LE(12)).toBe(3);
  });

  it('encodes pointers as blob offsets and marks them', () => {
    const r0 = 32;
    expect(blob.readUInt32LE(r0)).toBe(257); // openat
    const flags = blob.readUInt32LE(r0 + 4);
    expect(flags & 0b10).toBe(0b10); // arg 1 is a pointer
    const off = Number(blob.readBigInt64LE(r0 + 16));
    expect(blob.toString('utf8', off, off + 5)).toBe('/etc\0');
    expect(blob.readInt16LE(r0 + 64)).toBe(3); // save slot
  });

  it('marks slot arguments, conditions and tolerated errnos', () => {
    const r1 = 32 + 88;
    const flags = blob.readUInt32LE(r1 + 4);
    expect(flags & (1 << 8)).toBeTruthy(); // arg 0 from a slot
    expect(flags & (1 << 21)).toBeTruthy(); // cond
    expect(blob.readUInt16LE(r1 + 76)).toBe(9); // EBADF
  });

  it('lists argv words in the relocation table', () => {
    const nRelocs = blob.readUInt32LE(20);
    expect(nRelocs).toBe(2); // 'sh', '-c'
  });

  it('describes calls as readable text with flags by name', () => {
    const m = op('mount', 'mnt', [str('/srv'), str('/srv'), { t: 'null' }, int(4096n | 16384n, MS_FLAGS), { t: 'null' }]);
    expect(describeOp(m)).toBe("mount('/srv' -> '/srv', MS_BIND|MS_REC)");
    expect(describeFailure(ops[2]!, 2)).toBe("execve('/bin/sh') failed: ENOENT (No such file or directory)");
    expect(describeOp(op('write', 'misc', [int(1), bytes(new Uint8Array(2), '<2 bytes>'), int(2)]))).toBe('write(1, <2 bytes>, 2)');
  });
});

describe('a spare jail receives its connection late', () => {
  it("'load' arguments read an int32 that an earlier call wrote into shared data", async () => {
    const { planHandoff } = await import('../../../src/phases/fds.js');
    const { newContext } = await import('../../../src/phases/context.js');
    const ops = planHandoff(newContext({ errFd: 9, handoffFd: 7, handoffConn: true }));
    expect(ops.map(describeOp)).toEqual([
      'recvmsg(hand-off socket): the connection did not arrive',
      'dup3(fd(connection), 0, 0)',
      'dup3(fd(connection), 1, 0)',
      'dup3(fd(connection), 2, 0)',
      'fcntl(0, F_SETFL, 0): clear O_NONBLOCK',
      'close(fd(connection))',
      'close(7)',
    ]);
    const blob = encodePlan(ops);
    const rec = (i: number) => 32 + 88 * i;
    const msghdr = Number(blob.readBigInt64LE(rec(0) + 16));
    const control = Number(blob.readBigUInt64LE(msghdr + 32)); // still a blob offset: relocated by the runner
    expect(blob.readUInt32LE(rec(1) + 4) & (1 << 24)).toBeTruthy(); // arg 0 is loaded
    expect(Number(blob.readBigInt64LE(rec(1) + 8))).toBe(control + 16); // the fd in CMSG_DATA
  });
});

describe('a re-run spare is only released', () => {
  it('waits for one byte and keeps the stdio it inherited', async () => {
    const { planHandoff } = await import('../../../src/phases/fds.js');
    const { newContext } = await import('../../../src/phases/context.js');
    expect(planHandoff(newContext({ errFd: 9, handoffFd: 7, handoffConn: false })).map(describeOp)).toEqual([
      'read(hand-off socket): the jail was not released',
      'close(7)',
    ]);
  });
});
