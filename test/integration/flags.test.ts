/** The remaining nsjail flags through the real CLI: each one's effect seen from inside, or its refusal. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compileC, missingCc } from './helpers/cprog.js';
import { jail, runTsjail, sh, TSJAIL } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();

describe.skipIf(!!skip)('flags, seen from inside the jail', () => {
  it('-x runs that file with the argv given after --', async () => {
    expect((await jail(['-x', '/bin/echo'], ['/bin/printf', 'x'])).stdout).toBe('x\n');
  });

  it('-L sends the log to another descriptor; -v adds debug lines; -Q keeps only fatal ones', async () => {
    const toStdout = await runTsjail(['-Mo', '--chroot', '/', '-L', '1', '--', '/bin/true']);
    expect(toStdout.stdout).toContain('Mode: STANDALONE_ONCE');
    expect(toStdout.stderr).toBe('');
    expect((await runTsjail(['-Mo', '--chroot', '/', '-v', '--', '/bin/true'])).stderr).toMatch(/^\[D\]/m);
    const quiet = await runTsjail(['-Mo', '--chroot', '/', '-Q', '--', '/nonexistent']);
    expect(quiet.exitCode).toBe(255);
    expect(quiet.stderr).toBe('');
  });

  it('--silent and --stderr_to_null point the program at /dev/null', async () => {
    expect((await jail(['--silent'], ['/bin/echo', 'hi'])).stdout).toBe('');
    const r = await sh('echo out; echo err >&2', ['--stderr_to_null']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).not.toContain('err');
  });

  it('setsid() makes the program a session leader unless --skip_setsid', async () => {
    const session = "cut -d' ' -f6 /proc/self/stat";
    expect((await sh(`exec ${session}`)).stdout).toBe('1\n');
    expect((await sh(`exec ${session}`, ['--skip_setsid'])).stdout).toBe('0\n'); // tsjail's session, outside the pid namespace
  });

  it('--pass_fd keeps a descriptor open across execve', () => {
    const run = (extra: string) =>
      spawnSync('/bin/bash', ['-c', `exec 5</etc/hostname; exec ${process.execPath} ${TSJAIL} -Mo --chroot / -q ${extra} -- /bin/sh -c 'cat <&5 >/dev/null && echo open || echo closed'`], { encoding: 'utf8' }).stdout;
    expect(run('--pass_fd 5')).toBe('open\n');
    expect(run('')).toBe('closed\n');
  });

  it('--disable_no_new_privs leaves no_new_privs off', async () => {
    expect((await sh('grep NoNewPrivs /proc/self/status', ['--disable_no_new_privs'])).stdout).toBe('NoNewPrivs:\t0\n');
  });

  it('--proc_path and --proc_rw move procfs and make it writable', async () => {
    // On the empty tmpfs root: under a read-only --chroot / the mount point /p could not be created.
    const moved = await runTsjail(['-Mo', '-q', '-R', '/bin', '-R', '/lib', '-R', '/lib64', '-R', '/usr', '--proc_path', '/p', '--', '/bin/ls', '/p/self']);
    expect(moved.exitCode).toBe(0);
    expect(moved.stdout).toContain('status');
    const opts = (args: string[]) => sh("grep ' /proc ' /proc/self/mountinfo | tail -1 | cut -d' ' -f6", args);
    expect((await opts([])).stdout).toMatch(/^ro,/);
    expect((await opts(['--proc_rw'])).stdout).toMatch(/^rw,/);
  });

  // The flag is read back from the host with PTRACE_SECCOMP_GET_METADATA on the running program.
  it.skipIf(!!missingCc())('--seccomp_log installs the filter with SECCOMP_FILTER_FLAG_LOG', async () => {
    const probe = compileC(
      'seccomp-flags',
      `#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
struct md { uint64_t filter_off, flags; };
int main(int argc, char **argv) {
  pid_t pid = atoi(argv[1]);
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) || ptrace(PTRACE_INTERRUPT, pid, 0, 0)) { perror("ptrace"); return 1; }
  waitpid(pid, 0, __WALL);
  struct md m = {0, 0};
  if (ptrace(0x420d /* PTRACE_SECCOMP_GET_METADATA */, pid, (void *)sizeof m, &m) < 0) { perror("metadata"); return 1; }
  printf("%llu\\n", (unsigned long long)m.flags);
  return 0;
}
`,
    );
    const flagsOf = async (args: string[]): Promise<string> => {
      let out = '';
      await runTsjail(['-Mo', '--chroot', '/', '-q', ...args, '--seccomp_string', 'DEFAULT ALLOW', '--', '/bin/sleep', '30'], {
        onSpawn: (c) => {
          // Wait for the jail's PID 1 to have exec'd sleep, then ask the kernel for its filter's flags.
          const poll = () => {
            const kids = readFileSync(`/proc/${c.pid}/task/${c.pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
            const jailed = kids.find((k) => readFileSync(`/proc/${k}/comm`, 'utf8') === 'sleep\n');
            if (!jailed) return void setTimeout(poll, 10);
            out = spawnSync(probe, [jailed], { encoding: 'utf8' }).stdout;
            c.kill('SIGTERM');
          };
          poll();
        },
      });
      return out;
    };
    expect(await flagsOf(['--seccomp_log'])).toBe('2\n'); // SECCOMP_FILTER_FLAG_LOG
    expect(await flagsOf([])).toBe('0\n');
  });

  it('--experimental_mnt takes old, new or auto', async () => {
    expect((await jail(['--experimental_mnt', 'new'], ['/bin/true'])).exitCode).toBe(0);
    expect((await runTsjail(['--experimental_mnt', 'bogus', '--', '/bin/true'])).exitCode).toBe(255);
  });

  it('-M takes the first letter of the mode; an unknown one is refused', async () => {
    expect((await runTsjail(['-Monce', '--chroot', '/', '-q', '--', '/bin/echo', 'ok'])).stdout).toBe('ok\n');
    const bad = await runTsjail(['-Mx', '--', '/bin/true']);
    expect(bad.exitCode).toBe(255);
    expect(bad.stderr).toContain('Modes supported');
  });
});

describe('options tsjail refuses by name', () => {
  const refused: Array<[string[], string]> = [
    [['--use_pasta'], '--use_pasta is an option of older nsjail releases: replaced by --user_net'],
    [['--iface', 'eth0'], '--iface is an option of older nsjail releases: now --macvlan_iface'],
    [['--tmpfs_size', '1'], '--tmpfs_size is an option of older nsjail releases'],
  ];
  for (const [args, message] of refused) {
    it(`${args[0]}: exit 255 with the reason`, async () => {
      const r = await runTsjail([...args, '--chroot', '/', '--', '/bin/true']);
      expect(r.exitCode).toBe(255);
      expect(r.stderr).toContain(message);
    });
  }

  it.skipIf(!!skip)('mapped old names still run: --use_switchroot is --no_pivotroot', async () => {
    const r = await runTsjail(['--use_switchroot', '--chroot', '/', '--', '/bin/true']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('Using no_pivotroot is escapable');
  });
});
