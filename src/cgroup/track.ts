/**
 * Tracking without a pid namespace. With a pid namespace, the jail's PID 1
 * takes every process of the jail with it; with --disable_clone_newpid a
 * daemon the program leaves behind would outlive the jail, its time limit
 * included. So when no cgroup was asked for, each such jail still gets one,
 * without limits, only to hold its descendants: a v2 cgroup where a cgroup2
 * mount is writable (emptied with cgroup.kill), else one in the v1 pids
 * hierarchy (emptied by listing cgroup.procs). At the jail's exit, whatever
 * its reason (time limit, normal exit, tsjail's signal), the cgroup is
 * emptied and removed, as for the cgroups of the limits and as a pid
 * namespace would. No hierarchy at all: a warning at start says so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import type { ParentSetup } from '../proc/spawn.js';
import type { ExitInfo } from '../proc/supervisor.js';
import { kernelHost, type CgroupHost } from './files.js';
import { removeCgroup, removeStale } from './remove.js';
import { setupV1Jail, v1ParentDir, type V1Controller } from './v1.js';
import { setupV2, setupV2Jail } from './v2.js';

export interface TrackingHooks {
  readonly where: string;
  readonly parent: Required<Pick<ParentSetup, 'beforeRelease' | 'onFailure'>>;
  readonly onExit: (e: ExitInfo) => void;
  readonly dispose: () => void;
}

/** cgroup2 mount points from /proc/self/mounts, the configured one first. */
function cgroup2Mounts(host: CgroupHost, configured: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    /* no /proc: only the configured mount is tried */
  }
  const found = text.split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'cgroup2').map((f) => f[1]!.replace(/\\040/g, ' '));
  return [...new Set([configured, ...found])].filter((m) => host.isCgroup2(m));
}

interface Placement {
  /** Where the NSJAIL.<pid> cgroups go (stale ones of dead runs are removed there). */
  readonly parent: string;
  /** Create and join one jail's cgroup; `created` gets each directory first so a failure is undone. */
  readonly setup: (pid: number, created: (dir: string) => void) => void;
}

function place(p: Prepared, host: CgroupHost): Placement | { why: string } {
  // No limits, so no controller is enabled anywhere: membership only.
  const cfg = { ...p.cfg, cgroup_mem_max: 0n, cgroup_mem_memsw_max: 0n, cgroup_mem_swap_max: -1n, cgroup_pids_max: 0n, cgroup_cpu_ms_per_sec: 0 };
  const tried: string[] = [];
  for (const mount of cgroup2Mounts(host, cfg.cgroupv2_mount)) {
    try {
      const st = setupV2(host, { ...cfg, cgroupv2_mount: mount });
      return { parent: st.base, setup: (pid, created) => setupV2Jail(host, st, cfg, pid, created) };
    } catch (e) {
      tried.push(`${mount}: ${(e as Error).message}`);
    }
  }
  const pids: V1Controller = { name: 'pids', option: 'pids', mount: cfg.cgroup_pids_mount, parent: cfg.cgroup_pids_parent, writes: [] };
  if (host.fs.exists(join(pids.mount, 'cgroup.procs')) && host.fs.writable(pids.mount)) {
    return { parent: v1ParentDir(pids), setup: (pid, created) => setupV1Jail(host, [pids], pid, (dir) => created(dir)) };
  }
  tried.push(`${pids.mount}: no writable cgroup v1 pids hierarchy`);
  return { why: tried.join('; ') };
}

/** Undefined (after the warning) when there is no cgroup to track the jails in. */
export function setupTracking(p: Prepared, host: CgroupHost = kernelHost): TrackingHooks | undefined {
  const at = place(p, host);
  if ('why' in at) {
    log.warn(`--disable_clone_newpid without a cgroup: processes the program leaves running (daemons) outlive the jail and its time limit, since tsjail found no cgroup to track them in (${at.why})`);
    return undefined;
  }
  try {
    for (const dir of removeStale(host, at.parent)) log.info(`Removed stale cgroup '${dir}' (its process is gone)`);
  } catch (e) {
    log.warn(`Removing stale cgroups in '${at.parent}': ${(e as Error).message}`);
  }
  log.debug(`Tracking each jail's processes in a cgroup under '${at.parent}' (no pid namespace)`);
  const jails = new Map<number, string[]>();
  const remove = (pid: number) => {
    const dirs = jails.get(pid);
    jails.delete(pid);
    for (const dir of [...(dirs ?? [])].reverse()) {
      try {
        removeCgroup(host, dir);
      } catch (e) {
        log.warn(`Could not empty the jail's cgroup: ${(e as Error).message}`);
      }
    }
  };
  return {
    where: at.parent,
    parent: {
      beforeRelease(pid) {
        const dirs: string[] = [];
        jails.set(pid, dirs);
        at.setup(pid, (d) => dirs.push(d));
      },
      onFailure: remove,
    },
    onExit: (e) => remove(e.pid),
    dispose() {
      for (const pid of [...jails.keys()]) remove(pid);
    },
  };
}
