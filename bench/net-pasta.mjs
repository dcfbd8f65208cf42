#!/usr/bin/env node
// user_net through pasta (not a test): a jail sends 100 MiB over TCP to a server on the host's
// 127.0.0.1, reached through the gateway address that pasta maps to the host (map_gw), then opens
// N sequential connections (default 300; `node bench/net-pasta.mjs 1000`). The same client run on
// the host without a jail, straight to 127.0.0.1, is the floor printed beside it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJson as run } from './json-child.mjs';

const N = Number(process.argv[2] ?? 300);
const MIB = 100;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const CLIENT = `
import json, socket, sys, time
host, port, cport, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
buf = b"x" * 65536
s = socket.create_connection((host, port))
t = time.monotonic(); sent = 0
while sent < mib << 20:
    s.sendall(buf); sent += len(buf)
got = b""
while len(got) < 4:
    d = s.recv(16)
    assert d, "the server closed before it had everything"
    got += d
assert got == b"done"
xfer = time.monotonic() - t
t = time.monotonic()
for _ in range(n):
    c = socket.create_connection((host, cport)); c.recv(4); c.close()
conns = time.monotonic() - t
print(json.dumps({"mib_s": mib / xfer, "conn_s": n / conns}))
`;

const listen = (onConn) =>
  new Promise((resolve) => {
    const s = createServer(onConn).listen({ host: '127.0.0.1', port: 0 }, () => resolve(s));
  });
// Sink: counts what arrives, answers 'done' once the client has sent everything (no half-close needed).
const sink = await listen((c) => {
  let n = 0;
  c.on('data', (d) => {
    n += d.length;
    if (n >= MIB << 20) c.end('done');
  });
});
const acceptor = await listen((c) => c.end('ok'));
const args = (host) => [host, String(sink.address().port), String(acceptor.address().port), String(N), String(MIB)];


const dir = mkdtempSync(join(tmpdir(), 'tsjail-bench-'));
const cfg = join(dir, 'pasta.cfg');
writeFileSync(cfg, 'user_net { backend: PASTA pasta { } }\n');
try {
  const floor = await run('python3', ['-c', CLIENT, ...args('127.0.0.1')]);
  const jailed = await run(process.execPath, [join(root, 'dist/bin/tsjail.js'), '-Mo', '--chroot', '/', '-Q', '--config', cfg, '--', '/usr/bin/python3', '-c', CLIENT, ...args('10.255.255.1')]);
  const f = (x) => x.toFixed(0).padStart(6);
  console.log(`net-pasta: TCP ${MIB} MiB, then ${N} sequential connections, to a server on the host's 127.0.0.1`);
  console.log(`  no jail (127.0.0.1):          ${f(floor.mib_s)} MiB/s  ${f(floor.conn_s)} connections/s`);
  console.log(`  jail, pasta (10.255.255.1):   ${f(jailed.mib_s)} MiB/s  ${f(jailed.conn_s)} connections/s`);
} finally {
  sink.close();
  acceptor.close();
  rmSync(dir, { recursive: true, force: true });
}
