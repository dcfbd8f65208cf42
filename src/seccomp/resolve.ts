/**
 * Resolver (kafel-spec.md §3.1 steps 2–4): validates every policy against the
 * target arch's syscall table, flattens `USE` into the main policy, resolves
 * argument names to positions and sizes, and simplifies conditions.
 */
import type { Action } from './actions.js';
import type { Entry, Expr, Filter, Program } from './ast.js';
import { SeccompCompileError } from './errors.js';
import { simplifyCond, type Cond, type Rule, type Val } from './model.js';
import { syscallByName, type SyscallArg, type SyscallTable } from './syscalls/index.js';

/** Declared arguments (`read(a, b, c)`) are always 8 bytes. */
const DECLARED_ARG_SIZE = 8;

export interface Resolved {
  readonly rules: Rule[];
  readonly defaultAction?: Action;
}

export function resolve(program: Program, table: SyscallTable): Resolved {
  // Validate (and resolve) every filter, used or not, in text order.
  const resolved = new Map<Filter, { nr: number; written?: Cond } | null>();
  for (const entry of program.allEntries) {
    for (const f of entry.filters) resolved.set(f, resolveFilter(f, table));
  }

  const rules: Rule[] = [];
  const expanded = new Set<readonly Entry[]>();
  const flatten = (entries: readonly Entry[]) => {
    for (const e of entries) {
      if (e.k === 'use') {
        const body = program.policies.get(e.policy)!;
        // A policy expanded once already shadows any later copy of itself under first-match.
        if (!expanded.has(body)) {
          expanded.add(body);
          flatten(body);
        }
        continue;
      }
      for (const f of e.filters) {
        const r = resolved.get(f);
        if (!r) continue;
        const cond = r.written && simplifyCond(r.written);
        rules.push({ nr: r.nr, action: e.action, written: r.written, cond: cond?.k === 'true' ? undefined : cond });
      }
    }
  };
  flatten(program.main);
  return { rules, defaultAction: program.defaultAction };
}

/** Null when an `ON` guard excludes the table's arch (then nothing in it is validated). */
function resolveFilter(f: Filter, table: SyscallTable): { nr: number; written?: Cond } | null {
  if (f.archs && !f.archs.includes(table.arch)) return null;
  let nr: number;
  let known: readonly SyscallArg[] = [];
  if (f.syscall.k === 'nr') nr = f.syscall.nr;
  else {
    const info = syscallByName(table, f.syscall.name);
    if (!info) throw new SeccompCompileError(`Undefined identifier \`${f.syscall.name}'`, f.syscall.pos);
    nr = info.nr;
    known = info.args;
  }
  const args: readonly SyscallArg[] = f.args ? f.args.map((a) => [a.name, DECLARED_ARG_SIZE] as const) : known;
  return { nr, written: f.cond && resolveCond(f.cond, args) };
}

function resolveCond(e: Expr, args: readonly SyscallArg[]): Cond {
  switch (e.k) {
    case '!': return { k: '!', e: resolveCond(e.e, args) };
    case '&&':
    case '||': return { k: e.k, l: resolveCond(e.l, args), r: resolveCond(e.r, args) };
    case 'cmp': return { k: 'cmp', op: e.op, l: resolveVal(e.l, args), r: resolveVal(e.r, args), pos: e.pos };
    default: throw new SeccompCompileError('a comparison is required here', e.pos);
  }
}

function resolveVal(e: Expr, args: readonly SyscallArg[]): Val {
  switch (e.k) {
    case 'num': return { k: 'num', v: e.v };
    case 'id': {
      const i = args.findIndex(([name, , ...aliases]) => name === e.name || aliases.includes(e.name));
      if (i < 0) throw new SeccompCompileError(`Undefined identifier \`${e.name}'`, e.pos);
      return { k: 'arg', i, size: args[i]![1] };
    }
    case '&':
    case '|': return { k: e.k, l: resolveVal(e.l, args), r: resolveVal(e.r, args) };
    default: throw new SeccompCompileError('a value is required here', e.pos);
  }
}
