/**
 * File descriptors: stdio first (host /dev/null is opened before the mount
 * namespace changes), and at the end everything but 0-2 and --pass_fd is
 * close-on-exec. Node marks 0-2 CLOEXEC itself, so those are cleared.
 */
import { AT_FDCWD, CLOSE_RANGE_CLOEXEC, F_SETFD, F_SETFL, O, O_FLAGS } from '../linux/consts.js';
import { buf, bytes, int, load, op, slot, str, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

export function planStdio(p: Prepared, ctx: PlanContext): ChildOp[] {
  const ops: ChildOp[] = [];
  const dup = (from: ReturnType<typeof slot> | ReturnType<typeof int>, to: number) => op('dup3', 'fds', [from, int(to), int(0)]);
  if (ctx.stdioFds) ctx.stdioFds.forEach((from, to) => ops.push(dup(int(from), to)));
  if (ctx.connFd !== undefined) {
    for (const fd of [0, 1, 2]) ops.push(dup(int(ctx.connFd), fd));
    // The accepted socket is non-blocking in tsjail; the program expects a blocking one.
    ops.push(op('fcntl', 'fds', [int(0), int(F_SETFL), int(0)], { text: 'fcntl(0, F_SETFL, 0): clear O_NONBLOCK' }));
  }
  const toNull = p.toDevNull;
  if (toNull.length) {
    const s = allocSlot(ctx);
    ops.push(op('openat', 'fds', [int(AT_FDCWD), str('/dev/null'), int(O.O_RDWR | O.O_CLOEXEC, O_FLAGS), int(0)], { save: s }));
    for (const fd of toNull) ops.push(dup(slot(s, 'fd(/dev/null)'), fd));
    ops.push(op('close', 'fds', [slot(s, 'fd(/dev/null)')]));
  }
  return ops;
}

const MSG_CMSG_CLOEXEC = 0x40000000;

/**
 * A spare jail, set up before it is needed, waits here for one byte; in listen
 * mode the byte carries the connection (SCM_RIGHTS), made fds 0, 1 and 2. A
 * parent that closes the socket instead reads as 0 bytes: the jail fails
 * before execve.
 */
export function planHandoff(ctx: PlanContext): ChildOp[] {
  if (ctx.handoffFd === undefined) return [];
  if (!ctx.handoffConn) {
    return [
      op('read', 'fds', [int(ctx.handoffFd), buf(1), int(1)], { expect: 1n, text: 'read(hand-off socket): the jail was not released' }),
      op('close', 'fds', [int(ctx.handoffFd)]),
    ];
  }
  // struct cmsghdr {u64 len; i32 level, type; int fd} = CMSG_SPACE(sizeof(int))
  const control = bytes(new Uint8Array(24), 'cmsg');
  const iov = bytes(new Struct(16).u64(8, 1n).done(), 'iov', [{ at: 0, to: buf(1) }]);
  // struct msghdr: name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48
  const msg = bytes(new Struct(56).u64(24, 1n).u64(40, 24n).done(), '{1 byte + SCM_RIGHTS}', [
    { at: 16, to: iov },
    { at: 32, to: control },
  ]);
  const conn = load(control, 16, 'fd(connection)');
  return [
    op('recvmsg', 'fds', [int(ctx.handoffFd), msg, int(MSG_CMSG_CLOEXEC)], { expect: 1n, text: 'recvmsg(hand-off socket): the connection did not arrive' }),
    ...[0, 1, 2].map((fd) => op('dup3', 'fds', [conn, int(fd), int(0)])),
    op('fcntl', 'fds', [int(0), int(F_SETFL), int(0)], { text: 'fcntl(0, F_SETFL, 0): clear O_NONBLOCK' }),
    op('close', 'fds', [conn]),
    op('close', 'fds', [int(ctx.handoffFd)]),
  ];
}

export function planCloseOnExec(p: Prepared): ChildOp[] {
  const keep = [0, 1, 2, ...p.passFds];
  return [
    op('close_range', 'fds', [int(3), int(0xffffffff), int(CLOSE_RANGE_CLOEXEC)], { text: 'close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)' }),
    // A closed fd in the list is no error (nsjail only leaves it alone).
    ...keep.map((fd) => op('fcntl', 'fds', [int(fd), int(F_SETFD), int(0)], { text: `fcntl(${fd}, F_SETFD, 0): keep open across execve`, okErrno: ['EBADF'] })),
  ];
}
