/**
 * The layering of src/ as source scans: planners read Prepared only (issue 12,
 * "prepare in one place"), and no module imports itself through others.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Code without comments, so that prose mentioning raw config does not count. */
function code(path: string): string {
  return readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

describe('planners read Prepared only', () => {
  const files = ['phases', 'plan'].flatMap((d) => tsFiles(join(SRC, d)));

  it('finds the planners', () => expect(files.length).toBeGreaterThan(10));

  it.each(files.map((f) => [relative(SRC, f), f]))('%s reads no raw config', (_name, f) => {
    const hits = code(f)
      .split('\n')
      .map((line, i) => ({ line, n: i + 1 }))
      .filter(({ line }) => /\.cfg\b|\.spec\b|\bspec\.cli\b|\{\s*(?:[\w\s,]*,\s*)?(?:cfg|spec)\s*(?:,[\w\s,]*)?\}\s*=\s*p\b/.test(line));
    expect(hits.map(({ line, n }) => `${n}: ${line.trim()}`)).toEqual([]);
  });
});
