#!/usr/bin/env node
// npm test: build, then the whole vitest suite (unit and integration).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
try {
  run(process.execPath, [join(root, 'scripts/build.mjs')]);
  run(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(2)]);
} catch (e) {
  process.exit(typeof e.status === 'number' ? e.status : 1);
}
