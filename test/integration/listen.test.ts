/** Listen mode (issue 8): the connection is the jail's stdio, caps, limits, shutdown, listing — on 127.0.0.1 only. */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hold, startServer, talk } from './helpers/listen.js';
import { execFileSync } from 'node:child_process';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();
const JAIL = ['--chroot', '/'];

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}
/** Idle: the only child is the spare, which has not exec'd yet (its executable is still Node). */
function onlySpare(pid: number): boolean {
  const kids = childrenOf(pid);
  try {
    return kids.length === 1 && readlinkSync(`/proc/${kids[0]}/exe`) === process.execPath;
  } catch {
    return false;
  }
}
async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe.skipIf(!!skip)('listen mode', () => {
  it('serves each connection a jail whose stdio is the socket (id shows the jailed uid)', async () => {
    const s = await startServer([...JAIL, '--user', '99999', '--group', '99999', '--', '/usr/bin/id']);
    try {
      const r = await talk(s.port);
      expect(r).toEqual({ data: 'uid=99999 gid=99999 groups=99999\n', ended: true });
      const log = s.log();
      expect(log).toMatch(/\[I\]\[[^\]]+\] Listening on \[::ffff:127\.0\.0\.1\]:\d+\n/);
      expect(log).toMatch(new RegExp(`New connection from: \\[::ffff:127\\.0\\.0\\.1\\]:\\d+ on: \\[::ffff:127\\.0\\.0\\.1\\]:${s.port}\\n`));
      expect(log).toMatch(/Executing '\/usr\/bin\/id' for '\[::ffff:127\.0\.0\.1\]:\d+'\n/);
      await s.waitLog(/pid=\d+ \(\[::ffff:127\.0\.0\.1\]:\d+\) exited with status: 0, \(PIDs left: 0\)/);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('an interactive shell answers over the socket', async () => {
    const s = await startServer([...JAIL, '-q', '--user', '99999', '--group', '99999', '--', '/bin/sh', '-i']);
    try {
      const r = await talk(s.port, 'id\nexit\n');
      expect(r.ended).toBe(true);
      expect(r.data).toContain('uid=99999 gid=99999 groups=99999');
    } finally {
      await s.stop();
    }
  });

  it('a half-closed client still gets the whole output (no proxy, no kill at EOF)', async () => {
    const s = await startServer([...JAIL, '-q', '--', '/bin/sh', '-c', 'cat; echo done']);
    try {
      const big = 'x'.repeat(256 * 1024) + '\n';
      for (const input of ['abc\n', big]) {
        const r = await talk(s.port, input, { halfClose: true });
        expect(r.ended).toBe(true);
        expect(r.data.length).toBe(input.length + 5);
        expect(r.data).toBe(`${input}done\n`);
      }
    } finally {
      await s.stop();
    }
  });

  it('--max_conns_per_ip rejects the extra connection with nsjail\'s line', async () => {
    const s = await startServer([...JAIL, '--max_conns_per_ip', '1', '--', '/bin/sleep', '30']);
    try {
      const first = await hold(s.port);
      await s.waitLog(/Executing '\/bin\/sleep'/);
      const second = await talk(s.port, '', { timeoutMs: 5000 });
      expect(second).toEqual({ data: '', ended: true });
      await s.waitLog(/\[W\]\[[^\]]+\]\[\d+\] limitConns\(\):\d+ Rejecting connection from '\[::ffff:127\.0\.0\.1\]:\d+', max_conns_per_ip limit reached: 1\n/);
      first.close();
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('--max_conns rejects the extra connection with nsjail\'s line', async () => {
    const s = await startServer([...JAIL, '--max_conns', '1', '--', '/bin/sleep', '30']);
    try {
      const first = await hold(s.port);
      await s.waitLog(/Executing '\/bin\/sleep'/);
      expect(await talk(s.port, '', { timeoutMs: 5000 })).toEqual({ data: '', ended: true });
      await s.waitLog(/Rejecting connection, max_conns limit reached: 1\n/);
      first.close();
    } finally {
      await s.stop();
    }
  });

  it('200 sequential connections all get complete replies, leaving no descriptor or process behind', async () => {
    const s = await startServer([...JAIL, '-q', '--', '/bin/echo', 'hi']);
    const pid = s.child.pid!;
    try {
      expect((await talk(s.port)).data).toBe('hi\n'); // warm-up: lazily created handles exist from here on
      // Idle, tsjail keeps exactly one jail set up ahead of the next connection.
      await until(() => onlySpare(pid));
      const fdsBefore = fdCount(pid);
      let incomplete = 0;
      for (let i = 0; i < 200; i++) {
        const r = await talk(s.port);
        if (r.data !== 'hi\n' || !r.ended) incomplete++;
      }
      expect(incomplete).toBe(0);
      expect(await until(() => onlySpare(pid))).toBe(true);
      expect(await until(() => fdCount(pid) <= fdsBefore)).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  // Issue 11: a launch refused with EMFILE leaked its pipes, so every later launch failed too.
  it.skipIf(!!missingBinary('/usr/bin/prlimit'))('a burst that runs out of descriptors leaks none: once it is over, tsjail is back to its baseline and serves', async () => {
    const s = await startServer([...JAIL, '-q', '--rlimit_nofile', '16', '--', '/bin/cat']);
    const pid = s.child.pid!;
    // The soft limit only: raising it back needs no privilege.
    const limit = (n: number | string) => execFileSync('/usr/bin/prlimit', ['--pid', String(pid), `--nofile=${n}:`]);
    const pipes = () => readdirSync(`/proc/${pid}/fd`).filter((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('pipe:')).length;
    const parentEmfile = () => s.log().match(/(startJail|startSpare)\(\):\d+ (pipe2|socketpair)\(.*EMFILE/g)?.length ?? 0;
    try {
      expect((await talk(s.port, 'warm\n')).data).toBe('warm\n');
      expect(await until(() => onlySpare(pid))).toBe(true);
      const [fdsBefore, pipesBefore] = [fdCount(pid), pipes()];
      const original = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))![1]!;
      // Two descriptors free: a launch needs four (two pipes) or six (a spare's socket pair too).
      limit(fdsBefore + 2);
      const burst = await Promise.all(Array.from({ length: 10 }, () => hold(s.port)));
      expect(await until(() => parentEmfile() >= 1), s.log()).toBe(true);
      for (const c of burst) c.close();
      expect(await until(() => childrenOf(pid).length <= 1, 20_000), 'the burst jails ended').toBe(true);
      limit(original);
      let served = 0;
      for (let i = 0; i < 5; i++) if ((await talk(s.port, `ping ${i}\n`)).data === `ping ${i}\n`) served++;
      expect(served).toBe(5);
      // Idle again with a spare set up, holding what it held before the burst.
      expect(await until(() => onlySpare(pid)), 'a spare is set up again').toBe(true);
      expect(await until(() => pipes() <= pipesBefore && fdCount(pid) <= fdsBefore), `pipes ${pipes()} (before ${pipesBefore}), fds ${fdCount(pid)} (before ${fdsBefore})`).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('serves a connection with the jail it set up ahead of it (the spare)', async () => {
    const s = await startServer([...JAIL, '-q', '--user', '99999', '--group', '99999', '--', '/usr/bin/id', '-u']);
    const pid = s.child.pid!;
    try {
      expect(await until(() => childrenOf(pid).length === 1)).toBe(true);
      const [spare] = childrenOf(pid);
      expect((await talk(s.port)).data).toBe('99999\n');
      // it served the connection and is gone; a new spare waits
      expect(await until(() => !childrenOf(pid).includes(spare!) && childrenOf(pid).length === 1)).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it.skipIf(!existsSync('/sys/fs/cgroup/pids'))("a spare jail's cgroup goes with it: none is left at shutdown", async () => {
    const cgroups = () => readdirSync('/sys/fs/cgroup/pids', { recursive: true }).filter((d) => String(d).split('/').pop()!.startsWith('NSJAIL.')).length;
    const before = cgroups();
    const s = await startServer([...JAIL, '-q', '--cgroup_pids_max', '20', '--', '/bin/echo', 'hi']);
    try {
      expect(await until(() => cgroups() === before + 1)).toBe(true); // the spare's
      expect((await talk(s.port)).data).toBe('hi\n');
      expect(await until(() => cgroups() === before + 1)).toBe(true); // the next spare's
    } finally {
      expect(await s.stop()).toBe(0);
    }
    expect(await until(() => cgroups() === before)).toBe(true);
  });

  it('--time_limit applies per connection', async () => {
    const s = await startServer([...JAIL, '-t', '1', '--', '/bin/sleep', '30']);
    try {
      // The connection ends although the program would sleep for 30 s.
      const r = await talk(s.port, '', { halfClose: false, timeoutMs: 25_000 });
      expect(r.ended).toBe(true);
      await s.waitLog(/pid=\d+ run time >= time limit \(1 >= 1\) \(\[::ffff:127\.0\.0\.1\]:\d+\)\. Killing it/);
      await s.waitLog(/terminated with signal: SIGKILL \(9\)/);
    } finally {
      await s.stop();
    }
  });

  it('SIGUSR1 lists the live jails with peer, run time and time left', async () => {
    const s = await startServer([...JAIL, '-t', '100', '--', '/bin/sleep', '30']);
    try {
      const c = await hold(s.port);
      await s.waitLog(/Executing '\/bin\/sleep'/);
      s.child.kill('SIGUSR1');
      await s.waitLog(/Total number of spawned namespaces: 1\n/);
      await s.waitLog(/pid=\d+, Remote host: \[::ffff:127\.0\.0\.1\]:\d+, Run time: [01] sec\. \(time left: (99|100) s\.\)\n/);
      c.close();
    } finally {
      await s.stop();
    }
  });

  it('SIGTERM kills every jail and exits 0', async () => {
    const s = await startServer([...JAIL, '--', '/bin/sleep', '30']);
    const pid = s.child.pid!;
    const a = await hold(s.port);
    const b = await hold(s.port);
    await s.waitLog(/Executing[^]*Executing/);
    // the two jails and the spare set up for the next connection
    expect(await until(() => childrenOf(pid).length === 3, 10_000)).toBe(true);
    expect(await s.stop()).toBe(0);
    await Promise.all([a.ended, b.ended]);
    expect(s.log()).toContain('Server stops due to fatal signal (15) caught. Exiting');
    expect(s.log().match(/terminated with signal: SIGKILL \(9\)/g)?.length).toBe(2);
  });

  it('a port that cannot be bound ends with 1 and the reason', async () => {
    const s = await startServer([...JAIL, '--', '/bin/true']);
    try {
      const r = await runTsjail(['-Ml', '--bindhost', '127.0.0.1', '--port', String(s.port), ...JAIL, '--', '/bin/true']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`bind(host:[127.0.0.1], port:${s.port}): EADDRINUSE (Address already in use)`);
    } finally {
      await s.stop();
    }
  });

  it('--daemon detaches: the first process exits 0, the copy serves and logs to --log', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { freePort } = await import('./helpers/listen.js');
    const port = await freePort();
    const logFile = `${mkdtempSync('/tmp/tsjail-daemon-')}/log`;
    const r = await runTsjail(['-d', '--log', logFile, '-Ml', '--bindhost', '127.0.0.1', '--port', String(port), ...JAIL, '--', '/bin/echo', 'hi']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    // The detached copy is ours: find it by its unique port among our command lines.
    let daemon: number | undefined;
    expect(
      await until(() => {
        daemon = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).find((p) => {
          try {
            const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
            return argv.includes('-d') && argv.includes(String(port)) && argv.some((a) => a.endsWith('tsjail.js'));
          } catch {
            return false;
          }
        });
        return daemon !== undefined && readFileSync(logFile, 'utf8').includes('Listening on');
      }),
    ).toBe(true);
    try {
      expect((await talk(port)).data).toBe('hi\n');
      expect(readFileSync(`/proc/${daemon}/stat`, 'utf8').split(' ')[5]).toBe(String(daemon)); // its own session
    } finally {
      process.kill(daemon!, 'SIGTERM');
    }
    expect(await until(() => readFileSync(logFile, 'utf8').includes('Server stops due to fatal signal (15)'))).toBe(true);
    expect(readFileSync(logFile, 'utf8').match(/Mode: LISTEN_TCP/g)?.length).toBe(1);
  });
});
