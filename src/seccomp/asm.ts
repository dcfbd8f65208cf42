/**
 * A tiny classic-BPF assembler: instructions with symbolic forward labels,
 * peephole clean-up, and layout that bridges conditional jumps longer than
 * 255 instructions with trampolines (a copy of the RET, or a JA).
 */
import { BPF_JA, BPF_JMP, BPF_MAXINSNS, BPF_RET, BPF_K, jump, stmt, type SockFilter } from './bpf.js';
import { SeccompCompileError } from './errors.js';

export interface Label {
  readonly id: number;
}

type Item =
  | { op: 'stmt'; code: number; k: number }
  | { op: 'jcond'; code: number; k: number; t: Label; f: Label }
  | { op: 'ja'; target: Label }
  | { op: 'ret'; k: number }
  | { op: 'label'; label: Label };

type Ins = Exclude<Item, { op: 'label' }>;

const MAX_JUMP = 255;

export class Asm {
  private readonly items: Item[] = [];
  private nextId = 0;

  label(): Label {
    return { id: this.nextId++ };
  }
  bind(label: Label): void {
    this.items.push({ op: 'label', label });
  }
  stmt(code: number, k = 0): void {
    this.items.push({ op: 'stmt', code, k: k >>> 0 });
  }
  jcond(code: number, k: number, t: Label, f: Label): void {
    this.items.push({ op: 'jcond', code, k: k >>> 0, t, f });
  }
  ja(target: Label): void {
    this.items.push({ op: 'ja', target });
  }
  ret(k: number): void {
    this.items.push({ op: 'ret', k: k >>> 0 });
  }

  /** Resolves labels into a sock_filter program. */
  assemble(): SockFilter[] {
    const code = this.cleanup();
    const where = new Map<number, number>(); // label id → index into `code`
    const ins: Ins[] = [];
    for (const it of code) {
      if (it.op === 'label') where.set(it.label.id, ins.length);
      else ins.push(it);
    }
    const at = (l: Label) => where.get(l.id)!;

    // A far conditional target is reached through a trampoline right after the jump.
    const farT = new Uint8Array(ins.length);
    const farF = new Uint8Array(ins.length);
    let pos: number[] = [];
    for (let changed = true; changed; ) {
      changed = false;
      pos = [];
      let p = 0;
      ins.forEach((_, i) => {
        pos.push(p);
        p += 1 + farT[i]! + farF[i]!;
      });
      pos.push(p);
      if (p > BPF_MAXINSNS) break;
      ins.forEach((x, i) => {
        if (x.op !== 'jcond') return;
        const from = pos[i]! + 1;
        if (!farT[i] && pos[at(x.t)]! - from > MAX_JUMP) {
          farT[i] = 1;
          changed = true;
        }
        if (!farF[i] && pos[at(x.f)]! - from > MAX_JUMP) {
          farF[i] = 1;
          changed = true;
        }
      });
    }
    const total = pos[ins.length]!;
    if (total > BPF_MAXINSNS) {
      throw new SeccompCompileError(`program too long: ${total} instructions, the kernel accepts at most ${BPF_MAXINSNS}`);
    }

    const retAt = (target: number): number | undefined => {
      const x = ins[target]!;
      return x.op === 'ret' ? x.k : undefined;
    };
    const far = (from: number, target: number): SockFilter => {
      const k = retAt(target);
      return k !== undefined ? stmt(BPF_RET | BPF_K, k) : stmt(BPF_JMP | BPF_JA, pos[target]! - (from + 1));
    };
    const out: SockFilter[] = [];
    ins.forEach((x, i) => {
      const p = pos[i]!;
      switch (x.op) {
        case 'stmt': out.push(stmt(x.code, x.k)); break;
        case 'ret': out.push(stmt(BPF_RET | BPF_K, x.k)); break;
        case 'ja': out.push(stmt(BPF_JMP | BPF_JA, pos[at(x.target)]! - (p + 1))); break;
        case 'jcond': {
          const t = at(x.t), f = at(x.f);
          const jt = farT[i] ? 0 : pos[t]! - (p + 1);
          const jf = farF[i] ? farT[i]! : pos[f]! - (p + 1);
          out.push(jump(x.code, x.k, jt, jf));
          if (farT[i]) out.push(far(p + 1, t));
          if (farF[i]) out.push(far(p + 1 + farT[i]!, f));
          break;
        }
      }
    });
    return out;
  }

  /** Drops jumps to the next instruction and turns a JA to a RET into a copy of that RET. */
  private cleanup(): Item[] {
    const items = this.items;
    const target = new Map<number, Ins>(); // label id → first instruction after it
    for (let i = items.length - 1, next: Ins | undefined; i >= 0; i--) {
      const it = items[i]!;
      if (it.op === 'label') {
        if (next) target.set(it.label.id, next);
      } else next = it;
    }
    const out: Item[] = [];
    items.forEach((it, i) => {
      if (it.op !== 'ja') {
        out.push(it);
        return;
      }
      const dest = target.get(it.target.id);
      if (dest?.op === 'ret') {
        out.push({ op: 'ret', k: dest.k });
        return;
      }
      // Falls through anyway when only labels separate the JA from its target.
      for (let j = i + 1; j < items.length && items[j]!.op === 'label'; j++) {
        if ((items[j] as { label: Label }).label.id === it.target.id) return;
      }
      out.push(it);
    });
    return out;
  }
}
