/**
 * The first ops: die with tsjail, then wait for the parent to write the id
 * maps and join the cgroups. Nothing may depend on ids before the sync.
 */
import { PR, PR_NAMES } from '../linux/consts.js';
import { buf, int, named, op, type ChildOp } from '../plan/ops.js';
import type { PlanContext } from './context.js';

export function planParentDeath(ctx: PlanContext): ChildOp[] {
  if (ctx.execveMode) return [];
  return [op('prctl', 'sync', [named(PR.PR_SET_PDEATHSIG, PR_NAMES), int(9)])];
}

export function planSync(ctx: PlanContext): ChildOp[] {
  if (ctx.syncFd === undefined) return [];
  return [
    ...(ctx.syncParentFd !== undefined ? [op('close', 'sync', [int(ctx.syncParentFd)])] : []),
    op('read', 'sync', [int(ctx.syncFd), buf(1), int(1)], { expect: 1n, text: 'read(sync pipe): the parent did not release the child' }),
    op('close', 'sync', [int(ctx.syncFd)]),
  ];
}
