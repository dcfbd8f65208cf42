/** `tsjail seccomp compile|dump|eval`, the interpreter and the assembler's long jumps. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSeccompCommand } from '../../../src/seccomp/command.js';
import { BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_MEM, BPF_RET, BPF_W, jump, stmt } from '../../../src/seccomp/bpf.js';
import { generate } from '../../../src/seccomp/codegen.js';
import { run, verify } from '../../../src/seccomp/interp.js';
import { decisions, model, X86_64 } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-seccomp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cmd(...argv: string[]) {
  let stdout = '', stderr = '';
  const code = await runSeccompCommand(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe('tsjail seccomp eval', () => {
  const P = 'ALLOW { read { fd == 0 } } DEFAULT ERRNO(1)';
  it('prints the decision (the issue example)', async () => {
    expect(await cmd('eval', '--policy', P, '--syscall', 'read', '--args', '0,0,0')).toEqual({ code: 0, stdout: 'ALLOW\n', stderr: '' });
    expect(await cmd('eval', '--policy', P, '--syscall', 'read', '--args', '1,0,0')).toEqual({ code: 0, stdout: 'ERRNO(1)\n', stderr: '' });
  });

  it.each([
    [['--policy', 'ERRNO(1337) { geteuid } DEFAULT ALLOW', '--syscall', 'geteuid'], 'ERRNO(1337)'],
    [['--policy', 'KILL_PROCESS { newuname } DEFAULT ALLOW', '--syscall', 'uname'], 'KILL_PROCESS'],
    [['--policy', 'ALLOW { read } DEFAULT ALLOW', '--syscall', 'read', '--arch', 'i386'], 'KILL_THREAD'],
    [['--policy', 'ALLOW { read }', '--syscall', '1', '--arch=x86_64'], 'KILL_THREAD'],
    [['--policy', 'TRAP(7) { read } DEFAULT ALLOW', '--syscall', '0'], 'TRAP(7)'],
    [['--policy', 'TRACE(9) { read } DEFAULT LOG', '--syscall', 'read'], 'TRACE(9)'],
    [['--policy', 'TRACE(9) { read } DEFAULT LOG', '--syscall', 'write'], 'LOG'],
    [['--policy', 'USER_NOTIF { read }', '--syscall', 'read'], 'USER_NOTIF'],
    [['--policy', 'KILL { ptrace } DEFAULT ALLOW', '--syscall', '0x40000065'], 'KILL_PROCESS'],
    [['--policy', 'ALLOW { mmap { addr == -1 } }', '--syscall', 'mmap', '--args', '-1'], 'ALLOW'],
    [['--policy', 'ALLOW { mmap { addr == -1 } }', '--syscall', 'mmap', '--args', '0xffffffff'], 'KILL_THREAD'],
    [['--policy', 'ALLOW { read }', '--policy', 'DEFAULT ERRNO(3)', '--syscall', 'write'], 'ERRNO(3)'],
    [['--syscall_allow', 'read', '--syscall', 'write'], 'ERRNO(1)'],
    [['--syscall_deny', 'write', '--syscall', 'write'], 'ERRNO(1)'],
    [['--seccomp_preset', 'deny_userns', '--syscall', 'clone3'], 'ERRNO(38)'],
  ])('%j → %s', async (argv, want) => {
    expect(await cmd('eval', ...argv)).toMatchObject({ code: 0, stdout: `${want}\n` });
  });

  it('refuses a bad policy with its position, and a bad command line in one line and a pointer to --help, with 255', async () => {
    expect(await cmd('eval', '--policy', 'ALLOW { stst }', '--syscall', 'read')).toEqual({ code: 255, stdout: '', stderr: "tsjail seccomp: 1:9: Undefined identifier `stst'\n" });
    expect(await cmd('eval', '--policy', 'ALLOW { read }')).toEqual({ code: 255, stdout: '', stderr: 'tsjail seccomp: eval needs --syscall NAME|NR\nsee tsjail seccomp --help\n' });
    expect(await cmd('frobnicate')).toMatchObject({ code: 255, stderr: "tsjail seccomp: unknown command 'frobnicate'\nsee tsjail seccomp --help\n" });
    expect(await cmd()).toMatchObject({ code: 255, stderr: 'tsjail seccomp: a command is needed: compile, dump, eval, lint\nsee tsjail seccomp --help\n' });
    expect((await cmd('eval', '--bogus', 'x')).stderr).toMatch(/unknown option '--bogus'/);
    expect((await cmd('eval', '--syscall', 'read')).stderr).toMatch(/no filter given/);
    expect((await cmd('eval', '--policy', 'ALLOW{read}', '--syscall', 'nosuch')).stderr).toMatch(/'nosuch' is not a number/);
    expect((await cmd('dump', '-o', 'x', '--policy', 'ALLOW{read}')).stderr).toMatch(/-o does not apply to 'dump'/);
    expect((await cmd('--help')).code).toBe(0);
  });
});

describe('tsjail seccomp compile and dump', () => {
  it('writes raw sock_filter bytes that eval and dump read back', async () => {
    const out = join(dir, 'filter.bpf');
    const c = await cmd('compile', '--policy', 'ERRNO(1337) { geteuid } DEFAULT ALLOW', '-o', out);
    expect(c.code).toBe(0);
    const bytes = readFileSync(out);
    expect(c.stderr).toBe(`${out}: ${bytes.length / 8} instructions\n`);
    // First instruction: ld [4] (arch), little-endian.
    expect([...bytes.subarray(0, 8)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
    expect((await cmd('eval', '--filter_file', out, '--syscall', 'geteuid')).stdout).toBe('ERRNO(1337)\n');
    expect((await cmd('dump', '--filter_file', out)).stdout).toMatch(/ret #0x50539 +; ERRNO\(1337\)/);
    expect((await cmd('compile', '--policy', 'ALLOW{read}')).stderr).toMatch(/compile needs -o FILE/);
  });

  it('dumps annotated BPF with labels', async () => {
    const { code, stdout } = await cmd('dump', '--policy', 'ALLOW { read { fd == 0 }, write } DEFAULT ERRNO(1)');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {7}ld \[4\] +; A = arch\n/);
    expect(stdout).toMatch(/jeq #0xc000003e, L2, L\d+ +; arch == x86_64/);
    expect(stdout).toMatch(/L2: +ld \[0\] +; A = nr/);
    expect(stdout).toMatch(/; nr >= 1 \(write\)/);
    expect(stdout).toMatch(/ld \[16\] +; A = args\[0\] low/);
    expect(stdout).toMatch(/ret #0x7fff0000 +; ALLOW/);
    expect(stdout).toMatch(/ret #0x80000000 +; KILL_PROCESS/);
  });
});

describe('interpreter and kernel checks', () => {
  it('rejects what the kernel rejects', () => {
    expect(verify([])).toEqual(['length 0 outside 1..4096']);
    expect(verify([stmt(BPF_LD | BPF_W | BPF_ABS, 64), stmt(BPF_RET | BPF_K, 0)])).toEqual(['0: load of seccomp_data offset 64']);
    expect(verify([stmt(BPF_LDX | BPF_W | BPF_MEM, 0), stmt(BPF_RET | BPF_K, 0)])).toEqual(['0: M[0] read before written']);
    expect(verify([jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 5), stmt(BPF_RET | BPF_K, 0)])).toEqual(['0: jump to 6 past the end']);
    expect(verify([stmt(0x28, 0), stmt(BPF_RET | BPF_K, 0)])).toEqual(['0: opcode 0x28 not allowed in seccomp']); // ld half-word
  });

  it('bridges jumps longer than 255 instructions and stays correct', () => {
    // 300 conditional rules on one syscall, then a short one: the early tests must reach far RETs.
    const rules = Array.from({ length: 300 }, (_, i) => `ERRNO(${i + 1}) { read { fd == ${i} } }`).join('\n');
    const m = model({ policies: [`${rules}\nALLOW { write } DEFAULT KILL_PROCESS`] });
    const prog = generate(m);
    expect(prog.length).toBeGreaterThan(600);
    expect(verify(prog)).toEqual([]);
    const events = [0, 1, 150, 299, 300].map((fd) => ({ nr: 'read', args: [fd] })).concat([{ nr: 'write', args: [] }, { nr: 'openat', args: [] }]);
    const d = decisions(m, events);
    expect(d.map((x) => x.bpf)).toEqual(['ERRNO(1)', 'ERRNO(2)', 'ERRNO(151)', 'ERRNO(300)', 'KILL_PROCESS', 'ALLOW', 'KILL_PROCESS']);
    expect(d.map((x) => x.ref)).toEqual(d.map((x) => x.bpf));
  });

  it('runs a balanced search: few instructions per syscall', () => {
    const m = model({ allow: ['read,write,openat,close,mmap,munmap,brk,exit_group,futex,execve'] });
    const prog = generate(m);
    const r = run(prog, { nr: 0, arch: X86_64, args: [] });
    expect(r.ret).toBe(0x7fff0000);
    expect(r.executed).toBeLessThanOrEqual(3 + Math.ceil(Math.log2(24)) + 1);
  });
});
