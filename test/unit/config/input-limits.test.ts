/** What a config or policy file may be (issue 11): a file of sane size, and strings without NUL bytes. */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile } from '../../../src/config/load.js';
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

