/** The notify filter (src/seccomp/notify.ts): refusals and traced calls reach tsjail as USER_NOTIF, the rest as before. */
import { describe, expect, it } from 'vitest';
import { formatAction } from '../../../src/seccomp/actions.js';
import { buildModel, compileModel } from '../../../src/seccomp/index.js';
import { BPF_ABS, BPF_K, BPF_LD, BPF_RET, BPF_W, decode, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_USER_NOTIF, stmt } from '../../../src/seccomp/bpf.js';
import { run, verify } from '../../../src/seccomp/interp.js';
import { notifyModel, notifyProgram, stronger, withBpfFile } from '../../../src/seccomp/notify.js';

const X86_64 = 0xc000003e;
const I386 = 0x40000003;

function answers(policy: string | undefined, traced: number[], calls: Array<[number, number?]>): string[] {
  const base = policy === undefined ? undefined : buildModel({ policies: [policy], allow: [], deny: [], presets: [] });
  const prog = decode(compileModel(notifyModel(base, traced, X86_64)).program);
  return calls.map(([nr, arch]) => formatAction(run(prog, { nr, arch: arch ?? X86_64, args: [] }).ret));
}

describe('notifyModel', () => {
  it('KILL, KILL_PROCESS, TRAP, ERRNO and USER_NOTIF become USER_NOTIF; ALLOW, LOG and TRACE stay', () => {
    const policy = 'KILL { read } KILL_PROCESS { write } TRAP(1) { open } ERRNO(5) { close } USER_NOTIF { newstat } LOG { newfstat } TRACE(2) { newlstat } DEFAULT ALLOW';
    expect(answers(policy, [], [[0], [1], [2], [3], [4], [5], [6], [39]])).toEqual(['USER_NOTIF', 'USER_NOTIF', 'USER_NOTIF', 'USER_NOTIF', 'USER_NOTIF', 'LOG', 'TRACE(2)', 'ALLOW']);
  });

  it('DEFAULT, x32 numbers and other arches are notified too when they refuse', () => {
    expect(answers('ALLOW { read } DEFAULT KILL', [], [[0], [39], [0x40000000 + 39], [1, I386]])).toEqual(['ALLOW', 'USER_NOTIF', 'USER_NOTIF', 'USER_NOTIF']);
  });

  it('traced calls are notified whatever the policy says; without a policy everything else passes, other arches too', () => {
    expect(answers('ALLOW { openat } DEFAULT ALLOW', [257], [[257], [0]])).toEqual(['USER_NOTIF', 'ALLOW']);
    expect(answers(undefined, [257], [[257], [0], [0x40000000 + 39], [5, I386]])).toEqual(['USER_NOTIF', 'ALLOW', 'ALLOW', 'ALLOW']);
  });
});

describe('notifyProgram', () => {
  it('answers every call as the compiled notify model does, without compiling again', () => {
    const policies = [
      'KILL { read } KILL_PROCESS { write } TRAP(1) { open } ERRNO(5) { close } USER_NOTIF { newstat } LOG { newfstat } TRACE(2) { newlstat } DEFAULT ALLOW',
      'ALLOW { read, write { fd == 1 }, openat { flags & 3 == 0 } } ERRNO(1) { openat } DEFAULT KILL_PROCESS',
    ];
    for (const policy of policies) {
      const model = buildModel({ policies: [policy], allow: [], deny: [], presets: [] })!;
      const expected = decode(compileModel(notifyModel(model, [], X86_64)).program);
      const rewritten = notifyProgram(compileModel(model).program);
      expect(rewritten).toBeDefined();
      const got = decode(rewritten!);
      for (const arch of [X86_64, I386])
        for (const nr of [0, 1, 2, 3, 4, 5, 6, 39, 257, 0x40000000 + 39, 0xffffffff])
          for (const args of [[0n, 0n, 0n], [1n, 0n, 0n], [0n, 0n, 1n]]) {
            const d = { nr, arch, args: [...args, 0n, 0n, 0n] };
            expect(formatAction(run(got, d).ret)).toBe(formatAction(run(expected, d).ret));
          }
    }
  });
});

describe('withBpfFile', () => {
  const compiled = (policy: string) => decode(compileModel(buildModel({ policies: [policy], allow: [], deny: [], presets: [] })).program);
  const notify = (policy: string) => decode(compileModel(notifyModel(buildModel({ policies: [policy], allow: [], deny: [], presets: [] }), [], X86_64)).program);

  it("notifies what the file refuses and hands what it allows to the policy's notify filter; the kernel accepts the result", () => {
    const file = compiled('ERRNO(13) { read } KILL { uname } DEFAULT ALLOW');
    const merged = withBpfFile(file, notify('KILL_PROCESS { write } DEFAULT ALLOW'))!;
    expect(verify(merged)).toEqual([]);
    const at = (nr: number) => formatAction(run(merged, { nr, arch: X86_64, args: [] }).ret);
    expect([0, 63, 1, 39].map(at)).toEqual(['USER_NOTIF', 'USER_NOTIF', 'USER_NOTIF', 'ALLOW']);
  });

  it('notifies a RET A (its answer is only known when it runs)', () => {
    const file = [stmt(BPF_LD | BPF_W | BPF_ABS, 0), stmt(BPF_RET | 0x10, 0)];
    const merged = withBpfFile(file, [stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)])!;
    expect(run(merged, { nr: 0, arch: X86_64, args: [] }).ret >>> 0).toBe(SECCOMP_RET_USER_NOTIF);
  });

  it('gives up when both do not fit in one filter', () => {
    expect(withBpfFile(new Array(4000).fill(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)), new Array(97).fill(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)))).toBeUndefined();
  });

  it("stronger: the kernel's precedence between stacked filters, the newer one's data on a tie", () => {
    expect(stronger(SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | 13)).toBe(SECCOMP_RET_ERRNO | 13);
    expect(stronger(SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO | 13)).toBe(SECCOMP_RET_ERRNO | 1);
    expect(stronger(SECCOMP_RET_ERRNO | 1, SECCOMP_RET_KILL_PROCESS)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(stronger(SECCOMP_RET_KILL_THREAD, SECCOMP_RET_ERRNO | 13)).toBe(SECCOMP_RET_KILL_THREAD);
  });
});
