/** The notify filter (src/seccomp/notify.ts): refusals and traced calls reach tsjail as USER_NOTIF, the rest as before. */
import { describe, expect, it } from 'vitest';
import { formatAction } from '../../../src/seccomp/actions.js';
import { buildModel, compileModel } from '../../../src/seccomp/index.js';
import { decode } from '../../../src/seccomp/bpf.js';
import { run } from '../../../src/seccomp/interp.js';
import { notifyModel, notifyProgram } from '../../../src/seccomp/notify.js';

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
