/**
 * The DNS wire format, as much of it as tsjail's answering of the jail's
 * queries needs (RFC 1035): read a query's header and single question, write
 * a reply with A/AAAA records for the question's name. Pure and total: a
 * malformed datagram gives a FORMERR reply when its id can be read, nothing
 * otherwise.
 *
 * The reply names the question's name for every address, whatever chain of
 * CNAMEs the host's resolver followed: the program sees the name it asked
 * for and the final addresses, and tsjail records exactly those pairs.
 */
import { ipBytes } from '../addr.js';
import { canonicalName } from './names.js';

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
const CLASS_IN = 1;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

/** Largest reply over UDP without EDNS (RFC 1035 4.2.1); tsjail does not offer a larger one. */
export const UDP_MAX = 512;
/** Seconds a reply tells the program to keep an answer; shorter than most records', so tsjail's view stays current. */
export const TTL_CAP = 60;

export interface DnsQuery {
  readonly id: number;
  /** The header's flags word, to copy opcode and RD from. */
  readonly flags: number;
  readonly opcode: number;
  /** Canonical (lower case, no trailing dot); undefined when a label holds bytes no host name has. */
  readonly name?: string;
  readonly qtype: number;
  readonly qclass: number;
  /** The question as received (name, type, class), echoed in the reply with its letter case. */
  readonly question: Uint8Array;
}

export type Parsed = { readonly ok: true; readonly query: DnsQuery } | { readonly ok: false; readonly id?: number; readonly flags?: number };

const LABEL_BYTE = /^[A-Za-z0-9_-]+$/;

/** A query's header and its one question; {ok:false} with the id when a FORMERR can be sent, without when nothing should. */
export function parseQuery(b: Uint8Array): Parsed {
  if (b.length < 12) return { ok: false };
  const id = (b[0]! << 8) | b[1]!;
  const flags = (b[2]! << 8) | b[3]!;
  if (flags & 0x8000) return { ok: false }; // a response: never answer one
  const qd = (b[4]! << 8) | b[5]!;
  if (qd !== 1) return { ok: false, id, flags };
  const labels: string[] = [];
  let pos = 12;
  let valid = true;
  let total = 0;
  for (;;) {
    if (pos >= b.length) return { ok: false, id, flags };
    const len = b[pos]!;
    pos++;
    if (len === 0) break;
    if (len > 63) return { ok: false, id, flags }; // a compression pointer or a reserved label type
    if (pos + len > b.length) return { ok: false, id, flags };
    total += len + 1;
    if (total > 255) return { ok: false, id, flags };
    const label = String.fromCharCode(...b.subarray(pos, pos + len));
    if (!LABEL_BYTE.test(label)) valid = false;
    labels.push(label);
    pos += len;
  }
  if (pos + 4 > b.length) return { ok: false, id, flags };
  const qtype = (b[pos]! << 8) | b[pos + 1]!;
  const qclass = (b[pos + 2]! << 8) | b[pos + 3]!;
  const question = b.subarray(12, pos + 4);
  return {
    ok: true,
    query: { id, flags, opcode: (flags >> 11) & 0xf, ...(valid && labels.length ? { name: canonicalName(labels.join('.')) } : {}), qtype, qclass, question },
  };
}

export interface AddressRecord {
  readonly type: typeof TYPE_A | typeof TYPE_AAAA;
  /** 4 or 16 bytes. */
  readonly data: Uint8Array;
  readonly ttl: number;
}

/**
 * A reply: the query's id, opcode, RD and question, RA set, with `records`
 * (each naming the question by a pointer to it) as many as fit in `max` bytes.
 */
export function buildReply(id: number, flags: number, question: Uint8Array | undefined, rcode: Rcode, records: readonly AddressRecord[] = [], max = UDP_MAX): Uint8Array {
  const head = 12 + (question?.length ?? 0);
  const sized = question ? fitRecords(records, max - head) : [];
  const out = new Uint8Array(head + sized.reduce((n, r) => n + 12 + r.data.length, 0));
  const v = new DataView(out.buffer);
  v.setUint16(0, id);
  // QR, the query's opcode and RD, RA; AA is clear: tsjail relays the host's answers.
  v.setUint16(2, 0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 | rcode);
  v.setUint16(4, question ? 1 : 0);
  v.setUint16(6, sized.length);
  if (question) out.set(question, 12);
  let o = head;
  for (const r of sized) {
    v.setUint16(o, 0xc00c); // the question's name
    v.setUint16(o + 2, r.type);
    v.setUint16(o + 4, CLASS_IN);
    v.setUint32(o + 6, r.ttl >>> 0);
    v.setUint16(o + 10, r.data.length);
    out.set(r.data, o + 12);
    o += 12 + r.data.length;
  }
  return out;
}

/** The leading records that fit in `room` bytes. */
function fitRecords(records: readonly AddressRecord[], room: number): AddressRecord[] {
  const out: AddressRecord[] = [];
  for (const r of records) {
    const size = 12 + r.data.length;
    if (size > room) break;
    room -= size;
    out.push(r);
  }
  return out;
}

/** What the jail's resolver is told about one query, before the wire format. */
export type Decision =
  | { readonly rcode: Rcode; readonly records?: readonly AddressRecord[] }
  /** Stay silent (a response, or a datagram without even an id). */
  | null;

/** Which question this is: the kind of answer it gets, leaving only A/AAAA lookups of allowed names to the caller. */
export function classify(p: Parsed, allowed: (name: string) => boolean): { answer: Exclude<Decision, null> } | { lookup: { name: string; family: 4 | 6 } } | { denied: string } | null {
  if (!p.ok) return p.id === undefined ? null : { answer: { rcode: RCODE.FORMERR } };
  const q = p.query;
  if (q.opcode !== 0) return { answer: { rcode: RCODE.NOTIMP } };
  if (q.qclass !== CLASS_IN) return { answer: { rcode: RCODE.REFUSED } };
  if (q.name === undefined || !allowed(q.name)) return { denied: q.name ?? '<not a host name>' };
  if (q.qtype === TYPE_A) return { lookup: { name: q.name, family: 4 } };
  if (q.qtype === TYPE_AAAA) return { lookup: { name: q.name, family: 6 } };
  // MX, TXT, HTTPS, SVCB…: an allowed name has no such records as far as the jail is concerned.
  return { answer: { rcode: RCODE.NOERROR } };
}

/** The reply bytes for a parsed query and a decision (FORMERR for an unparsable one that has an id). */
export function encodeDecision(p: Parsed, d: Exclude<Decision, null>, max = UDP_MAX): Uint8Array | null {
  if (!p.ok) return p.id === undefined ? null : buildReply(p.id, p.flags ?? 0, undefined, d.rcode);
  return buildReply(p.query.id, p.query.flags, p.query.question, d.rcode, d.records ?? [], max);
}

/** The record for an IPv4 or IPv6 text address; undefined when it is neither. */
export function addressRecord(a: string, ttl: number): AddressRecord | undefined {
  const ip = ipBytes(a);
  return ip && { type: ip.family === 4 ? TYPE_A : TYPE_AAAA, data: ip.bytes, ttl };
}
