/** Runs the built CLI for real: {exitCode, signal, stdout, stderr}, with a scrubbed environment. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TSJAIL = join(ROOT, 'dist/bin/tsjail.js');
export const SHARED = join(ROOT, '../shared');

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Called with the child once spawned (to send signals, read its pid). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
  /** Run tsjail itself as this uid and gid, without supplementary groups (setpriv). */
  asUser?: number;
  /** Words run before everything else (after asUser's setpriv is put in place), e.g. `unshare -m sh -c '…; exec "$@"' sh`. */
  wrap?: readonly string[];
}

function scrubbedEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('TSJAIL_') || k === 'FORCE_COLOR' || k.startsWith('VITEST')) continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

export function runTsjail(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const cmd = [process.execPath, TSJAIL, ...args];
    if (opts.asUser !== undefined) cmd.unshift('setpriv', '--reuid', String(opts.asUser), '--regid', String(opts.asUser), '--clear-groups');
    if (opts.wrap) cmd.unshift(...opts.wrap);
    const child = spawn(cmd[0]!, cmd.slice(1), { env: scrubbedEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr, ms: Date.now() - start });
    });
    child.stdin.end(opts.input ?? '');
    opts.onSpawn?.(child);
  });
}

/** `--chroot / -q` plus args: the common way to look at the jail from inside. */
export function jail(args: readonly string[], cmd: readonly string[], opts?: RunOptions): Promise<RunResult> {
  return runTsjail(['-Mo', '--chroot', '/', '-q', ...args, '--', ...cmd], opts);
}

export function sh(script: string, args: readonly string[] = [], opts?: RunOptions): Promise<RunResult> {
  return jail(args, ['/bin/sh', '-c', script], opts);
}
