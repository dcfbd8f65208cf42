import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { log } from '../../src/log/logger.js';
import { reportError } from '../../src/main.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-main-'));
afterAll(() => {
  log.configure({ file: undefined, fd: 2, level: 'INFO' });
  rmSync(dir, { recursive: true, force: true });
});

describe('reportError', () => {
  it('renders an exception as one fatal line, exit 255; the stack only at -v', () => {
    const quiet = join(dir, 'info.log');
    log.configure({ file: quiet, level: 'INFO', format: 'text' });
    expect(reportError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(255);
    expect(readFileSync(quiet, 'utf8')).toMatch(/^\[F\]\[[^\]]+\]\[\d+\] \S+ TypeError: Cannot read properties of undefined \(reading 'x'\)\n$/);

    const verbose = join(dir, 'debug.log');
    log.configure({ file: verbose, level: 'DEBUG' });
    reportError(new TypeError('boom'));
    const lines = readFileSync(verbose, 'utf8').split('\n');
    expect(lines[0]).toMatch(/TypeError: boom$/);
    expect(lines[1]).toMatch(/^\[D\].*TypeError: boom$/);
    expect(lines[2]).toMatch(/^\s+at /);
  });
});
