/**
 * Logging in nsjail's text format by default:
 *   [I][2026-11-23T06:35:02+0000] message
 *   [W][2026-11-23T06:35:02+0000][1234] caller():42 message
 * or, through pino, one JSON object per line with --log_format json. The text
 * format is written directly: pino would only hand the same entry back to
 * our renderer, and loading it is a cost of every start-up that logs a line. Logs go to their own
 * fd (stderr by default, --log_fd, or --log FILE); the jail's fds are its own.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { embedded } from '../embedded.js';
import { formatNodeError } from '../linux/errno.js';
import { isTty } from '../linux/tty.js';
import type { LogLevel } from '../spec.js';

const LEVELS = { DEBUG: 20, INFO: 30, WARNING: 40, ERROR: 50, FATAL: 60 } as const;
const LETTER: Record<number, string> = { 20: 'D', 30: 'I', 40: 'W', 50: 'E', 60: 'F' };
const COLOR: Record<string, string> = { D: '\x1b[0;4m', I: '\x1b[1m', W: '\x1b[0;33m', E: '\x1b[1;31m', F: '\x1b[7;35m' };
const PINO_LEVEL: Record<LogLevel, string> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', FATAL: 'fatal' };

/** The log destination cannot be used; the settings in force before stay (stderr at start-up). */
export class LogSetupError extends Error {}

export interface LogSettings {
  level: LogLevel;
  fd: number;
  file?: string;
  format: 'text' | 'json';
}

/** nsjail's strftime("%FT%T%z"), local time. */
export function logTime(d = new Date()): string {
  const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}` +
    `${off < 0 ? '-' : '+'}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`
  );
}

/** The calling function and line, as nsjail's `func():line`: the frame above caller(), emit() and the level method. */
function caller(): string {
  const fast = embedded?.lineStarts && callerFromPosition(embedded.lineStarts);
  if (fast) return fast;
  const f = (new Error().stack ?? '').split('\n')[4]?.trim() ?? '';
  const m = /^at (?:async )?(?:([\w$.<>]+) \()?.*?([\w-]+)\.js:(\d+):\d+\)?$/.exec(f);
  return m ? `${(m[1] ?? 'tsjail').split('.').pop()}():${m[3]}` : 'tsjail():0';
}

let lineStarts: Int32Array | undefined;

/**
 * The single binary: the caller's name from a structured stack and its line from the bundle's
 * line table (getPosition() needs no line ends; getLineNumber() would have V8 scan 1.2 MB).
 */
function callerFromPosition(starts: () => Int32Array): string | undefined {
  const prepare = Error.prepareStackTrace;
  let frames: NodeJS.CallSite[] | undefined;
  try {
    Error.prepareStackTrace = (_e, cs) => cs;
    frames = new Error().stack as unknown as NodeJS.CallSite[];
  } finally {
    Error.prepareStackTrace = prepare;
  }
  // [0] this function, [1] caller(), [2] emit(), [3] the level method, [4] its caller.
  const f = frames?.[4];
  if (!f || f.getFileName() !== 'tsjail.js') return undefined;
  const pos = (f as NodeJS.CallSite & { getPosition(): number }).getPosition();
  const t = (lineStarts ??= starts());
  let lo = 0;
  let hi = t.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (t[mid]! <= pos) lo = mid;
    else hi = mid;
  }
  return `${(f.getFunctionName() ?? 'tsjail').split('.').pop()}():${lo + 1}`;
}

interface PinoLike {
  [level: string]: unknown;
  level: string;
}

class Logger {
  private settings: LogSettings = { level: 'INFO', fd: 2, format: 'text' };
  private pino?: PinoLike;
  /** Whether lines get colours: asked on the first line printed, not for a run that prints none. */
  private color: boolean | undefined = false;
  private ownFd?: number;

  /** Throws LogSetupError when the file cannot be opened or the fd is not open; nothing changes then. */
  configure(s: Partial<LogSettings>): void {
    const next = { ...this.settings, ...s };
    let ownFd: number | undefined;
    if (next.file) {
      try {
        ownFd = openSync(next.file, 'a', 0o640);
      } catch (e) {
        throw new LogSetupError(`log file '${next.file}': open(O_WRONLY|O_CREAT|O_APPEND, 0640) failed: ${formatNodeError(e)}`);
      }
      next.fd = ownFd;
    } else {
      try {
        fstatSync(next.fd);
      } catch (e) {
        throw new LogSetupError(`log fd ${next.fd}: fstat(${next.fd}) failed: ${formatNodeError(e)}`);
      }
    }
    if (this.ownFd !== undefined) closeSync(this.ownFd);
    this.ownFd = ownFd;
    this.settings = next;
    this.color = this.settings.format === 'text' && !process.env.NO_COLOR ? undefined : false;
    this.pino = undefined;
  }

  get level(): LogLevel {
    return this.settings.level;
  }
  get fd(): number {
    return this.settings.fd;
  }
  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[this.settings.level];
  }

  /**
   * pino's browser build: the same logger API, handing each entry over as an
   * object (no JSON round trip for the text format) and loading in ~3 ms
   * where the Node build with its stream machinery takes ~15 ms of start-up.
   */
  private instance(): PinoLike {
    if (this.pino) return this.pino;
    const require = createRequire(import.meta.url);
    const pino = require('pino/browser');
    const { fd, format } = this.settings;
    const write = (line: string) => {
      try {
        writeSync(fd, line);
      } catch {
        /* a closed log fd must not take the supervisor down */
      }
    };
    const text = (o: { level: number; msg: string; where?: string }) => this.text(o);
    const json = (o: Record<string, unknown>) => write(`${JSON.stringify({ ...o, time: new Date(o.time as number).toISOString(), pid: process.pid })}\n`);
    this.pino = pino({
      level: PINO_LEVEL[this.settings.level],
      browser: { asObject: true, write: format === 'json' ? json : text },
    }) as PinoLike;
    return this.pino;
  }


  /** One line in nsjail's text format. */
  private text(o: { level: number; msg: string; where?: string }): void {
    const l = LETTER[o.level] ?? 'I';
    const head = o.where ? `[${l}][${logTime()}][${process.pid}] ${o.where} ` : `[${l}][${logTime()}] `;
    this.color ??= isTty(this.settings.fd);
    try {
      writeSync(this.settings.fd, this.color ? `${COLOR[l]}${head}${o.msg}\x1b[0m\n` : `${head}${o.msg}\n`);
    } catch {
      /* a closed log fd must not take the supervisor down */
    }
  }

  private emit(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    const where = level === 'INFO' ? undefined : caller();
    if (this.settings.format === 'text') return this.text({ level: LEVELS[level], msg, where });
    const fn = this.instance()[PINO_LEVEL[level]] as (o: object, m: string) => void;
    fn.call(this.instance(), { ...fields, ...(where ? { where } : {}) }, msg);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit('DEBUG', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit('INFO', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit('WARNING', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit('ERROR', msg, fields);
  }
  fatal(msg: string, fields?: Record<string, unknown>): void {
    this.emit('FATAL', msg, fields);
  }
  /** Is the log fd a regular file or pipe we own (for --daemon checks). */
  isOpen(): boolean {
    try {
      fstatSync(this.settings.fd);
      return true;
    } catch {
      return false;
    }
  }
}

export const log = new Logger();
