/** Landlock (issue 6): path, network and scope rules seen from inside real jails, and the status line. */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeLandlockAbi } from '../../src/linux/landlock.js';
import { runTsjail, sh } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const kernel = probeLandlockAbi();

/** go-landlock's RequireABI: skip with the reason printed. */
function missingLandlockAbi(n: number): string | undefined {
  const why = kernel.abi >= n ? undefined : kernel.abi === 0 ? kernel.reason : `requires Landlock >= V${n}, got V${kernel.abi}`;
  if (why) console.warn(`SKIP (Landlock ABI ${n}): ${why}`);
  return why;
}

const PYTHON = '/usr/bin/python3';
const base = missingRoot() ?? missingUserns();
const skipFs = base ?? missingLandlockAbi(1);
const skipNet = base ?? missingLandlockAbi(4) ?? missingBinary(PYTHON);
const skipScope = base ?? missingLandlockAbi(6) ?? missingBinary(PYTHON);

/** What the shell and its libraries need (on merged-/usr hosts /bin, /lib and /lib64 are links into /usr). */
const SYSTEM = ['--landlock_rx', '/usr', '--landlock_rx', '/lib', '--landlock_rx', '/bin', '--landlock_rx_try', '/lib64'];

describe.skipIf(!!skipFs)('Landlock file system rules', () => {
  it('cannot read outside the read-only paths', async () => {
    const r = await sh('cat /etc/hostname', SYSTEM);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('cat: /etc/hostname: Permission denied');
    expect(r.exitCode).toBe(1);
  });

  it('reads what --landlock_ro allows, files as well as directories', async () => {
    const dir = await sh('cat /etc/hostname >/dev/null && ls /etc >/dev/null && echo read', [...SYSTEM, '--landlock_ro', '/etc', '--landlock_rw', '/dev/null']);
    expect(dir.stdout).toBe('read\n');
    const file = await sh('cat /etc/hostname >/dev/null && echo read; ls /etc', [...SYSTEM, '--landlock_ro', '/etc/hostname', '--landlock_rw', '/dev/null']);
    expect(file.stdout).toBe('read\n');
    expect(file.stderr).toContain("ls: cannot open directory '/etc': Permission denied");
  });

  it('cannot write under a read-only path', async () => {
    const r = await sh('echo x > /tmp/f', [...SYSTEM, '-T', '/tmp', '--landlock_ro', '/tmp']);
    expect(r.stderr).toContain('cannot create /tmp/f: Permission denied');
    expect(r.exitCode).not.toBe(0);
  });

  it('writes under a read-write path', async () => {
    const r = await sh('echo ok > /tmp/t && cat /tmp/t && rm /tmp/t && mkdir /tmp/d && echo done', [...SYSTEM, '-T', '/tmp', '--landlock_rw', '/tmp']);
    expect(r.stdout).toBe('ok\ndone\n');
    expect(r.exitCode).toBe(0);
  });

  it('cannot execute a binary outside the execute-allowed paths, even under a read-write path', async () => {
    const script = 'cp /usr/bin/true /tmp/t && /tmp/t && echo ran';
    const denied = await sh(script, [...SYSTEM, '-T', '/tmp', '--landlock_rw', '/tmp']);
    expect(denied.stderr).toContain('/tmp/t: Permission denied');
    expect(denied.exitCode).toBe(126);
    const allowed = await sh(script, [...SYSTEM, '-T', '/tmp', '--landlock_rw', '/tmp', '--landlock_rx', '/tmp']);
    expect(allowed.stdout).toBe('ran\n');
  });

  it('fails on a missing path, naming it; the _try form skips it with a warning', async () => {
    const missing = await sh('echo ran', [...SYSTEM, '--landlock_ro', '/nonexistent-ll']);
    expect(missing.exitCode).toBe(255);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain(
      "openat('/nonexistent-ll', O_PATH|O_CLOEXEC) for --landlock_ro: ENOENT (No such file or directory) (hint: a Landlock path must exist inside the jail; --landlock_ro_try skips a missing one) [op ",
    );
    const tried = await sh('echo ran', [...SYSTEM, '--landlock_ro_try', '/nonexistent-ll']);
    expect(tried.stdout).toBe('ran\n');
    expect(tried.exitCode).toBe(0);
    expect(tried.stderr).toMatch(/\[W\].*openat\('\/nonexistent-ll', O_PATH\|O_CLOEXEC\) for --landlock_ro_try: ENOENT \(No such file or directory\)/);
  });

  it('logs the enforcement status with the kernel ABI', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', ...SYSTEM, '--', '/bin/true']);
    expect(r.exitCode).toBe(0);
    const needed = 5;
    const line = kernel.abi >= needed ? `[I]` : `[W]`;
    expect(r.stderr).toMatch(new RegExp(`\\${line}\\[[^\\]]+\\] .*Landlock: (fully|partially) enforced \\(kernel ABI ${kernel.abi}, rules need ABI ${needed}\\)`));
  });

  it('says so when protection is weaker than asked, and refuses with --landlock_required', async () => {
    const env = { TSJAIL_LANDLOCK_ABI: '2' };
    const weaker = await runTsjail(['-Mo', '--chroot', '/', '-q', ...SYSTEM, '--', '/bin/true'], { env });
    expect(weaker.exitCode).toBe(0);
    expect(weaker.stderr).toContain(
      `Landlock: partially enforced (kernel ABI 2, rules need ABI 5): the kernel cannot restrict TRUNCATE, IOCTL_DEV [probed ABI ${kernel.abi}, capped by TSJAIL_LANDLOCK_ABI=2]`,
    );
    const required = await runTsjail(['-Mo', '--chroot', '/', '-q', ...SYSTEM, '--landlock_required', '--', '/bin/echo', 'ran'], { env });
    expect(required.exitCode).toBe(255);
    expect(required.stdout).toBe('');
    expect(required.stderr).toContain('Landlock cannot enforce every rule asked for (--landlock_required): kernel ABI 2, rules need ABI 5; the kernel cannot restrict TRUNCATE, IOCTL_DEV');
  });
});

/** Listens on 8080 and 9090 on the jail's own loopback, then connects to both. */
const CONNECT = `
import socket
servers = []
for port in (8080, 9090):
    s = socket.socket(); s.bind(("127.0.0.1", port)); s.listen(); servers.append(s)
for port in (8080, 9090):
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", port)); print(port, "connected")
    except OSError as e:
        print(port, e.strerror)
`;
const BIND = `
import socket
for port in (8080, 9090):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port)); print(port, "bound")
    except OSError as e:
        print(port, e.strerror)
`;

describe.skipIf(!!skipNet)('Landlock network rules', () => {
  it('connect() reaches an allowed port and is refused on any other', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--landlock_connect_tcp', '8080', '--', PYTHON, '-c', CONNECT]);
    expect(r.stdout).toBe('8080 connected\n9090 Permission denied\n');
  });

  it('bind() succeeds on an allowed port only', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--landlock_bind_tcp', '9090', '--', PYTHON, '-c', BIND]);
    expect(r.stdout).toBe('8080 Permission denied\n9090 bound\n');
  });
});

describe.skipIf(!!skipScope)('Landlock scopes', () => {
  const name = `tsjail-landlock-${process.pid}`;
  let server: Server;
  beforeAll(async () => {
    server = createServer((c) => c.end());
    await new Promise<void>((resolve) => server.listen(`\0${name}`, resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const connectAbstract = `
import socket
s = socket.socket(socket.AF_UNIX)
try:
    # Node binds the whole sun_path: the name is padded with NULs to 108 bytes.
    s.connect(b"\\0${name}".ljust(108, b"\\0")); print("connected")
except OSError as e:
    print(e.strerror)
`;

  it('an abstract unix socket outside the jail is refused when scoped', async () => {
    // -N: the abstract namespace belongs to the network namespace, so share the host's.
    const open = await runTsjail(['-Mo', '--chroot', '/', '-q', '-N', '--', PYTHON, '-c', connectAbstract]);
    expect(open.stdout).toBe('connected\n');
    const scoped = await runTsjail(['-Mo', '--chroot', '/', '-q', '-N', '--landlock_scope', 'abstract_unix', '--', PYTHON, '-c', connectAbstract]);
    expect(scoped.stdout).toBe('Operation not permitted\n');
  });

  it('a process outside the jail cannot be signalled when scoped', async () => {
    const script = `kill -0 ${process.pid} && echo sent`;
    // The host's pid namespace, so the test process is visible (and /proc cannot be mounted).
    const open = await sh(script, ['--disable_clone_newpid', '--disable_proc']);
    expect(open.stdout).toBe('sent\n');
    const scoped = await sh(script, ['--disable_clone_newpid', '--disable_proc', '--landlock_scope', 'signal']);
    expect(scoped.stdout).toBe('');
    expect(scoped.stderr).toMatch(/Operation not permitted/);
  });
});
