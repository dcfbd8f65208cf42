#!/usr/bin/env node
// The cost of a jail that may not share tsjail's memory (issue 11: a jail in a memory
// cgroup with a limit is cloned without CLONE_VM, so its OOM kill cannot take tsjail
// with it). Times the native clone of a one-op plan (execve /bin/true, no namespaces)
// both ways, with Node as it starts and with more of its memory in use, since the
// copying clone duplicates the page tables of everything mapped. Prints figures;
// it is not a test. `node bench/clone.mjs [runs]` (default 300 per row).
import { closeSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const imp = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
const { encodePlan } = await imp('plan/encode.js');
const { op, str, strv } = await imp('plan/ops.js');
const { pipeCloexec, reapKilled, releasePlan, spawnPlan } = await imp('linux/libc.js');

const runs = Number(process.argv[2] ?? 300);
const plan = encodePlan([op('execve', 'exec', [str('/bin/true'), strv(['/bin/true']), strv([])])]);
const byte = Buffer.alloc(1);

/** One launch: µs spent in the parent's clone call, and until the child exec'd (EOF on its error pipe). */
function launch(shareMemory) {
  const [errR, errW] = pipeCloexec();
  const t0 = process.hrtime.bigint();
  const { pid, region } = spawnPlan(plan, 0n, errW, shareMemory);
  const t1 = process.hrtime.bigint();
  closeSync(errW);
  while (readSync(errR, byte) > 0);
  const t2 = process.hrtime.bigint();
  closeSync(errR);
  if (region !== undefined) releasePlan(region);
  reapKilled(pid);
  return [Number(t1 - t0) / 1e3, Number(t2 - t0) / 1e3];
}

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function row(label) {
  const rss = (process.memoryUsage().rss / 2 ** 20).toFixed(0);
  for (const [name, share] of [
    ['CLONE_VM (shared memory)', true],
    ['copying clone (own memory)', false],
  ]) {
    for (let i = 0; i < 20; i++) launch(share); // warm-up
    const clone = [];
    const exec = [];
    for (let i = 0; i < runs; i++) {
      const [c, e] = launch(share);
      clone.push(c);
      exec.push(e);
    }
    console.log(`  ${label.padEnd(22)} RSS ${rss.padStart(4)} MiB  ${name.padEnd(28)} clone ${median(clone).toFixed(0).padStart(5)} µs   to execve ${median(exec).toFixed(0).padStart(5)} µs`);
  }
}

console.log(`native clone of a one-op plan, median of ${runs}`);
row('Node as started');
const hold = [];
for (const mib of [256, 768]) {
  while (hold.length < mib) hold.push(Buffer.alloc(2 ** 20, 1)); // touched: mapped pages with page tables
  row(`+${mib} MiB in use`);
}
