/**
 * Emptying and removing a cgroup, shared by v1 and v2: cgroup.kill where the
 * kernel has it (v2, Linux 5.14+), otherwise SIGKILL to every pid listed in
 * cgroup.procs until it reads empty; then rmdir, children first. Bounded: a
 * cgroup that will not empty is reported, never waited on forever.
 */
import { join } from 'node:path';
import { CgroupError, parsePids, type CgroupHost } from './files.js';

export const REMOVE_TIMEOUT_MS = 3000;
const POLL_MS = 10;

/** SIGKILL everything in dir (and below) and rmdir it. Missing dirs are fine; throws CgroupError when it stays. */
export function removeCgroup(host: CgroupHost, dir: string, deadline = Date.now() + REMOVE_TIMEOUT_MS): void {
  const { fs } = host;
  if (!fs.exists(dir)) return;
  for (const c of fs.children(dir)) removeCgroup(host, join(dir, c), deadline);
  const killFile = join(dir, 'cgroup.kill');
  let useKillFile = fs.exists(killFile);
  for (;;) {
    let pids: number[];
    try {
      pids = parsePids(fs.read(join(dir, 'cgroup.procs')));
    } catch (e) {
      if (!fs.exists(dir)) return; // removed by someone else meanwhile
      throw e;
    }
    if (!pids.length) break;
    if (pids.includes(host.pid)) throw new CgroupError(`cgroup '${dir}' holds tsjail itself (pid ${host.pid}): not killing it`);
    if (Date.now() > deadline) throw new CgroupError(`cgroup '${dir}' still holds pids ${pids.join(', ')} after SIGKILL`);
    // Every round: a fork racing the previous kill lands a new pid.
    if (useKillFile) {
      try {
        fs.write(killFile, '1');
      } catch {
        useKillFile = false;
      }
    }
    if (!useKillFile) pids.forEach((p) => host.kill(p));
    host.sleep(POLL_MS);
  }
  for (;;) {
    try {
      fs.rmdir(dir);
      return;
    } catch (e) {
      const code = (e as CgroupError).code;
      if (code === 'ENOENT') return;
      // EBUSY right after the last task left: the kernel finishes the css offline asynchronously.
      if (code !== 'EBUSY' || Date.now() > deadline) throw e;
      host.sleep(POLL_MS);
    }
  }
}

/** `NSJAIL.<pid>` (a jail) or `NSJAIL_SELF.<pid>` (tsjail itself, v2). */
const OWNED = /^NSJAIL(?:_SELF)?\.(\d+)$/;

export function ownedPid(name: string): number | undefined {
  const m = OWNED.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Remove the cgroups a previous tsjail (or nsjail) left in parent: those whose
 * pid is dead. A live pid may be another running jail: left alone.
 */
export function removeStale(host: CgroupHost, parent: string): string[] {
  if (!host.fs.exists(parent)) return [];
  const removed: string[] = [];
  for (const name of host.fs.children(parent)) {
    const pid = ownedPid(name);
    if (pid === undefined || pid === host.pid || host.alive(pid)) continue;
    removeCgroup(host, join(parent, name));
    removed.push(join(parent, name));
  }
  return removed;
}
