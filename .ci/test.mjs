#!/usr/bin/env node
// npm test: build, then the whole vitest suite (unit and integration), closing
// with one plain 'N passed, N failed, N skipped' line.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
try {
  execFileSync(process.execPath, [join(root, '.ci/build.mjs')], { cwd: root, stdio: 'inherit' });
} catch (e) {
  process.exit(typeof e.status === 'number' ? e.status : 1);
}
const dir = mkdtempSync(join(tmpdir(), 'tsjail-test-'));
const report = join(dir, 'report.json');
const r = spawnSync(
  process.execPath,
  [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(root, 'test/vitest.config.ts'), '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);
try {
  const j = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = j.numPendingTests + j.numTodoTests;
  console.log(`\n${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`);
} catch {
  /* no report: vitest itself failed; its exit status says so */
}
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
