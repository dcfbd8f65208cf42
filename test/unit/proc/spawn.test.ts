/**
 * launchJail through the recording fake of the libc seam: the exact calls of
 * a launch, and every descriptor closed on every path, success or failure.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { JailError } from '../../../src/errors.js';
import { opArgOffset, REPORT, WIRE } from '../../../src/linux/wire.js';
import { prepare, type Prepared } from '../../../src/prepare.js';
import { LaunchError, launchJail } from '../../../src/proc/spawn.js';
import { captureLog, FakeSys, installFakeSys } from '../helpers/fake-sys.js';
import { FAKE_HOST } from '../helpers/host.js';

async function prepared(args: string[] = []): Promise<Prepared> {
  const { spec } = await parseCommandLine(['--chroot', '/', ...args, '--', '/bin/true']);
  return prepare(spec, FAKE_HOST);
}

/** REPORT records as the runner writes them. */
function report(...rs: Array<{ index: number; errno: number; ret?: bigint; soft?: boolean }>): Buffer {
  const f = REPORT.fields;
  return Buffer.concat(
    rs.map((r) => {
      const b = Buffer.alloc(REPORT.size);
      b.writeUInt32LE(r.index, f.op_index!.offset);
      b.writeInt32LE(r.errno, f.err!.offset);
      b.writeBigInt64LE(r.ret ?? BigInt(-r.errno), f.ret!.offset);
      b.writeUInt32LE(r.soft ? 1 : 0, f.soft!.offset);
      return b;
    }),
  );
}

let fake: FakeSys;
let restore: () => Promise<void>;
let logs: string[];
beforeEach(() => {
  ({ fake, restore } = installFakeSys());
  logs = captureLog();
});
afterEach(async () => {
  await restore();
  vi.restoreAllMocks();
});

describe('launchJail', () => {
  it('clones, closes the child ends, writes the maps, releases the child and reads its reports to EOF', async () => {
    const p = await prepared();
    const flags = p.cloneFlags.toString(16);
    const jail = launchJail(p);
    expect(jail.pid).toBe(5000000);
    expect(await jail.executed).toBe(true);
    expect(fake.calls).toEqual([
      'pipe2(O_CLOEXEC) = [100,101]',
      'pipe2(O_CLOEXEC) = [102,103]',
      `clone(0x${flags}, errFd=103, CLONE_VM) = 5000000`,
      'close(100)',
      'close(103)',
      'id maps(5000000)',
      "write(101, 'G')",
      'close(101)',
      'read(102) until EOF: report pipe of pid=5000000',
      'release(5000000)',
    ]);
    expect(fake.openFds()).toEqual([]);
    expect(jail.handOff).toBeUndefined();
    expect(logs).toEqual([]);
  });

  it("patches this launch's descriptors into the shared plan (the sync pipe's ends are ops 2 and 3's arguments)", async () => {
    const p = await prepared();
    await launchJail(p).executed;
    await launchJail(p).executed;
    // prctl(PDEATHSIG), close(sync write end), read(sync read end, ...)
    const fdAt = (pid: number, op: number) => Number(fake.plans.get(pid)!.readBigInt64LE(opArgOffset(op, 0)));
    expect([fdAt(5000000, 1), fdAt(5000000, 2)]).toEqual([101, 100]);
    expect([fdAt(5000001, 1), fdAt(5000001, 2)]).toEqual([105, 104]);
  });

  it('does not share memory with an --init child, so there is nothing to release', async () => {
    const jail = launchJail(await prepared(['--init']));
    await jail.executed;
    expect(fake.calls.find((c) => c.startsWith('clone('))).not.toContain('CLONE_VM');
    expect(fake.calls.some((c) => c.startsWith('release('))).toBe(false);
    expect(fake.openFds()).toEqual([]);
  });

  it("a child's failure report: executed is false, the failing op is named and logged", async () => {
    const p = await prepared();
    fake.autoExec = false;
    const jail = launchJail(p);
    const n = fake.plans.get(5000000)!.readUInt32LE(12); // n_ops
    fake.reports(5000000, report({ index: 5, errno: 1, soft: true }, { index: n - 1, errno: 2 }));
    expect(await jail.executed).toBe(false);
    expect(jail.failure).toMatch(/^execve\('\/bin\/true'\) failed: ENOENT \(No such file or directory\) \(hint: .*\) \[op \d+\/\d+, phase exec\]$/);
    expect(logs[0]).toMatch(/^W: .* \[op 6\/\d+, phase \w+\]$/);
    expect(logs[1]).toBe(`E: ${jail.failure}`);
    expect(fake.openFds()).toEqual([]);
  });

  it('names a malformed plan, a plan that ended without execve and an op it does not have', async () => {
    const p = await prepared();
    const outcome = async (buf: Buffer) => {
      fake.autoExec = false;
      const jail = launchJail(p);
      fake.reports(jail.pid, buf);
      await jail.executed;
      return jail.failure;
    };
    expect(await outcome(report({ index: WIRE.BAD_PLAN_INDEX, errno: 34, ret: 1n }))).toMatch(/^plan rejected by the native runner: op 2 \(close\) has a slot or offset out of range: ERANGE \(Numerical result out of range\)$/);
    expect(await outcome(report({ index: WIRE.BAD_PLAN_INDEX, errno: 22, ret: -1n }))).toBe('plan rejected by the native runner: its header or relocations are malformed: EINVAL (Invalid argument)');
    const ops = fake.plans.get(5000000)!.readUInt32LE(12);
    expect(await outcome(report({ index: ops, errno: 8 }))).toBe('the plan ended without execve');
    expect(await outcome(report({ index: ops + 7, errno: 8 }))).toBe(`the native runner reported op ${ops + 7}, which the plan does not have: ENOEXEC (Exec format error)`);
    expect(fake.openFds()).toEqual([]);
  });

  it('a failed read of the report pipe is no successful execve: the jail is killed and the error kept', async () => {
    const p = await prepared();
    fake.autoExec = false;
    const jail = launchJail(p);
    fake.reportReadFails(5000000, 'EIO');
    expect(await jail.executed).toBe(false);
    expect(jail.error).toBeInstanceOf(JailError);
    expect(jail.error).toMatchObject({ call: 'read(report pipe of pid=5000000)', errno: 5 });
    expect(jail.failure).toBe('read(report pipe of pid=5000000): EIO (Input/output error): the launch outcome is unknown, the jail is killed');
    expect(logs).toEqual([`E: ${jail.failure}`]);
    expect(fake.calls.slice(-2)).toEqual(['read(102) until EOF: report pipe of pid=5000000', 'kill(5000000, SIGKILL)']);
    expect(fake.openFds()).toEqual([]);
  });

  describe('closes every descriptor it opened when it fails', () => {
    it('at the first pipe: nothing was opened', async () => {
      const p = await prepared();
      fake.failNext('pipeCloexec', FakeSys.error('pipe2(O_CLOEXEC)', 'EMFILE'));
      expect(() => launchJail(p)).toThrow(/^pipe2\(O_CLOEXEC\)$/);
      expect(fake.calls).toEqual([]);
    });

    it('at the second pipe', async () => {
      const p = await prepared();
      fake.failNext('pipeCloexec', FakeSys.error('pipe2(O_CLOEXEC)', 'EMFILE'), 1);
      let err: unknown;
      try {
        launchJail(p);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ call: 'pipe2(O_CLOEXEC)', errno: 24 });
      expect(fake.calls).toEqual(['pipe2(O_CLOEXEC) = [100,101]', 'close(100)', 'close(101)']);
      expect(fake.openFds()).toEqual([]);
    });

    it('at the hand-off socket pair', async () => {
      const p = await prepared();
      fake.failNext('seqpacketPair', FakeSys.error('socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC)', 'EMFILE'));
      expect(() => launchJail(p, { handoff: 'conn' })).toThrow(/socketpair/);
      expect(fake.calls).toEqual(['pipe2(O_CLOEXEC) = [100,101]', 'pipe2(O_CLOEXEC) = [102,103]', 'close(100)', 'close(101)', 'close(102)', 'close(103)']);
      expect(fake.openFds()).toEqual([]);
    });

    it('at clone', async () => {
      const p = await prepared();
      fake.failNext('spawnPlan', FakeSys.error('clone3(flags=0x7e020000|CLONE_VM)', 'EAGAIN'));
      expect(() => launchJail(p, { handoff: 'go' })).toThrow(/clone3/);
      expect(fake.calls.slice(3)).toEqual(['close(100)', 'close(101)', 'close(102)', 'close(103)', 'close(104)', 'close(105)']);
      expect(fake.openFds()).toEqual([]);
    });

    it('in a parent-side step: the child is killed and reaped, the step undone, the cause kept', async () => {
      const p = await prepared();
      const undone: number[] = [];
      fake.failNext('write', FakeSys.error('write(101, 1 bytes)', 'EPIPE'));
      let err: unknown;
      try {
        launchJail(p, { handoff: 'conn', parent: { beforeRelease: () => {}, onFailure: (pid) => undone.push(pid) } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LaunchError);
      expect(err).toMatchObject({ pid: 5000000, call: 'write(101, 1 bytes)', errno: 32, stage: 'launch' });
      expect((err as LaunchError).render()).toBe('write(101, 1 bytes): EPIPE (Broken pipe)');
      expect(undone).toEqual([5000000]);
      expect(fake.calls.slice(4)).toEqual([
        'close(100)',
        'close(103)',
        'close(105)',
        'id maps(5000000)',
        "write(101, 'G')",
        'kill(5000000, SIGKILL)',
        'wait4(5000000, 0)',
        'release(5000000)',
        'close(101)',
        'close(102)',
        'close(104)',
      ]);
      expect(fake.openFds()).toEqual([]);
    });

    it('in beforeRelease, with a plain error', async () => {
      const p = await prepared();
      expect(() =>
        launchJail(p, {
          parent: {
            beforeRelease: () => {
              throw new Error('cgroup: no room');
            },
          },
        }),
      ).toThrow(/^cgroup: no room$/);
      expect(fake.calls).toContain('wait4(5000000, 0)');
      expect(fake.calls).not.toContain('id maps(5000000)');
      expect(fake.openFds()).toEqual([]);
    });
  });

  describe('a spare jail', () => {
    it('is released with its connection once; its end of the socket is closed after', async () => {
      const p = await prepared();
      fake.autoExec = false;
      const jail = launchJail(p, { handoff: 'conn' });
      expect(fake.openFds()).toEqual([102, 104]);
      jail.handOff!(7);
      expect(fake.calls.slice(-2)).toEqual(['sendmsg(104, fd 7)', 'close(104)']);
      expect(() => jail.handOff!(8)).toThrow(LaunchError);
      expect(() => jail.handOff!(8)).toThrow('the spare jail pid=5000000 is gone');
      fake.execs(5000000);
      expect(await jail.executed).toBe(true);
      expect(fake.openFds()).toEqual([]);
    });

    it('released without a connection, or discarded; a failed send still closes the socket', async () => {
      const p = await prepared();
      fake.autoExec = false;
      const a = launchJail(p, { handoff: 'go' });
      a.handOff!();
      expect(fake.calls.at(-2)).toBe('sendmsg(104, no fd)');
      const b = launchJail(p, { handoff: 'go' });
      b.discard!();
      b.discard!();
      expect(fake.calls.filter((c) => c === 'close(110)')).toHaveLength(1);
      const c = launchJail(p, { handoff: 'conn' });
      fake.failNext('sendFd', FakeSys.error('sendmsg(hand-off socket, SCM_RIGHTS fd 9)', 'EPIPE'));
      expect(() => c.handOff!(9)).toThrow(/sendmsg/);
      expect(fake.calls.at(-1)).toBe('close(116)');
      for (const j of [a, b, c]) fake.execs(j.pid);
      await Promise.all([a.executed, b.executed, c.executed]);
      expect(fake.openFds()).toEqual([]);
    });

    it('that ends before its hand-off: the socket is closed when its reports are read', async () => {
      const p = await prepared();
      const jail = launchJail(p, { handoff: 'go' });
      fake.reports(jail.pid, Buffer.alloc(0));
      await jail.executed;
      expect(fake.calls.slice(-2)).toEqual(['release(5000000)', 'close(104)']);
      expect(fake.openFds()).toEqual([]);
    });
  });

  it("the library API's stdio descriptors are the plan's; the caller keeps its copies", async () => {
    const p = await prepared();
    const jail = launchJail(p, { stdioFds: [50, 51, 52] });
    await jail.executed;
    const plan = fake.plans.get(5000000)!;
    const words = new Set<bigint>();
    for (let at = 0; at + 8 <= plan.length; at += 8) words.add(plan.readBigInt64LE(at));
    for (const fd of [50n, 51n, 52n]) expect(words.has(fd)).toBe(true);
    expect(fake.calls.some((c) => /close\(5[0-2]\)/.test(c))).toBe(false);
  });
});
