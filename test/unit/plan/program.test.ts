import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { newContext } from '../../../src/phases/context.js';
import { FEATURES } from '../../../src/features/table.js';
import { planSeccomp } from '../../../src/phases/seccomp.js';
import { buildChildProgram } from '../../../src/plan/program.js';
import { describeOp } from '../../../src/plan/describe.js';
import { prepare } from '../../../src/prepare.js';
import { FAKE_HOST } from '../helpers/host.js';

const host = FAKE_HOST;

async function plan(args: string[]) {
  const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
  const p = prepare(spec, host);
  const ops = buildChildProgram(p, newContext({ syncFd: 10, syncParentFd: 11, errFd: 12 }), { filter: [(_p, ctx) => planSeccomp({ compiled: new Uint8Array(8) }, false, ctx)] });
  return { p, ops, texts: ops.map(describeOp), kinds: ops.map((o) => o.kind) };
}

describe('buildChildProgram fixes the setup order', () => {
  it('dies with the parent first, then waits for the id maps', async () => {
    const { texts } = await plan(['--chroot', '/']);
    expect(texts[0]).toBe('prctl(PR_SET_PDEATHSIG, 9)');
    expect(texts.slice(1, 4)).toEqual(['close(11)', 'read(sync pipe): the parent did not release the child', 'close(10)']);
  });

  it('leaves host credentials before any mount', async () => {
    const { kinds } = await plan(['--chroot', '/', '-u', '99999']);
    expect(kinds.indexOf('setresuid')).toBeLessThan(kinds.indexOf('mount'));
    expect(kinds.indexOf('setresgid')).toBeLessThan(kinds.indexOf('setresuid'));
  });

  it("joins a fresh session keyring as the jail's user, before any mount", async () => {
    const { kinds, texts } = await plan(['--chroot', '/', '-u', '99999']);
    expect(texts).toContain('keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)');
    expect(kinds.indexOf('keyctl')).toBeGreaterThan(kinds.indexOf('setresuid'));
    expect(kinds.indexOf('keyctl')).toBeLessThan(kinds.indexOf('mount'));
  });

  it('drops capabilities after mounts and hostname, seccomp right before execve', async () => {
    const { kinds } = await plan(['--chroot', '/']);
    const last = (k: string) => kinds.lastIndexOf(k as never);
    expect(kinds.indexOf('capset')).toBeGreaterThan(last('mount'));
    expect(kinds.indexOf('capset')).toBeGreaterThan(last('sethostname'));
    expect(kinds.at(-2)).toBe('seccomp');
    expect(kinds.at(-1)).toBe('execve');
    expect(kinds.indexOf('close_range')).toBeGreaterThan(last('openat'));
  });

  it('drops every capability from the bounding set unless kept', async () => {
    const { texts } = await plan(['--cap', 'CAP_NET_RAW']);
    const dropped = texts.filter((t) => t.startsWith('prctl(PR_CAPBSET_DROP'));
    expect(dropped).toHaveLength(40);
    expect(dropped).not.toContain('prctl(PR_CAPBSET_DROP, CAP_NET_RAW)');
    expect(texts).toContain('prctl(PR_CAP_AMBIENT_RAISE, CAP_NET_RAW)');
  });

  it('applies rlimits with nsjail units and keywords', async () => {
    const { texts } = await plan(['--rlimit_as', '64', '--rlimit_fsize', 'soft', '--rlimit_nofile', 'inf']);
    expect(texts).toContain('prlimit64(0, RLIMIT_AS, {67108864, 67108864}, NULL)');
    expect(texts).toContain('prlimit64(0, RLIMIT_FSIZE, {100, 100}, NULL)');
    expect(texts).toContain('prlimit64(0, RLIMIT_NOFILE, {RLIM64_INFINITY, RLIM64_INFINITY}, NULL)');
    expect((await plan(['--disable_rlimits'])).kinds).not.toContain('prlimit64');
  });

  it('maps the caller by default and sets the hostname in a new UTS namespace only', async () => {
    const { p, texts } = await plan([]);
    expect(p.uidMap).toEqual([{ inside: 1000, outside: 1000, count: 1, newidmap: false }]);
    expect(texts).toContain("sethostname('NSJAIL', 6)");
    expect((await plan(['--disable_clone_newuts'])).kinds).not.toContain('sethostname');
  });

  it('brings loopback up unless --iface_no_lo or no net namespace', async () => {
    expect((await plan([])).texts).toContain("ioctl(SIOCSIFFLAGS, 'lo', IFF_UP|IFF_RUNNING)");
    expect((await plan(['--iface_no_lo'])).kinds).not.toContain('ioctl');
    expect((await plan(['-N'])).kinds).not.toContain('ioctl');
  });

  it('keeps only 0-2 and --pass_fd across execve', async () => {
    const { texts } = await plan(['--pass_fd', '7']);
    expect(texts).toContain('close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)');
    expect(texts).toContain('fcntl(7, F_SETFD, 0): keep open across execve');
  });
});

describe('process knobs reach the plan', () => {
  it('--persona_read_implies_exec sets READ_IMPLIES_EXEC (0x0400000) in the personality call', async () => {
    expect((await plan(['--persona_read_implies_exec'])).texts).toContain('personality(0x400000)');
    expect((await plan([])).kinds).not.toContain('personality');
  });

  const seccompOps = async (args: string[]) => {
    const feature = FEATURES.find((f) => f.name === 'seccomp')!;
    const { spec } = await parseCommandLine([...args, '--seccomp_string', 'ALLOW { read } DEFAULT KILL', '--', '/bin/true']);
    const p = prepare(spec, host);
    const run = await feature.prepare(p, { emit: () => {} });
    try {
      return run.ops!.filter!(p, newContext({ errFd: 12 }));
    } finally {
      run.dispose?.();
    }
  };

  it('--seccomp_log: the seccomp feature installs its filter with SECCOMP_FILTER_FLAG_LOG', async () => {
    const flags = async (args: string[]) => (await seccompOps(args)).find((o) => o.kind === 'seccomp')!.args[1];
    expect(await flags(['--seccomp_log', '--seccomp_no_notify'])).toMatchObject({ t: 'int', v: 2n });
    expect(await flags(['--seccomp_no_notify'])).toMatchObject({ t: 'int', v: 0n });
    // With the supervisor: NEW_LISTENER (8) | WAIT_KILLABLE_RECV (32), and LOG still.
    expect(await flags(['--seccomp_log'])).toMatchObject({ t: 'int', v: 42n });
  });

  it('a refusing policy goes in with a listener, handed over by a thread started before the filter', async () => {
    expect((await seccompOps([])).map((o) => o.kind)).toEqual(['handoff_thread', 'seccomp', 'handoff_wait']);
    // -Me has no supervisor; --seccomp_no_notify asks for none.
    expect((await seccompOps(['-Me'])).map((o) => o.kind)).toEqual(['seccomp']);
    expect((await seccompOps(['--seccomp_no_notify'])).map((o) => o.kind)).toEqual(['seccomp']);
  });
});

describe('id maps', () => {
  const maps = async (args: string[], uid: number) => {
    const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
    const p = prepare(spec, { ...host, uid, gid: uid });
    return [p.uidMap.map((m) => `${m.inside}:${m.outside}`), p.gidMap.map((m) => `${m.inside}:${m.outside}`)];
  };

  it('as root, an inside id without an outside id is the same id on the host', async () => {
    expect(await maps(['-u', '99999', '-g', '99998'], 0)).toEqual([['99999:99999'], ['99998:99998']]);
    expect(await maps(['-u', '99999:0', '-g', '99998:0'], 0)).toEqual([['99999:0'], ['99998:0']]);
    expect(await maps([], 0)).toEqual([['0:0'], ['0:0']]);
  });

  it('unprivileged, or without a user namespace, the caller stays the outside id', async () => {
    expect(await maps(['-u', '99999'], 1000)).toEqual([['99999:1000'], ['1000:1000']]);
    expect(await maps(['-u', '99999', '--disable_clone_newuser'], 0)).toEqual([['99999:0'], ['0:0']]);
  });
});
