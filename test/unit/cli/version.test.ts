import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readVersion } from '../../../src/cli/version.js';

describe('readVersion', () => {
  it("is package.json's version, read relative to the module", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(readVersion()).toBe(pkg.version);
  });
});
