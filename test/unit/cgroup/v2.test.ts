import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { disposeV2, isPureV2, ownV2Path, readV2Usage, setupV2, setupV2Jail, v2Controllers, v2Writes } from '../../../src/cgroup/v2.js';
import { log } from '../../../src/log/logger.js';
import { defaultConfig, type ConfigState } from '../../../src/spec.js';
import { FakeTree } from './fake-tree.js';

function cfg(over: Partial<ConfigState> = {}): ConfigState {
  return { ...defaultConfig(true), use_cgroupv2: true, ...over };
}

beforeAll(() => log.configure({ level: 'FATAL' }));

describe('v2 limit values', () => {
  it.each<[string, Partial<ConfigState>, Array<[string, string]>]>([
    ['memory only', { cgroup_mem_max: 67108864n }, [['memory.max', '67108864']]],
    ['memsw becomes swap = memsw - mem', { cgroup_mem_max: 100n, cgroup_mem_memsw_max: 150n }, [['memory.max', '100'], ['memory.swap.max', '50']]],
    ['swap alone', { cgroup_mem_swap_max: 0n }, [['memory.swap.max', '0']]],
    ['pids', { cgroup_pids_max: 32n }, [['pids.max', '32']]],
    ['cpu ms per second', { cgroup_cpu_ms_per_sec: 250 }, [['cpu.max', '250000 1000000']]],
    [
      "nsjail's order",
      { cgroup_cpu_ms_per_sec: 1, cgroup_pids_max: 2n, cgroup_mem_max: 3n, cgroup_mem_swap_max: 4n },
      [['memory.max', '3'], ['memory.swap.max', '4'], ['pids.max', '2'], ['cpu.max', '1000 1000000']],
    ],
    ['nothing', {}, []],
  ])('%s', (_, over, want) => {
    expect(v2Writes(cfg(over)).map(([, f, v]) => [f, v])).toEqual(want);
  });

  it('needs only the controllers of the limits set', () => {
    expect(v2Controllers(cfg({ cgroup_pids_max: 1n }))).toEqual(['pids']);
    expect(v2Controllers(cfg({ cgroup_mem_max: 1n, cgroup_mem_swap_max: 0n, cgroup_cpu_ms_per_sec: 1 }))).toEqual(['memory', 'cpu']);
  });

  it('reads its own cgroup from /proc/self/cgroup', () => {
    expect(ownV2Path('0::/user.slice/tsjail.scope\n')).toBe('/user.slice/tsjail.scope');
    expect(ownV2Path('4:memory:/x\n0::/\n')).toBe('/');
    expect(isPureV2('0::/a\n')).toBe(true);
    expect(isPureV2('4:memory:/x\n0::/\n')).toBe(false);
  });
});

describe('v2 against a scratch cgroup tree', () => {
  let t: FakeTree;
  beforeEach(() => (t = new FakeTree()));
  afterEach(() => t.cleanup());

  it('enables the controllers at the root, then joins before limiting', () => {
    const c = cfg({ cgroupv2_mount: t.root, cgroup_mem_max: 1048576n, cgroup_pids_max: 8n, cgroup_cpu_ms_per_sec: 100 });
    const st = setupV2(t.host, c);
    expect(st.base).toBe(t.root);
    expect(readFileSync(join(t.root, 'cgroup.subtree_control'), 'utf8').trim()).toBe('memory pids cpu');
    const created: string[] = [];
    const dir = setupV2Jail(t.host, st, c, 777, (d) => created.push(d));
    expect(created).toEqual([join(t.root, 'NSJAIL.777')]);
    expect(t.procs(dir)).toEqual([777]);
    expect(t.writes.filter(([p]) => p.startsWith('/NSJAIL.777'))).toEqual([
      ['/NSJAIL.777/cgroup.procs', '777'],
      ['/NSJAIL.777/memory.max', '1048576'],
      ['/NSJAIL.777/pids.max', '8'],
      ['/NSJAIL.777/cpu.max', '100000 1000000'],
    ]);
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe('1048576');
  });

  it('leaves subtree_control alone when the controllers are on already', () => {
    t.enable('', 'memory');
    setupV2(t.host, cfg({ cgroupv2_mount: t.root, cgroup_mem_max: 1n }));
    expect(t.writes).toEqual([]);
  });

  it('nests under its own cgroup when the root is not writable, moving itself to a leaf on EBUSY', () => {
    t.enable('', 'pids');
    const own = t.cgroup('user.slice', [t.host.pid]);
    t.selfCgroup = '0::/user.slice\n';
    t.unwritable.add(t.root);
    const st = setupV2(t.host, cfg({ cgroupv2_mount: t.root, cgroup_pids_max: 4n }));
    expect(st.base).toBe(own);
    const leaf = join(own, `NSJAIL_SELF.${t.host.pid}`);
    expect(st.selfLeaf).toBe(leaf);
    expect(t.procs(leaf)).toEqual([t.host.pid]);
    expect(t.procs(own)).toEqual([]);
    expect(readFileSync(join(own, 'cgroup.subtree_control'), 'utf8').trim()).toBe('pids');
    expect(readFileSync(join(t.root, 'cgroup.subtree_control'), 'utf8').trim()).toBe('pids');
    const dir = setupV2Jail(t.host, st, cfg({ cgroup_pids_max: 4n }), 99, () => {});
    expect(dir).toBe(join(own, 'NSJAIL.99'));
    expect(readFileSync(join(dir, 'pids.max'), 'utf8')).toBe('4');
    // Moving back is refused while user.slice gives its children controllers: the leaf stays for the next start.
    disposeV2(t.host, st);
    expect(st.selfLeaf).toBe(leaf);
  });

  it('moves back and removes its leaf when the parent allows it again', () => {
    const own = t.cgroup('svc', [t.host.pid]);
    t.selfCgroup = '0::/svc\n';
    t.unwritable.add(t.root);
    const st = { mount: t.root, base: own, own, enabled: [], selfLeaf: t.cgroup('svc/NSJAIL_SELF.4242') };
    t.fs.write(join(st.selfLeaf, 'cgroup.procs'), '0');
    disposeV2(t.host, st);
    expect(st.selfLeaf).toBeUndefined();
    expect(t.procs(own)).toEqual([t.host.pid]);
    expect(t.fs.exists(join(own, 'NSJAIL_SELF.4242'))).toBe(false);
  });

  it('names a controller the parent does not offer', () => {
    const t2 = new FakeTree(['hugetlb']);
    try {
      expect(() => setupV2(t2.host, cfg({ cgroupv2_mount: t2.root, cgroup_mem_max: 1n }))).toThrow(/controller\(s\) 'memory' not available in '.*' \(cgroup.controllers: 'hugetlb'\)/);
    } finally {
      t2.cleanup();
    }
  });

  it('refuses a mount that is not cgroup2', () => {
    expect(() => setupV2(t.host, cfg({ cgroupv2_mount: '/tmp' }))).toThrow("'/tmp' is not a cgroup2 filesystem");
  });

  it('refuses EBUSY caused by processes that are not its own, and moves back', () => {
    t.enable('', 'pids');
    const base = t.cgroup('b', [1234, t.host.pid]);
    t.selfCgroup = '0::/b\n';
    t.unwritable.add(t.root);
    expect(() => setupV2(t.host, cfg({ cgroupv2_mount: t.root, cgroup_pids_max: 1n }))).toThrow(
      /write\('.*\/b\/cgroup.subtree_control', '\+pids'\): EBUSY \(processes in '.*\/b': 1234\): cannot enable the 'pids' controller/,
    );
    expect(t.procs(base).sort()).toEqual([1234, t.host.pid].sort());
    expect(t.fs.children(base)).toEqual([]);
  });

  it('reads cpu.stat, memory.peak and the oom_kill counter', () => {
    t.enable('', 'memory');
    const dir = t.cgroup('NSJAIL.5');
    t.fs.write(join(dir, 'cpu.stat'), 'usage_usec 3500\nuser_usec 2500\nsystem_usec 1000\n');
    t.fs.write(join(dir, 'memory.peak'), '4096\n');
    t.fs.write(join(dir, 'memory.max'), '8192\n');
    t.fs.write(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n');
    expect(readV2Usage(t.host, dir)).toEqual({
      userMs: 2.5,
      systemMs: 1,
      cpuSource: 'cpu.stat',
      peakBytes: 4096,
      memorySource: 'memory.peak',
      oomKills: 1,
      memoryDir: dir,
      memoryLimit: 'memory.max=8192',
    });
  });

  it('without the memory controller reads CPU only', () => {
    const dir = t.cgroup('NSJAIL.6');
    const u = readV2Usage(t.host, dir);
    expect(u.peakBytes).toBeUndefined();
    expect(u.oomKills).toBe(0);
    expect(u.cpuSource).toBe('cpu.stat');
  });
});
