/** Go module confinement: option validation (pure) and the notify filter it adds to the user's policy. */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { goNotifyRules } from '../../../src/gomod/syscalls.js';
import { formatAction } from '../../../src/seccomp/actions.js';
import { decode } from '../../../src/seccomp/bpf.js';
import { buildModel, compileModel } from '../../../src/seccomp/index.js';
import { run } from '../../../src/seccomp/interp.js';
import { notifyModel } from '../../../src/seccomp/notify.js';
import { syscallByName, TABLES } from '../../../src/seccomp/syscalls/index.js';
import { validateSpec } from '../../../src/validate.js';
import { learnProblems } from '../../../src/learn/command.js';
import { configToState } from '../../../src/config/apply.js';
import { dumpConfig, effectiveConfig } from '../../../src/config/dump.js';
import { parseConfigText } from '../../../src/config/load.js';
import { hostPathOfProgram } from '../../../src/features/gomod.js';
import type { PreparedMount } from '../../../src/prepare.js';

const problems = async (args: string[]) => validateSpec((await parseCommandLine(args)).spec);

describe('Go module confinement options', () => {
  it('accepts --go_mod with policies and --go_unwind_fail', async () => {
    expect(await problems(['--go_mod', '/x/go.mod', '--go_module_policy', 'example.com/a=confined', '--go_module_policy', 'b.org/c=unconfined', '--go_unwind_fail', 'allow', '--', '/x/app'])).toEqual([]);
  });

  it('reports every bad value and combination together', async () => {
    const p = await problems(['-Me', '--seccomp_no_notify', '--go_mod', '/x/go.mod', '--go_module_policy', 'example.com/a=strict', '--go_module_policy', 'nothing', '--', '/x/app']);
    expect(p).toEqual(
      expect.arrayContaining([
        "go_module_policy 'example.com/a=strict': the policy 'strict' is not confined or unconfined",
        "go_module_policy 'nothing' is not MODULE=confined or MODULE=unconfined",
        expect.stringMatching(/^go_mod needs a supervising tsjail/),
        expect.stringMatching(/^go_mod decides calls through seccomp notifications, which --seccomp_no_notify/),
      ]),
    );
    expect(await problems(['--go_module_policy', 'example.com/a=confined', '--', '/x'])).toEqual([expect.stringMatching(/without go_mod/)]);
  });

  it('is refused by tsjail learn, which notifies every call itself', async () => {
    const { spec } = await parseCommandLine(['--go_mod', '/x/go.mod', '--', '/x/app']);
    expect(learnProblems(spec, { output: '/tmp/out.cfg', rest: [] } as never)).toContain('tsjail learn notifies every call to count it: drop --go_mod from the learning run (the learnt config can add it)');
  });

  it('reads the tsjail block, and --dump_config writes the options back', async () => {
    const { ext } = configToState(parseConfigText('tsjail { go_mod: "/app/go.mod" go_module_policy: "a.com/x=confined" go_module_policy: "b.com/y=unconfined" go_unwind_fail: "allow" }', 'x.cfg')).state;
    expect(ext).toMatchObject({ go_mod: '/app/go.mod', go_module_policy: ['a.com/x=confined', 'b.com/y=unconfined'], go_unwind_fail: 'allow' });
    const { spec } = await parseCommandLine(['--go_mod', '/app/go.mod', '--go_module_policy', 'a.com/x=confined', '--', '/app/bin']);
    const { notes: _notes, ...want } = effectiveConfig(spec);
    expect(configToState(parseConfigText(dumpConfig(spec), 'dump.cfg'))).toEqual(want);
  });

  it('finds the program on the host through the jail mounts that show it', () => {
    const m = (kind: PreparedMount['kind'], src: string, dst: string) => ({ kind, src, dst }) as PreparedMount;
    const base = { exec: { path: '/srv/bin/app', argv: [], env: [], execFd: false }, cfg: { clone_newns: true, cwd: '/' } } as never as Parameters<typeof hostPathOfProgram>[0];
    expect(hostPathOfProgram({ ...base, mounts: [m('bind', '/', '/'), m('bind', '/opt/build', '/srv/bin')] })).toBe('/opt/build/app');
    expect(hostPathOfProgram({ ...base, mounts: [m('bind', '/', '/')] })).toBe('/srv/bin/app');
    expect(hostPathOfProgram({ ...base, exec: { ...base.exec, path: 'bin/app' }, cfg: { clone_newns: true, cwd: '/srv' } as never, mounts: [m('bind', '/data', '/srv')] })).toBe('/data/bin/app');
    expect(() => hostPathOfProgram({ ...base, mounts: [m('bind', '/', '/'), { ...m('fs', 'none', '/srv'), fstype: 'tmpfs' } as PreparedMount] })).toThrow("go_mod: the program /srv/bin/app is on a tmpfs mount at /srv in the jail, which tsjail cannot read before the jail exists: bind it from the host, or use --execute_fd");
    expect(hostPathOfProgram({ ...base, exec: { ...base.exec, execFd: true }, mounts: [] })).toBe('/srv/bin/app');
  });

  it('refuses an unknown --go_unwind_fail while parsing, naming the option', async () => {
    await expect(parseCommandLine(['--go_unwind_fail', 'maybe', '--', '/x'])).rejects.toThrow("--go_unwind_fail: 'maybe' is not 'deny' or 'allow'");
  });
});

describe('the notify filter with Go confinement on top of a policy', () => {
  const t = TABLES.x86_64!;
  const nr = (n: string) => syscallByName(t, n)!.nr;
  const X86_64 = 0xc000003e;
  const answers = (policy: string | undefined, calls: Array<[string, bigint?, number?]>) => {
    const base = policy === undefined ? undefined : buildModel({ policies: [policy], allow: [], deny: [], presets: [] });
    const prog = decode(compileModel(notifyModel(base, [], X86_64, { rules: goNotifyRules(t), others: true })).program);
    return calls.map(([n, a0, arch]) => formatAction(run(prog, { nr: nr(n), arch: arch ?? X86_64, args: [a0 ?? 0n] }).ret));
  };

  it('notifies calls outside the allow-list, clone only without CLONE_THREAD, and other arches', () => {
    expect(answers(undefined, [['openat'], ['read'], ['futex'], ['clone', 0x50f00n], ['clone', 0x4111n], ['pidfd_open'], ['read', 0n, 0x40000003]])).toEqual(['USER_NOTIF', 'ALLOW', 'ALLOW', 'ALLOW', 'USER_NOTIF', 'USER_NOTIF', 'USER_NOTIF']);
  });

  it("keeps the policy's own answers where Go confinement notifies nothing, and its DEFAULT ALLOW stays ALLOW", () => {
    expect(answers('ERRNO(5) { read } DEFAULT ALLOW', [['read'], ['write'], ['openat']])).toEqual(['USER_NOTIF', 'ALLOW', 'USER_NOTIF']);
    expect(answers('ALLOW { read, write } DEFAULT KILL', [['read'], ['openat'], ['mmap']])).toEqual(['ALLOW', 'USER_NOTIF', 'USER_NOTIF']);
  });
});
