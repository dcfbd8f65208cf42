#!/usr/bin/env node
// Re-run mode's per-jail cost (not a test): tsjail -Mr --chroot / -- /bin/true
// for a few seconds, counting the runs from the log; prints runs per second.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const seconds = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'tsjail-rerun-'));
const log = join(dir, 'log');
const t = spawn(process.execPath, [join(root, 'dist/bin/tsjail.js'), '-Mr', '--chroot', '/', '--log', log, ...process.argv.slice(3), '--', '/bin/true'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
const count = () => (readFileSync(log, 'utf8').match(/exited with status: 0/g) ?? []).length;
const c0 = count();
const t0 = Date.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const runs = count() - c0;
const ms = Date.now() - t0;
t.kill('SIGTERM');
await new Promise((r) => t.on('exit', r));
rmSync(dir, { recursive: true, force: true });
console.log(`rerun: ${runs} runs of /bin/true in ${(ms / 1000).toFixed(1)} s: ${(runs / (ms / 1000)).toFixed(0)} runs/s (${(ms / runs).toFixed(2)} ms per jail)`);
