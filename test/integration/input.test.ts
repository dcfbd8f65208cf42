/** Bad and extreme input through the real CLI (issue 11): numbers, log and output failures, config files, -x. */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jail, runTsjail, TSJAIL } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skipJail = missingRoot() ?? missingUserns();

describe('time limits past setTimeout’s range', () => {
  // 2147484 s is 2^31 ms and more: Node would fire such a timer after 1 ms and kill the jail at once.
  it.skipIf(!!skipJail)('-t 2147484 lets the program run', async () => {
    const r = await jail(['-t', '2147484'], ['/bin/sh', '-c', 'sleep 1; echo ran']);
    expect(r.stdout).toBe('ran\n');
    expect(r.exitCode).toBe(0);
  });
});

/**
 * stderr holds exactly one log line naming the problem (no usage, no stack
 * trace); a refused command line adds the pointer to --help after it.
 */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter(Boolean).filter((l) => !/Couldn't parse cmdline options; see tsjail --help/.test(l));
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

describe('bad values and unusable outputs: one line, exit 255', () => {
  it('-t 18446744073709551616 names the option and the value', async () => {
    const r = await runTsjail(['-t', '18446744073709551616', '--', '/bin/true']);
    expect(r.exitCode).toBe(255);
    expect(oneLine(r.stderr)).toMatch(/\[F\].* --time_limit: '18446744073709551616' is out of range \(0\.\.4294967295\)$/);
  });

  it('--log in a missing directory', async () => {
    const r = await runTsjail(['--log', '/nonexistent/dir/x', '--', '/bin/true']);
    expect(r.exitCode).toBe(255);
    expect(oneLine(r.stderr)).toMatch(/log file '\/nonexistent\/dir\/x': open\(O_WRONLY\|O_CREAT\|O_APPEND, 0640\) failed: ENOENT/);
  });

  it('--log_fd that is not a number, or not open', async () => {
    const junk = await runTsjail(['--log_fd', 'abc', '--', '/bin/true']);
    expect(junk.exitCode).toBe(255);
    expect(oneLine(junk.stderr)).toMatch(/--log_fd: 'abc' is not a number$/);
    const closed = await runTsjail(['--log_fd', '99', '--', '/bin/true']);
    expect(closed.exitCode).toBe(255);
    expect(oneLine(closed.stderr)).toMatch(/log fd 99: fstat\(99\) failed: EBADF/);
  });

  it('--dump_config and --help into a full device', () => {
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['--dump_config', '--', '/bin/true'], ['--help']]) {
        const r = spawnSync(process.execPath, [TSJAIL, ...args], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
        expect(r.status, args[0]).toBe(255);
        expect(oneLine(r.stderr)).toMatch(new RegExp(`${args[0]}: write\\(1, …\\) to stdout failed: ENOSPC`));
      }
    } finally {
      closeSync(full);
    }
  });
});

describe.skipIf(!!skipJail)('-x, a command after --, and exec_bin (nsjail: argv is fixed when the config is read)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-input-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = (name: string, exe: string) => {
    const path = join(dir, name);
    writeFileSync(path, `mount { src: "/" dst: "/" is_bind: true }\nexec_bin { ${exe} }\n`);
    return path;
  };
  const dollar0 = 'arg: "-c" arg: "echo $0"';

  it('-x after -C runs the new path with the config argv[0] (exec_bin.path) kept', async () => {
    const c = cfg('x.cfg', `path: "/bin/echo" ${dollar0}`);
    const r = await runTsjail(['-C', c, '-x', '/bin/sh', '-q']);
    expect(r.stdout).toBe('/bin/echo\n');
    expect(r.exitCode).toBe(0);
  });

  it('arg0 names argv[0] of the config argv, but not of a command after --', async () => {
    const c = cfg('arg0.cfg', `path: "/bin/sh" ${dollar0} arg0: "CFG0"`);
    expect((await runTsjail(['-C', c, '-q'])).stdout).toBe('CFG0\n');
    const cmd = await runTsjail(['-C', c, '-q', '--', 'CMD0', '-c', 'echo $0']);
    expect(cmd.stdout).toBe('CMD0\n'); // /bin/sh (the path kept) with the command's own argv
  });

  it('-x before -C is replaced by the config, as every config-backed option', async () => {
    const c = cfg('before.cfg', `path: "/bin/sh" ${dollar0}`);
    const r = await runTsjail(['-x', '/bin/false', '-C', c, '-q']);
    expect(r.stdout).toBe('/bin/sh\n');
    expect(r.exitCode).toBe(0);
  });
});

describe('config files that are not files, or hold NUL bytes', () => {
  it('--config /dev/zero and --seccomp_policy /dev/zero stop at once', async () => {
    const cfg = await runTsjail(['--config', '/dev/zero', '--', '/bin/true'], { timeoutMs: 20_000 });
    expect(cfg.exitCode).toBe(255);
    expect(oneLine(cfg.stderr)).toMatch(/config file '\/dev\/zero': is a character device, not a file$/);
    const policy = await runTsjail(['--seccomp_policy', '/dev/zero', '--', '/bin/true'], { timeoutMs: 20_000 });
    expect(policy.exitCode).toBe(255);
    expect(policy.stderr).toMatch(/--seccomp_policy '\/dev\/zero': is a character device, not a file/);
  });

  it('a NUL in a config path is refused, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-nul-'));
    try {
      const c = join(dir, 'nul.cfg');
      writeFileSync(c, 'mount { src: "/" dst: "/" is_bind: true }\ncwd: "/tmp\\0/etc"\n');
      const r = await runTsjail(['-C', c, '--', '/bin/pwd']);
      expect(r.exitCode).toBe(255);
      expect(oneLine(r.stderr)).toMatch(/nul\.cfg: cwd: a NUL byte is not allowed in '\/tmp\\x00\/etc'$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
