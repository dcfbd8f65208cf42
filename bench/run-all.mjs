#!/usr/bin/env node
// npm run bench: every benchmark in bench/, one after the other.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
for (const f of readdirSync(dir).filter((f) => f.endsWith('.mjs') && f !== 'run-all.mjs').sort()) {
  console.log(`\n== ${f}`);
  spawnSync(process.execPath, [join(dir, f)], { stdio: 'inherit' });
}
