/**
 * ChildOp[] → the relocatable plan blob whose layout src/linux/wire.ts defines.
 * Layout: header, op records, data (each item 8-byte aligned), relocation
 * table; an optional description table lives in the data.
 */
import { SYS } from '../linux/consts.js';
import { errnoValue } from '../linux/errno.js';
import type { Arg, ChildOp, PseudoOp } from './ops.js';
import { OP, PLAN_HDR, WIRE } from '../linux/wire.js';

const F = OP.fields;
const PSEUDO: Record<PseudoOp, number> = { init_fork: WIRE.OP_INIT_FORK, spawn: WIRE.OP_SPAWN, join: WIRE.OP_JOIN, handoff_thread: WIRE.OP_HANDOFF_THREAD, handoff_wait: WIRE.OP_HANDOFF_WAIT };

/** The ops after a fork that only one of the two processes runs: [first, end). */
function segmentOf(o: ChildOp, i: number): [number, number] | undefined {
  const n = o.kind === 'init_fork' ? o.args[0] : o.kind === 'spawn' ? o.args[1] : undefined;
  if (!n) return undefined;
  if (n.t !== 'int') throw new Error(`encode: ${o.kind}'s op count must be an integer`);
  return [i + 1, i + 1 + Number(n.v)];
}

/** The first slot op `o` reads that `saved` holds (arguments, condition, patch), or undefined. */
function readsSaved(o: ChildOp, saved: ReadonlySet<number>): number | undefined {
  for (const a of o.args) if (a.t === 'slot' && saved.has(a.slot)) return a.slot;
  if (o.cond !== undefined && saved.has(o.cond)) return o.cond;
  if (o.patch && saved.has(o.patch.slot)) return o.patch.slot;
  return undefined;
}

/**
 * Segments (the child's ops after 'spawn', PID 1's after 'init_fork') lie inside the plan and
 * inside each other, and a slot one of them saves is read only within it: the other process
 * never sees that value.
 */
export function checkSegments(ops: readonly ChildOp[]): void {
  const segs: Array<[number, number]> = [];
  ops.forEach((o, i) => {
    const s = segmentOf(o, i);
    if (s) segs.push(s);
  });
  for (const [first, end] of segs) {
    if (end > ops.length) throw new Error(`encode: ${ops[first - 1]!.kind} (op ${first}) covers ${end - first} ops, past the plan's end`);
    // A fork inside the segment (1-based: its op is f2) ends within it.
    for (const [f2, e2] of segs) if (f2 - 1 >= first && f2 - 1 < end && e2 > end) throw new Error(`encode: the segment of op ${f2} reaches past the one of op ${first}`);
    const saved = new Set<number>();
    for (let i = first; i < end; i++) if (ops[i]!.save !== undefined) saved.add(ops[i]!.save!);
    if (!saved.size) continue;
    for (let i = 0; i < ops.length; i++) {
      if (i >= first && i < end) continue;
      const s = readsSaved(ops[i]!, saved);
      if (s !== undefined) throw new Error(`encode: op ${i + 1} (${ops[i]!.kind}) reads slot ${s}, which the segment of op ${first} saves in another process`);
    }
  }
}

/**
 * The data area, written into one growing zeroed buffer (padding included): a
 * plan of a few hundred mounts has thousands of strings, and a buffer each
 * (then one copy to join them) was most of the encoding's time.
 */
class Data {
  private buf: Buffer;
  private view: DataView;
  size = 0;
  relocs: number[] = []; // offsets within the data area
  /** Data arguments already placed: one Arg object is one place (a 'load' reads what a call wrote there). */
  private readonly placed = new Map<Arg, number>();
  private readonly strings = new Map<string, number>();
  constructor(
    readonly base: number,
    sizeHint: number,
  ) {
    this.buf = Buffer.alloc(Math.max(4096, sizeHint));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }
  /** Room for n bytes at the end (zeroed), 8-aligned after: its offset within the data area. */
  private room(n: number): number {
    const at = this.size;
    const end = at + n + ((8 - (n % 8)) % 8);
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.max(end, 2 * this.buf.length));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
      this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
    }
    this.size = end;
    return at;
  }
  cstr(s: string): number {
    const n = Buffer.byteLength(s, 'utf8');
    const at = this.room(n + 1);
    this.buf.write(s, at, n, 'utf8');
    return this.base + at;
  }
  /** The bytes written so far. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.size);
  }
  /** Returns the blob offset of the argument's data. */
  arg(a: Arg): number {
    // A string is only read (no patch or load targets one): equal strings share one place.
    if (a.t === 'str') {
      let at = this.strings.get(a.v);
      if (at === undefined) this.strings.set(a.v, (at = this.cstr(a.v)));
      return at;
    }
    const at = this.placed.get(a);
    if (at !== undefined) return at;
    const placed = this.place(a);
    this.placed.set(a, placed);
    return placed;
  }

  /** A pointer to blob offset `to`, stored at data offset `at` and listed for relocation. */
  private pointer(at: number, to: number): void {
    this.view.setUint32(at, to, true);
    this.relocs.push(at);
  }

  private place(a: Arg): number {
    switch (a.t) {
      case 'str':
        return this.cstr(a.v);
      case 'buf':
        return this.base + this.room(Math.max(a.size, 1));
      case 'bytes': {
        const at = this.room(a.v.length);
        this.buf.set(a.v, at);
        for (const p of a.ptrs ?? []) this.pointer(at + p.at, this.arg(p.to));
        return this.base + at;
      }
      case 'strv': {
        const offs = a.v.map((s) => this.cstr(s));
        const at = this.room(8 * (offs.length + 1));
        offs.forEach((o, i) => this.pointer(at + 8 * i, o));
        return this.base + at;
      }
      case 'int':
      case 'null':
      case 'slot':
      case 'load':
        throw new Error(`encode: a ${a.t} argument has no data`);
    }
  }
}

const NONE: number[] = [];
function okErrnos(names: readonly string[] | undefined): number[] {
  if (!names?.length) return NONE;
  if (names.length > WIRE.MAX_OK_ERRNO) throw new Error(`encode: at most ${WIRE.MAX_OK_ERRNO} tolerated errnos per op`);
  return names.map((n) => {
    const v = errnoValue(n);
    if (v === undefined) throw new Error(`encode: unknown errno ${n}`);
    return v;
  });
}

/** Encode a plan. With `describe`, per-op descriptions are embedded (the -Me launcher prints them). */
export function encodePlan(ops: readonly ChildOp[], describe?: (op: ChildOp) => string): Buffer {
  checkSegments(ops);
  const opsOff = PLAN_HDR.size;
  const dataBase = opsOff + ops.length * OP.size;
  const data = new Data(dataBase, 48 * ops.length); // about what a mount's ops take
  const records = Buffer.alloc(ops.length * OP.size);
  const view = new DataView(records.buffer, records.byteOffset, records.length);
  const slot = (s: number, what: string) => {
    if (!Number.isInteger(s) || s < 0 || s >= WIRE.MAX_SLOTS) throw new Error(`encode: ${what} slot ${s} out of range 0..${WIRE.MAX_SLOTS - 1}`);
    return s;
  };
  // Plain loops: a plan of a few hundred mounts has thousands of ops, and a closure or an array per
  // op and argument was most of what the encoding allocated.
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const r = i * OP.size;
    let flags = 0;
    view.setUint32(r + F.nr!.offset, o.kind in PSEUDO ? PSEUDO[o.kind as PseudoOp] : SYS[o.kind as keyof typeof SYS], true);
    if (o.args.length > WIRE.ARGS) throw new Error(`encode: ${o.kind} has ${o.args.length} arguments, at most ${WIRE.ARGS}`);
    let patchBase: number | undefined;
    for (let k = 0; k < o.args.length; k++) {
      const a = o.args[k]!;
      const at = r + F.args!.offset + 8 * k;
      // Offsets and slots are small non-negative numbers: two 32-bit words, no BigInt.
      let n: number;
      switch (a.t) {
        case 'int':
          view.setBigInt64(at, a.v, true); // ToBigInt64 wraps as the kernel reads it
          continue;
        case 'null':
          continue;
        case 'slot':
          flags |= 1 << (WIRE.ARG_SLOT_SHIFT + k);
          n = slot(a.slot, 'argument');
          break;
        case 'load':
          flags |= 1 << (WIRE.ARG_LOAD_SHIFT + k);
          n = data.arg(a.from) + a.offset;
          break;
        default:
          n = data.arg(a);
          if (o.patch?.arg === k) patchBase = n;
          flags |= 1 << (WIRE.ARG_PTR_SHIFT + k);
      }
      view.setUint32(at, n, true);
    }
    if (o.save !== undefined) {
      flags |= WIRE.F_SAVE;
      view.setInt16(r + F.save_slot!.offset, slot(o.save, 'save'), true);
    }
    if (o.patch) {
      flags |= WIRE.F_PATCH | (o.patch.width === 8 ? WIRE.F_PATCH64 : 0);
      view.setInt16(r + F.patch_slot!.offset, slot(o.patch.slot, 'patch'), true);
      if (patchBase === undefined) throw new Error('encode: a patch must target a data argument');
      view.setUint32(r + F.patch_off!.offset, patchBase + o.patch.offset, true);
    }
    if (o.cond !== undefined) {
      flags |= WIRE.F_COND;
      view.setInt16(r + F.cond_slot!.offset, slot(o.cond, 'condition'), true);
    }
    if (o.expect !== undefined) {
      flags |= WIRE.F_EXPECT;
      view.setBigInt64(r + F.expect!.offset, o.expect, true);
    }
    if (o.soft) flags |= WIRE.F_SOFT;
    if (o.quiet) flags |= WIRE.F_QUIET;
    if (o.okErrno?.length) okErrnos(o.okErrno).forEach((e, j) => view.setUint16(r + F.ok_errno!.offset + 2 * j, e, true));
    view.setUint32(r + F.flags!.offset, flags >>> 0, true);
  }
  let descTable: Buffer | undefined;
  if (describe) {
    descTable = Buffer.alloc(4 * ops.length);
    ops.forEach((o, i) => descTable!.writeUInt32LE(data.cstr(describe(o)), 4 * i));
  }
  const descOff = descTable ? data.arg({ t: 'bytes', v: descTable, label: 'descriptions' }) : 0;
  const relocs = Buffer.alloc(4 * data.relocs.length);
  data.relocs.forEach((off, i) => relocs.writeUInt32LE(dataBase + off, 4 * i));
  const relocsOff = dataBase + data.size;
  const size = relocsOff + relocs.length;
  const hdr = Buffer.alloc(PLAN_HDR.size);
  const head: Record<string, number> = { magic: WIRE.PLAN_MAGIC, abi: WIRE.ABI_VERSION, size, n_ops: ops.length, ops_off: opsOff, n_relocs: data.relocs.length, relocs_off: relocsOff, desc_off: descOff };
  for (const f of PLAN_HDR.order) hdr.writeUInt32LE(head[f.name]!, f.offset);
  return Buffer.concat([hdr, records, data.bytes(), relocs], size);
}
