/**
 * The decision model (kafel-spec.md §3): resolved conditions, Kafel's
 * simplification, the 32/64-bit width rule, and the reference evaluator the
 * compiled BPF must agree with.
 */
import type { Action } from './actions.js';
import type { CmpOp } from './ast.js';
import { SECCOMP_RET_KILL_THREAD, X32_SYSCALL_BIT } from './bpf.js';
import type { Pos } from './lexer.js';

export type Val =
  | { k: 'num'; v: bigint }
  | { k: 'arg'; i: number; size: number }
  | { k: '&' | '|'; l: Val; r: Val };

export type Cond =
  | { k: 'true' }
  | { k: 'false' }
  | { k: 'cmp'; op: CmpOp; l: Val; r: Val; pos: Pos }
  | { k: '!'; e: Cond }
  | { k: '&&' | '||'; l: Cond; r: Cond };

export interface Rule {
  readonly nr: number;
  readonly action: Action;
  /** Resolved condition as written (absent: unconditional); the reference evaluator reads this. */
  readonly written?: Cond;
  /** After simplification: absent when it folded to true; `false` rules never match. */
  readonly cond?: Cond;
}

export interface Model {
  readonly auditArch: number;
  /** Flattened first-match list. */
  readonly rules: readonly Rule[];
  readonly defaultAction: Action;
  /** Answer for unnamed numbers in the x32 range (see index.ts). */
  readonly x32Action: Action;
  /** Answer for calls of another arch (Kafel: KILL_THREAD). */
  readonly archAction?: Action;
}

export interface SeccompData {
  nr: number;
  arch: number;
  instruction_pointer?: bigint;
  args: readonly bigint[];
}

const U64 = (1n << 64n) - 1n;
const U32 = 0xffffffffn;

// Kafel orders operands by node kind so literals end up on the right (expression.h).
const RANK: Readonly<Record<Val['k'] | Cond['k'] | CmpOp, number>> = {
  num: 0, arg: 1, true: 3, false: 4, '!': 5, '&&': 6, '||': 7,
  '>': 8, '<': 9, '>=': 10, '<=': 11, '==': 12, '!=': 13, '|': 14, '&': 15, cmp: -1,
};
const rankOf = (x: Val | Cond): number => (x.k === 'cmp' ? RANK[x.op] : RANK[x.k]);
const MIRROR: Readonly<Record<CmpOp, CmpOp>> = { '==': '==', '!=': '!=', '<': '>', '>': '<', '<=': '>=', '>=': '<=' };

export function compare(op: CmpOp, a: bigint, b: bigint): boolean {
  switch (op) {
    case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

export function simplifyVal(v: Val): Val {
  if (v.k !== '&' && v.k !== '|') return v;
  let l = simplifyVal(v.l);
  let r = simplifyVal(v.r);
  if (l.k === 'num' && r.k === 'num') return { k: 'num', v: v.k === '&' ? l.v & r.v : l.v | r.v };
  if (rankOf(l) < rankOf(r)) [l, r] = [r, l];
  if (r.k === 'num') {
    const [clobber, identity] = v.k === '&' ? [0n, U64] : [U64, 0n];
    if (r.v === clobber) return r;
    if (r.v === identity) return l;
  }
  return { k: v.k, l, r };
}

/** Kafel's expr_simplify: fold constants, drop identities, `a OP a`, true/false propagation. */
export function simplifyCond(c: Cond): Cond {
  switch (c.k) {
    case 'true':
    case 'false':
      return c;
    case '!': {
      const e = simplifyCond(c.e);
      if (e.k === 'true') return { k: 'false' };
      if (e.k === 'false') return { k: 'true' };
      return { k: '!', e };
    }
    case '&&':
    case '||': {
      let l = simplifyCond(c.l);
      let r = simplifyCond(c.r);
      if (rankOf(l) < rankOf(r)) [l, r] = [r, l];
      const [dominant, recessive] = c.k === '&&' ? ['false', 'true'] : ['true', 'false'];
      if (l.k === dominant || r.k === dominant) return { k: dominant as 'true' | 'false' };
      if (r.k === recessive) return l;
      return { k: c.k, l, r };
    }
    case 'cmp': {
      let l = simplifyVal(c.l);
      let r = simplifyVal(c.r);
      let op = c.op;
      if (l.k === 'num' && r.k === 'num') return { k: compare(op, l.v, r.v) ? 'true' : 'false' };
      if (rankOf(l) < rankOf(r)) {
        [l, r] = [r, l];
        op = MIRROR[op];
      }
      if (l.k === 'arg' && r.k === 'arg' && l.i === r.i) {
        return { k: op === '==' || op === '<=' || op === '>=' ? 'true' : 'false' };
      }
      return { k: 'cmp', op, l, r, pos: c.pos };
    }
  }
}

/** Width rule (§3.5): 64-bit if an 8-byte argument or a literal above 32 bits takes part. */
export function isWide(v: Val): boolean {
  switch (v.k) {
    case 'num': return v.v > U32;
    case 'arg': return v.size === 8;
    default: return isWide(v.l) || isWide(v.r);
  }
}

export const cmpWidth = (c: { l: Val; r: Val }): 32 | 64 => (isWide(c.l) || isWide(c.r) ? 64 : 32);

function evalVal(v: Val, args: readonly bigint[], mask: bigint): bigint {
  switch (v.k) {
    case 'num': return v.v & mask;
    case 'arg': return (args[v.i] ?? 0n) & mask;
    case '&': return evalVal(v.l, args, mask) & evalVal(v.r, args, mask);
    case '|': return evalVal(v.l, args, mask) | evalVal(v.r, args, mask);
  }
}

/**
 * Evaluates a condition as written. Each comparison's width comes from its own
 * simplified form (simplification can remove a wide literal or argument), and
 * the written operands are then evaluated at that width.
 */
export function evalCond(c: Cond, args: readonly bigint[]): boolean {
  switch (c.k) {
    case 'true': return true;
    case 'false': return false;
    case '!': return !evalCond(c.e, args);
    case '&&': return evalCond(c.l, args) && evalCond(c.r, args);
    case '||': return evalCond(c.l, args) || evalCond(c.r, args);
    case 'cmp': {
      const s = simplifyCond(c);
      if (s.k === 'true' || s.k === 'false') return s.k === 'true';
      const mask = s.k === 'cmp' && cmpWidth(s) === 32 ? U32 : U64;
      return compare(c.op, evalVal(c.l, args, mask), evalVal(c.r, args, mask));
    }
  }
}

/** Whether nr is in 0x40000000..0xFFFFFFFE, which gets x32Action instead of DEFAULT. */
export const isX32Nr = (nr: number): boolean => nr >>> 0 >= X32_SYSCALL_BIT && nr >>> 0 !== 0xffffffff;

export const fallbackFor = (m: Model, nr: number): Action => (isX32Nr(nr) ? m.x32Action : m.defaultAction);

/** The reference decision procedure (§3.2), independent of code generation. */
export function decide(m: Model, data: SeccompData): Action {
  if (data.arch >>> 0 !== m.auditArch) return m.archAction ?? SECCOMP_RET_KILL_THREAD;
  const nr = data.nr >>> 0;
  for (const rule of m.rules) {
    if (rule.nr === nr && (!rule.written || evalCond(rule.written, data.args))) return rule.action;
  }
  return fallbackFor(m, nr);
}
