/**
 * The main thread's side of the notification supervisor: it owns the notify
 * socket (the plan's hand-off thread sends each jail's listener there), starts
 * the worker (worker.ts) that answers the notifications, logs what the worker
 * hands it before the worker acts, and collects each jail's figures when the
 * jail is reaped.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { closeFd, notifySocketPair, wakePipe, writeFd } from '../linux/notify.js';
import { SyscallError } from '../linux/libc.js';
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
    if (this.worker || this.disposed) return;
    const data: WorkerInit = { sock: this.sock, wake: this.wake[0], policy: this.opts.policy, file: this.opts.file, trace: this.opts.trace, learn: this.opts.learn, watch: this.opts.watch, go: this.opts.go };
    // The Go program's bytes move to the worker rather than being copied (tens of MiB).
    const transferList = this.opts.go ? [this.opts.go.binary.buffer as ArrayBuffer] : [];
    const w = (this.worker = new Worker(workerPath(), { workerData: data, transferList }));
    // The jails' exits keep tsjail running; the worker alone never should.
    w.unref();
    w.on('message', (m: FromWorker) => this.message(m));
    w.on('error', (e) => this.fail(e.message));
    w.on('exit', () => this.fail('it exited'));
  }

  private send(m: ToWorker): void {
    if (this.failed) return;
    this.start();
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
    // The worker closes the listeners it holds; these are the main thread's.
    for (const fd of [this.childSock, this.wake[1]]) closeFd(fd);
    // The socket and the wake pipe's read end are the worker's until it has stopped.
    if (this.worker) this.worker.once('exit', () => [this.sock, this.wake[0]].forEach(closeFd));
    else [this.sock, this.wake[0]].forEach(closeFd);
  }
}

function emptyReport(jail: number): NotifyReport {
  return { t: 'report', jail, stats: { fs: [], net: [] }, calls: [], unlogged: 0, traced: false };
}
