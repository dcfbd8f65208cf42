/**
 * The one definition of the wire format between TypeScript and native/: the
 * plan blob, the child's reports and the -Me launcher's header. The encoder,
 * the report reader and the launcher input are written from these tables, and
 * `.ci/gen-wire.mjs` turns them into native/build/wire.h (constants, structs
 * and `_Static_assert`s on every size and offset), so the two sides cannot
 * drift: a change here that C does not lay out the same way fails the build.
 */

type Scalar = 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';
const SIZE: Record<Scalar, number> = { u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

export interface FieldSpec {
  readonly name: string;
  readonly type: Scalar;
  /** An array of this many elements. */
  readonly count?: number;
  readonly doc?: string;
}

export interface Field extends FieldSpec {
  readonly offset: number;
  readonly size: number;
}

export interface Layout {
  readonly name: string;
  readonly doc: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, Field>>;
  readonly order: readonly Field[];
}

/** Natural C alignment, no packing: what the compiler does, which the generated asserts confirm. */
function layout(name: string, doc: string, specs: readonly FieldSpec[]): Layout {
  let at = 0;
  let align = 1;
  const order = specs.map((f) => {
    const a = SIZE[f.type];
    align = Math.max(align, a);
    at = Math.ceil(at / a) * a;
    const field: Field = { ...f, offset: at, size: a * (f.count ?? 1) };
    at += field.size;
    return field;
  });
  const size = Math.ceil(at / align) * align;
  return { name, doc, size, order, fields: Object.fromEntries(order.map((f) => [f.name, f])) };
}

/** Numeric constants, spelled as in C (TSJ_ prefix added by the generator). */
export const WIRE = {
  ABI_VERSION: 3,
  PLAN_MAGIC: 0x504a5354, // "TSJP"
  EXEC_MAGIC: 0x454a5354, // "TSJE"
  MAX_SLOTS: 256,
  MAX_OK_ERRNO: 4,
  ARGS: 6,
  /** args[i] is a blob offset (a pointer) when flag bit ARG_PTR_SHIFT+i is set. */
  ARG_PTR_SHIFT: 0,
  /** args[i] is a slot index whose saved value is passed. */
  ARG_SLOT_SHIFT: 8,
  /** args[i] is the blob offset of an int32 to pass (a descriptor recvmsg() wrote into a control buffer). */
  ARG_LOAD_SHIFT: 24,
  /** Save the result (or -errno) in slots[save_slot]. */
  F_SAVE: 1 << 16,
  /** Before the call, write slots[patch_slot] at blob + patch_off. */
  F_PATCH: 1 << 17,
  /** The patch is 8 bytes wide (4 otherwise). */
  F_PATCH64: 1 << 18,
  /** Success only when the result equals expect. */
  F_EXPECT: 1 << 19,
  /** A failure is reported as a warning and the plan goes on. */
  F_SOFT: 1 << 20,
  /** Skip the op unless slots[cond_slot] >= 0. */
  F_COND: 1 << 21,
  /** A failure is not described on the log fd: the process it waited for described its own. */
  F_QUIET: 1 << 22,
  /** Pseudo calls (mechanisms that are not one syscall) are numbered from here. */
  PSEUDO_BASE: 0x10000,
  /** Fork. The parent (the jail's PID 1) runs the next args[0] ops, ending in its init's execve; the child skips them. Returns the child's pid in the parent, 0 in the child. */
  OP_INIT_FORK: 0x10001,
  /**
   * clone(args[0] | SIGCHLD). The child runs the next args[1] ops (a segment of the plan) and exits 0
   * after the last, or ends as the plan does when one fails; the parent skips them and gets the
   * child's pid. Slots are copied into the child: the segment's own saves stay in it. Planned only
   * for the single-threaded -Me launcher.
   */
  OP_SPAWN: 0x10002,
  /** wait4(args[0], &status, 0) until the child has ended (EINTR retried); returns its wait status (0: exited 0). */
  OP_JOIN: 0x10003,
  /**
   * Start a hand-off thread (CLONE_THREAD, sharing the fd table) on the stack args[1] (args[2] bytes): it
   * waits, without a filter of its own, for the listener args[0] (a struct tsj_handoff) receives, sends it
   * over that struct's socket with SCM_RIGHTS and exits. Returns the thread's tid.
   */
  OP_HANDOFF_THREAD: 0x10004,
  /**
   * Give the thread of args[0] the descriptor args[1] and spin, without a syscall (the filter just
   * installed sees every call), until it has sent it. Returns 0, or the thread's -errno.
   */
  OP_HANDOFF_WAIT: 0x10005,
  /** The runner reports this op index when the plan itself is malformed. */
  BAD_PLAN_INDEX: 0xffffffff,
} as const;

export const OP = layout('tsj_op', 'One raw syscall of the plan.', [
  { name: 'nr', type: 'u32', doc: 'syscall number or TSJ_OP_*' },
  { name: 'flags', type: 'u32', doc: 'TSJ_ARG_* | TSJ_F_*' },
  { name: 'args', type: 'i64', count: WIRE.ARGS },
  { name: 'expect', type: 'i64' },
  { name: 'save_slot', type: 'i16' },
  { name: 'patch_slot', type: 'i16' },
  { name: 'cond_slot', type: 'i16' },
  { name: 'reserved', type: 'u16' },
  { name: 'patch_off', type: 'u32' },
  { name: 'ok_errno', type: 'u16', count: WIRE.MAX_OK_ERRNO, doc: 'errnos that count as success (0 ends the list)' },
  { name: 'pad', type: 'u32' },
]);

export const PLAN_HDR = layout('tsj_plan_hdr', 'The head of a plan blob: ops, relocations and descriptions follow.', [
  { name: 'magic', type: 'u32' },
  { name: 'abi', type: 'u32' },
  { name: 'size', type: 'u32', doc: 'the whole blob' },
  { name: 'n_ops', type: 'u32' },
  { name: 'ops_off', type: 'u32' },
  { name: 'n_relocs', type: 'u32' },
  { name: 'relocs_off', type: 'u32', doc: 'u32 offsets of u64 words holding blob offsets' },
  { name: 'desc_off', type: 'u32', doc: '0, or u32 offsets (one per op) of NUL-terminated descriptions' },
]);

export const REPORT = layout('tsj_report', 'Written to the error pipe for a failed op; soft=1 marks a tolerated one (a warning).', [
  { name: 'op_index', type: 'u32' },
  { name: 'err', type: 'i32' },
  { name: 'ret', type: 'i64' },
  { name: 'soft', type: 'u32' },
  { name: 'pad', type: 'u32' },
]);

export const EXEC_HDR = layout('tsj_exec_hdr', 'Input of the -Me launcher: this header, then its one plan.', [
  { name: 'magic', type: 'u32' },
  { name: 'abi', type: 'u32' },
  { name: 'plan_size', type: 'u32' },
  { name: 'log_fd', type: 'i32', doc: "where failures are described (the plan's descriptions)" },
]);

export const HANDOFF = layout('tsj_handoff', 'Shared by a plan and its hand-off thread (OP_HANDOFF_*), in the plan data.', [
  { name: 'fd', type: 'i32', doc: 'the descriptor to send; written before go' },
  { name: 'go', type: 'i32', doc: 'set to 1 by the plan once fd is valid' },
  { name: 'done', type: 'i32', doc: 'set by the thread: 1 sent, or -errno' },
  { name: 'sock', type: 'i32', doc: 'the AF_UNIX socket to send it over' },
]);

export const LAYOUTS = [OP, PLAN_HDR, REPORT, EXEC_HDR, HANDOFF] as const;

/** Where args[k] of op record i starts in a plan blob. */
export const opArgOffset = (i: number, k: number): number => PLAN_HDR.size + i * OP.size + OP.fields.args!.offset + 8 * k;

const C_TYPE: Record<Scalar, string> = { u16: 'uint16_t', i16: 'int16_t', u32: 'uint32_t', i32: 'int32_t', u64: 'uint64_t', i64: 'int64_t' };

/** native/build/wire.h: the constants, the structs, and asserts that C lays them out as above. */
export function renderWireHeader(): string {
  const lines = [
    '/* Generated from src/linux/wire.ts by .ci/gen-wire.mjs at build time: edit the .ts, not this. */',
    '#ifndef TSJAIL_WIRE_H',
    '#define TSJAIL_WIRE_H',
    '#include <stddef.h>',
    '#include <stdint.h>',
    '',
  ];
  // Counts and shifts as plain ints (compared with ints in C); magics, flags and op numbers as unsigned hex.
  for (const [k, v] of Object.entries(WIRE)) lines.push(`#define TSJ_${k} ${v < 0x10000 ? String(v) : `0x${(v >>> 0).toString(16)}u`}`);
  lines.push(
    '#define TSJ_ARG_PTR(i) (1u << (TSJ_ARG_PTR_SHIFT + (i)))',
    '#define TSJ_ARG_SLOT(i) (1u << (TSJ_ARG_SLOT_SHIFT + (i)))',
    '#define TSJ_ARG_LOAD(i) (1u << (TSJ_ARG_LOAD_SHIFT + (i)))',
    '',
  );
  for (const l of LAYOUTS) {
    lines.push(`/* ${l.doc} */`, `struct ${l.name} {`);
    for (const f of l.order) lines.push(`\t${C_TYPE[f.type]} ${f.name}${f.count ? `[${f.count}]` : ''};${f.doc ? ` /* ${f.doc} */` : ''}`);
    lines.push('};', `_Static_assert(sizeof(struct ${l.name}) == ${l.size}, "struct ${l.name}: size differs from src/linux/wire.ts");`);
    for (const f of l.order) lines.push(`_Static_assert(offsetof(struct ${l.name}, ${f.name}) == ${f.offset}, "${l.name}.${f.name}: offset differs from src/linux/wire.ts");`);
    lines.push('');
  }
  lines.push('#endif', '');
  return lines.join('\n');
}
