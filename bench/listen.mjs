#!/usr/bin/env node
// Listen-mode throughput (not a test): tsjail -Ml --chroot / -q -- /bin/echo hi on 127.0.0.1,
// N sequential connections (default 500; `node bench/listen.mjs 1500`), connections per second
// and incomplete replies. nsjail does about 280/s on a 2-core machine, with 2 incomplete in 1500.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 500);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const extra = process.argv.slice(3);

const port = await new Promise((resolve) => {
  const s = createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const tsjail = spawn(process.execPath, [join(root, 'dist/bin/tsjail.js'), '-Ml', '--bindhost', '127.0.0.1', '--port', String(port), '--chroot', '/', '-q', ...extra, '--', '/bin/echo', 'hi'], { stdio: ['ignore', 'inherit', 'inherit'] });
const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
const listening = () => readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1]?.endsWith(hex) && l.includes(' 0A '));
for (const t0 = Date.now(); !listening(); await new Promise((r) => setTimeout(r, 20))) {
  if (Date.now() - t0 > 10_000) throw new Error('tsjail did not start listening');
}

function once() {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
    let data = '';
    const t = setTimeout(() => (c.destroy(), resolve(false)), 5000);
    c.on('data', (d) => (data += d));
    c.on('end', () => (clearTimeout(t), c.destroy(), resolve(data === 'hi\n')));
    c.on('error', () => (clearTimeout(t), resolve(false)));
  });
}

await once(); // warm-up
let incomplete = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) if (!(await once())) incomplete++;
const s = Number(process.hrtime.bigint() - t0) / 1e9;
tsjail.kill('SIGTERM');
await new Promise((r) => tsjail.on('exit', r));
console.log(`listen: ${N} sequential connections in ${s.toFixed(2)} s: ${(N / s).toFixed(0)} connections/s, ${incomplete} incomplete replies`);
