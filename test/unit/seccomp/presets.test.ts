/** --seccomp_preset: each preset's exact contents, the groups, and the decisions behind issue 13. */
import { describe, expect, it } from 'vitest';
import { compileSeccomp, type SeccompInput } from '../../../src/seccomp/index.js';
import { expandPresets, PRESET_GROUPS, PRESETS } from '../../../src/seccomp/presets.js';
import { decisions, model, type Event } from './helpers.js';

function answers(input: Partial<SeccompInput>, events: readonly Event[]): string[] {
  const d = decisions(model(input), events);
  expect(d.map((x) => x.ref)).toEqual(d.map((x) => x.bpf));
  return d.map((x) => x.bpf);
}
const each = (preset: string, names: readonly string[]) => answers({ presets: [preset] }, names.map((nr) => ({ nr })));
const all = (n: number, what: string) => Array<string>(n).fill(what);

// The unconditional members, exactly as src/seccomp/README.md lists them.
const PLAIN: Record<string, Record<string, readonly string[]>> = {
  deny_common: {
    'ERRNO(1)': ['syslog', 'uselib', 'acct', 'quotactl', 'quotactl_fd', 'lookup_dcookie', 'add_key', 'keyctl', 'request_key',
      'mbind', 'get_mempolicy', 'set_mempolicy', 'set_mempolicy_home_node', 'migrate_pages', 'move_pages'],
  },
  deny_system: {
    'ERRNO(1)': ['adjtimex', 'clock_adjtime', 'clock_settime', 'settimeofday', 'init_module', 'finit_module', 'delete_module',
      'kexec_load', 'kexec_file_load', 'reboot', 'swapon', 'swapoff'],
  },
  deny_mount: {
    'ERRNO(1)': ['mount', 'umount2', 'pivot_root', 'chroot'],
    'ERRNO(38)': ['open_tree', 'open_tree_attr', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr'],
  },
  deny_chown: { 'ERRNO(1)': ['chown', 'lchown', 'fchown', 'fchownat'] },
  deny_setid: { 'ERRNO(1)': ['setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setfsuid', 'setfsgid', 'setgroups'] },
  deny_emu: { 'ERRNO(1)': ['modify_ldt', 'iopl', 'ioperm'] },
  deny_io_uring: { 'ERRNO(38)': ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] },
  deny_devel: { 'ERRNO(1)': ['ptrace', 'process_vm_readv', 'process_vm_writev', 'perf_event_open', 'bpf', 'kcmp', 'userfaultfd', 'pidfd_getfd'] },
};

const AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17, AF_BLUETOOTH = 31, AF_ALG = 38, AF_VSOCK = 40;

describe('preset contents', () => {
  for (const [preset, byAction] of Object.entries(PLAIN)) {
    it(`${preset} refuses exactly its calls`, () => {
      for (const [want, names] of Object.entries(byAction)) expect(each(preset, names)).toEqual(all(names.length, want));
      // Neighbours stay allowed.
      expect(each(preset, ['getpid', 'read', 'openat', 'execve'])).toEqual(all(4, 'ALLOW'));
    });
  }

  it('deny_socket_family: unix, inet, inet6 and netlink only; the rest EAFNOSUPPORT, family read as an int', () => {
    const fams = [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, 0, AF_PACKET, AF_BLUETOOTH, AF_ALG, AF_VSOCK, 0xffffffff];
    const want = ['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ERRNO(97)', 'ERRNO(97)', 'ERRNO(97)', 'ERRNO(97)', 'ERRNO(97)', 'ERRNO(97)'];
    expect(answers({ presets: ['deny_socket_family'] }, fams.map((f) => ({ nr: 'socket', args: [f, 3, 0] })))).toEqual(want);
    expect(answers({ presets: ['deny_socket_family'] }, fams.map((f) => ({ nr: 'socketpair', args: [f, 1, 0, 0] })))).toEqual(want);
    // High bits are ignored as the kernel ignores them: this is AF_INET.
    expect(answers({ presets: ['deny_socket_family'] }, [{ nr: 'socket', args: [0x100000000n | 2n, 1, 0] }])).toEqual(['ALLOW']);
  });

  it('deny_personality: Linux, PER_LINUX32, UNAME26 and the query only', () => {
    const ok = [0, 0x8, 0x20000, 0x20008, 0xffffffff];
    const refused = [0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 0x0100000 /* MMAP_PAGE_ZERO */, 0x1 /* PER_SVR4 */, 0x10 /* PER_BSD */, 0x0040008];
    expect(answers({ presets: ['deny_personality'] }, [...ok, ...refused].map((p) => ({ nr: 'personality', args: [p] }))))
      .toEqual([...all(ok.length, 'ALLOW'), ...all(refused.length, 'ERRNO(1)')]);
  });

  it('deny_devel refuses USERFAULTFD_IOC_NEW (cmd read as an unsigned int) and leaves other ioctls', () => {
    expect(answers({ presets: ['deny_devel'] }, [
      { nr: 'ioctl', args: [3, 0xaa00] }, { nr: 'ioctl', args: [3, 0x10000aa00n] }, { nr: 'ioctl', args: [3, 0x5412] }, { nr: 'ioctl', args: [3, 0x5401] },
    ])).toEqual(['ERRNO(1)', 'ERRNO(1)', 'ALLOW', 'ALLOW']);
  });

  it('groups: deny_ns is fortify\'s namespace set; default is every preset but deny_setid', () => {
    expect(PRESET_GROUPS.deny_ns).toEqual(['deny_userns', 'deny_mount', 'deny_chown', 'deny_setid']);
    expect([...PRESET_GROUPS.default!].sort()).toEqual(Object.keys(PRESETS).filter((p) => p !== 'deny_setid').sort());
    expect(expandPresets(['deny_tty', 'default', 'deny_ns']).presets).toEqual([
      'deny_tty', 'deny_common', 'deny_system', 'deny_userns', 'deny_mount', 'deny_chown', 'deny_emu',
      'deny_socket_family', 'deny_personality', 'deny_io_uring', 'deny_devel', 'deny_setid',
    ]);
    expect(expandPresets(['default', 'nope']).unknown).toBe('nope');
  });
});

describe('the default preset (issue 13: "seccomp eval shows … still allowed under all three presets")', () => {
  it('refuses mount, open_tree, keyctl, kexec_load, reboot, chown and socket(AF_PACKET)', () => {
    expect(answers({ presets: ['default'] }, [
      { nr: 'mount' }, { nr: 'open_tree' }, { nr: 'keyctl' }, { nr: 'kexec_load' }, { nr: 'reboot' }, { nr: 'chown' },
      { nr: 'socket', args: [AF_PACKET, 3, 0] },
    ])).toEqual(['ERRNO(1)', 'ERRNO(38)', 'ERRNO(1)', 'ERRNO(1)', 'ERRNO(1)', 'ERRNO(1)', 'ERRNO(97)']);
  });

  it('leaves what ordinary programs do: files, exec, threads, fork, inet sockets, dropping privileges', () => {
    expect(answers({ presets: ['default'] }, [
      { nr: 'openat' }, { nr: 'execve' }, { nr: 'clone', args: [0x3d0f00] }, { nr: 'fork' }, { nr: 'socket', args: [AF_INET6, 1, 0] },
      { nr: 'setuid', args: [1000] }, { nr: 'setgroups' }, { nr: 'personality', args: [0xffffffff] }, { nr: 'ioctl', args: [1, 0x5401] },
    ])).toEqual(all(9, 'ALLOW'));
    expect(answers({ presets: ['default'] }, [{ nr: 'clone3' }, { nr: 'unshare', args: [0x10000000] }, { nr: 'ioctl', args: [0, 0x5412] }]))
      .toEqual(['ERRNO(38)', 'ERRNO(1)', 'ERRNO(1)']);
  });

  it('deny_setid (and so deny_ns) refuses set*id; default does not', () => {
    expect(answers({ presets: ['deny_ns'] }, [{ nr: 'setresuid' }, { nr: 'mount' }, { nr: 'chown' }])).toEqual(all(3, 'ERRNO(1)'));
  });

  it('stays small: one filter well under the kernel limit, a short path for common calls', () => {
    const f = compileSeccomp({ policies: [], allow: [], deny: [], presets: ['default'] })!;
    expect(f.length).toBeLessThan(300);
    expect(f.findings).toEqual([]);
    const [read] = decisions(model({ presets: ['default'] }), [{ nr: 'read' }]);
    expect(read!.executed).toBeLessThan(16);
  });
});
