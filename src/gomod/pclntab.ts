/**
 * Go's function table (the pclntab, Go 1.18 and later): for any PC of the
 * program's text, the function that holds it, its name, flags and the pcsp
 * table that gives its frame size at that PC. This is what the runtime's own
 * traceback reads, and all an unwinder needs: no DWARF, no frame pointers.
 *
 * Layout (runtime/symtab.go, pcHeader): magic u32, two zero bytes, the PC
 * quantum, the pointer size, then pointer-sized words nfunc, nfiles,
 * textStart, and the offsets (from the header) of funcnametab, cutab,
 * filetab, pctab and the function table. The function table holds nfunc
 * {entryoff, funcoff} u32 pairs and the end offset of the last function;
 * funcoff leads to a _func record, whose offsets point into the name and pc
 * tables.
 */
import { type Elf, PT_LOAD, section, vaddrToOffset } from './elf.js';
import { GoInputError } from './errors.js';
import { uvarint } from './varint.js';

const MAGIC_118 = 0xfffffff0;
const MAGIC_120 = 0xfffffff1;
const OLD_MAGICS: Readonly<Record<number, string>> = { 0xfffffffa: 'Go 1.16 or 1.17', 0xfffffffb: 'Go 1.2 to 1.15' };

/** _func.flag bits (runtime/abi): the runtime's traceback stops at both. */
export const FUNCFLAG_TOPFRAME = 1;
export const FUNCFLAG_SPWRITE = 2;
export const FUNCFLAG_ASM = 4;
const PCDATA_InlTreeIndex = 2;
const FUNCDATA_InlTree = 3;

/**
 * One function of the table. Addresses are Numbers: user-space addresses on
 * x86-64 stay below 2^47, and a stack walk done in BigInt arithmetic would
 * spend most of its time allocating.
 */
export class GoFunc {
  private decoded?: string;
  constructor(
    private readonly table: GoTable,
    /** Index in the function table. */
    readonly index: number,
    /** Link-time address of the first instruction. */
    readonly entry: number,
    private readonly nameOff: number,
    /** Offset of the pcsp table in pctab (0: none). */
    readonly pcsp: number,
    readonly funcID: number,
    readonly flag: number,
    /** Offset of its _func record in the table. */
    readonly rec: number,
  ) {}

  /** Decoded when asked for: a stack walk needs frame sizes, rarely names. */
  get name(): string {
    return (this.decoded ??= this.table.nameAt(this.nameOff));
  }
}

/** What a worker thread needs to rebuild a table: the bytes from the header on (cloned or shared). */
export interface GoTableData {
  readonly bytes: Uint8Array;
}

export class GoTable {
  readonly dv: DataView;
  readonly magic: number;
  readonly quantum: number;
  readonly ptrSize: number;
  readonly nfunc: number;
  /** Link-time start of the text the entry offsets count from. */
  readonly textStart: bigint;
  readonly textStartN: number;
  private readonly funcnameOff: number;
  private readonly pctabOff: number;
  private readonly pclnOff: number;
  /** Offset of _func's funcID byte (the flag byte follows it). */
  private readonly funcIDAt: number;
  /** End offset (from textStart) of the last function. */
  readonly textEnd: number;

  constructor(
    readonly bytes: Uint8Array,
    file = 'the Go program',
  ) {
    const bad = (why: string): never => {
      throw new GoInputError(`${file}: malformed Go function table (pclntab): ${why}`);
    };
    if (bytes.length < 8 + 8 * 8) bad(`only ${bytes.length} bytes`);
    const dv = (this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.magic = dv.getUint32(0, true);
    const old = OLD_MAGICS[this.magic];
    if (old) throw new GoInputError(`${file}: built by ${old} (pclntab magic 0x${this.magic.toString(16)}); tsjail reads Go 1.18 or later`);
    if (this.magic !== MAGIC_118 && this.magic !== MAGIC_120) bad(`unknown magic 0x${this.magic.toString(16)}`);
    this.quantum = bytes[6]!;
    this.ptrSize = bytes[7]!;
    if (bytes[4] !== 0 || bytes[5] !== 0 || ![1, 2, 4].includes(this.quantum) || this.ptrSize !== 8) bad(`header bytes ${[...bytes.subarray(4, 8)].join(' ')} (want 0 0, a PC quantum of 1, 2 or 4, and 8-byte pointers)`);
    const word = (i: number) => dv.getBigUint64(8 + 8 * i, true);
    const small = (i: number, what: string) => {
      const v = word(i);
      if (v > BigInt(bytes.length)) bad(`${what} ${v} is past the table's ${bytes.length} bytes`);
      return Number(v);
    };
    this.nfunc = small(0, 'nfunc');
    this.textStart = word(2);
    if (this.textStart >= 1n << 47n) bad(`textStart 0x${this.textStart.toString(16)} is not a user-space address`);
    this.textStartN = Number(this.textStart);
    this.funcnameOff = small(3, 'funcnametab offset');
    this.pctabOff = small(6, 'pctab offset');
    this.pclnOff = small(7, 'function table offset');
    const offs = [small(3, 'funcnametab offset'), small(4, 'cutab offset'), small(5, 'filetab offset'), this.pctabOff, this.pclnOff];
    for (let i = 1; i < offs.length; i++) if (offs[i]! < offs[i - 1]!) bad('its section offsets are not in ascending order');
    if (this.nfunc === 0) bad('no functions');
    if (this.pclnOff + (this.nfunc * 2 + 1) * 4 > bytes.length) bad(`${this.nfunc} functions do not fit in the table`);
    if (dv.getUint32(this.pclnOff, true) !== 0) bad('the first function does not start at textStart');
    this.textEnd = dv.getUint32(this.pclnOff + this.nfunc * 8, true);
    this.funcIDAt = this.magic === MAGIC_118 ? 36 : 40;
  }

  static from(d: GoTableData): GoTable {
    return new GoTable(d.bytes);
  }

  /** Go 1.18/1.19 tables (compiler symbols start with go. and type.) or 1.20+ (go: and type:). */
  get oldNames(): boolean {
    return this.magic === MAGIC_118;
  }

  /** The function index holding link-time address pc, or -1 when pc is not in Go's text. */
  findIndex(pc: number): number {
    const o = pc - this.textStartN;
    if (!(o >= 0 && o < this.textEnd)) return -1;
    const dv = this.dv;
    const base = this.pclnOff;
    let lo = 0;
    let hi = this.nfunc - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (dv.getUint32(base + mid * 8, true) <= o) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  funcAt(index: number): GoFunc {
    if (!(index >= 0 && index < this.nfunc)) throw new RangeError(`function index ${index} is outside 0..${this.nfunc - 1}`);
    const dv = this.dv;
    const f = this.pclnOff + dv.getUint32(this.pclnOff + index * 8 + 4, true);
    if (f + this.funcIDAt + 4 > this.bytes.length) throw new GoInputError(`malformed Go function table: function ${index}'s record is past the end of the table`);
    return new GoFunc(this, index, this.textStartN + dv.getUint32(f, true), dv.getInt32(f + 4, true), dv.getUint32(f + 16, true), this.bytes[f + this.funcIDAt]!, this.bytes[f + this.funcIDAt + 1]!, f);
  }

  /** The function holding pc, or undefined outside Go's text. */
  find(pc: number): GoFunc | undefined {
    const i = this.findIndex(pc);
    return i < 0 ? undefined : this.funcAt(i);
  }

  /** The NUL-terminated name at off in funcnametab. */
  nameAt(off: number): string {
    const start = this.funcnameOff + off;
    if (off < 0 || start >= this.bytes.length) return '?';
    let end = start;
    while (end < this.bytes.length && this.bytes[end] !== 0) end++;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, end - start).toString('latin1');
  }

  /**
   * The value of the pc-value table at `tableOff` (in pctab) for target, in a
   * function starting at entry; undefined when the table ends before target or
   * is malformed. Pairs of (zig-zag value delta, pc delta in quanta), the value
   * starting at -1: the value holds until pc reaches the accumulated pc.
   */
  pcvalue(tableOff: number, entry: number, target: number): number | undefined {
    if (tableOff === 0) return undefined;
    const b = this.bytes;
    const want = target - entry;
    const q = this.quantum;
    let p = this.pctabOff + tableOff;
    let value = -1;
    let pc = 0;
    for (let first = true; ; first = false) {
      // Both deltas are uint32 varints in Go's tables: at most 5 bytes each.
      const u = uvarint(b, p, 5);
      if (!u || (u[0] === 0 && !first)) return undefined;
      value += u[0] % 2 ? -((u[0] - 1) / 2) - 1 : u[0] / 2;
      const d = uvarint(b, u[1], 5);
      if (!d) return undefined;
      p = d[1];
      pc += d[0] * q;
      if (want < pc) return value;
    }
  }

  /**
   * Where the inline trees are: `data` holds the program's bytes and `gofunc`
   * the file offset of go.func.* (moduledata.gofunc), which FUNCDATA offsets
   * count from. Without it frames are not expanded.
   */
  set inline(v: { readonly data: Uint8Array; readonly gofunc: number } | undefined) {
    this.inl = v && { ...v, dv: new DataView(v.data.buffer, v.data.byteOffset, v.data.byteLength) };
  }
  get inline(): { readonly data: Uint8Array; readonly gofunc: number } | undefined {
    return this.inl;
  }
  private inl?: { readonly data: Uint8Array; readonly gofunc: number; readonly dv: DataView };

  /**
   * The functions inlined at pc into f, innermost first (their names): the
   * InlTreeIndex pcdata gives an entry of the inline tree (FUNCDATA_InlTree),
   * whose parentPc leads to the call site in the caller, and so on up to f.
   */
  inlinedAt(f: GoFunc, pc: number): string[] {
    const inl = this.inl;
    if (!inl) return [];
    const dv = this.dv;
    const npcdata = dv.getUint32(f.rec + 28, true);
    const nfuncdata = this.bytes[f.rec + this.funcIDAt + 3]!;
    if (npcdata <= PCDATA_InlTreeIndex || nfuncdata <= FUNCDATA_InlTree) return [];
    const fixed = this.funcIDAt + 4;
    const pcdata = dv.getUint32(f.rec + fixed + 4 * PCDATA_InlTreeIndex, true);
    const treeOff = dv.getUint32(f.rec + fixed + 4 * npcdata + 4 * FUNCDATA_InlTree, true);
    if (pcdata === 0 || treeOff === 0xffffffff) return [];
    const tree = inl.gofunc + treeOff;
    const size = this.magic === MAGIC_118 ? 20 : 16;
    const idv = inl.dv;
    const names: string[] = [];
    let ix = this.pcvalue(pcdata, f.entry, pc);
    for (let guard = 0; ix !== undefined && ix >= 0 && guard < 64; guard++) {
      const e = tree + ix * size;
      if (e + size > inl.data.length) break;
      // 1.18/1.19: parent i16, funcID u8, pad, file i32, line i32, nameOff i32, parentPc i32; 1.20+: funcID u8, pad[3], nameOff i32, parentPc i32, startLine i32.
      const [nameOff, parentPc] = size === 20 ? [idv.getInt32(e + 12, true), idv.getInt32(e + 16, true)] : [idv.getInt32(e + 4, true), idv.getInt32(e + 8, true)];
      names.push(this.nameAt(nameOff));
      ix = this.pcvalue(pcdata, f.entry, f.entry + parentPc);
    }
    return names;
  }

  /**
   * Whether `gofunc` (a file offset in data) leads to inline trees: the first
   * entries of up to 32 functions' trees must name functions (an offset into
   * funcnametab at the start of a name).
   */
  inlineTreesCheck(data: Uint8Array, gofunc: number): boolean {
    const dv = this.dv;
    const idv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const namesEnd = Number(dv.getBigUint64(8 + 8 * 4, true)) - this.funcnameOff;
    const fixed = this.funcIDAt + 4;
    let seen = 0;
    for (let i = 0; i < this.nfunc && seen < 32; i++) {
      const f = this.funcAt(i);
      const npcdata = dv.getUint32(f.rec + 28, true);
      if (npcdata <= PCDATA_InlTreeIndex || this.bytes[f.rec + this.funcIDAt + 3]! <= FUNCDATA_InlTree) continue;
      const treeOff = dv.getUint32(f.rec + fixed + 4 * npcdata + 4 * FUNCDATA_InlTree, true);
      if (treeOff === 0xffffffff) continue;
      const e = gofunc + treeOff;
      if (e + 20 > data.length) return false;
      const nameOff = idv.getInt32(e + (this.magic === MAGIC_118 ? 12 : 4), true);
      if (nameOff < 0 || nameOff >= namesEnd || (nameOff > 0 && this.bytes[this.funcnameOff + nameOff - 1] !== 0)) return false;
      seen++;
    }
    return seen > 0;
  }

  /** Every function's name, in table order (the benchmark, and tests). */
  *names(): Generator<string> {
    for (let i = 0; i < this.nfunc; i++) yield this.funcAt(i).name;
  }
}

/** A candidate header at offset o of buf: the new magics with plausible prefix bytes. */
function looksLikeHeader(buf: Uint8Array, o: number): boolean {
  return buf[o + 1] === 0xff && buf[o + 2] === 0xff && buf[o + 3] === 0xff && (buf[o] === 0xf0 || buf[o] === 0xf1) && buf[o + 4] === 0 && buf[o + 5] === 0 && (buf[o + 6] === 1 || buf[o + 6] === 2 || buf[o + 6] === 4) && buf[o + 7] === 8;
}

/**
 * The function table of a Go binary: the .gopclntab section (non-PIE), the
 * section an external linker names .data.rel.ro.gopclntab, or, when neither
 * exists (an internally linked PIE keeps it inside .data.rel.ro; a stripped
 * binary may have no section headers), the first 8-byte aligned header in a
 * PT_LOAD segment whose offsets check out.
 */
export function locatePclntab(buf: Uint8Array, elf: Elf, file: string): GoTable {
  const s = section(elf, '.gopclntab') ?? section(elf, '.data.rel.ro.gopclntab');
  if (s) return new GoTable(buf.subarray(s.offset, s.offset + s.size), file);
  let oldMagic: number | undefined;
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD) continue;
    const end = seg.offset + seg.filesz;
    for (let o = (seg.offset + 7) & ~7; o + 72 <= end; o += 8) {
      if (buf[o + 3] !== 0xff || buf[o + 2] !== 0xff || buf[o + 1] !== 0xff) continue;
      if (!looksLikeHeader(buf, o)) {
        if ((buf[o] === 0xfa || buf[o] === 0xfb) && buf[o + 4] === 0 && buf[o + 5] === 0 && buf[o + 7] === 8) oldMagic ??= 0xffffff00 | buf[o]!;
        continue;
      }
      try {
        return new GoTable(buf.subarray(o, end), file);
      } catch {
        /* a look-alike: keep scanning */
      }
    }
  }
  if (oldMagic !== undefined) throw new GoInputError(`${file}: built by ${OLD_MAGICS[oldMagic >>> 0]} (pclntab magic 0x${(oldMagic >>> 0).toString(16)}); tsjail reads Go 1.18 or later`);
  throw new GoInputError(`${file}: no Go function table (pclntab) found: neither a .gopclntab section nor a table header in its segments`);
}

/**
 * The file offset of go.func.* (moduledata.gofunc), where the inline trees
 * are, or undefined. moduledata starts with a pointer to the pcHeader followed
 * by slices into the table, so it is found by the header's address in the
 * file (the linker writes the link-time values, PIE included) and checked by
 * the slices; gofunc is its word 38 (Go 1.18/1.19) or 40 (1.20 and later,
 * which added the coverage counters' bounds).
 */
export function locateGoFunc(buf: Uint8Array, elf: Elf, table: GoTable): number | undefined {
  if (table.bytes.buffer !== buf.buffer) return undefined;
  const hdrFile = table.bytes.byteOffset - buf.byteOffset;
  const seg = elf.segments.find((s) => s.type === PT_LOAD && hdrFile >= s.offset && hdrFile < s.offset + s.filesz);
  if (!seg) return undefined;
  const hdr = seg.vaddr + BigInt(hdrFile - seg.offset);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const needle = Buffer.alloc(8);
  needle.writeBigUInt64LE(hdr);
  const word = (o: number, i: number) => b.readBigUInt64LE(o + 8 * i);
  const funcnameOff = table.dv.getBigUint64(8 + 8 * 3, true);
  const gofuncWord = table.oldNames ? 38 : 40;
  for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + 1)) {
    if (at % 8 !== 0 || at + 8 * (gofuncWord + 1) > b.length) continue;
    // funcnametab's data pointer, and text == textStart.
    if (word(at, 1) !== hdr + funcnameOff || word(at, 22) !== table.textStart) continue;
    const gofunc = word(at, gofuncWord);
    const rodata = word(at, gofuncWord - 1);
    if (gofunc < rodata) continue;
    const off = vaddrToOffset(elf, gofunc);
    if (off !== undefined && table.inlineTreesCheck(buf, off)) return off;
  }
  return undefined;
}
