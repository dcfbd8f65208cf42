/** Tracking a jail without a pid namespace: a limit-free cgroup per jail, emptied at its exit, or a warning. */
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { setupTracking } from '../../../src/cgroup/track.js';
import { log } from '../../../src/log/logger.js';
import type { Prepared } from '../../../src/prepare.js';
import type { ExitInfo } from '../../../src/proc/supervisor.js';
import { defaultConfig, type ConfigState } from '../../../src/spec.js';
import { FakeTree } from './fake-tree.js';

beforeAll(() => log.configure({ level: 'FATAL' }));
const prepared = (over: Partial<ConfigState>) => ({ cfg: { ...defaultConfig(true), clone_newpid: false, ...over } }) as unknown as Prepared;
const exit = (pid: number) => ({ pid, remote: '[STANDALONE MODE]', code: 137, signal: 9, wallMs: 1, rusage: { utimeMs: 0, stimeMs: 0, maxRssKiB: 0 } }) as unknown as ExitInfo;

describe('tracking cgroups', () => {
  let t: FakeTree;
  beforeEach(() => (t = new FakeTree([])));
  afterEach(() => t.cleanup());

  it('v2: joins the jail, and its exit kills what it left running and removes the cgroup', () => {
    const h = setupTracking(prepared({ cgroupv2_mount: t.root }), t.host)!;
    expect(h.where).toBe(t.root);
    t.alivePids.add(300);
    h.parent.beforeRelease(300);
    const dir = join(t.root, 'NSJAIL.300');
    expect(t.procs(dir)).toEqual([300]);
    t.fs.write(join(dir, 'cgroup.procs'), '301'); // a daemon the program started
    h.onExit(exit(300));
    expect(t.killed).toContain(301);
    expect(t.fs.exists(dir)).toBe(false);
    // no controller was enabled for it
    expect(t.writes.some(([f]) => f.endsWith('subtree_control'))).toBe(false);
  });

  it('v1: the pids hierarchy when there is no usable cgroup2 mount', () => {
    const pids = t.v1Mount('pids');
    const host = { ...t.host, isCgroup2: () => false };
    const h = setupTracking(prepared({ cgroupv2_mount: t.root, cgroup_pids_mount: pids }), host)!;
    expect(h.where).toBe(join(pids, 'NSJAIL'));
    h.parent.beforeRelease(500);
    expect(t.procs(join(pids, 'NSJAIL', 'NSJAIL.500'))).toEqual([500]);
    h.onExit(exit(500));
    expect(t.fs.exists(join(pids, 'NSJAIL', 'NSJAIL.500'))).toBe(false);
  });

  it('no hierarchy at all: a warning at start, nothing tracked', () => {
    const warn = vi.spyOn(log, 'warn').mockImplementation(() => undefined);
    const host = { ...t.host, isCgroup2: () => false };
    expect(setupTracking(prepared({ cgroupv2_mount: t.root, cgroup_pids_mount: join(t.root, 'nopids') }), host)).toBeUndefined();
    expect(warn.mock.calls[0]![0]).toMatch(/^--disable_clone_newpid without a cgroup: processes the program leaves running \(daemons\) outlive the jail and its time limit/);
    warn.mockRestore();
  });
});
