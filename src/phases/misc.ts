/** Process knobs: CPU affinity, core scheduling, TSC, personality, nice, setsid, OOM score. */
import {
  AT_FDCWD,
  O,
  O_FLAGS,
  PIDTYPE_TGID,
  PR,
  PR_NAMES,
  PR_SCHED_CORE_CREATE,
  PR_TSC_SIGSEGV,
  PRIO_PROCESS,
} from '../linux/consts.js';
import { bytes, int, named, op, slot, str, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

const PRIO_NAMES = [['PRIO_PROCESS', BigInt(PRIO_PROCESS)]] as const;
import { allocSlot, type PlanContext } from './context.js';

export function planOomScore(p: Prepared, ctx: PlanContext): ChildOp[] {
  if (p.oomScoreAdj === undefined) return [];
  const s = allocSlot(ctx);
  const v = Buffer.from(String(p.oomScoreAdj));
  return [
    op('openat', 'misc', [int(AT_FDCWD), str('/proc/self/oom_score_adj'), int(O.O_WRONLY | O.O_CLOEXEC, O_FLAGS), int(0)], { save: s }),
    op('write', 'misc', [slot(s, 'fd'), bytes(v, `'${v}'`), int(v.length)], {
      expect: BigInt(v.length),
      text: `write('/proc/self/oom_score_adj', '${v}')`,
      hints: { EACCES: 'lowering oom_score_adj below its current value needs CAP_SYS_RESOURCE in the initial user namespace' },
    }),
    op('close', 'misc', [slot(s, 'fd')]),
  ];
}

export function planCpu(p: Prepared): ChildOp[] {
  const ops: ChildOp[] = [];
  if (p.cpuMask) {
    ops.push(op('sched_setaffinity', 'cpu', [int(0), int(p.cpuMask.length), bytes(p.cpuMask, `${p.maxCpus} CPU(s)`)]));
  }
  if (p.coreScheduling) {
    ops.push(
      op('prctl', 'cpu', [named(PR.PR_SCHED_CORE, PR_NAMES), int(PR_SCHED_CORE_CREATE), int(0), int(PIDTYPE_TGID), int(0)], {
        text: 'prctl(PR_SCHED_CORE, PR_SCHED_CORE_CREATE, 0, PIDTYPE_TGID)',
        hints: { EINVAL: 'this kernel has no core scheduling (CONFIG_SCHED_CORE, Linux >= 5.14)', ENODEV: 'core scheduling needs SMT (hyper-threading) enabled' },
      }),
    );
  }
  // rdtsc then raises SIGSEGV; glibc's ld.so reads the TSC at start-up, so only static programs survive it.
  if (p.disableTsc) ops.push(op('prctl', 'cpu', [named(PR.PR_SET_TSC, PR_NAMES), int(PR_TSC_SIGSEGV)], { text: 'prctl(PR_SET_TSC, PR_TSC_SIGSEGV)' }));
  return ops;
}

export function planProcess(p: Prepared): ChildOp[] {
  const ops: ChildOp[] = [];
  if (p.persona) ops.push(op('personality', 'misc', [int(p.persona)], { text: `personality(0x${p.persona.toString(16)})` }));
  // As nsjail: a nice level the jail may not take (below 0 without CAP_SYS_NICE) is a warning.
  ops.push(
    op('setpriority', 'misc', [named(PRIO_PROCESS, PRIO_NAMES), int(0), int(p.niceLevel)], {
      soft: true,
      hints: { EACCES: 'a nice level below 0 needs CAP_SYS_NICE in the initial user namespace' },
    }),
  );
  // No controlling terminal: a jailed program must not be able to inject input with TIOCSTI.
  if (p.setsid) ops.push(op('setsid', 'misc', []));
  return ops;
}
