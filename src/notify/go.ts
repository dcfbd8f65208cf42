/**
 * The worker's side of Go module confinement: for a call notified from a
 * thread of the confined Go program, walk the goroutine's stack and say
 * whether a function of a confined module is on it.
 *
 *   - Which program: /proc/TID/exe, identified by its content (SHA-256,
 *     once per inode), so a binary reached under another path is still
 *     recognised and another program the Go one execs is not confined (it is
 *     not this build: its functions belong to no module of this go.mod).
 *   - Where it is loaded: a PIE's bias is AT_ENTRY (/proc/TID/auxv) minus
 *     the ELF entry point.
 *   - SP from /proc/TID/syscall (its last two fields are the user SP and PC);
 *     the PC is checked against the notification's, which the kernel copied.
 *   - The frames: src/gomod/unwind.ts, reading the stack with
 *     process_vm_readv in blocks.
 *
 * What is read from the program's memory decides whether the call is
 * refused, never its arguments: the thread waits in the kernel while its
 * stack is read, so only another thread writing that stack (unsafe or
 * assembly code, which confinement does not claim to stop) could change it.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ModuleIndex } from '../gomod/modules.js';
import { GoTable } from '../gomod/pclntab.js';
import { unwind, type Frame } from '../gomod/unwind.js';
import { vmRead } from '../linux/notify.js';
import type { GoInit } from './protocol.js';

export type GoVerdict =
  /** Not the confined program (another program, or a process already gone): confinement has no say. */
  | { readonly k: 'other' }
  | { readonly k: 'allow' }
  | { readonly k: 'block'; readonly module: string; readonly func: string; readonly frames: readonly string[] }
  | { readonly k: 'unwind_failed'; readonly error: string; readonly frames: readonly string[] };

const AT_ENTRY = 9n;
const BLOCK = 8192;
/** Reads of /proc/TID/syscall while the thread is still on a CPU, before giving up (about 100 ms). */
const RUNNING_TRIES = 110;

export class GoConfinement {
  private readonly table: GoTable;
  private readonly modules: ModuleIndex;
  private readonly confined: ReadonlySet<string>;
  /** dev:ino of executables seen → whether it is the confined program. */
  private readonly known = new Map<string, boolean>();
  /** Function index → its module ('' for none). */
  private readonly moduleOfFunc = new Map<number, string>();
  private readonly mem = Buffer.alloc(BLOCK);

  constructor(private readonly init: GoInit) {
    this.table = new GoTable(init.table, init.exe);
    this.modules = new ModuleIndex(init.modules);
    this.confined = new Set(init.confined);
  }

  private isOurs(tid: number): boolean | undefined {
    let st;
    try {
      st = statSync(`/proc/${tid}/exe`);
    } catch {
      return undefined;
    }
    const key = `${st.dev}:${st.ino}`;
    let ours = this.known.get(key);
    if (ours === undefined) {
      try {
        ours = st.size === this.init.size && createHash('sha256').update(readFileSync(`/proc/${tid}/exe`)).digest('hex') === this.init.sha256;
      } catch {
        return undefined;
      }
      this.known.set(key, ours);
    }
    return ours;
  }

  private bias(tid: number): bigint | string {
    if (!this.init.pie) return 0n;
    let a: Buffer;
    try {
      a = readFileSync(`/proc/${tid}/auxv`);
    } catch (e) {
      return `/proc/${tid}/auxv: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    for (let o = 0; o + 16 <= a.length; o += 16) if (a.readBigUInt64LE(o) === AT_ENTRY) return a.readBigUInt64LE(o + 8) - this.init.entry;
    return `/proc/${tid}/auxv has no AT_ENTRY`;
  }

  private moduleOf(f: Frame): string {
    let m = this.moduleOfFunc.get(f.func.index);
    if (m === undefined) this.moduleOfFunc.set(f.func.index, (m = this.modules.moduleOfFunc(f.func.name) ?? ''));
    return m;
  }

  /**
   * /proc/TID/syscall, once the thread is off the CPU: right after the notification is
   * received it may still be on its way to sleep, and the kernel then prints 'running'.
   */
  private syscallLine(tid: number): string | Error {
    for (let i = 0; ; i++) {
      let line: string;
      try {
        line = readFileSync(`/proc/${tid}/syscall`, 'latin1').trim();
      } catch (e) {
        return e as Error;
      }
      if (line !== 'running' || i >= RUNNING_TRIES) return line;
      // A short pause (the first tries only yield the CPU).
      Atomics.wait(this.pause, 0, 0, i < 10 ? 0 : 1);
    }
  }
  private readonly pause = new Int32Array(new SharedArrayBuffer(4));

  decide(tid: number, nr: number, ip: bigint): GoVerdict {
    const ours = this.isOurs(tid);
    if (!ours) return { k: 'other' };
    const fail = (error: string, frames: readonly Frame[] = []): GoVerdict => ({ k: 'unwind_failed', error, frames: frames.map((f) => f.func.name) });
    const bias = this.bias(tid);
    if (typeof bias === 'string') return fail(bias);
    // Code outside Go's text in a program without cgo is the dynamic loader starting a PIE (or the
    // vDSO): no Go function can be on that stack.
    if (!this.init.cgo && this.table.findIndex(ip - bias) < 0) return { k: 'other' };
    const line = this.syscallLine(tid);
    if (line instanceof Error) return fail(`/proc/${tid}/syscall: ${(line as NodeJS.ErrnoException).code ?? line.message}`);
    const f = line.split(' ');
    if (f.length !== 9 || Number(f[0]) !== nr) return fail(`/proc/${tid}/syscall reads '${line}', not call ${nr} with its registers`);
    const sp = BigInt(f[7]!);
    if (BigInt(f[8]!) !== ip) return fail(`/proc/${tid}/syscall gives PC ${f[8]}, the notification 0x${ip.toString(16)}`);
    // Stack reads in blocks: most walks need one or two.
    let base = -1n;
    let len = 0;
    const read = (addr: bigint): bigint | undefined => {
      if (base < 0n || addr < base || addr + 8n > base + BigInt(len)) {
        base = addr;
        // Up to the end of the next page: the one after may not be mapped.
        const room = Math.min(BLOCK, 8192 - Number(addr & 4095n));
        len = Math.max(vmRead(tid, addr, this.mem, room), 0);
        if (len < 8) return undefined;
      }
      return this.mem.readBigUInt64LE(Number(addr - base));
    };
    const u = unwind(this.table, read, sp, ip, bias);
    if (!u.ok) return fail(u.error, u.frames);
    for (const fr of u.frames) {
      const m = this.moduleOf(fr);
      if (m && this.confined.has(m)) return { k: 'block', module: m, func: fr.func.name, frames: u.frames.map((x) => x.func.name) };
    }
    return { k: 'allow' };
  }
}
