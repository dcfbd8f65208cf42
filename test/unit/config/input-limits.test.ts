/** What a config or policy file may be (issue 11): a file of sane size, and strings without NUL bytes. */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import { MAX_INPUT_BYTES } from '../../../src/input-file.js';
import { compileSeccomp } from '../../../src/seccomp/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadError(path: string): string {
  try {
    loadConfigFile(path);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`${path} was accepted`);
}

describe('config and policy files', () => {
  it('refuses devices and directories before reading them', () => {
    expect(loadError('/dev/zero')).toBe("Couldn't read config file '/dev/zero': is a character device, not a file");
    expect(loadError(dir)).toBe(`Couldn't read config file '${dir}': is a directory, not a file`);
    expect(loadError(join(dir, 'missing'))).toMatch(/: stat\(\) failed: ENOENT \(No such file or directory\)$/);
  });

  it('refuses a file above the size cap, and reads one at it', () => {
    const big = join(dir, 'big.cfg');
    writeFileSync(big, '');
    truncateSync(big, MAX_INPUT_BYTES + 1);
    expect(loadError(big)).toBe(`Couldn't read config file '${big}': is ${MAX_INPUT_BYTES + 1} bytes, more than the 4 MiB an input file may have`);
    const fits = join(dir, 'fits.cfg');
    writeFileSync(fits, `hostname: "a"\n${'#'.repeat(MAX_INPUT_BYTES - 20)}\n`);
    expect(loadConfigFile(fits).hostname).toBe('a');
  });

  it('reads a FIFO, as `--config <(…)` gives, and cuts an endless one off', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('/bin/sh', ['-c', `printf 'hostname: "piped"\\n' > ${fifo}`]);
    expect(loadConfigFile(fifo).hostname).toBe('piped');
    await new Promise((r) => writer.on('exit', r));
    const endless = spawn('/bin/sh', ['-c', `exec cat /dev/zero > ${fifo}`]);
    expect(loadError(fifo)).toBe(`Couldn't read config file '${fifo}': holds more than the 4 MiB an input file may have`);
    endless.kill('SIGKILL');
  });

  it('--seccomp_policy gets the same checks', () => {
    const compile = (policyFile: string) => () => compileSeccomp({ policies: [], allow: [], deny: [], presets: [], policyFile });
    expect(compile('/dev/zero')).toThrow("--seccomp_policy '/dev/zero': is a character device, not a file");
  });
});

describe('NUL bytes in config strings', () => {
  const errorOf = (text: string): string => {
    try {
      parseConfigText(text, 'x.cfg');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error(`accepted: ${text}`);
  };

  it('are refused with the field named, in text format and JSON', () => {
    expect(errorOf('hostname: "a\\0b"')).toBe("x.cfg: hostname: a NUL byte is not allowed in 'a\\x00b'");
    expect(errorOf('mount { dst: "/a" } mount { src: "/etc\\000" dst: "/b" is_bind: true }')).toMatch(/^x\.cfg: mount\[1\]\.src: a NUL byte/);
    expect(errorOf('envar: "A=1" envar: "B=\\0"')).toMatch(/^x\.cfg: envar\[1\]: /);
    expect(errorOf('exec_bin { path: "/bin/sh" arg: "-c\\0x" }')).toMatch(/^x\.cfg: exec_bin\.arg\[0\]: /);
    expect(errorOf('tsjail { landlock { ro: "/usr\\0" } }')).toMatch(/^x\.cfg: tsjail\.landlock\.ro\[0\]: /);
    expect(errorOf('{"cwd": "/tmp\\u0000x"}')).toMatch(/^x\.cfg: cwd: a NUL byte/);
    expect(errorOf('{"mount": [{"dst": "/x\\u0000"}]}')).toMatch(/^x\.cfg: mount\[0\]\.dst: /);
    for (const f of ['cgroup_mem_parent', 'seccomp_policy_file', 'log_file', 'bindhost', 'cgroupv2_mount']) {
      expect(errorOf(`${f}: "x\\0y"`)).toMatch(new RegExp(`^x\\.cfg: ${f}: a NUL byte`));
    }
  });

  it('stay allowed in bytes (src_content) and in free text that reaches no system call', () => {
    expect(() => parseConfigText('description: "a\\0b" mount { src_content: "\\0\\0" dst: "/f" }', 'x.cfg')).not.toThrow();
  });
});
