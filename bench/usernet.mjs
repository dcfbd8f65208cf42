#!/usr/bin/env node
// user_net's built-in NSTUN backend (not a test): 100 MiB jail → host and host → jail over TCP,
// N short connections (default 1000; `node bench/usernet.mjs 300`), and UDP round trips, against
// servers on the host's 127.0.0.1 reached through REDIRECT rules (10.9.9.1-4). Printed beside the
// same client on the host without a jail (the floor) and, when NSJAIL names an nsjail binary,
// beside nsjail's NSTUN with the same config.
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJson as run } from './json-child.mjs';

const N = Number(process.argv[2] ?? 1000);
const MIB = 100;
const UDP_N = 5000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const CLIENT = `
import json, socket, sys, time
hosts, ports, n, mib, udp_n = sys.argv[1].split(','), [int(p) for p in sys.argv[2].split(',')], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
buf = b"x" * 65536
s = socket.create_connection((hosts[0], ports[0]))
t = time.monotonic(); sent = 0
while sent < mib << 20:
    s.sendall(buf); sent += len(buf)
assert s.recv(4) == b"done"
up = time.monotonic() - t; s.close()
s = socket.create_connection((hosts[1], ports[1]))
t = time.monotonic(); got = 0
while True:
    d = s.recv(1 << 16)
    if not d: break
    got += len(d)
assert got == mib << 20, got
down = time.monotonic() - t
t = time.monotonic()
for _ in range(n):
    c = socket.create_connection((hosts[2], ports[2])); c.recv(4); c.close()
conns = time.monotonic() - t
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2); u.connect((hosts[3], ports[3]))
t = time.monotonic()
for i in range(udp_n):
    u.send(b"%d" % i); assert u.recv(64) == b"%d" % i
udp = time.monotonic() - t
print(json.dumps({"up": mib / up, "down": mib / down, "conn_s": n / conns, "udp_s": udp_n / udp}))
`;

const listen = (onConn) => new Promise((resolve) => { const s = createServer(onConn).listen({ host: '127.0.0.1', port: 0 }, () => resolve(s)); });
const sink = await listen((c) => {
  let n = 0;
  c.on('data', (d) => {
    n += d.length;
    if (n >= MIB << 20) c.end('done');
  });
});
const chunk = Buffer.alloc(1 << 16, 'y');
const source = await listen((c) => {
  let left = MIB << 20;
  const pump = () => {
    while (left > 0) {
      left -= chunk.length;
      if (!c.write(chunk)) return void c.once('drain', pump);
    }
    c.end();
  };
  pump();
});
const acceptor = await listen((c) => c.end('ok'));
const udp = createSocket('udp4');
udp.on('message', (m, r) => udp.send(m, r.port, r.address));
await new Promise((r) => udp.bind(0, '127.0.0.1', r));
const ports = [sink, source, acceptor].map((s) => s.address().port).concat(udp.address().port);
const args = (hosts) => [hosts.join(','), ports.join(','), String(N), String(MIB), String(UDP_N)];


const dir = mkdtempSync(join(tmpdir(), 'tsjail-bench-'));
const cfg = join(dir, 'usernet.cfg');
const rules = ports.map((p, i) => `  rule4 { dst_ip: "10.9.9.${i + 1}" action: REDIRECT redirect_ip: "127.0.0.1" redirect_port: ${p} }`).join('\n');
writeFileSync(cfg, `mode: ONCE\nmount { src: "/" dst: "/" is_bind: true }\nrlimit_nofile: 4096\nuser_net {\n${rules}\n}\n`);
const jailHosts = ['10.9.9.1', '10.9.9.2', '10.9.9.3', '10.9.9.4'];
const f = (x) => x.toFixed(0).padStart(7);
const line = (name, r) => console.log(`  ${name.padEnd(26)}${f(r.up)} MiB/s up ${f(r.down)} MiB/s down ${f(r.conn_s)} conn/s ${f(r.udp_s)} UDP rtt/s`);
try {
  console.log(`usernet: TCP ${MIB} MiB jail→host and host→jail, ${N} short connections, ${UDP_N} UDP round trips, to servers on the host's 127.0.0.1`);
  line('no jail (127.0.0.1)', await run('python3', ['-c', CLIENT, ...args(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'])]));
  line('tsjail user_net (NSTUN)', await run(process.execPath, [join(root, 'dist/bin/tsjail.js'), '-Q', '--config', cfg, '--', '/usr/bin/python3', '-c', CLIENT, ...args(jailHosts)]));
  if (process.env.NSJAIL) line('nsjail user_net (NSTUN)', await run(process.env.NSJAIL, ['-Q', '--config', cfg, '--', '/usr/bin/python3', '-c', CLIENT, ...args(jailHosts)]));
  else console.log('  (set NSJAIL=/path/to/nsjail to compare with nsjail)');
} finally {
  sink.close();
  source.close();
  acceptor.close();
  udp.close();
  rmSync(dir, { recursive: true, force: true });
}
