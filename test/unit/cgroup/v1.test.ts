import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CgroupError, mountOfIn, type CgroupHost } from '../../../src/cgroup/files.js';
import { checkV1Mounts, readV1Usage, setupV1Jail, v1Controllers, v1JailDir, v1ParentDir } from '../../../src/cgroup/v1.js';
import { log } from '../../../src/log/logger.js';
import { defaultConfig, type ConfigState } from '../../../src/spec.js';
import { FakeTree } from './fake-tree.js';

const cfg = (over: Partial<ConfigState> = {}): ConfigState => ({ ...defaultConfig(true), ...over });
const plain = (c: ConfigState) => v1Controllers(c).map((x) => [x.name, x.writes]);

beforeAll(() => log.configure({ level: 'FATAL' }));

describe('v1 paths and writes', () => {
  it("builds nsjail's <mount>/<parent>/NSJAIL.<pid>", () => {
    const [mem] = v1Controllers(cfg({ cgroup_mem_max: 1n }));
    expect(v1JailDir(mem!, 1234)).toBe('/sys/fs/cgroup/memory/NSJAIL/NSJAIL.1234');
    expect(v1ParentDir(mem!)).toBe('/sys/fs/cgroup/memory/NSJAIL');
    const [pids] = v1Controllers(cfg({ cgroup_pids_max: 1n, cgroup_pids_mount: '/cg/pids', cgroup_pids_parent: 'a/b' }));
    expect(v1JailDir(pids!, 7)).toBe('/cg/pids/a/b/NSJAIL.7');
  });

  it.each<[string, Partial<ConfigState>, unknown]>([
    ['nothing', {}, []],
    ['memory', { cgroup_mem_max: 64n }, [['memory', [['memory.oom_control', '0'], ['memory.limit_in_bytes', '64']]]]],
    ['memsw', { cgroup_mem_max: 64n, cgroup_mem_memsw_max: 96n }, [['memory', [['memory.oom_control', '0'], ['memory.limit_in_bytes', '64'], ['memory.memsw.limit_in_bytes', '96']]]]],
    ['swap becomes memsw = mem + swap', { cgroup_mem_max: 64n, cgroup_mem_swap_max: 0n }, [['memory', [['memory.oom_control', '0'], ['memory.limit_in_bytes', '64'], ['memory.memsw.limit_in_bytes', '64']]]]],
    ['pids', { cgroup_pids_max: 5n }, [['pids', [['pids.max', '5']]]]],
    ['net_cls as 0x hex', { cgroup_net_cls_classid: 0x100001 }, [['net_cls', [['net_cls.classid', '0x100001']]]]],
    ['cpu: period, then quota', { cgroup_cpu_ms_per_sec: 250 }, [['cpu', [['cpu.cfs_period_us', '1000000'], ['cpu.cfs_quota_us', '250000']]]]],
  ])('%s', (_, over, want) => {
    expect(plain(cfg(over))).toEqual(want);
  });

  it('refuses a swap limit without a memory limit (memsw may not be below limit_in_bytes)', () => {
    expect(() => v1Controllers(cfg({ cgroup_mem_swap_max: 10n }))).toThrow(/set --cgroup_mem_max too/);
  });
});

describe('v1 against a scratch tree', () => {
  let t: FakeTree;
  beforeEach(() => {
    t = new FakeTree();
    for (const m of ['memory', 'pids', 'cpu']) t.v1Mount(m);
  });
  afterEach(() => t.cleanup());

  const mounts = (t: FakeTree): Partial<ConfigState> => ({
    cgroup_mem_mount: join(t.root, 'memory'),
    cgroup_pids_mount: join(t.root, 'pids'),
    cgroup_cpu_mount: join(t.root, 'cpu'),
    cgroup_net_cls_mount: join(t.root, 'net_cls'),
  });

  it('creates a missing parent, limits, then adds the pid to tasks', () => {
    const c = cfg({ ...mounts(t), cgroup_mem_max: 1000n, cgroup_pids_max: 3n, cgroup_cpu_ms_per_sec: 10, cgroup_mem_parent: 'NSJAIL/deep' });
    const created: string[] = [];
    setupV1Jail(t.host, v1Controllers(c), 55, (d) => created.push(d.slice(t.root.length)));
    expect(created).toEqual(['/memory/NSJAIL/deep/NSJAIL.55', '/pids/NSJAIL/NSJAIL.55', '/cpu/NSJAIL/NSJAIL.55']);
    expect(t.writes).toEqual([
      ['/memory/NSJAIL/deep/NSJAIL.55/memory.oom_control', '0'],
      ['/memory/NSJAIL/deep/NSJAIL.55/memory.limit_in_bytes', '1000'],
      ['/memory/NSJAIL/deep/NSJAIL.55/tasks', '55'],
      ['/pids/NSJAIL/NSJAIL.55/pids.max', '3'],
      ['/pids/NSJAIL/NSJAIL.55/tasks', '55'],
      ['/cpu/NSJAIL/NSJAIL.55/cpu.cfs_period_us', '1000000'],
      ['/cpu/NSJAIL/NSJAIL.55/cpu.cfs_quota_us', '10000'],
      ['/cpu/NSJAIL/NSJAIL.55/tasks', '55'],
    ]);
    expect(t.procs(join(t.root, 'pids/NSJAIL/NSJAIL.55'))).toEqual([55]);
    expect(t.procs(join(t.root, 'memory/NSJAIL/deep/NSJAIL.55'))).toEqual([55]);
  });

  it('a failure half-way reports what it created first', () => {
    const created: string[] = [];
    const c = cfg({ ...mounts(t), cgroup_mem_max: 1n, cgroup_net_cls_classid: 1 });
    expect(() => setupV1Jail(t.host, v1Controllers(c), 9, (d) => created.push(d))).toThrow(/mkdir\('.*\/net_cls\/NSJAIL', 0700\): ENOENT/);
    expect(created).toEqual([join(t.root, 'memory/NSJAIL/NSJAIL.9')]);
  });

  it('checks each mount option names a v1 hierarchy of its controller, before any clone', () => {
    const check = (over: Partial<ConfigState>) => () => checkV1Mounts(t.host, v1Controllers(cfg({ ...mounts(t), ...over })));
    expect(check({ cgroup_mem_max: 1n, cgroup_pids_max: 2n, cgroup_cpu_ms_per_sec: 3 })).not.toThrow();
    expect(check({ cgroup_net_cls_classid: 1 })).toThrow(/^no cgroup v1 'net_cls' hierarchy at '.*\/net_cls' \(--cgroup_net_cls_mount\); on a cgroup v2 host/);
    const plain = join(t.root, 'plain');
    mkdirSync(plain);
    expect(check({ cgroup_mem_max: 1n, cgroup_mem_mount: plain })).toThrow(`--cgroup_mem_mount '${plain}' is not a cgroup v1 'memory' hierarchy: it lies on the tmpfs mount at '${t.root}'`);
    expect(check({ cgroup_mem_max: 1n, cgroup_mem_mount: join(t.root, 'pids') })).toThrow(`--cgroup_mem_mount '${join(t.root, 'pids')}' is not a cgroup v1 'memory' hierarchy: it lies on the cgroup v1 hierarchy of pids at '${join(t.root, 'pids')}'`);
    expect(readdirSync(plain)).toEqual([]);
  });

  it('a refused mkdir (rootless) says what would work', () => {
    const host: CgroupHost = {
      ...t.host,
      fs: {
        ...t.host.fs,
        mkdir: (p) => {
          throw new CgroupError(`mkdir('${p}', 0700): EACCES (Permission denied)`, 'EACCES');
        },
      },
    };
    const c = cfg({ ...mounts(t), cgroup_pids_max: 2n });
    expect(() => setupV1Jail(host, v1Controllers(c), 9, () => {})).toThrow(
      new RegExp(`^mkdir\\('${t.root}/pids/NSJAIL', 0700\\): EACCES \\(Permission denied\\) \\(hint: cgroup v1 has no delegation to unprivileged users: run tsjail as root, or have root create '${t.root}/pids/NSJAIL' and chown it`),
    );
  });

  it('reads the peak, the limit and the oom_kill counter', () => {
    const c = cfg({ ...mounts(t), cgroup_mem_max: 4096n });
    setupV1Jail(t.host, v1Controllers(c), 8, () => {});
    const dir = join(t.root, 'memory/NSJAIL/NSJAIL.8');
    t.fs.write(join(dir, 'memory.max_usage_in_bytes'), '4096\n');
    t.fs.write(join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(readV1Usage(t.host, { memory: dir })).toMatchObject({ peakBytes: 4096, memorySource: 'memory.max_usage_in_bytes', oomKills: 2, memoryLimit: 'memory.limit_in_bytes=4096' });
    expect(readFileSync(join(dir, 'memory.limit_in_bytes'), 'utf8')).toBe('4096');
  });
});

describe('mountinfo', () => {
  const info = [
    '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '30 22 0:26 / /sys/fs/cgroup rw shared:9 - tmpfs tmpfs ro,mode=755',
    '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct',
    '36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory',
    '40 22 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw',
    '41 40 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw,size=4k',
  ].join('\n');
  it.each<[string, string, string[]]>([
    ['/sys/fs/cgroup/memory', 'cgroup', ['rw', 'memory']],
    ['/sys/fs/cgroup/memory/NSJAIL', 'cgroup', ['rw', 'memory']],
    ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup', ['rw', 'cpu', 'cpuacct']],
    ['/sys/fs/cgroup/memoryx', 'tmpfs', ['ro', 'mode=755']],
    ['/home/x', 'ext4', ['rw']],
    ['/mnt/with space/d', 'tmpfs', ['rw', 'size=4k']],
  ])('%s lies on %s', (path, fstype, superOptions) => {
    expect(mountOfIn(info, path)).toMatchObject({ fstype, superOptions });
  });
});
