/**
 * The worker's side of Go module confinement: for a call notified from a
 * thread of the confined Go program, walk the goroutine's stack and say
 * whether a function of a confined module is on it.
 *
 *   - Which program: /proc/TID/exe, the file tsjail read (same inode, as a
 *     bind mount shows it) or one with the same bytes (an overlay; compared
 *     once per inode), so another program the Go one execs is not confined
 *     (it is not this build: its functions belong to no module of this go.mod).
 *   - Where it is loaded: a PIE's bias is AT_ENTRY (/proc/TID/auxv) minus
 *     the ELF entry point, kept per thread until a walk with it fails (the
 *     thread may have exec'd the program again, elsewhere), then read again.
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
import { readFileSync } from 'node:fs';
import { ModuleIndex } from '../gomod/modules.js';
import { GoTable } from '../gomod/pclntab.js';
import { frameNames, unwind, type Frame } from '../gomod/unwind.js';
import { threadRegs, vmRead } from '../linux/notify.js';
import type { GoInit } from './protocol.js';

export type GoVerdict =
  /** Not the confined program (another program, or a process already gone): confinement has no say. */
  | { readonly k: 'other' }
  | { readonly k: 'allow' }
  | { readonly k: 'block'; readonly module: string; readonly func: string; readonly frames: readonly string[] }
  | { readonly k: 'unwind_failed'; readonly error: string; readonly frames: readonly string[] };

const AT_ENTRY = 9n;
const BLOCK = 8192;
/** Reads of /proc/TID/syscall while the thread is still on a CPU (sched_yield between them), before giving up. */
const RUNNING_TRIES = 10000;

export class GoConfinement {
  private readonly table: GoTable;
  private readonly modules: ModuleIndex;
  private readonly confined: ReadonlySet<string>;
  /** dev:ino of executables seen → whether it is the confined program. */
  private readonly known = new Map<string, boolean>();
  /** Function index → its module ('' for none). */
  private readonly moduleOfFunc = new Map<number, string>();
  private readonly mem = Buffer.alloc(BLOCK);
  private readonly text = Buffer.alloc(512);
  /** Thread → its program's load bias. */
  private readonly biases = new Map<number, number>();

  constructor(private readonly init: GoInit) {
    this.table = new GoTable(init.table, init.exe);
    if (init.gofunc !== undefined) this.table.inline = { data: init.binary, gofunc: init.gofunc };
    this.modules = new ModuleIndex(init.modules);
    this.confined = new Set(init.confined);
  }

  /** Whether executable `id` (dev:ino of /proc/TID/exe) is the program: the same inode, or the same bytes (once per inode). */
  private isOurs(tid: number, id: string): boolean | undefined {
    if (id === this.init.devIno) return true;
    let ours = this.known.get(id);
    if (ours === undefined) {
      try {
        ours = Buffer.from(this.init.binary.buffer, this.init.binary.byteOffset, this.init.binary.byteLength).equals(readFileSync(`/proc/${tid}/exe`));
      } catch {
        return undefined;
      }
      this.known.set(id, ours);
    }
    return ours;
  }

  private bias(tid: number): number | string {
    if (!this.init.pie) return 0;
    let a: Buffer;
    try {
      a = readFileSync(`/proc/${tid}/auxv`);
    } catch (e) {
      return `/proc/${tid}/auxv: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    for (let o = 0; o + 16 <= a.length; o += 16) if (a.readBigUInt64LE(o) === AT_ENTRY) return Number(a.readBigUInt64LE(o + 8) - this.init.entry);
    return `/proc/${tid}/auxv has no AT_ENTRY`;
  }

  /** An inlined function's module, by name. */
  private moduleOfName(name: string): string {
    let m = this.moduleOfInlined.get(name);
    if (m === undefined) this.moduleOfInlined.set(name, (m = this.modules.moduleOfFunc(name) ?? ''));
    return m;
  }
  private readonly moduleOfInlined = new Map<string, string>();

  private moduleOf(f: Frame): string {
    let m = this.moduleOfFunc.get(f.func.index);
    if (m === undefined) this.moduleOfFunc.set(f.func.index, (m = this.modules.moduleOfFunc(f.func.name) ?? ''));
    return m;
  }

  decide(tid: number, nr: number, ip: bigint): GoVerdict {
    const regs = threadRegs(tid, this.text, RUNNING_TRIES);
    // The thread is gone (killed while waiting): nothing to decide, the answer will find no caller.
    if (typeof regs === 'number') return { k: 'other' };
    if (!this.isOurs(tid, regs.exe)) return { k: 'other' };
    const fail = (error: string, frames: readonly Frame[] = []): GoVerdict => ({ k: 'unwind_failed', error, frames: frameNames(frames) });
    const f = regs.text.trim().split(' ');
    if (f.length !== 9 || Number(f[0]) !== nr) return fail(`/proc/${tid}/syscall reads '${regs.text.trim()}', not call ${nr} with its registers`);
    const sp = Number(f[7]!);
    if (BigInt(f[8]!) !== ip) return fail(`/proc/${tid}/syscall gives PC ${f[8]}, the notification 0x${ip.toString(16)}`);
    const pc = Number(ip);
    // The bias of a thread is kept until a walk with it fails (an exec of the same program moves it).
    let bias: number | undefined = this.biases.get(tid);
    let fresh = bias === undefined;
    for (;;) {
      if (bias === undefined) {
        const b = this.bias(tid);
        if (typeof b === 'string') return fail(b);
        if (this.biases.size > 4096) this.biases.clear();
        this.biases.set(tid, (bias = b));
        fresh = true;
      }
      // Code outside Go's text in a program without cgo is the dynamic loader starting a PIE (or
      // the vDSO): no Go function can be on that stack.
      if (!this.init.cgo && this.table.findIndex(pc - bias) < 0) {
        if (fresh) return { k: 'other' };
        bias = undefined;
        continue;
      }
      const u = unwind(this.table, this.reader(tid), sp, pc, bias);
      if (!u.ok) {
        if (fresh) return fail(u.error, u.frames);
        bias = undefined;
        continue;
      }
      for (const fr of u.frames) {
        for (const name of fr.inlined) {
          const m = this.moduleOfName(name);
          if (m && this.confined.has(m)) return { k: 'block', module: m, func: name, frames: frameNames(u.frames) };
        }
        const m = this.moduleOf(fr);
        if (m && this.confined.has(m)) return { k: 'block', module: m, func: fr.func.name, frames: frameNames(u.frames) };
      }
      return { k: 'allow' };
    }
  }

  /** Reads of the thread's stack, in blocks: most walks need one or two process_vm_readv calls. */
  private reader(tid: number): (addr: number) => number | undefined {
    let base = -1;
    let len = 0;
    return (addr) => {
      if (base < 0 || addr < base || addr + 8 > base + len) {
        base = addr;
        // Up to the end of the next page: the one after may not be mapped.
        const room = Math.min(BLOCK, 8192 - (addr % 4096));
        len = Math.max(vmRead(tid, BigInt(addr), this.mem, room), 0);
        if (len < 8) return undefined;
      }
      const o = addr - base;
      const hi = this.mem.readUInt32LE(o + 4);
      // Above user space: not an address (the walk then reports it outside Go's code or unreadable).
      return hi >= 0x8000 ? undefined : hi * 2 ** 32 + this.mem.readUInt32LE(o);
    };
  }
}
