/**
 * Classic BPF as seccomp uses it: opcodes (linux/bpf_common.h, linux/filter.h),
 * SECCOMP_RET_* (linux/seccomp.h), the seccomp_data layout, and the 8-byte
 * little-endian struct sock_filter encoding.
 */

// Instruction classes.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
// Load sizes and modes.
export const BPF_W = 0x00;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
// ALU operations.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
// Jumps.
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
// Operand source.
export const BPF_K = 0x00;
export const BPF_X = 0x08;
// RET source; MISC operations.
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

export const BPF_MEMWORDS = 16;
/** BPF_MAXINSNS: the kernel rejects longer classic programs. */
export const BPF_MAXINSNS = 4096;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** struct seccomp_data offsets (little-endian host). */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP = 8;
export const SECCOMP_DATA_ARGS = 16;
export const SECCOMP_DATA_SIZE = 64;
export const argOffset = (i: number, half: 'lo' | 'hi'): number => SECCOMP_DATA_ARGS + 8 * i + (half === 'hi' ? 4 : 0);

/** __X32_SYSCALL_BIT: x32 syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in nr. */
export const X32_SYSCALL_BIT = 0x40000000;

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const stmt = (code: number, k: number): SockFilter => ({ code, jt: 0, jf: 0, k: k >>> 0 });
export const jump = (code: number, k: number, jt: number, jf: number): SockFilter => ({ code, jt, jf, k: k >>> 0 });

export function encode(prog: readonly SockFilter[]): Uint8Array {
  const out = new Uint8Array(prog.length * 8);
  const view = new DataView(out.buffer);
  prog.forEach((ins, i) => {
    view.setUint16(i * 8, ins.code, true);
    view.setUint8(i * 8 + 2, ins.jt);
    view.setUint8(i * 8 + 3, ins.jf);
    view.setUint32(i * 8 + 4, ins.k >>> 0, true);
  });
  return out;
}

export function decode(bytes: Uint8Array): SockFilter[] {
  if (bytes.length % 8 !== 0) throw new Error(`filter length ${bytes.length} is not a multiple of 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prog: SockFilter[] = [];
  for (let p = 0; p < bytes.length; p += 8) {
    prog.push({ code: view.getUint16(p, true), jt: view.getUint8(p + 2), jf: view.getUint8(p + 3), k: view.getUint32(p + 4, true) });
  }
  return prog;
}
