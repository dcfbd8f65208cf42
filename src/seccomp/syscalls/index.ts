/**
 * Syscall lookup over the generated per-arch tables. Maps are built on first
 * use so importing this module costs nothing beyond the plain data.
 */
import type { SyscallArg, SyscallTable } from './types.js';
import { x86_64 } from './x86_64.js';

export type { SyscallArg, SyscallEntry, SyscallTable } from './types.js';

export interface SyscallInfo {
  readonly name: string;
  readonly nr: number;
  readonly args: readonly SyscallArg[];
}

/** Tables tsjail can compile for; one per arch, keyed by canonical Kafel arch name. */
export const TABLES: Readonly<Record<string, SyscallTable>> = { x86_64 };

interface Index {
  byName: Map<string, SyscallInfo>;
  byNr: Map<number, SyscallInfo>;
}
const indexes = new Map<SyscallTable, Index>();

function indexOf(table: SyscallTable): Index {
  let idx = indexes.get(table);
  if (!idx) {
    idx = { byName: new Map(), byNr: new Map() };
    // Indexed loops, no destructuring: built at the start of every run with a policy, where an
    // iterator per entry (~400 of them) is garbage the young generation must take.
    const { syscalls, aliases } = table;
    for (let i = 0; i < syscalls.length; i++) {
      const e = syscalls[i]!;
      const info = { name: e[0], nr: e[1], args: e[2] };
      idx.byName.set(info.name, info);
      idx.byNr.set(info.nr, info);
    }
    for (const alias in aliases) {
      const info = idx.byName.get(aliases[alias]!);
      if (info && !idx.byName.has(alias)) idx.byName.set(alias, info);
    }
    indexes.set(table, idx);
  }
  return idx;
}

/** Looks a syscall up by its Kafel (SYSCALL_DEFINE) name or a uapi/libseccomp alias. */
export function syscallByName(table: SyscallTable, name: string): SyscallInfo | undefined {
  return indexOf(table).byName.get(name);
}

export function syscallByNr(table: SyscallTable, nr: number): SyscallInfo | undefined {
  return indexOf(table).byNr.get(nr);
}
