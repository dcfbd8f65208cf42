/** --seccomp_bpf_file: the checker (the kernel's rules), the bounded reader, and how the filters are installed. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { newContext } from '../../../src/phases/context.js';
import { planNoNewPrivs } from '../../../src/phases/caps.js';
import { describeOp } from '../../../src/plan/describe.js';
import { planSeccomp } from '../../../src/phases/seccomp.js';
import { buildChildProgram } from '../../../src/plan/program.js';
import { prepare } from '../../../src/prepare.js';
import {
  BPF_ABS, BPF_ALU, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LSH, BPF_MOD, BPF_RET, BPF_W, encode, jump, stmt, type SockFilter,
} from '../../../src/seccomp/bpf.js';
import { loadBpfFile } from '../../../src/seccomp/bpffile.js';
import { compileSeccomp } from '../../../src/seccomp/index.js';
import { verify } from '../../../src/seccomp/interp.js';
import { FAKE_HOST } from '../helpers/host.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-bpffile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BPF_H = 0x08; // half-word loads: classic BPF has them, seccomp does not
const ALLOW = stmt(BPF_RET | BPF_K, 0x7fff0000);
const file = (name: string, bytes: Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};
const problem = (prog: SockFilter[]) => verify(prog)[0];

describe('verify: the kernel\'s load checks', () => {
  it('accepts what the compiler writes', () => {
    expect(verify([ALLOW])).toEqual([]);
  });

  it.each<[string, SockFilter[], string]>([
    ['no instruction', [], 'length 0 outside 1..4096'],
    ['a conditional jump out of the program', [jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), ALLOW], '0: jump to 2 past the end'],
    ['a JA out of the program', [stmt(BPF_JMP | BPF_JA, 5), ALLOW], '0: jump to 6 past the end'],
    ['a program that does not end in RET', [ALLOW, stmt(BPF_LD | BPF_W | BPF_ABS, 0)], '1: the last instruction is not a RET'],
    ['a half-word load', [stmt(BPF_LD | BPF_H | BPF_ABS, 0), ALLOW], '0: opcode 0x28 not allowed in seccomp'],
    ['an unaligned load', [stmt(BPF_LD | BPF_W | BPF_ABS, 2), ALLOW], '0: load of seccomp_data offset 2'],
    ['a load past seccomp_data', [stmt(BPF_LD | BPF_W | BPF_ABS, 64), ALLOW], '0: load of seccomp_data offset 64'],
    ['a modulo by zero', [stmt(BPF_ALU | BPF_MOD | BPF_K, 0), ALLOW], '0: division by zero'],
    ['a shift by 32', [stmt(BPF_ALU | BPF_LSH | BPF_K, 32), ALLOW], '0: shift by 32'],
  ])('refuses %s', (_what, prog, want) => {
    expect(problem(prog)).toBe(want);
  });

  it('refuses more than 4096 instructions', () => {
    expect(problem(Array(4097).fill(ALLOW))).toBe('length 4097 outside 1..4096');
  });
});

describe('loadBpfFile', () => {
  it('returns the bytes of a checked filter', () => {
    const f = compileSeccomp({ policies: ['ERRNO(1) { read } DEFAULT ALLOW'], allow: [], deny: [], presets: [] })!;
    expect(loadBpfFile(file('ok.bpf', f.program))).toEqual(f.program);
  });

  it('names the option, the file and the problem on one line', () => {
    const msg = (bytes: Uint8Array | string) => {
      const path = typeof bytes === 'string' ? bytes : file('bad.bpf', bytes);
      try {
        loadBpfFile(path);
      } catch (e) {
        return (e as Error).message;
      }
      return 'loaded';
    };
    expect(msg(new Uint8Array(0))).toMatch(/^--seccomp_bpf_file '.*bad\.bpf': empty: a filter needs at least one instruction$/);
    expect(msg(new Uint8Array(12))).toMatch(/: 12 bytes is not a whole number of 8-byte struct sock_filter instructions$/);
    expect(msg(new Uint8Array(4097 * 8))).toMatch(/: longer than 4096 instructions \(32768 bytes\), the kernel's limit$/);
    expect(msg('/dev/zero')).toBe("--seccomp_bpf_file '/dev/zero': longer than 4096 instructions (32768 bytes), the kernel's limit");
    expect(msg(join(dir, 'missing'))).toMatch(/: cannot read: ENOENT: no such file or directory, open/);
    expect(msg(encode([stmt(BPF_LD | BPF_W | BPF_ABS, 0), jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 3)])))
      .toMatch(/: not a loadable seccomp filter: 1: jump to 5 past the end \(and 2 more\)$/);
  });
});

describe('installing a raw filter next to the compiled one', () => {
  async function prepared(args: string[]) {
    const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
    return prepare(spec, FAKE_HOST);
  }

  it('installs the file first and the compiled filter last, so its errno wins ties', async () => {
    const p = await prepared(['--seccomp_bpf_file', '/f.bpf']);
    const filters = { file: new Uint8Array(16), fileName: '/f.bpf', compiled: new Uint8Array(24) };
    const texts = buildChildProgram(p, newContext({ syncFd: 10, syncParentFd: 11, errFd: 12 }), { filter: [() => planSeccomp(filters, false)] }).map(describeOp);
    const sc = texts.filter((t) => t.startsWith('seccomp('));
    expect(sc).toEqual(['seccomp(SECCOMP_SET_MODE_FILTER, 2 instructions from /f.bpf)', 'seccomp(SECCOMP_SET_MODE_FILTER, 3 instructions)']);
  });

  it('a raw filter alone forces no_new_privs, as any filter does', async () => {
    expect(planNoNewPrivs(await prepared(['--disable_no_new_privs']))).toEqual([]);
    expect(planNoNewPrivs(await prepared(['--disable_no_new_privs', '--seccomp_bpf_file', '/f.bpf']))).toHaveLength(1);
  });
});
