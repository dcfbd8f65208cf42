/** A tsjail listen-mode server on 127.0.0.1 and a raw TCP client, both bounded in time. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { TSJAIL } from './run-tsjail.js';

/** A free high port on 127.0.0.1 (bound once by the kernel's choice, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Is something listening on this TCP port (the kernel's table: no probe connection, which would start a jail)? */
function listening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return ['/proc/net/tcp', '/proc/net/tcp6'].some((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .some((l) => {
        const c = l.trim().split(/\s+/);
        return c[1]?.endsWith(hex) && c[3] === '0A';
      }),
  );
}

export interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  /** stderr so far (the log). */
  log(): string;
  /** Resolves once the log matches (or rejects after timeoutMs). */
  waitLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startServer(args: readonly string[], opts: { stdio?: Array<'pipe' | 'ignore' | number> } = {}): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [TSJAIL, '-Ml', '--bindhost', '127.0.0.1', '--port', String(port), ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      clearTimeout(killer);
      r(code);
    }),
  );
  const waitLog = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        const m = re.exec(stderr);
        if (m) return resolve(m[0]);
        if (Date.now() - t0 > timeoutMs) return reject(new Error(`log never matched ${re}:\n${stderr}`));
        setTimeout(tick, 10);
      };
      tick();
    });
  for (const t0 = Date.now(); !listening(port); await new Promise((r) => setTimeout(r, 20))) {
    if (child.exitCode !== null || Date.now() - t0 > 10_000) throw new Error(`tsjail is not listening on ${port}:\n${stderr}`);
  }
  return {
    child,
    port,
    log: () => stderr,
    waitLog,
    exited,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Reply {
  data: string;
  /** The server closed its side (EOF) before the timeout. */
  ended: boolean;
}

/** Connect, send input, half-close unless keepOpen, read until EOF. */
export function talk(port: number, input = '', opts: { timeoutMs?: number; halfClose?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
    let data = '';
    const done = (ended: boolean) => {
      clearTimeout(t);
      c.destroy();
      resolve({ data, ended });
    };
    const t = setTimeout(() => done(false), opts.timeoutMs ?? 10_000);
    c.on('data', (d: Buffer) => (data += d.toString()));
    c.on('end', () => done(true));
    c.on('error', () => done(true));
    c.on('connect', () => {
      if (input) c.write(input);
      if (opts.halfClose ?? true) c.end();
    });
  });
}

/** An open connection, for caps and listing tests. */
export function hold(port: number): Promise<{ close(): void; ended: Promise<void> }> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
    const ended = new Promise<void>((r) => {
      c.on('end', () => r());
      c.on('close', () => r());
    });
    c.on('error', () => {});
    c.on('data', () => {});
    c.on('connect', () => resolve({ close: () => c.destroy(), ended }));
  });
}
