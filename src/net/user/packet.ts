/**
 * IPv4/IPv6 packets on the jail's TUN device, for the traffic the kernel does
 * not hand to tsjail as connections (UDP, ICMP echo): parsed with nsjail's
 * checks (fragments, checksums, spoofed sources, loopback destinations) and
 * crafted back with correct checksums. Pure.
 */
import { ipText } from '../addr.js';

export { ipText };

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export interface Packet {
  readonly v: 4 | 6;
  readonly src: Buffer;
  readonly dst: Buffer;
  readonly proto: number;
  /** The transport header and payload. */
  readonly l4: Buffer;
  /** The whole packet (for ICMP errors quoting it). */
  readonly raw: Buffer;
}

export type ParseResult = { ok: true; pkt: Packet } | { ok: false; warn?: string; debug?: string };

function sum(b: Buffer, start = 0): number {
  let s = start;
  const n = b.length & ~1;
  for (let i = 0; i < n; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1]! << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

export const checksum = (b: Buffer, start = 0): number => ~fold(sum(b, start)) & 0xffff;

/** The pseudo-header sum of a transport checksum. */
function pseudo(src: Buffer, dst: Buffer, proto: number, len: number): number {
  return sum(src) + sum(dst) + proto + len;
}


const EXT_HEADERS = new Set([0, 43, 60, 51, 139, 140]);
const IPV6_FRAGMENT = 44;

export function parsePacket(b: Buffer, ip4: Buffer | undefined, ip6: Buffer | undefined): ParseResult {
  if (b.length < 1) return { ok: false };
  const v = b[0]! >> 4;
  if (v === 4) {
    if (b.length < 20) return { ok: false, debug: 'truncated IPv4 header' };
    const ihl = (b[0]! & 15) * 4;
    const tot = b.readUInt16BE(2);
    if (ihl < 20 || tot < ihl || tot > b.length) return { ok: false, debug: 'invalid IPv4 IHL or total length' };
    const frag = b.readUInt16BE(6);
    if (frag & 0x2000 || frag & 0x1fff) return { ok: false, warn: 'Dropping IPv4 fragment' };
    if (checksum(b.subarray(0, ihl)) !== 0) return { ok: false, warn: 'Invalid IPv4 header checksum, dropping' };
    const src = b.subarray(12, 16);
    const dst = b.subarray(16, 20);
    if (!(ip4 && src.equals(ip4)) && src.readUInt32BE(0) !== 0) return { ok: false, warn: 'Dropping packet with invalid source IP' };
    if (dst[0] === 127 || dst.readUInt32BE(0) === 0 || dst.readUInt32BE(0) === 0xffffffff) return { ok: false, warn: `Dropping packet destined to loopback, ANY, or broadcast: ${ipText(dst)}` };
    return { ok: true, pkt: { v: 4, src, dst, proto: b[9]!, l4: b.subarray(ihl, tot), raw: b.subarray(0, tot) } };
  }
  if (v === 6) {
    if (b.length < 40) return { ok: false, debug: 'truncated IPv6 header' };
    const plen = b.readUInt16BE(4);
    if (40 + plen > b.length) return { ok: false, debug: 'invalid IPv6 payload length' };
    const src = b.subarray(8, 24);
    const dst = b.subarray(24, 40);
    if (!(ip6 && src.equals(ip6))) {
      if (src[0] === 0xfe && (src[1]! & 0xc0) >= 0x80) return { ok: false, debug: `IPv6 packet from link-local or site-local ${ipText(src)}` };
      return { ok: false, warn: `Dropping IPv6 packet with spoofed source address: ${ipText(src)}` };
    }
    const d = dst;
    const allZeroTo = (n: number) => d.subarray(0, n).every((x) => x === 0);
    if ((allZeroTo(15) && d[15] === 1) || (allZeroTo(10) && d[10] === 0xff && d[11] === 0xff) || (allZeroTo(12) && !(d[12] === 0 && d[13] === 0 && d[14] === 0 && d[15]! <= 1)) || (d[0] === 0xfe && (d[1]! & 0xc0) >= 0x80)) {
      return { ok: false, debug: `IPv6 packet to ${ipText(d)} (loopback, v4-mapped, v4-compatible, link-local or site-local)` };
    }
    let next = b[6]!;
    let off = 40;
    const end = 40 + plen;
    for (let depth = 0; EXT_HEADERS.has(next); depth++) {
      if (depth >= 8 || off + 8 > end) return { ok: false, debug: 'IPv6 extension headers too deep or truncated' };
      const len = next === 51 ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
      next = b[off]!;
      off += len;
    }
    if (next === IPV6_FRAGMENT) return { ok: false, debug: 'IPv6 fragment' };
    if (off > end) return { ok: false, debug: 'IPv6 extension headers truncated' };
    return { ok: true, pkt: { v: 6, src, dst, proto: next, l4: b.subarray(off, end), raw: b.subarray(0, end) } };
  }
  return { ok: false, debug: `IP version ${v}` };
}

/** Is the transport checksum right? (UDP over IPv4 may leave it 0.) */
export function l4ChecksumOk(p: Packet): boolean {
  if (p.proto === PROTO_ICMP) return checksum(p.l4) === 0;
  if (p.proto === PROTO_UDP && p.v === 4 && p.l4.length >= 8 && p.l4.readUInt16BE(6) === 0) return true;
  return checksum(p.l4, pseudo(p.src, p.dst, p.proto, p.l4.length)) === 0;
}

export interface Udp {
  readonly sport: number;
  readonly dport: number;
  readonly data: Buffer;
}

export function parseUdp(l4: Buffer): Udp | undefined {
  if (l4.length < 8) return undefined;
  const len = l4.readUInt16BE(4);
  if (len < 8 || len > l4.length) return undefined;
  return { sport: l4.readUInt16BE(0), dport: l4.readUInt16BE(2), data: l4.subarray(8, len) };
}

function ipHeader(v: 4 | 6, src: Uint8Array, dst: Uint8Array, proto: number, l4len: number): Buffer {
  if (v === 4) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + l4len, 2);
    h.writeUInt16BE(0x4000, 6); // DF
    h[8] = 64;
    h[9] = proto;
    Buffer.from(src).copy(h, 12);
    Buffer.from(dst).copy(h, 16);
    h.writeUInt16BE(checksum(h), 10);
    return h;
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4len, 4);
  h[6] = proto;
  h[7] = 64;
  Buffer.from(src).copy(h, 8);
  Buffer.from(dst).copy(h, 24);
  return h;
}

export function buildUdp(v: 4 | 6, src: Uint8Array, dst: Uint8Array, sport: number, dport: number, data: Buffer): Buffer {
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  data.copy(u, 8);
  const c = checksum(u, pseudo(Buffer.from(src), Buffer.from(dst), PROTO_UDP, u.length));
  u.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return Buffer.concat([ipHeader(v, src, dst, PROTO_UDP, u.length), u]);
}

/** An ICMP or ICMPv6 message; `rest` is everything after the checksum field. */
export function buildIcmp(v: 4 | 6, src: Uint8Array, dst: Uint8Array, type: number, code: number, rest: Buffer): Buffer {
  const m = Buffer.alloc(4 + rest.length);
  m[0] = type;
  m[1] = code;
  rest.copy(m, 4);
  const proto = v === 4 ? PROTO_ICMP : PROTO_ICMPV6;
  m.writeUInt16BE(v === 4 ? checksum(m) : checksum(m, pseudo(Buffer.from(src), Buffer.from(dst), proto, m.length)), 2);
  return Buffer.concat([ipHeader(v, src, dst, proto, m.length), m]);
}

/** Destination unreachable quoting `orig` (v4 3/code with header + 8 bytes; v6 1/code, up to the minimum MTU). */
export function buildUnreachable(orig: Packet, from: Uint8Array, code: number): Buffer {
  const quote = orig.v === 4 ? orig.raw.subarray(0, Math.min(orig.raw.length, (orig.raw[0]! & 15) * 4 + 8)) : orig.raw.subarray(0, Math.min(orig.raw.length, 1280 - 48));
  return buildIcmp(orig.v, from, orig.src, orig.v === 4 ? 3 : 1, code, Buffer.concat([Buffer.alloc(4), quote]));
}

export const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
export const ECHO_REPLY = { 4: 0, 6: 129 } as const;
