import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accountFromUsage, accountingLine } from '../../../src/cgroup/accounting.js';
import { chooseVersion, setupCgroupsFromParent } from '../../../src/cgroup/index.js';
import { ownedPid, removeCgroup, removeStale } from '../../../src/cgroup/remove.js';
import { log } from '../../../src/log/logger.js';
import type { Prepared } from '../../../src/prepare.js';
import type { ExitInfo } from '../../../src/proc/supervisor.js';
import { defaultConfig, type ConfigState } from '../../../src/spec.js';
import { FakeTree } from './fake-tree.js';

beforeAll(() => log.configure({ level: 'FATAL' }));
const cfg = (over: Partial<ConfigState> = {}): ConfigState => ({ ...defaultConfig(true), ...over });

describe('version choice', () => {
  const host = (v2: boolean, self: string) => ({ isCgroup2: () => v2, selfCgroupFile: () => self });
  const hybrid = '4:memory:/x\n0::/\n';
  it.each<[string, Partial<ConfigState>, boolean, string, { version: number; detected: boolean }]>([
    ['--use_cgroupv2 forces v2', { use_cgroupv2: true }, false, hybrid, { version: 2, detected: false }],
    ['--detect_cgroupv2 on a cgroup2 mount', { detect_cgroupv2: true }, true, hybrid, { version: 2, detected: true }],
    ['--detect_cgroupv2 elsewhere', { detect_cgroupv2: true }, false, hybrid, { version: 1, detected: true }],
    ['a pure v2 host without flags', {}, true, '0::/user.slice\n', { version: 2, detected: true }],
    ['a hybrid host without flags stays v1', {}, true, hybrid, { version: 1, detected: false }],
  ])('%s', (_, over, v2, self, want) => {
    expect(chooseVersion(cfg(over), host(v2, self))).toEqual(want);
  });
});

describe('removal and stale cgroups', () => {
  let t: FakeTree;
  beforeEach(() => (t = new FakeTree()));
  afterEach(() => t.cleanup());

  it('parses only NSJAIL.<pid> and NSJAIL_SELF.<pid>', () => {
    expect([ownedPid('NSJAIL.12'), ownedPid('NSJAIL_SELF.3'), ownedPid('NSJAIL'), ownedPid('NSJAIL.x'), ownedPid('other.1')]).toEqual([12, 3, undefined, undefined, undefined]);
  });

  it('empties with cgroup.kill, children first, then rmdir', () => {
    const dir = t.cgroup('NSJAIL.10', [10, 11]);
    t.cgroup('NSJAIL.10/sub', [12]);
    removeCgroup(t.host, dir);
    expect(t.fs.exists(dir)).toBe(false);
    expect(t.killed.sort()).toEqual([10, 11, 12]);
    expect(t.writes.map(([p]) => p)).toEqual(['/NSJAIL.10/sub/cgroup.kill', '/NSJAIL.10/cgroup.kill']);
  });

  it('without cgroup.kill (v1) signals every pid', () => {
    t.v1Mount('pids');
    t.fs.mkdir(join(t.root, 'pids/NSJAIL'));
    const dir = join(t.root, 'pids/NSJAIL/NSJAIL.20');
    t.fs.mkdir(dir);
    t.fs.write(join(dir, 'tasks'), '20');
    t.fs.write(join(dir, 'tasks'), '21');
    removeCgroup(t.host, dir);
    expect(t.killed.sort()).toEqual([20, 21]);
    expect(t.fs.exists(dir)).toBe(false);
  });

  it('never kills tsjail itself', () => {
    const dir = t.cgroup('NSJAIL_SELF.1', [t.host.pid]);
    expect(() => removeCgroup(t.host, dir)).toThrow(/holds tsjail itself/);
    expect(t.killed).toEqual([]);
  });

  it('removes the dead, keeps the living and what is not ours', () => {
    t.cgroup('NSJAIL.100');
    t.cgroup('NSJAIL.101', [101]); // alive
    t.cgroup('NSJAIL_SELF.102');
    t.cgroup('NSJAIL.103', [5000]); // named pid dead, a leftover member still running
    t.cgroup('system.slice');
    const removed = removeStale(t.host, t.root).map((d) => d.slice(t.root.length));
    expect(removed.sort()).toEqual(['/NSJAIL.100', '/NSJAIL.103', '/NSJAIL_SELF.102']);
    expect(t.fs.children(t.root).sort()).toEqual(['NSJAIL.101', 'system.slice']);
    expect(t.killed).toEqual([5000]);
  });
});

const exit = (over: Partial<ExitInfo> = {}): ExitInfo => ({
  pid: 42,
  remote: '[STANDALONE MODE]',
  code: 0,
  exitCode: 0,
  wallMs: 1500,
  rusage: { utimeMs: 100, stimeMs: 20, maxRssKiB: 2048 },
  ...over,
});

describe('accounting', () => {
  it('falls back to rusage', () => {
    const a = accountFromUsage(exit());
    expect(a).toMatchObject({ userMs: 100, systemMs: 20, cpuSource: 'rusage', peakMemoryBytes: 2048 * 1024, memorySource: 'rusage', oomKills: 0 });
    expect(a.killCause).toBeUndefined();
  });

  it('prefers the cgroup figures', () => {
    const a = accountFromUsage(exit(), { userMs: 300, systemMs: 40, cpuSource: 'cpu.stat', peakBytes: 999, memorySource: 'memory.peak', oomKills: 0 });
    expect(a).toMatchObject({ userMs: 300, systemMs: 40, cpuSource: 'cpu.stat', peakMemoryBytes: 999, memorySource: 'memory.peak' });
  });

  it.each<[string, Partial<ExitInfo>, number, string | undefined]>([
    ['OOM: SIGKILL with oom_kill raised', { signal: 9, code: 137, exitCode: undefined }, 1, 'oom_kill'],
    ['time limit wins over a coincident OOM count', { signal: 9, code: 137, exitCode: undefined, reason: 'time_limit' }, 1, 'time_limit'],
    ["tsjail's own SIGTERM", { signal: 9, code: 137, exitCode: undefined, reason: 'signal' }, 0, 'tsjail_signal'],
    ['a crash', { signal: 11, code: 139, exitCode: undefined }, 0, 'signal'],
    ['a plain exit after a child was OOM-killed', { exitCode: 1, code: 1 }, 1, undefined],
  ])('%s', (_, over, oomKills, cause) => {
    expect(accountFromUsage(exit(over), { oomKills }).killCause).toBe(cause);
  });

  it('logs one line with every figure', () => {
    const a = accountFromUsage(exit({ signal: 11, code: 139, exitCode: undefined }));
    expect(accountingLine('[STANDALONE MODE]', a)).toBe(
      'pid=42 ([STANDALONE MODE]) wall time: 1.500 s, user time: 0.100 s, system time: 0.020 s (rusage), peak memory: <= 2097152 bytes (rusage), killed by: signal SIGSEGV (11)',
    );
  });
});

describe('hooks on a scratch v2 tree', () => {
  let t: FakeTree;
  beforeEach(() => (t = new FakeTree()));
  afterEach(() => t.cleanup());
  const prepared = (over: Partial<ConfigState>) => ({ cfg: cfg({ cgroupv2_mount: t.root, use_cgroupv2: true, ...over }) }) as unknown as Prepared;

  it('creates before release, reads accounting and removes at exit', () => {
    t.cgroup('NSJAIL.1'); // stale: pid 1 is not alive in the fake
    const h = setupCgroupsFromParent(prepared({ cgroup_mem_max: 4096n }), t.host);
    expect(t.fs.exists(join(t.root, 'NSJAIL.1'))).toBe(false);
    t.alivePids.add(300);
    h.parent.beforeRelease(300);
    const dir = join(t.root, 'NSJAIL.300');
    expect(t.procs(dir)).toEqual([300]);
    t.fs.write(join(dir, 'memory.events'), 'oom_kill 1\n');
    h.onExit(exit({ pid: 300, signal: 9, code: 137, exitCode: undefined }));
    expect(t.fs.exists(dir)).toBe(false);
  });

  it('asks for a child with its own memory only when the jail has a memory limit', () => {
    expect(setupCgroupsFromParent(prepared({ cgroup_mem_max: 4096n }), t.host).parent.privateMemory).toBe(true);
    expect(setupCgroupsFromParent(prepared({ cgroup_mem_swap_max: 0n }), t.host).parent.privateMemory).toBe(true);
    expect(setupCgroupsFromParent(prepared({}), t.host).parent.privateMemory).toBe(false);
  });

  it('undoes a failed launch and leaves nothing at dispose', () => {
    const h = setupCgroupsFromParent(prepared({}), t.host);
    h.parent.beforeRelease(400);
    h.parent.onFailure(400);
    expect(t.fs.exists(join(t.root, 'NSJAIL.400'))).toBe(false);
    h.parent.beforeRelease(401);
    h.dispose();
    expect(t.fs.children(t.root)).toEqual([]);
  });
});

describe('hooks on a scratch v1 tree', () => {
  let t: FakeTree;
  beforeEach(() => {
    t = new FakeTree();
    t.v1Mount('pids');
  });
  afterEach(() => t.cleanup());
  const prepared = (parent: string) => ({ cfg: cfg({ cgroup_pids_mount: join(t.root, 'pids'), cgroup_pids_max: 5n, cgroup_pids_parent: parent }) }) as unknown as Prepared;

  it('removes at the end of the run the parent cgroups it created', () => {
    const h = setupCgroupsFromParent(prepared('A/B'), t.host);
    h.parent.beforeRelease(300);
    expect(t.procs(join(t.root, 'pids/A/B/NSJAIL.300'))).toEqual([300]);
    h.onExit(exit({ pid: 300 }));
    expect(t.fs.exists(join(t.root, 'pids/A/B'))).toBe(true);
    h.dispose();
    expect(t.fs.children(join(t.root, 'pids'))).toEqual([]);
  });

  it('keeps a parent that existed before, or that holds another run\'s jail', () => {
    t.fs.mkdir(join(t.root, 'pids/A'));
    const h = setupCgroupsFromParent(prepared('A/B'), t.host);
    h.parent.beforeRelease(301);
    t.cgroup('pids/A/B/NSJAIL.999', [999]); // another tsjail's, alive
    h.onExit(exit({ pid: 301 }));
    h.dispose();
    expect(t.fs.children(join(t.root, 'pids/A/B'))).toEqual(['NSJAIL.999']);
    t.host.kill(999);
    // The next run finds A/B there: it removes the stale jail cgroup, not the parent.
    setupCgroupsFromParent(prepared('A/B'), t.host).dispose();
    expect(t.fs.children(join(t.root, 'pids/A/B'))).toEqual([]);
  });
});
