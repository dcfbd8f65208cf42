/**
 * Addresses as the network options spell them: IPv4 dotted quads, IPv6 text,
 * CIDR prefixes, netmasks and MAC addresses. Pure parsing to bytes, so that a
 * malformed value is refused by validation with the field's name, before any
 * clone, and the netlink client gets bytes it does not have to re-check.
 */
import { nodeNet } from '../lazy.js';

export type Family = 4 | 6;

export interface Cidr {
  readonly family: Family;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** As written back: `192.0.2.0/24`, `fd00::1` (a full-length prefix is left out). */
  readonly text: string;
}

export function ipv4Bytes(s: string): Uint8Array | undefined {
  if (!nodeNet().isIPv4(s)) return undefined;
  return Uint8Array.from(s.split('.').map(Number));
}

export function ipv6Bytes(s: string): Uint8Array | undefined {
  if (!nodeNet().isIPv6(s)) return undefined;
  let text = s;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4Bytes(v4[1]!)!;
    text = text.slice(0, v4.index) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function ipBytes(s: string): { family: Family; bytes: Uint8Array } | undefined {
  const v4 = ipv4Bytes(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = ipv6Bytes(s);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** `addr` or `addr/N`; undefined when malformed. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const ip = ipBytes(addr);
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  return { family: ip.family, bytes: ip.bytes, prefix, text: prefix === max ? addr : `${addr}/${prefix}` };
}

/** 255.255.255.0 → 24; undefined unless the ones are contiguous. */
export function netmaskPrefix(s: string): number | undefined {
  const b = ipv4Bytes(s);
  if (!b) return undefined;
  const n = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  // A contiguous mask is all ones followed by all zeros: its inverse plus one is a power of two.
  const inv = ~n >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined;
  return 32 - (inv === 0 ? 0 : 32 - Math.clz32(inv));
}

/** `ba:ad:ba:be:45:00` → 6 bytes; undefined when malformed. */
export function macBytes(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) return undefined;
  return Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));
}

/** The IPv4 broadcast address of addr/prefix (the kernel sets the same for an ioctl-configured address). */
export function ipv4Broadcast(addr: Uint8Array, prefix: number): Uint8Array {
  const n = ((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!) >>> 0;
  const host = prefix >= 32 ? 0 : 0xffffffff >>> prefix;
  const b = (n | host) >>> 0;
  return Uint8Array.from([b >>> 24, (b >>> 16) & 0xff, (b >>> 8) & 0xff, b & 0xff]);
}

/** Linux interface names: 1..15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
export function validIfName(s: string): boolean {
  return s.length > 0 && Buffer.byteLength(s) <= 15 && !/[/:\s]/.test(s) && s !== '.' && s !== '..';
}

/** The text of a 4- or 16-byte address; IPv6 with its longest run of zero groups (two or more) as "::". */
export function ipText(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push((((b[i]! << 8) | b[i + 1]!) >>> 0).toString(16));
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > len && j - i > 1) [best, len] = [i, j - i];
    i = j;
  }
  return best < 0 ? g.join(':') : `${g.slice(0, best).join(':')}::${g.slice(best + len).join(':')}`;
}
