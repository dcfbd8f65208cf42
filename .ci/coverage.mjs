#!/usr/bin/env node
// npm run coverage: the unit tests (test/unit) under V8 coverage, then the line
// coverage of src/proc and src/modes, which are tested through the recording fake
// of the libc seam (test/unit/helpers/fake-sys.ts). Fails below the floor.
// Extra arguments go to vitest (e.g. a test file to narrow the run).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const FLOOR = 80;
const DIRS = ['src/proc', 'src/modes'];
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
try {
  execFileSync(process.execPath, [join(root, '.ci/build.mjs')], { cwd: root, stdio: 'inherit' });
} catch (e) {
  process.exit(typeof e.status === 'number' ? e.status : 1);
}
const out = mkdtempSync(join(tmpdir(), 'tsjail-coverage-'));
const args = process.argv.slice(2);
const r = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--config',
    join(root, 'test/vitest.config.ts'),
    '--coverage.enabled',
    '--coverage.provider=v8',
    ...DIRS.map((d) => `--coverage.include=${d}/**`),
    '--coverage.reporter=text',
    '--coverage.reporter=json-summary',
    `--coverage.reportsDirectory=${out}`,
    ...(args.length ? args : ['test/unit']),
  ],
  { cwd: root, stdio: 'inherit' },
);
let summary;
try {
  summary = JSON.parse(readFileSync(join(out, 'coverage-summary.json'), 'utf8'));
} catch {
  console.error('coverage: no summary was written (did vitest fail to start? @vitest/coverage-v8 must match vitest)');
  process.exit(r.status || 1);
} finally {
  rmSync(out, { recursive: true, force: true });
}
const totals = Object.fromEntries(DIRS.map((d) => [d, { covered: 0, total: 0 }]));
for (const [file, s] of Object.entries(summary)) {
  if (file === 'total') continue;
  const dir = DIRS.find((d) => relative(root, file).startsWith(`${d}/`));
  if (!dir) continue;
  totals[dir].covered += s.lines.covered;
  totals[dir].total += s.lines.total;
}
const pct = ({ covered, total }) => (total ? (100 * covered) / total : 0);
const all = { covered: 0, total: 0 };
console.log('\nline coverage in the unit run:');
for (const d of DIRS) {
  all.covered += totals[d].covered;
  all.total += totals[d].total;
  console.log(`  ${d}: ${pct(totals[d]).toFixed(1)} % (${totals[d].covered}/${totals[d].total} lines)`);
}
console.log(`  together: ${pct(all).toFixed(1)} % (floor ${FLOOR} %)`);
const low = DIRS.filter((d) => pct(totals[d]) < FLOOR);
if (low.length) console.error(`coverage: below ${FLOOR} % in ${low.join(', ')}`);
process.exit(r.status || (low.length ? 1 : 0));
