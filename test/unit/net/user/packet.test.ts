import { describe, expect, it } from 'vitest';
import * as pk from '../../../../src/net/user/packet.js';
import { ipBytes } from '../../../../src/net/addr.js';

const b = (ip: string) => Buffer.from(ipBytes(ip)!.bytes);
const ip4 = b('10.255.255.2');
const ip6 = b('fc00::2');

describe('packets on the TUN device', () => {
  it('a crafted UDP packet parses back with valid checksums (v4 and v6)', () => {
    for (const [src, dst] of [[ip4, b('10.9.9.9')], [ip6, b('fd99::9')]] as const) {
      const raw = pk.buildUdp(src.length === 4 ? 4 : 6, src, dst, 5000, 53, Buffer.from('hello'));
      const r = pk.parsePacket(raw, ip4, ip6);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(pk.l4ChecksumOk(r.pkt)).toBe(true);
      expect(pk.parseUdp(r.pkt.l4)).toMatchObject({ sport: 5000, dport: 53, data: Buffer.from('hello') });
      const bad = Buffer.from(raw);
      bad[bad.length - 1]! ^= 1;
      const r2 = pk.parsePacket(bad, ip4, ip6);
      expect(r2.ok && pk.l4ChecksumOk(r2.pkt)).toBe(false);
    }
  });

  it("applies nsjail's checks, with its warnings", () => {
    const frag = pk.buildUdp(4, ip4, b('10.9.9.9'), 1, 2, Buffer.alloc(4));
    frag.writeUInt16BE(0x2000, 6);
    frag.writeUInt16BE(0, 10);
    frag.writeUInt16BE(pk.checksum(frag.subarray(0, 20)), 10);
    expect(pk.parsePacket(frag, ip4, ip6)).toEqual({ ok: false, warn: 'Dropping IPv4 fragment' });
    const sum = pk.buildUdp(4, ip4, b('10.9.9.9'), 1, 2, Buffer.alloc(4));
    sum[10]! ^= 0xff;
    expect(pk.parsePacket(sum, ip4, ip6)).toEqual({ ok: false, warn: 'Invalid IPv4 header checksum, dropping' });
    expect(pk.parsePacket(pk.buildUdp(4, b('10.0.0.9'), b('10.9.9.9'), 1, 2, Buffer.alloc(0)), ip4, ip6)).toEqual({ ok: false, warn: 'Dropping packet with invalid source IP' });
    expect(pk.parsePacket(pk.buildUdp(4, ip4, b('127.0.0.1'), 1, 2, Buffer.alloc(0)), ip4, ip6)).toEqual({ ok: false, warn: 'Dropping packet destined to loopback, ANY, or broadcast: 127.0.0.1' });
    expect(pk.parsePacket(pk.buildUdp(6, b('fd00::5'), b('fd99::9'), 1, 2, Buffer.alloc(0)), ip4, ip6)).toEqual({ ok: false, warn: 'Dropping IPv6 packet with spoofed source address: fd00::5' });
    expect(pk.parsePacket(pk.buildUdp(6, ip6, b('::1'), 1, 2, Buffer.alloc(0)), ip4, ip6).ok).toBe(false);
  });

  it('an echo reply and a port-unreachable carry valid ICMP checksums and quote the original', () => {
    const req = pk.buildIcmp(4, ip4, b('10.255.255.1'), 8, 0, Buffer.from([0x12, 0x34, 0, 1, 1, 2, 3]));
    const r = pk.parsePacket(req, ip4, ip6);
    expect(r.ok && pk.l4ChecksumOk(r.pkt)).toBe(true);
    if (!r.ok) return;
    const un = pk.buildUnreachable(r.pkt, r.pkt.dst, 3);
    const u = pk.parsePacket(un, b('10.255.255.1'), ip6);
    expect(u.ok && pk.l4ChecksumOk(u.pkt)).toBe(true);
    if (!u.ok) return;
    expect([u.pkt.l4[0], u.pkt.l4[1]]).toEqual([3, 3]);
    expect(u.pkt.l4.subarray(8).equals(req.subarray(0, 28))).toBe(true);
    const v6 = pk.buildIcmp(6, ip6, b('fc00::1'), 128, 0, Buffer.from([0, 1, 0, 1]));
    const r6 = pk.parsePacket(v6, ip4, ip6);
    expect(r6.ok && pk.l4ChecksumOk(r6.pkt)).toBe(true);
  });

  it('prints IPv6 addresses in their short form', () => {
    expect(pk.ipText(b('fc00::1'))).toBe('fc00::1');
    expect(pk.ipText(b('2001:db8:0:1::1'))).toBe('2001:db8:0:1::1');
    expect(pk.ipText(b('10.0.0.1'))).toBe('10.0.0.1');
  });
});
