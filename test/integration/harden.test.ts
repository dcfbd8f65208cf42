/**
 * Issue 13: attacks from inside a CTF-style jail (`--chroot / --user 99999`, run as root),
 * each judged from the host: canary files, host processes, the host keyring.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jail, runTsjail, sh, TSJAIL } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();
const CTF = ['--user', '99999', '--group', '99999'];

const dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsjail-harden-'));
  chmodSync(d, 0o755);
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.skipIf(!!skip)("the jail's ids are its own on the host", () => {
  it('--user 99999 is host uid 99999: /etc/shadow and a root-only canary stay closed', async () => {
    const r = await jail(CTF, ['/bin/cat', '/etc/shadow']);
    expect(r.stderr).toContain('/etc/shadow: Permission denied');
    expect(r.exitCode).toBe(1);
    const d = scratch();
    writeFileSync(join(d, 'canary'), 'secret\n', { mode: 0o600 });
    const c = await sh(`cat ${d}/canary; cat /proc/self/uid_map /proc/self/gid_map`, CTF);
    expect(c.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['99999 99999 1', '99999 99999 1', '']);
    expect(c.stderr).toContain('Permission denied');
  });

  it("--user 99999:0 asks for nsjail's mapping explicitly, with its warning", async () => {
    const d = scratch();
    writeFileSync(join(d, 'canary'), 'secret\n', { mode: 0o600 });
    const r = await sh(`cat ${d}/canary`, ['--user', '99999:0', '--group', '99999:0']);
    expect(r.stdout).toBe('secret\n');
    expect(r.stderr).toContain('Process will be UID/EUID=0 in the global user namespace');
  });

  it('a jail sharing the host pid namespace cannot signal host root processes', async () => {
    const victim = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    try {
      const r = await sh(`kill -0 ${victim.pid} && echo reached`, [...CTF, '--disable_clone_newpid']);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/Operation not permitted|can't kill/);
      expect(victim.exitCode).toBe(null);
    } finally {
      victim.kill('SIGKILL');
    }
  });

  it('config uidmap/gidmap with an inside id only map to that id on the host', async () => {
    const d = scratch();
    const cfg = join(d, 'ids.cfg');
    writeFileSync(cfg, 'uidmap { inside_id: "4242" }\ngidmap { inside_id: "4343" }\nmount { src: "/" dst: "/" is_bind: true }\nmount { dst: "/proc" fstype: "proc" }\n');
    const r = await runTsjail(['-Mo', '-q', '-C', cfg, '--', '/bin/sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map']);
    expect(r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['4242 4242 1', '4343 4343 1', '']);
  });
});

describe.skipIf(!!skip)('no host devices unless asked', () => {
  /** A scratch dir holding a char device made by the test (1,3: a null device), so no real host device is written. */
  function nodeDir(): string {
    const d = scratch();
    execFileSync('/usr/bin/mknod', ['-m', '666', join(d, 'null'), 'c', '1', '3']);
    return d;
  }

  it('--chroot / is nodev and brings a private read-only minimal /dev instead of the host one', async () => {
    const d = nodeDir();
    const r = await sh(`echo x > ${d}/null && echo host-node-open; ls -A /dev | tr "\\n" " "; echo; touch /dev/kmsg || echo no-kmsg; echo x > /dev/null && echo null-ok`, CTF);
    expect(r.stdout).toBe('fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \nno-kmsg\nnull-ok\n');
    expect(r.stderr).toContain(`${d}/null: Permission denied`);
    expect(r.stderr).toContain("cannot touch '/dev/kmsg': Read-only file system");
  });

  it('--dev_bind, a config `nodev: false` and a source under /dev keep device nodes working; -R and -B do not', async () => {
    const d = nodeDir();
    const probe = (dir: string) => `echo x > ${dir}/null && echo ${dir}-ok`;
    const r = await sh([probe('/mnt/r'), probe('/mnt/b'), probe('/mnt/dev'), 'echo x > /mnt/n && echo /mnt/n-ok'].join('; '), [
      // not -T: O_CREAT on another user's device node in a sticky directory is refused anyway
      ...CTF, '-m', 'none:/mnt:tmpfs:mode=0755', '-R', `${d}:/mnt/r`, '-B', `${d}:/mnt/b`, '--dev_bind', `${d}:/mnt/dev`, '-R', '/dev/null:/mnt/n',
    ]);
    expect(r.stdout).toBe('/mnt/dev-ok\n/mnt/n-ok\n');
    expect(r.stderr).toContain('/mnt/r/null: Permission denied');
    expect(r.stderr).toContain('/mnt/b/null: Permission denied');
    const cfg = join(scratch(), 'dev.cfg');
    writeFileSync(cfg, [`mount { src: "${d}" dst: "/a" is_bind: true nodev: false }`, `mount { src: "${d}" dst: "/b" is_bind: true }`, ...['/bin', '/lib', '/lib64', '/usr'].map((s) => `mount { src: "${s}" dst: "${s}" is_bind: true mandatory: false }`)].join('\n'));
    const c = await runTsjail(['-Mo', '-q', '-C', cfg, ...CTF, '--', '/bin/sh', '-c', `${probe('/a')}; ${probe('/b')}`]);
    expect(c.stdout).toBe('/a-ok\n');
    expect(c.stderr).toContain('/b/null: Permission denied');
  });
});

describe.skipIf(!!(skip ?? missingBinary('/usr/bin/cc')))('a fresh session keyring for every jail', () => {
  it("the jail cannot find or read a key in the caller's session keyring", () => {
    const d = scratch();
    // `hold`: a session keyring of this test's own holding a canary key, then exec the rest;
    // `probe`: search the session keyring for the canary and read it.
    writeFileSync(
      join(d, 'keys.c'),
      `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "probe")) {
    long id = syscall(SYS_keyctl, 10 /* KEYCTL_SEARCH */, -3 /* @s */, "user", "tsjail-canary", 0);
    if (id < 0) { printf("search: %s\\n", strerror(errno)); return 1; }
    char buf[64] = {0};
    long n = syscall(SYS_keyctl, 11 /* KEYCTL_READ */, id, buf, sizeof buf - 1);
    printf("read: %s\\n", n < 0 ? strerror(errno) : buf);
    return 0;
  }
  if (syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL) < 0) { perror("join"); return 2; }
  if (syscall(SYS_add_key, "user", "tsjail-canary", "secret", 6, -3) < 0) { perror("add_key"); return 2; }
  execv(argv[1], argv + 1);
  perror("execv");
  return 2;
}
`,
    );
    const bin = join(d, 'keys');
    execFileSync('/usr/bin/cc', ['-O', '-o', bin, join(d, 'keys.c')]);
    const run = (argv: string[]) => spawnSync(bin, argv, { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' } });
    // The canary is reachable through possession without a jail in between ...
    expect(run([bin, 'probe']).stdout).toBe('read: secret\n');
    // ... and not from inside one.
    const r = run([process.execPath, TSJAIL, '-Mo', '-q', '--chroot', '/', ...CTF, '--', bin, 'probe']);
    expect(r.stdout).toBe('search: Required key not available\n');
    expect(r.status).toBe(1);
  });
});

describe.skipIf(!!skip)('bind sources are pinned for the run', () => {
  /** W (writable by the jail's user) holds sub/marker; sub is also bound read-only on its own. */
  function sources(owner: number): string {
    const w = scratch();
    mkdirSync(join(w, 'sub'));
    writeFileSync(join(w, 'sub', 'marker'), 'original\n');
    execFileSync('/bin/chown', ['-R', `${owner}:${owner}`, w]);
    return w;
  }
  // Each run lists the read-only bind, then (once) swaps its source for a symlink to /etc.
  const SWAP = 'ls /mnt/s | head -3 | tr "\\n" " "; echo; test -L /mnt/w/sub || { mv /mnt/w/sub /mnt/w/sub.old && ln -s /etc /mnt/w/sub; }';
  const binds = (w: string) => ['-m', 'none:/mnt:tmpfs:mode=0755', '-B', `${w}:/mnt/w`, '-R', `${w}/sub:/mnt/s`];
  /** Runs -Mr until `runs` lines are out, then SIGTERM (or until it stops by itself). */
  const rerun = (pre: string[], args: string[], runs: number) =>
    new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
      const c = spawn(pre[0]!, [...pre.slice(1), process.execPath, TSJAIL, '-Mr', '-q', '--chroot', '/', ...args, '--', '/bin/sh', '-c', SWAP], {
        env: { PATH: '/usr/bin:/bin', NO_COLOR: '1', HOME: '/tmp' },
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
      c.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.split('\n').length > runs) c.kill('SIGTERM');
      });
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('error', reject);
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code });
      });
    });

  it('-Mr: a symlink planted in a writable bind source does not redirect a later bind (the original is bound)', async () => {
    const w = sources(99999);
    const r = await rerun(['/usr/bin/env'], [...CTF, ...binds(w)], 3);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['marker ', 'marker ', 'marker ']);
    expect(readlinkSync(join(w, 'sub'))).toBe('/etc');
  });

  it('-Mo: a new tsjail refuses a source reached through a symlink the jail could have planted', async () => {
    const w = sources(99999);
    const first = await sh(SWAP, [...CTF, ...binds(w)]);
    expect(first.stdout).toBe('marker \n');
    const second = await sh(SWAP, [...CTF, ...binds(w)]);
    expect(second.exitCode).toBe(255);
    expect(second.stdout).toBe('');
    expect(second.stderr).toContain(`bind source '${w}/sub': '${w}/sub' is a symlink inside the writable bind source '${w}', owned by the jail's user (an earlier jail may have planted it): tsjail does not follow it`);
  });

  it.skipIf(!!missingBinary('/usr/bin/setpriv'))('unprivileged (nothing to pin): the planted symlink stops the next jail with ELOOP', async () => {
    const w = sources(1000);
    // The jail set up while the first one ran still has the original; the one after it stops -Mr with 255.
    const r = await rerun(['/usr/bin/setpriv', '--reuid=1000', '--regid=1000', '--clear-groups'], binds(w), Infinity);
    expect(r.code).toBe(255);
    expect(r.stdout.split('\n')[0]).toBe('marker ');
    expect(r.stderr).toContain(`openat2('${w}/sub', O_PATH, RESOLVE_NO_SYMLINKS) for mount('${w}/sub' -> '/mnt/s', MS_RDONLY|MS_NODEV|MS_BIND|MS_REC|MS_PRIVATE): ELOOP`);
    expect(r.stdout).not.toContain('passwd');
  });
});

describe.skipIf(!!skip)('--init: a minimal PID 1', () => {
  it("PID 1 shows nothing of tsjail's, holds no capabilities, has no_new_privs and a filter", async () => {
    const r = await sh(
      'tr "\\0" " " < /proc/1/cmdline; echo; wc -c < /proc/1/environ; grep -E "^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/1/status; ls /proc/1/fd | wc -l; exit 4',
      ['--init', '--keep_caps', '-E', 'SECRET=hunter2'],
    );
    expect(r.stdout).toBe('init \n0\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n0\n');
    expect(r.exitCode).toBe(4);
  });
});

describe.skipIf(!!skip)('time limits hold without a pid namespace', () => {
  /** Alive and not a zombie (a killed daemon waits for the host's init to reap it). */
  const running = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  };

  it('-t with --disable_clone_newpid kills the daemon the program left, not only the program', async () => {
    const d = scratch();
    execFileSync('/bin/chown', ['99999:99999', d]);
    const r = await sh('setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /mnt/d/daemon; exec sleep 100', [
      ...CTF, '--disable_clone_newpid', '-t', '1', '-m', 'none:/mnt:tmpfs:mode=0755', '-B', `${d}:/mnt/d`,
    ]);
    expect(r.exitCode).toBe(137);
    const daemon = Number(readFileSync(join(d, 'daemon'), 'utf8'));
    expect(daemon).toBeGreaterThan(0);
    // tsjail empties the jail's cgroup before it exits: the daemon is gone (or a zombie) by now.
    const alive = running(daemon);
    if (alive) process.kill(daemon, 'SIGKILL');
    expect(alive).toBe(false);
  });
});
