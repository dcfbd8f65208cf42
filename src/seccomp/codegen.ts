/**
 * Code generation (kafel-spec.md §3.10, §6): arch check → KILL_THREAD, then a
 * balanced binary search (JGE) over syscall-number ranges, each leaf either a
 * shared RET or a first-match chain of short-circuit conditions. Comparisons
 * run on 32-bit words: a 32-bit comparison on the low words, a 64-bit one as
 * (high, low) lexicographically; argument-vs-argument operands go through X
 * and M[] scratch.
 */
import type { Action } from './actions.js';
import { Asm, type Label } from './asm.js';
import type { CmpOp } from './ast.js';
import {
  BPF_ABS, BPF_ALU, BPF_AND, BPF_IMM, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD,
  BPF_LDX, BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_OR, BPF_ST, BPF_TAX, BPF_W, BPF_X, SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR, SECCOMP_RET_KILL_THREAD, X32_SYSCALL_BIT, argOffset, type SockFilter,
} from './bpf.js';
import { SeccompCompileError } from './errors.js';
import type { Pos } from './lexer.js';
import { cmpWidth, compare, isX32Nr, type Cond, type Model, type Rule, type Val } from './model.js';

/** A 32-bit word expression: one half of a 64-bit value. */
type Word = { k: 'num'; v: number } | { k: 'load'; off: number } | { k: '&' | '|'; l: Word; r: Word };

type Leaf = { k: 'ret'; action: Action } | { k: 'chain'; nr: number; rules: ReadonlyArray<{ cond: Cond; action: Action }>; fallback: Action };
interface Range {
  lo: number; // inclusive
  hi: number; // exclusive, up to 2^32
  leaf: Leaf;
}

const TOP = 2 ** 32;
const NEG1 = 0xffffffff;

export function generate(model: Model): SockFilter[] {
  const g = new Gen();
  return g.program(model);
}

/** Builds the per-number leaves and merges them into ranges that cover 0..2^32-1. */
export function buildRanges(model: Model): Range[] {
  const byNr = new Map<number, Rule[]>();
  for (const r of model.rules) {
    if (r.cond?.k === 'false') continue;
    const list = byNr.get(r.nr);
    if (list) list.push(r);
    else byNr.set(r.nr, [r]);
  }
  const rets = new Map<Action, Leaf>();
  const ret = (action: Action): Leaf => {
    let leaf = rets.get(action);
    if (!leaf) rets.set(action, (leaf = { k: 'ret', action }));
    return leaf;
  };

  const ranges: Range[] = [];
  // Appends [lo, hi), merging with the previous range when both are the same RET.
  const add = (lo: number, hi: number, leaf: Leaf) => {
    if (lo >= hi) return;
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.leaf === leaf && leaf.k === 'ret' && last.hi === lo) last.hi = hi;
    else ranges.push({ lo, hi, leaf });
  };
  // Unnamed numbers get DEFAULT, except the x32 range (0x40000000..0xFFFFFFFE).
  const gap = (from: number, to: number) => {
    add(from, Math.min(to, X32_SYSCALL_BIT), ret(model.defaultAction));
    add(Math.max(from, X32_SYSCALL_BIT), Math.min(to, NEG1), ret(model.x32Action));
    add(Math.max(from, NEG1), to, ret(model.defaultAction));
  };

  let cursor = 0;
  for (const nr of [...byNr.keys()].sort((a, b) => a - b)) {
    gap(cursor, nr);
    let fallback = isX32Nr(nr) ? model.x32Action : model.defaultAction;
    const rules: Array<{ cond: Cond; action: Action }> = [];
    for (const r of byNr.get(nr)!) {
      if (!r.cond) {
        fallback = r.action; // everything after an unconditional match is dead
        break;
      }
      rules.push({ cond: r.cond, action: r.action });
    }
    // Trailing rules that answer like the fallback change nothing.
    while (rules.length && rules[rules.length - 1]!.action === fallback) rules.pop();
    add(nr, nr + 1, rules.length ? { k: 'chain', nr, rules, fallback } : ret(fallback));
    cursor = nr + 1;
  }
  gap(cursor, TOP);
  return ranges;
}

class Gen {
  private readonly asm = new Asm();
  private readonly rets = new Map<Action, Label>();
  private scratch = 0;

  private ret(action: Action): Label {
    let l = this.rets.get(action);
    if (!l) this.rets.set(action, (l = this.asm.label()));
    return l;
  }

  program(model: Model): SockFilter[] {
    const a = this.asm;
    const nrLabel = a.label();
    a.stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH);
    a.jcond(BPF_JMP | BPF_JEQ | BPF_K, model.auditArch, nrLabel, this.ret(model.archAction ?? SECCOMP_RET_KILL_THREAD));
    a.bind(nrLabel);
    a.stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR);
    const ranges = buildRanges(model);
    this.tree(ranges, 0, ranges.length);
    for (const [action, label] of this.rets) {
      a.bind(label);
      a.ret(action);
    }
    return a.assemble();
  }

  /** Emits the search over ranges[i..j); A holds nr. */
  private tree(ranges: Range[], i: number, j: number): void {
    const a = this.asm;
    if (j - i === 1) {
      const leaf = ranges[i]!.leaf;
      if (leaf.k === 'ret') a.ja(this.ret(leaf.action));
      else this.chain(leaf);
      return;
    }
    const mid = (i + j) >> 1;
    const right = this.entry(ranges, mid, j);
    const left = this.entry(ranges, i, mid);
    a.jcond(BPF_JMP | BPF_JGE | BPF_K, ranges[mid]!.lo, right.label, left.label);
    left.emit();
    right.emit();
  }

  /** A subtree's entry label: a plain leaf is its shared RET, anything else is emitted in place. */
  private entry(ranges: Range[], i: number, j: number): { label: Label; emit: () => void } {
    const leaf = ranges[i]!.leaf;
    if (j - i === 1 && leaf.k === 'ret') return { label: this.ret(leaf.action), emit: () => {} };
    const label = this.asm.label();
    return {
      label,
      emit: () => {
        this.asm.bind(label);
        this.tree(ranges, i, j);
      },
    };
  }

  private chain(leaf: Extract<Leaf, { k: 'chain' }>): void {
    leaf.rules.forEach((r, n) => {
      const last = n === leaf.rules.length - 1;
      const next = last ? this.ret(leaf.fallback) : this.asm.label();
      this.cond(r.cond, this.ret(r.action), next);
      if (!last) this.asm.bind(next);
    });
  }

  /** Emits code that jumps to t when c holds and to f otherwise. */
  private cond(c: Cond, t: Label, f: Label): void {
    const a = this.asm;
    switch (c.k) {
      case 'true': return a.ja(t);
      case 'false': return a.ja(f);
      case '!': return this.cond(c.e, f, t);
      case '&&':
      case '||': {
        const mid = a.label();
        if (c.k === '&&') this.cond(c.l, mid, f);
        else this.cond(c.l, t, mid);
        a.bind(mid);
        return this.cond(c.r, t, f);
      }
      case 'cmp': return this.cmp(c, t, f);
    }
  }

  private cmp(c: Extract<Cond, { k: 'cmp' }>, t: Label, f: Label): void {
    const a = this.asm;
    if (cmpWidth(c) === 32) return this.word(c.op, half(c.l, 'lo'), half(c.r, 'lo'), t, f, c.pos);
    let { l, r } = c;
    let op = c.op;
    if (op === '<' || op === '<=') {
      [l, r] = [r, l];
      op = op === '<' ? '>' : '>=';
    }
    const lo = a.label();
    const [lh, rh, ll, rl] = [half(l, 'hi'), half(r, 'hi'), half(l, 'lo'), half(r, 'lo')];
    switch (op) {
      case '==':
        this.word('==', lh, rh, lo, f, c.pos);
        a.bind(lo);
        return this.word('==', ll, rl, t, f, c.pos);
      case '!=':
        this.word('==', lh, rh, lo, t, c.pos);
        a.bind(lo);
        return this.word('==', ll, rl, f, t, c.pos);
      default:
        // High words decide unless equal; then the low words do.
        this.threeWay(lh, rh, t, lo, f, c.pos);
        a.bind(lo);
        return this.word(op, ll, rl, t, f, c.pos);
    }
  }

  /** One 32-bit unsigned comparison. */
  private word(op: CmpOp, l: Word, r: Word, t: Label, f: Label, pos: Pos): void {
    const a = this.asm;
    if (l.k === 'num' && r.k === 'num') return a.ja(compare(op, BigInt(l.v), BigInt(r.v)) ? t : f);
    if (l.k === 'num') {
      [l, r] = [r, l];
      op = ({ '==': '==', '!=': '!=', '<': '>', '>': '<', '<=': '>=', '>=': '<=' } as const)[op];
    }
    const [jop, negate] = JUMP[op];
    const [jt, jf] = negate ? [f, t] : [t, f];
    if (r.k === 'num') {
      // (x & m) == 0 is a single JSET.
      if (jop === BPF_JEQ && r.v === 0 && l.k === '&' && l.r.k === 'num') {
        this.load(l.l, pos);
        return a.jcond(BPF_JMP | BPF_JSET | BPF_K, l.r.v, jf, jt);
      }
      this.load(l, pos);
      return a.jcond(BPF_JMP | jop | BPF_K, r.v, jt, jf);
    }
    this.loadPair(l, r, pos);
    a.jcond(BPF_JMP | jop | BPF_X, 0, jt, jf);
  }

  /** Jumps to gt, eq or lt comparing two high words. */
  private threeWay(l: Word, r: Word, gt: Label, eq: Label, lt: Label, pos: Pos): void {
    const a = this.asm;
    if (l.k === 'num' && r.k === 'num') return a.ja(l.v > r.v ? gt : l.v === r.v ? eq : lt);
    if (l.k === 'num') {
      [l, r] = [r, l];
      [gt, lt] = [lt, gt];
    }
    if (r.k === 'num') {
      this.load(l, pos);
      if (r.v === 0) return a.jcond(BPF_JMP | BPF_JEQ | BPF_K, 0, eq, gt);
      if (r.v === NEG1) return a.jcond(BPF_JMP | BPF_JEQ | BPF_K, NEG1, eq, lt);
      const next = a.label();
      a.jcond(BPF_JMP | BPF_JGT | BPF_K, r.v, gt, next);
      a.bind(next);
      return a.jcond(BPF_JMP | BPF_JEQ | BPF_K, r.v, eq, lt);
    }
    this.loadPair(l, r, pos);
    const next = a.label();
    a.jcond(BPF_JMP | BPF_JGT | BPF_X, 0, gt, next);
    a.bind(next);
    a.jcond(BPF_JMP | BPF_JEQ | BPF_X, 0, eq, lt);
  }

  /** A = l, X = r. */
  private loadPair(l: Word, r: Word, pos: Pos): void {
    const a = this.asm;
    if (!clobbersX(l)) {
      this.load(r, pos);
      a.stmt(BPF_MISC | BPF_TAX);
      return this.load(l, pos);
    }
    const slot = this.alloc(pos);
    this.load(r, pos);
    a.stmt(BPF_ST, slot);
    this.load(l, pos);
    a.stmt(BPF_LDX | BPF_W | BPF_MEM, slot);
    this.scratch--;
  }

  /** A = w. */
  private load(w: Word, pos: Pos): void {
    const a = this.asm;
    switch (w.k) {
      case 'num': return a.stmt(BPF_LD | BPF_W | BPF_IMM, w.v);
      case 'load': return a.stmt(BPF_LD | BPF_W | BPF_ABS, w.off);
    }
    const alu = BPF_ALU | (w.k === '&' ? BPF_AND : BPF_OR);
    if (w.r.k === 'num' || w.l.k === 'num') {
      const [x, k] = w.r.k === 'num' ? [w.l, w.r.v] : [w.r, (w.l as { v: number }).v];
      this.load(x, pos);
      return a.stmt(alu | BPF_K, k);
    }
    this.loadPair(w.l, w.r, pos);
    a.stmt(alu | BPF_X);
  }

  private alloc(pos: Pos): number {
    if (this.scratch >= BPF_MEMWORDS) throw new SeccompCompileError('Required stack size exceeds available BPF memory', pos);
    return this.scratch++;
  }
}

const JUMP: Readonly<Record<CmpOp, readonly [number, boolean]>> = {
  '==': [BPF_JEQ, false],
  '!=': [BPF_JEQ, true],
  '>': [BPF_JGT, false],
  '>=': [BPF_JGE, false],
  '<': [BPF_JGE, true],
  '<=': [BPF_JGT, true],
};


/** Whether loading w into A needs X (an `&`/`|` of two non-constant words). */
function clobbersX(w: Word): boolean {
  if (w.k !== '&' && w.k !== '|') return false;
  return (w.l.k !== 'num' && w.r.k !== 'num') || clobbersX(w.l) || clobbersX(w.r);
}

/** The high or low word of a 64-bit value, with 32-bit constant folding. */
function half(v: Val, h: 'hi' | 'lo'): Word {
  switch (v.k) {
    case 'num': return { k: 'num', v: Number(h === 'hi' ? v.v >> 32n : v.v & 0xffffffffn) };
    case 'arg': return { k: 'load', off: argOffset(v.i, h) };
  }
  const l = half(v.l, h);
  const r = half(v.r, h);
  if (l.k === 'num' && r.k === 'num') return { k: 'num', v: (v.k === '&' ? l.v & r.v : l.v | r.v) >>> 0 };
  const [x, c] = r.k === 'num' ? [l, r.v] : l.k === 'num' ? [r, l.v] : [undefined, 0];
  if (x) {
    const [clobber, identity] = v.k === '&' ? [0, NEG1] : [NEG1, 0];
    if (c === clobber) return { k: 'num', v: clobber };
    if (c === identity) return x;
    return { k: v.k, l: x, r: { k: 'num', v: c } };
  }
  return { k: v.k, l, r };
}
