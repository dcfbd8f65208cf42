/**
 * --net_allow as user_net hooks: tsjail answers the jail's DNS on the gateway
 * addresses (UDP through udpToGateway; TCP by sending the flow to a listener
 * of its own on the host's loopback), records the addresses it hands out,
 * and judges every TCP connection (guard.ts). Everything else the jail sends
 * — UDP other than DNS to the gateway, ICMP — is denied.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { UserNetHooks } from '../user/policy.js';
import { addressRecord, classify, encodeDecision, parseQuery, RCODE, TTL_CAP } from './dns.js';
import { AddressBook, addressKey, ANY_PEEK_MS, DenialReport, judgeTcp, peekSniff, specialAddress, WEB_PEEK_MS, type Denial } from './guard.js';
import type { AllowList } from './names.js';
import type { Resolve } from './resolver.js';

export interface NetAllowSetup {
  readonly list: AllowList;
  readonly resolve: Resolve;
  /** The gateway addresses the jail's resolv.conf names (gw4, gw6). */
  readonly gateways: readonly string[];
  /** Called once per (protocol, name, address, port) denied. */
  report(d: Denial): void;
  /** A resolution that failed on the host (answered SERVFAIL). */
  resolveFailed(name: string, error: string): void;
  now?: () => number;
}

export interface NetAllow {
  readonly hooks: Required<Pick<UserNetHooks, 'udpToGateway' | 'tcpFlow'>> & Pick<UserNetHooks, 'datagramFlow'>;
  readonly book: AddressBook;
  /** The DNS answer to one query (for a TCP stream, max 65535). */
  answer(query: Uint8Array, max: number): Promise<Uint8Array | null>;
  close(): void;
}

const DNS_PORT = 53;
/** DNS over TCP: a client idle this long is dropped; a message is at most 64 KiB by its length field. */
const TCP_IDLE_MS = 10_000;
/** Host resolutions one jail may have under way; a query beyond gets SERVFAIL (a flood cannot pile up lookups). */
export const MAX_LOOKUPS = 64;

/** One jail's allow-list state: its own address book, denial memory and DNS-over-TCP listener. */
export function startNetAllow(s: NetAllowSetup): NetAllow {
  const book = new AddressBook(s.now);
  const denials = new DenialReport(s.report);
  const gw = new Set(s.gateways.map((g) => addressKey(g)));
  const gwName = s.gateways[0] ?? 'gateway';
  let lookups = 0;

  async function answer(query: Uint8Array, max: number): Promise<Uint8Array | null> {
    const p = parseQuery(query);
    const c = classify(p, (n) => s.list.allowsName(n));
    if (!c) return null;
    if ('answer' in c) return encodeDecision(p, c.answer, max);
    if ('denied' in c) {
      denials.deny({ proto: 'dns', name: c.denied, address: gwName, port: DNS_PORT, reason: 'the name is not in the allow-list (answered NXDOMAIN)' });
      return encodeDecision(p, { rcode: RCODE.NXDOMAIN }, max);
    }
    const { name, family } = c.lookup;
    if (lookups >= MAX_LOOKUPS) return encodeDecision(p, { rcode: RCODE.SERVFAIL }, max);
    lookups++;
    const r = await s.resolve(name, family).finally(() => lookups--);
    if ('error' in r) {
      s.resolveFailed(name, r.error);
      return encodeDecision(p, { rcode: RCODE.SERVFAIL }, max);
    }
    if ('nxdomain' in r) return encodeDecision(p, { rcode: RCODE.NXDOMAIN }, max);
    const ttl = Math.min(r.ttl, TTL_CAP);
    const usable = r.addrs.filter((a) => {
      const why = specialAddress(a);
      if (why) denials.deny({ proto: 'dns', name, address: a, port: DNS_PORT, reason: `the name resolves to ${why}, which is never handed out` });
      return !why && addressRecord(a, 0);
    });
    const records = usable.map((a) => addressRecord(a, ttl)!);
    const reply = encodeDecision(p, { rcode: RCODE.NOERROR, records }, max);
    // Only the addresses that made it into the reply were handed out.
    const sent = reply ? (reply[6]! << 8) | reply[7]! : 0;
    book.record(name, usable.slice(0, sent), r.ttl);
    return reply;
  }

  const tcpDns = listenTcpDns(answer);

  const hooks: NetAllow['hooks'] = {
    async udpToGateway(pkt) {
      if (pkt.dport !== DNS_PORT) {
        denials.deny({ proto: 'udp', name: '-', address: gwName, port: pkt.dport, reason: 'UDP to the gateway other than DNS (port 53)' });
        return null;
      }
      const out = await answer(pkt.data, 512);
      return out && Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    },
    async tcpFlow(f) {
      if (gw.has(addressKey(f.dst)) && f.dport === DNS_PORT) {
        const a = await tcpDns.ready;
        return typeof a === 'object' && a ? { allow: true, dst: a.address, dport: a.port } : { allow: false, reason: `tsjail's DNS-over-TCP listener: ${a ?? 'gone'}` };
      }
      const names = book.namesFor(f.dst);
      const rules = names.map((n) => s.list.portRule(n, f.dport));
      // No peek where the address and port alone deny.
      const v = !rules.some(Boolean)
        ? judgeTcp(s.list, names, f.dport, { kind: 'other' })
        : judgeTcp(s.list, names, f.dport, await peekSniff(f.peek, rules.includes('any_protocol') ? ANY_PEEK_MS : WEB_PEEK_MS, s.now));
      if (v.allow) return { allow: true };
      denials.deny({ proto: 'tcp', name: v.name, address: f.dst, port: f.dport, reason: v.reason });
      return { allow: false, reason: v.reason };
    },
    datagramFlow(f) {
      const reason = f.proto === 'udp' ? 'UDP is not allowed with --net_allow (only DNS to the gateway)' : 'ICMP is not allowed with --net_allow';
      denials.deny({ proto: f.proto, name: book.namesFor(f.dst).join(',') || '-', address: f.dst, port: f.dport, reason });
      return { allow: false, reason };
    },
  };
  return { hooks, book, answer, close: () => tcpDns.server.close() };
}

/** DNS over TCP (RFC 1035 4.2.2: each message after its 2-byte length) on 127.0.0.1, for the flows sent here. */
function listenTcpDns(answer: (q: Uint8Array, max: number) => Promise<Uint8Array | null>): { server: Server; ready: Promise<AddressInfo | string | null> } {
  const server = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + q.length);
        // Replies in the order of the queries.
        chain = chain
          .then(async () => {
            const r = await answer(q, 65535);
            if (!r) return void sock.destroy();
            const len = Buffer.alloc(2);
            len.writeUInt16BE(r.length);
            if (!sock.destroyed) sock.write(Buffer.concat([len, r]));
          })
          .catch(() => void sock.destroy());
      }
    });
  });
  // A failure to listen shows when a jail first uses DNS over TCP (its flow is refused, naming the error).
  const ready = new Promise<AddressInfo | string | null>((res) => {
    server.once('error', (e) => res(`listen(127.0.0.1:0): ${e.message}`));
    server.listen(0, '127.0.0.1', () => res(server.address()));
  });
  server.unref();
  return { server, ready };
}
