/** The Landlock ABI table and the best-effort downgrade, for every ABI: no kernel needed. */
import { describe, expect, it } from 'vitest';
import {
  ABIS,
  ABI_STEPS,
  downgrade,
  FS_FILE_RIGHTS,
  NEWEST_ABI,
  statusText,
  type EnforcementStatus,
  type LandlockRequest,
} from '../../../src/landlock/abi.js';

// go-landlock's abiInfos, written out: the table must not drift from the kernel's.
const FS = [0n, 0x1fffn, 0x3fffn, 0x7fffn, 0x7fffn, 0xffffn, 0xffffn, 0xffffn, 0xffffn];
const NET = [0n, 0n, 0n, 0n, 3n, 3n, 3n, 3n, 3n];
const SCOPED = [0n, 0n, 0n, 0n, 0n, 0n, 3n, 3n, 3n];
const RESTRICT_FLAGS = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 7n, 15n];

const EXECUTE = 1n;
const WRITE_FILE = 2n;
const READ_FILE = 4n;
const READ_DIR = 8n;
const REFER = 1n << 13n;
const TRUNCATE = 1n << 14n;
const IOCTL_DEV = 1n << 15n;
const BIND_TCP = 1n;
const CONNECT_TCP = 2n;

const req = (r: Partial<LandlockRequest>): LandlockRequest => ({ paths: [], bindTcp: [], connectTcp: [], scopes: [], required: false, ...r });
const FS_REQ = req({
  paths: [
    { path: '/usr', access: 'rx', optional: false },
    { path: '/etc', access: 'ro', optional: false },
    { path: '/tmp', access: 'rw', optional: true },
  ],
});
const NET_REQ = req({ connectTcp: [443], bindTcp: [8080, 443] });
const SCOPE_REQ = req({ scopes: ['abstract_unix', 'signal'] });
const ALL_REQ = req({ paths: FS_REQ.paths, bindTcp: NET_REQ.bindTcp, connectTcp: NET_REQ.connectTcp, scopes: SCOPE_REQ.scopes });

// Kernel ABIs 0..8, and 9 (newer than the table: treated as 8).
const KERNELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const fsOf = (abi: number) => FS[Math.min(abi, NEWEST_ABI)]!;

describe('ABI table', () => {
  it.each(ABIS.map((a) => [a.version, a] as const))('ABI %i matches the kernel headers', (v, a) => {
    expect({ fs: a.fs, net: a.net, scoped: a.scoped, restrictFlags: a.restrictFlags }).toEqual({
      fs: FS[v],
      net: NET[v],
      scoped: SCOPED[v],
      restrictFlags: RESTRICT_FLAGS[v],
    });
  });

  it('each step adds something and names a kernel', () => {
    expect(NEWEST_ABI).toBe(8);
    for (const s of ABI_STEPS) {
      expect(s.fs | s.net | s.scoped | s.restrictFlags).not.toBe(0n);
      expect(s.kernel).toMatch(/^\d+\.\d+$/);
    }
  });
});

describe('downgrade: file system rules', () => {
  const expected: Record<number, { status: EnforcementStatus; dropped: bigint }> = {
    0: { status: 'not_enforced', dropped: FS[8]! & ~REFER },
    1: { status: 'partially_enforced', dropped: TRUNCATE | IOCTL_DEV },
    2: { status: 'partially_enforced', dropped: TRUNCATE | IOCTL_DEV },
    3: { status: 'partially_enforced', dropped: IOCTL_DEV },
    4: { status: 'partially_enforced', dropped: IOCTL_DEV },
    5: { status: 'fully_enforced', dropped: 0n },
    6: { status: 'fully_enforced', dropped: 0n },
    7: { status: 'fully_enforced', dropped: 0n },
    8: { status: 'fully_enforced', dropped: 0n },
    9: { status: 'fully_enforced', dropped: 0n },
  };
  it.each(KERNELS)('kernel ABI %i', (abi) => {
    const d = downgrade(FS_REQ, abi);
    expect(d.status).toBe(expected[abi]!.status);
    expect(d.dropped).toEqual({ fs: expected[abi]!.dropped, net: 0n, scoped: 0n });
    expect(d.neededAbi).toBe(5);
    expect(d.kernelAbi).toBe(abi);
    expect(d.error).toBeUndefined();
    if (abi === 0) {
      expect(d.ruleset).toBeUndefined();
      expect(d.paths).toEqual([]);
      return;
    }
    const fs = fsOf(abi);
    // Everything the kernel knows is handled, so anything not allowed is denied.
    expect(d.ruleset).toEqual({ handled_access_fs: fs, handled_access_net: 0n, scoped: 0n, size: 8 });
    const rw = fs & ~EXECUTE;
    expect(d.paths).toEqual([
      { path: '/usr', kind: 'rx', optional: false, access: READ_FILE | READ_DIR | EXECUTE, fileAccess: READ_FILE | EXECUTE },
      { path: '/etc', kind: 'ro', optional: false, access: READ_FILE | READ_DIR, fileAccess: READ_FILE },
      { path: '/tmp', kind: 'rw', optional: true, access: rw, fileAccess: rw & FS_FILE_RIGHTS },
    ]);
    expect(d.ports).toEqual([]);
    // rw grows with the ABI: refer from 2, truncate from 3, ioctl_dev from 5.
    expect(!!(rw & REFER)).toBe(abi >= 2);
    expect(!!(rw & TRUNCATE)).toBe(abi >= 3);
    expect(!!(rw & IOCTL_DEV)).toBe(abi >= 5);
    expect(d.notes.length).toBe(abi === 1 ? 1 : 0);
  });

  it('on ABI 1, REFER is a note (always denied), not a weaker protection', () => {
    const d = downgrade(FS_REQ, 1);
    expect(d.notes).toEqual(['ABI 1 denies linking and renaming files across directories (REFER needs ABI 2)']);
    expect(d.dropped.fs & REFER).toBe(0n);
  });

  it('a file rule keeps only file rights', () => {
    const d = downgrade(FS_REQ, 7);
    for (const p of d.paths) expect(p.fileAccess & ~FS_FILE_RIGHTS).toBe(0n);
    expect(d.paths[2]!.fileAccess).toBe(WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV);
  });
});

describe('downgrade: network rules', () => {
  it.each(KERNELS)('kernel ABI %i', (abi) => {
    const d = downgrade(NET_REQ, abi);
    expect(d.neededAbi).toBe(4);
    if (abi < 4) {
      expect(d.status).toBe('not_enforced');
      expect(d.dropped).toEqual({ fs: 0n, net: BIND_TCP | CONNECT_TCP, scoped: 0n });
      expect(d.ruleset).toBeUndefined();
      expect(d.ports).toEqual([]);
      return;
    }
    expect(d.status).toBe('fully_enforced');
    // No path rule asked: the file system stays unrestricted.
    expect(d.ruleset).toEqual({ handled_access_fs: 0n, handled_access_net: BIND_TCP | CONNECT_TCP, scoped: 0n, size: 16 });
    expect(d.ports).toEqual([
      { port: 8080, access: BIND_TCP },
      { port: 443, access: BIND_TCP | CONNECT_TCP },
    ]);
  });

  it('handles only the kinds that have ports', () => {
    const d = downgrade(req({ connectTcp: [443] }), 7);
    expect(d.ruleset?.handled_access_net).toBe(CONNECT_TCP);
    expect(d.ports).toEqual([{ port: 443, access: CONNECT_TCP }]);
  });
});

describe('downgrade: scopes', () => {
  it.each(KERNELS)('kernel ABI %i', (abi) => {
    const d = downgrade(SCOPE_REQ, abi);
    expect(d.neededAbi).toBe(6);
    expect(d.status).toBe(abi >= 6 ? 'fully_enforced' : 'not_enforced');
    expect(d.ruleset).toEqual(abi >= 6 ? { handled_access_fs: 0n, handled_access_net: 0n, scoped: 3n, size: 24 } : undefined);
  });

  it('one scope alone', () => {
    expect(downgrade(req({ scopes: ['signal'] }), 6).ruleset?.scoped).toBe(2n);
  });
});

describe('downgrade: everything together', () => {
  const expected: Record<number, { status: EnforcementStatus; dropped: { fs: bigint; net: bigint; scoped: bigint }; size?: number }> = {
    0: { status: 'not_enforced', dropped: { fs: FS[8]! & ~REFER, net: 3n, scoped: 3n } },
    1: { status: 'partially_enforced', dropped: { fs: TRUNCATE | IOCTL_DEV, net: 3n, scoped: 3n }, size: 8 },
    2: { status: 'partially_enforced', dropped: { fs: TRUNCATE | IOCTL_DEV, net: 3n, scoped: 3n }, size: 8 },
    3: { status: 'partially_enforced', dropped: { fs: IOCTL_DEV, net: 3n, scoped: 3n }, size: 8 },
    4: { status: 'partially_enforced', dropped: { fs: IOCTL_DEV, net: 0n, scoped: 3n }, size: 16 },
    5: { status: 'partially_enforced', dropped: { fs: 0n, net: 0n, scoped: 3n }, size: 16 },
    6: { status: 'fully_enforced', dropped: { fs: 0n, net: 0n, scoped: 0n }, size: 24 },
    7: { status: 'fully_enforced', dropped: { fs: 0n, net: 0n, scoped: 0n }, size: 24 },
    8: { status: 'fully_enforced', dropped: { fs: 0n, net: 0n, scoped: 0n }, size: 24 },
    9: { status: 'fully_enforced', dropped: { fs: 0n, net: 0n, scoped: 0n }, size: 24 },
  };
  it.each(KERNELS)('kernel ABI %i, best effort', (abi) => {
    const d = downgrade(ALL_REQ, abi);
    const e = expected[abi]!;
    expect(d.neededAbi).toBe(6);
    expect(d.status).toBe(e.status);
    expect(d.dropped).toEqual(e.dropped);
    expect(d.ruleset?.size).toBe(e.size);
    expect(d.ports.length).toBe(abi >= 4 ? 2 : 0);
    expect(d.error).toBeUndefined();
    // Never silently weaker: anything dropped shows in the status line.
    if (e.status !== 'fully_enforced') expect(statusText(d)).toMatch(/the kernel (cannot restrict|has no Landlock)/);
  });

  it.each(KERNELS)('kernel ABI %i, required', (abi) => {
    const d = downgrade({ ...ALL_REQ, required: true }, abi);
    if (abi >= 6) expect(d.error).toBeUndefined();
    else expect(d.error).toMatch(new RegExp(`^Landlock cannot enforce every rule asked for \\(--landlock_required\\): kernel ABI ${abi}, rules need ABI 6; `));
  });

  it('names what the kernel cannot restrict', () => {
    expect(downgrade({ ...ALL_REQ, required: true }, 3).error).toBe(
      'Landlock cannot enforce every rule asked for (--landlock_required): kernel ABI 3, rules need ABI 6; the kernel cannot restrict IOCTL_DEV, BIND_TCP, CONNECT_TCP, scope ABSTRACT_UNIX_SOCKET, SIGNAL',
    );
    expect(downgrade({ ...ALL_REQ, required: true }, 0).error).toMatch(/kernel ABI 0, rules need ABI 6; the kernel has no Landlock$/);
  });
});

describe('statusText', () => {
  it.each([
    [FS_REQ, 7, 'Landlock: fully enforced (kernel ABI 7, rules need ABI 5)'],
    [FS_REQ, 3, 'Landlock: partially enforced (kernel ABI 3, rules need ABI 5): the kernel cannot restrict IOCTL_DEV'],
    [NET_REQ, 3, 'Landlock: not enforced (kernel ABI 3, rules need ABI 4): the kernel cannot restrict BIND_TCP, CONNECT_TCP'],
    [FS_REQ, 0, 'Landlock: not enforced (kernel ABI 0, rules need ABI 5): the kernel has no Landlock'],
  ] as const)('%#', (r, abi, text) => {
    expect(statusText(downgrade(r, abi))).toBe(text);
  });

  it('uses the probe reason when given', () => {
    expect(statusText(downgrade(FS_REQ, 0), 'landlock is not supported by the kernel or not enabled at boot')).toBe(
      'Landlock: not enforced (kernel ABI 0, rules need ABI 5): landlock is not supported by the kernel or not enabled at boot',
    );
  });
});

describe('nothing asked', () => {
  it('needs no ABI and is no error even when required', () => {
    const d = downgrade(req({ required: true }), 0);
    expect(d.neededAbi).toBe(0);
    expect(d.error).toBeUndefined();
  });
});
