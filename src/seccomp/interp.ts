/**
 * Classic-BPF interpreter over struct seccomp_data, with the kernel's
 * load-time checks (seccomp_check_filter + bpf_check_classic) as `verify`.
 * Backs `tsjail seccomp eval`, the benchmark and the tests.
 */
import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP,
  BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS, BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD,
  BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X,
  BPF_XOR, SECCOMP_DATA_SIZE, type SockFilter,
} from './bpf.js';
import type { SeccompData } from './model.js';

export type { SeccompData } from './model.js';

export interface RunResult {
  /** The SECCOMP_RET_* value. */
  ret: number;
  /** Instructions executed, RET included. */
  executed: number;
}

/** The 64-byte struct seccomp_data as 16 little-endian words. */
function dataWords(d: SeccompData): Uint32Array {
  const w = new Uint32Array(SECCOMP_DATA_SIZE / 4);
  w[0] = d.nr >>> 0;
  w[1] = d.arch >>> 0;
  const ip = BigInt.asUintN(64, d.instruction_pointer ?? 0n);
  w[2] = Number(ip & 0xffffffffn);
  w[3] = Number(ip >> 32n);
  for (let i = 0; i < 6; i++) {
    const v = BigInt.asUintN(64, d.args[i] ?? 0n);
    w[4 + 2 * i] = Number(v & 0xffffffffn);
    w[5 + 2 * i] = Number(v >> 32n);
  }
  return w;
}

function alu(op: number, a: number, b: number): number {
  switch (op) {
    case BPF_ADD: return (a + b) >>> 0;
    case BPF_SUB: return (a - b) >>> 0;
    case BPF_MUL: return Math.imul(a, b) >>> 0;
    case BPF_DIV: return b === 0 ? 0 : Math.floor(a / b) >>> 0;
    case BPF_MOD: return b === 0 ? a : a % b;
    case BPF_OR: return (a | b) >>> 0;
    case BPF_AND: return (a & b) >>> 0;
    case BPF_XOR: return (a ^ b) >>> 0;
    case BPF_LSH: return b >= 32 ? 0 : (a << b) >>> 0;
    case BPF_RSH: return b >= 32 ? 0 : a >>> b;
    case BPF_NEG: return -a >>> 0;
  }
  throw new Error(`bad ALU op 0x${op.toString(16)}`);
}

/** Runs prog on one syscall event. Throws on malformed programs (run `verify` first for messages). */
export function run(prog: readonly SockFilter[], data: SeccompData): RunResult {
  const words = dataWords(data);
  const mem = new Uint32Array(BPF_MEMWORDS);
  let A = 0, X = 0, executed = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    executed++;
    switch (code & 0x07) {
      case BPF_LD:
        switch (code & 0xe0) {
          case BPF_ABS: A = words[k >>> 2]!; break;
          case BPF_IMM: A = k; break;
          case BPF_MEM: A = mem[k]!; break;
          case BPF_LEN: A = SECCOMP_DATA_SIZE; break;
        }
        break;
      case BPF_LDX:
        X = (code & 0xe0) === BPF_MEM ? mem[k]! : (code & 0xe0) === BPF_LEN ? SECCOMP_DATA_SIZE : k;
        break;
      case BPF_ST: mem[k] = A; break;
      case BPF_STX: mem[k] = X; break;
      case BPF_ALU: A = alu(code & 0xf0, A, (code & BPF_X) ? X : k); break;
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === BPF_JA) {
          pc += k;
          break;
        }
        const b = (code & BPF_X) ? X : k;
        const taken = op === BPF_JEQ ? A === b : op === BPF_JGT ? A > b : op === BPF_JGE ? A >= b : op === BPF_JSET ? (A & b) !== 0 : undefined;
        if (taken === undefined) throw new Error(`bad jump op 0x${code.toString(16)} at ${pc}`);
        pc += taken ? jt : jf;
        break;
      }
      case BPF_RET: return { ret: ((code & 0x18) === BPF_A ? A : k) >>> 0, executed };
      case BPF_MISC: if ((code & 0xf8) === BPF_TXA) A = X; else X = A; break;
    }
  }
  throw new Error('fell off the end of the program');
}

const ALLOWED: ReadonlySet<number> = new Set([
  BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM,
  BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_ALU | BPF_NEG, BPF_JMP | BPF_JA,
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].flatMap((op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X]),
  ...[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

/**
 * The kernel's checks for a seccomp classic-BPF program (bpf_check_classic,
 * seccomp_check_filter, check_load_and_stores); returns problems, empty when
 * loadable. Jumps only go forward, so with every target in range and a RET
 * last, every path ends in a RET.
 */
export function verify(prog: readonly SockFilter[]): string[] {
  const errors: string[] = [];
  if (prog.length === 0 || prog.length > BPF_MAXINSNS) errors.push(`length ${prog.length} outside 1..${BPF_MAXINSNS}`);
  // Scratch words stored on every path to each instruction (check_load_and_stores).
  const stored: number[] = new Array(prog.length).fill(0xffff);
  if (prog.length) stored[0] = 0;
  prog.forEach((ins, pc) => {
    const { code, jt, jf, k } = ins;
    if (!ALLOWED.has(code)) errors.push(`${pc}: opcode 0x${code.toString(16)} not allowed in seccomp`);
    if (code === (BPF_LD | BPF_W | BPF_ABS) && (k >= SECCOMP_DATA_SIZE || k & 3)) errors.push(`${pc}: load of seccomp_data offset ${k}`);
    if ((code === (BPF_ALU | BPF_DIV | BPF_K) || code === (BPF_ALU | BPF_MOD | BPF_K)) && k === 0) errors.push(`${pc}: division by zero`);
    if ((code === (BPF_ALU | BPF_LSH | BPF_K) || code === (BPF_ALU | BPF_RSH | BPF_K)) && k >= 32) errors.push(`${pc}: shift by ${k}`);
    let mask = stored[pc]!;
    if ((code === (BPF_LD | BPF_MEM) || code === (BPF_LDX | BPF_MEM)) && k < BPF_MEMWORDS && !(mask & (1 << k))) {
      errors.push(`${pc}: M[${k}] read before written`);
    }
    if ([BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX].includes(code) && k >= BPF_MEMWORDS) errors.push(`${pc}: M[${k}] out of range`);
    if (code === BPF_ST || code === BPF_STX) mask |= 1 << k;
    const flow = (to: number) => {
      if (to >= prog.length) errors.push(`${pc}: jump to ${to} past the end`);
      else stored[to] = stored[to]! & mask;
    };
    if ((code & 0x07) === BPF_JMP) {
      if ((code & 0xf0) === BPF_JA) flow(pc + 1 + k);
      else {
        flow(pc + 1 + jt);
        flow(pc + 1 + jf);
      }
    } else if ((code & 0x07) !== BPF_RET && pc + 1 < prog.length) flow(pc + 1);
  });
  const last = prog[prog.length - 1];
  if (last && (last.code & 0x07) !== BPF_RET) errors.push(`${prog.length - 1}: the last instruction is not a RET`);
  return errors;
}
