/**
 * File descriptors: stdio first (host /dev/null is opened before the mount
 * namespace changes), and at the end everything but 0-2 and --pass_fd is
 * close-on-exec. Node marks 0-2 CLOEXEC itself, so those are cleared.
 */
import { AT_FDCWD, CLOSE_RANGE_CLOEXEC, F_SETFD, F_SETFL, O, O_FLAGS } from '../linux/consts.js';
import { int, op, slot, str, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

export function planStdio(p: Prepared, ctx: PlanContext): ChildOp[] {
  const ops: ChildOp[] = [];
  const dup = (from: ReturnType<typeof slot> | ReturnType<typeof int>, to: number) => op('dup3', 'fds', [from, int(to), int(0)]);
  if (ctx.connFd !== undefined) {
    for (const fd of [0, 1, 2]) ops.push(dup(int(ctx.connFd), fd));
    // The accepted socket is non-blocking in tsjail; the program expects a blocking one.
    ops.push(op('fcntl', 'fds', [int(0), int(F_SETFL), int(0)], { text: 'fcntl(0, F_SETFL, 0): clear O_NONBLOCK' }));
  }
  const toNull = p.cfg.silent ? [0, 1, 2] : p.cfg.stderr_to_null ? [2] : [];
  if (toNull.length) {
    const s = allocSlot(ctx);
    ops.push(op('openat', 'fds', [int(AT_FDCWD), str('/dev/null'), int(O.O_RDWR | O.O_CLOEXEC, O_FLAGS), int(0)], { save: s }));
    for (const fd of toNull) ops.push(dup(slot(s, 'fd(/dev/null)'), fd));
    ops.push(op('close', 'fds', [slot(s, 'fd(/dev/null)')]));
  }
  return ops;
}

export function planCloseOnExec(p: Prepared): ChildOp[] {
  const keep = [0, 1, 2, ...p.passFds];
  return [
    op('close_range', 'fds', [int(3), int(0xffffffff), int(CLOSE_RANGE_CLOEXEC)], { text: 'close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)' }),
    // A closed fd in the list is no error (nsjail only leaves it alone).
    ...keep.map((fd) => op('fcntl', 'fds', [int(fd), int(F_SETFD), int(0)], { text: `fcntl(${fd}, F_SETFD, 0): keep open across execve`, okErrno: ['EBADF'] })),
  ];
}
