/** Parsed Kafel, constants already substituted (kafel-spec.md §1.7, §3.1 step 1). */
import type { Action } from './actions.js';
import type { Pos } from './lexer.js';

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type Expr =
  | { k: 'num'; v: bigint; pos: Pos }
  | { k: 'id'; name: string; pos: Pos }
  | { k: '&' | '|'; l: Expr; r: Expr; pos: Pos }
  | { k: 'cmp'; op: CmpOp; l: Expr; r: Expr; pos: Pos }
  | { k: '!'; e: Expr; pos: Pos }
  | { k: '&&' | '||'; l: Expr; r: Expr; pos: Pos };

export type SyscallRef = { k: 'name'; name: string; pos: Pos } | { k: 'nr'; nr: number; pos: Pos };

export interface Filter {
  readonly syscall: SyscallRef;
  /** Declared argument names (`read(a, b, c)`); each is 8 bytes. */
  readonly args?: ReadonlyArray<{ name: string; pos: Pos }>;
  /** Canonical arch names from `ON`; absent means every arch. */
  readonly archs?: readonly string[];
  readonly cond?: Expr;
}

export type Entry =
  | { k: 'use'; policy: string; pos: Pos }
  | { k: 'action'; action: Action; filters: readonly Filter[]; pos: Pos };

export interface Program {
  /** Named policies in definition order. */
  readonly policies: ReadonlyMap<string, readonly Entry[]>;
  /** The implicit main policy: top-level entries in text order. */
  readonly main: readonly Entry[];
  readonly defaultAction?: Action;
  /** Where `DEFAULT` was written, for errors about combining it. */
  readonly defaultPos?: Pos;
  /** Every action entry, in text order, for validating policies nobody USEs. */
  readonly allEntries: ReadonlyArray<Extract<Entry, { k: 'action' }>>;
}
