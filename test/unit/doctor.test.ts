/** tsjail doctor's checks on made-up hosts: what was found, and what follows for the options. */
import { describe, expect, it } from 'vitest';
import { parseCgroupMounts, parseSubIds, type DoctorFacts } from '../../src/doctor/facts.js';
import { doctorChecks, kernelVersion, renderDoctor, type Check } from '../../src/doctor/index.js';

const present = { present: true } as const;
const HOST: DoctorFacts = {
  kernel: '6.8.0-45-generic',
  machine: 'x86_64',
  uid: 1000,
  user: 'alice',
  sysctl: { 'user/max_user_namespaces': '63000', 'kernel/seccomp/actions_avail': 'kill_process kill_thread trap errno user_notif trace log allow', 'kernel/keys/maxkeys': '200' },
  newuidmap: { path: '/usr/bin/newuidmap', setuidRoot: true },
  newgidmap: { path: '/usr/bin/newgidmap', setuidRoot: true },
  subuid: [{ start: 100000, count: 65536 }],
  subgid: [{ start: 100000, count: 65536 }],
  cgroups: [{ version: 2, mount: '/sys/fs/cgroup', base: '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service', controllers: ['cpu', 'memory', 'pids'], writable: true, delegated: true }],
  landlock: { abi: 6 },
  syscalls: { clone3: present, open_tree: present, move_mount: present, mount_setattr: present, openat2: present, close_range: present },
  seccompNotify: present,
  namespaces: ['user', 'mnt', 'pid', 'ipc', 'uts', 'net', 'cgroup', 'time'],
  ia32: true,
  kmsgReadable: false,
  programs: { pasta: '/usr/bin/pasta', setpriv: '/usr/bin/setpriv', nft: undefined },
  overlayfs: true,
};

const check = (f: DoctorFacts, feature: string): Check => {
  const c = doctorChecks(f).find((x) => x.feature === feature);
  if (!c) throw new Error(`no check ${feature}`);
  return c;
};

describe('doctor checks', () => {
  it('a delegated systemd user session: v2 limits work there, v1 ones do not', () => {
    const v2 = check(HOST, 'cgroup v2');
    expect(v2.status).toBe('yes');
    expect(v2.found).toContain('jails under /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service (delegated)');
    expect(v2.then).toBe('with --use_cgroupv2: --cgroup_mem_max, --cgroup_mem_memsw_max, --cgroup_mem_swap_max, --cgroup_pids_max, --cgroup_cpu_ms_per_sec work');
    expect(check(HOST, 'cgroup v1 memory')).toMatchObject({ status: 'no', then: expect.stringContaining('need --use_cgroupv2') });
    expect(check(HOST, 'user namespaces')).toMatchObject({ status: 'yes', then: expect.stringContaining('unprivileged too') });
    expect(check(HOST, '/etc/subuid ranges')).toMatchObject({ status: 'yes', found: 'alice (uid 1000): 100000-165535 (65536)', then: 'e.g. -U 1:100000:65536 maps them into the jail' });
  });

  it('v2 with some controllers missing names what fails, and the mount to give', () => {
    const f = { ...HOST, cgroups: [{ version: 2 as const, mount: '/sys/fs/cgroup/unified', base: '/sys/fs/cgroup/unified', controllers: ['memory'], writable: true, delegated: false }] };
    expect(check(f, 'cgroup v2')).toMatchObject({ status: 'partly', then: 'with --use_cgroupv2 --cgroupv2_mount /sys/fs/cgroup/unified: --cgroup_mem_max, --cgroup_mem_memsw_max, --cgroup_mem_swap_max work; --cgroup_pids_max, --cgroup_cpu_ms_per_sec fail (no pids, cpu controller)' });
    const none = { ...HOST, cgroups: [{ ...f.cgroups[0]!, controllers: [] }] };
    expect(check(none, 'cgroup v2').status).toBe('partly');
    const ro = { ...HOST, cgroups: [{ ...f.cgroups[0]!, writable: false }] };
    expect(check(ro, 'cgroup v2')).toMatchObject({ status: 'no', then: '--use_cgroupv2 fails: tsjail cannot create cgroups there' });
  });

  it('user namespaces switched off, or closed to unprivileged users', () => {
    expect(check({ ...HOST, sysctl: { ...HOST.sysctl, 'user/max_user_namespaces': '0' } }, 'user namespaces')).toMatchObject({ status: 'no', then: expect.stringContaining('--disable_clone_newuser') });
    const debian = { ...HOST, sysctl: { ...HOST.sysctl, 'kernel/unprivileged_userns_clone': '0' } };
    expect(check(debian, 'user namespaces')).toMatchObject({ status: 'no', found: expect.stringContaining('kernel.unprivileged_userns_clone = 0'), then: 'this user cannot create user namespaces: run tsjail as root' });
    expect(check({ ...debian, uid: 0 }, 'user namespaces').status).toBe('yes');
  });

  it('newuidmap missing or without set-user-id, and no subordinate ids', () => {
    const { newuidmap: _, ...without } = HOST;
    expect(check(without, 'newuidmap')).toMatchObject({ status: 'no', then: expect.stringContaining('--uid_mapping (-U) and config uidmap { use_newidmap: true } fail') });
    expect(check({ ...HOST, newuidmap: { path: '/usr/bin/newuidmap', setuidRoot: false } }, 'newuidmap').status).toBe('partly');
    expect(check({ ...HOST, subuid: [] }, '/etc/subuid ranges').status).toBe('no');
    expect(check({ ...HOST, uid: 0, subuid: [] }, '/etc/subuid ranges').status).toBe('info');
  });

  it('Landlock: what an older ABI leaves unenforced, and none at all', () => {
    expect(check(HOST, 'Landlock').status).toBe('yes');
    const abi3 = check({ ...HOST, landlock: { abi: 3 } }, 'Landlock');
    expect(abi3.status).toBe('partly');
    expect(abi3.then).toContain('--landlock_bind_tcp and --landlock_connect_tcp are not enforced');
    expect(abi3.then).toContain('--landlock_scope is not enforced');
    expect(check({ ...HOST, landlock: { abi: 0, reason: 'landlock is not supported' } }, 'Landlock')).toMatchObject({ status: 'no', found: 'landlock is not supported' });
  });

  it('seccomp: user notification as the kernel answers, and what tsjail does with it', () => {
    expect(check(HOST, 'seccomp user notification')).toMatchObject({ status: 'yes', then: 'the kernel supports it; --seccomp_unotify can trace the program' });
    expect(check({ ...HOST, seccompNotify: { present: false, errno: 22 } }, 'seccomp user notification')).toMatchObject({ status: 'no', found: 'seccomp(SECCOMP_GET_NOTIF_SIZES): EINVAL' });
    expect(check(HOST, 'seccomp kill names').status).toBe('no');
    expect(check({ ...HOST, uid: 0, kmsgReadable: true }, 'seccomp kill names').status).toBe('yes');
  });

  it("/dev/net/tun: what user_net's built-in backend needs", () => {
    expect(check(HOST, 'tun')).toMatchObject({ status: 'no', found: 'no /dev/net/tun' });
    expect(check({ ...HOST, tun: { mode: 0o666, usable: true } }, 'tun')).toMatchObject({ status: 'yes', found: '/dev/net/tun mode 0666', then: 'user_net { } (the built-in NSTUN backend) works' });
    expect(check({ ...HOST, tun: { mode: 0o600, usable: false } }, 'tun')).toMatchObject({ status: 'no', found: '/dev/net/tun mode 0600, not openable by uid 1000', then: expect.stringContaining('mode 0666 for a rootless tsjail') });
  });

  it('pasta and nftables: what user_net { backend: PASTA } and --traffic_rule need', () => {
    expect(check(HOST, 'pasta')).toMatchObject({ status: 'yes', then: 'user_net { backend: PASTA } works' });
    expect(check({ ...HOST, programs: { ...HOST.programs, setpriv: undefined } }, 'pasta').status).toBe('no');
    expect(check(HOST, 'nftables')).toMatchObject({ status: 'no', then: expect.stringContaining('--traffic_rule and config traffic_rule fail') });
    expect(check({ ...HOST, programs: { ...HOST.programs, nft: '/usr/sbin/nft' }, nfTables: 'CONFIG_NF_TABLES=y' }, 'nftables')).toMatchObject({ status: 'yes', found: '/usr/sbin/nft, CONFIG_NF_TABLES=y' });
  });

  it('kernel features: an old kernel, a missing mount API, a seccomp filter around tsjail', () => {
    expect(check({ ...HOST, kernel: '5.10.0' }, 'kernel')).toMatchObject({ status: 'no', then: expect.stringContaining('Linux >= 5.12') });
    const noApi = { ...HOST, syscalls: { ...HOST.syscalls, mount_setattr: { present: false, errno: 38 }, open_tree: { present: false, errno: 1 } } };
    expect(check(noApi, 'open_tree, move_mount, mount_setattr')).toMatchObject({ status: 'no', found: 'open_tree refused with EPERM (a seccomp filter around tsjail?), mount_setattr absent (ENOSYS)' });
    expect(check({ ...HOST, namespaces: ['user', 'mnt'] }, 'time namespaces')).toMatchObject({ status: 'no', then: expect.stringContaining('--enable_clone_newtime fails') });
    expect(check({ ...HOST, kernel: '5.4.0', syscalls: { ...HOST.syscalls } }, 'clone3, CLONE_CLEAR_SIGHAND').status).toBe('partly');
    expect(check(HOST, 'ia32 emulation').then).toContain('their system calls are killed');
    expect(check({ ...HOST, ia32: false }, 'ia32 emulation').then).toContain('only 64-bit programs run');
    expect(check({ ...HOST, ia32: undefined }, 'ia32 emulation').found).toContain('not tested');
  });

  it('renders one line per check: feature, status, found -> what follows', () => {
    const out = renderDoctor(HOST).split('\n');
    expect(out[0]).toBe('tsjail doctor: what this host offers a jail (uid 1000, alice)');
    const rows = out.slice(3).filter(Boolean);
    expect(rows).toHaveLength(doctorChecks(HOST).length);
    for (const r of rows) expect(r).toMatch(/^\S.*? +(yes|no|partly|info) +\S.* -> \S.*$/);
  });
});

describe('doctor parsing', () => {
  it('kernel versions', () => {
    expect(kernelVersion('6.18.44-fc-v1045')).toEqual([6, 18]);
    expect(kernelVersion('weird')).toEqual([0, 0]);
  });

  it("the caller's subordinate ids, by name or uid", () => {
    const text = '# comment\nalice:100000:65536\nbob:165536:65536\n1000:300000:10\nalice:bad:1\n';
    expect(parseSubIds(text, 'alice', 1000)).toEqual([{ start: 100000, count: 65536 }, { start: 300000, count: 10 }]);
    expect(parseSubIds(text, 'carol', 1001)).toEqual([]);
  });

  it('cgroup mounts from mountinfo, octal escapes undone', () => {
    const info = [
      '30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate',
      '35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory',
      '36 30 0:32 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct',
      '37 30 0:33 / /mnt/a\\040b rw - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(parseCgroupMounts(info)).toEqual([
      { version: 2, mount: '/sys/fs/cgroup/unified', options: 'rw,nsdelegate' },
      { version: 1, mount: '/sys/fs/cgroup/memory', options: 'rw,memory' },
      { version: 1, mount: '/sys/fs/cgroup/cpu,cpuacct', options: 'rw,cpu,cpuacct' },
      { version: 2, mount: '/mnt/a b', options: 'rw' },
    ]);
  });
});
