/**
 * The filter tsjail installs when it answers notifications itself (src/notify/):
 * the policy's model with every answer that refuses or notifies (KILL_THREAD,
 * KILL_PROCESS, TRAP, ERRNO, USER_NOTIF) turned into USER_NOTIF, and the
 * traced calls notified whatever the policy says. On each notification tsjail
 * runs the original filter on the call's registers (seccomp_data, which the
 * program cannot change once the call is made) and applies that answer, after
 * naming the call. The kernel's precedence would not allow the other way round:
 * a KILL or TRAP in one filter always beats a USER_NOTIF in another, so a
 * second, notifying filter would never see the calls the policy refuses.
 */
import { action, type Action } from './actions.js';
import {
  BPF_JA, BPF_JMP, BPF_K, BPF_MAXINSNS, BPF_RET, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF, stmt, type SockFilter,
} from './bpf.js';
import type { Model, Rule } from './model.js';

const NOTIFIED = new Set([SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF]);

/** Whether tsjail gets this answer as a notification under the notify filter. */
export function notifies(a: Action): boolean {
  return NOTIFIED.has((a & SECCOMP_RET_ACTION_FULL) >>> 0);
}

/** Every call notified, of any arch (tsjail learn counts them all). */
export function everyCallModel(auditArch: number): Model {
  const notif = action('USER_NOTIF');
  return { auditArch, rules: [], defaultAction: notif, x32Action: notif, archAction: notif };
}

/**
 * The notify filter's model. `base` is the policy (absent: allow everything,
 * other arches and x32 numbers too, as without a filter); `traced` are numbers
 * notified unconditionally (--seccomp_unotify, learn).
 */
export function notifyModel(base: Model | undefined, traced: readonly number[], auditArch: number, extra: NotifyExtra = {}): Model {
  const notif = action('USER_NOTIF');
  // With `others`, what the policy lets through of other arches and x32 numbers is notified too.
  const map = (a: Action): Action => (notifies(a) ? notif : a);
  const other = (a: Action): Action => (extra.others && (a & SECCOMP_RET_ACTION_FULL) >>> 0 === SECCOMP_RET_ALLOW ? notif : map(a));
  const allow = action('ALLOW');
  const first: Rule[] = [...[...new Set(traced)].map((nr) => ({ nr, action: notif })), ...(extra.rules ?? [])];
  if (!base) return { auditArch, rules: first, defaultAction: allow, x32Action: other(allow), archAction: other(allow) };
  return {
    auditArch: base.auditArch,
    rules: [...first, ...base.rules.map((r) => ({ ...r, action: map(r.action) }))],
    defaultAction: map(base.defaultAction),
    x32Action: other(base.x32Action),
    archAction: other(base.archAction ?? SECCOMP_RET_KILL_THREAD),
  };
}

/**
 * The notify filter of a compiled policy, without compiling it again: the same
 * program with every `ret` whose answer notifies turned into USER_NOTIF, which
 * is what notifyModel(model, []) compiles to (the jumps are unchanged). A
 * program with another form of `ret` (none of tsjail's compiler) gets undefined.
 */
export function notifyProgram(program: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(program);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let at = 0; at + 8 <= out.length; at += 8) {
    const code = v.getUint16(at, true);
    if ((code & 0x07) !== BPF_RET) continue;
    if (code !== (BPF_RET | BPF_K)) return undefined;
    if (notifies(v.getUint32(at + 4, true))) v.setUint32(at + 4, SECCOMP_RET_USER_NOTIF, true);
  }
  return out;
}

/**
 * Calls notified for another decision on top of the policy (Go module
 * confinement): rules put first, each USER_NOTIF only (the worker still runs
 * the policy first, so they cannot loosen it), and whether other arches and
 * x32 numbers the policy allows are notified too.
 */
export interface NotifyExtra {
  readonly rules?: readonly Rule[];
  readonly others?: boolean;
}

/**
 * A --seccomp_bpf_file program made the head of the notify filter, so that
 * its refusals are named too: every answer of the file's but ALLOW becomes
 * USER_NOTIF (tsjail then runs the file's own program on the call and applies
 * the kernel's precedence between its answer and the policy's, `stronger`),
 * and ALLOW jumps on to `rest`, the notify filter of the policy, instead of
 * returning. RET A, whose answer is known only when it runs, is notified as
 * well. Each instruction keeps its place, so no jump of the file's moves.
 * Undefined when both together exceed BPF_MAXINSNS: the file then goes in as
 * it is, its refusals left to the kernel.
 */
export function withBpfFile(file: readonly SockFilter[], rest: readonly SockFilter[]): SockFilter[] | undefined {
  if (file.length + rest.length > BPF_MAXINSNS) return undefined;
  const head = file.map((ins, i) => {
    if ((ins.code & 0x07) !== BPF_RET) return ins;
    const allow = (ins.code & 0x18) === BPF_K && (ins.k & SECCOMP_RET_ACTION_FULL) >>> 0 === SECCOMP_RET_ALLOW;
    return allow ? stmt(BPF_JMP | BPF_JA, file.length - i - 1) : stmt(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
  });
  return [...head, ...rest];
}

/** The kernel's choice between the answers of two stacked filters: the lower action (as a signed 32-bit value) wins, the newer filter's on a tie. */
export function stronger(newer: number, older: number): number {
  return (older & SECCOMP_RET_ACTION_FULL) >> 0 < (newer & SECCOMP_RET_ACTION_FULL) >> 0 ? older : newer;
}
