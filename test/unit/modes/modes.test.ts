/**
 * The supervised modes (once, re-run, listen) and the -Me hand-over, through
 * the recording fake of the libc seam: which jails they start, how they
 * report a launch that failed, and what status tsjail ends with.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { ActiveFeatures } from '../../../src/features/active.js';
import type { FeatureRun } from '../../../src/features/types.js';
import type { RunContext } from '../../../src/modes/context.js';
import { runExecve } from '../../../src/modes/execve.js';
import { startJail, startSpare } from '../../../src/modes/jail.js';
import { connText, runListen } from '../../../src/modes/listen.js';
import { runOnce } from '../../../src/modes/once.js';
import { runRerun } from '../../../src/modes/rerun.js';
import { prepare, type Prepared } from '../../../src/prepare.js';
import { Supervisor } from '../../../src/proc/supervisor.js';
import { captureLog, FakeSys, installFakeSys } from '../helpers/fake-sys.js';
import { FAKE_HOST } from '../helpers/host.js';

let fake: FakeSys;
let restore: () => Promise<void>;
let logs: string[];
let sup: Supervisor;
let events: string[];

beforeEach(() => {
  ({ fake, restore } = installFakeSys());
  logs = captureLog();
  sup = new Supervisor(false);
  sup.start();
  events = [];
});
afterEach(async () => {
  fake.execAll();
  sup.killAll('SIGKILL', 'signal');
  process.emit('SIGCHLD' as NodeJS.Signals);
  await sup.drain();
  sup.stop();
  await restore();
  vi.restoreAllMocks();
});

async function prepared(args: string[]): Promise<Prepared> {
  const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
  return prepare(spec, FAKE_HOST);
}

/** A feature that records its hooks. */
function recorder(): ActiveFeatures {
  const run: FeatureRun & { name: string } = {
    name: 'recorder',
    onStart: (pid, remote) => void events.push(`start ${pid} ${remote}`),
    onSetupFailed: (error, pid, remote) => void events.push(`setup_failed ${pid} ${remote}: ${error}`),
    onExit: (e) => void events.push(`exit ${e.pid} ${e.code}`),
    undoRelease: (pid) => void events.push(`undo ${pid}`),
    dispose: () => void events.push('dispose'),
  };
  return new ActiveFeatures([run]);
}

function context(p: Prepared): RunContext {
  const features = recorder();
  sup.onExit = (e) => features.onExit(e);
  sup.onDiscard = (pid) => features.parent.onFailure?.(pid);
  return { p, sup, features };
}

const sigchld = () => process.emit('SIGCHLD' as NodeJS.Signals);
/** The pid the fake gave the n-th clone. */
const pid = (n: number) => 5000000 + n;

describe('once', () => {
  it("returns the program's status; the status hooks see start and exit", async () => {
    const ctx = context(await prepared(['-Mo', '--chroot', '/']));
    fake.exit(pid(0), 7);
    expect(await runOnce(ctx)).toBe(7);
    expect(logs).toEqual(["I: Executing '/bin/true' for '[STANDALONE MODE]'", 'I: pid=5000000 ([STANDALONE MODE]) exited with status: 7, (PIDs left: 0)']);
    expect(events).toEqual(['start 5000000 [STANDALONE MODE]', 'exit 5000000 7']);
    expect(fake.calls.filter((c) => c.startsWith('wait4'))).toEqual(['wait4(5000000, WNOHANG) = 5000000, status 0x700']);
    expect(fake.openFds()).toEqual([]);
  });

  it('a clone that fails: 255, the error line, setup_failed without a pid', async () => {
    const ctx = context(await prepared(['-Mo', '--chroot', '/']));
    fake.failNext('spawnPlan', FakeSys.error('clone3(flags=0x7e020000|CLONE_VM)', 'ENOSPC'));
    expect(await runOnce(ctx)).toBe(255);
    const err = 'clone3(flags=0x7e020000|CLONE_VM): ENOSPC (No space left on device)';
    expect(logs).toEqual(["I: Executing '/bin/true' for '[STANDALONE MODE]'", `E: ${err}`, "E: Couldn't launch the child process"]);
    expect(events).toEqual([`setup_failed undefined [STANDALONE MODE]: ${err}`]);
    expect(fake.openFds()).toEqual([]);
  });

  it('a parent-side step that fails: the killed child is named, its set-up undone', async () => {
    const ctx = context(await prepared(['-Mo', '--chroot', '/']));
    fake.failNext('setupUser', new Error("write('/proc/5000000/uid_map', '0 1000 1'): EPERM (Operation not permitted)"));
    expect(await runOnce(ctx)).toBe(255);
    expect(events).toEqual(['undo 5000000', "setup_failed 5000000 [STANDALONE MODE]: write('/proc/5000000/uid_map', '0 1000 1'): EPERM (Operation not permitted)"]);
  });

  it('a child that fails before execve: 255 once it has been reaped, no exit line of the program', async () => {
    const ctx = context(await prepared(['-Mo', '--chroot', '/']));
    fake.autoExec = false;
    const status = runOnce(ctx);
    fake.reportReadFails(pid(0), 'EIO');
    sigchld();
    expect(await status).toBe(255);
    expect(logs.slice(1)).toEqual(['E: read(report pipe of pid=5000000): EIO (Input/output error): the launch outcome is unknown, the jail is killed', "E: Couldn't launch the child process"]);
    expect(events.map((e) => e.split(':')[0])).toEqual(['start 5000000 [STANDALONE MODE]', 'setup_failed 5000000 [STANDALONE MODE]', 'exit 5000000 137']);
  });

  it('a wait4 that fails: 255, never 0', async () => {
    const ctx = context(await prepared(['-Mo', '--chroot', '/']));
    fake.waitFails(pid(0), 'ECHILD');
    expect(await runOnce(ctx)).toBe(255);
    expect(logs[1]).toMatch(/^E: pid=5000000 \(\[STANDALONE MODE\]\): wait4\(5000000, WNOHANG\): ECHILD/);
  });

  it("tsjail's own SIGTERM: the jail is killed and tsjail ends with 128+15", async () => {
    const ctx = context(await prepared(['-Mo', '--chroot', '/']));
    const status = runOnce(ctx);
    await vi.waitFor(() => expect(events).toContain('start 5000000 [STANDALONE MODE]'));
    process.emit('SIGTERM');
    sigchld();
    expect(await status).toBe(143);
  });
});

describe('re-run', () => {
  it('hands the waiting spare over each time the program exits, until a fatal signal', async () => {
    const ctx = context(await prepared(['-Mr', '--chroot', '/']));
    fake.exit(pid(0), 0);
    const status = runRerun(ctx);
    // 5000000 ran; 5000001 (its spare) now runs and 5000002 waits.
    await vi.waitFor(() => expect(fake.calls).toContain('sendmsg(108, no fd)'));
    await vi.waitFor(() => expect(fake.calls.some((c) => c.startsWith('clone(') && c.endsWith('= 5000002'))).toBe(true));
    fake.exit(pid(1), 0);
    sigchld();
    await vi.waitFor(() => expect(fake.calls.some((c) => c.endsWith('= 5000003'))).toBe(true));
    process.emit('SIGINT');
    sigchld();
    expect(await status).toBe(130);
    expect(events.filter((e) => e.startsWith('start'))).toEqual(['start 5000000 [STANDALONE MODE]', 'start 5000001 [STANDALONE MODE]', 'start 5000002 [STANDALONE MODE]']);
    expect(logs.filter((l) => l.startsWith("I: Executing"))).toHaveLength(3);
  });

  it('stops with 255 instead of looping when a launch fails before execve', async () => {
    const ctx = context(await prepared(['-Mr', '--chroot', '/']));
    fake.autoExec = false;
    const status = runRerun(ctx);
    fake.reportReadFails(pid(0), 'EIO');
    sigchld();
    expect(await status).toBe(255);
    expect(logs.at(-1)).toBe("E: Couldn't launch the child process");
  });

  it('ends with 128+signal at once when the signal came first', async () => {
    const ctx = context(await prepared(['-Mr', '--chroot', '/']));
    process.emit('SIGHUP');
    expect(await runRerun(ctx)).toBe(129);
    expect(fake.calls).toEqual([]);
  });
});

describe('spares', () => {
  it('a spare whose clone fails is undefined, with the reason logged', async () => {
    const ctx = context(await prepared(['-Mr', '--chroot', '/']));
    fake.failNext('pipeCloexec', FakeSys.error('pipe2(O_CLOEXEC)', 'EMFILE'));
    expect(startSpare(ctx, false)).toBeUndefined();
    expect(logs).toEqual(['E: pipe2(O_CLOEXEC): EMFILE (Too many open files)']);
  });

  it('a spare that is gone when its connection comes is discarded: the caller starts a jail itself', async () => {
    const ctx = context(await prepared(['-Mr', '--chroot', '/']));
    const spare = startSpare(ctx, true)!;
    fake.reports(spare.pid, Buffer.alloc(0));
    await spare.executed; // it ended before the hand-off: its socket is closed
    expect(spare.handOff('peer', 9)).toBeUndefined();
    expect(fake.openFds()).toEqual([]);
  });

  it('a released spare that fails before execve is reported with its remote', async () => {
    const ctx = context(await prepared(['-Mr', '--chroot', '/']));
    fake.autoExec = false;
    const spare = startSpare(ctx, false)!;
    const jail = spare.handOff('[STANDALONE MODE]')!;
    fake.reports(spare.pid, Buffer.alloc(0));
    expect(await jail.executed).toBe(true);
    const other = startJail(ctx, 'r2')!;
    fake.reportReadFails(other.pid, 'EIO');
    expect(await other.executed).toBe(false);
    expect(events.filter((e) => e.startsWith('setup_failed'))).toEqual([`setup_failed ${other.pid} r2: read(report pipe of pid=${other.pid}): EIO (Input/output error): the launch outcome is unknown, the jail is killed`]);
  });
});

describe('listen', () => {
  async function listening(args: string[]) {
    const p = await prepared(['-Ml', '--port', '1', '--bindhost', '127.0.0.1', '--chroot', '/', ...args]);
    const ctx = context({ ...p, cfg: { ...p.cfg, port: 0 } });
    const status = runListen(ctx);
    await vi.waitFor(() => expect(logs.some((l) => l.startsWith('I: Listening on'))).toBe(true));
    const port = Number(/:(\d+)$/.exec(logs.findLast((l) => l.startsWith('I: Listening on'))!)![1]);
    return { ctx, status, port };
  }
  /** A connection and its local port (gone from the socket once tsjail's side closed it). */
  const client = (port: number) =>
    new Promise<Socket & { port: number }>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port }, () => resolve(Object.assign(c, { port: c.localPort! })));
      c.on('error', reject);
    });

  it('refuses a bind address that is no IP address with 1', async () => {
    const p = await prepared(['-Ml', '--port', '1', '--bindhost', 'localhost', '--chroot', '/']);
    expect(await runListen(context(p))).toBe(1);
    expect(logs).toEqual(["E: inet_pton('localhost') failed: not an IPv4 or IPv6 address (--bindhost)"]);
  });

  it('ends with 1 when the port cannot be bound', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (taken.address() as AddressInfo).port;
    const p = await prepared(['-Ml', '--port', String(port), '--bindhost', '127.0.0.1', '--chroot', '/']);
    expect(await runListen(context(p))).toBe(1);
    taken.close();
    expect(logs).toEqual([`E: bind(host:[127.0.0.1], port:${port}): EADDRINUSE (Address already in use)`]);
  });

  it('hands each connection to the spare set up ahead, then sets up the next; SIGTERM ends with 0', async () => {
    const { status, port } = await listening([]);
    await vi.waitFor(() => expect(fake.calls.some((c) => c.startsWith('socketpair'))).toBe(true));
    const c = await client(port);
    await vi.waitFor(() => expect(events).toContain(`start 5000000 [::ffff:127.0.0.1]:${c.port}`));
    expect(fake.calls.find((x) => x.startsWith('sendmsg'))).toMatch(/^sendmsg\(104, fd \d+\)$/);
    await vi.waitFor(() => expect(fake.calls.some((x) => x.endsWith('= 5000001'))).toBe(true));
    expect(logs).toContain(`I: New connection from: [::ffff:127.0.0.1]:${c.port} on: [::ffff:127.0.0.1]:${port}`);
    expect(logs).toContain(`I: Executing '/bin/true' for '[::ffff:127.0.0.1]:${c.port}'`);
    c.destroy();
    process.emit('SIGTERM');
    expect(await status).toBe(0);
  });

  it('--max_conns_per_ip rejects with the line nsjail prints, until a jail of that peer ended', async () => {
    const { status, port } = await listening(['--max_conns_per_ip', '1']);
    const a = await client(port);
    await vi.waitFor(() => expect(events.some((e) => e.startsWith('start'))).toBe(true));
    const b = await client(port);
    await vi.waitFor(() => expect(logs.some((l) => l.includes('max_conns_per_ip limit reached: 1'))).toBe(true));
    expect(logs).toContain(`W: Rejecting connection from '[::ffff:127.0.0.1]:${b.port}', max_conns_per_ip limit reached: 1`);
    // Once the first jail ended, its peer is free again.
    fake.exit(pid(0), 0);
    sigchld();
    await vi.waitFor(() => expect(events).toContain('exit 5000000 0'));
    const c = await client(port);
    await vi.waitFor(() => expect(events.filter((e) => e.startsWith('start'))).toHaveLength(2));
    for (const s of [a, b, c]) s.destroy();
    process.emit('SIGINT');
    expect(await status).toBe(0);
  });

  it('--max_conns counts every live jail', async () => {
    const second = await listening(['--max_conns', '1']);
    const d = await client(second.port);
    await vi.waitFor(() => expect(events.filter((e) => e.startsWith('start'))).toHaveLength(1));
    const e = await client(second.port);
    await vi.waitFor(() => expect(logs).toContain('W: Rejecting connection, max_conns limit reached: 1'));
    for (const s of [d, e]) s.destroy();
    process.emit('SIGTERM');
    expect(await second.status).toBe(0);
  });

  it('after a spare failed, connections get jails started for them', async () => {
    fake.autoExec = false;
    const { status, port } = await listening([]);
    await vi.waitFor(() => expect(fake.calls.some((c) => c.startsWith('socketpair'))).toBe(true));
    fake.reportReadFails(pid(0), 'EIO');
    await vi.waitFor(() => expect(fake.calls).toContain('kill(5000000, SIGKILL)'));
    const c = await client(port);
    await vi.waitFor(() => expect(events.some((e) => e.startsWith('start 5000001'))).toBe(true));
    // No hand-off socket for it: the connection is the jail's stdio at clone.
    expect(fake.calls.filter((x) => x.startsWith('socketpair'))).toHaveLength(1);
    fake.execs(pid(1));
    c.destroy();
    process.emit('SIGTERM');
    expect(await status).toBe(0);
  });

  it("holds each connection until the features' gates admit it; one turned away gets no jail", async () => {
    const p = await prepared(['-Ml', '--port', '1', '--bindhost', '127.0.0.1', '--chroot', '/', '--max_conns', '2']);
    const held: Array<{ remote: string; answer: (ok: boolean) => void }> = [];
    const base = recorder();
    const gate: FeatureRun & { name: string } = {
      name: 'gate',
      admit: (c) => new Promise((answer) => held.push({ remote: c.remote, answer: (ok) => (ok || c.socket.destroy(), answer(ok)) })),
    };
    const features = new ActiveFeatures([...base.runs, gate]);
    sup.onExit = (e) => features.onExit(e);
    const status = runListen({ p: { ...p, cfg: { ...p.cfg, port: 0 } }, sup, features });
    await vi.waitFor(() => expect(logs.some((l) => l.startsWith('I: Listening on'))).toBe(true));
    const port = Number(/:(\d+)$/.exec(logs.findLast((l) => l.startsWith('I: Listening on'))!)![1]);
    const a = await client(port);
    const b = await client(port);
    await vi.waitFor(() => expect(held).toHaveLength(2));
    // Held connections count against --max_conns as jails do.
    const c = await client(port);
    await vi.waitFor(() => expect(logs).toContain('W: Rejecting connection, max_conns limit reached: 2'));
    expect(events.filter((e) => e.startsWith('start'))).toEqual([]);
    held.find((h) => h.remote.endsWith(`:${a.port}`))!.answer(false);
    held.find((h) => h.remote.endsWith(`:${b.port}`))!.answer(true);
    await vi.waitFor(() => expect(events.filter((e) => e.startsWith('start'))).toEqual([`start 5000000 [::ffff:127.0.0.1]:${b.port}`]));
    for (const s of [a, b, c]) s.destroy();
    process.emit('SIGTERM');
    expect(await status).toBe(0);
  });

  it("writes peers as nsjail's connToText does", () => {
    expect(connText('127.0.0.1', 5)).toBe('[::ffff:127.0.0.1]:5');
    expect(connText('::1', 6)).toBe('[::1]:6');
    expect(connText(undefined, undefined)).toBe('[::]:0');
  });
});

describe('-Me', () => {
  it('writes the plan to a memfd, keeps stdio and the log open across execve, and execs the launcher', async () => {
    const p = await prepared(['-Me', '--chroot', '/', '--init']);
    const features = recorder();
    expect(() => runExecve({ ...p, setsid: false }, features)).toThrow(/^execve\('.*tsjail-exec'\)$/);
    expect(fake.calls[0]).toBe('memfd_create(\'tsjail-plan\') = 100');
    expect(fake.calls[1]).toMatch(/^write\(100, \d+ bytes\)$/);
    expect(fake.calls.slice(2)).toEqual(['fcntl(0, F_SETFD, 0)', 'fcntl(1, F_SETFD, 0)', 'fcntl(2, F_SETFD, 0)', "execve('tsjail-exec', ['tsjail-exec', '100'])"]);
    expect(logs).toEqual([
      "W: --init has no effect with -Me: the program keeps tsjail's pid; its pid namespace already has a reaping PID 1",
      'W: setsid() will fail: tsjail leads its process group (an interactive shell started it), so with -Me the program keeps the controlling terminal; use -Mo to detach it',
      "I: Executing '/bin/true' for '[STANDALONE MODE]'",
    ]);
    expect(events).toEqual([`start ${process.pid} [STANDALONE MODE]`, 'dispose']);
  });

  it('a closed stdio descriptor stays closed', async () => {
    const p = await prepared(['-Me', '--chroot', '/']);
    fake.failNext('keepOnExec', FakeSys.error('fcntl(0, F_SETFD, 0)', 'EBADF'));
    expect(() => runExecve(p, recorder())).toThrow(/execve/);
    expect(fake.calls.at(-1)).toMatch(/^execve/);
  });
});
