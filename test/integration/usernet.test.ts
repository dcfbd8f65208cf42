/**
 * user_net's built-in NSTUN backend through the real CLI (issue 15): the
 * interface nsjail gives, TCP (large transfers, half-close, many flows,
 * resets), UDP, ICMP echo of the gateway, every rule action, proxies,
 * HOST_TO_GUEST, nsjail's configs with local servers, and bad input. Servers
 * run in this process on loopback; the jail reaches them through REDIRECT
 * rules or proxies, as nsjail's own offline checks did.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';
import { ROOT, runTsjail, SHARED, TSJAIL, type RunResult } from './helpers/run-tsjail.js';
import { connectProxy, echoServer, resetServer, socks5Server, type Echo } from './helpers/usernet-servers.js';

const skip = missingRoot() ?? missingUserns() ?? missingBinary('/usr/bin/python3') ?? missingBinary('/dev/net/tun');
const NSJ = join(SHARED, 'compat/nsjail-configs');
const tmp = mkdtempSync('/tmp/tsjail-usernet-');
const BASE = 'mount { src: "/" dst: "/" is_bind: true }\nmount { dst: "/proc" fstype: "proc" }\n';

let echo4: Echo;
let echo6: Echo;
let reset: Awaited<ReturnType<typeof resetServer>>;
let n = 0;

beforeAll(async () => {
  if (skip) return;
  echo4 = await echoServer('127.0.0.1');
  echo6 = await echoServer('::1');
  reset = await resetServer('127.0.0.1');
});
afterAll(() => {
  echo4?.close();
  echo6?.close();
  reset?.server.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Run python `script` in a jail with `userNet` (the body of user_net { }). */
async function jail(userNet: string, script: string, args: string[] = []): Promise<RunResult> {
  const id = n++;
  const cfg = join(tmp, `j${id}.cfg`);
  const py = join(tmp, `j${id}.py`);
  writeFileSync(cfg, `${BASE}user_net {\n${userNet}\n}\n`);
  writeFileSync(py, `import socket, sys, hashlib, threading, os, struct, time\n${script}`);
  return runTsjail(['--config', cfg, '-q', ...args, '--', '/usr/bin/python3', py], { timeoutMs: 60_000 });
}

const redirect4 = (port: number) => `rule4 { dst_ip: "10.9.9.0/24" action: REDIRECT redirect_ip: "127.0.0.1" redirect_port: ${port} }`;
const redirect6 = (port: number) => `rule6 { dst_ip: "fd99::/64" action: REDIRECT redirect_ip: "::1" redirect_port: ${port} }`;

/** Python: ICMP echo over a raw socket (needs CAP_NET_RAW in the jail); prints 'reply from <addr>' or 'timeout'. */
const PING = `
def ping(dst, v6=False):
    fam, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
    s = socket.socket(fam, socket.SOCK_RAW, proto); s.settimeout(3)
    body = struct.pack('!HH', 0x1234, 1) + b'tsjail-ping'
    if v6:
        msg = struct.pack('!BBH', 128, 0, 0) + body
    else:
        h = struct.pack('!BBH', 8, 0, 0) + body
        h2 = h + b'\\0' * (len(h) % 2)
        c = sum(struct.unpack('!%dH' % (len(h2) // 2), h2))
        while c >> 16: c = (c & 0xffff) + (c >> 16)
        msg = struct.pack('!BBH', 8, 0, ~c & 0xffff) + body
    s.sendto(msg, (dst, 0))
    try:
        while True:
            d, a = s.recvfrom(2000)
            icmp = d if v6 else d[(d[0] & 15) * 4:]
            if icmp[0] in (0, 129):
                print('reply from', a[0], icmp[0]); return
            print('icmp', icmp[0], icmp[1], 'from', a[0]); return
    except socket.timeout:
        print('timeout')
`;

describe.skipIf(!!skip)('user_net NSTUN: the interface', () => {
  it("gives the jail eth0 as nsjail does: addresses, peer, MTU and routes", async () => {
    const r = await runTsjail(['--config', join(NSJ, 'tests/nstun.cfg'), '-q', '--', '/bin/sh', '-c', '/usr/sbin/ip addr show eth0; /usr/sbin/ip route; /usr/sbin/ip -6 route']);
    expect(r.stderr).not.toContain('[E]');
    expect(r.stdout).toMatch(/eth0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 64512/);
    expect(r.stdout).toContain('inet 10.255.255.2 peer 10.255.255.1/32 scope global eth0');
    expect(r.stdout).toContain('inet6 fc00::2/128 scope global');
    expect(r.stdout).toContain('default dev eth0 scope link');
    expect(r.stdout).toMatch(/default dev eth0 metric 1/);
    expect(r.exitCode).toBe(0);
  });

  it('answers ICMP echo to the gateway, IPv4 and IPv6', async () => {
    const r = await jail('', `${PING}\nping('10.255.255.1'); ping('fc00::1', True)\n`, ['--cap', 'CAP_NET_RAW']);
    expect(r.stdout).toBe('reply from 10.255.255.1 0\nreply from fc00::1 129\n');
  });

  it('ns_iface, ip4, gw4, ip6 and gw6 are honoured', async () => {
    const r = await jail('ns_iface: "tun7" ip4: "10.1.2.3" gw4: "10.1.2.1" ip6: "fd12::3" gw6: "fd12::1"', `${PING}\nprint(open('/proc/net/dev').read().count('tun7:'))\nping('10.1.2.1'); ping('fd12::1', True)\n`, ['--cap', 'CAP_NET_RAW']);
    expect(r.stdout).toBe('1\nreply from 10.1.2.1 0\nreply from fd12::1 129\n');
  });
});

describe.skipIf(!!skip)('user_net NSTUN: TCP', () => {
  it('carries 100 MiB each way intact (IPv4; 8 MiB over IPv6), with half-close, and 200 concurrent connections', async () => {
    const r = await jail(`${redirect4(echo4.port)}\n${redirect6(echo6.port)}`, `
def xfer(dst, size):
    s = socket.create_connection((dst, 7))
    data = os.urandom(size)
    got = []
    def rd():
        while True:
            d = s.recv(1 << 16)
            if not d: break
            got.append(d)
    t = threading.Thread(target=rd); t.start()
    s.sendall(data); s.shutdown(socket.SHUT_WR); t.join(); s.close()
    return hashlib.sha256(data).hexdigest() == hashlib.sha256(b''.join(got)).hexdigest()
print('big4', xfer('10.9.9.9', 100 << 20))
print('big6', xfer('fd99::9', 8 << 20))
res = []
def one(i):
    res.append(xfer('10.9.9.%d' % (1 + i % 200), 1000 + i))
ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
[t.start() for t in ts]; [t.join() for t in ts]
print('many', len(res), all(res))
`, ['--rlimit_nofile', '1024']);
    expect(r.stdout).toBe('big4 True\nbig6 True\nmany 200 True\n');
    expect(r.exitCode).toBe(0);
  });

  it('carries a reset from the host to the program', async () => {
    const r = await jail(redirect4(reset.port), `
s = socket.create_connection(('10.9.9.9', 7)); s.sendall(b'x')
try:
    print('read', s.recv(10))
except ConnectionResetError as e:
    print('reset')
`);
    expect(r.stdout).toBe('reset\n');
  });

  it('REJECT refuses, DROP times out, ALLOW before them wins (first match), v4 and v6', async () => {
    const rules = `
rule4 { proto: TCP dst_ip: "10.8.8.1" dport: 80 action: ALLOW }
rule4 { proto: TCP dst_ip: "10.8.8.0/24" action: REJECT }
rule4 { proto: TCP dst_ip: "10.7.7.0/24" dport: 1000 dport_end: 2000 action: DROP }
rule4 { proto: TCP dst_ip: "10.7.7.0/24" action: REDIRECT redirect_ip: "127.0.0.1" redirect_port: ${echo4.port} }
rule6 { proto: TCP dst_ip: "fd88::/16" action: REJECT }
${redirect4(echo4.port)}`;
    const r = await jail(rules, `
for dst, port in (('10.8.8.2', 80), ('10.7.7.7', 1500), ('10.7.7.7', 2001), ('fd88::1', 80), ('10.9.9.9', 1)):
    try:
        s = socket.create_connection((dst, port), timeout=1.5); s.sendall(b'ok'); print(dst, port, s.recv(10)); s.close()
    except ConnectionRefusedError: print(dst, port, 'refused')
    except ConnectionResetError: print(dst, port, 'reset')
    except socket.timeout: print(dst, port, 'timeout')
    except OSError as e: print(dst, port, e.errno)
`);
    // 10.7.7.7:2001 is outside the DROP range: the next rule redirects it to the echo server.
    expect(r.stdout.split('\n')).toEqual(['10.8.8.2 80 refused', '10.7.7.7 1500 timeout', "10.7.7.7 2001 b'ok'", 'fd88::1 80 refused', "10.9.9.9 1 b'ok'", '']);
  });
});

describe.skipIf(!!(skip ?? missingBinary('/usr/sbin/nft')))('user_net NSTUN with traffic_rule', () => {
  it("traffic_rule sees the program's own destination, before user_net hands TCP to tsjail", async () => {
    const r = await jail(redirect4(echo4.port), `
for port in (443, 80):
    try:
        s = socket.create_connection(('10.9.9.9', port), timeout=1.5); s.sendall(b'ok'); print(port, s.recv(10))
    except ConnectionRefusedError: print(port, 'refused')
`, ['--traffic_rule', 'proto=tcp,dport=443,action=reject']);
    expect(r.stdout).toBe("443 refused\n80 b'ok'\n");
  });
});

describe.skipIf(!!skip)('user_net NSTUN: UDP and ICMP rules', () => {
  it('UDP reaches a redirect target and the reply comes from the original destination (v4 and v6)', async () => {
    const r = await jail(`${redirect4(echo4.port)}\n${redirect6(echo6.port)}`, `
for fam, dst in ((socket.AF_INET, '10.9.9.9'), (socket.AF_INET6, 'fd99::7')):
    u = socket.socket(fam, socket.SOCK_DGRAM); u.settimeout(3)
    u.sendto(b'u' * 3000, (dst, 53)); d, a = u.recvfrom(5000); print(len(d), a[0], a[1])
`);
    expect(r.stdout).toBe('3000 10.9.9.9 53\n3000 fd99::7 53\n');
  });

  it('UDP REJECT gives ECONNREFUSED, DROP silence; ICMP REJECT gives port-unreachable', async () => {
    const r = await jail('rule4 { proto: UDP dport: 53 action: REJECT }\nrule4 { proto: UDP dport: 54 action: DROP }\nrule4 { proto: ICMP action: REJECT }\nrule6 { proto: UDP action: REJECT }', `${PING}
for fam, dst, port in ((socket.AF_INET, '10.1.1.1', 53), (socket.AF_INET, '10.1.1.1', 54), (socket.AF_INET6, 'fd00::1', 9)):
    u = socket.socket(fam, socket.SOCK_DGRAM); u.settimeout(1); u.connect((dst, port)); u.send(b'x')
    try: u.recv(10); print('answer')
    except ConnectionRefusedError: print('refused')
    except socket.timeout: print('timeout')
ping('10.255.255.1')
`, ['--cap', 'CAP_NET_RAW']);
    expect(r.stdout).toBe('refused\ntimeout\nrefused\nicmp 3 3 from 10.255.255.1\n');
  });
});

describe.skipIf(!!skip)('user_net NSTUN: echo beyond the gateway', () => {
  it("goes through a ping socket on the host, or (where ping_group_range excludes tsjail's group) gets host-unreachable and nsjail's warning", async () => {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ping_group_range', 'utf8').trim().split(/\s+/).map(Number);
    const gid = process.getegid?.() ?? 0;
    const r = await jail('rule4 { proto: ICMP dst_ip: "192.0.2.0/24" action: REDIRECT redirect_ip: "127.0.0.1" }', `${PING}\nping('192.0.2.9')\n`, ['--cap', 'CAP_NET_RAW']);
    if (gid >= lo! && gid <= hi!) {
      expect(r.stdout).toBe('reply from 192.0.2.9 0\n');
    } else {
      expect(r.stdout).toBe('icmp 3 1 from 192.0.2.9\n');
      expect(r.stderr).toContain("socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) failed. You may need: sysctl -w net.ipv4.ping_group_range='0 2147483647': EACCES");
    }
  });
});

describe.skipIf(!!(skip ?? missingBinary('/usr/sbin/ip')))('user_net NSTUN: echo through a ping socket', () => {
  it("in a namespace of the test's own where ping sockets are allowed: the reply comes from the original destination", async () => {
    const ns = `tsjt-ping-${process.pid}`;
    const ipns = (...a: string[]) => spawnSync('/usr/sbin/ip', ['netns', ...a], { stdio: 'pipe' });
    ipns('add', ns);
    try {
      ipns('exec', ns, '/usr/sbin/ip', 'link', 'set', 'lo', 'up');
      ipns('exec', ns, '/bin/sh', '-c', "echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range");
      const cfg = join(tmp, 'ping.cfg');
      const py = join(tmp, 'ping.py');
      writeFileSync(cfg, `${BASE}user_net { rule4 { proto: ICMP dst_ip: "192.0.2.0/24" action: REDIRECT redirect_ip: "127.0.0.1" } }\n`);
      writeFileSync(py, `import socket, struct\n${PING}\nping('192.0.2.9')\n`);
      const r = spawnSync('/usr/sbin/ip', ['netns', 'exec', ns, process.execPath, TSJAIL, '--config', cfg, '-q', '--cap', 'CAP_NET_RAW', '--', '/usr/bin/python3', py], { encoding: 'utf8', timeout: 30_000 });
      expect(r.stdout).toBe('reply from 192.0.2.9 0\n');
    } finally {
      ipns('del', ns);
    }
  });
});

describe.skipIf(!!skip)('user_net NSTUN: proxies', () => {
  it('ENCAP_SOCKS5 carries TCP (CONNECT) and UDP (UDP ASSOCIATE) with nsjail bytes', async () => {
    const socks = await socks5Server({ tcp: echo4.port, udp: echo4.port });
    try {
      const r = await jail(`rule4 { proto: TCP action: ENCAP_SOCKS5 redirect_ip: "127.0.0.1" redirect_port: ${socks.port} }\nrule4 { proto: UDP action: ENCAP_SOCKS5 redirect_ip: "127.0.0.1" redirect_port: ${socks.port} }`, `
s = socket.create_connection(('10.1.1.1', 5353)); s.sendall(b'via socks'); s.shutdown(socket.SHUT_WR); print(s.recv(100))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'dgram', ('10.1.1.1', 5353)); d, a = u.recvfrom(100); print(d, a)
`);
      expect(r.stdout).toBe("b'via socks'\nb'dgram' ('10.1.1.1', 5353)\n");
      expect(socks.log.messages).toContain('050100');
      expect(socks.log.messages).toContain('050100010a01010114e9');
      expect(socks.log.messages).toContain('05030001000000000000');
      expect(socks.log.messages).toContain('000000010a01010114e9');
    } finally {
      socks.close();
    }
  });

  it('ENCAP_SOCKS5 in a rule6 carries UDP over IPv6: ASSOCIATE, then datagrams with the ATYP 04 header, to an IPv6 echo server and back', async () => {
    // The IPv4 target is a port nobody answers on: a reply can only come from the IPv6 echo server on ::1.
    const dead = await resetServer('127.0.0.1');
    dead.server.close();
    const socks = await socks5Server({ tcp: echo4.port, udp: dead.port, udp6: echo6.port });
    try {
      // The proxy itself is reached over IPv4, as with nsjail (a rule6 proxy address must be IPv4).
      const r = await jail(`rule6 { proto: UDP dst_ip: "fd77::/64" action: ENCAP_SOCKS5 redirect_ip: "127.0.0.1" redirect_port: ${socks.port} }`, `
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.settimeout(5)
for i in range(2):
    u.sendto(b'dgram6-%d' % i, ('fd77::5', 5353)); d, a = u.recvfrom(100); print(d, a[0], a[1])
`);
      expect(r.stderr).not.toMatch(/user_net|SOCKS5/);
      expect(r.stdout).toBe("b'dgram6-0' fd77::5 5353\nb'dgram6-1' fd77::5 5353\n");
      expect(r.exitCode).toBe(0);
      // One association (greeting, UDP ASSOCIATE 0.0.0.0:0), then each datagram under 00 00 00 04 <fd77::5> <5353>.
      const header6 = `00000004fd77${'0'.repeat(24)}000514e9`;
      expect(socks.log.messages).toEqual(['050100', '05030001000000000000', header6, header6]);
      expect(socks.log.targets).toEqual(['[fd77:0:0:0:0:0:0:5]:5353/udp', '[fd77:0:0:0:0:0:0:5]:5353/udp']);
    } finally {
      socks.close();
    }
  });

  it('ENCAP_CONNECT carries TCP through an HTTP CONNECT proxy (v4 and v6 destinations)', async () => {
    const proxy = await connectProxy(echo4.port);
    try {
      const r = await jail(`rule4 { proto: TCP action: ENCAP_CONNECT redirect_ip: "127.0.0.1" redirect_port: ${proxy.port} }\nrule6 { proto: TCP action: ENCAP_CONNECT redirect_ip: "127.0.0.1" redirect_port: ${proxy.port} }`, `
for dst in ('10.2.2.2', 'fd56::1'):
    s = socket.create_connection((dst, 5353)); s.sendall(b'tunnel'); s.shutdown(socket.SHUT_WR); print(s.recv(100))
`);
      expect(r.stdout).toBe("b'tunnel'\nb'tunnel'\n");
      expect(proxy.log.messages).toEqual(['CONNECT 10.2.2.2:5353 HTTP/1.1\r\nHost: 10.2.2.2:5353\r\n\r\n', 'CONNECT [fd56::1]:5353 HTTP/1.1\r\nHost: [fd56::1]:5353\r\n\r\n']);
    } finally {
      proxy.server.close();
    }
  });

  it('a refusing or unreachable proxy gives the program a connection error and a log line naming the proxy', async () => {
    const socks = await socks5Server({ tcp: echo4.port, udp: echo4.port }, 0, 5);
    const http = await connectProxy(echo4.port, 0, 403);
    const dead = await resetServer('127.0.0.1');
    const deadPort = dead.port;
    dead.server.close();
    try {
      const r = await jail(
        `rule4 { dst_ip: "10.3.0.1" proto: TCP action: ENCAP_SOCKS5 redirect_ip: "127.0.0.1" redirect_port: ${socks.port} }
rule4 { dst_ip: "10.3.0.2" proto: TCP action: ENCAP_CONNECT redirect_ip: "127.0.0.1" redirect_port: ${http.port} }
rule4 { dst_ip: "10.3.0.3" proto: TCP action: ENCAP_SOCKS5 redirect_ip: "127.0.0.1" redirect_port: ${deadPort} }`,
        `
for dst in ('10.3.0.1', '10.3.0.2', '10.3.0.3'):
    s = socket.create_connection((dst, 80))
    try: s.sendall(b'x'); print(dst, s.recv(10))
    except OSError as e: print(dst, type(e).__name__)
`,
      );
      expect(r.stdout).toBe('10.3.0.1 ConnectionResetError\n10.3.0.2 ConnectionResetError\n10.3.0.3 ConnectionResetError\n');
      expect(r.stderr).toContain(`SOCKS5 proxy 127.0.0.1:${socks.port} (user_net.rule4[0]) for 10.3.0.1:80: SOCKS5 connection failed: ver=5 rep=5`);
      expect(r.stderr).toContain(`HTTP CONNECT proxy 127.0.0.1:${http.port} (user_net.rule4[1]) for 10.3.0.2:80: HTTP CONNECT failed: HTTP/1.1 403 Forbidden`);
      expect(r.stderr).toMatch(new RegExp(`SOCKS5 proxy 127.0.0.1:${deadPort} \\(user_net.rule4\\[2\\]\\) for 10.3.0.3:80: connect ECONNREFUSED`));
    } finally {
      socks.close();
      http.server.close();
    }
  });
});

describe.skipIf(!!skip)('user_net NSTUN: HOST_TO_GUEST', () => {
  it('forwards a host TCP port to a server in the jail (IPv4 and IPv6 listeners), and a UDP port (replies reach a loopback client)', async () => {
    const cfg = join(tmp, 'h2g.cfg');
    const port = 41000 + Math.floor(Math.random() * 2000);
    writeFileSync(cfg, `${BASE}user_net {
  rule4 { direction: HOST_TO_GUEST action: REDIRECT proto: TCP dport: ${port} redirect_port: 8000 }
  rule6 { direction: HOST_TO_GUEST action: REDIRECT proto: TCP dport: ${port} redirect_port: 8000 }
  rule4 { direction: HOST_TO_GUEST action: REDIRECT proto: UDP dport: ${port} redirect_port: 8001 }
}\n`);
    const py = join(tmp, 'h2g.py');
    writeFileSync(py, `import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 8001))
def udp():
    d, a = u.recvfrom(100); u.sendto(b'udp ' + d + (' from %s' % a[0]).encode(), a)
threading.Thread(target=udp, daemon=True).start()
srv = socket.socket(socket.AF_INET6); srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); srv.bind(('::', 8000)); srv.listen(4)
print('ready', flush=True)
for i in range(2):
    c, a = srv.accept(); d = c.recv(100); c.sendall(b'guest got ' + d); c.close()
`);
    const child = spawn(process.execPath, [TSJAIL, '--config', cfg, '-q', '--', '/usr/bin/python3', py], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    const ask = (host: string) =>
      new Promise<string>((resolve, reject) => {
        const c = connect(port, host, () => c.end('hello'));
        let got = '';
        c.on('data', (d) => (got += d)).on('end', () => resolve(got)).on('error', reject);
      });
    const dg = createSocket('udp4');
    const reply = new Promise<string>((r) => dg.once('message', (m) => r(m.toString())));
    dg.send('hi', port, '127.0.0.1');
    expect(await reply).toBe('udp hi from 10.255.255.1');
    dg.close();
    expect(await ask('127.0.0.1')).toBe('guest got hello');
    expect(await ask('::1')).toBe('guest got hello');
    const code = await new Promise((r) => child.on('exit', r));
    expect(stderr).not.toContain('[E]');
    expect(code).toBe(0);
  });
});

describe.skipIf(!!skip)('user_net NSTUN: bad input', () => {
  it.each([
    ['rule4 { dst_ip: "10.0.0.0/33" }', "user_net.rule4[0].dst_ip '10.0.0.0/33' is not an IPv4 address or network"],
    ['rule4 { src_ip: "fd00::1" }', "user_net.rule4[0].src_ip 'fd00::1' is an IPv6 address in a rule4 rule"],
    ['rule4 { dport: 90 dport_end: 80 }', 'user_net.rule4[0].dport_end 80 is below dport 90'],
    ['rule4 { dport: 70000 }', 'user_net.rule4[0].dport 70000 is not a port (0-65535)'],
    ['rule4 { action: REDIRECT proto: TCP }', 'user_net.rule4[0]: REDIRECT needs redirect_ip'],
    ['rule4 { action: REDIRECT proto: TCP redirect_ip: "127.0.0.1" }', 'user_net.rule4[0]: REDIRECT of TCP needs redirect_port as well as redirect_ip'],
    ['rule4 { action: ENCAP_SOCKS5 proto: ICMP redirect_ip: "127.0.0.1" redirect_port: 1080 }', 'user_net.rule4[0]: Proxy encapsulation is not supported for ICMP/ICMPv6'],
    ['rule6 { action: ENCAP_CONNECT redirect_ip: "::1" redirect_port: 3128 }', "user_net.rule6[0].redirect_ip '::1' is not an IPv4 address (the proxy is reached over IPv4)"],
    ['rule6 { action: ENCAP_SOCKS5 proto: UDP redirect_ip: "::1" redirect_port: 1080 }', "user_net.rule6[0].redirect_ip '::1' is not an IPv4 address (the proxy is reached over IPv4)"],
    ['rule4 { direction: HOST_TO_GUEST action: REDIRECT proto: TCP }', "user_net.rule4[0]: HOST_TO_GUEST REDIRECT requires 'dport' to be specified"],
    ['rule4 { direction: HOST_TO_GUEST action: REDIRECT proto: ICMP dport: 5 }', 'user_net.rule4[0]: HOST_TO_GUEST REDIRECT only supported for TCP/UDP'],
  ])('%s is refused before any clone', async (rule, msg) => {
    const cfg = join(tmp, `bad${n++}.cfg`);
    writeFileSync(cfg, `${BASE}user_net { ${rule} }\n`);
    const r = await runTsjail(['--config', cfg, '-q', '--', '/bin/true']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toContain(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!!(skip ?? missingBinary('/usr/bin/unshare') ?? missingBinary('/usr/bin/setpriv')))('user_net NSTUN: rootless', () => {
  it('works for an unprivileged tsjail when /dev/net/tun is 0666 (a private mount makes it so here)', async () => {
    const dir = mkdtempSync('/tmp/tsjail-usernet-rootless-');
    chmodSync(dir, 0o755);
    const cfg = join(dir, 'r.cfg');
    const py = join(dir, 'r.py');
    writeFileSync(cfg, `${BASE}user_net { ${redirect4(echo4.port)} }\n`);
    writeFileSync(py, `import socket
s = socket.create_connection(('10.9.9.9', 7)); s.sendall(b'rootless'); s.shutdown(socket.SHUT_WR); print(s.recv(100))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'dg', ('10.9.9.9', 53)); print(u.recvfrom(10)[0])
`);
    for (const f of [cfg, py]) chmodSync(f, 0o644);
    // The host's /dev/net/tun is not touched: a 0666 node of our own is bound over it in a private mount namespace.
    const script = `mknod ${dir}/tun c 10 200 && chmod 666 ${dir}/tun && mount --bind ${dir}/tun /dev/net/tun && exec setpriv --reuid 65534 --regid 65534 --clear-groups ${process.execPath} ${TSJAIL} --config ${cfg} -q -- /usr/bin/python3 ${py}`;
    const child = spawn('/usr/bin/unshare', ['-m', '/bin/sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => child.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
    expect(err).not.toContain('[E]');
    expect(out).toBe("b'rootless'\nb'dg'\n");
    expect(code).toBe(0);
  });
});

describe.skipIf(!!skip)('user_net NSTUN: a failure while setting up', () => {
  it('a HOST_TO_GUEST port in use: one error line naming it, exit 255, no factory left', async () => {
    const busy = await resetServer('0.0.0.0');
    try {
      const cfg = join(tmp, 'busy.cfg');
      writeFileSync(cfg, `${BASE}user_net { rule4 { direction: HOST_TO_GUEST action: REDIRECT proto: TCP dport: ${busy.port} } }\n`);
      const r = await runTsjail(['--config', cfg, '-q', '--', '/bin/true']);
      expect(r.exitCode).toBe(255);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('[E]') && !l.endsWith("Couldn't launch the child process"));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`user_net: bind(host TCP port 0.0.0.0:${busy.port} (user_net.rule4[0]), 0.0.0.0:${busy.port}): EADDRINUSE`);
      // This run's factory only: its second argument is tsjail's pid (the log lines' pid); other tests run their own meanwhile.
      const tsjailPid = /^\[E\]\[[^\]]+\]\[(\d+)\]/.exec(errors[0]!)![1];
      expect(spawnSync('/usr/bin/pgrep', ['-f', `^${join(ROOT, 'native/build/tsjail-nsfd')} [0-9]+ ${tsjailPid} `]).stdout.toString()).toBe('');
    } finally {
      busy.server.close();
    }
  });
});

describe.skipIf(!!skip)("user_net NSTUN: nsjail's configs with local servers", () => {
  it('nat-ip4-only.cfg and nat-ip6-only.cfg run (gateway ping in place of 8.8.8.8), and nstun.cfg', async () => {
    for (const f of ['tests/nat-ip4-only.cfg', 'tests/nat-ip6-only.cfg', 'tests/nstun.cfg']) {
      const py = join(tmp, `nat${n++}.py`);
      writeFileSync(py, `import socket, struct\n${PING}\nping('10.255.255.1')\nping('fc00::1', True)\n`);
      const r = await runTsjail(['--config', join(NSJ, f), '-q', '-t', '10', '--cap', 'CAP_NET_RAW', '--', '/bin/sh', '-c', `exec /usr/bin/python3 ${py}`]);
      expect(r.stdout, f).toBe('reply from 10.255.255.1 0\nreply from fc00::1 129\n');
      expect(r.exitCode).toBe(0);
    }
    const t = await runTsjail(['--config', join(NSJ, 'tests/nat-ip6-only.cfg'), '-q', '-t', '3', '--', '/bin/true']);
    expect(t.exitCode).toBe(0);
  });

  it('socks5.cfg and connect.cfg: proxies on 127.0.0.1:1080 and :3128 (skipped when those ports are taken)', async () => {
    let socks: Awaited<ReturnType<typeof socks5Server>>;
    let http: Awaited<ReturnType<typeof connectProxy>>;
    try {
      socks = await socks5Server({ tcp: echo4.port, udp: echo4.port }, 1080);
      http = await connectProxy(echo4.port, 3128);
    } catch (e) {
      console.warn(`SKIP (proxy ports): ${(e as Error).message}`);
      return;
    }
    try {
      const py = join(tmp, 'proxied.py');
      writeFileSync(py, `import socket
for dst in ('8.8.8.8', '2001:4860:4860::8888'):
    s = socket.create_connection((dst, 443)); s.sendall(b'hi'); s.shutdown(socket.SHUT_WR); print(s.recv(10))
`);
      const s5 = await runTsjail(['--config', join(NSJ, 'tests/socks5.cfg'), '-q', '-t', '10', '--', '/bin/sh', '-c', `exec /usr/bin/python3 ${py}`]);
      expect(s5.stdout).toBe("b'hi'\nb'hi'\n");
      expect(socks.log.targets).toEqual(['8.8.8.8:443', '[2001:4860:4860:0:0:0:0:8888]:443']);
      const udp = join(tmp, 'proxied-udp.py');
      writeFileSync(udp, `import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'q', ('8.8.8.8', 53)); print(u.recvfrom(10))
`);
      const s5u = await runTsjail(['--config', join(NSJ, 'tests/socks5.cfg'), '-q', '-t', '10', '--', '/bin/sh', '-c', `exec /usr/bin/python3 ${udp}`]);
      expect(s5u.stdout).toBe("(b'q', ('8.8.8.8', 53))\n");
      const c = await runTsjail(['--config', join(NSJ, 'tests/connect.cfg'), '-q', '-t', '10', '--', '/bin/sh', '-c', `exec /usr/bin/python3 ${py}`]);
      expect(c.stdout).toBe("b'hi'\nb'hi'\n");
      expect(http.log.targets).toEqual(['8.8.8.8:443', '[2001:4860:4860::8888]:443']);
    } finally {
      socks.close();
      http.server.close();
    }
  });

  it('redirect.cfg with 1.1.1.1 / 2606:4700:4700::1111 replaced by local echo servers', async () => {
    const text = readFileSync(join(NSJ, 'tests/redirect.cfg'), 'utf8')
      .replace(/"1\.1\.1\.1"/g, '"127.0.0.1"')
      .replace(/"2606:4700:4700::1111"/g, '"::1"')
      .replace(/rule4 \{([^}]*)redirect_port: \d+/g, (_m, body: string) => `rule4 {${body}redirect_port: ${echo4.port}`)
      .replace(/rule6 \{([^}]*)redirect_port: \d+/g, (_m, body: string) => `rule6 {${body}redirect_port: ${echo6.port}`);
    const cfg = join(tmp, 'redirect.cfg');
    writeFileSync(cfg, text);
    const py = join(tmp, 'redirect.py');
    writeFileSync(py, `import socket
for dst in ('9.9.9.9', '2001:db8::1'):
    s = socket.create_connection((dst, 80)); s.sendall(b'web'); s.shutdown(socket.SHUT_WR); print(s.recv(10))
    u = socket.socket(socket.AF_INET6 if ':' in dst else socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'dns', (dst, 53)); print(u.recvfrom(10)[0])
`);
    const r = await runTsjail(['--config', cfg, '-q', '-t', '10', '--', '/bin/sh', '-c', `exec /usr/bin/python3 ${py}`]);
    expect(r.stdout).toBe("b'web'\nb'dns'\nb'web'\nb'dns'\n");
  });

  it('dns_http_host_to_guest.cfg: the jail\'s http.server on :8000 answers on host port 8080 (v4 and v6)', async () => {
    const child = spawn(process.execPath, [TSJAIL, '--config', join(NSJ, 'tests/dns_http_host_to_guest.cfg'), '-q', '-t', '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const get = (host: string) =>
      new Promise<string>((resolve, reject) => {
        const c = connect(8080, host, () => c.write(`GET / HTTP/1.0\r\nHost: x\r\n\r\n`));
        let got = '';
        c.on('data', (d) => (got += d)).on('end', () => resolve(got)).on('error', reject);
      });
    try {
      let first = '';
      for (let i = 0; i < 100 && !first.startsWith('HTTP/1.0 200'); i++) {
        first = await get('127.0.0.1').catch(() => '');
        if (!first) await new Promise((r) => setTimeout(r, 100));
      }
      expect(first).toMatch(/^HTTP\/1\.0 200/);
      expect(await get('::1')).toMatch(/^HTTP\/1\.0 200/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
    expect(err).not.toContain('[E]');
  });

  it('bash-with-fake-geteuid.cfg and .json run with their user_net { }', async () => {
    for (const f of ['configs/bash-with-fake-geteuid.cfg', 'configs/bash-with-fake-geteuid.json']) {
      const r = await runTsjail(['--config', join(NSJ, f), '-q'], { input: 'id; /usr/sbin/ip -4 addr show eth0 | grep inet; exit 0\n' });
      expect(r.stdout, f).toContain('euid=4294965959');
      expect(r.stdout, f).toContain('inet 10.255.255.2 peer 10.255.255.1/32');
      expect(r.exitCode).toBe(0);
    }
  });
});

