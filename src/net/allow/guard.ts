/**
 * The allow-list's state and decisions for one run: which addresses tsjail's
 * DNS handed out for which allowed names (and until when), the verdict on each
 * TCP connection from what its first bytes name, and the one-time report of
 * each denial. The verdicts are pure functions of that state; the clock and the
 * report are injected.
 */
import { ipBytes } from '../addr.js';
import { TTL_CAP } from './dns.js';
import { AllowList, canonicalName, type PortRule } from './names.js';
import { MAX_HELLO, sniff, type Sniffed } from './sniff.js';

/** How long after the last answer naming it an address stays reachable for its name: programs keep answers past their TTL. */
export const KEEP_MS = 10 * 60_000;
/** Addresses remembered at most; the oldest go first (a program resolving without end cannot grow tsjail). */
export const BOOK_MAX = 4096;
/** Web ports: how long a connection may take to send its ClientHello or request head. */
export const WEB_PEEK_MS = 10_000;
/** Explicit other ports: how long to wait for a client that speaks first to show TLS or HTTP (a server that speaks first waits this once). */
export const ANY_PEEK_MS = 500;

/** One denied attempt, as logged and reported on the status channel. */
export interface Denial {
  readonly proto: 'tcp' | 'udp' | 'icmp' | 'dns';
  /** The name involved ('-' when none is known: an address never handed out). */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly reason: string;
}

export type Verdict = { readonly allow: true; readonly name: string } | { readonly allow: false; readonly name: string; readonly reason: string };

/** One spelling per address (IPv4-mapped IPv6 as IPv4, IPv6 fully written out), undefined for a non-address. */
export function addressKey(a: string): string | undefined {
  const ip = ipBytes(a);
  if (!ip) return undefined;
  const b = ip.bytes;
  if (ip.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return Array.from(b.subarray(12)).join('.');
  if (ip.family === 4) return Array.from(b).join('.');
  return Array.from({ length: 8 }, (_, i) => ((b[i * 2]! << 8) | b[i * 2 + 1]!).toString(16)).join(':');
}

/** Ranges never handed out, whatever a name resolves to: reaching them would reach the host or its link, not the name. */
const SPECIAL: ReadonlyArray<[string, string]> = [
  ['0.0.0.0/8', 'an unspecified address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address (cloud metadata lives there)'],
  ['224.0.0.0/4', 'a multicast address'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['::/128', 'an unspecified address'],
  ['::1/128', 'a loopback address'],
  ['fe80::/10', 'a link-local address'],
  ['ff00::/8', 'a multicast address'],
];

/** Why this address is never handed out (undefined: it may be); IPv4-mapped IPv6 is judged as IPv4. */
export function specialAddress(a: string): string | undefined {
  const key = addressKey(a);
  const ip = key === undefined ? undefined : ipBytes(key);
  if (!ip) return 'not an address';
  for (const [cidr, why] of SPECIAL) {
    const [net, len] = cidr.split('/') as [string, string];
    const n = ipBytes(net)!;
    if (n.family !== ip.family) continue;
    let bits = Number(len);
    let i = 0;
    for (; bits >= 8; bits -= 8, i++) if (n.bytes[i] !== ip.bytes[i]) break;
    if (bits >= 8) continue;
    if (bits === 0 || ((n.bytes[i]! ^ ip.bytes[i]!) & (0xff << (8 - bits)) & 0xff) === 0) return why;
  }
  return undefined;
}

/** Addresses handed out per name, with expiry. */
export class AddressBook {
  /** address key → name → expiry (ms); a Map keeps insertion order, oldest first. */
  private readonly byAddr = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  record(name: string, addrs: readonly string[], ttlSeconds: number): void {
    const until = this.now() + Math.max(ttlSeconds, TTL_CAP) * 1000 + KEEP_MS;
    for (const a of addrs) {
      const k = addressKey(a);
      if (!k) continue;
      const names = this.byAddr.get(k) ?? new Map<string, number>();
      this.byAddr.delete(k); // re-inserted as the newest
      names.set(canonicalName(name), until);
      this.byAddr.set(k, names);
    }
    this.prune();
  }

  /** The names this address was handed out for that have not expired. */
  namesFor(addr: string): string[] {
    const k = addressKey(addr);
    const names = k === undefined ? undefined : this.byAddr.get(k);
    if (!names) return [];
    const t = this.now();
    return [...names].filter(([, until]) => until > t).map(([n]) => n);
  }

  get size(): number {
    return this.byAddr.size;
  }

  private prune(): void {
    const t = this.now();
    for (const [k, names] of this.byAddr) {
      for (const [n, until] of names) if (until <= t) names.delete(n);
      if (!names.size) this.byAddr.delete(k);
    }
    for (const k of this.byAddr.keys()) {
      if (this.byAddr.size <= BOOK_MAX) break;
      this.byAddr.delete(k);
    }
  }
}

/**
 * The verdict on a TCP connection to an address handed out for `candidates`
 * (its names), on `port`, from what its first bytes were. The name a TLS
 * ClientHello or HTTP request gives must be one of the candidates allowed on
 * that port; a connection that names nothing readable passes only where an
 * entry gave that port explicitly (and it is not 80 or 443).
 */
export function judgeTcp(list: AllowList, candidates: readonly string[], port: number, s: Sniffed): Verdict {
  if (!candidates.length) return { allow: false, name: '-', reason: "the address was not handed out by tsjail's DNS for an allowed name" };
  const rules = new Map<string, PortRule>();
  for (const n of candidates) {
    const r = list.portRule(n, port);
    if (r) rules.set(n, r);
  }
  const all = candidates.join(',');
  if (!rules.size) return { allow: false, name: all, reason: `port ${port} is not allowed for ${all}` };
  const named = (name: string | undefined, what: string): Verdict => {
    if (name === undefined) return { allow: false, name: all, reason: `${what} names no host` };
    if (rules.has(name)) return { allow: true, name };
    return { allow: false, name, reason: `${what} names '${name}', but the address was handed out for ${all}` };
  };
  switch (s.kind) {
    case 'tls':
      return named(s.sni, 'the TLS ClientHello (SNI)');
    case 'http':
      return named(s.host, 'the HTTP request (Host)');
    case 'malformed':
      return { allow: false, name: all, reason: `malformed: ${s.reason}` };
    case 'more':
    case 'other': {
      const open = [...rules].find(([, r]) => r === 'any_protocol');
      if (open) return { allow: true, name: open[0] };
      return { allow: false, name: all, reason: `neither a TLS ClientHello nor an HTTP request${s.kind === 'more' ? ' arrived complete' : ''}: port ${port} of ${all} is for HTTP and TLS (give NAME:PORT for another protocol)` };
    }
  }
}

/** A peek as user_net offers it: up to max bytes the program sent, fewer when the timeout passes first. */
export type Peek = (max: number, timeoutMs: number) => Promise<Buffer>;

/**
 * Reads as much of the connection's beginning as sniffing needs, no more:
 * each step asks for exactly the bytes the parser said it lacks, so a peek
 * never waits for bytes the program will not send before it hears back.
 */
export async function peekSniff(peek: Peek, timeoutMs: number, now: () => number = Date.now): Promise<Sniffed> {
  const deadline = now() + timeoutMs;
  let need = 1;
  for (;;) {
    const left = deadline - now();
    if (left <= 0) return { kind: 'more', need };
    const b = await peek(need, left);
    const s = sniff(b);
    if (b.length < need) return b.length === 0 ? { kind: 'other' } : s; // the timeout passed first
    if (s.kind !== 'more') return s;
    need = Math.max(s.need, b.length + 1);
    if (need > MAX_HELLO + 5 * 8) return { kind: 'malformed', reason: `more than ${MAX_HELLO} bytes before a decision` };
  }
}

/** Reports each denial once per (name, address, port); a bounded memory of what was reported. */
export class DenialReport {
  private readonly seen = new Set<string>();
  static readonly MAX = 10_000;

  constructor(private readonly report: (d: Denial) => void) {}

  deny(d: Denial): void {
    const key = `${d.proto}|${d.name}|${d.address}|${d.port}`;
    if (this.seen.has(key)) return;
    if (this.seen.size >= DenialReport.MAX) return;
    this.seen.add(key);
    this.report(d);
  }
}
