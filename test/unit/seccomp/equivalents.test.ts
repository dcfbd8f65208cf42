/** Equivalent calls (issue 13): a rule on a call also covers the other forms of its operation. */
import { describe, expect, it } from 'vitest';
import { FAMILIES, IO_URING_CALLS } from '../../../src/seccomp/equivalents.js';
import { runSeccompCommand } from '../../../src/seccomp/command.js';
import { analyze, type SeccompInput } from '../../../src/seccomp/index.js';
import { syscallByName, TABLES } from '../../../src/seccomp/syscalls/index.js';
import { decisions, model, type Event } from './helpers.js';

function answers(input: Partial<SeccompInput>, events: readonly Event[]): string[] {
  const d = decisions(model(input), events);
  expect(d.map((x) => x.ref)).toEqual(d.map((x) => x.bpf));
  return d.map((x) => x.bpf);
}
const findings = (input: Partial<SeccompInput>) =>
  analyze({ policies: [], allow: [], deny: [], presets: [], ...input })!.findings.map((f) => `${f.source}>${f.target}:${f.state}`);

const AT_FDCWD = -100;
const CLONE_NEWUSER = 0x10000000;
const ENOSYS = 'ERRNO(38)';

describe('the table', () => {
  it('names calls of the x86_64 table, with argument slots inside each call', () => {
    const table = TABLES.x86_64!;
    for (const f of FAMILIES) {
      for (const form of f.forms) {
        const info = syscallByName(table, form.call);
        expect(info, form.call).toBeDefined();
        if (!form.slots) continue;
        expect(form.slots.length, form.call).toBe(f.args.length);
        for (const s of form.slots) if (typeof s === 'number') expect(s, form.call).toBeLessThan(info!.args.length);
      }
      for (const s of f.selects ?? []) expect(f.args).toContain(s);
    }
  });
});

describe('--syscall_deny and Kafel deny rules cover equivalents', () => {
  it('openat: open and creat alike, openat2, open_by_handle_at and io_uring with ENOSYS (the issue\'s example)', () => {
    expect(answers({ deny: ['openat'] }, [
      { nr: 'openat' }, { nr: 'open' }, { nr: 'creat' }, { nr: 'openat2' }, { nr: 'open_by_handle_at' },
      ...IO_URING_CALLS.map((nr) => ({ nr })), { nr: 'read' }, { nr: 'execve' },
    ])).toEqual(['ERRNO(1)', 'ERRNO(1)', 'ERRNO(1)', ENOSYS, ENOSYS, ENOSYS, ENOSYS, ENOSYS, 'ALLOW', 'ALLOW']);
    expect(answers({ policies: ['KILL_PROCESS { open } DEFAULT ALLOW'] }, [{ nr: 'openat' }, { nr: 'openat2' }])).toEqual(['KILL_PROCESS', ENOSYS]);
  });

  it('execve: execveat too; a rule on execveat alone stays there', () => {
    expect(answers({ deny: ['execve'] }, [{ nr: 'execveat' }])).toEqual(['ERRNO(1)']);
    expect(answers({ deny: ['execveat'] }, [{ nr: 'execve' }, { nr: 'execveat' }])).toEqual(['ALLOW', 'ERRNO(1)']);
    // A condition on execveat's flags means nothing for execve, whose flags are 0.
    expect(answers({ policies: ['ERRNO(1) { execve { filename == 0 } } DEFAULT ALLOW'] }, [{ nr: 'execveat', args: [3, 0] }, { nr: 'execveat', args: [3, 8] }]))
      .toEqual(['ERRNO(1)', 'ALLOW']);
  });

  it('clone with a flags check: clone3 gets ENOSYS (glibc falls back to clone), fork and vfork are judged by their fixed flags', () => {
    const policy = `ERRNO(1) { clone { (clone_flags & ${CLONE_NEWUSER}) != 0 } } DEFAULT ALLOW`;
    expect(answers({ policies: [policy] }, [
      { nr: 'clone', args: [CLONE_NEWUSER | 17] }, { nr: 'clone', args: [17] }, { nr: 'clone3' }, { nr: 'fork' }, { nr: 'vfork' },
    ])).toEqual(['ERRNO(1)', 'ALLOW', ENOSYS, 'ALLOW', 'ALLOW']);
    expect(answers({ policies: ['ERRNO(1) { clone { (clone_flags & 0x4000) != 0 } } DEFAULT ALLOW'] }, [{ nr: 'fork' }, { nr: 'vfork' }]))
      .toEqual(['ALLOW', 'ERRNO(1)']);
    expect(answers({ deny: ['clone'] }, [{ nr: 'fork' }, { nr: 'vfork' }, { nr: 'clone3' }])).toEqual(['ERRNO(1)', 'ERRNO(1)', ENOSYS]);
  });

  it('conditions are rewritten argument by argument', () => {
    const policy = 'ERRNO(13) { openat { (flags & 3) != 0 } } DEFAULT ALLOW';
    expect(answers({ policies: [policy] }, [
      { nr: 'open', args: [0, 1] }, { nr: 'open', args: [0, 0] }, { nr: 'creat' }, { nr: 'openat2' }, { nr: 'io_uring_setup' },
    ])).toEqual(['ERRNO(13)', 'ALLOW', 'ERRNO(13)', ENOSYS, ENOSYS]);
    // open's dfd is AT_FDCWD; a 32-bit comparison sees its low word.
    expect(answers({ policies: ['ERRNO(13) { openat { dfd == 0xffffff9c } } DEFAULT ALLOW'] }, [{ nr: 'open' }, { nr: 'openat', args: [AT_FDCWD] }]))
      .toEqual(['ERRNO(13)', 'ERRNO(13)']);
    expect(answers({ policies: ['ERRNO(13) { openat { dfd == 5 } } DEFAULT ALLOW'] }, [{ nr: 'open' }, { nr: 'openat', args: [5] }]))
      .toEqual(['ALLOW', 'ERRNO(13)']);
    // Signals: the pid is in slot 0 for kill and tgkill, in a descriptor for pidfd_send_signal.
    expect(answers({ policies: ['ERRNO(1) { kill { pid == 1 } } DEFAULT ALLOW'] }, [
      { nr: 'tgkill', args: [1, 1, 9] }, { nr: 'tgkill', args: [2, 2, 9] }, { nr: 'tkill', args: [1, 9] }, { nr: 'pidfd_send_signal', args: [3, 9] },
    ])).toEqual(['ERRNO(1)', 'ALLOW', 'ERRNO(1)', ENOSYS]);
    expect(answers({ policies: ['ERRNO(1) { kill { sig == 9 } } DEFAULT ALLOW'] }, [
      { nr: 'pidfd_send_signal', args: [3, 9] }, { nr: 'pidfd_send_signal', args: [3, 15] }, { nr: 'tgkill', args: [5, 5, 9] },
    ])).toEqual(['ERRNO(1)', 'ALLOW', 'ERRNO(1)']);
    // An argument the family has no slot for cannot be carried: ENOSYS.
    expect(answers({ policies: ['ERRNO(1) { write { count == 0 } } DEFAULT ALLOW'] }, [{ nr: 'writev' }])).toEqual([ENOSYS]);
  });

  it('earlier rules on the same call narrow what a later one covers', () => {
    const policy = 'ALLOW { openat { flags == 0 } } ERRNO(1) { openat } DEFAULT ALLOW';
    expect(answers({ policies: [policy] }, [{ nr: 'open', args: [0, 0] }, { nr: 'open', args: [0, 2] }, { nr: 'openat', args: [0, 0, 2] }]))
      .toEqual(['ALLOW', 'ERRNO(1)', 'ERRNO(1)']);
  });

  it('the operation-picking flag of unlinkat: unlink and rmdir map to their own value', () => {
    const AT_REMOVEDIR = 0x200;
    expect(answers({ deny: ['unlink'] }, [{ nr: 'unlinkat', args: [AT_FDCWD, 0, 0] }, { nr: 'unlinkat', args: [AT_FDCWD, 0, AT_REMOVEDIR] }, { nr: 'rmdir' }]))
      .toEqual(['ERRNO(1)', 'ALLOW', 'ALLOW']);
    expect(answers({ deny: ['rmdir'] }, [{ nr: 'unlinkat', args: [3, 0, AT_REMOVEDIR] }, { nr: 'unlinkat', args: [3, 0, 0] }, { nr: 'unlink' }]))
      .toEqual(['ERRNO(1)', 'ALLOW', 'ALLOW']);
    expect(answers({ deny: ['unlinkat'] }, [{ nr: 'unlink' }, { nr: 'rmdir' }])).toEqual(['ERRNO(1)', 'ERRNO(1)']);
  });

  it('newer forms are targets only: ERRNO(38) on them stays the fallback request it is', () => {
    for (const call of ['clone3', 'openat2', 'statx', 'faccessat2', 'renameat2', 'io_uring_setup']) {
      expect(findings({ policies: [`ERRNO(38) { ${call} } DEFAULT ALLOW`] }), call).toEqual([]);
    }
    expect(answers({ policies: ['ERRNO(38) { statx } DEFAULT ALLOW'] }, [{ nr: 'newfstatat' }, { nr: 'newstat' }])).toEqual(['ALLOW', 'ALLOW']);
  });

  it('LOG, TRACE and USER_NOTIF carry over as they are', () => {
    expect(answers({ policies: ['USER_NOTIF { openat } DEFAULT ALLOW'] }, [{ nr: 'open' }, { nr: 'openat2' }])).toEqual(['USER_NOTIF', 'USER_NOTIF']);
    expect(answers({ policies: ['LOG { execve } DEFAULT ALLOW'] }, [{ nr: 'execveat' }])).toEqual(['LOG']);
  });

  it('a call the rules already refuse keeps its own answer', () => {
    expect(answers({ policies: ['ERRNO(1) { openat } ERRNO(5) { openat2 } DEFAULT ALLOW'] }, [{ nr: 'openat2' }])).toEqual(['ERRNO(5)']);
    expect(findings({ policies: ['ERRNO(1) { openat, open, creat, openat2, open_by_handle_at, io_uring_setup, io_uring_enter, io_uring_register } DEFAULT ALLOW'] }))
      .toEqual([]);
  });

  it('an explicit ALLOW in the policy stands, and is reported; the operator\'s deny list still comes first', () => {
    const policy = 'ERRNO(1) { openat } ALLOW { openat2 } DEFAULT ALLOW';
    expect(answers({ policies: [policy] }, [{ nr: 'openat2' }, { nr: 'open' }])).toEqual(['ALLOW', 'ERRNO(1)']);
    expect(findings({ policies: [policy] })).toContain('openat>openat2:allowed');
    expect(answers({ deny: ['openat'], policies: ['ALLOW { openat2 } DEFAULT ALLOW'] }, [{ nr: 'openat2' }])).toEqual([ENOSYS]);
    expect(findings({ deny: ['openat'], policies: ['ALLOW { openat2 } DEFAULT ALLOW'] })).toContain('openat>openat2:added');
  });

  it('allow-lists change nothing: an equivalent they do not name is refused anyway', () => {
    const policy = 'ALLOW { openat2, read } ERRNO(1) { openat } DEFAULT KILL';
    expect(answers({ policies: [policy] }, [{ nr: 'openat2' }, { nr: 'open' }])).toEqual(['ALLOW', 'KILL_THREAD']);
    expect(findings({ policies: [policy] })).toEqual([]);
    expect(answers({ allow: ['openat2'], deny: ['openat'] }, [{ nr: 'openat2' }, { nr: 'open' }])).toEqual(['ALLOW', 'ERRNO(1)']);
  });

  it('equivalents: false applies rules only to the calls they name, and says what is left open', () => {
    expect(answers({ deny: ['openat'], equivalents: false }, [{ nr: 'openat2' }, { nr: 'open' }, { nr: 'io_uring_setup' }])).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
    expect(findings({ deny: ['openat'], equivalents: false })).toEqual([
      'openat>open:off', 'openat>creat:off', 'openat>openat2:off', 'openat>open_by_handle_at:off',
      'openat>io_uring_setup:off', 'openat>io_uring_enter:off', 'openat>io_uring_register:off',
    ]);
  });

  it('mount: the fd-based mount API answers ENOSYS so libmount falls back to mount(2)', () => {
    expect(answers({ deny: ['mount'] }, [{ nr: 'fsopen' }, { nr: 'move_mount' }, { nr: 'open_tree' }, { nr: 'mount_setattr' }]))
      .toEqual([ENOSYS, ENOSYS, ENOSYS, ENOSYS]);
  });

  it('socket: io_uring\'s IORING_OP_SOCKET would bypass a family check', () => {
    expect(answers({ presets: ['deny_socket_family'] }, [{ nr: 'io_uring_setup' }])).toEqual([ENOSYS]);
  });
});

describe('tsjail seccomp lint', () => {
  async function lint(...argv: string[]) {
    let stdout = '', stderr = '';
    const code = await runSeccompCommand(['lint', ...argv], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
    return { code, stdout, stderr };
  }

  it('notes what tsjail closes, exit 0', async () => {
    const r = await lint('--policy', 'ERRNO(1) { execve } DEFAULT ALLOW');
    expect(r).toEqual({ code: 0, stderr: '', stdout: 'note: execve is restricted; tsjail applies the same rule to its equivalents (Kafel and nsjail leave them open): execveat\n' });
  });

  it('names what stays open, exit 1', async () => {
    const off = await lint('--syscall_deny', 'execve', '--seccomp_no_equivalents');
    expect(off).toMatchObject({ code: 1, stdout: 'open: execve is restricted, but its equivalents are left open (--seccomp_no_equivalents): execveat\n' });
    const allowed = await lint('--policy', 'ERRNO(1) { execve } ALLOW { execveat } DEFAULT ALLOW');
    expect(allowed).toMatchObject({ code: 1, stdout: 'open: execve is restricted, but the policy allows its equivalents explicitly: execveat\n' });
  });

  it('is quiet for complete deny-lists and allow-lists', async () => {
    expect(await lint('--seccomp_preset', 'default')).toMatchObject({ code: 0, stdout: 'no equivalent left open\n' });
    expect(await lint('--policy', 'ALLOW { read } DEFAULT KILL')).toMatchObject({ code: 0, stdout: 'DEFAULT KILL_THREAD: calls the rules do not name are refused, equivalents included\n' });
    expect((await lint()).code).toBe(255);
  });
});
