/**
 * The feature table. Order matters where features meet: at an anchor their ops
 * run in this order, and so do their exit hooks (accounting reads the cgroup's
 * figures before the cgroup is removed, and the status channel reads them
 * after). Each module is imported only when a spec asks for it.
 */
import type { Feature } from './types.js';
import { wantsCgroups, wantsLandlock, wantsSeccomp, wantsStatus } from './predicates.js';
import { NET_FEATURES } from './net.js';

export const FEATURES: readonly Feature[] = [
  {
    name: 'cgroups',
    applies: (s) => wantsCgroups(s.cfg),
    async prepare(p) {
      const cg = (await import('../cgroup/index.js')).setupCgroupsFromParent(p);
      return { beforeRelease: cg.parent.beforeRelease, undoRelease: cg.parent.onFailure, privateMemory: cg.parent.privateMemory, onExit: cg.onExit, dispose: cg.dispose };
    },
  },
  {
    // Without a cgroup the figures come from wait4's rusage.
    name: 'accounting',
    applies: (s) => !wantsCgroups(s.cfg),
    async prepare() {
      return { onExit: (await import('../cgroup/accounting.js')).accountingHook() };
    },
  },
  {
    // Without a pid namespace nothing else ends what the program leaves running: a limit-free cgroup holds it (cgroup/track.ts).
    name: 'tracking',
    applies: (s) => !wantsCgroups(s.cfg) && !s.cfg.clone_newpid && s.cfg.mode !== 'STANDALONE_EXECVE',
    async prepare(p) {
      const t = (await import('../cgroup/track.js')).setupTracking(p);
      return t ? { beforeRelease: t.parent.beforeRelease, undoRelease: t.parent.onFailure, onExit: t.onExit, dispose: t.dispose } : {};
    },
  },
  {
    // After the cgroup hooks (left-over writers of the pipes are killed there), before the status channel (it reads the verdict).
    name: 'output_limit',
    applies: (s) => s.cfg.ext.output_limit > 0n,
    async prepare(p) {
      return (await import('./output.js')).outputLimit(p);
    },
  },
  {
    name: 'status',
    applies: (s) => wantsStatus(s.cfg),
    async prepare(p) {
      const { StatusChannel, cpuLimitMs } = await import('../status.js');
      const status = new StatusChannel(p.cfg.ext, cpuLimitMs(p.rlimits));
      return {
        onStart: (pid, remote) => status.start(pid, remote),
        onSetupFailed: (error, pid, remote) => status.setupFailed(error, pid, remote),
        onExit: (e) => status.exit(e),
        onEvent: (e) => status.write(e),
        dispose: () => status.close(),
      };
    },
  },
  {
    // Listen mode's proof-of-work gate: a connection gets its jail once the client has answered a challenge.
    name: 'pow',
    applies: (s) => s.cfg.ext.pow > 0,
    async prepare(p) {
      return (await import('./pow-gate.js')).powGate(p);
    },
  },
  ...NET_FEATURES,
  {
    // Before seccomp: it reads the program and hands the calls to notify to the seccomp feature's supervisor.
    name: 'go_modules',
    applies: (s) => s.cfg.ext.go_mod !== undefined,
    async prepare(p, ctx) {
      return (await import('./gomod.js')).prepareGoModules(p, ctx);
    },
  },
  {
    // The filters, the notification supervisor that names violations and traces calls, and the kernel's audit record as a fallback.
    name: 'seccomp',
    applies: (s) => wantsSeccomp(s.cfg),
    async prepare(p, ctx) {
      return (await import('./seccomp.js')).prepareSeccomp(p, ctx);
    },
  },
  {
    name: 'landlock',
    applies: (s) => wantsLandlock(s.cfg),
    async prepare(p) {
      const step = (await import('../landlock/index.js')).landlockStep(p);
      return step ? { ops: { root_final: step } } : {};
    },
  },
  {
    // Last: its exit hook counts the reason the hooks above settled (the output cap's included).
    name: 'metrics',
    applies: (s) => s.cfg.ext.metrics_addr !== undefined,
    async prepare(p) {
      return (await import('./metrics.js')).startMetrics(p);
    },
  },
];
