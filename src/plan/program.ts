/**
 * The one function that fixes the order of the child's setup. Each step says
 * why it stands where it does.
 */
import { planCaps, planNoNewPrivs } from '../phases/caps.js';
import type { PlanContext } from '../phases/context.js';
import { planExec } from '../phases/exec.js';
import { planCloseOnExec, planHandoff, planStdio } from '../phases/fds.js';
import { planInit } from '../phases/init.js';
import { inPidNamespace, planEnterNamespaces } from '../phases/launcher.js';
import { planCpu, planOomScore, planProcess } from '../phases/misc.js';
import { planMounts } from '../phases/mnt.js';
import { planNet } from '../phases/net.js';
import { planRlimits } from '../phases/rlimits.js';
import { planParentDeath, planSync } from '../phases/sync.js';
import { planSessionKeyring, planUser } from '../phases/user.js';
import { planUts } from '../phases/uts.js';
import type { Anchor, Anchors } from '../features/types.js';
import type { Prepared } from '../prepare.js';
import type { ChildOp } from './ops.js';

/** Features add ops at the named anchors below (src/features/); the fixed steps and the anchors' places are this function's. */
export function buildChildProgram(p: Prepared, ctx: PlanContext, anchors: Anchors = {}): ChildOp[] {
  const exec = planExec(p, ctx);
  const at = (a: Anchor) => (anchors[a] ?? []).flatMap((step) => step(p, ctx));
  const init = planInit(p, ctx);
  return [
    // Die with tsjail from the first instruction: an orphaned half-built jail is a leak.
    ...planParentDeath(ctx),
    // Wait for the parent to write the id maps and cgroups: ids are meaningless before.
    ...planSync(ctx),
    // -Me: nothing cloned this process into the namespaces: the launcher enters them here, with a
    // helper that writes its id maps and, for a new pid namespace, that namespace's PID 1.
    ...planEnterNamespaces(p, ctx),
    // Lowering the OOM score may need the credentials we still hold before the uid switch.
    ...planOomScore(p, ctx),
    // --execute_fd opens the host binary before the mount namespace hides it; --init its PID 1's.
    ...exec.open,
    ...init.open,
    // Leave the host-root credentials right away; capabilities are kept for setup.
    ...planUser(p),
    // A session keyring of the jail's own, owned by its user (hence after the switch), before
    // anything the jail runs could reach the caller's keys.
    ...planSessionKeyring(),
    // Stdio before mounts: /dev/null is the host's, opened before the root changes.
    ...planStdio(p, ctx),
    // /proc is mounted here, in the new pid namespace this child is PID 1 of (-Me: the launcher
    // stays outside it, so a CLONE_FS child inside it runs this phase).
    ...inPidNamespace(p, ctx, planMounts(p, ctx)),
    ...planNet(p, ctx),
    // 'net': the jail's network namespace with loopback up; its interfaces are set up here, with privileges.
    ...at('net'),
    ...planUts(p),
    // 'root_final': the mount table is final and privileges are still held (Landlock opens its paths here).
    ...at('root_final'),
    // Capabilities last among privileged steps: everything above needed them.
    ...planNoNewPrivs(p),
    ...planCaps(p),
    ...planCpu(p),
    // A spare jail's connection arrives now: all the setup above happened before it existed.
    // Before rlimits, so RLIMIT_NOFILE cannot refuse the received descriptor.
    ...planHandoff(ctx),
    ...planRlimits(p),
    ...planProcess(p),
    // After every open above, so none of our descriptors reaches the program.
    ...planCloseOnExec(p),
    // PID 1 forks off once the jail is complete and execs tsjail-init under its own filter
    // (phases/init.ts); the filter below binds the program.
    ...init.fork,
    // 'filter': seccomp filters last, so they need not allow any setup syscall.
    ...at('filter'),
    ...exec.exec,
  ];
}
