/**
 * kCTF's proof of work, on the wire as kCTF's own gate speaks it, so its
 * solver and health checks work unchanged. It is a sloth verifiable delay
 * function modulo the Mersenne prime p = 2^1279 - 1 (p ≡ 3 mod 4):
 *
 *   challenge  s.<enc(difficulty)>.<enc(x)>     x random in [0, 2^128)
 *   solve      difficulty times: x ← x^((p+1)/4) mod p (a square root), x ← x XOR 1
 *   solution   s.<enc(y)>
 *   verify     difficulty times: y ← (y XOR 1)^2 mod p; accept y = x or y = p - x
 *
 * A number is encoded big-endian in ⌊bitlen/24⌋·3 + 3 bytes (a multiple of
 * three, so its base64 has no padding). Solving costs 1277 squarings a
 * round, verifying one: the server's cost is small and bounded by the
 * difficulty. Pure; BigInt only.
 */
import { randomBytes } from 'node:crypto';

export const MODULUS = (1n << 1279n) - 1n;
const BITS = 1279n;
/** (p+1)/4 = 2^1277: a square root is 1277 successive squarings. */
const ROOT_SQUARINGS = 1277;

/** v mod p for a Mersenne p: fold the high bits onto the low ones. */
function modp(v: bigint): bigint {
  while (v >> BITS) v = (v & MODULUS) + (v >> BITS);
  return v === MODULUS ? 0n : v;
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

export function encodeNumber(n: bigint): string {
  const size = Math.floor(bitLength(n) / 24) * 3 + 3;
  return Buffer.from(n.toString(16).padStart(size * 2, '0'), 'hex').toString('base64');
}

/** Lenient as kCTF's decoder: characters outside the base64 alphabet are skipped. */
export function decodeNumber(text: string): bigint {
  const hex = Buffer.from(text, 'base64').toString('hex');
  return hex ? BigInt(`0x${hex}`) : 0n;
}

export interface Challenge {
  readonly difficulty: number;
  readonly x: bigint;
}

export function formatChallenge(c: Challenge): string {
  return `s.${encodeNumber(BigInt(c.difficulty))}.${encodeNumber(c.x)}`;
}

export function newChallenge(difficulty: number): Challenge {
  return { difficulty, x: BigInt(`0x${randomBytes(16).toString('hex')}`) };
}

export function parseChallenge(text: string): Challenge | undefined {
  const parts = text.trim().split('.');
  if (parts.length !== 3 || parts[0] !== 's') return undefined;
  const d = decodeNumber(parts[1]!);
  return d > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : { difficulty: Number(d), x: decodeNumber(parts[2]!) };
}

/** The solution of a challenge (tests, and `tsjail pow solve`): about 1277 × difficulty squarings. */
export function solve(c: Challenge): string {
  let x = c.x;
  for (let i = 0; i < c.difficulty; i++) {
    for (let k = 0; k < ROOT_SQUARINGS; k++) x = modp(x * x);
    x ^= 1n;
  }
  return `s.${encodeNumber(x)}`;
}

/** The number a solution line carries, or undefined when it is not `s.<number>`. */
export function parseSolution(text: string): bigint | undefined {
  const parts = text.split('.');
  return parts.length === 2 && parts[0] === 's' ? decodeNumber(parts[1]!) : undefined;
}

/**
 * Does y solve the challenge? Runs `difficulty` squarings, handing the event
 * loop back every `slice` rounds (a jailer serving others meanwhile).
 */
export async function verify(c: Challenge, y: bigint, slice = 2000): Promise<boolean> {
  for (let i = 0; i < c.difficulty; i++) {
    y = modp((y ^ 1n) * (y ^ 1n));
    if (i % slice === slice - 1) await new Promise((r) => setImmediate(r));
  }
  return y === c.x || y === MODULUS - c.x;
}
