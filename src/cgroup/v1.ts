/**
 * cgroup v1, as nsjail: one hierarchy per controller, the jail's cgroup at
 * `<mount>/<parent>/NSJAIL.<pid>`, limits written, then the pid into `tasks`.
 * Unlike nsjail a missing parent cgroup is created.
 */
import { join } from 'node:path';
import { log } from '../log/logger.js';
import type { ConfigState } from '../spec.js';
import type { CgroupUsage } from './accounting.js';
import { CgroupError, parseKeyed, type CgroupHost } from './files.js';

export type V1Name = 'memory' | 'pids' | 'net_cls' | 'cpu';

export interface V1Controller {
  readonly name: V1Name;
  /** The option prefix, for messages: `--cgroup_mem_mount`. */
  readonly option: string;
  readonly mount: string;
  readonly parent: string;
  /** [file, value] in write order. */
  readonly writes: ReadonlyArray<readonly [string, string]>;
}

function memoryWrites(cfg: ConfigState): Array<[string, string]> {
  const mem = cfg.cgroup_mem_max;
  // v1 limits memory+swap together: a swap limit becomes memsw = mem + swap.
  const memsw = cfg.cgroup_mem_swap_max >= 0n ? cfg.cgroup_mem_swap_max + mem : cfg.cgroup_mem_memsw_max;
  if (mem === 0n && memsw === 0n) return [];
  if (mem === 0n) throw new CgroupError('cgroup v1 limits swap through memory.memsw.limit_in_bytes, which must not be below memory.limit_in_bytes: set --cgroup_mem_max too');
  const writes: Array<[string, string]> = [
    // The OOM killer rather than a task sleeping forever at the limit.
    ['memory.oom_control', '0'],
    ['memory.limit_in_bytes', String(mem)],
  ];
  if (memsw > 0n) writes.push(['memory.memsw.limit_in_bytes', String(memsw)]);
  return writes;
}

const TABLE: ReadonlyArray<{ name: V1Name; option: string; mount: (c: ConfigState) => string; parent: (c: ConfigState) => string; writes: (c: ConfigState) => Array<[string, string]> }> = [
  { name: 'memory', option: 'mem', mount: (c) => c.cgroup_mem_mount, parent: (c) => c.cgroup_mem_parent, writes: memoryWrites },
  {
    name: 'pids',
    option: 'pids',
    mount: (c) => c.cgroup_pids_mount,
    parent: (c) => c.cgroup_pids_parent,
    writes: (c) => (c.cgroup_pids_max > 0n ? [['pids.max', String(c.cgroup_pids_max)]] : []),
  },
  {
    name: 'net_cls',
    option: 'net_cls',
    mount: (c) => c.cgroup_net_cls_mount,
    parent: (c) => c.cgroup_net_cls_parent,
    writes: (c) => (c.cgroup_net_cls_classid > 0 ? [['net_cls.classid', '0x' + c.cgroup_net_cls_classid.toString(16)]] : []),
  },
  {
    name: 'cpu',
    option: 'cpu',
    mount: (c) => c.cgroup_cpu_mount,
    parent: (c) => c.cgroup_cpu_parent,
    // The period first: a quota is checked against the period in force.
    writes: (c) => (c.cgroup_cpu_ms_per_sec > 0 ? [['cpu.cfs_period_us', '1000000'], ['cpu.cfs_quota_us', String(c.cgroup_cpu_ms_per_sec * 1000)]] : []),
  },
];

/** The controllers a config limits, with their writes; pure. */
export function v1Controllers(cfg: ConfigState): V1Controller[] {
  return TABLE.map((t) => ({ name: t.name, option: t.option, mount: t.mount(cfg), parent: t.parent(cfg), writes: t.writes(cfg) })).filter((c) => c.writes.length);
}

export function v1ParentDir(c: Pick<V1Controller, 'mount' | 'parent'>): string {
  return join(c.mount, c.parent);
}

export function v1JailDir(c: Pick<V1Controller, 'mount' | 'parent'>, pid: number): string {
  return join(c.mount, c.parent, `NSJAIL.${pid}`);
}

/** Advice for an interface file the kernel does not offer. */
const MISSING: Record<string, string> = {
  'memory.memsw.limit_in_bytes': 'swap accounting is off (boot with swapaccount=1), so memory+swap cannot be limited',
};

/**
 * Once per run, before any clone: each mount option names a v1 hierarchy of
 * its controller. A plain directory would otherwise get NSJAIL/NSJAIL.<pid>
 * directories that limit nothing, and another hierarchy the wrong files.
 */
export function checkV1Mounts(host: CgroupHost, ctrls: readonly V1Controller[]): void {
  for (const c of ctrls) {
    const opt = `--cgroup_${c.option}_mount`;
    if (!host.fs.exists(c.mount)) {
      throw new CgroupError(`no cgroup v1 '${c.name}' hierarchy at '${c.mount}' (${opt}); on a cgroup v2 host use --use_cgroupv2 or --detect_cgroupv2`, 'ENOENT');
    }
    const m = host.mountOf(c.mount);
    if (m?.fstype === 'cgroup' && m.superOptions.includes(c.name)) continue;
    const found = !m
      ? 'its mount cannot be read from /proc/self/mountinfo'
      : m.fstype === 'cgroup'
        ? `it lies on the cgroup v1 hierarchy of ${m.superOptions.filter((o) => o !== 'rw' && o !== 'ro').join(',')} at '${m.point}'`
        : `it lies on the ${m.fstype} mount at '${m.point}'`;
    throw new CgroupError(`${opt} '${c.mount}' is not a cgroup v1 '${c.name}' hierarchy: ${found}`);
  }
}

/** Rootless v1 fails on the first mkdir: say what would work. */
function withAccessHint(e: unknown, c: V1Controller): unknown {
  if (!(e instanceof CgroupError) || (e.code !== 'EACCES' && e.code !== 'EPERM')) return e;
  return new CgroupError(
    `${e.message} (hint: cgroup v1 has no delegation to unprivileged users: run tsjail as root, or have root create '${v1ParentDir(c)}' and chown it and its tasks file to this user; ` +
      'on a cgroup v2 host, --use_cgroupv2 in a delegated cgroup: systemd-run --user -p Delegate=yes --scope tsjail …)',
    e.code,
  );
}

/** mkdir -p of the parent below the mount: nsjail requires it to exist, tsjail creates it (and says which dirs it made). */
function ensureParent(host: CgroupHost, c: V1Controller, madeParent: (dir: string) => void): void {
  let dir = c.mount;
  for (const part of c.parent.split('/').filter(Boolean)) {
    dir = join(dir, part);
    if (host.fs.mkdir(dir)) {
      log.debug(`Created parent cgroup '${dir}'`);
      madeParent(dir);
    }
  }
}

/**
 * Create, limit and join one jail's cgroup in every hierarchy it needs.
 * `created` receives each directory as soon as it exists, so a failure
 * half-way is undone by the caller; `madeParent` each parent dir that did
 * not exist (removed at the end of the run).
 */
export function setupV1Jail(
  host: CgroupHost,
  ctrls: readonly V1Controller[],
  pid: number,
  created: (dir: string, c: V1Name) => void,
  madeParent: (dir: string) => void = () => {},
): void {
  for (const c of ctrls) {
    const dir = v1JailDir(c, pid);
    try {
      ensureParent(host, c, madeParent);
      log.debug(`Create '${dir}' for pid=${pid}`);
      host.fs.mkdir(dir);
    } catch (e) {
      throw withAccessHint(e, c);
    }
    created(dir, c.name);
    for (const [file, value] of c.writes) {
      const path = join(dir, file);
      log.debug(`Setting '${path}' to '${value}'`);
      if (MISSING[file] && !host.fs.exists(path)) throw new CgroupError(`write('${path}', '${value}'): ENOENT (No such file or directory) (hint: ${MISSING[file]})`, 'ENOENT');
      host.fs.write(path, value);
    }
    const tasks = join(dir, 'tasks');
    log.debug(`Adding pid='${pid}' to '${tasks}'`);
    host.fs.write(tasks, String(pid));
  }
}

function readNumber(host: CgroupHost, path: string): bigint | undefined {
  try {
    const t = host.fs.read(path).trim();
    return /^\d+$/.test(t) ? BigInt(t) : undefined;
  } catch {
    return undefined;
  }
}

/** Usage figures of the jail's v1 cgroups (memory and, where cpuacct is co-mounted with cpu, CPU time). */
export function readV1Usage(host: CgroupHost, dirs: { memory?: string; cpu?: string }): CgroupUsage {
  let oomKills = 0;
  let peakBytes: number | undefined;
  let memoryLimit: string | undefined;
  if (dirs.memory) {
    const peak = readNumber(host, join(dirs.memory, 'memory.max_usage_in_bytes'));
    if (peak !== undefined) peakBytes = Number(peak);
    try {
      oomKills = Number(parseKeyed(host.fs.read(join(dirs.memory, 'memory.oom_control'))).oom_kill ?? 0n);
    } catch {
      /* no counter (Linux < 4.13): a SIGKILL stays a plain signal */
    }
    memoryLimit = `memory.limit_in_bytes=${readNumber(host, join(dirs.memory, 'memory.limit_in_bytes')) ?? '?'}`;
  }
  let userMs: number | undefined;
  let systemMs: number | undefined;
  if (dirs.cpu) {
    const u = readNumber(host, join(dirs.cpu, 'cpuacct.usage_user'));
    const s = readNumber(host, join(dirs.cpu, 'cpuacct.usage_sys'));
    if (u !== undefined && s !== undefined) [userMs, systemMs] = [Number(u) / 1e6, Number(s) / 1e6];
  }
  return {
    oomKills,
    peakBytes,
    memorySource: peakBytes !== undefined ? 'memory.max_usage_in_bytes' : undefined,
    memoryDir: dirs.memory,
    memoryLimit,
    userMs,
    systemMs,
    cpuSource: userMs !== undefined ? 'cpuacct.usage_user' : undefined,
  };
}
