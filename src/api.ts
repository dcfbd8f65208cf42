/**
 * The library API: `import { runJail, startJail } from 'tsjail'`. A jail is
 * described exactly as on the command line (flags, an nsjail config as a file
 * or as an object in nsjail's JSON form, and the command), goes through the
 * same parse → validate → prepare → plan steps with the same error messages,
 * and runs in the caller's process under a supervisor that leaves the host
 * program's signals alone.
 *
 * Two layers. startJail/runJail take options and run one program per jail
 * with its stdio as the caller chooses: what a service embedding tsjail wants.
 * runSpec takes a JailSpec already parsed and runs it the way the command
 * line does: every mode (once, rerun, listen, -Me, --daemon), tsjail's own
 * SIGINT/SIGTERM/SIGUSR1 handling, its log lines, its exit status. The CLI
 * (src/main.ts, and `tsjail learn`) is a client of runSpec: its parsing has
 * already produced the JailSpec, its modes need the process-wide signal
 * handling that startJail deliberately leaves to its host, and going through
 * options again would parse twice. runSpec lives in src/run-spec.ts and loads
 * the supervisor and modes lazily, so the CLI's start-up pays for nothing it
 * does not run (not this file's streams either).
 */
import { EventEmitter } from 'node:events';
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { readAccounting } from './cgroup/accounting.js';
import { parseCommandLine } from './cli/parse.js';
import { JailError, ValidationError, errorText } from './errors.js';
import { prepareFeatures, type ActiveFeatures } from './features/active.js';
import { FEATURES } from './features/table.js';
import type { Feature } from './features/types.js';
import { readHostFacts } from './host.js';
import { signalName } from './linux/errno.js';
import { dupCloexec, pipeCloexec } from './linux/libc.js';
import { log, type LogSettings } from './log/logger.js';
import type { Pins } from './phases/pins.js';
import { prepare, type Prepared } from './prepare.js';
import { LaunchError, launchJail } from './proc/spawn.js';
import { Supervisor, type ExitInfo } from './proc/supervisor.js';
import type { JailSpec } from './spec.js';
import { cpuLimitMs, exitReason, verdictOf, type ExitReason, type Verdict } from './status.js';
import { validateSpec } from './validate.js';

export { JailError, ValidationError } from './errors.js';
export { runSpec } from './run-spec.js';
export type { ExitReason, Verdict } from './status.js';
export type { Feature, FeatureRun, Anchor } from './features/types.js';

/**
 * Where one of the program's fds 0-2 goes: a new pipe whose other end the
 * Jail exposes as a stream ('pipe'), this process's own descriptor
 * ('inherit'), /dev/null ('ignore'), or a descriptor of the caller's (it stays
 * the caller's to close).
 */
export type StdioOption = 'pipe' | 'inherit' | 'ignore' | number;

export interface JailOptions {
  /** The program and its arguments: what follows `--` on the command line. */
  readonly command?: readonly string[];
  /** Command-line flags as the CLI takes them, e.g. ['--chroot', '/', '--user', '99999']; applied after `config`. */
  readonly args?: readonly string[];
  /** An nsjail config: the path of a text or JSON file, or an object in nsjail's JSON form. */
  readonly config?: string | Readonly<Record<string, unknown>>;
  readonly stdin?: StdioOption;
  readonly stdout?: StdioOption;
  readonly stderr?: StdioOption;
  /** Aborting kills the jail (SIGKILL); the result's reason is then 'signal'. */
  readonly signal?: AbortSignal;
  /** Features of the caller's, after the built-in ones (see the Feature type). */
  readonly features?: readonly Feature[];
}

export interface JailResult {
  readonly pid: number;
  /** The shell's encoding: the exit code, or 128 + signal; 255 for a jail that failed before its program ran. */
  readonly code: number;
  readonly exitCode?: number;
  readonly signal?: number;
  readonly signalName?: string;
  readonly reason: ExitReason;
  /** The judge's verdict: OK, TLE, MLE, OLE, RE, SV or SE (as the status channel's; see src/status.ts). */
  readonly verdict: Verdict;
  readonly wallMs: number;
  readonly userMs: number;
  readonly systemMs: number;
  readonly peakMemoryBytes: number;
  /** Why the jail failed before its program ran (reason 'setup_failed'), or why its end is unknown (reason 'wait_failed'). */
  readonly error?: JailError;
}

export interface JailEvents {
  start: [{ pid: number }];
  exit: [JailResult];
  /** The program was killed by its seccomp filter (SIGSYS); the log names the call where the kernel tells it. */
  violation: [{ pid: number; signal: number }];
}

/** A running jail. `result` settles when it has ended and tsjail has cleaned up after it; it never rejects. */
export class Jail extends EventEmitter<JailEvents> {
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  pid = 0;
  readonly result: Promise<JailResult>;
  private settle!: (r: JailResult) => void;
  private killer?: (signal: NodeJS.Signals) => void;

  /** @internal Use startJail(). */
  constructor() {
    super();
    this.result = new Promise((r) => (this.settle = r));
  }

  /** Sends a signal to the jail's first process (SIGKILL by default, which ends the jail). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.killer?.(signal);
  }

  /** @internal */
  _bind(killer: (signal: NodeJS.Signals) => void): void {
    this.killer = killer;
  }
  /** @internal */
  _end(r: JailResult): void {
    this.killer = undefined;
    this.emit('exit', r);
    this.settle(r);
  }
}

/** Sets where tsjail's own log lines go; by default the API logs errors only, to fd 2. */
export function configureLog(settings: Partial<LogSettings>): void {
  log.configure(settings);
  logConfigured = true;
}
let logConfigured = false;

/** Marks the place of an object config among the flags; the NUL keeps any real path from matching it. */
const CONFIG_OBJECT = '\0options.config';

/** The JailSpec for these options, validated as the CLI validates: throws ValidationError with every problem. */
export async function specFromOptions(opts: JailOptions): Promise<JailSpec> {
  const argv = [
    ...(opts.config !== undefined ? ['--config', typeof opts.config === 'string' ? opts.config : CONFIG_OBJECT] : []),
    ...(opts.args ?? []),
    ...(opts.command?.length ? ['--', ...opts.command] : []),
  ];
  let spec: JailSpec;
  try {
    ({ spec } = await parseCommandLine(argv, async (s, path) => {
      const apply = await import('./config/apply.js');
      const warnings =
        path === CONFIG_OBJECT ? apply.applyConfigObject(s, opts.config as Record<string, unknown>, 'options.config') : apply.applyConfigFile(s, path);
      for (const w of warnings) log.warn(w);
    }));
  } catch (e) {
    throw new ValidationError([errorText(e)]);
  }
  const problems = validateSpec(spec);
  if (spec.cfg.mode !== 'STANDALONE_ONCE') problems.push(`the API runs one program per jail: mode ${spec.cfg.mode} is the command line's (leave mode ONCE)`);
  if (spec.cfg.daemon) problems.push('--daemon detaches the command-line tool: not available through the API');
  if (spec.cfg.ext.output_limit > 0n) problems.push("--output_limit is the command line's (tsjail relays the jail's output there); through the API the caller reads stdout and stderr and can cut them itself");
  if (problems.length) throw new ValidationError(problems);
  return spec;
}

/** One supervisor for every API jail of this process: SIGCHLD only, never the host's other signals. */
let shared: { sup: Supervisor; byPid: Map<number, ActiveFeatures> } | undefined;
function supervisor(): { sup: Supervisor; byPid: Map<number, ActiveFeatures> } {
  if (shared) return shared;
  const sup = new Supervisor(false, false);
  const byPid = new Map<number, ActiveFeatures>();
  sup.onExit = (e) => byPid.get(e.pid)?.onExit(e);
  sup.exitSignal = (pid) => byPid.get(pid)?.exitSignal(pid);
  sup.onDiscard = (pid) => byPid.get(pid)?.parent.onFailure?.(pid);
  sup.start();
  shared = { sup, byPid };
  return shared;
}

interface Ends {
  /** Descriptors for the child, closed in the parent once it is cloned. */
  child: [number, number, number];
  /** The parent's ends of 'pipe' entries. */
  parent: Array<number | undefined>;
}

/**
 * The program's descriptors. 'inherit' reopens a pipe or terminal through
 * /proc/self/fd, so the program gets its own open file description (Node may
 * have made this process's one non-blocking); other kinds are shared as they are.
 */
function stdioEnds(opts: JailOptions): Ends {
  const child: number[] = [];
  const parent: Array<number | undefined> = [];
  const modes = [opts.stdin ?? 'pipe', opts.stdout ?? 'pipe', opts.stderr ?? 'pipe'];
  try {
    modes.forEach((m, k) => {
      if (m === 'pipe') {
        const [r, w] = pipeCloexec();
        child.push(k === 0 ? r : w);
        parent.push(k === 0 ? w : r);
        return;
      }
      parent.push(undefined);
      const access = k === 0 ? constants.O_RDONLY : constants.O_WRONLY;
      if (m === 'ignore') child.push(openSync('/dev/null', access));
      else {
        const fd = m === 'inherit' ? k : m;
        const st = fstatSync(fd);
        const reopen = m === 'inherit' && (st.isFIFO() || st.isCharacterDevice());
        child.push(reopen ? openSync(`/proc/self/fd/${fd}`, access) : dupCloexec(fd));
      }
    });
  } catch (e) {
    for (const fd of [...child, ...parent]) if (fd !== undefined) closeSync(fd);
    throw new JailError(`setting up the jail's stdio: ${errorText(e)}`, { stage: 'prepare' });
  }
  return { child: child as [number, number, number], parent };
}

function streamOf(fd: number, readable: boolean): Socket {
  return new Socket({ fd, readable, writable: !readable });
}

function resultOf(e: ExitInfo, error?: JailError, cpuLimit?: number): JailResult {
  const a = readAccounting(e);
  const failed = e.reason === 'setup_failed';
  return {
    pid: e.pid,
    code: failed ? 255 : e.code,
    ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
    ...(e.signal !== undefined ? { signal: e.signal, signalName: signalName(e.signal) } : {}),
    reason: exitReason(a),
    verdict: verdictOf(a, cpuLimit),
    wallMs: Math.round(a.wallMs),
    userMs: Math.round(a.userMs),
    systemMs: Math.round(a.systemMs),
    peakMemoryBytes: a.peakMemoryBytes,
    ...(failed ? { error: error ?? new JailError('the jail failed before its program ran', { stage: 'child' }) } : e.error ? { error: e.error } : {}),
  };
}

/** Closes a jail's pinned bind sources with the rest of its clean-up. */
function releasing(pins: Pins): Feature {
  return { name: 'pins', applies: () => true, prepare: () => ({ dispose: () => pins.release() }) };
}

/**
 * Starts a jail and returns once it is cloned (its program may still be
 * setting up). Invalid options reject with a ValidationError; a failure while
 * preparing (a policy that does not compile, a missing file) rejects with a
 * JailError; a failure of the jail itself shows in `result`.
 */
export async function startJail(opts: JailOptions): Promise<Jail> {
  if (!logConfigured) configureLog({ level: 'ERROR' });
  const spec = await specFromOptions(opts);
  let features: ActiveFeatures;
  const jail = new Jail();
  let ends: Ends | undefined;
  let p: Prepared;
  try {
    const base = prepare(spec, readHostFacts());
    // Bind sources opened once, without following symlinks, as for the CLI (phases/pins.ts); closed when the jail ends.
    const pins = base.cfg.clone_newns ? (await import('./phases/pins.js')).pinBindSources(base.mounts) : undefined;
    p = { ...base, pins };
    features = await prepareFeatures(p, [...FEATURES, ...(opts.features ?? []), ...(pins ? [releasing(pins)] : [])]);
  } catch (e) {
    throw e instanceof JailError ? e : new JailError(errorText(e), { stage: 'prepare' });
  }
  try {
    ends = stdioEnds(opts);
  } catch (e) {
    features.dispose();
    throw e;
  }
  const { sup, byPid } = supervisor();
  const remote = '[API]';
  let launched;
  try {
    launched = launchJail(p, { stdioFds: ends.child, anchors: features.anchors, parent: features.parent });
  } catch (e) {
    for (const fd of [...ends.child, ...ends.parent]) if (fd !== undefined) closeSync(fd);
    const error = e instanceof JailError ? e : new JailError(errorText(e), { stage: 'launch' });
    features.onSetupFailed(error.render(), e instanceof LaunchError ? e.pid : undefined, remote);
    features.dispose();
    // Nothing ran: the result says so at once, with the reason.
    const pid = e instanceof LaunchError ? (e.pid ?? 0) : 0;
    jail.pid = pid;
    const info: ExitInfo = { pid, remote, code: 255, wallMs: 0, rusage: { utimeMs: 0, stimeMs: 0, maxRssKiB: 0 }, reason: 'setup_failed' };
    queueMicrotask(() => jail._end(resultOf(info, error)));
    return jail;
  }
  for (const fd of ends.child) closeSync(fd);
  const [inW, outR, errR] = ends.parent;
  if (inW !== undefined) jail.stdin = streamOf(inW, false);
  if (outR !== undefined) jail.stdout = streamOf(outR, true);
  if (errR !== undefined) jail.stderr = streamOf(errR, true);
  const { pid } = launched;
  jail.pid = pid;
  byPid.set(pid, features);
  const exited = sup.track(pid, remote, p.cfg.time_limit, launched.executed);
  features.onStart(pid, remote);
  jail._bind((sig) => sup.kill(pid, sig, sig === 'SIGKILL' ? 'signal' : undefined));
  const abort = () => jail.kill('SIGKILL');
  if (opts.signal?.aborted) abort();
  else opts.signal?.addEventListener('abort', abort, { once: true });
  void launched.executed.then((ok) => {
    if (ok) jail.emit('start', { pid });
    else features.onSetupFailed(launched.failure ?? 'the launch failed before execve', pid, remote);
  });
  void exited.then((e) => {
    opts.signal?.removeEventListener('abort', abort);
    byPid.delete(pid);
    features.dispose();
    const r = resultOf(e, launched.error ?? (launched.failure !== undefined ? new JailError(launched.failure, { stage: 'child' }) : undefined), cpuLimitMs(p.rlimits));
    if (r.reason === 'seccomp') jail.emit('violation', { pid, signal: r.signal! });
    jail._end(r);
  });
  return jail;
}

export interface RunResult extends JailResult {
  /** What the program wrote, for each of stdout and stderr given as 'pipe'. */
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** Runs a jail to its end: `input` (if any) goes to its stdin, piped output is collected. */
export async function runJail(opts: JailOptions & { readonly input?: string | Uint8Array }): Promise<RunResult> {
  const jail = await startJail(opts);
  const collect = (s: Readable | null) =>
    new Promise<Buffer>((resolve) => {
      if (!s) return resolve(Buffer.alloc(0));
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', () => resolve(Buffer.concat(chunks)));
      s.on('close', () => resolve(Buffer.concat(chunks)));
    });
  const out = collect(jail.stdout);
  const err = collect(jail.stderr);
  if (jail.stdin) {
    jail.stdin.on('error', () => {}); // a program that exits without reading closes the pipe: not our error
    jail.stdin.end(opts.input ?? '');
  }
  const [r, stdout, stderr] = await Promise.all([jail.result, out, err]);
  return { ...r, stdout, stderr };
}
