/** Filesystem isolation (issue 3): the mount table, read-only roots, symlinks, file content, minimal /dev — seen from inside. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTsjail, sh } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();

/** -R for the host's program dirs; a missing one (no /lib64 on some hosts) is left out with the reason printed. */
const SYSTEM_DIRS = ['/bin', '/lib', '/lib64', '/usr'].filter((d) => {
  if (existsSync(d)) return true;
  console.warn(`SKIP (${d}): not on this host, left out of the default-root tests`);
  return false;
});
const systemBinds = SYSTEM_DIRS.flatMap((d) => ['-R', d]);

/** `fields[5]` of /proc/self/mountinfo (the per-mount options) by mount point. */
function mountOptions(mountinfo: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of mountinfo.trim().split('\n')) {
    const f = line.split(' ');
    m.set(f[4]!, f[5]!.split(','));
  }
  return m;
}

const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('[W]') && !l.includes('root-level access'));

describe.skipIf(!!skip)('mounts', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync('/tmp/tsjail-mounts-');
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('done-when: default root with system binds, a writable /tmp, read-only /usr', async () => {
    const r = await runTsjail(['-Mo', ...systemBinds, '-T', '/tmp', '--', '/bin/sh', '-c', 'ls /; touch /tmp/ok && echo writable; touch /usr/x || echo ro']);
    expect(r.stdout).toBe([...SYSTEM_DIRS.map((d) => d.slice(1)), 'proc', 'tmp'].sort().join('\n') + '\nwritable\nro\n');
    expect(r.exitCode).toBe(0);
    expect(existsSync('/usr/x')).toBe(false);
  });

  it('default root: only the binds plus proc, a read-only 16 MiB tmpfs, no /dev', async () => {
    const r = await runTsjail(['-Mo', '-q', ...systemBinds, '--', '/bin/sh', '-c', 'ls -A /; touch /x 2>/dev/null || echo root-ro; cat /proc/self/mountinfo']);
    const [names, ...rest] = r.stdout.split('root-ro\n');
    expect(names!.trim().split('\n')).toEqual([...SYSTEM_DIRS.map((d) => d.slice(1)), 'proc'].sort());
    const root = rest.join('').split('\n').find((l) => l.split(' ')[4] === '/')!;
    expect(root).toMatch(/ \/ ro,.* - tmpfs tmpfs rw,size=16384k,mode=755$/);
  });

  it('prints one nsjail Mount line per entry', async () => {
    const r = await runTsjail(['-Mo', ...systemBinds, '-T', '/tmp', '-m', 'none:/m:tmpfs:size=1m', '-s', '/proc/self/fd:/dev/fd', '--', '/bin/true']);
    const lines = r.stderr.split('\n').filter((l) => / (Mount|Symlink): /.test(l)).map((l) => l.replace(/^\[I\]\[[^\]]+\] /, ''));
    expect(lines).toEqual([
      ...SYSTEM_DIRS.map((d) => `Mount: '${d}' -> '${d}' type:'' options:''`),
      "Mount: '/tmp' type:'tmpfs' options:'size=4194304' dir:true",
      "Mount: 'none' -> '/m' type:'tmpfs' options:'size=1m'",
      "Symlink: '/proc/self/fd' -> '/dev/fd' type:'' options:'' symlink:true",
      "Mount: '/proc' type:'proc' options:'' dir:true",
    ]);
  });

  it('-m tmpfs is writable; with :ro it is not', async () => {
    expect((await sh('touch /tmp/x && echo ok', ['-m', 'none:/tmp:tmpfs'])).stdout).toBe('ok\n');
    const ro = await sh('touch /tmp/x 2>&1 || echo failed', ['-m', 'none:/tmp:tmpfs:ro']);
    expect(ro.stdout).toMatch(/Read-only file system\nfailed\n$/);
  });

  it('-R is read-only; -B is writable and the write is visible on the host', async () => {
    const dir = mkdtempSync(join(tmp, 'bind-'));
    const ro = await sh(`touch ${dir}/x 2>&1 || echo failed`, ['-R', dir]);
    expect(ro.stdout).toMatch(/Read-only file system\nfailed\n$/);
    const rw = await sh(`echo from-jail > ${dir}/x && echo ok`, ['-B', dir]);
    expect(rw.stdout).toBe('ok\n');
    expect(readFileSync(join(dir, 'x'), 'utf8')).toBe('from-jail\n');
    const ro2 = await sh('touch /tmp/x 2>&1 || echo failed', ['-R', '/tmp']);
    expect(ro2.stdout).toMatch(/failed\n$/);
  });

  it('--chroot / is read-only; with --rw it is writable', async () => {
    const probe = `/.tsjail-rw-probe-${process.pid}`;
    try {
      expect((await sh(`touch ${probe} 2>/dev/null || echo ro`)).stdout).toBe('ro\n');
      expect(existsSync(probe)).toBe(false);
      expect((await sh(`touch ${probe} && echo rw && rm ${probe}`, ['--rw'])).stdout).toBe('rw\n');
      expect(existsSync(probe)).toBe(false);
    } finally {
      rmSync(probe, { force: true });
    }
  });

  it('/proc/self/mountinfo shows ro, nosuid, nodev, noexec where asked, and /proc gets all four', async () => {
    const dir = mkdtempSync(join(tmp, 'flags-'));
    const r = await sh('cat /proc/self/mountinfo', ['-T', '/tmp', '-m', 'none:/tmp/a:tmpfs:ro,nosuid,nodev,noexec,size=8m', '-m', 'none:/tmp/b:tmpfs:nodev', '-B', `${dir}:/tmp/c:noexec`, '-R', `${dir}:/tmp/d`]);
    const opts = mountOptions(r.stdout);
    expect(opts.get('/tmp/a')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
    expect(opts.get('/tmp/b')).toEqual(expect.arrayContaining(['rw', 'nodev']));
    expect(opts.get('/tmp/b')).not.toContain('noexec');
    expect(opts.get('/tmp/c')).toEqual(expect.arrayContaining(['rw', 'noexec']));
    expect(opts.get('/tmp/d')![0]).toBe('ro');
    expect(opts.get('/proc')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
    expect(opts.get('/')![0]).toBe('ro');
    expect(r.stdout).toMatch(/ \/tmp\/a ro,.* - tmpfs none rw,size=8192k/);
  });

  it('the old root is detached: no host mount, no work dir inside', async () => {
    const r = await runTsjail(['-Mo', '-q', ...systemBinds, '--', '/bin/sh', '-c', 'cat /proc/self/mountinfo']);
    const points = [...mountOptions(r.stdout).keys()];
    expect(points.sort()).toEqual(['/', ...SYSTEM_DIRS, '/proc'].sort());
    expect(r.stdout).not.toMatch(/oldroot|newroot/);
  });

  it('config entries: symlinks, src_content files, is_dir, nosuid/nodev/noexec, prefix_src_env', async () => {
    const cfg = join(tmp, 'entries.cfg');
    writeFileSync(
      cfg,
      [
        'mount { src: "/" dst: "/" is_bind: true }',
        'mount { dst: "/tmp" fstype: "tmpfs" rw: true }',
        'mount { src: "/etc/hostname" dst: "/tmp/sub/link" is_symlink: true }',
        'mount { src_content: "hello\\ncontent\\n" dst: "/tmp/sub/content.txt" }',
        'mount { dst: "/tmp/flags" fstype: "tmpfs" is_dir: true rw: true nosuid: true nodev: true noexec: true }',
        'mount { prefix_src_env: "TSJ_PREFIX" src: "/bin" dst: "/tmp/pfx" is_bind: true }',
        'mount_proc: true',
      ].join('\n'),
    );
    const r = await runTsjail(['-Mo', '-q', '--config', cfg, '--', '/bin/sh', '-c', 'readlink /tmp/sub/link; cat /tmp/sub/content.txt; echo x >> /tmp/sub/content.txt 2>/dev/null || echo content-ro; test -x /tmp/pfx/sh && echo pfx; grep " /tmp/flags " /proc/self/mountinfo'], {
      env: { TSJ_PREFIX: '/usr' },
    });
    const [link, c1, c2, ro, pfx, flags] = r.stdout.split('\n');
    expect([link, c1, c2, ro, pfx]).toEqual(['/etc/hostname', 'hello', 'content', 'content-ro', 'pfx']);
    expect(flags).toMatch(/ \/tmp\/flags rw,nosuid,nodev,noexec,/);
    expect(r.exitCode).toBe(0);
  });

  it('a bind of a single file becomes a file', async () => {
    const file = join(tmp, 'single.txt');
    writeFileSync(file, 'single\n');
    const r = await runTsjail(['-Mo', '-q', ...systemBinds, '-R', `${file}:/etc/deep/single.txt`, '--', '/bin/sh', '-c', 'test -f /etc/deep/single.txt && cat /etc/deep/single.txt']);
    expect(r.stdout).toBe('single\n');
  });

  it('mandatory:false (and -try binds) warn on a missing source and the program still runs', async () => {
    const cfg = join(tmp, 'optional.cfg');
    writeFileSync(cfg, 'mount { src: "/" dst: "/" is_bind: true }\nmount { src: "/nonexistent" dst: "/tmp/opt" is_bind: true mandatory: false }\n');
    const r = await runTsjail(['-Mo', '-q', '--config', cfg, '--', '/bin/echo', 'ran']);
    expect(r.stdout).toBe('ran\n');
    expect(r.exitCode).toBe(0);
    expect(warnings(r.stderr)).toEqual([
      expect.stringContaining(
        "openat2('/nonexistent', O_PATH, RESOLVE_NO_SYMLINKS) for mount('/nonexistent' -> '/tmp/opt', MS_RDONLY|MS_NODEV|MS_BIND|MS_REC|MS_PRIVATE): ENOENT (No such file or directory) (hint: mandatory:false, skipped)",
      ),
    ]);
    const t = await sh('echo ran', ['--bindmount_ro_try', '/nonexistent:/x', '--bindmount_try', '/nonexistent2']);
    expect(t.stdout).toBe('ran\n');
    expect(warnings(t.stderr)).toHaveLength(2);
  });

  it('a mandatory mount of a missing source fails with 255 and names the call', async () => {
    const r = await sh('echo ran', ['-R', '/nonexistent:/x']);
    expect(r.exitCode).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /\[E\].* openat2\('\/nonexistent', O_PATH, RESOLVE_NO_SYMLINKS\) for mount\('\/nonexistent' -> '\/x', MS_RDONLY\|MS_NODEV\|MS_BIND\|MS_REC\|MS_PRIVATE\): ENOENT \(No such file or directory\) \[op \d+\/\d+, phase mnt\]/,
    );
  });

  it('--mount_dev: exactly the promised entries, and /dev/null works', async () => {
    const r = await sh('ls -A /dev | tr "\\n" " "; echo; echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; test -L /dev/fd && readlink /dev/stdout', ['--mount_dev']);
    const [entries, nullOk, zero, stdout] = r.stdout.split('\n');
    expect(entries!.trim().split(' ')).toEqual(['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    expect([nullOk, zero!.trim(), stdout]).toEqual(['null-ok', '00 00 00 00', '/proc/self/fd/1']);
  });

  it('--chroot of a directory on a nosuid,nodev tmpfs works and keeps the locked flags (nsjail: EPERM)', async () => {
    const dir = mkdtempSync(join(tmp, 'locked-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev', 'none', dir]);
    try {
      for (const d of [...SYSTEM_DIRS, '/proc']) mkdirSync(join(dir, d));
      const r = await runTsjail(['-Mo', '-q', '--chroot', dir, ...systemBinds, '--', '/bin/sh', '-c', 'echo inside; grep " / " /proc/self/mountinfo']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^inside\n.* \/ ro,nosuid,nodev,/);
    } finally {
      execFileSync('umount', [dir]);
    }
  });

  it('--tmp_overlay: writes land in memory and vanish; the host dir is unchanged', async (ctx) => {
    const dir = mkdtempSync(join(tmp, 'overlay-'));
    writeFileSync(join(dir, 'a'), 'orig\n');
    const r = await sh(`echo changed > ${dir}/a && echo new > ${dir}/b && rm -f ${dir}/a && echo again > ${dir}/a && cat ${dir}/a ${dir}/b`, ['--tmp_overlay', dir]);
    if (r.exitCode !== 0 && /overlay.*(EINVAL|EPERM|ENODEV)/.test(r.stderr)) {
      console.warn(`SKIP (overlay): the kernel refused an overlay in a user namespace: ${r.stderr.trim().split('\n').at(-2)}`);
      ctx.skip();
    }
    expect(r.stdout).toBe('again\nnew\n');
    expect(readdirSync(dir)).toEqual(['a']);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('orig\n');
  });

  it('--no_pivotroot works and warns that it is escapable; --disable_clone_newns only chroots', async () => {
    const r = await sh('echo moved', ['--no_pivotroot']);
    expect(r.stdout).toBe('moved\n');
    expect(r.stderr).toContain('Using no_pivotroot is escapable when user posseses relevant capabilities, Use it with care!');
    const n = await sh('readlink /proc/self/ns/mnt', ['--disable_clone_newns']);
    expect(n.stdout.trim()).toBe(readlinkSync('/proc/self/ns/mnt'));
  });

  it("--no_pivotroot: the jail's /tmp is the chroot's, not tsjail's work tmpfs", async () => {
    const marker = mkdtempSync('/tmp/tsjail-nopivot-');
    try {
      const r = await sh(`test -d ${marker} && echo host-tmp; ls -d /tmp/newroot /tmp/oldroot /tmp/files 2>/dev/null; grep ' /tmp ' /proc/self/mountinfo | grep -c mode=700`, ['--no_pivotroot']);
      expect(r.stdout).toBe('host-tmp\n0\n');
    } finally {
      rmSync(marker, { recursive: true, force: true });
    }
  });

  describe('nothing is created on the host', () => {
    it('a mount point below a read-only bind fails (EROFS, with a hint) instead of being made on the host', async () => {
      const dir = mkdtempSync(join(tmp, 'robind-'));
      const r = await runTsjail(['-Mo', '-q', ...systemBinds, '-R', `${dir}:/d`, '-T', '/d/sub', '--', '/bin/true']);
      expect(r.exitCode).toBe(255);
      expect(r.stderr).toContain("mkdirat('/d/sub') for mount('none' -> '/d/sub'");
      expect(r.stderr).toContain('EROFS (Read-only file system) (hint: the mount point does not exist under a read-only mount, and tsjail creates nothing on the host');
      expect(readdirSync(dir)).toEqual([]);
    });

    it('absolute symlinks in a chroot dir resolve inside the jail, never onto the host', async () => {
      const root = mkdtempSync(join(tmp, 'chroot-'));
      const outside = mkdtempSync(join(tmp, 'outside-'));
      for (const d of SYSTEM_DIRS) mkdirSync(join(root, d));
      // Both spellings of the host: the work root's view and the host's own.
      symlinkSync(`/oldroot${outside}`, join(root, 'a'));
      symlinkSync(outside, join(root, 'b'));
      for (const args of [['-T', '/a/x'], ['-T', '/b/x'], ['-s', '/x:/a/y'], ['-s', '/x:/b/y'], ['-R', '/usr:/b/z']]) {
        await runTsjail(['-Mo', '-q', '--chroot', root, '--rw', ...systemBinds, ...args, '--', '/bin/true']);
      }
      expect(readdirSync(outside)).toEqual([]);
    });

    it("as root, tsjail opens bind sources with its own rights: one below a directory the jail's user cannot search is bound", async () => {
      const priv = mkdtempSync(join(tmp, 'priv-'));
      mkdirSync(join(priv, 'd'));
      writeFileSync(join(priv, 'd', 'f'), 'seen\n', { mode: 0o644 });
      const r = await runTsjail(['-Mo', '-q', '-u', '1000:1000', '-g', '1000:1000', ...systemBinds, '-R', `${priv}/d:/d`, '--', '/bin/cat', '/d/f']);
      expect(r.stdout).toBe('seen\n');
      expect(r.exitCode).toBe(0);
    });
  });
});
