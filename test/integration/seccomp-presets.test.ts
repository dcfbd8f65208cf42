/**
 * Issue 13 through the real CLI: presets that close the side doors, equivalent
 * calls, `seccomp lint`, and --seccomp_bpf_file, judged from inside the jail
 * by the errno a program gets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jail, runTsjail } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns() ?? missingBinary('/usr/bin/python3');
const dir = mkdtempSync(join(tmpdir(), 'tsjail-sc13-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a Python snippet in the jail (no bytecode writes, so only its own calls matter). */
const py = (args: readonly string[], code: string) => jail(args, ['/usr/bin/python3', '-B', '-c', code]);

// Prints `name errno-name` (or `name ok`) for each raw syscall attempt.
const PROBE = `
import ctypes, errno, os, socket, fcntl
libc = ctypes.CDLL(None, use_errno=True)
def sc(name, nr, *args):
    r = libc.syscall(nr, *args)
    print(name, 'ok' if r >= 0 else errno.errorcode[ctypes.get_errno()])
def sock(name, fam):
    try:
        socket.socket(fam, socket.SOCK_DGRAM).close(); print(name, 'ok')
    except OSError as e: print(name, errno.errorcode[e.errno])
`;

describe.skipIf(!!skip)('issue 13: seccomp presets and equivalents in real jails', () => {
  it('default: socket(AF_PACKET) gets EAFNOSUPPORT, inet and unix sockets work', async () => {
    const r = await py(['--seccomp_preset', 'default'], `${PROBE}
sock('packet', socket.AF_PACKET); sock('vsock', 40); sock('inet', socket.AF_INET); sock('unix', socket.AF_UNIX)`);
    expect(r.stdout).toBe('packet EAFNOSUPPORT\nvsock EAFNOSUPPORT\ninet ok\nunix ok\n');
    expect(r.exitCode).toBe(0);
  });

  it('default: keyctl, mount, open_tree, io_uring and ADDR_NO_RANDOMIZE are refused; the program runs', async () => {
    const r = await py(['--seccomp_preset', 'default'], `${PROBE}
sc('keyctl', 250, 0, -3, 0)            # KEYCTL_GET_KEYRING_ID of the session keyring
sc('mount', 165, 0, 0, 0, 0, 0)
sc('open_tree', 428, -100, 0, 0)
sc('io_uring_setup', 425, 1, 0)
sc('personality', 135, 0x0040000)
sc('personality_query', 135, 0xffffffff)`);
    expect(r.stdout).toBe('keyctl EPERM\nmount EPERM\nopen_tree ENOSYS\nio_uring_setup ENOSYS\npersonality EPERM\npersonality_query ok\n');
  });

  it('deny_devel refuses USERFAULTFD_IOC_NEW, whatever the descriptor (the kernel alone says ENOTTY)', async () => {
    const code = `${PROBE}
r, w = os.pipe()
try:
    fcntl.ioctl(r, 0xAA00, 0); print('ioctl ok')
except OSError as e: print('ioctl', errno.errorcode[e.errno])`;
    expect((await py(['--seccomp_preset', 'deny_devel'], code)).stdout).toBe('ioctl EPERM\n');
    expect((await py([], code)).stdout).toBe('ioctl ENOTTY\n');
  });

  it('a Kafel rule on openat also holds for creat, openat2 and io_uring in the kernel; --seccomp_no_equivalents opts out with a warning', async () => {
    // Refuse creating files (O_CREAT) through openat; reading keeps working.
    const policy = 'ERRNO(13) { openat { (flags & 0x40) != 0 } } DEFAULT ALLOW';
    const code = `${PROBE}
path = ctypes.c_char_p(b'/tmp/tsjail-sc13-probe')
sc('openat', 257, -100, path, 0x41, 0o600)
sc('creat', 85, path, 0o600)
sc('openat2', 437, -100, path, 0, 24)
sc('io_uring_setup', 425, 1, 0)
print('read', len(open('/etc/hostname').read()) >= 0)`;
    const on = await py(['--seccomp_string', policy], code);
    expect(on.stdout).toBe('openat EACCES\ncreat EACCES\nopenat2 ENOSYS\nio_uring_setup ENOSYS\nread True\n');
    const off = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_string', policy, '--seccomp_no_equivalents', '--', '/usr/bin/python3', '-B', '-c', `${PROBE}
sc('io_uring_setup', 425, 1, 0)`]);
    expect(off.stderr).toMatch(/seccomp: openat is restricted, but its equivalents are left open \(--seccomp_no_equivalents\): open, creat, openat2, open_by_handle_at, io_uring_setup/);
    // io_uring_setup(1, NULL) reaches the kernel, which faults on the NULL params.
    expect(off.stdout).toBe('io_uring_setup EFAULT\n');
  });

  it('tsjail seccomp eval: --syscall_deny openat denies openat2 and io_uring_setup too (the issue\'s criterion)', async () => {
    for (const [call, want] of [['openat', 'ERRNO(1)'], ['openat2', 'ERRNO(38)'], ['io_uring_setup', 'ERRNO(38)'], ['open', 'ERRNO(1)']]) {
      const r = await runTsjail(['seccomp', 'eval', '--syscall_deny', 'openat', '--syscall', call!]);
      expect(r.stdout, call).toBe(`${want}\n`);
    }
    for (const call of ['mount', 'open_tree', 'keyctl', 'kexec_load', 'reboot', 'chown']) {
      const r = await runTsjail(['seccomp', 'eval', '--seccomp_preset', 'default', '--syscall', call]);
      expect(r.stdout, call).toMatch(/^ERRNO\((1|38)\)\n$/);
    }
    const packet = await runTsjail(['seccomp', 'eval', '--seccomp_preset', 'default', '--syscall', 'socket', '--args', '17,3,0']);
    expect(packet.stdout).toBe('ERRNO(97)\n');
    const lint = await runTsjail(['seccomp', 'lint', '--policy', 'ERRNO(1) { execve } DEFAULT ALLOW', '--seccomp_no_equivalents']);
    expect(lint.exitCode).toBe(1);
    expect(lint.stdout).toContain('execveat');
  });
});

describe.skipIf(!!skip)('--seccomp_bpf_file', () => {
  it('installs a filter written by tsjail seccomp compile, stacked with the compiled policy', async () => {
    const file = join(dir, 'geteuid.bpf');
    const c = await runTsjail(['seccomp', 'compile', '--policy', 'ERRNO(1337) { geteuid } DEFAULT ALLOW', '-o', file]);
    expect(c.exitCode).toBe(0);
    const r = await py(['--seccomp_bpf_file', file, '--seccomp_preset', 'deny_socket_family'], `${PROBE}
print(os.geteuid()); sock('packet', socket.AF_PACKET)`);
    expect(r.stdout).toBe('4294965959\npacket EAFNOSUPPORT\n');
    // The file alone also forces no_new_privs, as any filter does.
    const alone = await jail(['--seccomp_bpf_file', file], ['/bin/sh', '-c', 'grep NoNewPrivs /proc/self/status']);
    expect(alone.stdout).toMatch(/NoNewPrivs:\s+1/);
  });

  it.each([
    ['a size that is not a multiple of 8', Buffer.from('abc'), /3 bytes is not a whole number of 8-byte struct sock_filter instructions/],
    ['an empty file', Buffer.alloc(0), /empty: a filter needs at least one instruction/],
    ['a jump past the end', Buffer.from([0x15, 0, 5, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), /not a loadable seccomp filter: 0: jump to 6 past the end/],
    ['no RET at the end', Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f, 0x20, 0, 0, 0, 0, 0, 0, 0]), /1: the last instruction is not a RET/],
    ['an opcode seccomp refuses', Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), /0: opcode 0x28 not allowed in seccomp/],
  ])('refuses %s before any clone: one line, exit 255', async (_what, bytes, message) => {
    const file = join(dir, 'bad.bpf');
    writeFileSync(file, bytes);
    const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_bpf_file', file, '--', '/bin/true']);
    expect(r.exitCode).toBe(255);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`--seccomp_bpf_file '${file}': `);
    expect(lines[0]).toMatch(message);
  });
});
