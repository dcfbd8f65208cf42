/**
 * Small test programs: C compiled once per suite run with the host's cc, and a
 * hand-assembled i386 ELF for checks that only a 32-bit program can observe.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIR = join(tmpdir(), 'tsjail-test-progs');

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why C programs cannot be built here, or undefined (printed by the caller's skip). */
export function missingCc(): string | undefined {
  const why = which('cc') ? undefined : 'no C compiler (cc) is installed';
  if (why) console.warn(`SKIP (cc): ${why}`);
  return why;
}

/** Compiles `source` (static unless told otherwise, so no ld.so runs first) and returns the binary's path. */
export function compileC(name: string, source: string, opts: { static?: boolean } = {}): string {
  const flags = opts.static === false ? [] : ['-static'];
  const tag = createHash('sha256').update(source).update(flags.join(' ')).digest('hex').slice(0, 12);
  const out = join(DIR, `${name}-${tag}`);
  if (existsSync(out)) return out;
  mkdirSync(DIR, { recursive: true, mode: 0o755 });
  const src = `${out}.c`;
  writeFileSync(src, source);
  execFileSync('cc', ['-O1', ...flags, '-o', `${out}.tmp`, src], { stdio: 'pipe' });
  execFileSync('mv', [`${out}.tmp`, out]);
  return out;
}

/**
 * A 32-bit x86 program that exits with bits 16–23 of personality(0xffffffff).
 * It carries a PT_GNU_STACK header (not executable), so the kernel adds no
 * READ_IMPLIES_EXEC of its own: what it reports was set before execve, and
 * unlike 64-bit execve, a 32-bit one keeps that bit.
 */
export function personality32(): string {
  const out = join(DIR, 'personality32');
  if (existsSync(out)) return out;
  // prettier-ignore
  const code = Buffer.from([
    0xb8, 0x88, 0x00, 0x00, 0x00, //  mov eax, 136 (personality)
    0xbb, 0xff, 0xff, 0xff, 0xff, //  mov ebx, 0xffffffff (query)
    0xcd, 0x80,                   //  int 0x80
    0xc1, 0xe8, 0x10,             //  shr eax, 16
    0x25, 0xff, 0x00, 0x00, 0x00, //  and eax, 0xff
    0x89, 0xc3,                   //  mov ebx, eax
    0xb8, 0x01, 0x00, 0x00, 0x00, //  mov eax, 1 (exit)
    0xcd, 0x80,                   //  int 0x80
  ]);
  const base = 0x08048000;
  const ehSize = 52;
  const phSize = 32;
  const codeOff = ehSize + 2 * phSize;
  const total = codeOff + code.length;
  const b = Buffer.alloc(total);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]); // ELF, 32-bit, little-endian, version 1
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(3, 18); // EM_386
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(base + codeOff, 24); // entry
  b.writeUInt32LE(ehSize, 28); // phoff
  b.writeUInt16LE(ehSize, 40);
  b.writeUInt16LE(phSize, 42);
  b.writeUInt16LE(2, 44); // phnum
  const ph = (at: number, words: number[]) => words.forEach((w, i) => b.writeUInt32LE(w, at + 4 * i));
  ph(ehSize, [1, 0, base, base, total, total, 5, 0x1000]); // PT_LOAD r-x
  ph(ehSize + phSize, [0x6474e551, 0, 0, 0, 0, 0, 6, 16]); // PT_GNU_STACK rw-
  code.copy(b, codeOff);
  mkdirSync(DIR, { recursive: true, mode: 0o755 });
  writeFileSync(`${out}.tmp`, b);
  chmodSync(`${out}.tmp`, 0o755);
  execFileSync('mv', [`${out}.tmp`, out]);
  return out;
}
