/**
 * Install the filters prepared by the seccomp feature: seccomp(SECCOMP_SET_MODE_FILTER),
 * with SECCOMP_FILTER_FLAG_LOG for --seccomp_log. A --seccomp_bpf_file filter
 * goes first and the compiled one last: the kernel runs the newest filter
 * first and the most restrictive answer wins, so on calls both refuse,
 * tsjail's own errno is the one the program sees.
 *
 * With a supervisor (src/notify/), the compiled filter is installed with a
 * listener (SECCOMP_FILTER_FLAG_NEW_LISTENER) that tsjail answers. The
 * listener must reach tsjail, but every call the jail makes after the install
 * passes the filter, and one the filter notifies would wait for a listener
 * nobody holds yet. So a thread started before any filter (it has none of its
 * own and shares the descriptor table) sends the listener over the notify
 * socket, while the plan waits for it without a syscall (OP_HANDOFF_*).
 */
import { SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_FILTER_FLAGS, SECCOMP_SET_MODE_FILTER, flagsToStr } from '../linux/consts.js';
import { HANDOFF } from '../linux/wire.js';
import { buf, bytes, int, op, slot, Struct, type ChildOp } from '../plan/ops.js';
import { allocSlot, type PlanContext } from './context.js';

export interface SeccompFilters {
  /** Compiled from policies, lists and presets. */
  readonly compiled?: Uint8Array;
  /** Read from --seccomp_bpf_file and checked. */
  readonly file?: Uint8Array;
  readonly fileName?: string;
  /** The compiled filter goes in with a listener, sent over this socket (the child's end, inherited). */
  readonly notifySock?: number;
}

/** The hand-off thread's stack, in the plan data. */
const HANDOFF_STACK = 8192;

function install(filter: Uint8Array, flags: number, what: string, save?: number): ChildOp {
  const len = filter.length / 8;
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = new Struct(16).u16(0, len).done();
  const prog = bytes(fprog, `{len=${len}}`, [{ at: 8, to: bytes(filter, 'filter') }]);
  const flagText = flags ? `, ${flagsToStr(flags, SECCOMP_FILTER_FLAGS)}` : '';
  return op('seccomp', 'seccomp', [int(SECCOMP_SET_MODE_FILTER), int(flags), prog], { save, text: `seccomp(SECCOMP_SET_MODE_FILTER${flagText}, ${len} instructions${what})` });
}

export function planSeccomp(f: SeccompFilters, logFlag: boolean, ctx: PlanContext): ChildOp[] {
  const flags = logFlag ? SECCOMP_FILTER_FLAG_LOG : 0;
  const file = f.file ? [install(f.file, flags, ` from ${f.fileName}`)] : [];
  if (!f.compiled) return file;
  if (f.notifySock === undefined) return [...file, install(f.compiled, flags, '')];
  const s = allocSlot(ctx);
  const h = bytes(new Struct(HANDOFF.size).i32(HANDOFF.fields.sock!.offset, f.notifySock).done(), 'hand-off');
  return [
    // Before any filter, so that none applies to the thread.
    op('handoff_thread', 'seccomp', [h, buf(HANDOFF_STACK), int(HANDOFF_STACK)], { text: 'clone3(CLONE_THREAD|CLONE_FILES): the thread that sends the seccomp listener to tsjail' }),
    ...file,
    install(f.compiled, flags | SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, '', s),
    op('handoff_wait', 'seccomp', [h, slot(s, 'listener')], { text: `sendmsg(${f.notifySock}, SCM_RIGHTS listener) from the hand-off thread` }),
  ];
}
