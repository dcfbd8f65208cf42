/**
 * The parts of an ELF64 little-endian file that Go confinement needs: the
 * program headers (where each part of the file lands in memory), the section
 * headers when present (a stripped or packed binary may have none), and the
 * entry point (a PIE's load bias is AT_ENTRY minus it).
 */
import { GoInputError } from './errors.js';

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const PT_LOAD = 1;
export const PF_X = 1;
export const PF_W = 2;

export interface ElfSegment {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly filesz: number;
  readonly memsz: number;
}

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  readonly addr: bigint;
  readonly offset: number;
  readonly size: number;
}

export interface Elf {
  readonly type: number;
  readonly machine: number;
  readonly entry: bigint;
  readonly segments: readonly ElfSegment[];
  readonly sections: readonly ElfSection[];
}

const SHT_NOBITS = 8;

/** Reads the headers of `buf`; `file` names it in errors. */
export function parseElf(buf: Uint8Array, file: string): Elf {
  const bad = (why: string): never => {
    throw new GoInputError(`${file}: ${why}`);
  };
  if (buf.length < 64 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) bad('not an ELF file (no \\x7fELF magic)');
  if (buf[4] !== 2) bad('a 32-bit ELF file: only 64-bit Go programs are read');
  if (buf[5] !== 1) bad('a big-endian ELF file: only little-endian Go programs are read');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = dv.getUint16(16, true);
  if (type !== ET_EXEC && type !== ET_DYN) bad(`ELF type ${type} is not an executable (ET_EXEC or ET_DYN)`);
  const num = (v: bigint, what: string): number => {
    if (v > BigInt(buf.length)) bad(`${what} 0x${v.toString(16)} is past the end of the file (${buf.length} bytes)`);
    return Number(v);
  };
  const phoff = num(dv.getBigUint64(32, true), 'program header offset');
  const shoff = num(dv.getBigUint64(40, true), 'section header offset');
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);
  if (phnum && (phentsize < 56 || phoff + phnum * phentsize > buf.length)) bad('program headers lie outside the file');
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const offset = num(dv.getBigUint64(o + 8, true), `segment ${i} offset`);
    const filesz = Number(dv.getBigUint64(o + 32, true));
    if (offset + filesz > buf.length) bad(`segment ${i} (offset 0x${offset.toString(16)}, ${filesz} bytes) goes past the end of the file`);
    segments.push({ type: dv.getUint32(o, true), flags: dv.getUint32(o + 4, true), offset, vaddr: dv.getBigUint64(o + 16, true), filesz, memsz: Number(dv.getBigUint64(o + 40, true)) });
  }
  const sections: ElfSection[] = [];
  if (shoff && shnum) {
    if (shentsize < 64 || shoff + shnum * shentsize > buf.length) bad('section headers lie outside the file');
    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({ nameOff: dv.getUint32(o, true), type: dv.getUint32(o + 4, true), addr: dv.getBigUint64(o + 16, true), offset: Number(dv.getBigUint64(o + 24, true)), size: Number(dv.getBigUint64(o + 32, true)) });
    }
    const strtab = raw[shstrndx];
    for (const s of raw) {
      if (s.type !== SHT_NOBITS && s.offset + s.size > buf.length) bad(`a section (offset 0x${s.offset.toString(16)}, ${s.size} bytes) goes past the end of the file`);
      let name = '';
      if (strtab && strtab.offset + s.nameOff < buf.length) {
        const start = strtab.offset + s.nameOff;
        let end = start;
        while (end < buf.length && buf[end] !== 0) end++;
        name = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
      }
      sections.push({ name, type: s.type, addr: s.addr, offset: s.offset, size: s.type === SHT_NOBITS ? 0 : s.size });
    }
  }
  return { type, machine: dv.getUint16(18, true), entry: dv.getBigUint64(24, true), segments, sections };
}

export function section(elf: Elf, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name && s.size > 0);
}

/** The file offset of virtual address `va` (link-time), or undefined when no PT_LOAD segment holds it in the file. */
export function vaddrToOffset(elf: Elf, va: bigint): number | undefined {
  for (const s of elf.segments) {
    if (s.type !== PT_LOAD || va < s.vaddr || va >= s.vaddr + BigInt(s.filesz)) continue;
    return s.offset + Number(va - s.vaddr);
  }
  return undefined;
}
