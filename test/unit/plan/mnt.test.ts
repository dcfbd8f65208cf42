/** The mount plan as data: exact op lists for small specs, option splitting, nsjail's Mount lines. */
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { flagsToStr, MS_FLAGS as MS_TABLE } from '../../../src/linux/consts.js';
import { newContext } from '../../../src/phases/context.js';
import { planMounts } from '../../../src/phases/mnt.js';
import { describeFailure } from '../../../src/plan/describe.js';
import type { Arg, ChildOp } from '../../../src/plan/ops.js';
import { mountLogLine, pickWorkBase, plantedLink, prepare, prepareMount, splitMountOptions, type PreparedMount } from '../../../src/prepare.js';
import { FAKE_HOST } from '../helpers/host.js';
import type { MountPt } from '../../../src/spec.js';
import { defaultMount } from '../../../src/spec.js';

const host = { ...FAKE_HOST, uid: 0, gid: 0 };

const arg = (a: Arg): string => {
  switch (a.t) {
    case 'str':
      return JSON.stringify(a.v);
    case 'int':
      return a.bits ? flagsToStr(a.v, a.bits) : String(a.v);
    case 'slot':
      return `$${a.slot}`;
    case 'null':
      return 'NULL';
    case 'bytes':
      return a.label;
    default:
      return a.t;
  }
};

/** `kind(args) >$save ?$cond soft`: every argument, so paths and flags are asserted exactly. */
const raw_ = (o: ChildOp): string => raw(o);
const raw = (o: ChildOp) =>
  `${o.kind}(${o.args.map(arg).join(', ')})${o.save !== undefined ? ` >$${o.save}` : ''}${o.cond !== undefined ? ` ?$${o.cond}` : ''}${o.soft ? ' soft' : ''}`;

async function plan(args: string[]) {
  const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
  const p = { ...prepare(spec, host), workBase: '/tmp' };
  const ops = planMounts(p, newContext({ errFd: 3 }));
  return { p, ops, raw: ops.map(raw) };
}

const mp = (m: Partial<MountPt> & { dst: string }): MountPt => ({ ...defaultMount(), ...m });

const prepared = (m: MountPt): PreparedMount => {
  const p = prepareMount(m);
  if ('skip' in p) throw new Error(p.skip);
  return p;
};

const PROLOGUE = [
  'mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)',
  'mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID|MS_NODEV, "mode=0700")',
  'chdir("/tmp")',
  'mkdirat(-100, "oldroot", 448)',
  'mkdirat(-100, "newroot", 493)',
  'mkdirat(-100, "files", 448)',
  'pivot_root(".", "oldroot")',
  'chdir("/")',
  'mount("tmpfs", "/newroot", "tmpfs", 0, "size=16777216,mode=0755")',
  'openat(-100, "/newroot", O_DIRECTORY|O_CLOEXEC|O_PATH, 0) >$1',
  'openat(-100, "/", O_DIRECTORY|O_CLOEXEC|O_PATH, 0) >$0',
];
const BACK = ['fchdir($0)', 'chroot(".")'];
/** A bind source the parent did not pin: opened without following symlinks, cloned through the fd, the clone put in its place. */
const byPath = (src: string, soft = '') => [
  `openat2(-100, "${src}", {O_PATH|O_CLOEXEC, RESOLVE_NO_SYMLINKS}, 24) >$2${soft}`,
  'open_tree($2, "", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH|AT_RECURSIVE) >$3 ?$2',
  'dup3($3, $2, O_CLOEXEC) ?$2',
  'close($3) ?$2',
];
const SWITCH = ['close($0) ?$0', 'chdir("/newroot")', 'pivot_root(".", ".")', 'umount2(".", 2)', 'chdir("/")'];
const ROOT_RO = ['mount_setattr($1, "", AT_EMPTY_PATH, set:MOUNT_ATTR_RDONLY, 32) ?$1', 'close($1) ?$1'];

describe('planMounts: the exact op list', () => {
  it('default root: a read-only bind, a tmpfs, read-only root last, then pivot and detach', async () => {
    const { raw } = await plan(['-R', '/usr:/u', '-T', '/t', '--disable_proc']);
    expect(raw).toEqual([
      ...PROLOGUE,
      // the bind: a clone of the host dir, read-only before it is attached
      ...byPath('/oldroot/usr'),
      'mount_setattr($2, "", AT_EMPTY_PATH|AT_RECURSIVE, set:MOUNT_ATTR_RDONLY|MOUNT_ATTR_NODEV, 32) ?$2',
      'chroot("/newroot") ?$2',
      'chdir("/") ?$2',
      'mkdirat(-100, "/u", 493) ?$2',
      'move_mount($2, "", -100, "/u", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2',
      ...BACK,
      'close($2) ?$2',
      // the tmpfs: mounted on a stage with the host as root, then moved in
      'mkdirat(-100, "/files/mnt.1", 493)',
      'chdir("/files/mnt.1")',
      'chroot("/oldroot")',
      'mount("none", ".", "tmpfs", 0, "size=4194304") >$2',
      ...BACK,
      'openat(-100, "/files/mnt.1", O_DIRECTORY|O_CLOEXEC|O_PATH, 0) >$2 ?$2',
      'chroot("/newroot") ?$2',
      'chdir("/") ?$2',
      'mkdirat(-100, "/t", 493) ?$2',
      'move_mount($2, "", -100, "/t", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2',
      ...BACK,
      'close($2) ?$2',
      ...ROOT_RO,
      ...SWITCH,
      'chdir("/")',
    ]);
  });

  it('--chroot --rw: one writable bind on /, no read-only root, /proc nosuid,nodev,noexec and read-only', async () => {
    const { raw } = await plan(['--chroot', '/usr', '--rw']);
    expect(raw).toEqual([
      ...PROLOGUE,
      ...byPath('/oldroot/usr'),
      'mount_setattr($2, "", AT_EMPTY_PATH|AT_RECURSIVE, set:MOUNT_ATTR_NODEV, 32) ?$2',
      'chroot("/newroot") ?$2',
      'chdir("/") ?$2',
      'move_mount($2, "", -100, "/", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2',
      ...BACK,
      'close($2) ?$2',
      'mkdirat(-100, "/files/mnt.1", 493)',
      'chdir("/files/mnt.1")',
      'chroot("/oldroot")',
      'mount("none", ".", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) >$2',
      ...BACK,
      'openat(-100, "/files/mnt.1", O_DIRECTORY|O_CLOEXEC|O_PATH, 0) >$2 ?$2',
      'mount_setattr($2, "", AT_EMPTY_PATH, set:MOUNT_ATTR_RDONLY, 32) ?$2',
      'chroot("/newroot") ?$2',
      'chdir("/") ?$2',
      'mkdirat(-100, "/proc", 493) ?$2',
      'move_mount($2, "", -100, "/proc", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2',
      ...BACK,
      'close($2) ?$2',
      'close($1) ?$1',
      ...SWITCH,
      'chdir("/")',
    ]);
  });

  it('a read-only tmpfs stays writable until every mount point exists, through its own fd', async () => {
    const { raw } = await plan(['-m', 'none:/a:tmpfs:ro,nosuid,size=8m', '-T', '/a/b', '--disable_proc']);
    expect(raw).toContain('mount("none", ".", "tmpfs", MS_NOSUID, "size=8m") >$4');
    expect(raw).not.toContain('close($4) ?$4\nmkdirat');
    const ro = raw.indexOf('mount_setattr($4, "", AT_EMPTY_PATH, set:MOUNT_ATTR_RDONLY, 32) ?$4');
    expect(ro).toBeGreaterThan(raw.indexOf('mkdirat(-100, "/a/b", 493) ?$2'));
    expect(ro).toBeLessThan(raw.indexOf('pivot_root(".", ".")'));
  });

  it('parents, file targets and symlinks are made inside the chroot of the new root', async () => {
    const { raw } = await plan(['-R', '/etc/hostname:/x/y/hn', '-s', '/proc/self/fd:/dev/fd', '--disable_proc']);
    const inRoot = raw.slice(raw.indexOf('chroot("/newroot") ?$2'));
    expect(inRoot.slice(0, 6)).toEqual([
      'chroot("/newroot") ?$2',
      'chdir("/") ?$2',
      'mkdirat(-100, "/x", 493) ?$2',
      'mkdirat(-100, "/x/y", 493) ?$2',
      'mknodat(-100, "/x/y/hn", 33188, 0) ?$2',
      'move_mount($2, "", -100, "/x/y/hn", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2',
    ]);
    const link = raw.indexOf('symlinkat("/proc/self/fd", -100, "/dev/fd")');
    expect(raw.slice(link - 3, link + 3)).toEqual(['chroot("/newroot")', 'chdir("/")', 'mkdirat(-100, "/dev", 493)', 'symlinkat("/proc/self/fd", -100, "/dev/fd")', ...BACK]);
  });

  it('-try binds: only the source is soft, and nothing else runs when it is missing', async () => {
    const { raw } = await plan(['--bindmount_ro_try', '/nonexistent:/x', '--disable_proc']);
    expect(raw.join('\n')).toContain(byPath('/oldroot/nonexistent', ' soft').join('\n'));
    // flags that protect are never soft: a failure there fails the jail
    expect(raw).toContain('mount_setattr($2, "", AT_EMPTY_PATH|AT_RECURSIVE, set:MOUNT_ATTR_RDONLY|MOUNT_ATTR_NODEV, 32) ?$2');
    expect(raw).toContain('move_mount($2, "", -100, "/x", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2 soft');
  });

  it('binds are nodev unless devices are asked for; a host root gets a read-only minimal /dev', async () => {
    const kinds = async (args: string[]) => (await plan([...args, '--disable_proc'])).p.mounts.map((m) => `${m.kind}:${m.dst}:${m.nodev ? 'nodev' : 'dev'}${m.readonly ? ':ro' : ''}`);
    expect(await kinds(['--chroot', '/', '-R', '/etc:/e', '--dev_bind', '/usr:/u', '-B', '/srv:/s:dev', '-R', '/dev/null'])).toEqual([
      'bind:/:nodev:ro',
      'dev:/dev:nodev:ro',
      'bind:/e:nodev:ro',
      'bind:/u:dev',
      'bind:/s:dev',
      'bind:/dev/null:dev:ro',
    ]);
    // asked for a /dev of its own, or no /dev in the root: nothing added
    expect(await kinds(['--chroot', '/', '--mount_dev'])).toEqual(['bind:/:nodev:ro', 'dev:/dev:dev']);
    expect(await kinds(['--chroot', '/', '-m', 'none:/dev:tmpfs'])).toEqual(['bind:/:nodev:ro', 'fs:/dev:dev']);
    expect(await kinds(['--chroot', '/usr'])).toEqual(['bind:/:nodev:ro']);
    const { raw } = await plan(['--chroot', '/', '--disable_proc']);
    const ro = raw.indexOf('mount_setattr($4, "", AT_EMPTY_PATH, set:MOUNT_ATTR_RDONLY, 32) ?$4');
    expect(ro).toBeGreaterThan(raw.indexOf('move_mount($4, "", -100, "/dev", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$4'));
  });

  it('a pinned bind source: the clone tsjail put at a fixed descriptor, taken into the entry slot', async () => {
    const { spec } = await parseCommandLine(['-R', '/usr:/u', '--disable_proc', '--', '/bin/true']);
    const p = { ...prepare(spec, host), workBase: '/tmp', pins: { fds: [77], arm: () => () => undefined } };
    const raw = planMounts(p, newContext({ errFd: 3 })).map(raw_);
    expect(raw.slice(PROLOGUE.length, PROLOGUE.length + 3)).toEqual([
      'fcntl(77, 1030, 0) >$2',
      'close(77)',
      'mount_setattr($2, "", AT_EMPTY_PATH|AT_RECURSIVE, set:MOUNT_ATTR_RDONLY|MOUNT_ATTR_NODEV, 32) ?$2',
    ]);
    expect(raw.some((o) => o.startsWith('openat2') || o.startsWith('open_tree'))).toBe(false);
  });

  it('src_content: a private file, cloned read-only and attached as a file', async () => {
    const { ops } = await plan(['--disable_proc']);
    const { spec } = await parseCommandLine(['--disable_proc', '--', '/bin/true']);
    spec.cfg.mount.push(mp({ dst: '/etc/motd', src_content: new TextEncoder().encode('hi\n') }));
    const p = { ...prepare(spec, host), workBase: '/tmp' };
    const r = planMounts(p, newContext({ errFd: 3 })).map(raw);
    expect(r.length).toBeGreaterThan(ops.length);
    expect(r).toContain('openat(-100, "/files/content.0", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 420) >$2');
    expect(r).toContain('write($2, <3 bytes>, 3)');
    expect(r).toContain('open_tree(-100, "/files/content.0", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC) >$2');
    expect(r).toContain('mount_setattr($2, "", AT_EMPTY_PATH, set:MOUNT_ATTR_RDONLY, 32) ?$2');
    expect(r).toContain('mknodat(-100, "/etc/motd", 33188, 0) ?$2');
  });

  it('--mount_dev: the promised entries, device binds from the host', async () => {
    const { raw } = await plan(['--mount_dev', '--disable_proc']);
    const made = raw.filter((r) => /^(mknodat|symlinkat|mkdirat)\(.*"\/files\/dev\.0\//.test(r)).map((r) => r.match(/\/files\/dev\.0\/(\w+)/)![1]);
    expect(made.sort()).toEqual(['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    expect(raw).toContain('mount("/oldroot/dev/null", "/files/dev.0/null", NULL, MS_BIND, NULL) ?$2 soft');
    expect(raw).toContain('mount("devpts", "/files/dev.0/pts", "devpts", MS_NOSUID|MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620") ?$2 soft');
  });

  it('--tmp_overlay: lower is the host dir, upper and work in a private tmpfs', async () => {
    const { raw } = await plan(['--tmp_overlay', '/usr', '--disable_proc']);
    expect(raw).toContain('mount("overlay", "/files/overlay.0/mnt", "overlay", 0, "lowerdir=/oldroot/usr,upperdir=/files/overlay.0/upper,workdir=/files/overlay.0/work,userxattr") >$2');
  });

  it('--no_pivotroot: work paths on the host, MS_MOVE and chroot at the end', async () => {
    const { raw } = await plan(['--no_pivotroot', '-R', '/usr', '--disable_proc']);
    expect(raw).not.toContain('pivot_root(".", "oldroot")');
    expect(raw).toContain(byPath('/usr')[0]);
    expect(raw).toContain('chroot("/tmp/newroot") ?$2');
    expect(raw.slice(-6)).toEqual(['close($0) ?$0', 'chdir("/tmp/newroot")', 'mount(".", "/", NULL, MS_MOVE, NULL)', 'chroot(".")', 'chdir("/")', 'chdir("/")']);
  });

  it('--no_pivotroot: the copy of the work tmpfs that a bind of its ancestor brings along is detached', async () => {
    const { raw } = await plan(['--no_pivotroot', '--chroot', '/', '-B', '/usr:/u', '--disable_proc']);
    const root = raw.indexOf('move_mount($2, "", -100, "/", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS) ?$2');
    expect(root).toBeGreaterThan(0);
    expect(raw.slice(root + 1, root + 6)).toEqual(['fchdir($0) ?$2', 'chroot(".") ?$2', 'chroot("/tmp/newroot") ?$2', 'chdir("/") ?$2', 'umount2("/tmp", 2) ?$2']);
    // Only there: /usr does not hold the work dir.
    expect(raw.filter((o) => o.startsWith('umount2('))).toEqual(['umount2("/tmp", 2) ?$2']);
    // With pivot_root the host is bound from /oldroot, where the work tmpfs is not.
    expect((await plan(['--chroot', '/'])).raw.filter((o) => o.startsWith('umount2("/tmp"'))).toEqual([]);
  });

  it('--disable_clone_newns: only chroot()', async () => {
    const { raw } = await plan(['--disable_clone_newns', '--chroot', '/srv', '-R', '/usr']);
    expect(raw).toEqual(['chroot("/srv")', 'chdir("/")', 'chdir("/")']);
  });

  it('the work root fd is closed before the switch, and every kept fd is closed', async () => {
    const { ops } = await plan(['--chroot', '/', '-m', 'none:/t:tmpfs:ro', '-R', '/usr:/u']);
    const saved = new Set(ops.filter((o) => o.save !== undefined && o.kind !== 'mount').map((o) => o.save!));
    for (const s of saved) expect(ops.some((o) => o.kind === 'close' && o.args[0]!.t === 'slot' && (o.args[0] as { slot: number }).slot === s)).toBe(true);
    const closeWork = ops.findIndex((o) => o.kind === 'close' && (o.args[0] as { slot: number }).slot === 0);
    expect(closeWork).toBeLessThan(ops.findIndex((o) => o.kind === 'pivot_root' && (o.args[1] as { v: string }).v === '.'));
  });
});

describe('errors name the call, the user-facing paths, the flags and the errno', () => {
  it('a missing bind source', async () => {
    const { ops } = await plan(['-R', '/nonexistent:/x']);
    const o = ops.find((x) => x.kind === 'openat2')!;
    expect(describeFailure(o, 2)).toBe(
      "openat2('/nonexistent', O_PATH, RESOLVE_NO_SYMLINKS) for mount('/nonexistent' -> '/x', MS_RDONLY|MS_NODEV|MS_BIND|MS_REC|MS_PRIVATE): ENOENT (No such file or directory)",
    );
    expect(describeFailure(o, 13)).toContain("(hint: the source path needs search permission for the jail's user (try 'chmod o+x' on its directories))");
    expect(describeFailure(o, 40)).toContain('(hint: a symlink appeared in the source path after tsjail resolved it at start, and tsjail does not follow it)');
  });

  it('a filesystem mount, a mount point under a read-only mount, a locked flag', async () => {
    const { ops } = await plan(['-m', 'none:/t:tmpfs:nosuid,size=8m', '--disable_proc']);
    const m = ops.find((x) => x.kind === 'mount' && x.save !== undefined)!;
    expect(describeFailure(m, 19)).toBe("mount('none' -> '/t', type:'tmpfs', MS_NOSUID, data:'size=8m'): ENODEV (No such device)");
    const mk = ops.find((x) => x.kind === 'mkdirat' && (x.args[1] as { v: string }).v === '/t')!;
    expect(describeFailure(mk, 30)).toMatch(/^mkdirat\('\/t'\) for mount\('none' -> '\/t'.*: EROFS \(Read-only file system\) \(hint: the mount point does not exist under a read-only mount, and tsjail creates nothing on the host/);
    const attr = ops.find((x) => x.kind === 'mount_setattr')!;
    expect(describeFailure(attr, 1)).toBe(
      "mount_setattr(set:MOUNT_ATTR_RDONLY) for the root tmpfs '/': EPERM (Operation not permitted) (hint: the mount has locked flags that cannot be changed from inside a user namespace)",
    );
  });
});

describe('splitMountOptions: flags like mount(8), the rest is data', () => {
  it.each([
    ['ro,nosuid,nodev,noexec,size=8m', 'MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC', '0', 'size=8m'],
    ['size=5000000', '0', '0', 'size=5000000'],
    ['mode=0755,noatime,uid=1000', 'MS_NOATIME', '0', 'mode=0755,uid=1000'],
    ['ro,rw', '0', 'MS_RDONLY', ''],
    ['rw,exec', '0', 'MS_RDONLY|MS_NOEXEC', ''],
    ['rbind', 'MS_BIND|MS_REC', '0', ''],
    ['', '0', '0', ''],
  ])('%s', (options, flags, clear, data) => {
    const r = splitMountOptions(options);
    expect([flagsToStr(r.flags, MS_TABLE), flagsToStr(r.clear, MS_TABLE), r.data]).toEqual([flags, clear, data]);
  });

  it('applies them per entry: options may make a mount read-only, or writable again', () => {
    expect(prepared(mp({ dst: '/t', fstype: 'tmpfs', options: 'ro,size=1m', rw: true }))).toMatchObject({ readonly: true, data: 'size=1m', kind: 'fs' });
    expect(prepared(mp({ dst: '/t', fstype: 'tmpfs', options: 'rw' }))).toMatchObject({ readonly: false });
    expect(prepared(mp({ src: '/usr', dst: '/u', options: 'bind,nodev' }))).toMatchObject({ kind: 'bind', nodev: true, readonly: true });
  });
});

describe('mountLogLine: nsjail\'s describeMountPt', () => {
  it.each<[Partial<MountPt> & { dst: string }, string]>([
    [{ src: '/', dst: '/', is_bind: true, is_dir: true }, "Mount: '/' -> '/' type:'' options:'' dir:true"],
    [{ dst: '/proc', fstype: 'proc', is_dir: true }, "Mount: '/proc' type:'proc' options:'' dir:true"],
    [{ src: '/usr', dst: '/usr', is_bind: true }, "Mount: '/usr' -> '/usr' type:'' options:''"],
    [{ src: 'none', dst: '/tmp', fstype: 'tmpfs', options: 'size=8m' }, "Mount: 'none' -> '/tmp' type:'tmpfs' options:'size=8m'"],
    [{ src: '/x', dst: '/x', is_bind: true, mandatory: false, is_dir: false }, "Mount: '/x' -> '/x' type:'' options:'' dir:false mandatory:false"],
    [{ dst: '/etc/motd', src_content: new Uint8Array(12) }, "Mount: '/etc/motd' type:'' options:'' src_content_len:12"],
    [{ src: '/proc/self/fd', dst: '/dev/fd', is_symlink: true }, "Symlink: '/proc/self/fd' -> '/dev/fd' type:'' options:'' symlink:true"],
    [{ src: "/it's", dst: '/a\\b', is_bind: true }, "Mount: '/it\\'s' -> '/a\\\\b' type:'' options:''"],
    [{ prefix_src_env: 'HOME', src: '/x', dst: '/y', is_bind: true }, "Mount: '/x' -> '/y' type:'' options:''"],
  ])('%o', (m, line) => {
    expect(mountLogLine(mp(m))).toBe(line);
  });

  it('the CLI lines as nsjail prints them', async () => {
    const { p } = await plan(['-R', '/usr', '-B', '/srv:/s:nosuid', '-T', '/tmp', '-m', 'none:/m:tmpfs:size=1m', '-s', '/a:/b']);
    expect(p.mounts.map((m) => m.logLine())).toEqual([
      "Mount: '/usr' -> '/usr' type:'' options:''",
      "Mount: '/srv' -> '/s' type:'' options:'nosuid'",
      "Mount: '/tmp' type:'tmpfs' options:'size=4194304' dir:true",
      "Mount: 'none' -> '/m' type:'tmpfs' options:'size=1m'",
      "Symlink: '/a' -> '/b' type:'' options:'' symlink:true",
      "Mount: '/proc' type:'proc' options:'' dir:true",
    ]);
  });
});

describe('prepareMount', () => {
  it('prefix_src_env / prefix_dst_env are prepended; unset warns (non-mandatory) or fails', () => {
    process.env.TSJ_TEST_PREFIX = '/usr';
    expect(prepared(mp({ prefix_src_env: 'TSJ_TEST_PREFIX', src: '/share', prefix_dst_env: 'TSJ_TEST_PREFIX', dst: '/x', is_bind: true }))).toMatchObject({ src: '/usr/share', dst: '/usr/x' });
    delete process.env.TSJ_TEST_PREFIX;
    expect(prepareMount(mp({ prefix_src_env: 'TSJ_TEST_PREFIX', src: '/a', dst: '/b', is_bind: true, mandatory: false }))).toEqual({
      skip: "Environment variable not set: 'TSJ_TEST_PREFIX' (mount '/b')",
    });
    expect(() => prepareMount(mp({ prefix_src_env: 'TSJ_TEST_PREFIX', src: '/a', dst: '/b', is_bind: true }))).toThrow(/Environment variable not set: 'TSJ_TEST_PREFIX'/);
  });

  it('is_dir: present wins; else src_content → file, bind → what the source is, others → dir', () => {
    expect(prepared(mp({ src: '/etc/hostname', dst: '/h', is_bind: true })).isDir).toBe(false);
    expect(prepared(mp({ src: '/usr', dst: '/u', is_bind: true })).isDir).toBe(true);
    expect(prepared(mp({ src: '/usr', dst: '/u', is_bind: true, is_dir: false })).isDir).toBe(false);
    expect(prepared(mp({ dst: '/c', src_content: new Uint8Array(1) })).isDir).toBe(false);
    expect(prepared(mp({ dst: '/t', fstype: 'tmpfs' })).isDir).toBe(true);
  });

  it('follows host symlinks in bind sources, normalizes destinations', () => {
    expect(prepared(mp({ src: '/usr/./bin/..', dst: '//a//b/', is_bind: true }))).toMatchObject({ src: '/usr', dst: '/a/b' });
  });

  it('the work dir never hides a bind source (--no_pivotroot would)', () => {
    const bind = (src: string) => prepared(mp({ src, dst: '/x', is_bind: true }));
    expect(pickWorkBase([bind('/usr')])).toBe('/tmp');
    expect(pickWorkBase([bind('/tmp')])).not.toBe('/tmp');
    expect(pickWorkBase([bind('/tmp/sub')])).not.toBe('/tmp');
  });
});

describe('plantedLink: symlinks a jail could have planted in a writable source', () => {
  it('finds one owned by a jail id inside a writable root, follows the host\'s own', () => {
    const w = mkdtempSync(join(tmpdir(), 'tsjail-planted-'));
    try {
      mkdirSync(join(w, 'real'));
      symlinkSync(join(w, 'real'), join(w, 'link'));
      const own = lstatSync(join(w, 'link')).uid;
      expect(plantedLink(join(w, 'link', 'x'), [w], (u) => u === own)).toEqual({ link: join(w, 'link'), root: w });
      // not a jail id, or not below a writable source: followed
      expect(plantedLink(join(w, 'link', 'x'), [w], () => false)).toBeUndefined();
      expect(plantedLink(join(w, 'link', 'x'), ['/elsewhere'], () => true)).toBeUndefined();
      expect(plantedLink(join(w, 'real'), [w], () => true)).toBeUndefined();
    } finally {
      rmSync(w, { recursive: true, force: true });
    }
  });
});

describe('container ops (--dir, --file, --overlay_ro)', () => {
  it('--dir: mkdirat with the mode between umask(0) and the umask restored', async () => {
    const { raw } = await plan(['--dir', '/a/b:0700']);
    const i = raw.findIndex((r) => r.startsWith('mkdirat(-100, "/a/b"'));
    expect(raw[i - 1]).toMatch(/^umask\(0\) >\$\d+$/);
    expect(raw[i]).toBe(`mkdirat(-100, "/a/b", ${0o700})`);
    expect(raw[i + 1]).toMatch(/^umask\(\$\d+\)$/);
    expect(raw[i - 2]).toBe(`mkdirat(-100, "/a", ${0o755})`);
  });

  it('--overlay_ro: overlayfs with only lowerdir, in the order given, read-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-ovro-'));
    try {
      for (const d of ['x', 'y']) mkdirSync(join(dir, d));
      const { raw } = await plan(['--overlay_ro', `${dir}/x:${dir}/y:/ov`]);
      const m = raw.find((r) => r.startsWith('mount("overlay"'))!;
      expect(m).toContain(`"lowerdir=/oldroot${dir}/x:/oldroot${dir}/y,userxattr"`);
      expect(m).toContain('MS_RDONLY');
      expect(m).not.toContain('upperdir');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('--file: the text after the first = as src_content, read-only', async () => {
    const { spec } = await parseCommandLine(['--file', '/etc/x=a=b:c', '--', '/bin/true']);
    const m = spec.cfg.mount.at(-1)!;
    expect(new TextDecoder().decode(m.src_content)).toBe('a=b:c');
    expect([m.dst, m.rw]).toEqual(['/etc/x', false]);
  });
});
