/** --seccomp_unotify and --seccomp_unotify_report (issue 17): nsjail's access report, from real programs. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns() ?? missingBinary('/bin/bash');

/** One fs_access or net_access block of the report, found by its path or endpoint. */
function block(report: string, kind: 'fs_access' | 'net_access', key: string): string | undefined {
  const field = kind === 'fs_access' ? 'path' : 'endpoint';
  return report.split(/^(?=fs_access \{|net_access \{)/m).find((b) => b.startsWith(kind) && b.includes(`\n  ${field}: ${JSON.stringify(key)}\n`));
}

async function traced(args: string[], cmd: string[], opts: Parameters<typeof runTsjail>[1] = {}) {
  const file = `${mkdtempSync('/tmp/tsjail-unotify-')}/r.txt`;
  const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_unotify', '--seccomp_unotify_report', file, ...args, '--', ...cmd], opts);
  return { ...r, report: existsSync(file) ? readFileSync(file, 'utf8') : undefined };
}

describe.skipIf(!!skip)('--seccomp_unotify report', () => {
  it("the issue's criterion: cat /etc/hostname writes a report naming /etc/hostname", async () => {
    const r = await traced([], ['/bin/cat', '/etc/hostname']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('Started unotify loop');
    expect(block(r.report!, 'fs_access', '/etc/hostname')).toBe(
      ['fs_access {', '  path: "/etc/hostname"', '  jail_type: REGULAR', '  main_type: REGULAR', '  mode: RDONLY', '  count: 1', '  syscall {', '    name: "openat"', '    args: "dirfd=AT_FDCWD"', '    count: 1', '  }', '  exists_in_jail: true', '  exists_in_main: true', '}\n'].join('\n'),
    );
    // The initial execve is traced too, and the report is logged as nsjail does.
    expect(block(r.report!, 'fs_access', '/bin/cat')).toContain('    name: "execve"\n    args: "argv[0]=/bin/cat"\n    args: "argv[1]=/etc/hostname"\n');
    expect(r.stderr).toContain('unotify report:\nfs_access {');
  });

  it('bash reading a file, writing another and connecting: paths, modes and the endpoint', async () => {
    const server = createServer((c) => c.end());
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await traced(['-N', '-T', '/tmp'], ['/bin/bash', '-c', `cat /etc/hostname; echo x > /tmp/f; exec 3<>/dev/tcp/127.0.0.1/${port}`]);
      expect(r.exitCode).toBe(0);
      expect(block(r.report!, 'fs_access', '/etc/hostname')).toMatch(/mode: RDONLY\n[^]*name: "openat"/);
      // Before the open created it, /tmp/f did not exist: nsjail's report records the state the call found.
      expect(block(r.report!, 'fs_access', '/tmp/f')).toBe(
        ['fs_access {', '  path: "/tmp/f"', '  jail_type: NONEXISTENT', '  main_type: NONEXISTENT', '  mode: WRONLY', '  count: 1', '  syscall {', '    name: "openat"', '    args: "dirfd=AT_FDCWD"', '    args: "mode_extra=O_CREAT|O_TRUNC"', '    count: 1', '  }', '  exists_in_jail: false', '  exists_in_main: false', '}\n'].join('\n'),
      );
      expect(block(r.report!, 'net_access', '127.0.0.1')).toBe(
        ['net_access {', '  type: IPV4', '  endpoint: "127.0.0.1"', '  count: 1', '  syscall {', '    name: "connect"', '    args: "fd=3"', '    args: "type=SOCK_STREAM (IPPROTO_TCP)"', '    count: 1', '  }', `  port: ${port}`, '}\n'].join('\n'),
      );
    } finally {
      server.close();
    }
  });

  it('relative paths are resolved against the cwd, as the jail sees it; statx is traced', async () => {
    const r = await traced(['-D', '/etc'], ['/bin/sh', '-c', 'cat hostname >/dev/null; ls -d /nonexistent-dir 2>/dev/null; true']);
    expect(block(r.report!, 'fs_access', '/etc/hostname')).toContain('mode: RDONLY');
    expect(block(r.report!, 'fs_access', '/nonexistent-dir')).toMatch(/jail_type: NONEXISTENT[^]*name: "statx"/);
  });

  it('a program killed by the time limit still gets its report', async () => {
    const r = await traced(['-t', '1'], ['/bin/sh', '-c', 'cat /etc/hostname; exec sleep 30']);
    expect(r.exitCode).toBe(137);
    expect(block(r.report!, 'fs_access', '/etc/hostname')).toBeDefined();
  });

  it('tsjail stopped by SIGINT still writes the report', async () => {
    const r = await traced([], ['/bin/sh', '-c', 'cat /etc/hostname; echo up; exec sleep 30'], { onSpawn: (c) => c.stdout!.on('data', (d: Buffer) => d.includes('up') && c.kill('SIGINT')) });
    expect(r.exitCode).toBe(130);
    expect(block(r.report!, 'fs_access', '/etc/hostname')).toBeDefined();
  });

  it("the user's policy still applies: a refused call is not in the report", async () => {
    const r = await traced(['--seccomp_string', 'ERRNO(1) { mkdir } DEFAULT ALLOW'], ['/bin/sh', '-c', 'mkdir /tmp/x-refused 2>/dev/null; cat /etc/hostname >/dev/null']);
    expect(r.report).toContain('"/etc/hostname"');
    expect(block(r.report!, 'fs_access', '/tmp/x-refused')).toBeUndefined();
    expect(r.stderr).toMatch(/seccomp violation: mkdir\("\/tmp\/x-refused", 0777\) on x86_64, ip 0x[0-9a-f]+, ERRNO\(1\): failed with EPERM/);
  });

  it('refuses what cannot work, before anything runs', async () => {
    const me = await runTsjail(['-Me', '--chroot', '/', '--seccomp_unotify', '--', '/bin/true']);
    expect(me.exitCode).toBe(255);
    expect(me.stderr).toContain('--seccomp_unotify needs a supervising tsjail: -Me replaces tsjail with the program');
    const alone = await runTsjail(['--chroot', '/', '--seccomp_unotify_report', '/tmp/r', '--', '/bin/true']);
    expect(alone.exitCode).toBe(255);
    expect(alone.stderr).toContain("--seccomp_unotify_report '/tmp/r' without --seccomp_unotify: there is no report to write");
  });

  it('--landlock_log: a file call outside the rules is named before Landlock refuses it', async () => {
    const rules = ['--landlock_rx', '/usr', '--landlock_ro', '/etc/ld.so.cache', '--landlock_ro', '/etc/hostname', '--landlock_log'];
    const r = await runTsjail(['-Mo', '--chroot', '/', ...rules, '--', '/bin/cat', '/etc/hostname', '/etc/passwd']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe(readFileSync('/etc/hostname', 'utf8'));
    expect(r.stderr).toMatch(/pid=\d+ landlock: openat\(AT_FDCWD, "\/etc\/passwd", O_RDONLY, 0\) names \/etc\/passwd, outside the Landlock rules/);
    expect(r.stderr).toContain('/etc/passwd: Permission denied');
    // Paths reached through a symlink (/bin -> usr/bin) count as where they lead.
    expect(r.stderr).not.toMatch(/landlock: execve/);
    const none = await runTsjail(['--chroot', '/', '--landlock_log', '--', '/bin/true']);
    expect(none.exitCode).toBe(255);
    expect(none.stderr).toContain('--landlock_log names paths outside the Landlock rules: give some');
  });

  it('a report file that cannot be written: an error line, the exit status unchanged', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_unotify', '--seccomp_unotify_report', '/nonexistent-dir/r.txt', '--', '/bin/true']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain("Couldn't open '/nonexistent-dir/r.txt' for writing: ENOENT");
  });
});
