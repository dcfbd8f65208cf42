/** Policies that must not compile, with Kafel's `line:column: message`. */
import { describe, expect, it } from 'vitest';
import { compileSeccomp, SeccompCompileError, type SeccompInput } from '../../../src/seccomp/index.js';

const input = (over: Partial<SeccompInput>): SeccompInput => ({ policies: [], allow: [], deny: [], presets: [], ...over });

function compileError(over: Partial<SeccompInput>): SeccompCompileError {
  try {
    compileSeccomp(input(over));
  } catch (e) {
    if (e instanceof SeccompCompileError) return e;
    throw e;
  }
  throw new Error('compiled');
}

type Row = readonly [policy: string, where: string, message: RegExp];

const ROWS: ReadonlyArray<readonly [string, readonly Row[]]> = [
  ['empty programs (the entry is followed by "\\n", as nsjail joins)', [
    ['', '2:1', /syntax error, unexpected end of input/],
    ['\n', '3:1', /unexpected end of input/],
    ['// only a comment', '2:1', /unexpected end of input/],
    ['  \n\t/* c */\n', '4:1', /unexpected end of input/],
  ]],
  ['lexical errors', [
    ['ALLOW { read }\r\n', '1:15', /lexical error, unexpected character '\\r'/],
    ['ALLOW { _read }', '1:9', /unexpected character '_'/],
    ['ALLOW { add_key { _type == 0 } }', '1:19', /unexpected character '_'/],
    ['ALLOW { read { fd == - 1 } }', '1:22', /unexpected character '-'/],
    ['ALLOW { read { fd == -0 } }', '1:22', /unexpected character '-'/],
    ['ALLOW { read { fd + 1 == 2 } }', '1:19', /unexpected character '\+'/],
    ['ALLOW { read { ~fd == 2 } }', '1:16', /unexpected character '~'/],
    ['ALLOW { read { fd ^ 1 == 2 } }', '1:19', /unexpected character '\^'/],
    ['ALLOW { read { fd << 1 == 2 } }', '1:20', /syntax error, unexpected `<'/],
    ['ALLOW { read { fd == 0x10000000000000000 } }', '1:22', /number `0x10000000000000000' out of range/],
    ['ALLOW { read { fd == 18446744073709551616 } }', '1:22', /number `18446744073709551616' out of range/],
    ['ALLOW { read { fd == -18446744073709551616 } }', '1:22', /out of range/],
    ['/***/ ALLOW { read }', '1:1', /unterminated comment/],
    ['/* x **/ ALLOW { read }', '1:1', /unterminated comment/],
    ['ALLOW { read }\n/* open', '2:1', /unterminated comment/],
    ['ALLOW { read } /* x *', '1:16', /unterminated comment/],
    ['#include "x.policy"\nALLOW { read }', '1:1', /could not include file `x.policy'/],
    ['ALLOW { read }\n#include "x"', '2:1', /could not include file `x'/],
    ['#include"x";', '1:1', /malformed #include/],
    ['#include "a""b";', '1:1', /malformed #include/],
    ['#include "a" // c\n', '1:1', /malformed #include/],
  ]],
  ['number forms that split into two tokens', [
    ['ALLOW { read { fd == 0X1 } }', '1:23', /unexpected identifier `X1'/],
    ['ALLOW { read { fd == 0B1 } }', '1:23', /unexpected identifier `B1'/],
    ['ALLOW { read { fd == 10abc } }', '1:24', /unexpected identifier `abc'/],
  ]],
  ['syntax errors', [
    ['POLICY a { ALLOW { read } DEFAULT KILL }', '1:27', /unexpected `DEFAULT'/],
    ['POLICY a { ALLOW { read } ALLOW { write } }', '1:27', /unexpected `ALLOW', expecting `,' or `}'/],
    ['ALLOW { read, }', '1:15', /unexpected `}'/],
    ['ALLOW { read } ,', '2:1', /unexpected end of input/],
    ['ALLOW { read }, DEFAULT KILL', '1:17', /unexpected `DEFAULT'/],
    ['ALLOW { read }, POLICY a { }', '1:17', /unexpected `POLICY'/],
    ['ALLOW { read }, #define X 1', '1:17', /unexpected `#'/],
    ['#define EPERM 1\nERRNO(EPERM) { read }', '2:7', /unexpected identifier `EPERM', expecting a number/],
    ['ALLOW { SYSCALL[X] }', '1:17', /expecting a number/],
    ['POLICY a { #define X 1 }', '1:12', /unexpected `#'/],
    ['POLICY ALLOW { }', '1:8', /unexpected `ALLOW', expecting a policy name/],
    ['POLICY a { } USE DEFAULT', '1:18', /unexpected `DEFAULT'/],
    ['ALLOW { define }', '1:9', /unexpected `define'/],
    ['ALLOW { SYSCALL }', '1:17', /expecting `\['/],
    ['ALLOW { read(define) }', '1:14', /unexpected `define'/],
    ['allow { read }', '1:1', /unexpected identifier `allow'/],
    ['ALLOW { read } DEFAULT', '2:1', /expecting an action/],
    ['ALLOW { read { fd & 1 } }', '1:23', /expecting a comparison operator/],
    ['ALLOW { read { fd == 1 == 2 } }', '1:24', /unexpected `=='/],
    ['ALLOW { read { fd == 1 } ON x86_64 }', '1:26', /unexpected `ON'/],
    ['ALLOW { read', '2:1', /unexpected end of input/],
    ['ALLOW { read { fd == ', '2:1', /unexpected end of input/],
  ]],
  ['semantic errors', [
    ['POLICY a { }\nPOLICY a { }', '2:1', /Redefinition of policy `a'/],
    ['#define A 1\n#define A 2', '2:1', /Redefinition of constant `A' with different value \(was: 1 is: 2\)/],
    ['DEFAULT ALLOW DEFAULT ALLOW', '1:15', /Redefinition of default action/],
    ['DEFAULT KILL\nDEFAULT KILL', '2:1', /Redefinition of default action/],
    ['USE a', '1:5', /Undefined policy `a'/],
    ['ALLOW { read } USE later POLICY later { }', '1:20', /Undefined policy `later'/],
    ['ALLOW { stst }', '1:9', /Undefined identifier `stst'/],
    ['ALLOW { _sysctl }', '1:9', /unexpected character '_'/],
    ['POLICY p { ALLOW { nosuch } }\nALLOW { read }', '1:20', /Undefined identifier `nosuch'/],
    ['ALLOW { read { foo == 1 } }', '1:16', /Undefined identifier `foo'/],
    ['ALLOW { read() { fd == 1 } }', '1:18', /Undefined identifier `fd'/],
    ['ALLOW { SYSCALL[0] { fd == 1 } }', '1:22', /Undefined identifier `fd'/],
    ['ALLOW { read(a, a) }', '1:17', /Redefinition of argument `a'/],
    ['ALLOW { read(a, b, c, d, e, f, g) }', '1:32', /Too many arguments defined for syscall/],
    ['ERRNO(65536) { read }', '1:7', /Errno value 65536 out of range \(0-65535\)/],
    ['TRAP(70000) { read }', '1:6', /Trap value 70000 out of range/],
    ['TRACE(0x10000) { read }', '1:7', /Trace value 65536 out of range/],
    ['DEFAULT ERRNO(99999)', '1:15', /Errno value 99999 out of range/],
    ['ALLOW { read ON sparc }', '1:17', /Unknown architecture `sparc'/],
    ['ALLOW { read ON { x86_64, amd64 } }', '1:27', /Duplicate architecture `amd64'/],
  ]],
  ['limits', [
    [`ALLOW { read { ${'!'.repeat(200)}fd == 1 } }`, '1:16', /Max expression depth \(200\) exceeded/],
    [`ALLOW { kill { ${'('.repeat(20)}pid | sig${') | pid'.repeat(20)} == 1 } }`, '1:16', /Required stack size exceeds available BPF memory/],
    [`ALLOW { read { ${'('.repeat(1001)}fd${')'.repeat(1001)} == 1 } }`, '1:1017', /Max parenthesis nesting/],
  ]],
];

describe('compile errors carry line:column', () => {
  for (const [group, rows] of ROWS) {
    describe(group, () => {
      it.each(rows.map(([p, where, msg]) => [p.length > 70 ? `${p.slice(0, 70)}…` : p, where, msg, p] as const))('%s  → %s', (_l, where, msg, p) => {
        const e = compileError({ policies: [p] });
        expect(`${e.line}:${e.column}`).toBe(where);
        expect(e.message).toMatch(msg);
        expect(e.message.startsWith(`${where}: `)).toBe(true);
      });
    });
  }

  it('accepts the limits themselves', () => {
    expect(compileSeccomp(input({ policies: [`ALLOW { read { ${'!'.repeat(199)}fd == 1 } }`] }))).toBeDefined();
    expect(compileSeccomp(input({ policies: [`ALLOW { kill { ${'('.repeat(14)}pid | sig${') | pid'.repeat(14)} == 1 } }`] }))).toBeDefined();
    expect(compileSeccomp(input({ policies: ['ALLOW { read { fd == 18446744073709551615 }, write { fd == -18446744073709551615 } }'] }))).toBeDefined();
  });

  it('rejects programs over the kernel limit of 4096 instructions', () => {
    const rules = Array.from({ length: 2100 }, (_, i) => `ERRNO(${i}) { read { fd == ${i} } }`).join('\n');
    const e = compileError({ policies: [rules] });
    expect(e.line).toBeUndefined();
    expect(e.message).toMatch(/program too long: \d+ instructions, the kernel accepts at most 4096/);
  });

  it('reports the errors of the command-line glue', () => {
    expect(compileError({ policies: ['ALLOW { read }'], policyFile: '/x' }).message).toMatch(/specify one only/);
    expect(compileError({ policyFile: '/nonexistent/policy' }).message).toMatch(/--seccomp_policy '\/nonexistent\/policy': stat\(\) failed: ENOENT/);
    expect(compileError({ allow: ['read,bogus'] }).message).toBe("--syscall_allow: unknown syscall `bogus'");
    expect(compileError({ deny: ['nope'] }).message).toBe("--syscall_deny: unknown syscall `nope'");
    expect(compileError({ presets: ['deny_everything'] }).message).toMatch(/unknown preset `deny_everything' \(known: deny_common, .*, deny_ns, default\)/);
    const e = compileError({ policies: ['ALLOW { read }', 'DEFAULT KILL'], allow: ['write'] });
    expect(e.message).toMatch(/^2:1: DEFAULT cannot be combined with --syscall_allow/);
  });
});
