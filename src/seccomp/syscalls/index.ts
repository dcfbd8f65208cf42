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
    for (const [name, nr, args] of table.syscalls) {
      const info = { name, nr, args };
      idx.byName.set(name, info);
      idx.byNr.set(nr, info);
    }
    for (const [alias, name] of Object.entries(table.aliases)) {
      const info = idx.byName.get(name);
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
