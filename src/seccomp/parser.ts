/**
 * Kafel parser (kafel-spec.md §2): recursive descent over the token list.
 * Constants are substituted here, in a single pass, exactly where Kafel does
 * (syscall position and condition operands), and the parse-time errors are
 * Kafel's: redefinitions, undefined USE targets, argument declarations,
 * action value ranges, `ON` arch names and expression depth.
 */
import { action, type Action, type ActionKind } from './actions.js';
import { archByName } from './arch.js';
import type { CmpOp, Entry, Expr, Filter, Program, SyscallRef } from './ast.js';
import { SeccompCompileError } from './errors.js';
import { tokenize, type Pos, type Token } from './lexer.js';

const MAX_EXPRESSION_DEPTH = 200;
/** Parentheses add no depth in Kafel but recurse here; bison's own stack stops near 10000. */
const MAX_NESTING = 1000;
const MAX_ARGS = 6;

const SIMPLE_ACTIONS: Readonly<Record<string, ActionKind>> = {
  ALLOW: 'ALLOW',
  LOG: 'LOG',
  KILL: 'KILL_THREAD',
  KILL_THREAD: 'KILL_THREAD',
  DENY: 'KILL_THREAD',
  KILL_PROCESS: 'KILL_PROCESS',
  USER_NOTIF: 'USER_NOTIF',
};
const VALUE_ACTIONS: Readonly<Record<string, readonly [ActionKind, string]>> = {
  ERRNO: ['ERRNO', 'Errno'],
  TRAP: ['TRAP', 'Trap'],
  TRACE: ['TRACE', 'Trace'],
};
const CMP_OPS: ReadonlySet<string> = new Set<CmpOp>(['==', '!=', '<', '<=', '>', '>=']);

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'end of input';
    case 'ident': return `identifier \`${t.text}'`;
    case 'number': return `number \`${t.text}'`;
    default: return `\`${t.text}'`;
  }
}

export function parse(src: string): Program {
  return new Parser(tokenize(src)).program();
}

class Parser {
  private i = 0;
  private nesting = 0;
  private readonly consts = new Map<string, bigint>();
  private readonly policies = new Map<string, Entry[]>();
  private readonly main: Entry[] = [];
  private readonly allEntries: Array<Extract<Entry, { k: 'action' }>> = [];
  private defaultAction?: Action;
  private defaultPos?: Pos;

  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }
  private next(): Token {
    const t = this.tokens[this.i]!;
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private unexpected(expecting: string): never {
    const t = this.peek();
    throw new SeccompCompileError(`syntax error, unexpected ${describe(t)}, expecting ${expecting}`, t.pos);
  }
  private expect<K extends Token['kind']>(kind: K, expecting = `\`${kind}'`): Extract<Token, { kind: K }> {
    if (this.peek().kind !== kind) this.unexpected(expecting);
    return this.next() as Extract<Token, { kind: K }>;
  }
  private accept(kind: Token['kind']): boolean {
    if (this.peek().kind !== kind) return false;
    this.next();
    return true;
  }
  private isEntryStart(): boolean {
    const k = this.peek().kind;
    return k === 'USE' || k in SIMPLE_ACTIONS || k in VALUE_ACTIONS;
  }

  program(): Program {
    if (this.peek().kind === 'eof') this.unexpected('a policy statement');
    while (this.peek().kind !== 'eof') {
      const t = this.peek();
      if (t.kind === '#') this.constDef();
      else if (t.kind === 'POLICY') this.policyDef();
      else if (t.kind === 'DEFAULT') {
        this.next();
        const a = this.action();
        if (this.defaultAction !== undefined) throw new SeccompCompileError('Redefinition of default action', t.pos);
        this.defaultAction = a;
        this.defaultPos = t.pos;
      } else if (this.isEntryStart()) {
        this.main.push(...this.entryList());
      } else this.unexpected('a policy statement (`#define\', POLICY, DEFAULT, USE or an action)');
    }
    return {
      policies: this.policies,
      main: this.main,
      defaultAction: this.defaultAction,
      defaultPos: this.defaultPos,
      allEntries: this.allEntries,
    };
  }

  private constDef(): void {
    const hash = this.next();
    this.expect('define', '`define\'');
    const name = this.expect('ident', 'an identifier').text;
    const value = this.expect('number', 'a number').value;
    const prev = this.consts.get(name);
    if (prev !== undefined && prev !== value) {
      throw new SeccompCompileError(`Redefinition of constant \`${name}' with different value (was: ${prev} is: ${value})`, hash.pos);
    }
    this.consts.set(name, value);
  }

  private policyDef(): void {
    const kw = this.next();
    const name = this.expect('ident', 'a policy name').text;
    this.expect('{');
    const entries = this.peek().kind === '}' ? [] : this.entryList();
    this.expect('}', "`,' or `}'");
    if (this.policies.has(name)) throw new SeccompCompileError(`Redefinition of policy \`${name}'`, kw.pos);
    this.policies.set(name, entries);
  }

  /** entry { "," entry } — commas mandatory between entries of one list. */
  private entryList(): Entry[] {
    const entries = [this.entry()];
    while (this.accept(',')) entries.push(this.entry());
    return entries;
  }

  private entry(): Entry {
    const t = this.peek();
    if (t.kind === 'USE') {
      this.next();
      const target = this.expect('ident', 'a policy name');
      if (!this.policies.has(target.text)) throw new SeccompCompileError(`Undefined policy \`${target.text}'`, target.pos);
      return { k: 'use', policy: target.text, pos: t.pos };
    }
    if (!this.isEntryStart()) this.unexpected('USE or an action');
    const a = this.action();
    this.expect('{');
    const filters: Filter[] = [];
    if (this.peek().kind !== '}') {
      filters.push(this.filter());
      while (this.accept(',')) filters.push(this.filter());
    }
    this.expect('}', "`,' or `}'");
    const entry = { k: 'action' as const, action: a, filters, pos: t.pos };
    this.allEntries.push(entry);
    return entry;
  }

  private action(): Action {
    const t = this.peek();
    const simple = SIMPLE_ACTIONS[t.kind];
    const valued = VALUE_ACTIONS[t.kind];
    if (!simple && !valued) this.unexpected('an action');
    this.next();
    if (simple) return action(simple);
    this.expect('(');
    const n = this.expect('number', 'a number');
    if (n.value > 0xffffn) throw new SeccompCompileError(`${valued![1]} value ${n.value} out of range (0-65535)`, n.pos);
    this.expect(')');
    return action(valued![0], Number(n.value));
  }

  private filter(): Filter {
    const syscall = this.syscallRef();
    let args: Array<{ name: string; pos: Pos }> | undefined;
    if (this.accept('(')) {
      args = [];
      if (this.peek().kind !== ')') {
        for (;;) {
          const id = this.expect('ident', 'an argument name');
          if (args.some((a) => a.name === id.text)) throw new SeccompCompileError(`Redefinition of argument \`${id.text}'`, id.pos);
          if (args.length === MAX_ARGS) throw new SeccompCompileError('Too many arguments defined for syscall', id.pos);
          args.push({ name: id.text, pos: id.pos });
          if (!this.accept(',')) break;
        }
      }
      this.expect(')', "`,' or `)'");
    }
    let archs: string[] | undefined;
    if (this.accept('ON')) {
      archs = [];
      const braced = this.accept('{');
      for (;;) {
        const id = this.expect('ident', 'an architecture name');
        const arch = archByName(id.text);
        if (!arch) throw new SeccompCompileError(`Unknown architecture \`${id.text}'`, id.pos);
        if (archs.includes(arch.name)) throw new SeccompCompileError(`Duplicate architecture \`${id.text}'`, id.pos);
        archs.push(arch.name);
        if (!braced || !this.accept(',')) break;
      }
      if (braced) this.expect('}', "`,' or `}'");
    }
    let cond: Expr | undefined;
    if (this.accept('{')) {
      if (this.peek().kind !== '}') cond = this.cond();
      this.expect('}', "`,', `||', `&&' or `}'");
    }
    return { syscall, args, archs, cond };
  }

  private syscallRef(): SyscallRef {
    const t = this.peek();
    if (t.kind === 'SYSCALL') {
      this.next();
      this.expect('[');
      const n = this.expect('number', 'a number');
      this.expect(']');
      return { k: 'nr', nr: Number(n.value & 0xffffffffn), pos: t.pos };
    }
    if (t.kind !== 'ident') this.unexpected('a syscall name or SYSCALL[n]');
    this.next();
    const c = this.consts.get(t.text);
    // A constant in syscall position names a number and shadows a real syscall.
    if (c !== undefined) return { k: 'nr', nr: Number(c & 0xffffffffn), pos: t.pos };
    return { k: 'name', name: t.text, pos: t.pos };
  }

  // --- conditions: `,` < `||` < `&&` < `!` < comparison < `|` < `&`.

  private node<E extends Expr>(e: E, ...children: Expr[]): E {
    if (children.some((c) => depth(c) >= MAX_EXPRESSION_DEPTH)) {
      throw new SeccompCompileError(`Max expression depth (${MAX_EXPRESSION_DEPTH}) exceeded`, e.pos);
    }
    depths.set(e, 1 + Math.max(...children.map(depth)));
    return e;
  }

  private nest<T>(f: () => T): T {
    if (++this.nesting > MAX_NESTING) {
      throw new SeccompCompileError(`Max parenthesis nesting (${MAX_NESTING}) exceeded`, this.peek().pos);
    }
    try {
      return f();
    } finally {
      this.nesting--;
    }
  }

  private cond(): Expr {
    let l = this.orExpr();
    while (this.accept(',')) {
      const r = this.orExpr();
      l = this.node({ k: '||', l, r, pos: l.pos }, l, r);
    }
    return l;
  }

  private orExpr(): Expr {
    let l = this.andExpr();
    while (this.accept('||')) {
      const r = this.andExpr();
      l = this.node({ k: '||', l, r, pos: l.pos }, l, r);
    }
    return l;
  }

  private andExpr(): Expr {
    let l = this.boolPrim();
    while (this.accept('&&')) {
      const r = this.boolPrim();
      l = this.node({ k: '&&', l, r, pos: l.pos }, l, r);
    }
    return l;
  }

  private boolPrim(): Expr {
    const t = this.peek();
    if (t.kind === '!') {
      this.next();
      const e = this.nest(() => this.boolPrim());
      return this.node({ k: '!', e, pos: t.pos }, e);
    }
    if (t.kind === '(' && this.parenIsCondition()) {
      this.next();
      const e = this.nest(() => this.cond());
      this.expect(')', "`,', `||', `&&' or `)'");
      return at(e, t.pos);
    }
    const l = this.value();
    const op = this.peek();
    if (!CMP_OPS.has(op.kind)) this.unexpected('a comparison operator');
    this.next();
    const r = this.value();
    return this.node({ k: 'cmp', op: op.kind as CmpOp, l, r, pos: l.pos }, l, r);
  }

  /**
   * `(` opens either a condition or a parenthesised value (`(fd) == 1`,
   * `(fd | 1) == 3`). Bison decides by LR lookahead; here, scan to the matching
   * `)`: values never contain comparisons or logical operators, so any of those
   * inside means a condition.
   */
  private parenIsCondition(): boolean {
    let level = 0;
    for (let j = this.i; j < this.tokens.length; j++) {
      const k = this.tokens[j]!.kind;
      if (k === '(') level++;
      else if (k === ')') {
        if (--level === 0) return false;
      } else if (CMP_OPS.has(k) || k === '&&' || k === '||' || k === ',' || k === '!') return true;
      else if (k === 'eof' || k === '{' || k === '}') return true;
    }
    return true;
  }

  private value(): Expr {
    let l = this.band();
    while (this.accept('|')) {
      const r = this.band();
      l = this.node({ k: '|', l, r, pos: l.pos }, l, r);
    }
    return l;
  }

  private band(): Expr {
    let l = this.operand();
    while (this.accept('&')) {
      const r = this.operand();
      l = this.node({ k: '&', l, r, pos: l.pos }, l, r);
    }
    return l;
  }

  private operand(): Expr {
    const t = this.peek();
    if (t.kind === 'number') {
      this.next();
      return { k: 'num', v: t.value, pos: t.pos };
    }
    if (t.kind === 'ident') {
      this.next();
      const c = this.consts.get(t.text);
      // A constant shadows an argument of the same name.
      return c !== undefined ? { k: 'num', v: c, pos: t.pos } : { k: 'id', name: t.text, pos: t.pos };
    }
    if (t.kind !== '(') this.unexpected('a number, an identifier or `(\'');
    this.next();
    const e = this.nest(() => this.value());
    this.expect(')', "`|', `&' or `)'");
    return at(e, t.pos);
  }
}

const depths = new WeakMap<Expr, number>();
const depth = (e: Expr): number => depths.get(e) ?? 0;
/** A parenthesised expression starts at its `(`, as in Kafel's locations. */
function at(e: Expr, pos: Pos): Expr {
  const copy = { ...e, pos };
  depths.set(copy, depth(e));
  return copy;
}
