/**
 * Walking a Go stack from a thread's SP and PC, the way Go's own traceback
 * does on amd64: the pcsp table gives, at each PC, how many bytes the
 * function has pushed since its entry, so the return address is at
 * SP + that, and the caller's SP 8 bytes above it. No frame pointer is
 * needed, so a syscall stub's $0 frame does not hide its caller. The walk
 * ends cleanly at a function the runtime marks as a top frame (goexit,
 * mstart, a signal trampoline) or as writing SP arbitrarily (systemstack,
 * mcall, morestack: beyond is another stack, runtime territory); anything
 * else that stops it is a failure.
 */
import type { GoFunc, GoTable } from './pclntab.js';
import { FUNCFLAG_SPWRITE, FUNCFLAG_TOPFRAME } from './pclntab.js';

/** Reads a little-endian u64 of the target's memory (as a Number: a user-space address); undefined when unreadable or not an address. */
export type ReadU64 = (addr: number) => number | undefined;

export interface Frame {
  readonly func: GoFunc;
  /** The PC looked up, at link-time addresses. */
  readonly pc: number;
  /** Functions the compiler inlined into func at pc, innermost first (when the table knows its inline trees). */
  readonly inlined: readonly string[];
}

/** The names on a walked stack, innermost first, inlined functions included. */
export const frameNames = (frames: readonly Frame[]): string[] => frames.flatMap((f) => [...f.inlined, f.func.name]);

export type Unwound = { readonly ok: true; readonly frames: readonly Frame[] } | { readonly ok: false; readonly frames: readonly Frame[]; readonly error: string };

export const MAX_FRAMES = 1000;
const hex = (v: number) => `0x${v.toString(16)}`;

/**
 * `bias` is the load bias (run-time minus link-time address; 0 unless PIE);
 * sp and pc are run-time values of the thread, pc just after its syscall
 * instruction. Addresses are Numbers (user space is below 2^47).
 */
export function unwind(table: GoTable, read: ReadU64, sp: number, pc: number, bias: number, max = MAX_FRAMES): Unwound {
  const frames: Frame[] = [];
  for (let depth = 0; depth < max; depth++) {
    // Past frame 0, pc is a return address: the call instruction is just before it.
    const look = pc - bias - (depth === 0 ? 0 : 1);
    const idx = table.findIndex(look);
    if (idx < 0) return { ok: false, frames, error: depth === 0 ? `the call was made at ${hex(pc)}, outside Go's code (cgo, or code the function table does not cover)` : `return address ${hex(pc)} at frame ${depth} is outside Go's code (a cgo or corrupted frame)` };
    const func = table.funcAt(idx);
    frames.push({ func, pc: look, inlined: table.inlinedAt(func, look) });
    if (func.flag & (FUNCFLAG_TOPFRAME | FUNCFLAG_SPWRITE)) return { ok: true, frames };
    const spd = table.pcvalue(func.pcsp, func.entry, look);
    if (spd === undefined || spd < -8 || spd > 1 << 24) return { ok: false, frames, error: `no frame size for ${func.name} at ${hex(look)}` };
    const at = sp + spd;
    const ret = read(at);
    if (ret === undefined) return { ok: false, frames, error: `the stack at ${hex(at)} cannot be read (${func.name}'s return address)` };
    if (ret === 0) return { ok: false, frames, error: `a zero return address above ${func.name}` };
    pc = ret;
    sp = at + 8;
  }
  return { ok: false, frames, error: `more than ${max} frames` };
}
