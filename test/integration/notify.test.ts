/**
 * The seccomp notification supervisor (issue 17): every refusal named with its
 * arguments before tsjail applies it, for an unprivileged caller too (no
 * user-namespace root on the host, no /dev/kmsg), and Kafel's USER_NOTIF.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileC, missingCc } from './helpers/cprog.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, TSJAIL } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns() ?? missingBinary('/usr/bin/setpriv') ?? missingCc();
const NOBODY = 99999;

/**
 * Opens argv[1]. argv[2] "handler": catches SIGSYS first and prints what it got;
 * "fork": opens in a child and prints how that child ended.
 */
const OPENER = `
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_sigsys(int s, siginfo_t *si, void *u) {
  (void)s; (void)u;
  char b[160];
  int n = snprintf(b, sizeof b, "SIGSYS si_code=%d si_syscall=%d si_arch=0x%x si_errno=%d si_call_addr=%s\\n",
                   si->si_code, si->si_syscall, si->si_arch, si->si_errno, si->si_call_addr ? "set" : "NULL");
  write(1, b, n);
}
int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[2], "handler")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, 0);
  }
  if (argc > 2 && !strcmp(argv[2], "fork")) {
    pid_t pid = fork();
    if (pid > 0) {
      int st;
      waitpid(pid, &st, 0);
      printf("child %s %d\\n", WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      return 0;
    }
  }
  int fd = open(argv[1], O_RDONLY);
  printf("open=%d errno=%d\\n", fd, fd < 0 ? errno : 0);
  return 0;
}
`;

type Line = Record<string, unknown>;

/** tsjail run as uid 99999 with a status file: its result and the status lines. */
async function asNobody(policy: string, cmd: string[], extra: string[] = []) {
  const dir = mkdtempSync('/tmp/tsjail-notify-');
  const { chmodSync } = await import('node:fs');
  chmodSync(dir, 0o777);
  const status = `${dir}/status.jsonl`;
  const r = await runTsjail(['-Mo', '--chroot', '/', '--status_file', status, '--seccomp_string', policy, ...extra, '--', ...cmd], { asUser: NOBODY });
  const lines = existsSync(status) ? readFileSync(status, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [];
  return { ...r, lines };
}

describe.skipIf(!!skip)('violations named by the supervisor, as a normal user', () => {
  const opener = () => compileC('opener', OPENER);

  it('KILL_PROCESS { openat }: cat is killed, the log names openat and its path, then the exit is 159', async () => {
    const r = await asNobody('KILL_PROCESS { openat } DEFAULT ALLOW', ['/bin/cat', '/etc/hostname']);
    expect(r.exitCode).toBe(159);
    expect(r.stderr).toMatch(/pid=\d+ seccomp violation: openat\(AT_FDCWD, "\/etc\/ld\.so\.cache", O_RDONLY\|O_CLOEXEC, 0\) on x86_64, ip 0x[0-9a-f]+, KILL_PROCESS: killed with SIGKILL \(PID 1 of its pid namespace ignores SIGSYS sent from outside\)/);
    // Named first, then the kill: the violation line comes before the exit line.
    expect(r.stderr.indexOf('seccomp violation: openat')).toBeLessThan(r.stderr.indexOf('terminated with signal: SIGSYS (31)'));
    expect(r.stderr).not.toContain('audit record');
    expect(r.lines.map((l) => l.event)).toEqual(['start', 'seccomp_violation', 'exit']);
    expect(r.lines[1]).toMatchObject({ pid: r.lines[0]!.pid, syscall: 'openat', nr: 257, action: 'KILL_PROCESS', args: ['AT_FDCWD', '"/etc/ld.so.cache"', 'O_RDONLY|O_CLOEXEC', '0'] });
    expect(r.lines[2]).toMatchObject({ signal: 31, reason: 'seccomp' });
  });

  it.each([
    ['KILL_PROCESS', 'KILL_PROCESS'],
    ['KILL', 'KILL_THREAD'],
    ['TRAP(7)', 'TRAP(7)'],
  ])('%s { openat } on a process that is not PID 1: it dies of SIGSYS itself, its path named', async (rule, shown) => {
    const r = await asNobody(`${rule} { openat } DEFAULT ALLOW`, [opener(), '/etc/hostname', 'fork']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('child signal 31\n');
    expect(r.stderr).toMatch(new RegExp(`seccomp violation: openat\\(AT_FDCWD, "/etc/hostname", O_RDONLY, 0\\) on x86_64, ip 0x[0-9a-f]+, ${shown.replace(/[()]/g, '\\$&')}: killed with SIGSYS`));
    expect(r.lines.find((l) => l.event === 'seccomp_violation')).toMatchObject({ syscall: 'openat', action: shown, args: ['AT_FDCWD', '"/etc/hostname"', 'O_RDONLY', '0'] });
  });

  it('ERRNO(13) { openat }: the call fails with EACCES, named with its path', async () => {
    const r = await asNobody('ERRNO(13) { openat } DEFAULT ALLOW', [opener(), '/etc/hostname']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('open=-1 errno=13\n');
    expect(r.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) on x86_64, ip 0x[0-9a-f]+, ERRNO\(13\): failed with EACCES/);
    expect(r.lines.find((l) => l.event === 'seccomp_violation')).toMatchObject({ syscall: 'openat', action: 'ERRNO(13)', outcome: 'failed with EACCES' });
  });

  it("TRAP on a program that catches SIGSYS: its handler gets the kernel's siginfo (SYS_SECCOMP, the call), the call is not made", async () => {
    const r = await asNobody('TRAP(3) { openat } DEFAULT ALLOW', [opener(), '/etc/hostname', 'handler']);
    expect(r.exitCode).toBe(0);
    // As seccomp's own TRAP: si_code SYS_SECCOMP (1), the call's number and arch, the rule's data in si_errno; the call's
    // return register keeps its number (the kernel's rollback), so open() returns 257 to a handler that sets nothing.
    expect(r.stdout).toBe('SIGSYS si_code=1 si_syscall=257 si_arch=0xc000003e si_errno=3 si_call_addr=set\nopen=257 errno=0\n');
    expect(r.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) .* TRAP\(3\): SIGSYS \(SYS_SECCOMP\) to its handler, the call not made/);
  });

  it('TRAP 300 times in a handler-emulated loop: every SIGSYS is the kernel\'s, and the jail is not taken for ended while tsjail holds it stopped', async () => {
    const prog = compileC(
      'trap-loop',
      `#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
static volatile int seen, good;
static void on_sigsys(int s, siginfo_t *si, void *u) {
  (void)s;
  seen++;
  if (si->si_code == 1 && si->si_syscall == SYS_getppid) good++;
  ((ucontext_t *)u)->uc_mcontext.gregs[REG_RAX] = 4242; /* the emulated result */
}
int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, 0);
  long r = 0;
  for (int i = 0; i < 300; i++) r = syscall(SYS_getppid);
  printf("seen=%d good=%d last=%ld\\n", seen, good, r);
  return 0;
}
`,
    );
    const r = await asNobody('TRAP(1) { getppid } DEFAULT ALLOW', [prog]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('seen=300 good=300 last=4242\n');
    expect(r.lines.at(-1)).toMatchObject({ event: 'exit', exit_code: 0, reason: 'exited' });
  });

  it('DEFAULT KILL: an allow-list names the first call it does not list', async () => {
    const r = await asNobody('ALLOW { execve, brk, arch_prctl, set_tid_address, set_robust_list, rseq, prlimit64, mprotect, readlink, readlinkat, getrandom, newuname, mmap, munmap, exit_group } DEFAULT KILL', [opener(), '/etc/hostname']);
    expect(r.exitCode).toBe(159);
    expect(r.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) on x86_64, ip 0x[0-9a-f]+, KILL_THREAD/);
  });

  it('USER_NOTIF { openat }: the call is logged with its path and goes on', async () => {
    const r = await asNobody('USER_NOTIF { openat } DEFAULT ALLOW', [opener(), '/etc/hostname']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('open=3 errno=0\n');
    expect(r.stderr).toMatch(/\[I\].* pid=\d+ seccomp notification: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) on x86_64, ip 0x[0-9a-f]+, USER_NOTIF: allowed/);
    expect(r.lines.find((l) => l.event === 'seccomp_notification')).toMatchObject({ syscall: 'openat', action: 'USER_NOTIF', outcome: 'allowed' });
  });

  /** A raw filter file, as another tool would write it (here: tsjail seccomp compile), readable by uid 99999. */
  function bpfFile(policy: string): string {
    const dir = mkdtempSync('/tmp/tsjail-notify-bpf-');
    chmodSync(dir, 0o755);
    const out = `${dir}/f.bpf`;
    execFileSync(process.execPath, [TSJAIL, 'seccomp', 'compile', '--policy', policy, '-o', out]);
    chmodSync(out, 0o644);
    return out;
  }

  it('--seccomp_bpf_file: its refusals are named with their arguments too', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_bpf_file', bpfFile('ERRNO(13) { openat } DEFAULT ALLOW'), '--', opener(), '/etc/hostname'], { asUser: NOBODY });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('open=-1 errno=13\n');
    expect(r.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) on x86_64, ip 0x[0-9a-f]+, ERRNO\(13\): failed with EACCES/);
  });

  it("--seccomp_bpf_file with --seccomp_unotify: the file's refusal of a traced path call holds (the native path leaves it to the worker)", async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '--seccomp_unotify', '--seccomp_bpf_file', bpfFile('ERRNO(13) { openat } DEFAULT ALLOW'), '--', opener(), '/etc/hostname'], { asUser: NOBODY });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('open=-1 errno=13\n');
    expect(r.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) .* ERRNO\(13\): failed with EACCES/);
  });

  it('--seccomp_bpf_file with a policy: the kernel precedence between the two, named (a kill beats an errno; on a tie the policy gives it)', async () => {
    const file = bpfFile('ERRNO(13) { openat, uname } DEFAULT ALLOW');
    const tie = await asNobody('ERRNO(1) { openat } DEFAULT ALLOW', [opener(), '/etc/hostname'], ['--seccomp_bpf_file', file]);
    expect(tie.stdout).toBe('open=-1 errno=1\n');
    expect(tie.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) .* ERRNO\(1\): failed with EPERM/);
    const kill = await asNobody('KILL_PROCESS { openat } DEFAULT ALLOW', [opener(), '/etc/hostname', 'fork'], ['--seccomp_bpf_file', file]);
    expect(kill.stdout).toBe('child signal 31\n');
    expect(kill.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) .* KILL_PROCESS: killed with SIGSYS/);
    // A call only the file refuses: named as well.
    const own = await asNobody('KILL_PROCESS { getppid } DEFAULT ALLOW', [opener(), '/etc/hostname'], ['--seccomp_bpf_file', file]);
    expect(own.stdout).toBe('open=-1 errno=13\n');
    expect(own.stderr).toMatch(/seccomp violation: openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY, 0\) .* ERRNO\(13\): failed with EACCES/);
  });

  it('--seccomp_no_notify: USER_NOTIF has no listener and fails with ENOSYS, as in nsjail', async () => {
    const r = await asNobody('USER_NOTIF { openat } DEFAULT ALLOW', [opener(), '/etc/hostname'], ['--seccomp_no_notify']);
    expect(r.stdout).toBe('open=-1 errno=38\n');
  });

  it('past 100 logged notifications a jail gets one line saying the rest are counted', async () => {
    const loop = compileC('getppid-loop', '#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) { for (int i = 0; i < 150; i++) syscall(SYS_getppid); return 0; }\n');
    const r = await asNobody('ERRNO(1) { getppid } DEFAULT ALLOW', [loop]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr.match(/seccomp violation: getppid\(\)/g)).toHaveLength(100);
    expect(r.stderr).toMatch(/pid=\d+: further seccomp notifications of this jail are answered without a log line, and counted/);
    expect(r.stderr).toMatch(/pid=\d+: 50 more seccomp notifications were answered without a log line/);
  });
});
