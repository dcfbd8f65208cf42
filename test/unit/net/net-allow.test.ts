/** --net_allow's pure parts: entries, the DNS wire format, ClientHello and Host sniffing, the address book and the verdicts. */
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { applyConfigFile } from '../../../src/config/apply.js';
import { effectiveMounts } from '../../../src/prepare.js';
import { validateSpec } from '../../../src/validate.js';
import { buildReply, classify, encodeDecision, parseQuery, RCODE, TTL_CAP, TYPE_A, TYPE_AAAA, addressRecord } from '../../../src/net/allow/dns.js';
import { AddressBook, addressKey, DenialReport, judgeTcp, KEEP_MS, peekSniff, specialAddress, type Denial } from '../../../src/net/allow/guard.js';
import { MAX_LOOKUPS, startNetAllow } from '../../../src/net/allow/hooks.js';
import { AllowList, allowErrors, nameMatches, parseAllowEntry } from '../../../src/net/allow/names.js';
import { hostResolver, hostsResolver, runResolver } from '../../../src/net/allow/resolver.js';
import { prepareNetAllow } from '../../../src/features/net-allow.js';
import { userNetHooksOf } from '../../../src/net/user/policy.js';
import type { Prepared } from '../../../src/prepare.js';
import type { JailEvent } from '../../../src/features/types.js';
import { sniff, sniffHttp, sniffTls } from '../../../src/net/allow/sniff.js';

/** A DNS query for name/type with the given id (RD set). */
function query(name: string, type: number, id = 0x1234, extra: Partial<{ flags: number; qd: number; qclass: number }> = {}): Buffer {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(extra.flags ?? 0x0100, 2);
  head.writeUInt16BE(extra.qd ?? 1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(extra.qclass ?? 1, 2);
  return Buffer.concat([head, Buffer.from([...labels, 0]), tail]);
}

/** The answers of a reply: [type, address text, ttl]. */
function answers(r: Uint8Array): Array<[number, string, number]> {
  const b = Buffer.from(r);
  const an = b.readUInt16BE(6);
  let pos = 12;
  while (b[pos] !== 0) pos += b[pos]! + 1;
  pos += 5;
  const out: Array<[number, string, number]> = [];
  for (let i = 0; i < an; i++) {
    expect(b.readUInt16BE(pos)).toBe(0xc00c);
    const type = b.readUInt16BE(pos + 2);
    const ttl = b.readUInt32BE(pos + 6);
    const len = b.readUInt16BE(pos + 10);
    const data = b.subarray(pos + 12, pos + 12 + len);
    out.push([type, type === TYPE_A ? [...data].join('.') : addressKey(Array.from({ length: 8 }, (_, k) => data.readUInt16BE(k * 2).toString(16)).join(':'))!, ttl]);
    pos += 12 + len;
  }
  return out;
}
const rcode = (r: Uint8Array) => r[3]! & 0xf;

/** A real ClientHello, as Node's TLS client sends it for this server name. */
async function clientHello(servername?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = createServer((sock) => {
      let got = Buffer.alloc(0);
      sock.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
          sock.destroy();
          server.close();
          resolve(got);
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
      c.on('error', () => {});
      setTimeout(() => reject(new Error('no ClientHello')), 5000).unref();
    });
  });
}

/** A minimal hand-made ClientHello with these extensions (type, body). */
function hello(exts: Array<[number, Buffer]>, recordSplit?: number): Buffer {
  const ext = Buffer.concat(exts.map(([t, b]) => Buffer.concat([u16(t), u16(b.length), b])));
  const body = Buffer.concat([u16(0x0303), Buffer.alloc(32), Buffer.from([0]), u16(2), u16(0x1301), Buffer.from([1, 0]), u16(ext.length), ext]);
  const hs = Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  const rec = (p: Buffer) => Buffer.concat([Buffer.from([0x16, 3, 1]), u16(p.length), p]);
  return recordSplit ? Buffer.concat([rec(hs.subarray(0, recordSplit)), rec(hs.subarray(recordSplit))]) : rec(hs);
}
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const sniExt = (...names: string[]) => {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0]), u16(n.length), Buffer.from(n)])));
  return Buffer.concat([u16(list.length), list]);
};

describe('allow-list entries', () => {
  it('parses NAME and NAME:PORT, lower-cased, trailing dot removed', () => {
    expect(parseAllowEntry('Example.COM.')).toEqual({ name: 'example.com' });
    expect(parseAllowEntry('api.example.com:8443')).toEqual({ name: 'api.example.com', port: 8443 });
    expect(parseAllowEntry('*.example.com')).toEqual({ name: '*.example.com' });
    expect(parseAllowEntry('localhost:5432')).toEqual({ name: 'localhost', port: 5432 });
  });

  it('refuses addresses, bad labels and bad ports with a reason', () => {
    const bad = ['', '1.2.3.4', '[::1]:443', 'fd00::1', 'a..b', '-a.com', 'a-.com', 'a_b.com', 'x.com:0', 'x.com:65536', 'x.com:http', 'x.com:', '*.', 'a.*.com', '*', 'foo.123', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`];
    for (const b of bad) expect(typeof parseAllowEntry(b), b).toBe('string');
    expect(allowErrors(['ok.com', '1.2.3.4', 'x.com:99999'])).toEqual([
      "net_allow '1.2.3.4' is an address: the allow-list holds DNS names",
      "net_allow 'x.com:99999' has port '99999', not a number from 1 to 65535",
    ]);
  });

  it('matches wildcards below the name only', () => {
    expect(nameMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(nameMatches('*.example.com', 'a.b.example.com')).toBe(true);
    expect(nameMatches('*.example.com', 'example.com')).toBe(false);
    expect(nameMatches('*.example.com', 'badexample.com')).toBe(false);
    expect(nameMatches('example.com', 'a.example.com')).toBe(false);
  });

  it('gives a bare name the web ports and NAME:PORT that port, any protocol unless 80 or 443', () => {
    const l = new AllowList(['web.test', 'db.test:5432', 'tls.test:443', '*.wild.test']);
    expect([80, 443, 8080].map((p) => l.portRule('web.test', p))).toEqual(['web', 'web', undefined]);
    expect([5432, 443].map((p) => l.portRule('db.test', p))).toEqual(['any_protocol', undefined]);
    expect([443, 80].map((p) => l.portRule('tls.test', p))).toEqual(['web', undefined]);
    expect(l.portRule('x.wild.test', 443)).toBe('web');
    expect(l.allowsName('WEB.test.')).toBe(true);
    expect(l.allowsName('other.test')).toBe(false);
  });
});

describe('DNS', () => {
  it('reads a query and answers A and AAAA for the question name, pointing at it', () => {
    const p = parseQuery(query('Allowed.Test', TYPE_A));
    expect(p.ok && p.query.name).toBe('allowed.test');
    const recs = [addressRecord('192.0.2.1', 30)!, addressRecord('192.0.2.2', 30)!];
    const r = encodeDecision(p, { rcode: RCODE.NOERROR, records: recs })!;
    expect([...r.subarray(0, 2)]).toEqual([0x12, 0x34]);
    expect(r[2]! & 0x80).toBe(0x80); // QR
    expect(r[2]! & 0x01).toBe(0x01); // RD copied
    expect(r[3]! & 0x80).toBe(0x80); // RA
    expect(answers(r)).toEqual([[TYPE_A, '192.0.2.1', 30], [TYPE_A, '192.0.2.2', 30]]);
    // The question is echoed with its letter case (resolvers using 0x20 randomisation check it).
    expect(Buffer.from(r).includes(Buffer.from('Allowed'))).toBe(true);
    const r6 = buildReply(7, 0x0100, query('a.test', TYPE_AAAA).subarray(12), RCODE.NOERROR, [addressRecord('fd00::5', 10)!]);
    expect(answers(r6)).toEqual([[TYPE_AAAA, 'fd00:0:0:0:0:0:0:5', 10]]);
  });

  it('classifies: NXDOMAIN for names not allowed, FORMERR, NOTIMP, NODATA for other types, silence for responses and scraps', () => {
    const allowed = (n: string) => n === 'ok.test';
    expect(classify(parseQuery(query('ok.test', TYPE_A)), allowed)).toEqual({ lookup: { name: 'ok.test', family: 4 } });
    expect(classify(parseQuery(query('ok.test', TYPE_AAAA)), allowed)).toEqual({ lookup: { name: 'ok.test', family: 6 } });
    expect(classify(parseQuery(query('bad.test', TYPE_A)), allowed)).toEqual({ denied: 'bad.test' });
    expect(classify(parseQuery(query('ok.test', 15)), allowed)).toEqual({ answer: { rcode: RCODE.NOERROR } });
    // EDNS: an OPT record in the additional section does not disturb the question (the reply carries none).
    const edns = Buffer.concat([query('ok.test', TYPE_A), Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0])]);
    edns.writeUInt16BE(1, 10);
    expect(classify(parseQuery(edns), allowed)).toEqual({ lookup: { name: 'ok.test', family: 4 } });
    expect(encodeDecision(parseQuery(edns), { rcode: RCODE.NOERROR })!.subarray(10, 12)).toEqual(new Uint8Array([0, 0]));
    expect(classify(parseQuery(query('ok.test', TYPE_A, 1, { flags: 0x2100 })), allowed)).toEqual({ answer: { rcode: RCODE.NOTIMP } });
    expect(classify(parseQuery(query('ok.test', TYPE_A, 1, { qd: 2 })), allowed)).toEqual({ answer: { rcode: RCODE.FORMERR } });
    expect(classify(parseQuery(query('ok.test', TYPE_A, 1, { qclass: 3 })), allowed)).toEqual({ answer: { rcode: RCODE.REFUSED } });
    expect(classify(parseQuery(query('ok.test', TYPE_A, 1, { flags: 0x8100 })), allowed)).toBeNull();
    expect(classify(parseQuery(Buffer.alloc(5)), allowed)).toBeNull();
    // A label holding a dot must not pass for two labels.
    const sneaky = Buffer.concat([query('x', TYPE_A).subarray(0, 12), Buffer.from([7, ...Buffer.from('ok.test'), 0, 0, 1, 0, 1])]);
    expect(classify(parseQuery(sneaky), allowed)).toEqual({ denied: '<not a host name>' });
    // A compression pointer in a question is malformed.
    const ptr = Buffer.concat([query('x', TYPE_A).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(classify(parseQuery(ptr), allowed)).toEqual({ answer: { rcode: RCODE.FORMERR } });
    const fe = encodeDecision(parseQuery(ptr), { rcode: RCODE.FORMERR })!;
    expect([fe.length, rcode(fe)]).toEqual([12, RCODE.FORMERR]);
  });

  it('keeps a UDP reply within 512 bytes', () => {
    const recs = Array.from({ length: 40 }, (_, i) => addressRecord(`fd00::${i + 1}`, 5)!);
    const r = encodeDecision(parseQuery(query('many.test', TYPE_AAAA)), { rcode: RCODE.NOERROR, records: recs })!;
    expect(r.length).toBeLessThanOrEqual(512);
    expect(answers(r).length).toBe(Math.floor((512 - 12 - 15) / 28));
  });

  it('never throws on mutated or truncated queries', () => {
    const base = query('allowed.example.test', TYPE_A);
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(base.subarray(0, rnd() % (base.length + 1)));
      for (let k = rnd() % 4; k > 0 && b.length; k--) b[rnd() % b.length] = rnd() & 0xff;
      const p = parseQuery(b);
      const c = classify(p, () => true);
      if (c && 'answer' in c) expect(encodeDecision(p, c.answer)).not.toBeUndefined();
    }
  });
});

describe('ClientHello', () => {
  it("reads the SNI of Node's TLS client, and none without one", async () => {
    const ch = await clientHello('Allowed.Test');
    expect(sniff(ch)).toEqual({ kind: 'tls', sni: 'allowed.test' });
    expect(sniff(await clientHello())).toEqual({ kind: 'tls' });
  });

  it('asks for exactly the bytes it lacks at every truncation, and handles a hello split over records', async () => {
    const ch = await clientHello('allowed.test');
    for (let n = 1; n < ch.length; n++) {
      const s = sniffTls(ch.subarray(0, n));
      expect(s.kind, `at ${n}`).toBe('more');
      if (s.kind === 'more') expect(s.need).toBeGreaterThan(n);
    }
    const split = hello([[0, sniExt('split.test')]], 20);
    expect(sniffTls(split.subarray(0, split.length - 1)).kind).toBe('more');
    expect(sniffTls(split)).toEqual({ kind: 'tls', sni: 'split.test' });
  });

  it('refuses malformed hellos: duplicate SNI, bad lengths, control bytes, another handshake', () => {
    expect(sniffTls(hello([[0, sniExt('a.test')]]))).toEqual({ kind: 'tls', sni: 'a.test' });
    expect(sniffTls(hello([[0, sniExt('a.test', 'b.test')]])).kind).toBe('malformed');
    expect(sniffTls(hello([[0, sniExt('a.test')], [0, sniExt('b.test')]])).kind).toBe('malformed');
    expect(sniffTls(hello([[0, sniExt('a\nb')]])).kind).toBe('malformed');
    expect(sniffTls(hello([[0, Buffer.from([0, 9, 0, 0, 3, 97])]])).kind).toBe('malformed');
    const notHello = hello([]);
    notHello[5] = 2;
    expect(sniffTls(notHello).kind).toBe('malformed');
    const badVersion = hello([]);
    badVersion[1] = 2;
    expect(sniffTls(badVersion).kind).toBe('malformed');
  });

  it('never throws and never reads out of bounds on random mutations', async () => {
    const ch = await clientHello('allowed.test');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(ch.subarray(0, rnd() % (ch.length + 1)));
      for (let k = rnd() % 6; k > 0 && b.length; k--) b[rnd() % b.length] = rnd() & 0xff;
      const s = sniff(b);
      expect(['tls', 'http', 'more', 'malformed', 'other']).toContain(s.kind);
      if (s.kind === 'tls' && s.sni !== undefined) expect(s.sni).toMatch(/^[\x21-\x7e]+$/);
    }
  });
});

describe('HTTP Host', () => {
  const req = (head: string) => Buffer.from(head);
  it('reads Host, strips the port, lower-cases', () => {
    expect(sniffHttp(req('GET / HTTP/1.1\r\nHost: Allowed.Test:8080\r\nAccept: */*\r\n\r\n'))).toEqual({ kind: 'http', host: 'allowed.test' });
    expect(sniffHttp(req('POST /x HTTP/1.0\r\nhost:allowed.test\r\n\r\n'))).toEqual({ kind: 'http', host: 'allowed.test' });
    expect(sniffHttp(req('GET / HTTP/1.0\r\n\r\n'))).toEqual({ kind: 'http' });
  });

  it('wants more for a prefix of a request, and nothing for other protocols', () => {
    for (const p of ['G', 'GE', 'GET', 'OPTIO', 'GET / HTTP/1.1\r\nHost: a', 'GET / HTTP/1.1\r\nHost: a.test\r\n']) expect(sniffHttp(req(p)).kind, p).toBe('more');
    for (const p of ['SSH-2.0-OpenSSH\r\n', 'get / HTTP/1.1\r\n', 'GETX', '\x00\x01']) expect(sniff(req(p)).kind, p).toBe('other');
  });

  it('refuses two Host headers, a bad Host, another HTTP version, a head without end', () => {
    expect(sniffHttp(req('GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n')).kind).toBe('malformed');
    expect(sniffHttp(req('GET / HTTP/1.1\r\nHost: a.test/x\r\n\r\n')).kind).toBe('malformed');
    expect(sniffHttp(req('GET / HTTP/1.1\r\nHost: \r\n\r\n')).kind).toBe('malformed');
    expect(sniffHttp(req('GET / HTTP/2.0\r\nHost: a.test\r\n\r\n')).kind).toBe('malformed');
    expect(sniffHttp(req('GET / HTTP/1.1\r\nX-Pad: ' + 'a'.repeat(20000))).kind).toBe('malformed');
  });
});

describe('verdicts', () => {
  const list = new AllowList(['web.test', 'db.test:5432', 'alt.test:8443', '*.wild.test']);
  const tls = (sni?: string) => ({ kind: 'tls' as const, ...(sni ? { sni } : {}) });

  it('decides by address, port and the name the connection gives', () => {
    const table: Array<[string[], number, Parameters<typeof judgeTcp>[3], boolean]> = [
      [[], 443, tls('web.test'), false], // never handed out: curl --resolve web.test:443:OTHER
      [['web.test'], 443, tls('web.test'), true],
      [['web.test'], 443, tls('other.test'), false], // SNI mismatch
      [['web.test'], 443, tls(), false], // no SNI
      [['web.test'], 80, { kind: 'http', host: 'web.test' }, true],
      [['web.test'], 80, { kind: 'http', host: 'evil.test' }, false],
      [['web.test'], 80, { kind: 'http' }, false],
      [['web.test'], 22, { kind: 'other' }, false], // port not allowed
      [['web.test'], 443, { kind: 'other' }, false], // web port, unreadable protocol
      [['web.test'], 443, { kind: 'malformed', reason: 'x' }, false],
      [['db.test'], 5432, { kind: 'other' }, true], // explicit non-web port: any protocol
      [['db.test'], 5432, tls('evil.test'), false], // …but a readable name must still match
      [['db.test'], 443, tls('db.test'), false],
      [['alt.test'], 8443, tls('alt.test'), true],
      [['a.wild.test'], 443, tls('a.wild.test'), true],
      [['a.wild.test'], 443, tls('b.wild.test'), false], // handed out for a, not b
      [['web.test', 'cdn.test'], 443, tls('web.test'), true], // a shared address
      [['cdn.test'], 443, tls('cdn.test'), false], // handed out for a name since removed? not allowed
    ];
    for (const [names, port, s, allow] of table) expect(judgeTcp(list, names, port, s).allow, `${names} ${port} ${JSON.stringify(s)}`).toBe(allow);
    expect(judgeTcp(list, ['web.test'], 443, tls('other.test'))).toEqual({ allow: false, name: 'other.test', reason: "the TLS ClientHello (SNI) names 'other.test', but the address was handed out for web.test" });
  });

  it('peeks exactly what the parser lacks, and treats a silent client as other', async () => {
    const data = Buffer.from('GET / HTTP/1.1\r\nHost: web.test\r\n\r\nrest of the body');
    const asked: number[] = [];
    const peek = async (max: number) => (asked.push(max), data.subarray(0, max));
    expect(await peekSniff(peek, 1000)).toEqual({ kind: 'http', host: 'web.test' });
    expect(Math.max(...asked)).toBe(data.indexOf('\r\n\r\n') + 4);
    expect(await peekSniff(async () => Buffer.alloc(0), 1000)).toEqual({ kind: 'other' });
    const ch = hello([[0, sniExt('web.test')]]);
    const tlsAsked: number[] = [];
    expect(await peekSniff(async (max) => (tlsAsked.push(max), ch.subarray(0, max)), 1000)).toEqual(tls('web.test'));
    expect(tlsAsked).toEqual([1, 5, ch.length]);
  });
});

describe('address book and denials', () => {
  it('remembers addresses per name until TTL + the keep time, in one spelling per address', () => {
    let t = 0;
    const book = new AddressBook(() => t);
    book.record('web.test', ['192.0.2.1', 'fd00::1'], 5);
    expect(book.namesFor('192.0.2.1')).toEqual(['web.test']);
    expect(book.namesFor('::ffff:192.0.2.1')).toEqual(['web.test']);
    expect(book.namesFor('fd00:0::1')).toEqual(['web.test']);
    expect(book.namesFor('192.0.2.2')).toEqual([]);
    book.record('cdn.test', ['192.0.2.1'], 5);
    expect(book.namesFor('192.0.2.1').sort()).toEqual(['cdn.test', 'web.test']);
    t = TTL_CAP * 1000 + KEEP_MS + 1;
    expect(book.namesFor('192.0.2.1')).toEqual([]);
  });

  it('never hands out loopback, link-local, unspecified, multicast or broadcast addresses', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '0.0.0.0', '169.254.169.254', '224.0.0.1', '239.1.2.3', '255.255.255.255', '::', '::1', 'fe80::1', 'febf::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254']) {
      expect(specialAddress(a), a).toBeDefined();
    }
    for (const a of ['192.0.2.1', '10.0.0.1', '128.0.0.1', '169.253.0.1', '223.255.255.255', '2001:db8::1', 'fec0::1', 'fc00::5', '::2']) expect(specialAddress(a), a).toBeUndefined();
  });

  it('reports a denial once per (protocol, name, address, port)', () => {
    const got: Denial[] = [];
    const r = new DenialReport((d) => got.push(d));
    const d: Denial = { proto: 'tcp', name: 'x', address: '192.0.2.1', port: 443, reason: 'r' };
    r.deny(d);
    r.deny({ ...d, reason: 'other words' });
    r.deny({ ...d, port: 80 });
    expect(got.map((x) => x.port)).toEqual([443, 80]);
  });
});

describe('resolvers', () => {
  it('reads a hosts-style file: NXDOMAIN for unknown names, each family its own addresses', async () => {
    const r = hostsResolver('# test\n192.0.2.1 a.test A2.test\nfd00::1 a.test\nnot-an-address b.test\n');
    expect(await r('A.TEST.', 4)).toEqual({ addrs: ['192.0.2.1'], ttl: 60 });
    expect(await r('a.test', 6)).toEqual({ addrs: ['fd00::1'], ttl: 60 });
    expect(await r('a2.test', 6)).toEqual({ addrs: [], ttl: 60 });
    expect(await r('b.test', 4)).toEqual({ nxdomain: true });
  });

  it("falls back to the host's name service (/etc/hosts) for names DNS does not know", async () => {
    const r = await hostResolver('localhost', 4);
    expect('addrs' in r && r.addrs).toContain('127.0.0.1');
  });

  it('takes the test file from TSJAIL_NET_ALLOW_HOSTS, and names a missing one', () => {
    expect(runResolver({}).source).toBe("the host's resolver");
    expect(() => runResolver({ TSJAIL_NET_ALLOW_HOSTS: '/nonexistent/hosts' })).toThrow("TSJAIL_NET_ALLOW_HOSTS: open('/nonexistent/hosts') failed: ENOENT");
  });
});

describe('hooks', () => {
  it('bounds the host lookups one jail has under way', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const resolve = async () => (await gate, { addrs: ['192.0.2.1'], ttl: 60 });
    const na = startNetAllow({ list: new AllowList(['*.test']), resolve, gateways: ['10.255.255.1'], report: () => {}, resolveFailed: () => {} });
    try {
      const q = (i: number) => na.answer(query(`n${i}.test`, TYPE_A, i), 512);
      const pending = Array.from({ length: MAX_LOOKUPS }, (_, i) => q(i));
      expect(rcode((await q(999))!)).toBe(RCODE.SERVFAIL);
      release();
      expect((await Promise.all(pending)).every((r) => rcode(r!) === RCODE.NOERROR)).toBe(true);
      expect(rcode((await q(1000))!)).toBe(RCODE.NOERROR);
    } finally {
      na.close();
    }
  });

  it('answers DNS for allowed names, records what it handed out and judges flows by it', async () => {
    const denied: Denial[] = [];
    const resolve = hostsResolver('192.0.2.10 web.test\nfd00::10 web.test\n169.254.169.254 web.test\n192.0.2.20 other.test\n');
    const na = await startNetAllow({ list: new AllowList(['web.test']), resolve, gateways: ['10.255.255.1', 'fc00::1'], report: (d) => denied.push(d), resolveFailed: () => {} });
    try {
      const a = (await na.hooks.udpToGateway({ src: '10.255.255.2', sport: 5000, dport: 53, data: query('web.test', TYPE_A) }))!;
      expect(answers(a)).toEqual([[TYPE_A, '192.0.2.10', 60]]);
      const aaaa = (await na.hooks.udpToGateway({ src: '10.255.255.2', sport: 5000, dport: 53, data: query('web.test', TYPE_AAAA) }))!;
      expect(answers(aaaa)).toEqual([[TYPE_AAAA, 'fd00:0:0:0:0:0:0:10', 60]]);
      const nx = (await na.hooks.udpToGateway({ src: '10.255.255.2', sport: 5000, dport: 53, data: query('other.test', TYPE_A) }))!;
      expect(rcode(nx)).toBe(RCODE.NXDOMAIN);
      expect(await na.hooks.udpToGateway({ src: '10.255.255.2', sport: 5000, dport: 123, data: Buffer.from('x') })).toBeNull();

      const flow = (dst: string, dport: number, first: string) => ({ src: '10.255.255.2', sport: 40000, dst, dport, peek: async (max: number) => Buffer.from(first).subarray(0, max) });
      expect(await na.hooks.tcpFlow(flow('192.0.2.10', 80, 'GET / HTTP/1.1\r\nHost: web.test\r\n\r\n'))).toEqual({ allow: true });
      expect(await na.hooks.tcpFlow(flow('fd00::10', 80, 'GET / HTTP/1.1\r\nHost: web.test\r\n\r\n'))).toEqual({ allow: true });
      expect((await na.hooks.tcpFlow(flow('192.0.2.20', 80, 'GET / HTTP/1.1\r\nHost: web.test\r\n\r\n'))).allow).toBe(false);
      expect((await na.hooks.tcpFlow(flow('192.0.2.10', 80, 'GET / HTTP/1.1\r\nHost: other.test\r\n\r\n'))).allow).toBe(false);
      const dnsTcp = await na.hooks.tcpFlow(flow('10.255.255.1', 53, ''));
      expect(dnsTcp).toMatchObject({ allow: true, dst: '127.0.0.1' });
      expect(na.hooks.datagramFlow!({ proto: 'udp', src: '10.255.255.2', sport: 1, dst: '192.0.2.10', dport: 443 }).allow).toBe(false);
      expect(denied.map((d) => `${d.proto} ${d.name} ${d.address}:${d.port}`)).toEqual([
        'dns web.test 169.254.169.254:53',
        'dns other.test 10.255.255.1:53',
        'udp - 10.255.255.1:123',
        'tcp - 192.0.2.20:80',
        'tcp other.test 192.0.2.10:80',
        'udp web.test 192.0.2.10:443',
      ]);
    } finally {
      na.close();
    }
  });
});

describe('option plumbing', () => {
  const parse = async (args: string[]) => (await parseCommandLine([...args, '--', '/bin/true'], async (spec, path) => void applyConfigFile(spec, path))).spec;
  const withConfig = async (text: string, fn: (args: string[]) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), 'net-allow-'));
    try {
      writeFileSync(join(dir, 'c.cfg'), text);
      await fn(['--config', join(dir, 'c.cfg')]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  };

  it('--net_allow is repeatable, turns user_net (NSTUN) on and points resolv.conf at the gateway', async () => {
    const spec = await parse(['--chroot', '/', '--net_allow', 'a.test', '--net_allow', 'b.test:8443']);
    expect(spec.cfg.ext.net_allow).toEqual(['a.test', 'b.test:8443']);
    expect(spec.cfg.user_net?.backend).toBe('NSTUN');
    expect(validateSpec(spec)).toEqual([]);
    const resolv = effectiveMounts(spec).filter((m) => m.dst === '/etc/resolv.conf');
    expect(resolv.map((m) => new TextDecoder().decode(m.src_content))).toEqual(['nameserver 10.255.255.1\nnameserver fc00::1\n']);
  });

  it('refuses bad entries, one line each', async () => {
    expect(validateSpec(await parse(['--net_allow', 'a..b', '--net_allow', 'c.test:http']))).toEqual([
      "net_allow 'a..b' has an empty label",
      "net_allow 'c.test:http' has port 'http', not a number from 1 to 65535",
    ]);
  });

  it('the config field needs user_net given, with the NSTUN backend', async () => {
    await withConfig('tsjail { net_allow: "a.test" }', async (args) => {
      expect(validateSpec(await parse(args))).toEqual(['net_allow needs user-mode networking: add user_net { } to the config (--net_allow on the command line turns it on)']);
    });
    await withConfig('user_net { backend: PASTA }\ntsjail { net_allow: "a.test" }', async (args) => {
      expect(validateSpec(await parse(args))).toEqual(["net_allow needs user_net's built-in NSTUN backend, not PASTA"]);
    });
    await withConfig('user_net { }\ntsjail { net_allow: "a.test" net_allow: "*.b.test:22" }', async (args) => {
      const spec = await parse(args);
      expect(validateSpec(spec)).toEqual([]);
      expect(spec.cfg.ext.net_allow).toEqual(['a.test', '*.b.test:22']);
    });
  });
});

describe('the net_allow feature', () => {
  it('gives each jail its own record of what it was handed out, and names the jail in each event', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'net-allow-'));
    writeFileSync(join(dir, 'hosts'), '192.0.2.10 web.test\n');
    const old = process.env.TSJAIL_NET_ALLOW_HOSTS;
    process.env.TSJAIL_NET_ALLOW_HOSTS = join(dir, 'hosts');
    const events: JailEvent[] = [];
    const p = { cfg: { user_net: { gw4: '10.255.255.1', gw6: 'fc00::1' }, ext: { net_allow: ['web.test'] } } } as unknown as Prepared;
    try {
      const run = await prepareNetAllow(p, { emit: (e) => events.push(e) });
      const [a, b] = [userNetHooksOf(p)!(101), userNetHooksOf(p)!(102)];
      await a.udpToGateway!({ src: '10.255.255.2', sport: 5000, dport: 53, data: query('web.test', TYPE_A) });
      const flow = { src: '10.255.255.2', sport: 40000, dst: '192.0.2.10', dport: 80, peek: async (max: number) => Buffer.from('GET / HTTP/1.1\r\nHost: web.test\r\n\r\n').subarray(0, max) };
      expect(await a.tcpFlow!(flow)).toEqual({ allow: true });
      expect((await b.tcpFlow!(flow)).allow).toBe(false);
      expect(events).toEqual([{ event: 'net_denied', pid: 102, proto: 'tcp', name: '-', address: '192.0.2.10', port: 80, reason: expect.any(String) }]);
      run.onExit!({ pid: 101 } as never);
      run.dispose!();
    } finally {
      if (old === undefined) delete process.env.TSJAIL_NET_ALLOW_HOSTS;
      else process.env.TSJAIL_NET_ALLOW_HOSTS = old;
      rmSync(dir, { recursive: true });
    }
  });
});
