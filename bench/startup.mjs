#!/usr/bin/env node
// One-shot start-up: median wall time of `tsjail -Mo --chroot / -Q -- /bin/true`
// against bare Node (the floor) and, when installed, nsjail and bwrap running
// the same program. Prints figures; it is not a test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.RUNS ?? 30);
const tsjail = join(root, 'dist/bin/tsjail.js');

function median(cmd, args) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) return `failed (exit ${r.status})`;
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return `${times[Math.floor(times.length / 2)].toFixed(1)} ms`;
}

function maxRss(cmd, args) {
  if (!existsSync('/usr/bin/time')) return 'n/a (no /usr/bin/time)';
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8' });
  return `${(Number(r.stderr.trim().split('\n').pop()) / 1024).toFixed(1)} MiB`;
}

const rows = [
  ['node -e 0 (floor)', process.execPath, ['-e', '0']],
  ['tsjail -Mo --chroot / -Q -- /bin/true', process.execPath, [tsjail, '-Mo', '--chroot', '/', '-Q', '--', '/bin/true']],
  ['tsjail (default logging)', process.execPath, [tsjail, '-Mo', '--chroot', '/', '--log', '/dev/null', '--', '/bin/true']],
];
for (const [name, bin] of [['nsjail', '/usr/bin/nsjail'], ['nsjail', '/usr/local/bin/nsjail']]) {
  if (existsSync(bin)) rows.push([name, bin, ['-Mo', '--chroot', '/', '-Q', '--', '/bin/true']]);
}
if (existsSync('/usr/bin/bwrap')) rows.push(['bwrap', '/usr/bin/bwrap', ['--bind', '/', '/', '--unshare-all', '/bin/true']]);

console.log(`start-up, median of ${runs} runs`);
for (const [name, cmd, args] of rows) console.log(`  ${name.padEnd(42)} ${median(cmd, args).padStart(12)}   max RSS ${maxRss(cmd, args)}`);
