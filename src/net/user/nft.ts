/**
 * The nf_tables ruleset that hands the jail's outgoing TCP to tsjail, built as
 * nfnetlink messages (no `nft` program): per family a table `tsjail` with a
 * chain `out` (type nat, hook output, priority -100) holding, in rule order,
 * one kernel rule per NstunRule that can match TCP, then a catch-all:
 *
 *   meta l4proto tcp oif <ns_iface> [ip saddr/daddr & mask == net] [th sport/dport range] → verdict
 *
 * with DROP → drop, REJECT → reject with tcp reset, anything else → redirect
 * to tsjail's listener port (tsjail then evaluates the same rules on the
 * accepted connection: rules.ts). First match wins in both. Only the first
 * packet of a connection passes a nat chain, so this costs nothing per packet.
 * Pure: the caller sends the batch on a NETLINK_NETFILTER socket.
 */
import { IPPROTO_TCP } from '../../linux/consts.js';
import type { Rule } from './rules.js';

// linux/netfilter/nfnetlink.h, nf_tables.h, netfilter.h
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_NEWRULE = 6;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;
const NLA_F_NESTED = 0x8000;
const NFTA_TABLE_NAME = 1;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_TYPE = 7;
const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
const NF_INET_LOCAL_OUT = 3;
const NF_IP_PRI_NAT_DST = -100;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const NFT_META_OIF = 5;
const NFT_META_L4PROTO = 16;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
const NFT_CMP_EQ = 0;
const NFT_RANGE_EQ = 0;
const NFT_REJECT_TCP_RST = 1;
const NF_DROP = 0;

export const TABLE = 'tsjail';
const CHAIN = 'out';

type Attr = { type: number; data: Buffer | Attr[] };

const pad4 = (n: number) => (n + 3) & ~3;

function encode(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const nested = Array.isArray(a.data);
    const body = nested ? encode(a.data as Attr[]) : (a.data as Buffer);
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + body.length, 0);
    h.writeUInt16LE(a.type | (nested ? NLA_F_NESTED : 0), 2);
    parts.push(h, body, Buffer.alloc(pad4(body.length) - body.length));
  }
  return Buffer.concat(parts);
}

const str = (type: number, s: string): Attr => ({ type, data: Buffer.from(`${s}\0`) });
const be32 = (type: number, v: number): Attr => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return { type, data: b };
};
const value = (type: number, data: Buffer): Attr => ({ type, data: [{ type: NFTA_DATA_VALUE, data }] });
const expr = (name: string, data: Attr[]): Attr => ({ type: NFTA_LIST_ELEM, data: [str(NFTA_EXPR_NAME, name), { type: NFTA_EXPR_DATA, data }] });

const meta = (key: number) => expr('meta', [be32(1 /* DREG */, NFT_REG_1), be32(2 /* KEY */, key)]);
const cmpEq = (data: Buffer) => expr('cmp', [be32(1 /* SREG */, NFT_REG_1), be32(2 /* OP */, NFT_CMP_EQ), value(3 /* DATA */, data)]);
const payload = (base: number, offset: number, len: number) =>
  expr('payload', [be32(1 /* DREG */, NFT_REG_1), be32(2 /* BASE */, base), be32(3 /* OFFSET */, offset), be32(4 /* LEN */, len)]);
const bitwise = (mask: Buffer) =>
  expr('bitwise', [be32(1 /* SREG */, NFT_REG_1), be32(2 /* DREG */, NFT_REG_1), be32(3 /* LEN */, mask.length), value(4 /* MASK */, mask), value(5 /* XOR */, Buffer.alloc(mask.length))]);
const range = (lo: number, hi: number) => {
  const b = (v: number) => {
    const x = Buffer.alloc(2);
    x.writeUInt16BE(v);
    return x;
  };
  return expr('range', [be32(1 /* SREG */, NFT_REG_1), be32(2 /* OP */, NFT_RANGE_EQ), value(3 /* FROM */, b(lo)), value(4 /* TO */, b(hi))]);
};

function maskOf(len: number, prefix: number): Buffer {
  const m = Buffer.alloc(len);
  for (let i = 0, bits = prefix; bits > 0; i++, bits -= 8) m[i] = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
  return m;
}

/** The expressions matching a rule's network, e.g. ip daddr 10.9.9.0/24. */
function addrMatch(family: 4 | 6, which: 'src' | 'dst', c: NonNullable<Rule['src']>): Attr[] {
  const len = family === 4 ? 4 : 16;
  const offset = family === 4 ? (which === 'src' ? 12 : 16) : which === 'src' ? 8 : 24;
  const out = [payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len)];
  const mask = maskOf(len, c.prefix);
  const net = Buffer.from(c.bytes);
  for (let i = 0; i < len; i++) net[i] = net[i]! & mask[i]!;
  if (c.prefix < len * 8) out.push(bitwise(mask));
  out.push(cmpEq(net));
  return out;
}

/** Every expression of one kernel rule: the match, then the verdict. */
export function ruleExprs(family: 4 | 6, oif: number, r: Rule | undefined, port: number): Attr[] {
  const ifidx = Buffer.alloc(4);
  ifidx.writeUInt32LE(oif); // meta oif is in host order
  const out: Attr[] = [meta(NFT_META_L4PROTO), cmpEq(Buffer.from([IPPROTO_TCP])), meta(NFT_META_OIF), cmpEq(ifidx)];
  if (r?.src) out.push(...addrMatch(family, 'src', r.src));
  if (r?.dst) out.push(...addrMatch(family, 'dst', r.dst));
  if (r?.sport) out.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2), range(r.sport[0], r.sport[1]));
  if (r?.dport) out.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2), range(r.dport[0], r.dport[1]));
  if (r?.action === 'DROP') {
    out.push(expr('immediate', [be32(1 /* DREG */, NFT_REG_VERDICT), { type: 2 /* DATA */, data: [{ type: NFTA_DATA_VERDICT, data: [be32(NFTA_VERDICT_CODE, NF_DROP)] }] }]));
  } else if (r?.action === 'REJECT') {
    out.push(expr('reject', [be32(1 /* TYPE */, NFT_REJECT_TCP_RST)]));
  } else {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(port);
    out.push(expr('immediate', [be32(1 /* DREG */, NFT_REG_1), value(2 /* DATA */, p)]), expr('redir', [be32(1 /* REG_PROTO_MIN */, NFT_REG_1)]));
  }
  return out;
}

/** The rules that can see TCP, in order (ICMP-only and UDP-only rules are tsjail's alone). */
export const tcpRules = (rules: readonly Rule[]) => rules.filter((r) => r.proto === 'ANY' || r.proto === 'TCP');

export interface NftFamily {
  readonly family: 4 | 6;
  readonly rules: readonly Rule[];
  /** tsjail's listener port in the jail (127.0.0.1 / ::1). */
  readonly port: number;
}

/** The whole batch, and the sequence numbers whose acknowledgements are to be awaited. */
export function buildBatch(oif: number, families: readonly NftFamily[], seq0: number): { msg: Buffer; seqs: number[]; what: Map<number, string> } {
  const parts: Buffer[] = [];
  const seqs: number[] = [];
  const what = new Map<number, string>();
  let seq = seq0;
  const push = (type: number, flags: number, nfFamily: number, resId: number, attrs: Attr[], label?: string) => {
    const body = encode(attrs);
    const h = Buffer.alloc(20);
    h.writeUInt32LE(20 + body.length, 0);
    h.writeUInt16LE(type, 4);
    h.writeUInt16LE(NLM_F_REQUEST | flags, 6);
    h.writeUInt32LE(seq, 8);
    h.writeUInt8(nfFamily, 16);
    h.writeUInt16BE(resId, 18);
    parts.push(h, body);
    if (label) {
      seqs.push(seq);
      what.set(seq, label);
    }
    seq++;
  };
  const nft = (m: number) => (NFNL_SUBSYS_NFTABLES << 8) | m;
  push(NFNL_MSG_BATCH_BEGIN, 0, 0, NFNL_SUBSYS_NFTABLES, []);
  for (const f of families) {
    const fam = f.family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
    const t = f.family === 4 ? 'ip' : 'ip6';
    push(nft(NFT_MSG_NEWTABLE), NLM_F_CREATE | NLM_F_ACK, fam, 0, [str(NFTA_TABLE_NAME, TABLE)], `NFT_MSG_NEWTABLE(${t} ${TABLE})`);
    push(nft(NFT_MSG_NEWCHAIN), NLM_F_CREATE | NLM_F_ACK, fam, 0, [
      str(NFTA_CHAIN_TABLE, TABLE),
      str(NFTA_CHAIN_NAME, CHAIN),
      { type: NFTA_CHAIN_HOOK, data: [be32(NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT), be32(NFTA_HOOK_PRIORITY, NF_IP_PRI_NAT_DST)] },
      str(NFTA_CHAIN_TYPE, 'nat'),
    ], `NFT_MSG_NEWCHAIN(${t} ${TABLE} ${CHAIN}: type nat hook output priority -100)`);
    const rules: (Rule | undefined)[] = [...tcpRules(f.rules), undefined];
    for (const r of rules) {
      push(nft(NFT_MSG_NEWRULE), NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, fam, 0, [
        str(NFTA_RULE_TABLE, TABLE),
        str(NFTA_RULE_CHAIN, CHAIN),
        { type: NFTA_RULE_EXPRESSIONS, data: ruleExprs(f.family, oif, r, f.port) },
      ], `NFT_MSG_NEWRULE(${t} ${TABLE} ${CHAIN}: ${r ? `${r.where} ${r.action}` : `tcp redirect to :${f.port}`})`);
    }
  }
  push(NFNL_MSG_BATCH_END, 0, 0, NFNL_SUBSYS_NFTABLES, []);
  return { msg: Buffer.concat(parts), seqs, what };
}
