/**
 * cgroup v2: one tree. The jails live in `<base>/NSJAIL.<pid>` where base is
 * the mount root when tsjail may write there, and tsjail's own cgroup (from
 * /proc/self/cgroup) when it may not (a delegated subtree: nsjail issue #196).
 * The controllers the limits need are enabled in base's subtree_control; when
 * the no-internal-process rule refuses that (EBUSY) and tsjail itself sits in
 * base, it first moves into the leaf `NSJAIL_SELF.<pid>`, as nsjail does.
 * Write order as nsjail: cgroup.procs, memory.max, memory.swap.max, pids.max, cpu.max.
 */
import { join } from 'node:path';
import { log } from '../log/logger.js';
import type { ConfigState } from '../spec.js';
import type { CgroupUsage } from './accounting.js';
import { CgroupError, parseKeyed, parsePids, type CgroupHost } from './files.js';

export type V2Controller = 'memory' | 'pids' | 'cpu';

/** The swap limit nsjail derives: memsw − mem when memsw is set, else the swap option (−1 = none). */
export function v2SwapMax(cfg: ConfigState): bigint {
  return cfg.cgroup_mem_memsw_max > 0n ? cfg.cgroup_mem_memsw_max - cfg.cgroup_mem_max : cfg.cgroup_mem_swap_max;
}

/** [controller, file, value] in nsjail's write order; pure. */
export function v2Writes(cfg: ConfigState): Array<readonly [V2Controller, string, string]> {
  const swap = v2SwapMax(cfg);
  const w: Array<readonly [V2Controller, string, string]> = [];
  if (cfg.cgroup_mem_max > 0n) w.push(['memory', 'memory.max', String(cfg.cgroup_mem_max)]);
  if (swap >= 0n) w.push(['memory', 'memory.swap.max', String(swap)]);
  if (cfg.cgroup_pids_max > 0n) w.push(['pids', 'pids.max', String(cfg.cgroup_pids_max)]);
  if (cfg.cgroup_cpu_ms_per_sec > 0) w.push(['cpu', 'cpu.max', `${cfg.cgroup_cpu_ms_per_sec * 1000} 1000000`]);
  return w;
}

export function v2Controllers(cfg: ConfigState): V2Controller[] {
  return [...new Set(v2Writes(cfg).map(([c]) => c))];
}

/** tsjail's cgroup v2 path ('/…') from /proc/self/cgroup (the `0::` line). */
export function ownV2Path(selfCgroup: string): string | undefined {
  const line = selfCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line?.slice(3).replace(/ \(deleted\)$/, '');
}

/** A host that runs cgroup v2 only: /proc/self/cgroup has nothing but the `0::` line. */
export function isPureV2(selfCgroup: string): boolean {
  const lines = selfCgroup.split('\n').filter(Boolean);
  return lines.length > 0 && lines.every((l) => l.startsWith('0::'));
}

export interface V2State {
  readonly mount: string;
  /** Where the NSJAIL.<pid> cgroups go. */
  readonly base: string;
  /** tsjail's own cgroup directory when it started. */
  readonly own?: string;
  /** Set when tsjail moved itself into NSJAIL_SELF.<pid>. */
  selfLeaf?: string;
  /** Controllers tsjail enabled in base's subtree_control. */
  readonly enabled: V2Controller[];
}

const words = (s: string) => s.split(/\s+/).filter(Boolean);
/** '/a/b/' → '/a/b', so base and own compare equal; '/' stays. */
const trimSlash = (p: string) => p.replace(/(.)\/+$/, '$1');

function moveSelfIntoLeaf(host: CgroupHost, st: V2State): void {
  const leaf = join(st.base, `NSJAIL_SELF.${host.pid}`);
  log.info(`tsjail is moving itself to a new child cgroup: ${leaf}`);
  host.fs.mkdir(leaf);
  st.selfLeaf = leaf;
  // 0 = the writer: every thread of tsjail moves.
  host.fs.write(join(leaf, 'cgroup.procs'), '0');
}

function enableController(host: CgroupHost, st: V2State, c: V2Controller): void {
  const file = join(st.base, 'cgroup.subtree_control');
  log.debug(`Enable cgroup.subtree_control +'${c}' to '${st.base}' for pid=${host.pid}`);
  const tryEnable = (): CgroupError | undefined => {
    try {
      host.fs.write(file, `+${c}`);
      return undefined;
    } catch (e) {
      return e as CgroupError;
    }
  };
  let err = tryEnable();
  // EBUSY: base holds processes, which a cgroup giving its children domain controllers may not.
  if (err?.code === 'EBUSY' && !st.selfLeaf && st.own === st.base) {
    moveSelfIntoLeaf(host, st);
    err = tryEnable();
    if (err) disposeV2(host, st);
  }
  if (err) {
    let others = '';
    if (err.code === 'EBUSY') {
      const pids = parsePids(host.fs.read(join(st.base, 'cgroup.procs'))).filter((p) => p !== host.pid);
      others = ` (processes in '${st.base}': ${pids.join(', ') || 'none'})`;
    }
    throw new CgroupError(
      `${err.message}${others}: cannot enable the '${c}' controller for the jails; tsjail needs a cgroup v2 subtree it may write ` +
        '(run as root, or in a delegated cgroup: systemd-run --user -p Delegate=yes --scope tsjail …)',
      err.code,
    );
  }
  st.enabled.push(c);
}

/** Once per run: check the mount, pick the base, enable the controllers the limits need. */
export function setupV2(host: CgroupHost, cfg: ConfigState): V2State {
  const mount = trimSlash(cfg.cgroupv2_mount);
  if (!host.isCgroup2(mount)) throw new CgroupError(`'${mount}' is not a cgroup2 filesystem (statfs f_type): set --cgroupv2_mount to where cgroup2 is mounted`);
  const ownPath = ownV2Path(host.selfCgroupFile());
  const own = ownPath !== undefined ? trimSlash(join(mount, ownPath)) : undefined;
  let base = mount;
  if (!host.fs.writable(mount)) {
    if (own === undefined || !host.fs.writable(own)) throw new CgroupError(`cannot create cgroups: neither '${mount}' nor tsjail's own cgroup '${own ?? '?'}' is writable (a delegated cgroup v2 subtree is needed)`, 'EACCES');
    base = own;
    log.debug(`'${mount}' is not writable: nesting the jails under tsjail's own cgroup '${base}'`);
  }
  const st: V2State = { mount, base, own, enabled: [] };
  const need = v2Controllers(cfg);
  if (!need.length) return st;
  const available = words(host.fs.read(join(base, 'cgroup.controllers')));
  const missing = need.filter((c) => !available.includes(c));
  if (missing.length) {
    throw new CgroupError(
      `cgroup v2 controller(s) ${missing.map((c) => `'${c}'`).join(', ')} not available in '${base}' (cgroup.controllers: '${available.join(' ')}'): ` +
        `the parent must enable them in its cgroup.subtree_control, or they are bound to a cgroup v1 hierarchy (then use the v1 options)`,
    );
  }
  const active = words(host.fs.read(join(base, 'cgroup.subtree_control')));
  for (const c of need) if (!active.includes(c)) enableController(host, st, c);
  return st;
}

/** Create, join and limit one jail's cgroup; `created` receives it first so a failure is undone. */
export function setupV2Jail(host: CgroupHost, st: V2State, cfg: ConfigState, pid: number, created: (dir: string) => void): string {
  const dir = join(st.base, `NSJAIL.${pid}`);
  log.debug(`Create '${dir}' for pid=${pid}`);
  host.fs.mkdir(dir);
  created(dir);
  log.debug(`Adding pid='${pid}' to cgroup.procs`);
  host.fs.write(join(dir, 'cgroup.procs'), String(pid));
  for (const [, file, value] of v2Writes(cfg)) {
    log.info(`Setting '${file}' to '${value}'`);
    host.fs.write(join(dir, file), value);
  }
  return dir;
}

/**
 * At the end of the run: leave NSJAIL_SELF.<pid> for the cgroup tsjail came
 * from, and remove it. Refused (EBUSY) while base keeps controllers enabled
 * and base is not the root; then the leaf stays until a later start removes it as stale.
 */
export function disposeV2(host: CgroupHost, st: V2State): void {
  if (!st.selfLeaf || !st.own) return;
  try {
    host.fs.write(join(st.own, 'cgroup.procs'), '0');
    host.fs.rmdir(st.selfLeaf);
    st.selfLeaf = undefined;
  } catch (e) {
    log.debug(`${(e as Error).message}: '${st.selfLeaf}' stays while tsjail runs; the next start removes it`);
  }
}

/** Usage figures of a jail's v2 cgroup: cpu.stat always, memory.* with the memory controller. */
export function readV2Usage(host: CgroupHost, dir: string): CgroupUsage {
  const keyed = (file: string) => {
    try {
      return parseKeyed(host.fs.read(join(dir, file)));
    } catch {
      return {};
    }
  };
  const cpu = keyed('cpu.stat');
  const events = keyed('memory.events');
  let peakBytes: number | undefined;
  let memoryLimit: string | undefined;
  try {
    peakBytes = Number(host.fs.read(join(dir, 'memory.peak')).trim());
    memoryLimit = `memory.max=${host.fs.read(join(dir, 'memory.max')).trim()}`;
  } catch {
    /* no memory controller here, or Linux < 5.19 without memory.peak */
  }
  const hasCpu = cpu.user_usec !== undefined && cpu.system_usec !== undefined;
  return {
    userMs: hasCpu ? Number(cpu.user_usec) / 1000 : undefined,
    systemMs: hasCpu ? Number(cpu.system_usec) / 1000 : undefined,
    cpuSource: hasCpu ? 'cpu.stat' : undefined,
    peakBytes: peakBytes !== undefined && Number.isFinite(peakBytes) ? peakBytes : undefined,
    memorySource: peakBytes !== undefined && Number.isFinite(peakBytes) ? 'memory.peak' : undefined,
    oomKills: Number(events.oom_kill ?? 0n),
    memoryDir: dir,
    memoryLimit,
  };
}
