/** tsjail learn (issue 17): a run learnt into a config that reproduces it, and refuses what it did not do, by name. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();
const PYTHON = '/usr/bin/python3';

async function learn(cmd: string[], extra: string[] = []) {
  const out = `${mkdtempSync('/tmp/tsjail-learn-')}/learnt.cfg`;
  const r = await runTsjail(['learn', '-o', out, ...extra, '-q', '--chroot', '/', '--', ...cmd]);
  return { ...r, out, config: existsSync(out) ? readFileSync(out, 'utf8') : '' };
}

describe.skipIf(!!skip)('tsjail learn', () => {
  it.skipIf(!!missingBinary(PYTHON))("python3 -c 'import json; print(1)': the learnt config runs it again, and refuses a call it never made, by name", async () => {
    const l = await learn([PYTHON, '-c', 'import json; print(1)']);
    expect(l.exitCode).toBe(0);
    expect(l.stdout).toBe('1\n');
    expect(l.config).toMatch(/^# Learnt by 'tsjail learn' from: "\/usr\/bin\/python3" "-c" "import json; print\(1\)"/);
    expect(l.config).toContain('USE learnt DEFAULT KILL');
    expect(l.config).not.toContain('src: "/"\n');
    const again = await runTsjail(['--config', l.out]);
    expect(again.stdout).toBe('1\n');
    expect(again.exitCode).toBe(0);
    const other = await runTsjail(['--config', l.out, '--', PYTHON, '-c', 'import os; print(os.getpriority(os.PRIO_PROCESS, 0))']);
    expect(other.exitCode).toBe(159);
    expect(other.stderr).toMatch(/seccomp violation: getpriority\(0, 0\) on x86_64, ip 0x[0-9a-f]+, KILL_THREAD/);
  });

  it('/bin/ls /usr: the same listing from binds of what it read', async () => {
    const l = await learn(['/bin/ls', '/usr']);
    expect(l.exitCode).toBe(0);
    expect(l.config).toMatch(/mount \{\n  src: "\/usr"\n  dst: "\/usr"\n  is_bind: true\n  is_dir: true\n\}/);
    expect(l.config).toMatch(/mount \{\n  src: "usr\/bin"\n  dst: "\/bin"\n  is_symlink: true\n\}/);
    const again = await runTsjail(['--config', l.out]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe(l.stdout);
  });

  it('cat /etc/hostname learnt: cat /etc/passwd is refused and tsjail names the path', async () => {
    const l = await learn(['/bin/cat', '/etc/hostname']);
    expect(l.exitCode).toBe(0);
    expect(l.config).toMatch(/landlock \{\n(    r[ox]: "[^"]+"\n)+    log: true\n/);
    expect((await runTsjail(['--config', l.out])).stdout).toBe(readFileSync('/etc/hostname', 'utf8'));
    const r = await runTsjail(['--config', l.out, '--', '/bin/cat', '/etc/passwd']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/landlock: openat\(AT_FDCWD, "\/etc\/passwd", O_RDONLY, 0\) names \/etc\/passwd, which the jail does not have \(the host has it\) and the Landlock rules do not cover/);
  });

  it.skipIf(!!missingBinary(PYTHON))('a program that listens and connects on TCP: Landlock allows those ports only, the header names the endpoints, the run repeats', async () => {
    // In the jail's own network namespace: its loopback, no port of the host's taken.
    const prog = (port: number) =>
      `import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 47123)); s.listen(1)\n` +
      `c = socket.socket()\ntry:\n  c.connect(("127.0.0.1", ${port})); print("connected")\nexcept OSError as e:\n  print("refused", e.errno)`;
    const l = await learn([PYTHON, '-c', prog(47123)]);
    expect(l.exitCode).toBe(0);
    expect(l.stdout).toBe('connected\n');
    expect(l.config).toMatch(/^# Note: network: it ran in a network namespace of its own \(loopback only\), kept as it was; it reached bind\/connect IPV4 127\.0\.0\.1:47123\b/m);
    expect(l.config).toMatch(/landlock \{\n[^}]*    bind_tcp: 47123\n    connect_tcp: 47123\n/);
    const again = await runTsjail(['--config', l.out]);
    expect(again.stdout).toBe('connected\n');
    // Another port: Landlock refuses the connect (EACCES) before it reaches the loopback (which would answer ECONNREFUSED).
    const other = await runTsjail(['--config', l.out, '--', PYTHON, '-c', prog(47124)]);
    expect(other.stdout).toBe('refused 13\n');
  });

  it('--errno N: the allow-list ends in DEFAULT ERRNO(N)', async () => {
    const l = await learn(['/bin/true'], ['--errno', '1']);
    expect(l.exitCode).toBe(0);
    expect(l.config).toContain('USE learnt DEFAULT ERRNO(1)');
    expect((await runTsjail(['--config', l.out])).exitCode).toBe(0);
  });

  it('refuses what it cannot learn from, before anything runs', async () => {
    const noOut = await runTsjail(['learn', '--chroot', '/', '--', '/bin/true']);
    expect(noOut.exitCode).toBe(255);
    expect(noOut.stderr).toContain('tsjail learn: -o FILE.cfg is required');
    const listen = await runTsjail(['learn', '-o', '/tmp/x.cfg', '-Ml', '--port', '1', '--chroot', '/', '--', '/bin/true']);
    expect(listen.exitCode).toBe(255);
    expect(listen.stderr).toContain('tsjail learn runs the program once');
    const policy = await runTsjail(['learn', '-o', '/tmp/x.cfg', '--seccomp_string', 'DEFAULT ALLOW', '--chroot', '/', '--', '/bin/true']);
    expect(policy.exitCode).toBe(255);
    expect(policy.stderr).toContain('tsjail learn writes the seccomp policy itself');
    const dir = await runTsjail(['learn', '-o', '/nonexistent-dir/x.cfg', '--chroot', '/', '--', '/bin/true']);
    expect(dir.exitCode).toBe(255);
    expect(dir.stderr).toContain("-o '/nonexistent-dir/x.cfg': '/nonexistent-dir': ENOENT");
  });
});
