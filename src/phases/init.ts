/** --init: fork a reaper that stays PID 1; the program continues as PID 2. */
import { int, op, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import type { PlanContext } from './context.js';

export function planInit(p: Prepared, ctx: PlanContext): ChildOp[] {
  if (!p.cfg.init || !p.cfg.clone_newpid) return [];
  return [op('init_fork', 'init', [int(ctx.errFd)], { text: 'fork(init reaper)' })];
}
