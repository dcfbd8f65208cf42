// The esbuild options every CommonJS bundle of tsjail shares (.ci/build.mjs for npm, .ci/sea.mjs
// for the single binary); each caller adds its outfile, externals and plugins.

/** import.meta.url of a CommonJS bundle, computed on first use (loading node:url and building it costs ~0.7 ms at every start). */
const LAZY_URL = "const __tsjail = { get url() { const v = require('url').pathToFileURL(__filename).href; Object.defineProperty(this, 'url', { value: v }); return v; } };";

export function cjsBundle(entry, outfile, extra = {}) {
  return {
    // No entry: the caller gives esbuild's stdin instead.
    ...(entry ? { entryPoints: [entry] } : {}),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile,
    define: { 'import.meta.url': '__tsjail.url' },
    banner: { js: LAZY_URL },
    logLevel: 'warning',
    ...extra,
  };
}
