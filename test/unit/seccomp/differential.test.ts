/**
 * Differential testing: random Kafel policies and random syscall events; the
 * reference evaluator over the resolved policy (model.ts `decide`) and the
 * compiled BPF in the interpreter must give the same answer. Seeded, so a
 * failure prints a reproducible policy.
 */
import { describe, expect, it } from 'vitest';
import { formatAction } from '../../../src/seccomp/actions.js';
import { generate } from '../../../src/seccomp/codegen.js';
import { run, verify } from '../../../src/seccomp/interp.js';
import { decide } from '../../../src/seccomp/model.js';
import { model, X86_64, I386 } from './helpers.js';

/** mulberry32 */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const u32 = () => BigInt(int(2 ** 32));
  return { next, int, pick, u32, u64: () => (u32() << 32n) | u32() };
}
type Rng = ReturnType<typeof prng>;

const U64 = (1n << 64n) - 1n;
interface Sys { ref: string; nr: number; args: readonly string[] }
const SYSCALLS: readonly Sys[] = [
  { ref: 'read', nr: 0, args: ['fd', 'buf', 'count'] },
  { ref: 'write', nr: 1, args: ['fd', 'buf', 'count'] },
  { ref: 'mmap', nr: 9, args: ['addr', 'len', 'prot', 'flags', 'fd', 'off'] },
  { ref: 'ioctl', nr: 16, args: ['fd', 'cmd', 'arg'] },
  { ref: 'kill', nr: 62, args: ['pid', 'sig'] },
  { ref: 'openat', nr: 257, args: ['dfd', 'filename', 'flags', 'mode'] },
  { ref: 'getpid', nr: 39, args: [] },
  { ref: 'SYSCALL[1000](a, b, c)', nr: 1000, args: ['a', 'b', 'c'] },
  { ref: 'SYSCALL[0x40000001](x, y)', nr: 0x40000001, args: ['x', 'y'] },
  { ref: 'SYSCALL[-1](p)', nr: 0xffffffff, args: ['p'] },
  { ref: 'kill(p1, p2)', nr: 62, args: ['p1', 'p2'] },
];
const OPS = ['==', '!=', '<', '<=', '>', '>='] as const;

function literal(r: Rng, pool: bigint[]): bigint {
  const v = r.pick<() => bigint>([
    () => BigInt(r.int(10)),
    () => r.pick([0xffffffffn, 0x100000000n, 0x100000001n, U64, 0x7fffffffn, 0x80000000n, 0xffffffff00000000n, 0x1ffffffffn]),
    () => 1n << BigInt(r.int(64)),
    () => r.u32(),
    () => r.u64(),
  ])();
  pool.push(v);
  return v;
}

function spell(r: Rng, v: bigint): string {
  const neg = U64 + 1n - v;
  switch (r.int(5)) {
    case 0: return `0x${v.toString(16)}`;
    case 1: return v > 0n ? `0${v.toString(8)}` : '0';
    case 2: return v < 1024n ? `0b${v.toString(2)}` : v.toString();
    case 3: return v > 0n && neg < 1n << 40n ? `-${neg}` : v.toString();
    default: return v.toString();
  }
}

function value(r: Rng, args: readonly string[], pool: bigint[], depth: number): string {
  if (depth > 0 && r.next() < 0.3) {
    return `(${value(r, args, pool, depth - 1)} ${r.pick(['&', '|'])} ${value(r, args, pool, depth - 1)})`;
  }
  return args.length && r.next() < 0.6 ? r.pick(args) : spell(r, literal(r, pool));
}

function cond(r: Rng, args: readonly string[], pool: bigint[], depth: number): string {
  if (depth > 0 && r.next() < 0.45) {
    const kind = r.int(5);
    if (kind === 0) return `!(${cond(r, args, pool, depth - 1)})`;
    if (kind === 1) return `!${value(r, args, pool, 1)} ${r.pick(OPS)} ${value(r, args, pool, 1)}`;
    return `(${cond(r, args, pool, depth - 1)} ${r.pick(['&&', '||', ','])} ${cond(r, args, pool, depth - 1)})`;
  }
  return `${value(r, args, pool, 2)} ${r.pick(OPS)} ${value(r, args, pool, 2)}`;
}

function action(r: Rng): string {
  return r.pick(['ALLOW', 'LOG', 'KILL', 'KILL_PROCESS', 'USER_NOTIF', `ERRNO(${r.int(3)})`, `TRAP(${r.int(3)})`, `TRACE(${r.int(3)})`]);
}

function block(r: Rng, pool: bigint[], used: Set<number>, filters: number): string {
  const fs = Array.from({ length: filters }, () => {
    const s = r.pick(SYSCALLS);
    used.add(s.nr);
    return r.next() < 0.75 ? `${s.ref} { ${cond(r, s.args, pool, 3)} }` : s.ref;
  });
  return `${action(r)} { ${fs.join(', ')} }`;
}

function policy(r: Rng, pool: bigint[], used: Set<number>): string {
  const long = r.next() < 0.04;
  const parts: string[] = [];
  if (r.next() < 0.3) {
    parts.push(`POLICY p { ${block(r, pool, used, 1 + r.int(3))}, ${block(r, pool, used, 1 + r.int(2))} }`);
  }
  for (let b = 1 + (long ? 100 + r.int(100) : r.int(5)); b > 0; b--) {
    parts.push(parts[0]?.startsWith('POLICY') && r.next() < 0.2 ? 'USE p' : block(r, pool, used, 1 + r.int(long ? 8 : 4)));
  }
  if (r.next() < 0.8) parts.push(`DEFAULT ${action(r)}`);
  return parts.join('\n');
}

function argValue(r: Rng, pool: readonly bigint[]): bigint {
  const base = pool.length && r.next() < 0.7 ? r.pick(pool) : r.pick([0n, 1n, r.u32(), r.u64(), U64]);
  return r.pick<() => bigint>([
    () => base,
    () => (base + 1n) & U64,
    () => (base - 1n) & U64,
    () => base ^ (r.u32() << 32n),
    () => base & 0xffffffffn,
    () => ((base << 32n) | (base >> 32n)) & U64,
    () => base ^ (1n << BigInt(r.int(64))),
  ])();
}

describe('compiled BPF agrees with the reference evaluator on random policies', () => {
  const SEED = 0x5eccc0;
  const POLICIES = 400;
  const EVENTS = 150;

  it(`${POLICIES} policies × ${EVENTS} events (seed ${SEED.toString(16)})`, () => {
    const r = prng(SEED);
    let compared = 0;
    let longest = 0;
    for (let p = 0; p < POLICIES; p++) {
      const pool: bigint[] = [];
      const used = new Set<number>();
      const text = policy(r, pool, used);
      const m = model({ policies: [text] });
      const prog = generate(m);
      expect(verify(prog), text).toEqual([]);
      longest = Math.max(longest, prog.length);
      const nrs = [...used];
      for (let e = 0; e < EVENTS; e++) {
        const nr = r.next() < 0.85 ? r.pick(nrs) : r.pick([r.int(500), 0x40000000 + r.int(600), 0xffffffff, r.int(2 ** 32)]);
        const data = { nr, arch: r.next() < 0.97 ? X86_64 : I386, args: Array.from({ length: 6 }, () => argValue(r, pool)) };
        const want = formatAction(decide(m, data));
        const got = formatAction(run(prog, data).ret);
        if (got !== want) {
          throw new Error(`policy #${p}:\n${text}\nnr=${nr} args=${data.args.map((a) => `0x${a.toString(16)}`).join(',')}: BPF ${got}, reference ${want}`);
        }
        compared++;
      }
    }
    expect(compared).toBe(POLICIES * EVENTS);
    // Some programs must be long enough to need trampolines (jumps over 255).
    expect(longest).toBeGreaterThan(600);
  });
});
