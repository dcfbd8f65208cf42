/**
 * `tsjail doctor`: what this host offers a jail, and what follows for the
 * options. One line per feature: its name, yes/no/partly/info, what was found,
 * and the consequence. The checks are a pure function of the facts
 * (facts.ts), so they are tested with made-up hosts.
 */
import { FLAGS } from '../cli/flags.js';
import { fieldsOf } from '../config/fields.js';
import { errnoName } from '../linux/errno.js';
import type { SyscallProbe } from '../linux/probe.js';
import { readDoctorFacts, type CgroupMount, type DoctorFacts, type Helper, type IdRange } from './facts.js';

export type Status = 'yes' | 'no' | 'partly' | 'info';

export interface Check {
  readonly feature: string;
  readonly status: Status;
  /** What was found. */
  readonly found: string;
  /** What it means for the options. */
  readonly then: string;
}

/** [major, minor] of a kernel release string such as 6.8.0-45-generic. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
const atLeast = (have: [number, number], major: number, minor: number) => have[0] > major || (have[0] === major && have[1] >= minor);

/** An option the flag table marks "not supported yet": the consequence says so instead of promising it. */
const refusedFlag = (long: string) => FLAGS.find((f) => f.long === long)?.refused === true;
const refusedField = (field: string) => fieldsOf('nsjail.NsJailConfig').some((f) => f.name === field && f.unsupported);

function probeText(p: SyscallProbe): string {
  if (p.present) return 'present';
  return p.errno === 1 ? 'refused with EPERM (a seccomp filter around tsjail?)' : `absent (${errnoName(p.errno ?? 38)})`;
}

function userns(f: DoctorFacts): Check {
  const max = f.sysctl['user/max_user_namespaces'];
  const unpriv = f.sysctl['kernel/unprivileged_userns_clone'];
  const apparmor = f.sysctl['kernel/apparmor_restrict_unprivileged_userns'];
  const feature = 'user namespaces';
  if (max === undefined) return { feature, status: 'no', found: 'no user.max_user_namespaces sysctl', then: 'the kernel has no user namespaces: only root can run jails, with --disable_clone_newuser' };
  const found = [`user.max_user_namespaces = ${max}`, ...(unpriv !== undefined ? [`kernel.unprivileged_userns_clone = ${unpriv}`] : []), ...(apparmor !== undefined ? [`kernel.apparmor_restrict_unprivileged_userns = ${apparmor}`] : [])].join(', ');
  if (max === '0') return { feature, status: 'no', found, then: 'switched off: run as root with --disable_clone_newuser, or raise user.max_user_namespaces' };
  if (unpriv === '0' || apparmor === '1') {
    return f.uid === 0
      ? { feature, status: 'yes', found, then: 'jails get a user namespace (the default); callers other than root could not create one here' }
      : { feature, status: 'no', found, then: 'this user cannot create user namespaces: run tsjail as root' };
  }
  return { feature, status: 'yes', found, then: `jails get a user namespace (the default)${f.uid === 0 ? '' : ', unprivileged too'}; up to ${max} can exist at once` };
}

function idHelper(kind: 'uid' | 'gid', h: Helper | undefined): Check {
  const tool = `new${kind}map`;
  const feature = tool;
  const opt = kind === 'uid' ? '--uid_mapping (-U)' : '--gid_mapping (-G)';
  if (!h) return { feature, status: 'no', found: `no /usr/bin/${tool}`, then: `${opt} and config ${kind}map { use_newidmap: true } fail (tsjail runs /usr/bin/${tool})` };
  if (!h.setuidRoot) return { feature, status: 'partly', found: `${h.path}, not set-user-id root`, then: `${opt} works only if ${tool} has file capabilities (cap_set${kind}), or as root` };
  return { feature, status: 'yes', found: `${h.path}, set-user-id root`, then: `${opt} can map the host ids /etc/sub${kind} grants the caller` };
}

function subIds(kind: 'uid' | 'gid', ranges: readonly IdRange[], f: DoctorFacts): Check {
  const feature = `/etc/sub${kind} ranges`;
  const who = `${f.user ?? '?'} (uid ${f.uid})`;
  if (!ranges.length) {
    return { feature, status: f.uid === 0 ? 'info' : 'no', found: `none for ${who}`, then: f.uid === 0 ? 'root writes id maps directly and needs none' : `an unprivileged ${kind === 'uid' ? '--uid_mapping' : '--gid_mapping'} can map no other ids; --${kind === 'uid' ? 'user' : 'group'} maps only the caller's own` };
  }
  const list = ranges.map((r) => `${r.start}-${r.start + r.count - 1} (${r.count})`).join(', ');
  const r = ranges[0]!;
  return { feature, status: 'yes', found: `${who}: ${list}`, then: `e.g. ${kind === 'uid' ? '-U' : '-G'} 1:${r.start}:${Math.min(r.count, 65536)} maps them into the jail` };
}

/** tsjail's v1 controllers and the options that need each. */
const V1_USES: ReadonlyArray<readonly [ctrl: string, options: string]> = [
  ['memory', '--cgroup_mem_max, --cgroup_mem_memsw_max, --cgroup_mem_swap_max'],
  ['pids', '--cgroup_pids_max'],
  ['cpu', '--cgroup_cpu_ms_per_sec'],
  ['net_cls', '--cgroup_net_cls_classid'],
];
const V2_USES: ReadonlyArray<readonly [ctrl: string, options: string]> = V1_USES.filter(([c]) => c !== 'net_cls');

function cgroupV1(f: DoctorFacts): Check[] {
  return V1_USES.map(([ctrl, opts]): Check => {
    const feature = `cgroup v1 ${ctrl}`;
    const m = f.cgroups.find((c) => c.version === 1 && c.controllers.includes(ctrl));
    if (!m) return { feature, status: 'no', found: 'no v1 hierarchy has it', then: ctrl === 'net_cls' ? `${opts} fails (v1 only)` : `${opts} need --use_cgroupv2 with a ${ctrl} controller there` };
    const mountOpt = `--cgroup_${ctrl === 'memory' ? 'mem' : ctrl}_mount`;
    const place = m.mount === `/sys/fs/cgroup/${ctrl}` ? '' : `; give ${mountOpt} ${m.mount} unless /sys/fs/cgroup/${ctrl} leads there`;
    return m.writable
      ? { feature, status: 'yes', found: `${m.mount}, writable`, then: `${opts} ${opts.includes(',') ? 'work' : 'works'} (v1, the default)${place}` }
      : { feature, status: 'no', found: `${m.mount}, not writable by uid ${f.uid}`, then: `${opts} ${opts.includes(',') ? 'fail' : 'fails'} with v1: tsjail cannot create cgroups there` };
  });
}

function cgroupV2(f: DoctorFacts): Check[] {
  const v2 = f.cgroups.filter((c) => c.version === 2);
  if (!v2.length) return [{ feature: 'cgroup v2', status: 'no', found: 'no cgroup2 mount', then: 'cgroup limits use v1; --use_cgroupv2 fails' }];
  return v2.map((m: CgroupMount): Check => {
    const feature = 'cgroup v2';
    const where = `${m.mount}${m.base !== m.mount ? `, jails under ${m.base}${m.delegated ? ' (delegated)' : ''}` : ''}`;
    const ctrls = m.controllers.length ? m.controllers.join(' ') : 'none';
    if (!m.writable) return { feature, status: 'no', found: `${where}, not writable by uid ${f.uid}; controllers: ${ctrls}`, then: '--use_cgroupv2 fails: tsjail cannot create cgroups there' };
    const usable = V2_USES.filter(([c]) => m.controllers.includes(c));
    const missing = V2_USES.filter(([c]) => !m.controllers.includes(c));
    const found = `${where}, writable; controllers: ${ctrls}`;
    if (!usable.length) return { feature, status: 'partly', found, then: 'no limit can be set in v2 here; jails without a pid namespace are still held in v2 cgroups, so nothing they start outlives them' };
    const mountOpt = m.mount === '/sys/fs/cgroup' ? '' : ` --cgroupv2_mount ${m.mount}`;
    const then = `with --use_cgroupv2${mountOpt}: ${usable.map(([, o]) => o).join(', ')} work${missing.length ? `; ${missing.map(([, o]) => o).join(', ')} fail (no ${missing.map(([c]) => c).join(', ')} controller)` : ''}`;
    return { feature, status: missing.length ? 'partly' : 'yes', found, then };
  });
}

/** What each Landlock ABI adds, for the options that need it. */
const LANDLOCK_NEEDS: ReadonlyArray<readonly [abi: number, what: string]> = [
  [2, 'moving and linking files across directories (REFER) stays denied'],
  [3, 'truncating files is not restricted'],
  [4, '--landlock_bind_tcp and --landlock_connect_tcp are not enforced'],
  [5, 'device ioctls are not restricted'],
  [6, '--landlock_scope is not enforced'],
];

function landlock(f: DoctorFacts): Check {
  const feature = 'Landlock';
  const { abi, reason } = f.landlock;
  if (abi === 0) return { feature, status: 'no', found: reason ?? 'not available', then: 'Landlock options are dropped with a warning, or refused with --landlock_required' };
  const gaps = LANDLOCK_NEEDS.filter(([need]) => abi < need).map(([, what]) => what);
  return gaps.length
    ? { feature, status: 'partly', found: `ABI ${abi}`, then: `${gaps.join('; ')} (a warning says so; --landlock_required refuses)` }
    : { feature, status: 'yes', found: `ABI ${abi}`, then: 'every Landlock option is enforced' };
}

function seccomp(f: DoctorFacts): Check[] {
  const actions = f.sysctl['kernel/seccomp/actions_avail'];
  const filters: Check = actions === undefined
    ? { feature: 'seccomp filters', status: 'no', found: 'no kernel.seccomp.actions_avail', then: 'every seccomp option fails (kernel without CONFIG_SECCOMP_FILTER?)' }
    : { feature: 'seccomp filters', status: 'yes', found: `actions: ${actions}`, then: `policies, presets and --syscall_allow/--syscall_deny work${actions.split(' ').includes('log') ? ', --seccomp_log too' : '; --seccomp_log does not (no log action)'}` };
  const n = f.seccompNotify;
  const unotify = refusedFlag('seccomp_unotify') ? 'tsjail does not use it yet (--seccomp_unotify is refused)' : '--seccomp_unotify can trace the program';
  const notify: Check = n.present
    ? { feature: 'seccomp user notification', status: 'yes', found: 'seccomp(SECCOMP_GET_NOTIF_SIZES) answered', then: `the kernel supports it; ${unotify}` }
    : { feature: 'seccomp user notification', status: 'no', found: `seccomp(SECCOMP_GET_NOTIF_SIZES): ${errnoName(n.errno ?? 38)}`, then: '--seccomp_unotify and Kafel USER_NOTIF rules cannot work here' };
  const names: Check = f.uid === 0 && f.kmsgReadable
    ? { feature: 'seccomp kill names', status: 'yes', found: '/dev/kmsg readable, running as root', then: "the log names the system call that got a program killed, from the kernel's audit record" }
    : { feature: 'seccomp kill names', status: 'no', found: f.uid === 0 ? '/dev/kmsg not readable' : 'not root', then: 'a seccomp kill is logged without the name of the system call' };
  return [filters, notify, names];
}

function programs(f: DoctorFacts): Check[] {
  const pasta = f.programs.pasta;
  const userNet = refusedFlag('user_net') ? 'tsjail refuses user_net for now (not supported yet)' : 'user_net { backend: PASTA } works';
  const nft = f.programs.nft;
  const rules = refusedField('traffic_rule') ? 'tsjail refuses traffic_rule for now (not supported yet)' : '--traffic_rule and config traffic_rule work (as root)';
  const tun: Check = !f.tun
    ? { feature: 'tun', status: 'no', found: 'no /dev/net/tun', then: 'user_net { } (the built-in NSTUN backend) fails: the kernel needs TUN' }
    : f.tun.usable
      ? { feature: 'tun', status: 'yes', found: `/dev/net/tun mode ${f.tun.mode.toString(8).padStart(4, '0')}`, then: 'user_net { } (the built-in NSTUN backend) works' }
      : { feature: 'tun', status: 'no', found: `/dev/net/tun mode ${f.tun.mode.toString(8).padStart(4, '0')}, not openable by uid ${f.uid}`, then: "user_net { } fails: /dev/net/tun must be openable by tsjail's user (mode 0666 for a rootless tsjail)" };
  return [
    tun,
    pasta && f.programs.setpriv ? { feature: 'pasta', status: 'yes', found: pasta, then: userNet } : pasta ? { feature: 'pasta', status: 'no', found: `${pasta}, but no setpriv`, then: 'user_net { backend: PASTA } fails: setpriv (util-linux) ties pasta to tsjail' } : { feature: 'pasta', status: 'no', found: `${process.env.NSJAIL_PASTA_PATH || 'pasta'} not found`, then: refusedFlag('user_net') ? userNet : 'user_net { backend: PASTA } fails (Debian package passt); the built-in NSTUN backend does not need it' },
    nft && f.nfTables
      ? { feature: 'nftables', status: 'yes', found: `${nft}, ${f.nfTables}`, then: rules }
      : { feature: 'nftables', status: 'no', found: `${nft ?? 'no nft program'}, ${f.nfTables ?? 'no sign of nf_tables in the kernel'}`, then: refusedField('traffic_rule') ? rules : '--traffic_rule and config traffic_rule fail (Debian package nftables)' },
  ];
}

function kernelFeatures(f: DoctorFacts, v: [number, number]): Check[] {
  const s = f.syscalls;
  const mountApi = (['open_tree', 'move_mount', 'mount_setattr'] as const).map((k) => [k, s[k]] as const);
  const missingMount = mountApi.filter(([, p]) => !p.present);
  const clone: Check = s.clone3.present
    ? atLeast(v, 5, 5)
      ? { feature: 'clone3, CLONE_CLEAR_SIGHAND', status: 'yes', found: 'clone3 present, Linux >= 5.5', then: 'each jail is cloned sharing memory until execve, the fast path' }
      : { feature: 'clone3, CLONE_CLEAR_SIGHAND', status: 'partly', found: 'clone3 present, Linux < 5.5', then: 'jails are cloned by a copying clone, a little slower to start' }
    : { feature: 'clone3, CLONE_CLEAR_SIGHAND', status: 'partly', found: `clone3 ${probeText(s.clone3)}`, then: 'jails are cloned by a copying clone, a little slower to start' };
  const time = f.namespaces.includes('time');
  const cgroupNs = f.namespaces.includes('cgroup');
  const maxkeys = f.sysctl['kernel/keys/maxkeys'];
  const checks: Check[] = [
    clone,
    missingMount.length
      ? { feature: 'open_tree, move_mount, mount_setattr', status: 'no', found: missingMount.map(([k, p]) => `${k} ${probeText(p)}`).join(', '), then: "jails with a mount namespace cannot be built (Linux >= 5.12 needed); only --disable_clone_newns runs" }
      : { feature: 'open_tree, move_mount, mount_setattr', status: 'yes', found: 'present', then: 'binds are cloned and get their read-only/nosuid/nodev/noexec flags before they are attached' },
    s.openat2.present
      ? { feature: 'openat2', status: 'yes', found: 'present', then: 'unprivileged jails open bind sources refusing symlinks (RESOLVE_NO_SYMLINKS)' }
      : { feature: 'openat2', status: 'no', found: probeText(s.openat2), then: 'unprivileged jails with binds fail to start' },
    s.close_range.present
      ? { feature: 'close_range', status: 'yes', found: 'present', then: 'the program gets only fds 0, 1, 2 and those of --pass_fd' }
      : { feature: 'close_range', status: 'no', found: probeText(s.close_range), then: 'jails fail to start (descriptors are closed with close_range)' },
    time
      ? { feature: 'time namespaces', status: 'yes', found: '/proc/self/ns/time', then: '--enable_clone_newtime works (-Mo, -Mr, -Ml)' }
      : { feature: 'time namespaces', status: 'no', found: 'no /proc/self/ns/time', then: '--enable_clone_newtime fails (Linux >= 5.6 with CONFIG_TIME_NS)' },
    cgroupNs
      ? { feature: 'cgroup namespaces', status: 'yes', found: '/proc/self/ns/cgroup', then: 'jails see their own cgroup as the root (the default)' }
      : { feature: 'cgroup namespaces', status: 'no', found: 'no /proc/self/ns/cgroup', then: 'jails need --disable_clone_newcgroup' },
    f.overlayfs && atLeast(v, 5, 11)
      ? { feature: 'overlayfs', status: 'yes', found: 'overlay filesystem, Linux >= 5.11', then: '--tmp_overlay works in a user namespace' }
      : { feature: 'overlayfs', status: 'no', found: f.overlayfs ? 'Linux < 5.11' : 'no overlay filesystem', then: '--tmp_overlay fails' },
    f.ia32 === undefined
      ? { feature: 'ia32 emulation', status: 'info', found: 'not tested: a program run from a memfd did not run', then: 'unknown whether 32-bit x86 programs run' }
      : f.ia32
        ? { feature: 'ia32 emulation', status: 'info', found: 'a 32-bit x86 program ran', then: "32-bit programs run in jails; under any seccomp filter tsjail builds their system calls are killed (the filters are x86_64's)" }
        : { feature: 'ia32 emulation', status: 'info', found: 'a 32-bit x86 program was refused', then: 'only 64-bit programs run in jails' },
    maxkeys !== undefined
      ? { feature: 'session keyrings', status: 'info', found: `kernel.keys.maxkeys = ${maxkeys}${f.sysctl['kernel/keys/root_maxkeys'] ? `, root_maxkeys = ${f.sysctl['kernel/keys/root_maxkeys']}` : ''}`, then: `each running jail holds one keyring of its user: at most ${maxkeys} at once per non-root uid, then EDQUOT` }
      : { feature: 'session keyrings', status: 'no', found: 'no kernel.keys sysctls', then: 'jails fail to start (each joins a new session keyring)' },
  ];
  return checks;
}

export function doctorChecks(f: DoctorFacts): Check[] {
  const v = kernelVersion(f.kernel);
  const supported = f.machine === 'x86_64' && atLeast(v, 5, 12);
  return [
    { feature: 'kernel', status: supported ? 'yes' : 'no', found: `Linux ${f.kernel} on ${f.machine}`, then: supported ? "tsjail's minimum, x86_64 and Linux >= 5.12, is met" : 'tsjail needs x86_64 and Linux >= 5.12: jails will fail to start' },
    userns(f),
    idHelper('uid', f.newuidmap),
    idHelper('gid', f.newgidmap),
    subIds('uid', f.subuid, f),
    subIds('gid', f.subgid, f),
    ...cgroupV2(f),
    ...cgroupV1(f),
    landlock(f),
    ...seccomp(f),
    ...programs(f),
    ...kernelFeatures(f, v),
  ];
}

const FEATURE_WIDTH = 36;

export function renderDoctor(f: DoctorFacts, checks = doctorChecks(f)): string {
  const head = `tsjail doctor: what this host offers a jail (uid ${f.uid}${f.user ? `, ${f.user}` : ''})`;
  const lines = checks.map((c) => `${c.feature.padEnd(FEATURE_WIDTH)} ${c.status.padEnd(6)} ${c.found} -> ${c.then}`);
  return [head, '', `${'FEATURE'.padEnd(FEATURE_WIDTH)} ${'STATUS'.padEnd(6)} FOUND -> WHAT FOLLOWS`, ...lines].join('\n') + '\n';
}

export function runDoctor(): string {
  return renderDoctor(readDoctorFacts());
}
