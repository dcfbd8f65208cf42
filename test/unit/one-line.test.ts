/**
 * Inputs the fuzz test found (test/unit/fuzz.test.ts): values echoed in error
 * messages carried their newlines and control characters into the log, so
 * one error spread over several lines. They are escaped as \xNN now.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/cli/parse.js';
import { applyConfigFile } from '../../src/config/apply.js';
import { parseConfigText } from '../../src/config/load.js';
import { prepare } from '../../src/prepare.js';
import { compileSeccomp } from '../../src/seccomp/index.js';
import { validateSpec } from '../../src/validate.js';
import { FAKE_HOST } from './helpers/host.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-oneline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function errorOf(argv: string[]): Promise<string> {
  try {
    const { spec } = await parseCommandLine([...argv, '--', '/bin/true'], async (s, p) => void applyConfigFile(s, p));
    const problems = validateSpec(spec);
    if (problems.length) return problems.join('; ');
    prepare(spec, FAKE_HOST);
    const e = spec.cfg.ext;
    compileSeccomp({ policies: spec.cfg.seccomp_string, policyFile: spec.cfg.seccomp_policy_file, allow: e.syscall_allow, deny: e.syscall_deny, presets: e.seccomp_preset });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(argv)}`);
}

describe('errors quoting user input stay on one line', () => {
  const cases: Array<[string[], string]> = [
    [['--mode', '1e3\n'], "(got '1e3\\x0a')"],
    [['--compat', "('\n\t\\a)"], "--compat: '('\\x0a\\x09\\a)' is not '3.4' or 'master'"],
    [['--log_format', 'a\u001b[31m'], "--log_format: 'a\\x1b[31m' is not 'text' or 'json'"],
    [['--landlock_scope', 'x\ny'], "unknown scope 'x\\x0ay'"],
    [['--syscall_allow', '#define X 1\nALLOW'], "--syscall_allow: unknown syscall `#define X 1\\x0aALLOW'"],
    [['--seccomp_preset', 'a\nb'], "unknown preset `a\\x0ab'"],
    [['-P', ')\tb\n'], "--seccomp_policy ')\\x09b\\x0a': stat() failed: ENOENT"],
    [['--cap', 'CAP_\n'], "unknown capability 'CAP_\\x0a'"],
    [['-m', 'none:rel\n:tmpfs'], "mount destination 'rel\\x0a' is not an absolute path"],
    [['-u', 'no\nbody'], "cannot resolve user 'no\\x0abody'"],
    [['--bogus\nx'], "unknown option '--bogus\\x0ax'"],
  ];
  for (const [argv, want] of cases) {
    it(JSON.stringify(argv), async () => {
      const m = await errorOf(argv);
      expect(m).toContain(want);
      expect(m).not.toMatch(/[\x00-\x1f]/);
    });
  }

  it('a config file error quoting an unterminated string', () => {
    const text = '# comment\nhostname: "abc\nmount { dst: "/x" }\n';
    let m = '';
    try {
      parseConfigText(text, 'bad.cfg');
    } catch (e) {
      m = (e as Error).message;
    }
    const lines = m.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe("Couldn't parse config file 'bad.cfg' as text format or as ProtoJSON:");
    expect(lines[1]).toMatch(/^ {2}text format: bad\.cfg:2: /);
    expect(lines[2]).toMatch(/^ {2}ProtoJSON: bad\.cfg/);
  });

  it('a config path with a newline', async () => {
    const path = join(dir, 'a\nb.cfg');
    writeFileSync(path, '');
    expect(await errorOf(['-C', path])).toMatch(/^Config file '.*a\\x0ab\.cfg' is empty$/);
  });
});
