/** Run-once mode (issue 2): namespaces, identities, fds, environment, exit codes, errors — seen from inside. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jail, runTsjail, sh } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();

describe.skipIf(!!skip)('run-once mode', () => {
  it('maps --user/--group and switches to them (as root: the same ids on the host)', async () => {
    const r = await jail(['--user', '99999', '--group', '99999'], ['/usr/bin/id']);
    expect(r.stdout).toBe('uid=99999 gid=99999 groups=99999\n');
    expect(r.exitCode).toBe(0);
    const maps = await sh('cat /proc/self/uid_map /proc/self/gid_map', ['-u', '99999', '-g', '99999']);
    expect(maps.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['99999 99999 1', '99999 99999 1', '']);
  });

  it('maps ranges inside:outside:count', async () => {
    const r = await sh('cat /proc/self/uid_map; id -u', ['-u', '0:100000:65536', '-g', '0:100000:65536']);
    expect(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0 100000 65536', '0']);
  });

  it.skipIf(!!missingBinary('/usr/bin/newuidmap'))('writes -U/-G maps through newuidmap/newgidmap', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-U', '0:0:1', '-G', '0:0:1', '--', '/bin/sh', '-c', 'cat /proc/self/uid_map']);
    expect(r.stdout.trim().split(/\s+/)).toEqual(['0', '0', '1']);
    expect(r.stderr).toContain('Uid map: inside_uid:0 outside_uid:0 count:1 newuidmap:true');
    const denied = await runTsjail(['-Mo', '--chroot', '/', '-q', '-U', '5:100000:10', '-G', '5:100000:10', '--', '/bin/true']);
    expect(denied.exitCode).toBe(255);
    expect(denied.stderr).toMatch(/\/usr\/bin\/newgidmap \d+ 5 100000 10 failed: newgidmap: gid range .* not allowed/);
  });

  it('drops every capability and sets no_new_privs', async () => {
    const r = await sh('grep -E "^(Cap|NoNewPrivs)" /proc/self/status');
    expect(r.stdout).toBe(
      'CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n',
    );
  });

  it('is PID 1 of its own pid namespace and sees only its pids', async () => {
    const r = await sh('echo $$; ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " "');
    const [pid, pids] = r.stdout.split('\n');
    expect(pid).toBe('1');
    expect(pids!.trim().split(' ').every((p) => Number(p) < 10)).toBe(true);
  });

  it('sets the hostname (NSJAIL by default, -H to change it)', async () => {
    expect((await jail([], ['/bin/hostname'])).stdout).toBe('NSJAIL\n');
    expect((await jail(['-H', 'box'], ['/bin/hostname'])).stdout).toBe('box\n');
  });

  it('passes only fds 0-2, and --pass_fd', async () => {
    const r = await sh('ls /proc/self/fd');
    // ls itself opens one fd for the directory listing
    expect(r.stdout.trim().split('\n').map(Number).filter((n) => n <= 2)).toEqual([0, 1, 2]);
    expect(r.stdout.trim().split('\n')).toHaveLength(4);
  });

  it('clears the environment; -E adds, -e keeps', async () => {
    expect((await jail([], ['/usr/bin/env'])).stdout).toBe('');
    expect((await jail(['-E', 'A=1', '-E', 'B=2'], ['/usr/bin/env'])).stdout).toBe('A=1\nB=2\n');
    const kept = await jail(['-e'], ['/usr/bin/env'], { env: { TSJAIL_KEEP: 'yes' } });
    expect(kept.stdout).toContain('HOME=');
  });

  it('brings loopback up in a new net namespace, or leaves it down with --iface_no_lo', async () => {
    // /sys/class/net shows the namespace sysfs was mounted in: ask the kernel through ip and /proc/net
    expect((await sh('tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')).stdout).toBe('lo\n');
    expect((await sh('/usr/sbin/ip -o link show lo')).stdout).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    expect((await sh('/usr/sbin/ip -o link show lo', ['--iface_no_lo'])).stdout).toMatch(/<LOOPBACK> .* state DOWN/);
  });

  it('runs in the cwd given by --cwd', async () => {
    expect((await jail(['-D', '/usr'], ['/bin/pwd'])).stdout).toBe('/usr\n');
  });

  it('each --disable_clone_* shares that namespace with the host', async () => {
    const self = (ns: string) => `readlink /proc/self/ns/${ns}`;
    const cases: Array<[string, string]> = [
      ['--disable_clone_newnet', 'net'],
      ['--disable_clone_newipc', 'ipc'],
      ['--disable_clone_newuts', 'uts'],
      ['--disable_clone_newcgroup', 'cgroup'],
    ];
    for (const [flag, ns] of cases) {
      const { readlinkSync } = await import('node:fs');
      const host = readlinkSync(`/proc/self/ns/${ns}`);
      expect((await sh(self(ns), [flag])).stdout.trim(), flag).toBe(host);
      expect((await sh(self(ns))).stdout.trim(), `default ${ns}`).not.toBe(host);
    }
    const { readlinkSync: rl } = await import('node:fs');
    expect((await sh(self('pid'), ['--disable_clone_newpid'])).stdout.trim()).toBe(rl('/proc/self/ns/pid'));
    const noUser = await sh('readlink /proc/self/ns/user; id -u', ['--disable_clone_newuser', '-u', '0']);
    expect(noUser.stdout).toBe(`${(await import('node:fs')).readlinkSync('/proc/self/ns/user')}\n0\n`);
    const noNs = await runTsjail(['-q', '--disable_clone_newns', '--', '/bin/sh', '-c', 'readlink /proc/self/ns/mnt']);
    expect(noNs.stdout.trim()).toBe((await import('node:fs')).readlinkSync('/proc/self/ns/mnt'));
  });

  it('--enable_clone_newtime gives a new time namespace', async () => {
    const { readlinkSync } = await import('node:fs');
    const r = await sh('readlink /proc/self/ns/time', ['--enable_clone_newtime']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).not.toBe(readlinkSync('/proc/self/ns/time'));
  });
});

describe.skipIf(!!skip)('exit status as nsjail', () => {
  it('returns the program status', async () => {
    expect((await sh('exit 0')).exitCode).toBe(0);
    expect((await sh('exit 7')).exitCode).toBe(7);
  });

  it('kills with SIGKILL at the time limit: 137', async () => {
    // Killed long before the program would have ended by itself.
    const r = await jail(['-t', '1'], ['/bin/sleep', '30']);
    expect(r.exitCode).toBe(137);
    expect(r.ms).toBeLessThan(25_000);
  });

  it('logs the time limit kill as nsjail', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-t', '1', '--', '/bin/sleep', '5']);
    expect(r.stderr).toMatch(/pid=\d+ run time >= time limit \(1 >= 1\) \(\[STANDALONE MODE\]\)\. Killing it/);
    expect(r.stderr).toMatch(/pid=\d+ \(\[STANDALONE MODE\]\) terminated with signal: SIGKILL \(9\), \(PIDs left: 0\)/);
  });

  it('gives 128+signal when the program is killed by a signal', async () => {
    // PID 1 ignores its own default-action signals: a child kills itself instead
    const r = await sh('/bin/sh -c "kill -SEGV \\$\\$"; exit $?');
    expect(r.exitCode).toBe(139);
  });

  it('kills the jail on SIGTERM to tsjail and exits 143', async () => {
    // SIGTERM once the program says it runs; the 30 s sleep would outlast any slow start-up.
    const r = await jail([], ['/bin/sh', '-c', 'echo ready; exec sleep 30'], {
      onSpawn: (c) => c.stdout!.once('data', () => c.kill('SIGTERM')),
    });
    expect(r.stdout).toBe('ready\n');
    expect(r.exitCode).toBe(143);
    expect(r.ms).toBeLessThan(25_000);
  });

  it('fails with 255 and the execve error for a missing binary', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--', '/nonexistent']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toContain("execve('/nonexistent') failed: ENOENT (No such file or directory)");
    expect(r.stderr).toContain("Couldn't launch the child process");
  });

  it('exits 255 on an unknown option with the problem and a pointer to --help, 0 for --help', async () => {
    const bad = await runTsjail(['--bogus']);
    expect(bad.exitCode).toBe(255);
    expect(bad.stderr).toContain("unknown option '--bogus'");
    expect(bad.stderr).not.toContain('Usage:');
    const help = await runTsjail(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: tsjail');
  });

  it('logs nsjail start-up and exit lines', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--', '/bin/true']);
    expect(r.stderr).toMatch(/^\[I\]\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\] Mode: STANDALONE_ONCE$/m);
    expect(r.stderr).toContain("Jail parameters: hostname:'NSJAIL', chroot:'/', process:'/bin/true', bind:[::]:0");
    expect(r.stderr).toContain("Mount: '/' -> '/' type:'' options:'' dir:true");
    expect(r.stderr).toContain("Executing '/bin/true' for '[STANDALONE MODE]'");
    expect(r.stderr).toMatch(/pid=\d+ \(\[STANDALONE MODE\]\) exited with status: 0, \(PIDs left: 0\)/);
    expect(r.stdout).toBe('');
  });

  it('logs as nsjail 3.4 did with --compat 3.4', async () => {
    const r = await runTsjail(['--compat', '3.4', '-R', '/bin', '--', '/bin/true']);
    expect(r.stderr).toMatch(/Jail parameters: .* time_limit:0, personality:0, daemonize:false, .* clone_newcgroup:true, clone_newtime:false, keep_caps:false, disable_no_new_privs:false, max_cpus:0\n/);
    expect(r.stderr).toContain("Mount: '/' flags:MS_RDONLY type:'tmpfs' options:'' dir:true\n");
    expect(r.stderr).toContain("Mount: '/bin' -> '/bin' flags:MS_RDONLY|MS_NODEV|MS_BIND|MS_REC|MS_PRIVATE type:'' options:'' dir:true\n");
  });

  it('logs JSON lines with --log_format json, and to a file with --log', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--log_format', 'json', '--', '/bin/true']);
    const first = JSON.parse(r.stderr.split('\n')[0]!);
    expect(first).toMatchObject({ level: 30, msg: 'Mode: STANDALONE_ONCE' });
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/tsjail-log-');
    const f = await runTsjail(['-Mo', '--chroot', '/', '--log', `${dir}/x.log`, '--', '/bin/true']);
    expect(f.stderr).toBe('');
    expect(readFileSync(`${dir}/x.log`, 'utf8')).toContain('Mode: STANDALONE_ONCE');
    rmSync(dir, { recursive: true });
  });
});

describe.skipIf(!!skip)('typed failures in JSON logs', () => {
  it('a child-side failure carries call, errno, hint, op and phase as fields', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--log_format', 'json', '--', '/nonexistent']);
    expect(r.exitCode).toBe(255);
    const line = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o.call === "execve('/nonexistent')");
    expect(line).toMatchObject({ errno: 2, errno_name: 'ENOENT', phase: 'exec', stage: 'child' });
    expect(typeof line!.op).toBe('number');
    expect(String(line!.msg)).toContain("execve('/nonexistent') failed: ENOENT (No such file or directory)");
  });
});
