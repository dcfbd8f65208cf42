/**
 * ChildOp[] → the relocatable plan blob of native/tsjail.h. Layout: header,
 * op records, relocation table, optional description table, then data (each
 * item 8-byte aligned).
 */
import { SYS } from '../linux/consts.js';
import { errnoValue } from '../linux/errno.js';
import type { Arg, ChildOp } from './ops.js';

export const TSJ_ABI_VERSION = 2;
const PLAN_MAGIC = 0x504a5354;
const HDR_SIZE = 32;
/** Where op k's record starts: OPS_OFF + k * OP_SIZE; its args[j] at +8 + 8*j. */
export const OPS_OFF = HDR_SIZE;
export const OP_SIZE = 88;
const MAX_SLOTS = 256;
const TSJ_OP_INIT_FORK = 0x10001;

const F_SAVE = 1 << 16;
const F_PATCH = 1 << 17;
const F_PATCH64 = 1 << 18;
const F_EXPECT = 1 << 19;
const F_SOFT = 1 << 20;
const F_COND = 1 << 21;

class Data {
  chunks: Buffer[] = [];
  size = 0;
  relocs: number[] = []; // offsets within the data area
  /** Data arguments already placed: one Arg object is one place (a 'load' reads what a call wrote there). */
  private readonly placed = new Map<Arg, number>();
  constructor(readonly base: number) {}
  private add(b: Buffer): number {
    const at = this.size;
    this.chunks.push(b);
    this.size += b.length;
    const pad = (8 - (this.size % 8)) % 8;
    if (pad) {
      this.chunks.push(Buffer.alloc(pad));
      this.size += pad;
    }
    return this.base + at;
  }
  cstr(s: string): number {
    return this.add(Buffer.from(s + '\0', 'utf8'));
  }
  /** Returns the blob offset of the argument's data. */
  arg(a: Arg): number {
    const at = this.placed.get(a);
    if (at !== undefined) return at;
    const placed = this.place(a);
    this.placed.set(a, placed);
    return placed;
  }

  private place(a: Arg): number {
    switch (a.t) {
      case 'str':
        return this.cstr(a.v);
      case 'buf':
        return this.add(Buffer.alloc(Math.max(a.size, 1)));
      case 'bytes': {
        const b = Buffer.from(a.v);
        const at = this.add(b);
        for (const p of a.ptrs ?? []) {
          b.writeBigUInt64LE(BigInt(this.arg(p.to)), p.at);
          this.relocs.push(at - this.base + p.at);
        }
        return at;
      }
      case 'strv': {
        const offs = a.v.map((s) => this.cstr(s));
        const arr = Buffer.alloc(8 * (offs.length + 1));
        const at = this.add(arr);
        offs.forEach((o, i) => {
          arr.writeBigUInt64LE(BigInt(o), 8 * i);
          this.relocs.push(at - this.base + 8 * i);
        });
        return at;
      }
      case 'int':
      case 'null':
      case 'slot':
      case 'load':
        throw new Error(`encode: a ${a.t} argument has no data`);
    }
  }
}

function okErrnos(names: readonly string[] = []): number[] {
  if (names.length > 4) throw new Error('encode: at most 4 tolerated errnos per op');
  return names.map((n) => {
    const v = errnoValue(n);
    if (v === undefined) throw new Error(`encode: unknown errno ${n}`);
    return v;
  });
}

/** Encode a plan. With `describe`, per-op descriptions are embedded (the -Me launcher prints them). */
export function encodePlan(ops: readonly ChildOp[], describe?: (op: ChildOp) => string): Buffer {
  const opsOff = OPS_OFF;
  const dataBase = opsOff + ops.length * OP_SIZE;
  const data = new Data(dataBase);
  const records = Buffer.alloc(ops.length * OP_SIZE);
  ops.forEach((o, i) => {
    const r = i * OP_SIZE;
    let flags = 0;
    records.writeUInt32LE(o.kind === 'init_fork' ? TSJ_OP_INIT_FORK : SYS[o.kind], r);
    const argAt: number[] = [];
    o.args.forEach((a, k) => {
      let v: bigint;
      switch (a.t) {
        case 'int':
          v = a.v;
          break;
        case 'null':
          v = 0n;
          break;
        case 'slot':
          if (a.slot < 0 || a.slot >= MAX_SLOTS) throw new Error(`encode: slot ${a.slot} out of range`);
          flags |= 1 << (8 + k);
          v = BigInt(a.slot);
          break;
        case 'load':
          flags |= 1 << (24 + k);
          v = BigInt(data.arg(a.from) + a.offset);
          break;
        default: {
          const at = data.arg(a);
          argAt[k] = at;
          flags |= 1 << k;
          v = BigInt(at);
        }
      }
      records.writeBigInt64LE(BigInt.asIntN(64, v), r + 8 + 8 * k);
    });
    if (o.save !== undefined) {
      flags |= F_SAVE;
      records.writeInt16LE(o.save, r + 64);
    }
    if (o.patch) {
      flags |= F_PATCH | (o.patch.width === 8 ? F_PATCH64 : 0);
      records.writeInt16LE(o.patch.slot, r + 66);
      const base = argAt[o.patch.arg];
      if (base === undefined) throw new Error('encode: a patch must target a data argument');
      records.writeUInt32LE(base + o.patch.offset, r + 72);
    }
    if (o.cond !== undefined) {
      flags |= F_COND;
      records.writeInt16LE(o.cond, r + 68);
    }
    if (o.expect !== undefined) {
      flags |= F_EXPECT;
      records.writeBigInt64LE(o.expect, r + 56);
    }
    if (o.soft) flags |= F_SOFT;
    okErrnos(o.okErrno).forEach((e, j) => records.writeUInt16LE(e, r + 76 + 2 * j));
    records.writeUInt32LE(flags >>> 0, r + 4);
  });
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
  const hdr = Buffer.alloc(HDR_SIZE);
  [PLAN_MAGIC, TSJ_ABI_VERSION, size, ops.length, opsOff, data.relocs.length, relocsOff, descOff].forEach((v, i) =>
    hdr.writeUInt32LE(v, 4 * i),
  );
  return Buffer.concat([hdr, records, ...data.chunks, relocs], size);
}
