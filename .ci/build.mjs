#!/usr/bin/env node
// npm install / npm run build: the config schema's TypeScript (from proto/config.proto),
// TypeScript, and the native plan runner.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cjsBundle } from './bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

// src/config/schema.gen.ts: types and schema from the .proto; tsc compiles it with the rest.
run(process.execPath, [join(root, '.ci/gen-schema.mjs')]);
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
// The CLI itself is bundled into one CommonJS file: Node loads it faster than
// ESM, and than ~50 small modules (about 20 ms of every start-up). Modules
// imported lazily stay lazy: esbuild runs their top level on first import.
// The plain tsc output stays for tests and tools that import single modules.
const binDir = join(root, 'dist/bin');
const bundleDir = join(root, 'dist/bin.bundle');
try {
  const { buildSync } = await import('esbuild');
  rmSync(bundleDir, { recursive: true, force: true });
  // Paths are found from the module's own location (native/build, the schema): import.meta.url stays meaningful.
  buildSync(cjsBundle(join(root, 'src/bin/tsjail.ts'), join(bundleDir, 'tsjail.js'), { external: ['koffi', 'protobufjs', 'pino', 'commander'] }));
  writeFileSync(join(bundleDir, 'package.json'), '{ "type": "commonjs" }\n');
  // Pure ASCII (esbuild leaves a few other characters in comments and template text): V8 then
  // holds the source as a one-byte string, with no UTF-8 decoding of the whole file (~6 ms).
  const bundled = join(bundleDir, 'tsjail.js');
  writeFileSync(bundled, readFileSync(bundled, 'utf8').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  rmSync(binDir, { recursive: true, force: true });
  renameSync(bundleDir, binDir);
  // The seccomp notification worker starts with the first jail of a run that has a filter: one
  // file loads in a fraction of the time its dozen modules take.
  buildSync(cjsBundle(join(root, 'src/notify/worker.ts'), join(root, 'dist/notify/worker.cjs'), { external: ['koffi'] }));
} catch (e) {
  console.warn(`tsjail: not bundling the CLI (${e.message.split('\n')[0]}); the unbundled build works, only start-up is slower`);
}
chmodSync(join(root, 'dist/bin/tsjail.js'), 0o755);

// The wire format's C header comes from the compiled src/plan/wire.ts.
run(process.execPath, [join(root, '.ci/gen-wire.mjs')]);
try {
  run('make', ['-s', '-C', 'native']);
} catch {
  console.error('tsjail: building native/ failed: a C compiler and make are needed (Debian: apt-get install gcc make)');
  process.exit(1);
}
