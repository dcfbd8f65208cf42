/**
 * The compiled filters in the real kernel: a python3 child installs the bytes
 * (prctl(PR_SET_NO_NEW_PRIVS), seccomp(SECCOMP_SET_MODE_FILTER)) and makes raw
 * syscalls. Skipped without python3 or seccomp.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSeccomp, type SeccompInput } from '../../../src/seccomp/index.js';
import { findSeccompViolation } from '../../../src/seccomp/violation.js';

const INSTALL = String.raw`
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
data = open(sys.argv[1], 'rb').read()
buf = ctypes.create_string_buffer(data, len(data))
class Prog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
prog = Prog(len(data) // 8, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) != 0: sys.exit(90)                              # PR_SET_NO_NEW_PRIVS
if libc.syscall(317, 1, 0, ctypes.byref(prog)) != 0: sys.exit(91)             # seccomp(SET_MODE_FILTER)
out = []
for nr in map(lambda s: int(s, 0), sys.argv[2:]):
    r = libc.syscall(ctypes.c_long(nr), 0, 0, 0, 0, 0, 0)
    out.append('%d:%d' % (r, ctypes.get_errno() if r == -1 else 0))
os.write(1, (' '.join(out) + '\n').encode())
`;

const python = spawnSync('python3', ['-c', 'import ctypes'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'tsjail-seccomp-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'install.py'), INSTALL);

function runFiltered(input: Partial<SeccompInput>, nrs: Array<number | string>) {
  const f = compileSeccomp({ policies: [], allow: [], deny: [], presets: [], ...input })!;
  const file = join(dir, `f${Math.random().toString(36).slice(2)}.bpf`);
  writeFileSync(file, f.program);
  return spawnSync('python3', [join(dir, 'install.py'), file, ...nrs.map(String)], { encoding: 'utf8' });
}

describe.skipIf(!python)('filters in the kernel', () => {
  it('ERRNO(1337) { geteuid } DEFAULT ALLOW: geteuid fails with errno 1337, getpid works', () => {
    const r = runFiltered({ policies: ['ERRNO(1337) { geteuid }', 'DEFAULT ALLOW'] }, [107, 39]);
    expect(r.status).toBe(0);
    const [euid, pid] = r.stdout.trim().split(' ');
    expect(euid).toBe('-1:1337');
    expect(pid).toMatch(/^\d+:0$/);
  });

  it('--syscall_deny and presets answer EPERM and ENOSYS', () => {
    const r = runFiltered({ deny: ['getppid'], presets: ['deny_userns'] }, [110, 435]);
    expect(r.stdout.trim()).toBe('-1:1 -1:38');
  });

  it('KILL_PROCESS kills with SIGSYS, and the x32 range is killed under DEFAULT ALLOW', () => {
    const r = runFiltered({ policies: ['KILL_PROCESS { newuname } DEFAULT ALLOW'] }, [63]);
    expect(r.signal).toBe('SIGSYS');
    const x32 = runFiltered({ policies: ['KILL { ptrace } DEFAULT ALLOW'] }, [0x40000000 + 39]);
    expect(x32.signal).toBe('SIGSYS');
  });

  // The record reaches /dev/kmsg only when it is readable (root/CAP_SYSLOG), kill actions
  // are logged, and no auditd takes the records (see violation.ts).
  let kmsg = false;
  try {
    accessSync('/dev/kmsg', constants.R_OK);
    kmsg = readFileSync('/proc/sys/kernel/seccomp/actions_logged', 'utf8').includes('kill_process')
      && !['/run/auditd.pid', '/var/run/auditd.pid'].some(existsSync);
  } catch {
    // unreadable: skip
  }
  it.skipIf(!kmsg)('the audit record names the syscall', async () => {
    const since = process.hrtime.bigint();
    const r = runFiltered({ policies: ['KILL_PROCESS { newuname } DEFAULT ALLOW'] }, [63]);
    expect(r.signal).toBe('SIGSYS');
    let v;
    for (let i = 0; i < 40 && !v; i++) {
      v = findSeccompViolation(r.pid!, { since });
      if (!v) await new Promise((ok) => setTimeout(ok, 10));
    }
    expect(v).toMatchObject({ nr: 63, name: 'newuname', arch: 'x86_64', action: 'KILL_PROCESS' });
  });
});
