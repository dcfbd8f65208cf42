#!/usr/bin/env node
// Writes native/build/wire.h from src/linux/wire.ts (as compiled to dist/): the one
// definition of the plan, report and -Me header layouts. Rewritten only when it changes.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { renderWireHeader } = await import(join(root, 'dist/linux/wire.js'));
const out = join(root, 'native/build/wire.h');
const text = renderWireHeader();
if (!existsSync(out) || readFileSync(out, 'utf8') !== text) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
}
