/**
 * nsjail's NstunRule (user_net rule4 / rule6): parsed and checked once, then
 * matched per flow. Pure. The same parsed rules drive both the evaluation
 * tsjail does in user space (UDP, ICMP, each accepted TCP connection) and the
 * nf_tables rules compiled for the jail's namespace (nft.ts), so the kernel's
 * DROP/REJECT of a TCP SYN and tsjail's verdict on the same flow agree.
 *
 * Semantics (nsjail's): rules are scanned in config order and the first match
 * wins; no match means ALLOW. An unset or all-zero address, and a port of 0,
 * match anything; `*_end` defaults to the start and is inclusive. ICMP has
 * ports 0, so a rule with ports never matches it.
 *
 * Stricter than nsjail, on purpose: a malformed address or range, an address
 * of the wrong family, or a REDIRECT/ENCAP without the target it needs is a
 * configuration error (nsjail logs some of these and goes on with "any").
 */
import type { UserNet } from '../../spec.js';
import { nodeNet } from '../../lazy.js';
import { parseCidr, type Cidr, type Family } from '../addr.js';

export type Proto = 'TCP' | 'UDP' | 'ICMP';
export type Action = 'DROP' | 'REJECT' | 'ALLOW' | 'REDIRECT' | 'ENCAP_SOCKS5' | 'ENCAP_CONNECT';

export interface Rule {
  /** `user_net.rule4[2]`, for messages. */
  readonly where: string;
  readonly family: Family;
  readonly action: Action;
  readonly proto: 'ANY' | Proto;
  readonly src?: Cidr;
  readonly dst?: Cidr;
  readonly sport?: readonly [number, number];
  readonly dport?: readonly [number, number];
  /** REDIRECT: the target (both set, or the original destination is kept for TCP/UDP); ENCAP_*: the proxy (IPv4). */
  readonly redirectIp?: string;
  readonly redirectPort?: number;
}

/** An inbound forward (HOST_TO_GUEST + REDIRECT): one host port → the guest. */
export interface Forward {
  readonly where: string;
  readonly family: Family;
  readonly proto: 'TCP' | 'UDP';
  /** Host bind address ('0.0.0.0' / '::' by default). */
  readonly bind: string;
  readonly port: number;
  /** Guest address (undefined: the jail's ip4/ip6) and port. */
  readonly guestIp?: string;
  readonly guestPort: number;
}

export interface ParsedRules {
  readonly rules4: readonly Rule[];
  readonly rules6: readonly Rule[];
  readonly forwards: readonly Forward[];
  /** Rules accepted but without effect (nsjail ignores them too): one line each. */
  readonly inert: readonly string[];
  readonly errors: readonly string[];
}

type RawRule = UserNet['rule4'][number];

function portRange(where: string, name: 'sport' | 'dport', start: number | undefined, end: number | undefined, errors: string[]): readonly [number, number] | undefined {
  const bad = (f: string, v: number) => errors.push(`${where}.${f} ${v} is not a port (0-65535)`);
  if (start !== undefined && start > 65535) bad(name, start);
  if (end !== undefined && end > 65535) bad(`${name}_end`, end);
  if (!start) {
    if (end) errors.push(`${where}.${name}_end ${end} needs ${name} (without it nsjail ignores the end and matches any port)`);
    return undefined;
  }
  const hi = end || start;
  if (hi < start) errors.push(`${where}.${name}_end ${hi} is below ${name} ${start}`);
  return [start, hi];
}

function network(where: string, field: string, v: string | undefined, family: Family, errors: string[]): Cidr | undefined {
  if (v === undefined || v === '') return undefined;
  const c = parseCidr(v);
  if (!c) {
    errors.push(`${where}.${field} '${v}' is not an IPv${family} address or network (a.b.c.d[/n]${family === 6 ? ', or addr[/n] for IPv6' : ''})`);
    return undefined;
  }
  if (c.family !== family) {
    errors.push(`${where}.${field} '${v}' is an IPv${c.family} address in a rule${family} rule`);
    return undefined;
  }
  // 0.0.0.0 and :: mean "any", whatever the prefix (nsjail's reading).
  return c.bytes.every((b) => b === 0) ? undefined : c;
}

function parseOne(raw: RawRule, where: string, family: Family, out: { rules: Rule[]; forwards: Forward[]; inert: string[]; errors: string[] }): void {
  const errors: string[] = [];
  const action = raw.action as Action;
  const proto = raw.proto as Rule['proto'];
  const sport = portRange(where, 'sport', raw.sport, raw.sport_end, errors);
  const dport = portRange(where, 'dport', raw.dport, raw.dport_end, errors);
  if (raw.redirect_port !== undefined && raw.redirect_port > 65535) errors.push(`${where}.redirect_port ${raw.redirect_port} is not a port (0-65535)`);
  const rip = raw.redirect_ip === undefined || raw.redirect_ip === '' ? undefined : raw.redirect_ip;
  const encap = action === 'ENCAP_SOCKS5' || action === 'ENCAP_CONNECT';
  // The proxy is always reached over IPv4 (as nsjail); a redirect keeps the rule's family.
  const ripFamily: Family = encap ? 4 : family;
  if (rip !== undefined && !(ripFamily === 4 ? nodeNet().isIPv4(rip) : nodeNet().isIPv6(rip))) errors.push(`${where}.redirect_ip '${rip}' is not an IPv${ripFamily} address${encap ? ' (the proxy is reached over IPv4)' : ''}`);

  if (raw.direction === 'HOST_TO_GUEST') {
    if (action !== 'REDIRECT') {
      out.inert.push(`${where}: a HOST_TO_GUEST rule does something only with action REDIRECT (this one is ${action}): it has no effect`);
      out.errors.push(...errors);
      return;
    }
    if (proto !== 'TCP' && proto !== 'UDP') errors.push(`${where}: HOST_TO_GUEST REDIRECT only supported for TCP/UDP (proto is ${proto})`);
    if (!raw.dport) errors.push(`${where}: HOST_TO_GUEST REDIRECT requires 'dport' to be specified`);
    if (raw.src_ip && !parseCidr(raw.src_ip)) errors.push(`${where}.src_ip '${raw.src_ip}' is not an IPv${family} address (the host address to listen on)`);
    else if (raw.src_ip && parseCidr(raw.src_ip)!.family !== family) errors.push(`${where}.src_ip '${raw.src_ip}' is an IPv${parseCidr(raw.src_ip)!.family} address in a rule${family} rule`);
    if (raw.dst_ip) out.inert.push(`${where}.dst_ip has no effect on a HOST_TO_GUEST rule`);
    if (sport) out.inert.push(`${where}.sport has no effect on a HOST_TO_GUEST rule`);
    out.errors.push(...errors);
    if (errors.length || !dport) return;
    const bind = raw.src_ip ? parseCidr(raw.src_ip)!.text.split('/')[0]! : family === 4 ? '0.0.0.0' : '::';
    for (let p = dport[0]; p <= dport[1]; p++) {
      out.forwards.push({ where, family, proto: proto as 'TCP' | 'UDP', bind, port: p, guestIp: rip, guestPort: raw.redirect_port || p });
    }
    return;
  }

  if (encap && proto === 'ICMP') errors.push(`${where}: Proxy encapsulation is not supported for ICMP/ICMPv6 (action ${action}, proto ICMP)`);
  if (encap && (rip === undefined || !raw.redirect_port)) errors.push(`${where}: ${action} needs the proxy's redirect_ip and redirect_port`);
  if (action === 'REDIRECT') {
    if (rip === undefined) errors.push(`${where}: REDIRECT needs redirect_ip (the target${proto === 'ICMP' ? '' : ', with redirect_port'})`);
    else if (!raw.redirect_port && proto !== 'ICMP') errors.push(`${where}: REDIRECT of ${proto} needs redirect_port as well as redirect_ip (nsjail would keep the original destination)`);
  }
  const src = network(where, 'src_ip', raw.src_ip, family, errors);
  const dst = network(where, 'dst_ip', raw.dst_ip, family, errors);
  if (proto === 'ICMP' && (sport || dport)) out.inert.push(`${where}: an ICMP rule with ports never matches (ICMP has no ports)`);
  out.errors.push(...errors);
  if (errors.length) return;
  out.rules.push({ where, family, action, proto, src, dst, sport, dport, redirectIp: rip, redirectPort: raw.redirect_port || undefined });
}

export function parseRules(u: UserNet): ParsedRules {
  const out4 = { rules: [] as Rule[], forwards: [] as Forward[], inert: [] as string[], errors: [] as string[] };
  const out6 = { rules: [] as Rule[], forwards: out4.forwards, inert: out4.inert, errors: out4.errors };
  u.rule4.forEach((r, i) => parseOne(r, `user_net.rule4[${i}]`, 4, out4));
  u.rule6.forEach((r, i) => parseOne(r, `user_net.rule6[${i}]`, 6, out6));
  const seen = new Map<string, string>();
  for (const f of out4.forwards) {
    const key = `${f.proto} ${f.bind} ${f.port}`;
    const prev = seen.get(key);
    if (prev) out4.errors.push(`${f.where}: host ${f.proto} port ${f.port} on ${f.bind} is already forwarded by ${prev}`);
    else seen.set(key, f.where);
  }
  return { rules4: out4.rules, rules6: out6.rules, forwards: out4.forwards, inert: out4.inert, errors: out4.errors };
}

/** One flow (or packet) as rules see it: addresses as bytes, ports 0 for ICMP. */
export interface FlowKey {
  readonly proto: Proto;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly sport: number;
  readonly dport: number;
}

export function inCidr(c: Cidr, a: Uint8Array): boolean {
  if (a.length !== c.bytes.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

const inRange = (r: readonly [number, number] | undefined, p: number) => !r || (p >= r[0] && p <= r[1]);

export function ruleMatches(r: Rule, k: FlowKey): boolean {
  return (r.proto === 'ANY' || r.proto === k.proto) && (!r.src || inCidr(r.src, k.src)) && (!r.dst || inCidr(r.dst, k.dst)) && inRange(r.sport, k.sport) && inRange(r.dport, k.dport);
}

/** The first matching rule, or undefined (ALLOW). */
export function firstMatch(rules: readonly Rule[], k: FlowKey): Rule | undefined {
  return rules.find((r) => ruleMatches(r, k));
}

/** Where a flow goes on the host: the destination itself, a redirect target, or through a proxy. */
export type Verdict =
  | { readonly kind: 'drop'; readonly rule: Rule }
  | { readonly kind: 'reject'; readonly rule: Rule }
  | { readonly kind: 'direct'; readonly ip: string; readonly port: number; readonly rule?: Rule; readonly redirected: boolean }
  | { readonly kind: 'socks5'; readonly proxyIp: string; readonly proxyPort: number; readonly rule: Rule }
  | { readonly kind: 'connect'; readonly proxyIp: string; readonly proxyPort: number; readonly rule: Rule };

export function verdict(rules: readonly Rule[], k: FlowKey, dstText: string): Verdict {
  const r = firstMatch(rules, k);
  if (!r || r.action === 'ALLOW') return { kind: 'direct', ip: dstText, port: k.dport, rule: r, redirected: false };
  switch (r.action) {
    case 'DROP':
      return { kind: 'drop', rule: r };
    case 'REJECT':
      return { kind: 'reject', rule: r };
    case 'REDIRECT':
      if (k.proto === 'ICMP') return { kind: 'direct', ip: r.redirectIp ?? dstText, port: 0, rule: r, redirected: r.redirectIp !== undefined };
      if (r.redirectIp !== undefined && r.redirectPort) return { kind: 'direct', ip: r.redirectIp, port: r.redirectPort, rule: r, redirected: true };
      return { kind: 'direct', ip: dstText, port: k.dport, rule: r, redirected: false };
    case 'ENCAP_SOCKS5':
    case 'ENCAP_CONNECT':
      // An echo under a proxy rule (proto ANY) is pinged to the proxy's address, as nsjail does.
      if (k.proto === 'ICMP') return { kind: 'direct', ip: r.redirectIp!, port: 0, rule: r, redirected: true };
      return { kind: r.action === 'ENCAP_SOCKS5' ? 'socks5' : 'connect', proxyIp: r.redirectIp!, proxyPort: r.redirectPort!, rule: r } as Verdict;
  }
}
