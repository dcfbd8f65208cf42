/**
 * -Me's plan is buildChildProgram()'s: the launcher's steps (helper, unshare,
 * PID 1, the mount phase's child) are ops the program places, and the
 * decisions are Prepared's, not edits of the op list afterwards.
 */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { EXEC_HDR, WIRE } from '../../../src/linux/wire.js';
import { encodeExec, execvePlan } from '../../../src/modes/execve.js';
import { describeOp } from '../../../src/plan/describe.js';
import { prepare, type HostFacts } from '../../../src/prepare.js';
import { FAKE_HOST } from '../helpers/host.js';

async function mePlan(args: string[], host: HostFacts = FAKE_HOST) {
  const { spec } = await parseCommandLine(['-Me', ...args, '--', '/bin/true']);
  const p = prepare(spec, host);
  const { ops, plan } = execvePlan(p, {}, 4242);
  return { p, ops, plan, kinds: ops.map((o) => o.kind), texts: ops.map(describeOp) };
}

describe('-Me plan', () => {
  it('forks the id-map helper before unshare, releases it after, and waits for it', async () => {
    const { texts } = await mePlan(['--chroot', '/']);
    expect(texts.slice(0, 4)).toEqual([
      'pipe2(go pipe, O_CLOEXEC)',
      'fork(id-map helper, in the parent namespaces)',
      'close(go[1])',
      'read(go pipe): the launcher did not release the id-map helper',
    ]);
    const unshare = texts.findIndex((t) => t.startsWith('unshare('));
    expect(texts[unshare]).toBe('unshare(CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET)');
    expect(texts.slice(unshare - 1, unshare + 4)).toEqual(['close(go[0])', texts[unshare], 'write(go pipe): release the id-map helper', 'close(go[1])', 'wait4(id-map helper)']);
    // The helper's segment holds its id-map writes for the launcher's pid, and nothing else.
    expect(texts.filter((t) => t.startsWith("write('/proc/4242/"))).toEqual(expect.arrayContaining(["write('/proc/4242/uid_map', '1000 1000 1')"]));
  });

  it('the helper segment covers exactly its ops, and the waits are quiet (the child described its failure)', async () => {
    const { ops, kinds } = await mePlan(['--chroot', '/']);
    const fork = ops[kinds.indexOf('spawn')]!;
    const n = Number((fork.args[1] as { v: bigint }).v);
    expect(kinds[1 + n]).toBe('close'); // the first op after the segment is the launcher's close(go[0])
    expect(ops.slice(2, 2 + n).every((o) => o.phase === 'sync' || o.phase === 'user')).toBe(true);
    for (const o of ops.filter((x) => x.kind === 'join')) expect(o).toMatchObject({ quiet: true, expect: 0n });
  });

  it("with a new pid namespace: that namespace's PID 1, then the mount phase in a CLONE_FS child", async () => {
    const { ops, kinds, texts } = await mePlan(['--chroot', '/']);
    expect(texts).toContain('fork(PID 1 of the new pid namespace)');
    const init = texts.indexOf('fork(PID 1 of the new pid namespace)');
    expect(texts.slice(init + 1, init + 5)).toEqual(['prctl(PR_SET_PDEATHSIG, 9) (PID 1)', 'close_range(0, ~0U, 0) (PID 1)', 'rt_sigaction(SIGCHLD, {SIG_DFL, SA_NOCLDWAIT}) (PID 1)', 'pause() (PID 1)']);
    const mnt = texts.indexOf('clone(CLONE_FS): the mount phase, in the new pid namespace');
    const n = Number((ops[mnt]!.args[1] as { v: bigint }).v);
    expect(ops[mnt]!.args[0]).toMatchObject({ v: 0x200n });
    expect(ops.slice(mnt + 1, mnt + 1 + n).every((o) => o.phase === 'mnt')).toBe(true);
    expect(kinds.filter((k, i) => k === 'mount' && (i < mnt || i > mnt + n))).toEqual([]);
    expect(texts[mnt + 1 + n]).toBe('wait4(mount phase)');
  });

  it('without a new pid namespace the mounts run in the launcher itself; without namespaces there is no unshare', async () => {
    const { kinds, texts } = await mePlan(['--chroot', '/', '--disable_clone_newpid']);
    expect(texts.filter((t) => t.startsWith('fork(') || t.startsWith('clone('))).toEqual(['fork(id-map helper, in the parent namespaces)']);
    expect(kinds).toContain('mount');
    const none = await mePlan(['--chroot', '/', '--disable_clone_newuser', '--disable_clone_newns', '--disable_clone_newpid', '--disable_clone_newipc', '--disable_clone_newuts', '--disable_clone_newnet', '--disable_clone_newcgroup'], { ...FAKE_HOST, uid: 0, gid: 0 });
    expect(none.kinds).not.toContain('unshare');
    expect(none.kinds).not.toContain('spawn');
  });

  it("--execute_fd's descriptor is a slot of the launcher, used after the mount phase without being moved", async () => {
    const { ops, texts } = await mePlan(['--chroot', '/', '--execute_fd']);
    const open = ops.find((o) => o.text?.includes('for --execute_fd'))!;
    const exec = ops.at(-1)!;
    expect(exec.kind).toBe('execveat');
    expect(exec.args[0]).toMatchObject({ t: 'slot', slot: open.save });
    expect(texts.some((t) => t.startsWith('dup3(fd, 9'))).toBe(false);
  });

  it('setsid and --init are decided in prepare: a process-group leader keeps its session, -Me has no reaper of --init', async () => {
    expect((await mePlan(['--chroot', '/'])).kinds).toContain('setsid');
    const leader = await mePlan(['--chroot', '/'], { ...FAKE_HOST, leadsProcessGroup: true });
    expect(leader.p.setsid).toBe(false);
    expect(leader.kinds).not.toContain('setsid');
    const init = await mePlan(['--chroot', '/', '--init']);
    expect(init.p.init).toBe(false);
    expect(init.kinds).not.toContain('init_fork');
    // -Mo is untouched by the -Me decisions.
    const { spec } = await parseCommandLine(['--chroot', '/', '--init', '--', '/bin/true']);
    expect(prepare(spec, { ...FAKE_HOST, leadsProcessGroup: true })).toMatchObject({ setsid: true, init: true });
  });

  it('the launcher gets one plan behind its header', async () => {
    const { plan } = await mePlan(['--chroot', '/']);
    const input = encodeExec(plan, 7);
    const f = EXEC_HDR.fields;
    expect(input.readUInt32LE(f.magic!.offset)).toBe(WIRE.EXEC_MAGIC);
    expect(input.readUInt32LE(f.abi!.offset)).toBe(WIRE.ABI_VERSION);
    expect(input.readUInt32LE(f.plan_size!.offset)).toBe(plan.length);
    expect(input.readInt32LE(f.log_fd!.offset)).toBe(7);
    expect(input.subarray(EXEC_HDR.size).equals(plan)).toBe(true);
  });
});
