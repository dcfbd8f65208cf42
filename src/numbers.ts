/**
 * Strict integers for options and config-derived values. The syntax is
 * strtoul's with base 0 (0x hex, a leading 0 for octal, decimal), as nsjail
 * reads numbers, but the whole text must be the number: junk, trailing
 * garbage and values outside the field's type are refused instead of turning
 * into 0, stopping early or wrapping.
 */

import { printable } from './text.js';

export type IntType = 'int32' | 'uint32' | 'int64' | 'uint64';

/** Inclusive bounds of each protobuf integer type. */
export const INT_RANGE: Readonly<Record<IntType, readonly [bigint, bigint]>> = {
  int32: [-(1n << 31n), (1n << 31n) - 1n],
  uint32: [0n, (1n << 32n) - 1n],
  int64: [-(1n << 63n), (1n << 63n) - 1n],
  uint64: [0n, (1n << 64n) - 1n],
};

/** Binary size suffixes (powers of 1024). */
const SIZE_SHIFT: Readonly<Record<string, bigint>> = { k: 10n, m: 20n, g: 30n, t: 40n };

/** Why a text is not an acceptable integer; the caller prefixes the option or field name. */
export class IntegerError extends Error {}

export interface IntegerOptions {
  /** Accept a K, M, G or T suffix (times 1024, 1024², 1024³, 1024⁴): for values in bytes. */
  readonly sizes?: boolean;
  /** Tighter bounds than the type's, inclusive. */
  readonly min?: bigint;
  readonly max?: bigint;
}

/** sign, strtoul base-0 body, and a size suffix (decimal only: 0x1b or 010K would read ambiguously). */
const SYNTAX = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtT]?)$/;

export function parseInteger(text: string, type: IntType, opts: IntegerOptions = {}): bigint {
  const m = SYNTAX.exec(text);
  if (!m || (m[3] && (!opts.sizes || /^0./.test(m[2]!)))) {
    const what = opts.sizes ? 'a number (optionally with a K, M, G or T suffix: KiB, MiB, GiB, TiB)' : 'a number';
    throw new IntegerError(`'${printable(text)}' is not ${what}`);
  }
  const body = m[2]!;
  let n = body.length > 1 && body.startsWith('0') && !/^0[xX]/.test(body) ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
  if (m[3]) n <<= SIZE_SHIFT[m[3].toLowerCase()]!;
  if (m[1] === '-') n = -n;
  const [lo, hi] = INT_RANGE[type];
  const min = opts.min ?? lo;
  const max = opts.max ?? hi;
  if (n < min || n > max) throw new IntegerError(`'${printable(text)}' is out of range (${min}..${max})`);
  return n;
}

/** uid_t/gid_t values a map may name: (uid_t)-1 means "no id" to the kernel. */
export const ID_MAX = 0xfffffffen;

/** A uid/gid map entry's id is a number when nsjail's isANumber() says so (digits and 'x'), else a name. */
export function isNumericId(id: string): boolean {
  return /^[0-9][0-9xX]*$/.test(id);
}

/** A numeric uid/gid (base 0, as nsjail's strtoimax); throws IntegerError. */
export function parseId(id: string): number {
  return Number(parseInteger(id, 'uint32', { max: ID_MAX }));
}
