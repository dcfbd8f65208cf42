/**
 * A recording fake of the libc seam (src/proc/sys.ts), so that src/proc and
 * src/modes are tested as youki tests its syscalls: every call becomes one
 * line of `calls`, descriptors and pids are handed out in order (from 100 and
 * FAKE_PID), and the test decides how each child ends. Descriptors are tracked:
 * closing one that is not open fails with EBADF, and `openFds()` lists the
 * ones nobody closed.
 */
import { vi } from 'vitest';
import { errnoName, errnoValue } from '../../../src/linux/errno.js';
import { SyscallError, type WaitResult } from '../../../src/linux/libc.js';
import { log } from '../../../src/log/logger.js';
import { useSys, type Sys } from '../../../src/proc/sys.js';

type Outcome = { buf: Buffer } | { errno: number };
type End = { status: number } | { errno: number };

const errno = (name: string) => errnoValue(name)!;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGCONT: 18 };
/** Signals whose default action ends the process (the fake's children have default dispositions). */
const FATAL = new Set([1, 2, 9, 15]);

/** The first pid the fake hands out. */
export const FAKE_PID = 5_000_000;

export class FakeSys implements Sys {
  readonly calls: string[] = [];
  /** Plans passed to spawnPlan, by pid. */
  readonly plans = new Map<number, Buffer>();
  /**
   * A child execs (EOF on its report pipe) once released, unless the test set
   * its outcome or turned this off: at once, or for a spare when tsjail sends
   * on (or closes) its hand-off socket.
   */
  autoExec = true;
  private nextFd = 100;
  /** Above the kernel's PID_MAX_LIMIT (4194304): never a real process, should one reach the real kill(). */
  private nextPid = FAKE_PID;
  private readonly open = new Set<number>();
  private readonly peer = new Map<number, number>();
  private readonly pidOfErrW = new Map<number, number>();
  private readonly failures = new Map<string, unknown[]>();
  private readonly outcomes = new Map<number, Outcome>();
  private readonly readers = new Map<number, (o: Outcome) => void>();
  private readonly ended = new Map<number, End>();
  private readonly reaped = new Set<number>();
  /** A spare's parent end of its hand-off socket, by pid, until it is released. */
  private readonly waitsOn = new Map<number, number>();
  private lastPair?: [number, number];

  /** The next call of `name` (after `skip` that succeed) throws `error`; several are queued in order. */
  failNext(name: keyof Sys, error: unknown, skip = 0): this {
    this.failures.set(name, [...(this.failures.get(name) ?? []), ...Array<undefined>(skip).fill(undefined), error]);
    return this;
  }
  /** A SyscallError as linux/libc.ts throws it. */
  static error(call: string, name: string): SyscallError {
    return new SyscallError(call, errno(name));
  }

  /** The child exec'd: EOF on its report pipe. */
  execs(pid: number): void {
    this.settle(pid, { buf: Buffer.alloc(0) });
  }
  /** The child wrote these reports (src/linux/wire.ts REPORT records) before it ended. */
  reports(pid: number, buf: Buffer): void {
    this.settle(pid, { buf });
  }
  /** Reading the child's report pipe fails with this errno. */
  reportReadFails(pid: number, errnoName: string): void {
    this.settle(pid, { errno: errno(errnoName) });
  }
  /** The process ends: exit(code) or a signal. */
  exit(pid: number, code: number): void {
    this.ended.set(pid, { status: (code & 0xff) << 8 });
  }
  killedBy(pid: number, signal: number): void {
    this.ended.set(pid, { status: signal });
  }
  /** wait4 for it fails with this errno. */
  waitFails(pid: number, errnoName: string): void {
    this.ended.set(pid, { errno: errno(errnoName) });
  }
  /** Every child still waiting for its launch outcome execs (a test's clean-up). */
  execAll(): void {
    for (const pid of [...this.readers.keys()]) this.execs(pid);
  }
  openFds(): number[] {
    return [...this.open].sort((a, b) => a - b);
  }

  private settle(pid: number, o: Outcome): void {
    const r = this.readers.get(pid);
    if (r) {
      this.readers.delete(pid);
      r(o);
    } else this.outcomes.set(pid, o);
  }
  /** A spare waiting on this socket goes on (with autoExec, to its execve). */
  private released(sock: number): void {
    for (const [pid, at] of this.waitsOn) {
      if (at !== sock) continue;
      this.waitsOn.delete(pid);
      if (this.autoExec && this.readers.has(pid)) this.execs(pid);
    }
  }
  private record(line: string): void {
    this.calls.push(line);
  }
  private maybeFail(name: keyof Sys): void {
    const q = this.failures.get(name);
    const e = q?.shift();
    if (e !== undefined) throw e;
  }
  private pair(): [number, number] {
    const p: [number, number] = [this.nextFd++, this.nextFd++];
    p.forEach((fd) => this.open.add(fd));
    this.peer.set(p[0], p[1]).set(p[1], p[0]);
    return p;
  }

  pipeCloexec(): [number, number] {
    this.maybeFail('pipeCloexec');
    const p = this.pair();
    this.record(`pipe2(O_CLOEXEC) = [${p}]`);
    return p;
  }
  seqpacketPair(): [number, number] {
    this.maybeFail('seqpacketPair');
    const p = this.pair();
    this.lastPair = p;
    this.record(`socketpair(AF_UNIX, SOCK_SEQPACKET) = [${p}]`);
    return p;
  }
  spawnPlan(plan: Buffer, cloneFlags: bigint, errFd: number, shareMemory: boolean): { pid: number; region?: bigint } {
    this.maybeFail('spawnPlan');
    const pid = this.nextPid++;
    this.plans.set(pid, Buffer.from(plan));
    this.pidOfErrW.set(errFd, pid);
    if (this.lastPair) this.waitsOn.set(pid, this.lastPair[0]);
    this.lastPair = undefined;
    this.record(`clone(0x${cloneFlags.toString(16)}, errFd=${errFd}${shareMemory ? ', CLONE_VM' : ''}) = ${pid}`);
    return shareMemory ? { pid, region: BigInt(pid) } : { pid };
  }
  releasePlan(region: bigint): void {
    this.record(`release(${region})`);
  }
  sendFd(sock: number, fd: number): void {
    this.record(`sendmsg(${sock}, ${fd < 0 ? 'no fd' : `fd ${fd}`})`);
    this.maybeFail('sendFd');
    this.released(sock);
  }
  waitPid(pid: number): WaitResult | undefined {
    this.maybeFail('waitPid');
    const e = this.reaped.has(pid) ? { errno: errno('ECHILD') } : this.ended.get(pid);
    if (!e) {
      this.record(`wait4(${pid}, WNOHANG) = 0`);
      return undefined;
    }
    if ('errno' in e) {
      this.record(`wait4(${pid}, WNOHANG) = -${errnoName(e.errno)}`);
      throw new SyscallError(`wait4(${pid}, WNOHANG)`, e.errno);
    }
    this.reaped.add(pid);
    this.record(`wait4(${pid}, WNOHANG) = ${pid}, status 0x${e.status.toString(16)}`);
    return { status: e.status, rusage: { utimeMs: 1, stimeMs: 2, maxRssKiB: 3 } };
  }
  reapKilled(pid: number): void {
    this.record(`wait4(${pid}, 0)`);
    this.reaped.add(pid);
  }
  kill(pid: number, signal: NodeJS.Signals | number): void {
    const n = typeof signal === 'number' ? signal : SIGNALS[signal]!;
    this.record(`kill(${pid}, ${signal})`);
    this.maybeFail('kill');
    if (this.reaped.has(pid)) throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH', errno: -3 });
    if (FATAL.has(n) && !this.ended.has(pid)) this.ended.set(pid, { status: n });
  }
  close(fd: number): void {
    this.record(`close(${fd})`);
    this.maybeFail('close');
    if (!this.open.delete(fd)) throw new SyscallError(`close(${fd})`, errno('EBADF'));
    this.released(fd);
  }
  write(fd: number, data: string | Uint8Array): void {
    this.record(typeof data === 'string' ? `write(${fd}, '${data}')` : `write(${fd}, ${data.length} bytes)`);
    this.maybeFail('write');
  }
  readToEnd(fd: number, what: string, _writerWaits: boolean): Promise<Buffer> {
    this.record(`read(${fd}) until EOF: ${what}`);
    if (!this.open.has(fd)) return Promise.reject(new SyscallError(`read(${what})`, errno('EBADF')));
    const pid = this.pidOfErrW.get(this.peer.get(fd)!) ?? -1;
    return new Promise<Outcome>((resolve) => {
      const ready = this.outcomes.get(pid);
      if (ready) {
        this.outcomes.delete(pid);
        resolve(ready);
      } else if (this.autoExec && !this.waitsOn.has(pid)) resolve({ buf: Buffer.alloc(0) });
      else this.readers.set(pid, resolve);
    }).then((o) => {
      // The reader closes the descriptor at EOF or on its error.
      this.open.delete(fd);
      if ('errno' in o) throw new SyscallError(`read(${what})`, o.errno);
      return o.buf;
    });
  }
  setupUser(_p: unknown, pid: number): void {
    this.record(`id maps(${pid})`);
    this.maybeFail('setupUser');
  }
  memfdCreate(name: string): number {
    const fd = this.nextFd++;
    this.open.add(fd);
    this.record(`memfd_create('${name}') = ${fd}`);
    return fd;
  }
  keepOnExec(fd: number): void {
    this.record(`fcntl(${fd}, F_SETFD, 0)`);
    this.maybeFail('keepOnExec');
  }
  execInPlace(path: string, argv: readonly string[]): never {
    this.record(`execve('${path.split('/').pop()}', [${argv.map((a) => `'${a}'`).join(', ')}])`);
    throw new SyscallError(`execve('${path}')`, errno('ENOENT'));
  }
}

/**
 * Installs a fresh fake for one test; returns it and the function that puts
 * the real seam back. That waits for pending callbacks first: a fake pid or
 * plan region must never reach the real kill() or tsj_release().
 */
export function installFakeSys(): { fake: FakeSys; restore: () => Promise<void> } {
  const fake = new FakeSys();
  const back = useSys(fake);
  return {
    fake,
    restore: async () => {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      back();
    },
  };
}

/** tsjail's log lines during a test, as 'I: text', 'W: text', 'E: text'. */
export function captureLog(): string[] {
  const lines: string[] = [];
  for (const [level, letter] of [
    ['info', 'I'],
    ['warn', 'W'],
    ['error', 'E'],
  ] as const) {
    vi.spyOn(log, level).mockImplementation((msg: string) => void lines.push(`${letter}: ${msg}`));
  }
  return lines;
}
