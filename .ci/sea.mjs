#!/usr/bin/env node
// make: dist/tsjail, one executable holding everything tsjail runs with. It is
// Node's own binary with a single-executable-application blob injected
// (postject): the CLI bundled with all its dependencies into one script, V8's
// code cache for it, and as assets koffi's native module, libtsjail.so,
// tsjail-exec and tsjail-init (copied into anonymous memory files at run time:
// src/linux/libc.ts). Needs `npm run build` first. A start-up snapshot
// (useSnapshot) was measured too: a user snapshot costs Node ~20 % more CPU to
// start than its built-in one, more than it saves, and keeps ~7 MiB more heap.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const resolve = (what) => {
  try {
    return require.resolve(what);
  } catch {
    console.error(`tsjail: ${what.split('/')[0]} is missing from node_modules: run 'npm install' (it is a devDependency)`);
    process.exit(1);
  }
};
const work = join(root, 'dist/sea');
const out = join(root, 'dist/tsjail');
/** The sentinel Node looks for to know a blob was injected (Node's documented value). */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const postject = join(dirname(resolve('postject/package.json')), 'dist/cli.js');
const koffiNode = join(dirname(resolve('koffi/package.json')), 'build/koffi/linux_x64/koffi.node');
const assets = {
  'koffi.node': koffiNode,
  'libtsjail.so': join(root, 'native/build/libtsjail.so'),
  'tsjail-exec': join(root, 'native/build/tsjail-exec'),
  'tsjail-init': join(root, 'native/build/tsjail-init'),
  'tsjail-nsfd': join(root, 'native/build/tsjail-nsfd'),
};
for (const f of Object.values(assets)) {
  if (!existsSync(f)) {
    console.error(`tsjail: ${f} is missing: run 'npm run build' first`);
    process.exit(1);
  }
}

const t0 = Date.now();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// Every dependency goes into the bundle. The code loads them on first use with
// createRequire(import.meta.url); here those become plain require() calls that
// esbuild inlines (they still run on first use). embedded.ts is replaced by
// its single-binary version, and the full protobufjs (only for a stale schema
// file) and koffi's loader (the binary loads koffi.node itself) stay out.
const singleBinary = {
  name: 'single-binary',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/(?:\.\.\/)*embedded\.js$/ }, (a) => (a.importer.endsWith('sea-embedded.ts') ? undefined : { path: join(root, 'src/bin/sea-embedded.ts') }));
    b.onResolve({ filter: /^(?:protobufjs|koffi(?:\/package\.json)?)$/ }, (a) => ({ path: a.path, external: true }));
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, (a) => ({
      contents: readFileSync(a.path, 'utf8').replace(/^\s*const require = createRequire\(import\.meta\.url\);$/gm, ''),
      loader: 'ts',
    }));
  },
};
const { build } = await import('esbuild');
await build({
  entryPoints: [join(root, 'src/bin/tsjail.ts')],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: join(work, 'tsjail.js'),
  define: { 'import.meta.url': '__tsjail_url', __TSJAIL_VERSION__: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) },
  banner: { js: "const __tsjail_url = require('url').pathToFileURL(__filename).href;" },
  plugins: [singleBinary],
  logLevel: 'warning',
});

writeFileSync(
  join(work, 'sea-config.json'),
  JSON.stringify({ main: join(work, 'tsjail.js'), output: join(work, 'blob'), disableExperimentalSEAWarning: true, useCodeCache: true, assets }),
);
try {
  execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'pipe' });
} catch (e) {
  process.stderr.write(`${e.stdout ?? ''}${e.stderr ?? ''}`);
  console.error('tsjail: node --experimental-sea-config failed');
  process.exit(1);
}

const tmp = `${out}.tmp`;
copyFileSync(process.execPath, tmp);
chmodSync(tmp, 0o755);
// postject's ELF library prints a warning per section it cannot name: its output is shown only if it fails.
try {
  execFileSync(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', join(work, 'blob'), '--sentinel-fuse', FUSE], { stdio: 'pipe' });
} catch (e) {
  process.stderr.write(`${e.stdout ?? ''}${e.stderr ?? ''}`);
  console.error('tsjail: postject failed to inject the blob');
  process.exit(1);
}
renameSync(tmp, out);
console.log(`tsjail: built ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
