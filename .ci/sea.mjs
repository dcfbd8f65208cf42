#!/usr/bin/env node
// make: dist/tsjail, one executable holding everything tsjail runs with. It is
// Node's own binary with a single-executable-application blob injected
// (postject): the CLI bundled with its dependencies into one script (but the
// libraries a plain run never loads, each a bundle of its own: LIBS), V8's code
// cache for it and koffi's native module (appended after the blob: see
// LOADER), and as assets libtsjail.so, tsjail-exec, tsjail-init and
// tsjail-nsfd. The native parts are copied into anonymous memory files at run
// time (src/linux/libc.ts). Needs `npm run build` first. A start-up snapshot
// (useSnapshot) was measured too: a user snapshot costs Node ~20 % more CPU to
// start than its built-in one, more than it saves, and keeps ~7 MiB more heap.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cjsBundle } from './bundle.mjs';

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

/** Non-ASCII characters as \uXXXX escapes (they are only in comments, strings and template text). */
const asciiOnly = (js) => js.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const t0 = Date.now();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// koffi's module ships with its symbol table (a quarter of the file): every start copies the
// module into memory and maps it, so the binary carries it stripped where binutils is at hand.
{
  const stripped = join(work, 'koffi.node');
  copyFileSync(koffiNode, stripped);
  if (spawnSync('strip', ['--strip-unneeded', stripped], { stdio: 'ignore' }).status === 0) assets['koffi.node'] = stripped;
}

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
// Third-party packages a plain run never loads: commander words the command line's errors,
// protobufjs reads --config, pino writes --log_format json and prom-client serves --metrics.
// Each is a bundle of its own, appended like the main one and compiled by the loader on its first
// require() (the requests each answers are listed here); out of the main bundle they are ~0.4 MB of
// source that every start would otherwise read and hold as a string.
const LIBS = {
  'lib/commander.js': ['commander'],
  'lib/protobufjs.js': ['protobufjs/light.js', 'protobufjs/ext/textformat.js', 'protobufjs/ext/protojson.js'],
  'lib/pino.js': ['pino/browser'],
  'lib/prom-client.js': ['prom-client'],
};
const libRequests = new Map(Object.entries(LIBS).flatMap(([part, ids]) => ids.map((id) => [id, part])));
const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const libsApart = {
  name: 'libraries-apart',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(?:${[...libRequests.keys()].map(escapeRe).join('|')})$`) }, (a) => ({ path: a.path, external: true }));
  },
};

const { build } = await import('esbuild');
await build(
  cjsBundle(join(root, 'src/bin/tsjail.ts'), join(work, 'tsjail.js'), {
    define: { 'import.meta.url': '__tsjail.url', __TSJAIL_VERSION__: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) },
    plugins: [libsApart, singleBinary],
    // Whitespace only (names stay, for log lines and stacks): 1.37 -> 0.98 MB of source that every
    // start holds as a string, ~0.9 MiB less peak memory.
    minifyWhitespace: true,
  }),
);

mkdirSync(join(work, 'lib'));
for (const [part, ids] of Object.entries(LIBS)) {
  const contents = `module.exports = {${ids.map((id) => `${JSON.stringify(id)}: require(${JSON.stringify(id)})`).join(', ')}};`;
  await build(cjsBundle(undefined, join(work, part), { minifyWhitespace: true, stdin: { contents, resolveDir: root, loader: 'js' } }));
  writeFileSync(join(work, part), asciiOnly(`(function (exports, require, module, __filename, __dirname) {${readFileSync(join(work, part), 'utf8')}\n})`));
}

// The seccomp notification worker runs from its own bundle, an asset evaluated by new Worker().
// It is evaluated from a string: no file of its own to name, so a fixed URL stands in.
await build(
  cjsBundle(join(root, 'src/notify/worker.ts'), join(work, 'notify-worker.js'), {
    define: { 'import.meta.url': '__tsjail_url' },
    banner: { js: "const __tsjail_url = 'file:///tsjail-notify-worker.js';" },
    plugins: [singleBinary],
  }),
);
assets['notify-worker.js'] = join(work, 'notify-worker.js');

// The SEA's main script is a small loader (it gets Node's build-time code cache) that compiles
// the bundle with a code cache of its own. Node's useCodeCache is made right after compiling, so
// it holds only the top level: the functions a run calls (nearly all of the bundle is lazy module
// bodies) were compiled again at every start. This cache is made after a real run instead (a
// first binary runs a one-shot jail with a seccomp policy and writes what V8 compiled), so it
// holds them too. V8 checks it against the source and its own version and flags, and compiles
// afresh when it does not match.
//
// The bundle, its cache and koffi's module (3 MB together) are appended to the executable after
// the SEA blob (see appendParts) and read with read(2): read through the blob's mapping, their
// pages would stay in every run's resident memory. The loader hands the bundle a reader of those
// parts under Symbol.for('tsjail.parts') (src/bin/sea-embedded.ts copies koffi's module with it).
// /proc/self/exe is the file that is running, which nobody can write meanwhile (ETXTBSY).
const PARTS_MAGIC = 'TSJPART1';
const LOADER = `'use strict';
const fs = require('node:fs');
const { Script } = require('node:vm');
let exe;
function readAt(pos, len, into) {
  const b = into && into.length >= len ? into.subarray(0, len) : Buffer.allocUnsafeSlow(len);
  for (let done = 0; done < len; ) {
    const n = fs.readSync(exe, b, done, len - done, pos + done);
    if (n <= 0) throw new Error('read(/proc/self/exe, offset ' + (pos + done) + '): end of file');
    done += n;
  }
  return b;
}
let index, source, cachedData;
try {
  exe = fs.openSync('/proc/self/exe', 'r');
  const size = fs.fstatSync(exe).size;
  const tail = size >= 12 ? readAt(size - 12, 12) : Buffer.alloc(12);
  if (tail.toString('latin1', 4) !== '${PARTS_MAGIC}') throw new Error('it does not end with the parts .ci/sea.mjs appends (the binary was altered, or is not a tsjail build)');
  index = JSON.parse(readAt(size - 12 - tail.readUInt32LE(0), tail.readUInt32LE(0)).toString('latin1'));
  // The cache is read into the source's buffer once the source is a string of its own: one
  // buffer's pages faulted in, not two (a fresh page costs more than the copy).
  const [at, len] = index['tsjail.js'];
  const cache = index['tsjail.cache'];
  const buf = Buffer.allocUnsafeSlow(Math.max(len, cache ? cache[1] : 0));
  source = readAt(at, len, buf).toString('latin1');
  if (cache) cachedData = readAt(cache[0], cache[1], buf);
} catch (e) {
  process.stderr.write('tsjail: reading the parts appended to /proc/self/exe: ' + e.message + '\\n');
  process.exit(255);
}
globalThis[Symbol.for('tsjail.parts')] = {
  has: (name) => index[name] !== undefined,
  /** Copies a part into fd through a small buffer. */
  copy(name, fd) {
    const [pos, len] = index[name];
    const buf = Buffer.allocUnsafe(65536);
    for (let done = 0; done < len; done += 65536) {
      const chunk = readAt(pos + done, Math.min(buf.length, len - done), buf);
      for (let w = 0; w < chunk.length; ) w += fs.writeSync(fd, chunk, w, chunk.length - w);
    }
  },
};
// The libraries kept apart from the bundle (LIBS in .ci/sea.mjs): compiled on their first require().
const libs = new Map();
function requireLib(id) {
  const part = index['tsjail.requires'][id];
  if (part === undefined) return require(id);
  let exports = libs.get(part);
  if (exports === undefined) {
    const m = { exports: {} };
    new Script(readAt(index[part][0], index[part][1]).toString('latin1'), { filename: part }).runInThisContext()(m.exports, require, m, part, __dirname);
    libs.set(part, (exports = m.exports));
  }
  return exports[id];
}
Object.assign(requireLib, require);
const script = new Script(source, { filename: 'tsjail.js', cachedData });
// Only the build's training binary (it carries the tsjail.train part) writes one, when asked.
const train = index['tsjail.train'] ? process.env.TSJAIL_SEA_TRAIN : undefined;
if (train) process.once('exit', () => fs.writeFileSync(train + '.' + process.pid, script.createCachedData()));
script.runInThisContext()(module.exports, requireLib, module, __filename, __dirname);
`;
writeFileSync(join(work, 'loader.js'), LOADER);
// Compiled inside a function by the loader: the #! line would be a syntax error there. Pure
// ASCII (the few other characters left in comments and template text escaped), the source is a
// one-byte string for V8: no UTF-8 decoding of the whole file and half the scanning (~6 ms).
// Wrapped here rather than by the loader: a string joined at run time is one more copy of the whole source.
const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(join(work, 'tsjail.js'), 'utf8').replace(/^#!/, '//')}\n})`;
const source = asciiOnly(wrapped);
writeFileSync(join(work, 'tsjail.js'), source);
// Where each line starts: a log line names its caller's line, and V8 would scan the whole (1 MB)
// source for line ends at the first one (~3 ms); the logger looks the position up here instead.
const starts = [0];
for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
writeFileSync(join(work, 'tsjail.lines'), new Uint8Array(Int32Array.from(starts).buffer));
assets['tsjail.lines'] = join(work, 'tsjail.lines');

/** The parts the loader reads from the file's end (see LOADER), then their index and the magic. */
function appendParts(binary, parts) {
  let at = statSync(binary).size;
  const index = { 'tsjail.requires': Object.fromEntries(libRequests) };
  const bodies = [];
  for (const [name, file] of Object.entries(parts)) {
    const body = readFileSync(file);
    index[name] = [at, body.length];
    at += body.length;
    bodies.push(body);
  }
  const json = Buffer.from(JSON.stringify(index), 'latin1');
  const tail = Buffer.alloc(12);
  tail.writeUInt32LE(json.length, 0);
  tail.write(PARTS_MAGIC, 4, 'latin1');
  appendFileSync(binary, Buffer.concat([...bodies, json, tail]));
}

function inject(withCache, training = false) {
  const { 'koffi.node': koffiModule, ...blobAssets } = assets;
  const parts = { 'tsjail.js': join(work, 'tsjail.js'), 'koffi.node': koffiModule, ...Object.fromEntries(Object.keys(LIBS).map((part) => [part, join(work, part)])) };
  if (withCache) parts['tsjail.cache'] = join(work, 'tsjail.cache');
  if (training) {
    writeFileSync(join(work, 'tsjail.train'), 'train\n');
    parts['tsjail.train'] = join(work, 'tsjail.train');
  }
  writeFileSync(
    join(work, 'sea-config.json'),
    JSON.stringify({ main: join(work, 'loader.js'), output: join(work, 'blob'), disableExperimentalSEAWarning: true, useCodeCache: true, assets: blobAssets }),
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
  appendParts(tmp, parts);
  return tmp;
}

// The training run needs root or user namespaces; without them the cache holds what ran until
// the jail failed (the command line, the checks), and V8 compiles the rest as before.
const trainer = inject(false, true);
const prefix = join(work, 'train');
const training = [
  ['-Mo', '--chroot', '/', '-q', '--seccomp_string', 'KILL { ptrace } DEFAULT ALLOW', '--', '/bin/true'],
];
let best;
for (const args of training) spawnSync(trainer, args, { env: { ...process.env, TSJAIL_SEA_TRAIN: prefix }, stdio: 'ignore', timeout: 60_000 });
for (const f of readdirSync(work).filter((f) => f.startsWith('train.'))) {
  const size = statSync(join(work, f)).size;
  if (!best || size > best.size) best = { f, size };
}
rmSync(trainer, { force: true });
if (best) {
  renameSync(join(work, best.f), join(work, 'tsjail.cache'));
  renameSync(inject(true), out);
} else {
  console.warn('tsjail: the training run wrote no code cache: the binary compiles its code at each start');
  renameSync(inject(false), out);
}
console.log(`tsjail: built ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
