/** --syscall_allow, --syscall_deny, --seccomp_preset and how they combine with a Kafel policy. */
import { describe, expect, it } from 'vitest';
import { compileSeccomp } from '../../../src/seccomp/index.js';
import { PRESETS } from '../../../src/seccomp/presets.js';
import { decisions, I386, model, type Event } from './helpers.js';
import type { SeccompInput } from '../../../src/seccomp/index.js';

const CLONE_NEWNS = 0x20000n, CLONE_NEWUSER = 0x10000000n, CLONE_NEWPID = 0x20000000n, CLONE_NEWTIME = 0x80n;
const SIGCHLD = 17n;

function answers(input: Partial<SeccompInput>, events: readonly Event[]): string[] {
  const d = decisions(model(input), events);
  expect(d.map((x) => x.ref)).toEqual(d.map((x) => x.bpf));
  return d.map((x) => x.bpf);
}

describe('simple lists', () => {
  it('compiles nothing when nothing is asked', () => {
    expect(compileSeccomp({ policies: [], allow: [], deny: [], presets: [] })).toBeUndefined();
    expect(compileSeccomp({ policies: [], allow: [''], deny: [' , '], presets: [] })).toBeUndefined();
  });

  it('--syscall_allow: only those, everything else EPERM', () => {
    expect(answers({ allow: ['read,write', 'exit_group'] }, [
      { nr: 'read' }, { nr: 'write' }, { nr: 'exit_group' }, { nr: 'openat' }, { nr: 0x40000000 }, { nr: 'read', arch: I386 },
    ])).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ERRNO(1)', 'KILL_PROCESS', 'KILL_THREAD']);
  });

  it('--syscall_deny: those EPERM, everything else allowed', () => {
    expect(answers({ deny: ['write'] }, [{ nr: 'write' }, { nr: 'read' }])).toEqual(['ERRNO(1)', 'ALLOW']);
  });

  it('accepts numbers and uapi/libseccomp spellings', () => {
    expect(answers({ allow: ['0', 'stat,_sysctl,umount2,uname'] }, [{ nr: 0 }, { nr: 4 }, { nr: 156 }, { nr: 166 }, { nr: 63 }, { nr: 1 }]))
      .toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ERRNO(1)']);
  });

  it('deny wins over allow', () => {
    expect(answers({ allow: ['read,write'], deny: ['write'] }, [{ nr: 'write' }, { nr: 'read' }])).toEqual(['ERRNO(1)', 'ALLOW']);
  });
});

describe('combination order: presets, deny list, Kafel policy, allow list', () => {
  it('a preset cannot be re-allowed by the policy', () => {
    expect(answers({ presets: ['deny_devel'], policies: ['ALLOW { ptrace } DEFAULT KILL_PROCESS'] }, [{ nr: 'ptrace' }, { nr: 'read' }]))
      .toEqual(['ERRNO(1)', 'KILL_PROCESS']);
  });

  it('the deny list comes before the policy', () => {
    expect(answers({ deny: ['geteuid'], policies: ['ERRNO(1337) { geteuid } DEFAULT ALLOW'] }, [{ nr: 'geteuid' }])).toEqual(['ERRNO(1)']);
  });

  it('the policy narrows the allow list, whose default is EPERM', () => {
    expect(answers({ policies: ['ERRNO(5) { read { fd == 5 } }'], allow: ['read'] }, [
      { nr: 'read', args: [5] }, { nr: 'read', args: [0] }, { nr: 'write' },
    ])).toEqual(['ERRNO(5)', 'ALLOW', 'ERRNO(1)']);
  });

  it('a policy without DEFAULT keeps Kafel\'s KILL_THREAD next to presets', () => {
    expect(answers({ presets: ['deny_tty'], policies: ['ALLOW { read }'] }, [{ nr: 'write' }])).toEqual(['KILL_THREAD']);
  });

  it('presets alone default to ALLOW, and repeat or comma-join freely', () => {
    expect(answers({ presets: ['deny_devel,deny_tty', 'deny_devel'] }, [{ nr: 'read' }, { nr: 'bpf' }, { nr: 'ioctl', args: [0, 0x5412] }]))
      .toEqual(['ALLOW', 'ERRNO(1)', 'ERRNO(1)']);
  });
});

describe('presets', () => {
  it('deny_devel', () => {
    const names = ['ptrace', 'process_vm_readv', 'process_vm_writev', 'perf_event_open', 'bpf', 'kcmp', 'userfaultfd', 'pidfd_getfd'];
    expect(answers({ presets: ['deny_devel'] }, [...names.map((nr) => ({ nr })), { nr: 'getpid' }, { nr: 'personality' }]))
      .toEqual([...names.map(() => 'ERRNO(1)'), 'ALLOW', 'ALLOW']);
  });

  it('deny_userns', () => {
    expect(answers({ presets: ['deny_userns'] }, [
      { nr: 'unshare', args: [CLONE_NEWUSER] },
      { nr: 'unshare', args: [CLONE_NEWNS] },
      { nr: 'unshare', args: [CLONE_NEWTIME] },
      { nr: 'unshare', args: [0x400n] }, // CLONE_FILES
      { nr: 'unshare', args: [0x100000000n | CLONE_NEWPID] },
      { nr: 'clone', args: [SIGCHLD] },
      { nr: 'clone', args: [CLONE_NEWPID | SIGCHLD] },
      { nr: 'clone', args: [0x3d0f00n | SIGCHLD] }, // pthread_create's flags
      { nr: 'clone3', args: [0, 88] },
      { nr: 'setns', args: [3, 0] },
      { nr: 'fork' },
    ])).toEqual(['ERRNO(1)', 'ERRNO(1)', 'ERRNO(1)', 'ALLOW', 'ERRNO(1)', 'ALLOW', 'ERRNO(1)', 'ALLOW', 'ERRNO(38)', 'ERRNO(1)', 'ALLOW']);
  });

  it('deny_tty compares cmd on 32 bits, as the kernel reads it', () => {
    expect(answers({ presets: ['deny_tty'] }, [
      { nr: 'ioctl', args: [0, 0x5412] },
      { nr: 'ioctl', args: [0, 0x100005412n] },
      { nr: 'ioctl', args: [0, 0x541c] },
      { nr: 'ioctl', args: [0, 0x5413] },
      { nr: 'ioctl', args: [0, 0x5401] }, // TCGETS
    ])).toEqual(['ERRNO(1)', 'ERRNO(1)', 'ERRNO(1)', 'ALLOW', 'ALLOW']);
  });

  it('every preset is valid Kafel on its own', () => {
    for (const name of Object.keys(PRESETS)) {
      expect(compileSeccomp({ policies: [], allow: [], deny: [], presets: [name] })?.length).toBeGreaterThan(4);
    }
  });
});
