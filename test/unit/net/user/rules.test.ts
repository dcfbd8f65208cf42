import { describe, expect, it } from 'vitest';
import { parseRules, verdict, type FlowKey } from '../../../../src/net/user/rules.js';
import { buildBatch, ruleExprs, tcpRules } from '../../../../src/net/user/nft.js';
import { defaultUserNet, type UserNet } from '../../../../src/spec.js';
import { ipBytes } from '../../../../src/net/addr.js';

type Raw = UserNet['rule4'][number];
const rule = (r: Partial<Raw>): Raw => ({ action: 'ALLOW', proto: 'ANY', direction: 'GUEST_TO_HOST', ...r });
const net = (rule4: Partial<Raw>[], rule6: Partial<Raw>[] = []) => parseRules({ ...defaultUserNet(), rule4: rule4.map(rule), rule6: rule6.map(rule) });
const key = (proto: FlowKey['proto'], dst: string, dport: number, src = '10.255.255.2', sport = 40000): FlowKey => ({ proto, src: ipBytes(src)!.bytes, dst: ipBytes(dst)!.bytes, sport, dport });

describe('NstunRule parsing', () => {
  it('reports every problem, one line each, naming the rule and field', () => {
    const p = net(
      [
        { dst_ip: '10.0.0.0/33' },
        { src_ip: 'fd00::1' },
        { dport: 90, dport_end: 80 },
        { sport: 70000 },
        { action: 'REDIRECT', proto: 'TCP' },
        { action: 'ENCAP_SOCKS5', proto: 'ICMP', redirect_ip: '127.0.0.1', redirect_port: 1080 },
        { direction: 'HOST_TO_GUEST', action: 'REDIRECT', proto: 'TCP' },
        { direction: 'HOST_TO_GUEST', action: 'REDIRECT', proto: 'ANY', dport: 5 },
      ],
      [{ action: 'ENCAP_CONNECT', redirect_ip: '::1', redirect_port: 3128 }],
    );
    expect(p.errors).toEqual([
      "user_net.rule4[0].dst_ip '10.0.0.0/33' is not an IPv4 address or network (a.b.c.d[/n])",
      "user_net.rule4[1].src_ip 'fd00::1' is an IPv6 address in a rule4 rule",
      'user_net.rule4[2].dport_end 80 is below dport 90',
      'user_net.rule4[3].sport 70000 is not a port (0-65535)',
      'user_net.rule4[4]: REDIRECT needs redirect_ip (the target, with redirect_port)',
      'user_net.rule4[5]: Proxy encapsulation is not supported for ICMP/ICMPv6 (action ENCAP_SOCKS5, proto ICMP)',
      "user_net.rule4[6]: HOST_TO_GUEST REDIRECT requires 'dport' to be specified",
      'user_net.rule4[7]: HOST_TO_GUEST REDIRECT only supported for TCP/UDP (proto is ANY)',
      "user_net.rule6[0].redirect_ip '::1' is not an IPv4 address (the proxy is reached over IPv4)",
    ]);
  });

  it('turns HOST_TO_GUEST REDIRECT into one forward per port, with nsjail defaults', () => {
    const p = net([{ direction: 'HOST_TO_GUEST', action: 'REDIRECT', proto: 'TCP', dport: 8080, dport_end: 8081, redirect_port: 8000 }, { direction: 'HOST_TO_GUEST', action: 'DROP', proto: 'TCP', dport: 1 }], [{ direction: 'HOST_TO_GUEST', action: 'REDIRECT', proto: 'UDP', dport: 53 }]);
    expect(p.errors).toEqual([]);
    expect(p.forwards.map((f) => `${f.proto} ${f.bind} ${f.port} -> ${f.guestIp ?? 'guest'}:${f.guestPort}`)).toEqual(['TCP 0.0.0.0 8080 -> guest:8000', 'TCP 0.0.0.0 8081 -> guest:8000', 'UDP :: 53 -> guest:53']);
    expect(p.inert).toEqual(['user_net.rule4[1]: a HOST_TO_GUEST rule does something only with action REDIRECT (this one is DROP): it has no effect']);
  });

  it("nsjail's configs parse cleanly", () => {
    expect(net([{ proto: 'ICMP', action: 'REDIRECT', redirect_ip: '127.0.0.2' }, { proto: 'TCP', action: 'ENCAP_SOCKS5', redirect_ip: '127.0.0.1', redirect_port: 1080 }], [{ proto: 'UDP', action: 'ENCAP_SOCKS5', redirect_ip: '127.0.0.1', redirect_port: 1080 }]).errors).toEqual([]);
  });
});

describe('NstunRule evaluation: first match wins, no match allows', () => {
  const p = net([
    { proto: 'TCP', dst_ip: '10.8.8.1', dport: 80, action: 'ALLOW' },
    { proto: 'TCP', dst_ip: '10.8.8.0/24', action: 'REJECT' },
    { proto: 'UDP', dport: 1000, dport_end: 2000, action: 'DROP' },
    { dst_ip: '10.9.9.0/24', action: 'REDIRECT', redirect_ip: '127.0.0.1', redirect_port: 7 },
    { proto: 'ICMP', action: 'REDIRECT', redirect_ip: '127.0.0.2' },
    { proto: 'TCP', dst_ip: '10.1.0.0/16', action: 'ENCAP_SOCKS5', redirect_ip: '127.0.0.1', redirect_port: 1080 },
    { dst_ip: '0.0.0.0/0', sport: 5, action: 'DROP' },
  ]);
  const k = (proto: FlowKey['proto'], dst: string, dport: number, sport?: number) => verdict(p.rules4, key(proto, dst, dport, undefined, sport), dst);
  it.each([
    ['TCP', '10.8.8.1', 80, { kind: 'direct', ip: '10.8.8.1', port: 80, redirected: false }],
    ['TCP', '10.8.8.1', 81, { kind: 'reject' }],
    ['UDP', '10.8.8.1', 1500, { kind: 'drop' }],
    ['UDP', '10.8.8.1', 2001, { kind: 'direct', ip: '10.8.8.1', port: 2001 }],
    ['UDP', '10.9.9.9', 53, { kind: 'direct', ip: '127.0.0.1', port: 7, redirected: true }],
    ['ICMP', '8.8.8.8', 0, { kind: 'direct', ip: '127.0.0.2', port: 0, redirected: true }],
    ['TCP', '10.1.2.3', 443, { kind: 'socks5', proxyIp: '127.0.0.1', proxyPort: 1080 }],
  ] as const)('%s %s:%d', (proto, dst, dport, want) => {
    expect(k(proto, dst, dport)).toMatchObject(want);
  });
  it('source ports and a /0 network match as nsjail reads them (0.0.0.0 is any)', () => {
    expect(k('TCP', '192.0.2.1', 80, 5)).toMatchObject({ kind: 'drop' });
    expect(k('TCP', '192.0.2.1', 80, 6)).toMatchObject({ kind: 'direct', redirected: false });
  });
});

describe('the nf_tables batch for TCP', () => {
  const p = net([{ proto: 'UDP', action: 'DROP' }, { proto: 'TCP', dst_ip: '10.0.0.0/8', dport: 80, dport_end: 90, action: 'REJECT' }, { action: 'DROP', dst_ip: '192.0.2.1' }]);
  it('keeps the rules that can see TCP, in order, and ends with the catch-all redirect', () => {
    expect(tcpRules(p.rules4).map((r) => r.where)).toEqual(['user_net.rule4[1]', 'user_net.rule4[2]']);
    const b = buildBatch(2, [{ family: 4, rules: p.rules4, port: 4242 }], 1);
    expect([...b.what.values()]).toEqual([
      'NFT_MSG_NEWTABLE(ip tsjail)',
      'NFT_MSG_NEWCHAIN(ip tsjail out: type nat hook output priority -100)',
      'NFT_MSG_NEWRULE(ip tsjail out: user_net.rule4[1] REJECT)',
      'NFT_MSG_NEWRULE(ip tsjail out: user_net.rule4[2] DROP)',
      'NFT_MSG_NEWRULE(ip tsjail out: tcp redirect to :4242)',
    ]);
    // batch begin + 5 acknowledged messages + batch end, each a whole netlink message
    let at = 0;
    let count = 0;
    while (at < b.msg.length) {
      at += b.msg.readUInt32LE(at);
      count++;
    }
    expect(at).toBe(b.msg.length);
    expect(count).toBe(7);
  });
  it('a rule is matched on l4proto, oif, masked network and port range before its verdict', () => {
    const names = (e: ReturnType<typeof ruleExprs>) => e.map((x) => ((x.data as { data: Buffer }[])[0]!.data as Buffer).toString().replace(/\0$/, ''));
    expect(names(ruleExprs(4, 2, p.rules4[1], 4242))).toEqual(['meta', 'cmp', 'meta', 'cmp', 'payload', 'bitwise', 'cmp', 'payload', 'range', 'reject']);
    expect(names(ruleExprs(4, 2, p.rules4[2], 4242))).toEqual(['meta', 'cmp', 'meta', 'cmp', 'payload', 'cmp', 'immediate']);
    expect(names(ruleExprs(6, 2, undefined, 4242))).toEqual(['meta', 'cmp', 'meta', 'cmp', 'immediate', 'redir']);
  });
});
