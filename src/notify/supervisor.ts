/**
 * The main thread's side of the notification supervisor: it owns the notify
 * socket (the plan's hand-off thread sends each jail's listener there), starts
 * the worker (worker.ts) that answers the notifications, logs what the worker
 * hands it before the worker acts, and collects each jail's figures when the
 * jail is reaped.
 *
 * Without tracing, a notification means a violation or a USER_NOTIF rule, and
 * most runs have none: a worker thread (a Node isolate, ~15 ms of CPU) would
 * be started for nothing. Such a supervisor is lazy: a native thread
 * (native/notify.c, tsj_watch_start) waits on an epoll set of the socket and
 * the listeners and wakes the event loop through a pipe; the loop takes the
 * listeners as they come and drops those that hang up, and starts the worker,
 * handing it every listener, at the first notification. That call waits for
 * the worker's start-up once (tens of milliseconds); later ones do not.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { embedded } from '../embedded.js';
import { workerThreads } from '../lazy.js';
import { lingerUntil } from '../proc/lingering.js';
import { readPipe } from '../proc/pool.js';
import { EPOLLERR, EPOLLHUP, EPOLLIN } from '../linux/consts.js';
import { blockingPipe, closeFd, epollCreate, epollCtl, epollReady, notifySocketPair, recvListener, wakePipe, watchStart, writeFd } from '../linux/notify.js';
import { loadedNativePaths, SyscallError } from '../linux/libc.js';
import { log } from '../log/logger.js';
import type { FromWorker, GoInit, NotifyEvent, NotifyGone, NotifyReport, ToWorker, WorkerInit } from './protocol.js';

export interface SupervisorOptions {
  readonly policy?: Uint8Array;
  readonly file?: Uint8Array;
  readonly trace: boolean;
  readonly learn: boolean;
  readonly watch?: readonly string[];
  /** Go module confinement's tables and modules. */
  readonly go?: GoInit;
  /** Each notified call the worker hands over, to be logged; the worker acts once this returns. */
  readonly onEvent: (e: NotifyEvent) => void;
  /** Without tracing: a jail's listener closed, with the count of notifications answered unlogged. */
  readonly onGone?: (g: NotifyGone) => void;
  /** Start the worker at the first notification rather than with the first jail (nothing traced: most jails never notify). */
  readonly lazy?: boolean;
}


/** The lazy supervisor's watch, before the worker runs. */
interface Watch {
  readonly epfd: number;
  /** The event loop's end of the byte that lets the watcher wait again (its wake-ups: readWakes). */
  readonly again: number;
  /** Listeners taken so far (fd → the pid that sent it), handed to the worker when it starts. */
  readonly listeners: Map<number, number>;
}

/** The worker: bundled (dist/notify/worker.cjs) when the build could, else its modules; from the bundled CLI (dist/bin/), the plain build (dist/notify/) or the sources (tests). */
function workerPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = ['../notify/worker.cjs', '../../dist/notify/worker.cjs', '../notify/worker.js', '../../dist/notify/worker.js'].map((p) => join(here, p));
  return candidates.find((p) => existsSync(p)) ?? candidates[2]!;
}

export class NotifySupervisor {
  /** The child's end of the notify socket: inherited by every jail, closed at its execve. */
  readonly childSock: number;
  private readonly sock: number;
  private readonly wake: [number, number];
  private worker?: Worker;
  private readonly waiting = new Map<number, Array<(r: NotifyReport) => void>>();
  private failed = false;
  private disposed = false;

  constructor(private readonly opts: SupervisorOptions) {
    const pair = notifySocketPair();
    if (typeof pair === 'number') throw new SyscallError('socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC) + SO_PASSCRED for the seccomp listeners', -pair);
    const wake = wakePipe();
    if (typeof wake === 'number') {
      pair.forEach(closeFd);
      throw new SyscallError('pipe2(O_CLOEXEC|O_NONBLOCK) to wake the seccomp worker', -wake);
    }
    [this.sock, this.childSock] = pair;
    this.wake = wake;
  }

  /**
   * Starts the worker, once: with the first jail, so that its start-up runs alongside the jail's
   * set-up rather than before it. A call notified before it is up waits for it.
   */
  start(): void {
    if (this.worker || this.watching || this.disposed) return;
    if (this.opts.lazy) this.startWatch();
    else this.startWorker();
  }

  private watching?: Watch;

  private startWatch(): void {
    const epfd = epollCreate();
    if (epfd < 0) throw new SyscallError('epoll_create1(EPOLL_CLOEXEC) for the seccomp listeners', -epfd);
    const fail = (call: string, r: number): never => {
      closeFd(epfd);
      throw new SyscallError(call, -r);
    };
    let r = epollCtl(epfd, this.sock);
    if (r < 0) fail(`epoll_ctl(EPOLL_CTL_ADD, ${this.sock} (notify socket))`, r);
    const out = blockingPipe();
    if (typeof out === 'number') return fail('pipe2(O_CLOEXEC) for the seccomp watcher', out);
    const back = blockingPipe();
    if (typeof back === 'number') {
      closeFd(out[0]);
      closeFd(out[1]);
      return fail('pipe2(O_CLOEXEC) for the seccomp watcher', back);
    }
    // From here the watcher thread owns epfd, out[1] and back[0], and closes them when it ends.
    r = watchStart(epfd, out[1], back[0]);
    if (r < 0) {
      [out[0], out[1], back[0], back[1]].forEach(closeFd);
      fail('pthread_create() of the seccomp watcher', r);
    }
    const w: Watch = { epfd, again: back[1], listeners: new Map() };
    this.watching = w;
    this.readWakes(w, out[0]);
  }

  /**
   * The watcher's wake-ups, a byte each, until EOF (the watcher ended), on a libuv pool thread when
   * there is one for it (proc/pool.ts): most runs never see a byte on this pipe, and node:net would
   * cost them ~4 ms of their start. A failed read hands the listeners to the worker at once.
   */
  private readWakes(w: Watch, fd: number): void {
    readPipe(
      fd,
      () => {
        if (this.watching === w) this.ready(w);
      },
      (err) => {
        if (!err || this.watching !== w || this.disposed) return;
        this.stopWatch();
        this.startWorker([...w.listeners].map(([lfd, pid]) => ({ fd: lfd, pid })));
      },
      { size: 16, unref: true },
    );
  }

  private readonly ready_ = new Int32Array(64);
  /** The watcher saw something: new listeners are taken, hung-up ones dropped; a notification starts the worker. */
  private ready(w: Watch): void {
    if (this.watching !== w) return;
    let notified = false;
    const n = epollReady(w.epfd, this.ready_);
    for (let i = 0; i < n; i++) {
      const fd = this.ready_[2 * i]!;
      const ev = this.ready_[2 * i + 1]!;
      if (fd === this.sock) {
        for (let m = recvListener(this.sock); m !== null && typeof m !== 'number'; m = recvListener(this.sock)) {
          if (m.fd < 0) continue;
          w.listeners.set(m.fd, m.pid);
          const r = epollCtl(w.epfd, m.fd);
          // A listener the watcher cannot see is the worker's from now on.
          if (r < 0) notified = true;
        }
      } else if (!w.listeners.has(fd)) {
        // The wake pipe, or the watcher's own pipe: nothing for the loop.
        continue;
      } else if (ev & EPOLLIN) {
        notified = true;
      } else if (ev & (EPOLLHUP | EPOLLERR)) {
        // Every process under that filter is gone without a notification.
        epollCtl(w.epfd, fd, true);
        closeFd(fd);
        w.listeners.delete(fd);
      }
    }
    if (n < 0 || notified) {
      this.stopWatch();
      this.startWorker([...w.listeners].map(([fd, pid]) => ({ fd, pid })));
    } else writeFd(w.again, Buffer.from([1]), 1);
  }

  /** Ends the watcher thread: it sees its pipe close (in read, or as a hang-up in epoll_wait) and closes its ends. */
  private stopWatch(): Watch | undefined {
    const w = this.watching;
    if (!w) return undefined;
    this.watching = undefined;
    closeFd(w.again);
    return w;
  }

  private startWorker(adopt: ReadonlyArray<{ fd: number; pid: number }> = []): void {
    const data: WorkerInit = {
      sock: this.sock, wake: this.wake[0], policy: this.opts.policy, file: this.opts.file, trace: this.opts.trace, learn: this.opts.learn, watch: this.opts.watch, go: this.opts.go, adopt, native: loadedNativePaths(),
    };
    // The Go program's bytes move to the worker rather than being copied (tens of MiB).
    const transferList = this.opts.go ? [this.opts.go.binary.buffer as ArrayBuffer] : [];
    // node:worker_threads only now: loading it costs ~5 ms, and a lazy supervisor may never get here.
    const { Worker } = workerThreads();
    const w = (this.worker = embedded?.workerSource ? new Worker(embedded.workerSource(), { eval: true, workerData: data, transferList }) : new Worker(workerPath(), { workerData: data, transferList }));
    // The jails' exits keep tsjail running; the worker alone never should.
    w.unref();
    w.on('message', (m: FromWorker) => this.message(m));
    w.on('error', (e) => this.fail(e.message));
    w.on('exit', () => this.fail('it exited'));
  }

  private send(m: ToWorker): void {
    if (this.failed) return;
    if (!this.worker) {
      this.stopWatch();
      this.startWorker();
    }
    this.worker!.postMessage(m);
    writeFd(this.wake[1], Buffer.from('w'), 1);
  }

  private message(m: FromWorker): void {
    switch (m.t) {
      case 'event':
        try {
          this.opts.onEvent(m);
        } finally {
          this.send({ t: 'ack', key: m.key });
        }
        return;
      case 'report': {
        const list = this.waiting.get(m.jail) ?? [];
        this.waiting.delete(m.jail);
        for (const r of list) r(m);
        return;
      }
      case 'gone':
        return this.opts.onGone?.(m);
      case 'error':
        return this.fail(m.message);
    }
  }

  private fail(why: string): void {
    if (this.failed || this.disposed) return;
    this.failed = true;
    log.error(`seccomp notification worker: ${why}; the jails it answered were killed`);
    for (const [jail, list] of this.waiting) for (const r of list) r(emptyReport(jail));
    this.waiting.clear();
  }

  /** The jail was reaped: its figures, once the worker has read what is still queued (tracing only: otherwise it lets listeners go by itself). */
  finish(jail: number): Promise<NotifyReport> {
    if (this.failed) return Promise.resolve(emptyReport(jail));
    return new Promise((resolve) => {
      const list = this.waiting.get(jail) ?? [];
      list.push(resolve);
      this.waiting.set(jail, list);
      this.send({ t: 'finish', jail });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    if (this.worker) this.send({ t: 'stop' });
    this.disposed = true;
    const w = this.stopWatch();
    if (w) {
      for (const fd of w.listeners.keys()) closeFd(fd);
    }
    // The worker closes the listeners it holds; these are the main thread's.
    for (const fd of [this.childSock, this.wake[1]]) closeFd(fd);
    // The socket and the wake pipe's read end are the worker's until it has stopped.
    if (this.worker) {
      const w = this.worker;
      lingerUntil(new Promise<void>((resolve) => w.once('exit', () => resolve())));
      w.once('exit', () => [this.sock, this.wake[0]].forEach(closeFd));
    }
    else [this.sock, this.wake[0]].forEach(closeFd);
  }
}

function emptyReport(jail: number): NotifyReport {
  return { t: 'report', jail, stats: { fs: [], net: [] }, calls: [], unlogged: 0, traced: false };
}
