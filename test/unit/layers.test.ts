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

/** Relative imports of one file: static (import/export … from), side-effect and dynamic import(); `import type` is erased and does not count. */
export function importsOf(path: string): string[] {
  const src = code(path);
  const specs: string[] = [];
  const re = /\b(import|export)\s+(type\s+)?(?:[\w*\s{},$]*?\s+from\s+)?['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of src.matchAll(re)) {
    if (m[2]) continue;
    specs.push((m[3] ?? m[4])!);
  }
  return specs.map((s) => resolve(dirname(path), s.replace(/\.js$/, '.ts')));
}

/** Strongly connected components of more than one file (or a file importing itself), by Tarjan's algorithm. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('no import cycles in src/', () => {
  it('finds a planted cycle', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'], ['e']]);
  });

  it('sees static, re-export and dynamic imports and skips type-only ones', () => {
    const graph = new Map(tsFiles(SRC).map((f) => [f, importsOf(f)]));
    const rel = (f: string) => relative(SRC, f);
    expect(graph.get(join(SRC, 'index.ts'))!.map(rel)).toContain('api.ts');
    for (const [f, deps] of graph) for (const d of deps) expect(graph.has(d), `${rel(f)} imports ${rel(d)}, not a file`).toBe(true);
  });

  it('has none', () => {
    const graph = new Map(tsFiles(SRC).map((f) => [f, importsOf(f)]));
    expect(cycles(graph).map((c) => c.map((f) => relative(SRC, f)).join(' <-> '))).toEqual([]);
  });
});

describe('the CLI is a client of the library API', () => {
  it('runs jails through runSpec, the entry src/api.ts exports, never execute() itself', () => {
    for (const f of ['main.ts', 'learn/command.ts']) {
      const deps = importsOf(join(SRC, f)).map((d) => relative(SRC, d));
      expect(deps, f).toContain('run-spec.ts');
      expect(deps, f).not.toContain('execute.ts');
    }
    expect(importsOf(join(SRC, 'api.ts')).map((d) => relative(SRC, d))).toContain('run-spec.ts');
  });
});
