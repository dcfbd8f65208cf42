/**
 * Cgroups around each jail, parent side: pick v1 or v2, remove what dead
 * runs left, then per jail create, limit and join its cgroup before the child
 * passes its sync point; at exit read the accounting, then empty and remove
 * the cgroup. Every exit path ends in remove(): the jail's exit (normal, time
 * limit, tsjail's SIGINT/SIGTERM), a failed launch (onFailure) and the end of
 * the run (dispose) for anything a thrown launch left.
 */
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import type { ParentSetup } from '../proc/spawn.js';
import type { ExitInfo } from '../proc/supervisor.js';
import type { ConfigState } from '../spec.js';
import { recordAccounting, type CgroupUsage } from './accounting.js';
import { kernelHost, type CgroupHost } from './files.js';
import { removeCgroup, removeStale } from './remove.js';
import { checkV1Mounts, readV1Usage, setupV1Jail, v1Controllers, v1ParentDir } from './v1.js';
import { disposeV2, isPureV2, readV2Usage, setupV2, setupV2Jail, v2Writes } from './v2.js';

export type CgroupVersion = 1 | 2;

/**
 * nsjail's choice, plus auto-detection (user request #3): --use_cgroupv2
 * forces v2; --detect_cgroupv2 takes v2 when statfs(cgroupv2_mount) says
 * cgroup2; without either, a host running v2 only gets v2 too.
 */
export function chooseVersion(cfg: ConfigState, host: Pick<CgroupHost, 'isCgroup2' | 'selfCgroupFile'>): { version: CgroupVersion; detected: boolean } {
  if (cfg.use_cgroupv2) return { version: 2, detected: false };
  const v2 = host.isCgroup2(cfg.cgroupv2_mount);
  if (cfg.detect_cgroupv2) return { version: v2 ? 2 : 1, detected: true };
  if (v2 && isPureV2(host.selfCgroupFile())) return { version: 2, detected: true };
  return { version: 1, detected: false };
}

interface JailCgroup {
  /** Every directory created for the jail, in creation order. */
  readonly dirs: string[];
  memory?: string;
  cpu?: string;
  v2?: string;
}

export interface CgroupHooks {
  readonly version: CgroupVersion;
  readonly parent: Required<Pick<ParentSetup, 'beforeRelease' | 'onFailure' | 'privateMemory'>>;
  readonly onExit: (e: ExitInfo) => void;
  readonly dispose: () => void;
}

function removeStaleLogged(host: CgroupHost, parent: string): void {
  try {
    for (const dir of removeStale(host, parent)) log.info(`Removed stale cgroup '${dir}' (its process is gone)`);
  } catch (e) {
    log.warn(`Removing stale cgroups in '${parent}': ${(e as Error).message}`);
  }
}

/** Once per run, before any clone; throws (a 255 exit) when the cgroups cannot be set up. */
export function setupCgroupsFromParent(p: Prepared, host: CgroupHost = kernelHost): CgroupHooks {
  const { cfg } = p;
  const { version, detected } = chooseVersion(cfg, host);
  if (detected) log.info(`Detected cgroups version: ${version}`);
  const v2 = version === 2 ? setupV2(host, cfg) : undefined;
  const v1 = version === 1 ? v1Controllers(cfg) : [];
  if (v2) {
    if (cfg.cgroup_net_cls_classid > 0) log.warn('net_cls is a cgroup v1 controller: --cgroup_net_cls_classid is ignored on cgroup v2');
    removeStaleLogged(host, v2.base);
  }
  checkV1Mounts(host, v1);
  for (const c of v1) removeStaleLogged(host, v1ParentDir(c));
  // An explicit --use_cgroupv2 gets a cgroup even without limits: cgroup.kill and CPU accounting.
  const v2Jail = v2 !== undefined && (v2Writes(cfg).length > 0 || cfg.use_cgroupv2);
  const memoryLimit = v2 ? v2Writes(cfg).some(([c]) => c === 'memory') : v1.some((c) => c.name === 'memory');

  const jails = new Map<number, JailCgroup>();
  /** Parent cgroups tsjail had to create, in creation order: removed at the end if nothing else lives there. */
  const madeParents: string[] = [];
  const removeMadeParents = () => {
    for (const dir of madeParents.splice(0).reverse()) {
      try {
        if (host.fs.children(dir).length) continue; // another tsjail's jails are in it
        host.fs.rmdir(dir);
        log.debug(`Removed parent cgroup '${dir}' (created by this run)`);
      } catch (e) {
        log.debug(`Parent cgroup '${dir}' stays: ${(e as Error).message}`);
      }
    }
  };
  const remove = (pid: number) => {
    const j = jails.get(pid);
    if (!j) return;
    jails.delete(pid);
    for (const dir of [...j.dirs].reverse()) {
      try {
        removeCgroup(host, dir);
        log.debug(`Removed cgroup '${dir}'`);
      } catch (e) {
        log.warn(`Could not remove cgroup: ${(e as Error).message}`);
      }
    }
  };
  const usage = (j: JailCgroup): CgroupUsage | undefined => {
    try {
      return j.v2 ? readV2Usage(host, j.v2) : readV1Usage(host, j);
    } catch (e) {
      log.warn(`Reading the jail's cgroup usage: ${(e as Error).message}`);
      return undefined;
    }
  };

  return {
    version,
    parent: {
      beforeRelease(pid) {
        const j: JailCgroup = { dirs: [] };
        jails.set(pid, j);
        if (v2) {
          if (v2Jail) j.v2 = setupV2Jail(host, v2, cfg, pid, (d) => j.dirs.push(d));
          return;
        }
        setupV1Jail(
          host,
          v1,
          pid,
          (dir, name) => {
            j.dirs.push(dir);
            if (name === 'memory' || name === 'cpu') j[name] = dir;
          },
          (dir) => madeParents.push(dir),
        );
      },
      onFailure: remove,
      privateMemory: memoryLimit,
    },
    onExit(e) {
      const j = jails.get(e.pid);
      // Before the removal: the figures go with the directory.
      recordAccounting(e, j && usage(j));
      remove(e.pid);
    },
    dispose() {
      for (const pid of [...jails.keys()]) remove(pid);
      removeMadeParents();
      if (v2) disposeV2(host, v2);
    },
  };
}
