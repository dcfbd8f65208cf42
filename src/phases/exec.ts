/**
 * The program: --execute_fd opens the host binary before the mount namespace
 * changes and runs it with execveat(fd, "", AT_EMPTY_PATH); otherwise execve
 * of the path as seen inside the jail (no PATH search, as nsjail).
 */
import { AT_EMPTY_PATH, AT_FDCWD, O, O_FLAGS } from '../linux/consts.js';
import { int, op, slot, str, strv, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

export interface ExecPlan {
  open: ChildOp[];
  exec: ChildOp[];
}

export function planExec(p: Prepared, ctx: PlanContext): ExecPlan {
  const { path, argv, env } = p.exec;
  if (!p.exec.execFd) {
    return { open: [], exec: [op('execve', 'exec', [str(path), strv(argv), strv(env)], { hints: { ENOENT: 'no PATH search is done: give the full path as seen inside the jail' } })] };
  }
  const s = allocSlot(ctx);
  return {
    open: [op('openat', 'exec', [int(AT_FDCWD), str(path), int(O.O_PATH | O.O_CLOEXEC, O_FLAGS), int(0)], { save: s, text: `open('${path}', O_PATH) for --execute_fd` })],
    exec: [op('execveat', 'exec', [slot(s, `fd('${path}')`), str(''), strv(argv), strv(env), int(AT_EMPTY_PATH)], { text: `execveat(fd('${path}'), AT_EMPTY_PATH)` })],
  };
}
