/** Seccomp in real jails (issue 5): Kafel decisions, kills with the syscall named, simple lists. */
import { describe, expect, it } from 'vitest';
import { jail, runTsjail, sh } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();

describe.skipIf(!!skip)('seccomp filters in real jails', () => {
  it('ERRNO(1337) { geteuid } makes id show euid 4294965959', async () => {
    const r = await jail(['--seccomp_string', 'ERRNO(1337) { geteuid } DEFAULT ALLOW'], ['/usr/bin/id']);
    expect(r.stdout).toContain('euid=4294965959');
    expect(r.exitCode).toBe(0);
  });

  it('KILL_PROCESS gives 159 and the log names the syscall', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_string', 'KILL_PROCESS { newuname } DEFAULT ALLOW', '--', '/bin/uname']);
    expect(r.exitCode).toBe(159);
    expect(r.stderr).toMatch(/terminated with signal: SIGSYS \(31\)/);
    expect(r.stderr).toMatch(/committed a syscall\/seccomp violation and exited with SIGSYS/);
    expect(r.stderr).toMatch(/seccomp violation: newuname\(0x[0-9a-f]+\) on x86_64, ip 0x[0-9a-f]+, KILL_PROCESS: killed with SIGKILL \(PID 1 of its pid namespace/);
  });

  // The report pipe and the seccomp watcher are read on libuv's pool while it has slots (proc/pool.ts),
  // else from the event loop: with 1 thread, none (both from the loop); with 3, one (the report pipe).
  for (const threads of ['1', '3']) {
    it(`names a violation and reports the exec with a pool of ${threads} thread(s) (UV_THREADPOOL_SIZE)`, async () => {
      const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--seccomp_string', 'ERRNO(1) { newuname } DEFAULT ALLOW', '--', '/bin/uname'], { env: { UV_THREADPOOL_SIZE: threads } });
      expect(r.stderr).toMatch(/seccomp violation: newuname\(0x[0-9a-f]+\) on x86_64, ip 0x[0-9a-f]+, ERRNO\(1\): failed with EPERM/);
      expect(r.exitCode).toBe(1);
      const bad = await runTsjail(['-Mo', '--chroot', '/', '-q', '--', '/no/such/program'], { env: { UV_THREADPOOL_SIZE: threads } });
      expect(bad.stderr).toMatch(/execve\('\/no\/such\/program'\) failed: ENOENT/);
      expect(bad.exitCode).toBe(255);
    });
  }

  it('--seccomp_no_notify: the kernel kills, and the audit record names the call (root)', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_no_notify', '--seccomp_string', 'KILL_PROCESS { newuname } DEFAULT ALLOW', '--', '/bin/uname']);
    expect(r.exitCode).toBe(159);
    expect(r.stderr).toMatch(/seccomp violation: newuname \(63\) on x86_64/);
  });

  it('repeated --seccomp_string entries are joined', async () => {
    const r = await jail(['--seccomp_string', 'ERRNO(1) { newuname }', '--seccomp_string', 'DEFAULT ALLOW'], ['/bin/uname']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('Operation not permitted');
  });

  it('--syscall_deny write makes echo fail', async () => {
    const r = await jail(['--syscall_deny', 'write'], ['/bin/echo', 'hi']);
    expect(r.stdout).toBe('');
    expect(r.exitCode).not.toBe(0);
  });

  it('--syscall_allow lets the listed calls through and fails the rest with EPERM', async () => {
    const base = 'execve,brk,arch_prctl,mmap,munmap,mprotect,openat,newfstatat,fstat,read,pread64,close,access,set_tid_address,set_robust_list,rseq,prlimit64,getrandom,exit_group';
    const ok = await jail(['--syscall_allow', `${base},write`], ['/bin/echo', 'hi']);
    expect(ok.stdout).toBe('hi\n');
    const denied = await jail(['--syscall_allow', base], ['/bin/echo', 'hi']);
    expect(denied.stdout).toBe('');
  });

  it('presets: deny_userns blocks unshare', async () => {
    const r = await sh('unshare -U true && echo allowed || echo blocked', ['--seccomp_preset', 'deny_userns']);
    expect(r.stdout).toContain('blocked');
  });

  it('a policy file with -P works; a compile error exits 255 with line:column', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/tsjail-sc-');
    writeFileSync(`${dir}/p.kafel`, 'ERRNO(1337) { geteuid }\nDEFAULT ALLOW\n');
    const r = await jail(['-P', `${dir}/p.kafel`], ['/usr/bin/id', '-u']);
    expect(r.stdout).toBe('4294965959\n');
    const bad = await runTsjail(['--chroot', '/', '--seccomp_string', 'ALLOW { no_such_call } DEFAULT KILL', '--', '/bin/true']);
    expect(bad.exitCode).toBe(255);
    expect(bad.stderr).toMatch(/Could not compile policy: 1:9: .*no_such_call/);
    const both = await runTsjail(['--chroot', '/', '-P', `${dir}/p.kafel`, '--seccomp_string', 'DEFAULT ALLOW', '--', '/bin/true']);
    expect(both.exitCode).toBe(255);
    rmSync(dir, { recursive: true });
  });

  it('tsjail seccomp eval prints the decision', async () => {
    const policy = 'ALLOW { read { fd == 0 } } DEFAULT ERRNO(1)';
    const a = await runTsjail(['seccomp', 'eval', '--policy', policy, '--syscall', 'read', '--args', '0,0,0']);
    expect(a.stdout.trim()).toBe('ALLOW');
    const b = await runTsjail(['seccomp', 'eval', '--policy', policy, '--syscall', 'read', '--args', '1,0,0']);
    expect(b.stdout.trim()).toBe('ERRNO(1)');
  });
});
