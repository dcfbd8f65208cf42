/**
 * -Me: the plan runs in the launcher (native/exec_main.c), which keeps
 * tsjail's pid, instead of in a child cloned into the new namespaces. Where
 * such a child would begin, the launcher enters them itself:
 *
 * - a helper forked while still in the parent namespaces writes this
 *   process's setgroups/gid_map/uid_map once it has unshared (so -Me works as
 *   root with a user namespace: nsjail exits 255 there);
 * - unshare();
 * - with CLONE_NEWPID, the namespace's PID 1 is forked: it reaps the orphans
 *   of the program's children, which are created in the new namespace while
 *   the program stays outside it (as in nsjail).
 *
 * Only a member of the new pid namespace may mount its /proc, so the mount
 * phase runs in a CLONE_FS child (its chroot, pivot_root and chdir are the
 * launcher's). Children are segments of the one plan ('spawn'); slots saved
 * before a segment reach it, and the launcher's persist across it.
 */
import { AT_FDCWD, CLONE_FLAGS, O, O_FLAGS, PR, PR_NAMES } from '../linux/consts.js';
import { buf, bytes, int, load, named, nul, op, slot, str, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';
import { idMapWrites } from './user.js';

const CLONE_NEWPID = CLONE_FLAGS.find(([n]) => n === 'CLONE_NEWPID')![1];
const CLONE_FS = 0x200n;
const SIGCHLD = 17;
const SA_NOCLDWAIT = 2n;

const spawn = (flags: bigint, ops: readonly ChildOp[], text: string, save?: number) =>
  op('spawn', 'sync', [int(flags), int(ops.length)], { text, ...(save !== undefined ? { save } : {}) });
/** Waits for a spawned child; a failure there was described by the child itself. */
const join = (s: number, what: string) => op('join', 'sync', [slot(s, `pid(${what})`)], { expect: 0n, quiet: true, text: `wait4(${what})` });

/** The helper's writes of this process's id-map files. */
function idMapHelper(p: Prepared, ctx: PlanContext): ChildOp[] {
  if ([...p.uidMap, ...p.gidMap].some((m) => m.newidmap)) {
    throw new Error('-Me cannot use newuidmap/newgidmap (--uid_mapping/--gid_mapping with use_newidmap): use -Mo');
  }
  return idMapWrites(p, ctx.selfPid ?? 0).flatMap((w) => {
    const s = allocSlot(ctx);
    const fd = slot(s, `fd('${w.path}')`);
    const text = Buffer.from(w.text);
    const shown = `'${w.text.trim().replace(/\n/g, '\\n')}'`;
    return [
      op('openat', 'user', [int(AT_FDCWD), str(w.path), int(O.O_WRONLY | O.O_CLOEXEC, O_FLAGS), int(0)], { save: s }),
      op('write', 'user', [fd, bytes(text, shown), int(text.length)], { expect: BigInt(text.length), text: `write('${w.path}', ${shown})` }),
      op('close', 'user', [fd]),
    ];
  });
}

/** PID 1 of the new pid namespace: without it the namespace dies with its first process. It holds nothing open and dies with the launcher's program. */
function pidNamespaceInit(): ChildOp[] {
  const nocldwait = bytes(new Struct(32).u64(8, SA_NOCLDWAIT).done(), '{SIG_DFL, SA_NOCLDWAIT}');
  const pid1: ChildOp[] = [
    op('prctl', 'sync', [named(PR.PR_SET_PDEATHSIG, PR_NAMES), int(9)], { text: 'prctl(PR_SET_PDEATHSIG, 9) (PID 1)' }),
    op('close_range', 'sync', [int(0), int(0xffffffff), int(0)], { text: 'close_range(0, ~0U, 0) (PID 1)' }),
    // Children are reaped by the kernel, so PID 1 only has to exist.
    op('rt_sigaction', 'sync', [int(SIGCHLD), nocldwait, nul, int(8)], { text: 'rt_sigaction(SIGCHLD, {SIG_DFL, SA_NOCLDWAIT}) (PID 1)' }),
    // No handler is installed: no signal ends the wait, and the fatal ones end the process.
    op('pause', 'sync', [], { text: 'pause() (PID 1)' }),
  ];
  return [spawn(0n, pid1, 'fork(PID 1 of the new pid namespace)'), ...pid1];
}

/** Where a cloned child's life begins: -Me enters the namespaces here (see above); otherwise nothing. */
export function planEnterNamespaces(p: Prepared, ctx: PlanContext): ChildOp[] {
  if (!ctx.execveMode) return [];
  const ops: ChildOp[] = [];
  const writes = p.cloneFlags ? idMapHelper(p, ctx) : [];
  const unshare = op('unshare', 'sync', [int(p.cloneFlags, CLONE_FLAGS)]);
  if (!writes.length) {
    if (p.cloneFlags) ops.push(unshare);
  } else {
    const fds = buf(8);
    const [goR, goW] = [load(fds, 0, 'go[0]'), load(fds, 4, 'go[1]')];
    const helper: ChildOp[] = [
      op('close', 'sync', [goW]),
      // EOF instead of the byte: the launcher failed before it released the helper (and described why).
      op('read', 'sync', [goR, buf(1), int(1)], { expect: 1n, quiet: true, text: 'read(go pipe): the launcher did not release the id-map helper' }),
      ...writes,
    ];
    const h = allocSlot(ctx);
    ops.push(
      op('pipe2', 'sync', [fds, int(O.O_CLOEXEC, O_FLAGS)], { text: 'pipe2(go pipe, O_CLOEXEC)' }),
      spawn(0n, helper, 'fork(id-map helper, in the parent namespaces)', h),
      ...helper,
      op('close', 'sync', [goR]),
      unshare,
      op('write', 'sync', [goW, bytes(Buffer.from('G'), "'G'"), int(1)], { expect: 1n, text: 'write(go pipe): release the id-map helper' }),
      op('close', 'sync', [goW]),
      join(h, 'id-map helper'),
    );
  }
  if (p.cloneFlags & CLONE_NEWPID) ops.push(...pidNamespaceInit());
  return ops;
}

/** The mount phase: with -Me and a new pid namespace, in a CLONE_FS child that is a member of it. */
export function inPidNamespace(p: Prepared, ctx: PlanContext, ops: ChildOp[]): ChildOp[] {
  if (!ctx.execveMode || !(p.cloneFlags & CLONE_NEWPID) || !ops.length) return ops;
  const s = allocSlot(ctx);
  return [spawn(CLONE_FS, ops, 'clone(CLONE_FS): the mount phase, in the new pid namespace', s), ...ops, join(s, 'mount phase')];
}
