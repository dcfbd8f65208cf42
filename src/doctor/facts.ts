/**
 * What `tsjail doctor` reads from this host: sysctls, helper programs, the
 * caller's subordinate id ranges, cgroup mounts, and kernel features probed
 * with harmless system calls. Reading only; nothing is created or changed.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { machine, release, userInfo } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { probeLandlockAbi, type LandlockSupport } from '../linux/landlock.js';
import { PROBES, probeIa32, probeSeccompNotify, type SyscallProbe } from '../linux/probe.js';
import { findProgram } from '../net/pasta.js';

export interface IdRange {
  readonly start: number;
  readonly count: number;
}

export interface Helper {
  readonly path: string;
  /** Set-user-id and owned by root: it can write maps for an unprivileged caller. */
  readonly setuidRoot: boolean;
}

export interface CgroupMount {
  readonly version: 1 | 2;
  readonly mount: string;
  /** v1: the controllers of the hierarchy; v2: those available where tsjail would create jails. */
  readonly controllers: readonly string[];
  /** v2: where tsjail would create jails (the mount root if writable, else its own cgroup). */
  readonly base: string;
  readonly writable: boolean;
  /** v2: the base is a cgroup below the root that this user may write (a delegated subtree). */
  readonly delegated: boolean;
}

export interface DoctorFacts {
  readonly kernel: string;
  readonly machine: string;
  readonly uid: number;
  readonly user?: string;
  /** sysctl values by /proc/sys path (below /proc/sys/), undefined when the file does not exist. */
  readonly sysctl: Readonly<Record<string, string | undefined>>;
  readonly newuidmap?: Helper;
  readonly newgidmap?: Helper;
  readonly subuid: readonly IdRange[];
  readonly subgid: readonly IdRange[];
  readonly cgroups: readonly CgroupMount[];
  readonly landlock: LandlockSupport;
  readonly syscalls: Readonly<Record<keyof typeof PROBES, SyscallProbe>>;
  readonly seccompNotify: SyscallProbe;
  /** Namespace kinds this kernel has (/proc/self/ns entries). */
  readonly namespaces: readonly string[];
  /** A 32-bit x86 program ran (undefined: the 64-bit control did not either, so nothing could be told). */
  readonly ia32: boolean | undefined;
  readonly kmsgReadable: boolean;
  /** Programs tsjail runs for some options (pasta, setpriv, nft), where it would find them. */
  readonly programs: Readonly<Record<string, string | undefined>>;
  /** nf_tables in the kernel: how it was seen, or undefined when nothing says it is there. */
  readonly nfTables?: string;
  readonly overlayfs: boolean;
  /** /dev/net/tun for user_net's NSTUN backend: its mode, and whether this user may open it read-write. */
  readonly tun?: { readonly mode: number; readonly usable: boolean };
}

export const SYSCTLS = [
  'user/max_user_namespaces',
  'kernel/unprivileged_userns_clone',
  'kernel/apparmor_restrict_unprivileged_userns',
  'kernel/seccomp/actions_avail',
  'kernel/keys/maxkeys',
  'kernel/keys/root_maxkeys',
  'kernel/dmesg_restrict',
] as const;

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function helper(path: string): Helper | undefined {
  try {
    const st = statSync(path);
    return { path, setuidRoot: st.uid === 0 && (st.mode & 0o4000) !== 0 };
  } catch {
    return undefined;
  }
}

/** The caller's lines of /etc/subuid or /etc/subgid, matched by name or by number. */
export function parseSubIds(text: string, user: string | undefined, id: number): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (!who || who.startsWith('#') || (who !== user && who !== String(id))) continue;
    if (/^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '')) out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** mountinfo fields: mount point (5th) and, after ' - ', fstype and super options. */
export function parseCgroupMounts(mountinfo: string): Array<{ version: 1 | 2; mount: string; options: string }> {
  const out: Array<{ version: 1 | 2; mount: string; options: string }> = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [fstype, , superOpts = ''] = right.split(' ');
    const mount = (left.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (fstype === 'cgroup2') out.push({ version: 2, mount, options: superOpts });
    else if (fstype === 'cgroup') out.push({ version: 1, mount, options: superOpts });
  }
  return out;
}

/** v1 controllers named in the super options (name=systemd and the like are not controllers). */
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc'];

function cgroupMounts(): CgroupMount[] {
  const mounts = parseCgroupMounts(readTrim('/proc/self/mountinfo') ?? '');
  const own = /^0::(\/.*)$/m.exec(readTrim('/proc/self/cgroup') ?? '')?.[1];
  return mounts.map((m): CgroupMount => {
    if (m.version === 1) {
      const controllers = m.options.split(',').filter((o) => V1_CONTROLLERS.includes(o));
      return { version: 1, mount: m.mount, controllers, base: m.mount, writable: writable(m.mount), delegated: false };
    }
    // As tsjail chooses: the mount root when writable, else its own cgroup (a delegated subtree).
    const rootWritable = writable(m.mount);
    const base = rootWritable || !own || own === '/' ? m.mount : join(m.mount, own);
    const controllers = (readTrim(join(base, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
    return { version: 2, mount: m.mount, controllers, base, writable: writable(base), delegated: base !== m.mount && writable(base) };
  });
}

function tunDevice(): DoctorFacts['tun'] {
  try {
    const mode = statSync('/dev/net/tun').mode & 0o7777;
    let usable = true;
    try {
      accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
    } catch {
      usable = false;
    }
    return { mode, usable };
  } catch {
    return undefined;
  }
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

export function readDoctorFacts(): DoctorFacts {
  const uid = process.getuid?.() ?? -1;
  let user: string | undefined;
  try {
    user = userInfo().username; // getpwuid_r: NSS, as newuidmap looks the caller up
  } catch {
    user = undefined;
  }
  const sysctl: Record<string, string | undefined> = {};
  for (const k of SYSCTLS) sysctl[k] = readTrim(`/proc/sys/${k}`);
  const syscalls = Object.fromEntries(Object.entries(PROBES).map(([k, probe]) => [k, probe()])) as DoctorFacts['syscalls'];
  let namespaces: string[] = [];
  try {
    namespaces = ['user', 'mnt', 'pid', 'ipc', 'uts', 'net', 'cgroup', 'time'].filter((n) => existsSync(`/proc/self/ns/${n}`));
  } catch {
    namespaces = [];
  }
  return {
    kernel: release(),
    machine: machine(),
    uid,
    ...(user !== undefined ? { user } : {}),
    sysctl,
    ...optional('newuidmap', helper('/usr/bin/newuidmap')),
    ...optional('newgidmap', helper('/usr/bin/newgidmap')),
    subuid: parseSubIds(readTrim('/etc/subuid') ?? '', user, uid),
    subgid: parseSubIds(readTrim('/etc/subgid') ?? '', user, uid),
    cgroups: cgroupMounts(),
    landlock: probeLandlockAbi(),
    syscalls,
    seccompNotify: probeSeccompNotify(),
    namespaces,
    ia32: probeIa32(),
    kmsgReadable: readable('/dev/kmsg'),
    // Found as tsjail finds them when a jail needs them.
    programs: { pasta: findProgram(process.env.NSJAIL_PASTA_PATH || 'pasta'), setpriv: findProgram('setpriv'), nft: findProgram('nft') },
    ...optional('nfTables', kernelHas('nf_tables', 'CONFIG_NF_TABLES')),
    overlayfs: /\toverlay$/m.test(readTrim('/proc/filesystems') ?? '') || existsSync('/sys/module/overlay'),
    ...optional('tun', tunDevice()),
  };
}

/**
 * A kernel part: loaded (/sys/module), or built in or a module by the kernel's
 * config (/proc/config.gz), or listed in /lib/modules; a built-in part without
 * parameters has no /sys/module entry, hence the other places.
 */
function kernelHas(module: string, config: string): string | undefined {
  if (existsSync(`/sys/module/${module}`)) return `${module} loaded`;
  try {
    const m = new RegExp(`^${config}=([ym])$`, 'm').exec(gunzipSync(readFileSync('/proc/config.gz')).toString());
    if (m) return `${config}=${m[1]}`;
  } catch {
    /* no config.gz */
  }
  for (const list of ['modules.builtin', 'modules.dep']) {
    if (new RegExp(`/${module}\\.ko`).test(readTrim(`/lib/modules/${release()}/${list}`) ?? '')) return `${module} in ${list}`;
  }
  return undefined;
}

function optional<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
