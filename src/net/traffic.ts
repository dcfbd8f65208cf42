/**
 * traffic_rule: nsjail's TrafficRule fields, checked and rendered as one
 * nftables table for the jail's network namespace. Pure; the feature
 * (src/features/net.ts) loads the text with `nft -f -` inside the namespace.
 *
 * Why nftables and not policy-routing rules as nsjail: a routing rule can
 * only blackhole (connect() fails with EINVAL) or mark unreachable
 * (ENETUNREACH), and rules without a priority stack so that the last one is
 * looked at first. An nftables chain keeps the written order (first match
 * wins), REJECT answers a TCP SYN with a reset (ECONNREFUSED at once) and
 * other packets with ICMP port-unreachable, and DROP drops silently.
 *
 * What a rule sees, as nsjail's rules did: packets the jail sends and packets
 * it forwards, not those to its own addresses (nsjail's local routing table
 * is looked up before any traffic rule). So the output chain first accepts
 * whatever leaves through `lo`; `iif` of a sent packet is `lo`, so a rule with
 * another iif only applies to forwarded packets; `oif` matches the interface
 * the packet leaves through.
 */
import type { TrafficAction, TrafficProto, TrafficRule } from '../spec.js';
import { parseCidr, validIfName } from './addr.js';

/** The nftables table tsjail owns in the jail's namespace. */
export const NFT_TABLE = 'tsjail';

/** Every problem of one rule, each naming the field and its value. */
export function trafficRuleErrors(r: TrafficRule, at: string): string[] {
  const errors: string[] = [];
  const family = r.ip_family === 'IPV6' ? 6 : 4;
  for (const key of ['src_ip', 'dst_ip'] as const) {
    const v = r[key];
    if (v === undefined) continue;
    const c = parseCidr(v);
    if (!c) errors.push(`${at}.${key} '${v}' is not an IP address or CIDR prefix`);
    else if (c.family !== family) errors.push(`${at}.${key} '${v}' is IPv${c.family} but ip_family is ${r.ip_family}`);
  }
  for (const key of ['iif', 'oif'] as const) {
    const v = r[key];
    if (v !== undefined && !validIfName(v)) errors.push(`${at}.${key} '${v}' is not an interface name`);
  }
  if (r.proto === 'ICMP' && family === 6) errors.push(`${at}.proto ICMP with ip_family IPV6 matches nothing (use ICMPV6)`);
  if (r.proto === 'ICMPV6' && family === 4) errors.push(`${at}.proto ICMPV6 with ip_family IPV4 matches nothing (use ICMP)`);
  for (const [start, end] of [['sport', 'sport_end'], ['dport', 'dport_end']] as const) {
    const a = r[start];
    const b = r[end];
    for (const [k, v] of [[start, a], [end, b]] as const) if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 65535)) errors.push(`${at}.${k} ${v} is not a port (0-65535)`);
    if (b !== undefined && a === undefined) errors.push(`${at}.${end} ${b} without ${start}`);
    if (a !== undefined && b !== undefined && b < a) errors.push(`${at}.${start}..${end} ${a}-${b} is an inverted port range`);
    if ((a !== undefined || b !== undefined) && (r.proto === 'ICMP' || r.proto === 'ICMPV6')) errors.push(`${at}.${start} is set, but ${r.proto} has no ports`);
  }
  if (r.action === 'UNKNOWN_ACTION') errors.push(`${at}.action UNKNOWN_ACTION is not an action (DROP, REJECT or ALLOW)`);
  return errors;
}

const L4: Record<Exclude<TrafficProto, 'UNKNOWN_PROTO'>, string> = { TCP: 'tcp', UDP: 'udp', ICMP: 'icmp', ICMPV6: 'ipv6-icmp' };

/** The network address of a CIDR (nft refuses host bits under the mask). */
function network(v: string): string {
  const c = parseCidr(v)!;
  const full = c.family === 4 ? 32 : 128;
  if (c.prefix === full) return c.text;
  const b = Uint8Array.from(c.bytes);
  for (let bit = c.prefix; bit < full; bit++) b[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const text = c.family === 4 ? [...b].join('.') : ipv6Text(b);
  return `${text}/${c.prefix}`;
}

function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

const range = (a: number, b: number | undefined) => (b === undefined || b === a ? `${a}` : `${a}-${b}`);

/** The match part of one rule (no verdict); `forward` keeps iif, the output chain drops an `iif lo`. */
function matches(r: TrafficRule, chain: 'output' | 'forward'): string[] {
  const ip = r.ip_family === 'IPV6' ? 'ip6' : 'ip';
  const m = [`meta nfproto ${r.ip_family === 'IPV6' ? 'ipv6' : 'ipv4'}`];
  if (r.src_ip !== undefined) m.push(`${ip} saddr ${network(r.src_ip)}`);
  if (r.dst_ip !== undefined) m.push(`${ip} daddr ${network(r.dst_ip)}`);
  if (r.iif !== undefined && chain === 'forward') m.push(`iifname ${JSON.stringify(r.iif)}`);
  if (r.oif !== undefined) m.push(`oifname ${JSON.stringify(r.oif)}`);
  const ports = r.sport !== undefined || r.dport !== undefined;
  if (r.proto !== 'UNKNOWN_PROTO') m.push(`meta l4proto ${L4[r.proto]}`);
  else if (ports) m.push('meta l4proto { tcp, udp, udplite, sctp, dccp }');
  if (r.sport !== undefined) m.push(`th sport ${range(r.sport, r.sport_end)}`);
  if (r.dport !== undefined) m.push(`th dport ${range(r.dport, r.dport_end)}`);
  return m;
}

/** One rule's lines: REJECT of any protocol answers TCP with a reset and the rest with port-unreachable. */
function ruleLines(r: TrafficRule, chain: 'output' | 'forward'): string[] {
  const m = matches(r, chain).join(' ');
  switch (r.action) {
    case 'ALLOW':
      return [`${m} accept`];
    case 'DROP':
      return [`${m} drop`];
    case 'REJECT':
      if (r.proto === 'TCP') return [`${m} reject with tcp reset`];
      if (r.proto === 'UNKNOWN_PROTO') return [`${m} meta l4proto tcp reject with tcp reset`, `${m} reject`];
      return [`${m} reject`];
    default:
      throw new Error(`traffic rule action ${r.action} reached rendering`);
  }
}

/** The whole ruleset for `nft -f -`: the table is created fresh, rules in the order given. */
export function renderNftRuleset(rules: readonly TrafficRule[]): string {
  // A rule naming an input interface other than lo can only see forwarded packets.
  const outputRules = rules.filter((r) => r.iif === undefined || r.iif === 'lo');
  const chain = (name: 'output' | 'forward', list: readonly TrafficRule[], first: string[]) => [
    `  chain ${name} {`,
    // output runs before user_net's nat chain (priority -100), which hands the jail's TCP to tsjail
    // through lo: rules must see the destination and interface the program chose.
    `    type filter hook ${name} priority ${name === 'output' ? '-150' : 'filter'}; policy accept;`,
    ...first.map((l) => `    ${l}`),
    ...list.flatMap((r) => ruleLines(r, name)).map((l) => `    ${l}`),
    '  }',
  ];
  return [
    `table inet ${NFT_TABLE} {`,
    // Packets to the jail's own addresses leave through lo: nsjail's rules never saw them either.
    ...chain('output', outputRules, ['oifname "lo" accept']),
    ...chain('forward', rules, []),
    '}',
    '',
  ].join('\n');
}

const PROTO_WORDS: Record<string, TrafficProto> = { any: 'UNKNOWN_PROTO', tcp: 'TCP', udp: 'UDP', icmp: 'ICMP', icmpv6: 'ICMPV6' };
const ACTION_WORDS: Record<string, TrafficAction> = { drop: 'DROP', reject: 'REJECT', allow: 'ALLOW', accept: 'ALLOW' };
const FAMILY_WORDS: Record<string, TrafficRule['ip_family']> = { ipv4: 'IPV4', ipv6: 'IPV6', '4': 'IPV4', '6': 'IPV6' };

/**
 * The command-line form: `key=value` pairs separated by commas, keys as the
 * config fields (`proto=tcp,dport=80-85,action=reject`, `ip_family=ipv6,
 * dst_ip=fd00::/64,action=drop`). A port value `A-B` sets the range end too.
 * Throws Error with the text for a usage error.
 */
export function parseTrafficRuleFlag(v: string): TrafficRule {
  const r: { -readonly [K in keyof TrafficRule]: TrafficRule[K] } = { proto: 'UNKNOWN_PROTO', action: 'DROP', ip_family: 'IPV4' };
  const word = <T>(table: Record<string, T>, key: string, value: string): T => {
    const w = table[value.toLowerCase()];
    if (w === undefined) throw new Error(`--traffic_rule: ${key} '${value}' is not one of ${Object.keys(table).join(', ')}`);
    return w;
  };
  const num = (key: string, value: string): number => {
    if (!/^\d+$/.test(value)) throw new Error(`--traffic_rule: ${key} '${value}' is not a port number`);
    return Number(value);
  };
  for (const part of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new Error(`--traffic_rule: '${part}' is not key=value (keys: src_ip, dst_ip, iif, oif, proto, sport, dport, sport_end, dport_end, action, ip_family)`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    switch (key) {
      case 'src_ip':
      case 'dst_ip':
      case 'iif':
      case 'oif':
        r[key] = value;
        break;
      case 'proto':
        r.proto = word(PROTO_WORDS, key, value);
        break;
      case 'action':
        r.action = word(ACTION_WORDS, key, value);
        break;
      case 'ip_family':
        r.ip_family = word(FAMILY_WORDS, key, value);
        break;
      case 'sport':
      case 'dport': {
        const [a, b, extra] = value.split('-');
        if (extra !== undefined) throw new Error(`--traffic_rule: ${key} '${value}' is not a port or a range A-B`);
        r[key] = num(key, a ?? '');
        if (b !== undefined) r[`${key}_end`] = num(key, b);
        break;
      }
      case 'sport_end':
      case 'dport_end':
        r[key] = num(key, value);
        break;
      default:
        throw new Error(`--traffic_rule: unknown key '${key}' (keys: src_ip, dst_ip, iif, oif, proto, sport, dport, sport_end, dport_end, action, ip_family)`);
    }
  }
  return r;
}
