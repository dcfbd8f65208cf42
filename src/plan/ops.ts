/**
 * ChildOp: one raw syscall the child will make, as data. Builders below give
 * each call a typed signature; the encoder turns ops into the native plan and
 * the describer into `mount('/usr' -> '/newroot/usr', MS_BIND|MS_REC)`.
 */
import type { NamedBits, SyscallName } from '../linux/consts.js';

export type Arg =
  | { readonly t: 'int'; readonly v: bigint; readonly bits?: NamedBits; readonly names?: NamedBits }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'null' }
  /** Bytes in the blob; `ptrs` are u64 fields inside them that point at other args' data. */
  | { readonly t: 'bytes'; readonly v: Uint8Array; readonly label: string; readonly ptrs?: ReadonlyArray<{ at: number; to: Arg }> }
  | { readonly t: 'buf'; readonly size: number }
  | { readonly t: 'strv'; readonly v: readonly string[] }
  | { readonly t: 'slot'; readonly slot: number; readonly label: string }
  /** The int32 at `offset` inside another op's data argument `from` (the same Arg object), read when the call is made. */
  | { readonly t: 'load'; readonly from: Arg; readonly offset: number; readonly label: string };

/** The phase an op belongs to: named in errors (`[op 14/31, phase mnt]`). */
export type Phase = 'sync' | 'user' | 'proc' | 'fds' | 'mnt' | 'net' | 'uts' | 'caps' | 'cpu' | 'rlimits' | 'misc' | 'landlock' | 'init' | 'seccomp' | 'exec';

/**
 * Mechanisms that are not one syscall (numbers in src/linux/wire.ts): the fork of --init's PID 1,
 * and for the -Me launcher a child that runs a segment of the plan ('spawn', args: clone flags and
 * the segment's length) and the wait for it ('join', args: its pid); the seccomp listener's hand-off
 * thread ('handoff_thread') and the wait for its send ('handoff_wait').
 */
export type PseudoOp = 'init_fork' | 'spawn' | 'join' | 'handoff_thread' | 'handoff_wait';

export interface ChildOp {
  readonly kind: SyscallName | PseudoOp;
  readonly args: readonly Arg[];
  readonly phase: Phase;
  /** Save the result (or -errno) in this slot. */
  readonly save?: number;
  /** Skip unless this slot holds a value >= 0 (e.g. a soft mount that failed). */
  readonly cond?: number;
  /** Before the call, write slot's value into arg `arg` at byte `offset`. */
  readonly patch?: { readonly slot: number; readonly arg: number; readonly offset: number; readonly width: 4 | 8 };
  /** errno names that count as success (e.g. EEXIST for mkdir -p). */
  readonly okErrno?: readonly string[];
  /** A failure is a warning and the plan goes on (nsjail's mandatory:false). */
  readonly soft?: boolean;
  /** A failure is not described on the -Me launcher's log: the child it waited for described its own. */
  readonly quiet?: boolean;
  /** Success only when the call returns exactly this. */
  readonly expect?: bigint;
  /** Overrides the generic rendering for logs and errors; a function is called only when the op is described (a failure, -Me). */
  readonly text?: string | (() => string);
  /** Advice shown with a failure, by errno name. */
  readonly hints?: Readonly<Record<string, string>>;
}

export type OpOptions = Omit<ChildOp, 'kind' | 'args' | 'phase'>;

export const int = (v: bigint | number, bits?: NamedBits): Arg => ({ t: 'int', v: BigInt(v), bits });
export const named = (v: bigint | number, names: NamedBits): Arg => ({ t: 'int', v: BigInt(v), names });
export const str = (v: string): Arg => ({ t: 'str', v });
export const nul: Arg = { t: 'null' };
export const bytes = (v: Uint8Array, label: string, ptrs?: ReadonlyArray<{ at: number; to: Arg }>): Arg => ({ t: 'bytes', v, label, ptrs });
export const buf = (size: number): Arg => ({ t: 'buf', size });
export const strv = (v: readonly string[]): Arg => ({ t: 'strv', v });
export const slot = (n: number, label: string): Arg => ({ t: 'slot', slot: n, label });
export const load = (from: Arg, offset: number, label: string): Arg => ({ t: 'load', from, offset, label });

export function op(kind: ChildOp['kind'], phase: Phase, args: readonly Arg[], opts: OpOptions = {}): ChildOp {
  return { kind, phase, args, ...opts };
}

/** Little-endian struct builder for syscall arguments. */
export class Struct {
  private readonly b: Buffer;
  constructor(size: number) {
    this.b = Buffer.alloc(size);
  }
  u16(at: number, v: number): this {
    this.b.writeUInt16LE(v, at);
    return this;
  }
  u32(at: number, v: number): this {
    this.b.writeUInt32LE(v >>> 0, at);
    return this;
  }
  i32(at: number, v: number): this {
    this.b.writeInt32LE(v, at);
    return this;
  }
  u64(at: number, v: bigint): this {
    this.b.writeBigUInt64LE(BigInt.asUintN(64, v), at);
    return this;
  }
  str(at: number, s: string): this {
    this.b.write(s, at, 'latin1');
    return this;
  }
  done(): Uint8Array {
    return this.b;
  }
}
