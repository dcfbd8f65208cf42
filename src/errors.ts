/**
 * Typed failures. A JailError carries what the log line says as fields: the
 * call and its arguments, the errno (number and kernel name), a hint, and for
 * child-side failures the op index and the phase of the plan. Text logs render
 * it as one line (`render()`); `--log_format json` and the library API get the
 * fields (`fields()`).
 */
import { errnoName, formatErrno } from './linux/errno.js';

export interface JailErrorInit {
  /** The syscall or operation, as printed: `mount('/usr' -> '/newroot/usr', MS_BIND)`. */
  readonly call?: string;
  /** Its arguments, where they are not already in `call`. */
  readonly args?: readonly string[];
  /** The positive errno the call failed with. */
  readonly errno?: number;
  readonly hint?: string;
  /** Child-side failures: the failing op (0-based) and the plan's length. */
  readonly op?: number;
  readonly ops?: number;
  readonly phase?: string;
  /** Where the run stopped: 'parse', 'validate', 'prepare', 'launch', 'child', 'supervise'. */
  readonly stage?: string;
}

// The fields are JailErrorInit's, declared once there (class and interface merge).
export interface JailError extends JailErrorInit {}
export class JailError extends Error {
  /** `message` is the text without errno and hint; render() adds them. */
  constructor(message: string, init: JailErrorInit = {}) {
    super(message);
    this.name = 'JailError';
    Object.assign(this, init);
  }

  get errnoName(): string | undefined {
    return this.errno === undefined ? undefined : errnoName(this.errno);
  }

  /** One log line: `call: EACCES (Permission denied) (hint: …) [op 3/90, phase mnt]`. */
  render(): string {
    let s = this.message;
    if (this.errno !== undefined) s += `: ${formatErrno(this.errno)}`;
    if (this.hint) s += ` (hint: ${this.hint})`;
    if (this.op !== undefined) s += ` [op ${this.op + 1}/${this.ops ?? '?'}${this.phase ? `, phase ${this.phase}` : ''}]`;
    return s;
  }

  /** The fields for structured logs and API callers; absent ones are left out. */
  fields(): Record<string, unknown> {
    const f: Record<string, unknown> = { error: this.message };
    for (const k of ['call', 'args', 'errno', 'hint', 'op', 'phase', 'stage'] as const) if (this[k] !== undefined) f[k] = this[k];
    if (this.errno !== undefined) f.errno_name = this.errnoName;
    return f;
  }
}

/** Every problem validation found, before anything ran. */
export class ValidationError extends JailError {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '), { stage: 'validate' });
    this.name = 'ValidationError';
  }
}

/** The text of any thrown value, rendered as a JailError would be. */
export function errorText(e: unknown): string {
  return e instanceof JailError ? e.render() : e instanceof Error ? e.message : String(e);
}
