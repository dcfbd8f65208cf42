/**
 * `tsjail seccomp dump`: one line per instruction in bpf_asm mnemonics, jump
 * targets as labels, and comments naming what A holds (arch, nr, an argument
 * word), the syscall a number compares against, and each RET's action.
 */
import { formatAction } from './actions.js';
import { ARCHS } from './arch.js';
import {
  BPF_A, BPF_ABS, BPF_ALU, BPF_JA, BPF_JMP, BPF_LD, BPF_LDX, BPF_LEN, BPF_MEM, BPF_MISC, BPF_RET,
  BPF_ST, BPF_STX, BPF_TXA, BPF_X, SECCOMP_DATA_ARCH, SECCOMP_DATA_ARGS, SECCOMP_DATA_IP, SECCOMP_DATA_NR,
  type SockFilter,
} from './bpf.js';
import { syscallByNr, type SyscallTable } from './syscalls/index.js';

const ALU_NAMES: Readonly<Record<number, string>> = {
  0x00: 'add', 0x10: 'sub', 0x20: 'mul', 0x30: 'div', 0x40: 'or', 0x50: 'and', 0x60: 'lsh', 0x70: 'rsh', 0x80: 'neg', 0x90: 'mod', 0xa0: 'xor',
};
const JMP_NAMES: Readonly<Record<number, string>> = { 0x00: 'jmp', 0x10: 'jeq', 0x20: 'jgt', 0x30: 'jge', 0x40: 'jset' };
const JMP_OPS: Readonly<Record<number, string>> = { 0x10: '==', 0x20: '>', 0x30: '>=', 0x40: '&' };

const hex = (k: number) => `0x${(k >>> 0).toString(16)}`;

function fieldName(off: number): string {
  if (off === SECCOMP_DATA_NR) return 'nr';
  if (off === SECCOMP_DATA_ARCH) return 'arch';
  if (off >= SECCOMP_DATA_IP && off < SECCOMP_DATA_ARGS) return off === SECCOMP_DATA_IP ? 'ip (low)' : 'ip (high)';
  const i = (off - SECCOMP_DATA_ARGS) >> 3;
  return `args[${i}] ${(off - SECCOMP_DATA_ARGS) & 4 ? 'high' : 'low'}`;
}

export function disassemble(prog: readonly SockFilter[], table?: SyscallTable): string {
  // What A holds at each instruction, merged over every path (jumps only go forward).
  const aIn: Array<string | null | undefined> = new Array(prog.length + 1).fill(undefined);
  aIn[0] = null;
  const targets = new Set<number>();
  const flow = (to: number, a: string | null) => {
    aIn[to] = aIn[to] === undefined || aIn[to] === a ? a : null;
  };
  prog.forEach((ins, pc) => {
    let a = aIn[pc] ?? null;
    const cls = ins.code & 0x07;
    if (cls === BPF_LD) a = (ins.code & 0xe0) === BPF_ABS ? fieldName(ins.k) : null;
    else if (cls === BPF_ALU || (cls === BPF_MISC && (ins.code & 0xf8) === BPF_TXA)) a = null;
    if (cls === BPF_JMP) {
      const ja = (ins.code & 0xf0) === BPF_JA;
      for (const to of ja ? [pc + 1 + ins.k] : [pc + 1 + ins.jt, pc + 1 + ins.jf]) {
        flow(to, a);
        targets.add(to);
      }
    } else if (cls !== BPF_RET) flow(pc + 1, a);
  });

  const label = (pc: number) => `L${pc}`;
  const lines = prog.map((ins, pc) => {
    const { code, k } = ins;
    const cls = code & 0x07;
    const src = (code & BPF_X) ? 'x' : `#${hex(k)}`;
    const a = aIn[pc] ?? null;
    let text: string;
    let note = '';
    switch (cls) {
      case BPF_LD:
      case BPF_LDX: {
        const mode = code & 0xe0;
        const name = cls === BPF_LD ? 'ld' : 'ldx';
        text = mode === BPF_ABS ? `${name} [${k}]` : mode === BPF_MEM ? `${name} M[${k}]` : mode === BPF_LEN ? `${name} #len` : `${name} #${hex(k)}`;
        if (mode === BPF_ABS) note = `A = ${fieldName(k)}`;
        break;
      }
      case BPF_ST: text = `st M[${k}]`; break;
      case BPF_STX: text = `stx M[${k}]`; break;
      case BPF_ALU: text = `${ALU_NAMES[code & 0xf0] ?? '?'} ${src}`; break;
      case BPF_MISC: text = (code & 0xf8) === BPF_TXA ? 'txa' : 'tax'; break;
      case BPF_RET:
        text = (code & 0x18) === BPF_A ? 'ret a' : `ret #${hex(k)}`;
        if ((code & 0x18) !== BPF_A) note = formatAction(k);
        break;
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === BPF_JA) {
          text = `jmp ${label(pc + 1 + k)}`;
          break;
        }
        text = `${JMP_NAMES[op] ?? '?'} ${src}, ${label(pc + 1 + ins.jt)}, ${label(pc + 1 + ins.jf)}`;
        if (!(code & BPF_X) && a === 'nr') {
          const sc = table && syscallByNr(table, k);
          note = `nr ${JMP_OPS[op]} ${k}${sc ? ` (${sc.name})` : ''}`;
        } else if (!(code & BPF_X) && a === 'arch') {
          note = `arch ${JMP_OPS[op]} ${ARCHS.find((x) => x.auditArch === k)?.name ?? hex(k)}`;
        } else if (a) note = `${a} ${JMP_OPS[op]} ${(code & BPF_X) ? 'X' : hex(k)}`;
        break;
      }
      default: text = `.word ${hex(code)}`;
    }
    const head = targets.has(pc) ? `${label(pc)}:` : '';
    const body = `${head.padEnd(7)}${text}`;
    return note ? `${body.padEnd(44)}; ${note}` : body;
  });
  return `${lines.join('\n')}\n`;
}
