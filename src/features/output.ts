/**
 * --output_limit: a cap on what the program writes to stdout and stderr.
 *
 * The jail's fds 1 and 2 are otherwise tsjail's own (or, in listen mode, the
 * client's socket): shared descriptors that nothing counts, and RLIMIT_FSIZE
 * only counts writes to regular files. So with a cap each jail gets pipes
 * instead, and tsjail relays what comes out of them to where it would have
 * gone, counting: once stdout and stderr together pass the cap, the rest is
 * cut (exactly the cap is passed on) and the jail is SIGKILLed with reason
 * `output_limit` (verdict OLE).
 *
 * - -Mo/-Mr: stdin stays tsjail's (a duplicate of fd 0); stdout and stderr
 *   are one pipe when tsjail's fds 1 and 2 are the same file (a terminal,
 *   `2>&1`), which keeps their interleaving, else two. tsjail writes to its
 *   own copies: FIFOs and terminals reopened (a description of its own, so no
 *   O_NONBLOCK is shared with anyone), files duplicated (their offset is
 *   shared, as the program's was).
 * - -Ml: the connection does not go to the jail at all. Its fd 0 is a pipe
 *   too and tsjail relays both ways: a jail holding the socket would clear
 *   O_NONBLOCK on it (its stdin), and tsjail's own writes to the shared
 *   description would then block. A client's half-close reaches the program
 *   as EOF on stdin; the program's end reaches the client as EOF. No spare
 *   jails then: one waiting before its execve would hold a copy of every
 *   descriptor of tsjail's, the write ends of the other jails' stdin pipes
 *   among them, and keep their EOF from them.
 *
 * The program's stdout and stderr are therefore pipes (isatty() is false).
 * The count is final only once the pipes are read to their end: a program
 * that writes past the cap and exits at once may be reaped first, so the exit
 * hook reads what is left (at most a pipe's capacity; writers still holding
 * the pipe after the jail ended get 1 s of silence, then are cut off) and
 * then calls it OLE. Standalone modes also wait until the output is written
 * out before the exit is reported (tsjail must not exit with it unwritten),
 * unless tsjail is told to stop.
 */
import { closeSync, constants, createWriteStream, fstatSync, openSync, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { amendKillCause } from '../cgroup/accounting.js';
import { dupCloexec, pipeCloexec } from '../linux/libc.js';
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import type { ExitInfo } from '../proc/supervisor.js';
import type { FeatureRun, JailControl } from './types.js';

/** After the jail ended, its pipes are read until they have been quiet this long (a writer outside the jail's control). */
const QUIET_AFTER_EXIT_MS = 1000;
/** A client that does not take the rest of the output this long after the jail ended loses it. */
const LINGER_AFTER_EXIT_MS = 30_000;

type Target = 'conn' | 1 | 2;

/** tsjail's end of one launch's pipes. */
interface Ends {
  /** Read ends, and where what comes out goes. */
  readonly out: ReadonlyArray<{ readonly fd: number; readonly to: Target }>;
  /** Listen mode: the write end of the program's stdin. */
  readonly stdin?: number;
}

/** One of tsjail's own stdout/stderr, written to without blocking the event loop. */
interface Sink {
  readonly stream?: Writable;
  /** Writes queued and not yet done. */
  pending: number;
  idle: Array<() => void>;
}

/** Where output goes when it has no destination (tsjail's fd closed, a connection missing). */
const NOWHERE: Sink = { pending: 0, idle: [] };

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.rdev === b.rdev;
}

/** tsjail's fd 1 or 2 as a stream of its own; none when closed (the output then goes nowhere, as it did). */
function openSink(n: 1 | 2): Sink {
  let st: Stats;
  try {
    st = fstatSync(n);
  } catch {
    return { pending: 0, idle: [] };
  }
  let stream: Writable;
  if (st.isFIFO() || st.isSocket()) {
    // A FIFO reopened, a socket duplicated (it cannot be reopened): Node writes them non-blocking.
    let fd: number;
    try {
      fd = st.isFIFO() ? openSync(`/proc/self/fd/${n}`, constants.O_WRONLY) : dupCloexec(n);
    } catch {
      fd = dupCloexec(n);
    }
    const s = new Socket({ fd, readable: false, writable: true });
    s.on('error', (e) => log.warn(`relaying the jail's output to fd ${n}: ${e.message}`));
    stream = s;
  } else {
    // Files keep the shared offset (a duplicate); a terminal is reopened. Written from libuv's pool, blocking there.
    let fd: number;
    try {
      fd = st.isCharacterDevice() ? openSync(`/proc/self/fd/${n}`, constants.O_WRONLY) : dupCloexec(n);
    } catch {
      fd = dupCloexec(n);
    }
    stream = createWriteStream('', { fd, autoClose: true });
    stream.on('error', (e) => log.warn(`relaying the jail's output to fd ${n}: ${e.message}`));
  }
  return { stream, pending: 0, idle: [] };
}

class Relay {
  private written = 0;
  cut = false;
  private exited = false;
  private readonly sources: Socket[] = [];
  private readonly closed: Promise<void>;
  private quiet?: NodeJS.Timeout;
  private stdin?: Socket;

  private readonly targets: ReadonlySet<Target>;

  constructor(
    private readonly pid: number,
    private readonly remote: string,
    private readonly limit: number,
    ends: Ends,
    private readonly dest: (to: Target) => Sink,
    private readonly ctl: JailControl | undefined,
  ) {
    this.targets = new Set(ends.out.map((o) => o.to));
    const conn = ctl?.conn;
    if (ends.stdin !== undefined) this.stdin = this.relayInput(ends.stdin, conn);
    this.closed = Promise.all(
      ends.out.map(
        ({ fd, to }) =>
          new Promise<void>((resolve) => {
            const src = new Socket({ fd, readable: true, writable: false });
            this.sources.push(src);
            src.on('data', (chunk: Buffer) => this.take(chunk, to, src));
            src.on('error', () => {});
            src.on('close', () => resolve());
          }),
      ),
    ).then(() => clearTimeout(this.quiet));
  }

  /** Listen mode: the client's bytes to the program's stdin, its half-close as EOF there. */
  private relayInput(fd: number, conn: Socket | undefined): Socket {
    const w = new Socket({ fd, readable: false, writable: true });
    w.on('error', () => {}); // the program is gone or closed its stdin: what the client sends is dropped
    if (!conn) {
      w.destroy();
      return w;
    }
    // The program may still answer after the client half-closed.
    conn.allowHalfOpen = true;
    conn.on('error', () => {});
    // EOF on a pipe is its last writer's close (a pipe has no shutdown): once what was written is in the pipe.
    let inFlight = 0;
    let ended = false;
    const closeWhenDone = () => {
      if (ended && inFlight === 0) w.destroy();
    };
    conn.on('data', (d: Buffer) => {
      if (w.destroyed) return;
      inFlight++;
      const ok = w.write(d, () => {
        inFlight--;
        closeWhenDone();
      });
      if (!ok) {
        conn.pause();
        w.once('drain', () => conn.resume());
      }
    });
    conn.on('end', () => {
      ended = true;
      closeWhenDone();
    });
    conn.resume();
    return w;
  }

  private take(chunk: Buffer, to: Target, src: Socket): void {
    if (this.exited) this.hush();
    if (this.cut) return;
    const room = this.limit - this.written;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.written += part.length;
    if (part.length) this.send(to, part, src);
    if (chunk.length <= room) return;
    this.cut = true;
    log.info(`pid=${this.pid} output > output limit (${this.limit} bytes) (${this.remote}). Killing it`);
    if (!this.exited) {
      if (this.ctl) this.ctl.kill('output_limit');
      else process.kill(this.pid, 'SIGKILL');
    }
    for (const s of this.sources) s.destroy();
  }

  private send(to: Target, data: Buffer, src: Socket): void {
    const sink = this.dest(to);
    if (!sink.stream) return; // tsjail's fd was closed: the output went nowhere before either
    if (sink.stream.destroyed) {
      // The reader went away (EPIPE): the program's next write fails as it would have written there itself.
      src.destroy();
      return;
    }
    sink.pending++;
    const ok = sink.stream.write(data, () => {
      if (--sink.pending === 0) for (const f of sink.idle.splice(0)) f();
    });
    // Backpressure: the program blocks on a full pipe, as it would on a slow reader. Not once it has ended.
    if (!ok && !this.exited) {
      src.pause();
      const stream = sink.stream;
      const onDrain = () => {
        stream.off('close', onClose);
        src.resume();
      };
      // A reader that went away while the program waits: it gets EPIPE, as it would have.
      const onClose = () => {
        stream.off('drain', onDrain);
        src.destroy();
      };
      stream.once('drain', onDrain);
      stream.once('close', onClose);
    }
  }

  /** After the jail's end: the pipes have been quiet long enough, or there is more. */
  private hush(): void {
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.sources.forEach((s) => s.destroy()), QUIET_AFTER_EXIT_MS);
  }

  /** The jail was reaped: read what is left, then the count is final. Standalone modes also wait until it is written out. */
  async finish(): Promise<void> {
    this.exited = true;
    for (const s of this.sources) s.resume();
    this.hush();
    await this.closed;
    this.stdin?.destroy();
    const conn = this.ctl?.conn;
    if (conn) {
      // Everything read is queued on the socket: the client gets it, then EOF.
      const linger = setTimeout(() => conn.destroy(), LINGER_AFTER_EXIT_MS);
      conn.end(() => {
        clearTimeout(linger);
        conn.destroy();
      });
      return;
    }
    const flushed = [...this.targets].map((to) => this.dest(to)).map((sink) => (sink.pending === 0 || sink.stream?.destroyed ? Promise.resolve() : new Promise<void>((r) => sink.idle.push(r))));
    await Promise.race([Promise.all(flushed), this.ctl?.stopping ?? new Promise(() => {})]);
  }

  destroy(): void {
    clearTimeout(this.quiet);
    for (const s of this.sources) s.destroy();
    this.stdin?.destroy();
    this.ctl?.conn?.destroy();
  }
}

export function outputLimit(p: Prepared): FeatureRun {
  const listen = p.cfg.mode === 'LISTEN_TCP';
  const limit = Number(p.cfg.ext.output_limit);
  /** Pipes of launched jails not started yet (spares waiting for a connection). */
  const waiting = new Map<number, Ends>();
  const relays = new Map<number, Relay>();
  const sinks: Partial<Record<1 | 2, Sink>> = {};
  let oneSink: boolean | undefined;
  const sink = (to: Target): Sink => {
    if (to === 'conn') return NOWHERE; // listen mode writes to the socket (onStart)
    oneSink ??= (() => {
      try {
        return sameFile(fstatSync(1), fstatSync(2));
      } catch {
        return false;
      }
    })();
    const n = oneSink ? 1 : to;
    return (sinks[n] ??= openSink(n));
  };
  const close = (e: Ends) => [...e.out.map((o) => o.fd), ...(e.stdin !== undefined ? [e.stdin] : [])].forEach((fd) => closeSync(fd));
  /** The child's descriptors go with the clone; tsjail's ends wait for the jail's start (or close with its failure). */
  const launchStdio = (child: [number, number, number], ends: Ends) => ({
    child,
    launched(pid: number | undefined) {
      for (const fd of new Set(child)) closeSync(fd);
      if (pid === undefined) close(ends);
      else waiting.set(pid, ends);
    },
  });

  return {
    stdio() {
      const made: number[] = [];
      const pipe = () => {
        const fds = pipeCloexec();
        made.push(...fds);
        return fds;
      };
      try {
        if (listen) {
          const [inR, inW] = pipe();
          const [outR, outW] = pipe();
          return launchStdio([inR, outW, outW], { out: [{ fd: outR, to: 'conn' }], stdin: inW });
        }
        let stdin: number;
        try {
          stdin = dupCloexec(0);
        } catch {
          stdin = openSync('/dev/null', constants.O_RDONLY); // tsjail's fd 0 is closed: the program's reads see EOF
        }
        made.push(stdin);
        sink(1); // decides whether stdout and stderr share one pipe
        const [r1, w1] = pipe();
        if (oneSink) return launchStdio([stdin, w1, w1], { out: [{ fd: r1, to: 1 }] });
        const [r2, w2] = pipe();
        return launchStdio([stdin, w1, w2], { out: [{ fd: r1, to: 1 }, { fd: r2, to: 2 }] });
      } catch (e) {
        made.forEach((fd) => closeSync(fd));
        throw e;
      }
    },
    onStart(pid, remote, ctl) {
      const ends = waiting.get(pid);
      if (!ends) return;
      waiting.delete(pid);
      const toConn: Sink | undefined = ctl?.conn ? { stream: ctl.conn, pending: 0, idle: [] } : undefined;
      relays.set(pid, new Relay(pid, remote, limit, ends, (to) => (to === 'conn' ? (toConn ?? NOWHERE) : sink(to)), ctl));
    },
    // A spare that never got its connection, or a launch that failed after the clone.
    undoRelease(pid) {
      const ends = waiting.get(pid);
      if (ends) close(ends);
      waiting.delete(pid);
    },
    async onExit(e: ExitInfo) {
      const relay = relays.get(e.pid);
      if (!relay) return;
      await relay.finish();
      relays.delete(e.pid);
      if (relay.cut && e.reason !== 'output_limit') amendKillCause(e, 'output_limit');
    },
    dispose() {
      for (const r of relays.values()) r.destroy();
      relays.clear();
      for (const ends of waiting.values()) close(ends);
      waiting.clear();
      for (const s of Object.values(sinks)) s.stream?.destroy();
    },
  };
}
