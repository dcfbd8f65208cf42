/** The status channel (issue 8): JSON lines for start, exit (reason and accounting) and setup failures. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startServer, talk } from './helpers/listen.js';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, type RunOptions } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

type Line = Record<string, unknown>;

async function withStatus(args: readonly string[], opts?: RunOptions): Promise<{ lines: Line[]; exitCode: number | null; pid: number }> {
  const file = `${mkdtempSync('/tmp/tsjail-status-')}/status.jsonl`;
  let pid = 0;
  const r = await runTsjail(['--status_file', file, ...args], {
    ...opts,
    onSpawn: (c) => {
      pid = c.pid!;
      opts?.onSpawn?.(c);
    },
  });
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return { lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line), exitCode: r.exitCode, pid };
}

function missingMemoryCgroup(): string | undefined {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  const why = /cgroup2 |cgroup \S+ cgroup \S*memory/.test(mounts) ? undefined : 'no memory cgroup is mounted';
  if (why) console.warn(`SKIP (memory cgroup): ${why}`);
  return why;
}

const exitShape = {
  event: 'exit',
  pid: expect.any(Number),
  remote: '[STANDALONE MODE]',
  wall_ms: expect.any(Number),
  user_ms: expect.any(Number),
  sys_ms: expect.any(Number),
  cpu_source: expect.any(String),
  peak_memory_bytes: expect.any(Number),
  memory_source: expect.any(String),
};

describe.skipIf(!!skip)('status channel', () => {
  it('a normal exit: start, then exit with the code, statistics and reason "exited"', async () => {
    const { lines, exitCode } = await withStatus(['-Mo', '--chroot', '/', '-q', '--', '/bin/sh', '-c', 'exit 255']);
    expect(exitCode).toBe(255);
    expect(lines).toEqual([
      { event: 'start', pid: expect.any(Number), remote: '[STANDALONE MODE]' },
      { ...exitShape, exit_code: 255, reason: 'exited', verdict: 'RE' },
    ]);
    expect(lines[1]!.pid).toBe(lines[0]!.pid);
    expect(lines[1]!.peak_memory_bytes as number).toBeGreaterThan(0);
  });

  it("a jailer failure is setup_failed, not the program's 255 (nsjail #80)", async () => {
    const { lines, exitCode } = await withStatus(['-Mo', '--chroot', '/', '-q', '--', '/nonexistent']);
    expect(exitCode).toBe(255);
    expect(lines).toEqual([
      { event: 'start', pid: expect.any(Number), remote: '[STANDALONE MODE]' },
      { event: 'setup_failed', pid: lines[0]!.pid, remote: '[STANDALONE MODE]', error: expect.stringContaining("execve('/nonexistent') failed: ENOENT"), verdict: 'SE' },
    ]);
  });

  it('a time limit kill: signal 9, reason "time_limit"', async () => {
    const { lines, exitCode } = await withStatus(['-Mo', '--chroot', '/', '-q', '-t', '1', '--', '/bin/sleep', '10']);
    expect(exitCode).toBe(137);
    expect(lines[1]).toEqual({ ...exitShape, signal: 9, signal_name: 'SIGKILL', reason: 'time_limit', verdict: 'TLE' });
    expect(lines[1]!.wall_ms as number).toBeGreaterThanOrEqual(950);
  });

  it('a SIGINT to tsjail: reason "signal"', async () => {
    const { lines } = await withStatus(['-Mo', '--chroot', '/', '-q', '--', '/bin/sh', '-c', 'echo up; sleep 10'], {
      onSpawn: (c) => c.stdout!.on('data', () => c.kill('SIGINT')),
    });
    expect(lines[1]).toMatchObject({ event: 'exit', signal: 9, reason: 'signal', verdict: 'SE' });
  });

  it('a seccomp kill: the violation named first, then SIGSYS, reason "seccomp"', async () => {
    const { lines, exitCode } = await withStatus(['-Mo', '--chroot', '/', '-q', '--seccomp_string', 'KILL_PROCESS { newuname } DEFAULT ALLOW', '--', '/bin/uname']);
    expect(exitCode).toBe(159);
    expect(lines[1]).toMatchObject({ event: 'seccomp_violation', pid: lines[0]!.pid, tid: lines[0]!.pid, syscall: 'newuname', nr: 63, arch: 'x86_64', action: 'KILL_PROCESS' });
    expect(lines[2]).toEqual({ ...exitShape, signal: 31, signal_name: 'SIGSYS', reason: 'seccomp', verdict: 'SV' });
  });

  it('CPU time past --rlimit_cpu: SIGKILL, verdict "TLE"', async () => {
    const { lines } = await withStatus(['-Mo', '--chroot', '/', '-q', '--rlimit_cpu', '1', '--', '/bin/sh', '-c', 'while :; do :; done']);
    expect(lines[1]).toMatchObject({ event: 'exit', signal: 9, reason: 'killed', verdict: 'TLE' });
    expect((lines[1]!.user_ms as number) + (lines[1]!.sys_ms as number)).toBeGreaterThanOrEqual(500);
  });

  // Without a pid namespace: PID 1 of one ignores the signals it has no handler for, even its own.
  it('a crash: SIGSEGV, verdict "RE"', async () => {
    const { lines } = await withStatus(['-Mo', '--chroot', '/', '-q', '--disable_clone_newpid', '--', '/bin/sh', '-c', 'kill -SEGV $$']);
    expect(lines[1]).toMatchObject({ event: 'exit', signal: 11, reason: 'killed', verdict: 'RE' });
  });

  it('a file written past --rlimit_fsize: SIGXFSZ, verdict "OLE"', async () => {
    const { lines } = await withStatus(['-Mo', '--chroot', '/', '-q', '--disable_clone_newpid', '-T', '/tmp', '--rlimit_fsize', '1', '--', '/bin/sh', '-c', 'exec head -c 2000000 /dev/zero > /tmp/f']);
    expect(lines[1]).toMatchObject({ event: 'exit', signal: 25, reason: 'killed', verdict: 'OLE' });
  });

  it.skipIf(!!missingMemoryCgroup())('an OOM kill: reason "oom" and the cgroup peak memory', async () => {
    const { lines } = await withStatus(['-Mo', '--chroot', '/', '-q', '--cgroup_mem_max', String(32 << 20), '--rlimit_as', 'max', '--', '/bin/sh', '-c', 'a=$(head -c 200000000 /dev/zero | tr "\\0" x); echo survived']);
    expect(lines[1]).toMatchObject({ event: 'exit', signal: 9, reason: 'oom', verdict: 'MLE' });
    expect(lines[1]!.memory_source).not.toBe('rusage');
    expect(lines[1]!.peak_memory_bytes as number).toBeGreaterThan(16 << 20);
  });

  it('listen mode: the peer in start and exit', async () => {
    const file = `${mkdtempSync('/tmp/tsjail-status-')}/status.jsonl`;
    const s = await startServer(['--chroot', '/', '-q', '--status_file', file, '--', '/bin/echo', 'hi']);
    try {
      expect((await talk(s.port)).data).toBe('hi\n');
      await s.waitLog(/$/);
      for (let i = 0; i < 100 && !readFileSync(file, 'utf8').includes('"exit"'); i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await s.stop();
    }
    const [start, exit] = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
    expect(start).toEqual({ event: 'start', pid: expect.any(Number), remote: expect.stringMatching(/^\[::ffff:127\.0\.0\.1\]:\d+$/) });
    expect(exit).toMatchObject({ event: 'exit', pid: start!.pid, remote: start!.remote, exit_code: 0, reason: 'exited', verdict: 'OK' });
  });

  it('-Me: one start line with the pid tsjail had', async () => {
    const { lines, pid } = await withStatus(['-Me', '--chroot', '/', '-q', '--', '/bin/true']);
    expect(lines).toEqual([{ event: 'start', pid, remote: '[STANDALONE MODE]' }]);
  });

  it('--status_fd writes to an inherited descriptor; a closed one is refused', async () => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '--status_fd', '1', '--', '/bin/true']);
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Line).event)).toEqual(['start', 'exit']);
    const bad = await runTsjail(['-Mo', '--chroot', '/', '-q', '--status_fd', '77', '--', '/bin/true']);
    expect(bad.exitCode).toBe(255);
    expect(bad.stderr).toContain('fstat(77) for --status_fd: EBADF (Bad file descriptor)');
  });
});
