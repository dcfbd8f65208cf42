/**
 * --net_allow through the real CLI: tsjail answers the jail's DNS, lets
 * connections through only to addresses it handed out for allowed names, and
 * checks the TLS SNI and HTTP Host of each. Local servers only: the test names
 * resolve (TSJAIL_NET_ALLOW_HOSTS, a hosts file for tests) to 192.0.2.x
 * (TEST-NET-1, nothing real), which a user_net REDIRECT rule sends to an HTTP
 * and a TLS server of the test's on 127.0.0.1. Without tsjail's own NSTUN
 * backend --net_allow refuses to run, and these tests skip saying so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as httpServer, type Server as HttpServer } from 'node:http';
import { createServer as tlsServer, type Server as TlsServer } from 'node:tls';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail, TSJAIL, type RunOptions, type RunResult } from './helpers/run-tsjail.js';

/** Does this build serve user_net with its own NSTUN backend (which --net_allow needs)? */
function missingNstun(): string | undefined {
  const r = spawnSync(process.execPath, [TSJAIL, '-Mo', '--chroot', '/', '-q', '--net_allow', 'probe.test', '--', '/bin/true'], { encoding: 'utf8', timeout: 30_000 });
  const why = r.status === 0 ? undefined : `--net_allow does not run here: ${r.stderr.trim().split('\n').pop()}`;
  if (why) console.warn(`SKIP (user_net NSTUN): ${why}`);
  return why;
}

const skip = missingUserns() ?? missingBinary('/usr/bin/curl') ?? missingBinary('/usr/bin/openssl') ?? missingBinary('/usr/bin/getent') ?? missingNstun();

const ALLOWED = '192.0.2.10'; // allowed.test
const OTHER = '192.0.2.11'; // other.test: in the hosts file, not in the allow-list
const NEVER = '192.0.2.99'; // never handed out
const WILD = '192.0.2.12'; // www.wild.test
const V6 = '2001:db8::10'; // v6.test (documentation prefix), IPv6 only

const tmp = mkdtempSync('/tmp/tsjail-netallow-');
const NOBODY = 65534;
let http: HttpServer;
let http6: HttpServer;
let tls: TlsServer;
/** Echoes datagrams: reachable through a REDIRECT rule, so only --net_allow stands between it and the jail. */
let udp: UdpSocket;

beforeAll(async () => {
  if (skip) return;
  // Readable by the rootless runs' user (nobody), which writes its status files into out/.
  chmodSync(tmp, 0o755);
  mkdirSync(join(tmp, 'out'));
  if (!missingRoot()) chownSync(join(tmp, 'out'), NOBODY, NOBODY);
  execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=allowed.test', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem')], { stdio: 'pipe' });
  http = httpServer((req, res) => res.end(`http hello ${req.headers.host}\n`));
  http6 = httpServer((req, res) => res.end(`http6 hello ${req.headers.host}\n`));
  tls = tlsServer({ key: readFileSync(join(tmp, 'key.pem')), cert: readFileSync(join(tmp, 'cert.pem')) }, (s) => {
    s.on('error', () => {});
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\ntls hello\n'));
  });
  udp = createSocket('udp4');
  udp.on('message', (m, from) => udp.send(m, from.port, from.address));
  await Promise.all([new Promise<void>((r) => http.listen(0, '127.0.0.1', r)), new Promise<void>((r) => tls.listen(0, '127.0.0.1', r)), new Promise<void>((r) => udp.bind(0, '127.0.0.1', r)), new Promise<void>((r) => http6.listen(0, '::1', r))]);
  writeFileSync(join(tmp, 'hosts'), `${ALLOWED} allowed.test\n${OTHER} other.test\n${WILD} www.wild.test\n${V6} v6.test\n`, { mode: 0o644 });
  const port = (s: HttpServer | TlsServer) => (s.address() as AddressInfo).port;
  writeFileSync(
    join(tmp, 'jail.cfg'),
    `user_net {
  rule4 { action: REDIRECT proto: TCP dst_ip: "192.0.2.0/24" dport: 80 redirect_ip: "127.0.0.1" redirect_port: ${port(http)} }
  rule4 { action: REDIRECT proto: TCP dst_ip: "192.0.2.0/24" dport: 443 redirect_ip: "127.0.0.1" redirect_port: ${port(tls)} }
  rule4 { action: REDIRECT proto: UDP dst_ip: "192.0.2.0/24" dport: 443 redirect_ip: "127.0.0.1" redirect_port: ${udp.address().port} }
  rule6 { action: REDIRECT proto: TCP dst_ip: "2001:db8::/32" dport: 80 redirect_ip: "::1" redirect_port: ${port(http6)} }
}
tsjail { net_allow: "allowed.test" net_allow: "*.wild.test" net_allow: "v6.test" }
`,
    { mode: 0o644 },
  );
});

afterAll(() => {
  http?.close();
  http6?.close();
  tls?.close();
  udp?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the script in a jail with the allow-list (as `how` says: the rootless describe runs it as nobody); the status channel's lines with it. */
async function run(script: string, args: readonly string[] = [], how: Pick<RunOptions, 'asUser' | 'wrap'> = {}): Promise<RunResult & { status: Array<Record<string, unknown>> }> {
  const status = join(tmp, 'out', `status-${Math.random().toString(36).slice(2)}.jsonl`);
  const r = await runTsjail(['--config', join(tmp, 'jail.cfg'), '-Mo', '--chroot', '/', '-q', '--status_file', status, ...args, '--', '/bin/sh', '-c', script], {
    env: { TSJAIL_NET_ALLOW_HOSTS: join(tmp, 'hosts') },
    timeoutMs: 120_000,
    ...how,
  });
  const lines = existsSync(status) ? readFileSync(status, 'utf8').split('\n').filter(Boolean) : [];
  return { ...r, status: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Each step prints `label=<curl or getent exit status>` after what it got. */
const step = (label: string, cmd: string) => `${cmd} 2>/dev/null; echo " ${label}=$?"`;
const curl = 'curl -s --max-time 20';
const results = (out: string) => Object.fromEntries([...out.matchAll(/ (\w+)=(\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));

/**
 * The allow-list's main check, as root or (rootless) as an unprivileged user:
 * allowed names resolve and connect, everything else is refused and each
 * refusal is named once in the log and on the status channel.
 */
async function allowedAndRefused(how: Pick<RunOptions, 'asUser' | 'wrap'> = {}): Promise<RunResult> {
  const r = await run(
    [
      'cat /etc/resolv.conf',
      'echo "uid_map $(cat /proc/self/uid_map)"',
      step('resolve', 'getent ahostsv4 allowed.test | head -1'),
      step('nx', 'getent hosts other.test'),
      step('http', `${curl} http://allowed.test/`),
      step('https', `${curl} -k https://allowed.test/`),
      step('wild', `${curl} -k https://www.wild.test/`),
      step('v6', `${curl} http://v6.test/`),
      step('v6_direct', `${curl} -g http://[2001:db8::99]/`),
      step('direct', `${curl} http://${NEVER}/`),
      step('resolve_other', `${curl} -k --resolve allowed.test:443:${NEVER} https://allowed.test/`),
      step('sni', `${curl} -k --resolve other.test:443:${ALLOWED} https://other.test/`),
      step('host', `${curl} -H 'Host: other.test' http://allowed.test/`),
      step('port', `${curl} http://allowed.test:8080/`),
      step('again', `${curl} http://${NEVER}/`),
    ].join('\n'),
    [],
    how,
  );
  expect(r.exitCode, r.stderr).toBe(0);
  const got = results(r.stdout);
  expect(r.stdout).toContain('nameserver 10.255.255.1');
  expect(r.stdout).toContain(`${ALLOWED}`);
  expect(r.stdout).toContain('http hello allowed.test');
  expect(r.stdout).toContain('tls hello');
  expect(got, r.stdout + r.stderr).toMatchObject({ resolve: 0, http: 0, https: 0, wild: 0, v6: 0 });
  expect(r.stdout).toContain('http6 hello v6.test');
  expect(got.nx, 'other.test must not resolve').toBe(2);
  for (const k of ['direct', 'v6_direct', 'resolve_other', 'sni', 'host', 'port', 'again']) expect(got[k], `${k} must be refused\n${r.stdout}${r.stderr}`).not.toBe(0);

  const denials = r.stderr.split('\n').filter((l) => /net_allow: pid=\d+ denied/.test(l));
  const expected = [
    " denied dns 10.255.255.1:53 (name 'other.test')",
    ` denied tcp ${NEVER}:80 (name none): the address was not handed out`,
    ` denied tcp ${NEVER}:443 (name none)`,
    ' denied tcp [2001:db8::99]:80 (name none)',
    ` denied tcp ${ALLOWED}:443 (name 'other.test'): the TLS ClientHello (SNI) names 'other.test'`,
    ` denied tcp ${ALLOWED}:80 (name 'other.test'): the HTTP request (Host) names 'other.test'`,
    ` denied tcp ${ALLOWED}:8080 (name 'allowed.test'): port 8080 is not allowed for allowed.test`,
  ];
  for (const e of expected) expect(denials.filter((l) => l.includes(e)), `${e}\n${denials.join('\n')}`).toHaveLength(1);
  // `direct` and `again` are one (name, address, port): reported once.
  expect(denials.filter((l) => l.includes(`${NEVER}:80 `))).toHaveLength(1);

  const events = r.status.filter((l) => l.event === 'net_denied');
  const start = r.status.find((l) => l.event === 'start');
  expect(events.length).toBeGreaterThan(0);
  expect(events.every((e) => e.pid === start?.pid), 'each denial names the jail').toBe(true);
  expect(events).toContainEqual({ event: 'net_denied', pid: expect.any(Number), proto: 'tcp', name: 'other.test', address: ALLOWED, port: 443, reason: expect.stringContaining('SNI') });
  expect(events).toContainEqual({ event: 'net_denied', pid: expect.any(Number), proto: 'dns', name: 'other.test', address: '10.255.255.1', port: 53, reason: expect.any(String) });
  expect(events).toContainEqual({ event: 'net_denied', pid: expect.any(Number), proto: 'tcp', name: '-', address: NEVER, port: 443, reason: expect.any(String) });
  expect(events.filter((e) => e.address === NEVER && e.port === 80)).toHaveLength(1);
  return r;
}

describe.skipIf(!!skip)('--net_allow', () => {
  it('lets allowed names through and refuses the rest, naming each refusal once in the log and on the status channel', async () => {
    await allowedAndRefused();
  });

  it('answers DNS over TCP too, and refuses UDP other than DNS, and ICMP', async () => {
    const r = await run(
      [
        step('tcpdns', `python3 -c '
import socket, struct
q = struct.pack(">HHHHHH", 7, 0x100, 1, 0, 0, 0) + b"\\x07allowed\\x04test\\x00" + struct.pack(">HH", 1, 1)
s = socket.create_connection(("10.255.255.1", 53), timeout=10)
s.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", s.recv(2))[0]
r = s.recv(n)
print("an", struct.unpack(">H", r[6:8])[0], ".".join(str(b) for b in r[-4:]))
'`),
        step('udp', `python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"x", ("${ALLOWED}", 443))
try:
    s.recv(10); print("udp answered")
except OSError as e:
    print("udp", e); raise SystemExit(1)
'`),
        // An echo request on a raw socket (there is no ping here): what comes back, if anything.
        step('icmp', `python3 -c '
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
p = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"tsjail"
p = p[:2] + struct.pack("!H", csum(p)) + p[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(3)
s.sendto(p, ("${ALLOWED}", 0))
try:
    r = s.recv(200); print("icmp type", r[20]); raise SystemExit(0 if r[20] == 0 else 1)
except socket.timeout:
    print("icmp none"); raise SystemExit(1)
'`),
      ].join('\n'),
      ['--cap', 'CAP_NET_RAW'],
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`an 1 ${ALLOWED}`);
    expect(results(r.stdout), r.stdout).toMatchObject({ tcpdns: 0, udp: 1, icmp: 1 });
    expect(r.stderr).toContain(` denied udp ${ALLOWED}:443`);
    expect(r.stdout).toContain('icmp type 3'); // destination unreachable, administratively prohibited
    expect(r.stderr).toContain(` denied icmp ${ALLOWED}:0`);
  });
});

describe.skipIf(!!(skip ?? missingRoot() ?? missingBinary('/dev/net/tun') ?? missingBinary('/usr/bin/unshare') ?? missingBinary('/usr/bin/setpriv')))('--net_allow: rootless', () => {
  it('an unprivileged tsjail (nobody, with a 0666 /dev/net/tun of its own) allows and refuses exactly as root does', async () => {
    // As in usernet.test.ts: the host's /dev/net/tun is not touched; a 0666 node is bound over it in a private mount namespace.
    const tun = join(tmp, `tun-${Math.random().toString(36).slice(2)}`);
    const wrap = ['/usr/bin/unshare', '-m', '/bin/sh', '-c', `mknod ${tun} c 10 200 && chmod 666 ${tun} && mount --bind ${tun} /dev/net/tun && exec "$@"`, 'sh'];
    const r = await allowedAndRefused({ asUser: NOBODY, wrap });
    // The jail's ids map onto nobody's: tsjail really ran unprivileged.
    expect(r.stdout).toMatch(new RegExp(`^uid_map +\\d+ +${NOBODY} +1$`, 'm'));
  });
});
