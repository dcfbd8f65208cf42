/**
 * The supervisor through the recording fake of the libc seam: reaping on
 * SIGCHLD, time limits, tsjail's own fatal signals, spares, drain, and a
 * wait4 that fails (never exit status 0).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JailError } from '../../../src/errors.js';
import { Supervisor, type ExitInfo } from '../../../src/proc/supervisor.js';
import { captureLog, FakeSys, installFakeSys } from '../helpers/fake-sys.js';

let fake: FakeSys;
let restore: () => Promise<void>;
let logs: string[];
let sup: Supervisor;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'hrtime', 'Date'] });
  ({ fake, restore } = installFakeSys());
  logs = captureLog();
  sup = new Supervisor(false);
  sup.start();
});
afterEach(async () => {
  sup.stop();
  await restore();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const sigchld = () => process.emit('SIGCHLD' as NodeJS.Signals);
const settled = async <T>(p: Promise<T>) => {
  let v: T | undefined;
  void p.then((x) => (v = x));
  await vi.advanceTimersByTimeAsync(0);
  return v;
};

describe('Supervisor', () => {
  it('reaps a tracked jail on SIGCHLD, with wait4 for its pid only, and logs its exit', async () => {
    const exited = sup.track(5000000, '[STANDALONE MODE]', 0);
    expect(fake.calls).toEqual(['wait4(5000000, WNOHANG) = 0']);
    expect(sup.size).toBe(1);
    fake.exit(5000000, 3);
    vi.advanceTimersByTime(250);
    sigchld();
    const e = (await settled(exited))!;
    expect(e).toMatchObject({ pid: 5000000, exitCode: 3, code: 3, rusage: { utimeMs: 1, stimeMs: 2, maxRssKiB: 3 } });
    expect(e.signal).toBeUndefined();
    expect(e.wallMs).toBe(250);
    expect(fake.calls).toEqual(['wait4(5000000, WNOHANG) = 0', 'wait4(5000000, WNOHANG) = 5000000, status 0x300']);
    expect(logs).toEqual(['I: pid=5000000 ([STANDALONE MODE]) exited with status: 3, (PIDs left: 0)']);
    expect(sup.size).toBe(0);
  });

  it('a jail killed by a signal: 128+signal', async () => {
    const exited = sup.track(5000000, 'r', 0);
    fake.killedBy(5000000, 11);
    sigchld();
    expect(await settled(exited)).toMatchObject({ signal: 11, code: 139 });
    expect(logs).toEqual(['I: pid=5000000 (r) terminated with signal: SIGSEGV (11), (PIDs left: 0)']);
  });

  it('a failing wait4 is an error with its errno and status 255, never exit 0', async () => {
    const onExit = vi.fn();
    sup.onExit = onExit;
    const exited = sup.track(5000000, 'r', 0);
    fake.waitFails(5000000, 'ECHILD');
    sigchld();
    const e = (await settled(exited))!;
    expect(e.code).toBe(255);
    expect(e.exitCode).toBeUndefined();
    expect(e.signal).toBeUndefined();
    expect(e.reason).toBe('wait_failed');
    expect(e.error).toBeInstanceOf(JailError);
    expect(e.error).toMatchObject({ call: 'wait4(5000000, WNOHANG)', errno: 10, stage: 'supervise' });
    expect(logs).toEqual(['E: pid=5000000 (r): wait4(5000000, WNOHANG): ECHILD (No child processes) (hint: something else in this process reaped pid=5000000, so its exit status is lost), (PIDs left: 0)']);
    expect(onExit).toHaveBeenCalledWith(e);
  });

  it('kills a jail at its time limit (SIGCONT, then SIGKILL) and says so', async () => {
    const exited = sup.track(5000000, 'r', 2);
    vi.advanceTimersByTime(1999);
    expect(fake.calls.some((c) => c.startsWith('kill'))).toBe(false);
    vi.advanceTimersByTime(1);
    // The keep-alive reap at the same tick finds it dead already.
    expect(logs).toEqual(['I: pid=5000000 run time >= time limit (2 >= 2) (r). Killing it', 'I: pid=5000000 (r) terminated with signal: SIGKILL (9), (PIDs left: 0)']);
    expect(fake.calls.filter((c) => c.startsWith('kill'))).toEqual(['kill(5000000, SIGCONT)', 'kill(5000000, SIGKILL)']);
    expect(await settled(exited)).toMatchObject({ signal: 9, code: 137, reason: 'time_limit' });
  });

  it('the keep-alive timer reaps a jail whose SIGCHLD was missed, and stops with the last jail', async () => {
    const exited = sup.track(5000000, 'r', 0);
    fake.exit(5000000, 0);
    await vi.advanceTimersByTimeAsync(5000000);
    expect(await settled(exited)).toMatchObject({ code: 0 });
    const waits = fake.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(fake.calls.length).toBe(waits);
  });

  it('SIGINT/SIGTERM/SIGHUP to tsjail kill every jail, once noted; whenFatal resolves with the signal', async () => {
    const a = sup.track(5000000, 'a', 0);
    const b = sup.track(5000001, 'b', 0);
    const fatal = sup.whenFatal();
    process.emit('SIGTERM');
    expect(await settled(fatal)).toBe(15);
    expect(sup.fatalSignalReceived).toBe(15);
    expect(await settled(sup.whenFatal())).toBe(15);
    expect(fake.calls.filter((c) => c.startsWith('kill'))).toEqual(['kill(5000000, SIGKILL)', 'kill(5000001, SIGKILL)']);
    expect(logs).toEqual(['I: Server stops due to fatal signal (15) caught. Exiting']);
    process.emit('SIGINT');
    expect(sup.fatalSignalReceived).toBe(15);
    sigchld();
    expect((await settled(a))!.reason).toBe('signal');
    expect((await settled(b))!.reason).toBe('signal');
  });

  it('--forward_signals sends the jails the signal tsjail got', () => {
    sup.stop();
    sup = new Supervisor(true);
    sup.start();
    void sup.track(5000000, 'a', 0);
    process.emit('SIGHUP');
    expect(fake.calls.at(-1)).toBe('kill(5000000, SIGHUP)');
  });

  it('SIGUSR1 lists the live jails, not the spares', () => {
    void sup.track(5000000, 'a', 5);
    void sup.track(5000001, '[spare]', 0, undefined, true);
    vi.advanceTimersByTime(2000);
    process.emit('SIGUSR1');
    expect(logs).toEqual(['I: Total number of spawned namespaces: 1', 'I: pid=5000000, Remote host: a, Run time: 2 sec. (time left: 3 s.)']);
  });

  it('a spare counts once assigned; one that never got its connection is discarded, not an exit', async () => {
    const onExit = vi.fn();
    const onDiscard = vi.fn();
    Object.assign(sup, { onExit, onDiscard });
    const spare = sup.track(5000000, '[spare]', 0, undefined, true);
    const other = sup.track(5000001, '[spare]', 0, undefined, true);
    expect(sup.size).toBe(0);
    sup.assign(5000000, 'peer', 1);
    sup.assign(4242, 'nobody', 1);
    expect(sup.size).toBe(1);
    expect(sup.remaining()).toEqual([{ pid: 5000000, remote: 'peer', runMs: 0, timeLimit: 1 }]);
    vi.advanceTimersByTime(5000000);
    expect(fake.calls.filter((c) => c.startsWith('kill'))).toEqual(['kill(5000000, SIGCONT)', 'kill(5000000, SIGKILL)']);
    fake.exit(5000001, 0);
    sigchld();
    expect(await settled(spare)).toMatchObject({ reason: 'time_limit', remote: 'peer' });
    await settled(other);
    expect(onDiscard).toHaveBeenCalledWith(5000001);
    expect(onExit.mock.calls.map(([e]) => (e as ExitInfo).pid)).toEqual([5000000]);
  });

  it('a launch that failed before execve: its exit is not logged as the program\'s, reason setup_failed', async () => {
    let fail!: (ok: boolean) => void;
    const executed = new Promise<boolean>((r) => (fail = r));
    const exited = sup.track(5000000, 'r', 0, executed);
    fake.exit(5000000, 127);
    sigchld();
    expect(await settled(exited)).toBeUndefined(); // waits for the launch outcome
    fail(false);
    expect(await settled(exited)).toMatchObject({ reason: 'setup_failed', exitCode: 127 });
    expect(logs).toEqual([]);
  });

  it('drain waits for every jail and its exit hook; a failing hook is logged, the jail still resolves', async () => {
    let hooked = false;
    sup.onExit = async (e) => {
      await new Promise((r) => setTimeout(r, 50));
      hooked = true;
      if (e.pid === 5000001) throw new Error('status fd closed');
    };
    const a = sup.track(5000000, 'a', 0);
    const b = sup.track(5000001, 'b', 0);
    sup.killAll('SIGKILL', 'signal');
    const drained = sup.drain();
    await vi.advanceTimersByTimeAsync(10);
    expect(hooked).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await drained;
    expect(hooked).toBe(true);
    expect((await settled(a))!.reason).toBe('signal');
    expect((await settled(b))!.code).toBe(137);
    expect(logs.at(-1)).toBe('E: pid=5000001: handling its exit failed: status fd closed');
  });

  it('drain polls until a killed jail can be reaped', async () => {
    void sup.track(5000000, 'a', 0);
    const drained = sup.drain();
    await vi.advanceTimersByTimeAsync(20);
    expect(await settled(drained)).toBeUndefined();
    fake.exit(5000000, 0);
    await vi.advanceTimersByTimeAsync(5);
    await drained;
    expect(sup.size).toBe(0);
  });

  it('a kill of a jail that is already gone is no error', () => {
    void sup.track(5000000, 'a', 0);
    fake.failNext('kill', Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' }));
    expect(() => sup.kill(5000000, 'SIGTERM', 'signal')).not.toThrow();
  });

  it("without signals (the library API) only SIGCHLD is tsjail's; stop() removes the listeners", () => {
    sup.stop();
    const before = ['SIGINT', 'SIGCHLD'].map((s) => process.listenerCount(s));
    sup = new Supervisor(false, false);
    sup.start();
    expect(['SIGINT', 'SIGCHLD'].map((s) => process.listenerCount(s))).toEqual([before[0], before[1]! + 1]);
    sup.stop();
    expect(['SIGINT', 'SIGCHLD'].map((s) => process.listenerCount(s))).toEqual(before);
  });
});
