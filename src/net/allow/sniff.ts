/**
 * What the first bytes of a TCP connection say about the name it is for: the
 * server_name (SNI) of a TLS ClientHello, or the Host header of an HTTP/1.x
 * request. Pure and total: any input, truncated or hostile, gives a result,
 * never an exception or a read out of bounds.
 *
 * Each function tells how many bytes it needs when the input is a valid
 * prefix, so the caller can peek exactly that many more.
 */
import { canonicalName } from './names.js';

export type Sniffed =
  /** A complete ClientHello; sni undefined when it has no server_name. */
  | { readonly kind: 'tls'; readonly sni?: string }
  /** An HTTP/1.x request whose Host header (port removed) is known; undefined when it has none. */
  | { readonly kind: 'http'; readonly host?: string }
  /** A valid beginning: at least `need` bytes in all are needed to decide. */
  | { readonly kind: 'more'; readonly need: number }
  /** TLS or HTTP, but broken (the reason says how). */
  | { readonly kind: 'malformed'; readonly reason: string }
  /** Neither TLS nor HTTP (or nothing was sent). */
  | { readonly kind: 'other' };

/** Largest ClientHello accepted (handshake message, all records); real ones are a few KiB. */
export const MAX_HELLO = 64 * 1024;
/** Largest HTTP request head looked at before giving up on finding Host. */
export const MAX_HTTP_HEAD = 16 * 1024;

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const HOST_NAME = 0;

/** A bounds-checked reader over a byte range; every read past the end sets `short`. */
class Reader {
  short = false;
  constructor(
    private readonly b: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {}
  left(): number {
    return this.end - this.pos;
  }
  u8(): number {
    if (this.pos + 1 > this.end) return this.fail();
    return this.b[this.pos++]!;
  }
  u16(): number {
    if (this.pos + 2 > this.end) return this.fail();
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u24(): number {
    if (this.pos + 3 > this.end) return this.fail();
    const v = (this.b[this.pos]! << 16) | (this.b[this.pos + 1]! << 8) | this.b[this.pos + 2]!;
    this.pos += 3;
    return v;
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) {
      this.fail();
      return new Uint8Array(0);
    }
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  private fail(): number {
    this.short = true;
    this.pos = this.end;
    return 0;
  }
}

/**
 * The handshake bytes carried by the leading TLS handshake records, joined
 * (a ClientHello may be split over several records), or what is missing.
 */
function handshakeBytes(b: Uint8Array): { data: Uint8Array } | Sniffed {
  const parts: Uint8Array[] = [];
  let have = 0;
  let pos = 0;
  let want = 4; // the handshake header first, then its full length
  while (have < want) {
    if (b.length < pos + 5) return { kind: 'more', need: pos + 5 };
    if (b[pos] !== HANDSHAKE) return { kind: 'malformed', reason: `TLS record type ${b[pos]} before the ClientHello was complete` };
    if (b[pos + 1] !== 3) return { kind: 'malformed', reason: 'TLS record version is not 3.x' };
    const len = (b[pos + 3]! << 8) | b[pos + 4]!;
    if (len === 0 || len > 16384 + 2048) return { kind: 'malformed', reason: `TLS record length ${len}` };
    if (b.length < pos + 5 + len) return { kind: 'more', need: pos + 5 + len };
    parts.push(b.subarray(pos + 5, pos + 5 + len));
    have += len;
    pos += 5 + len;
    if (want === 4 && have >= 4) {
      const head = concat(parts, 4);
      if (head[0] !== CLIENT_HELLO) return { kind: 'malformed', reason: `TLS handshake type ${head[0]}, not ClientHello` };
      want = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!);
      if (want > MAX_HELLO) return { kind: 'malformed', reason: `ClientHello of ${want} bytes` };
    }
  }
  return { data: concat(parts, want) };
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    if (o >= n) break;
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
  }
  return out;
}

const ascii = (b: Uint8Array) => String.fromCharCode(...b);

/** The server_name of a TLS ClientHello at the start of `b` (b[0] must be 0x16 for this to be TLS). */
export function sniffTls(b: Uint8Array): Sniffed {
  const hs = handshakeBytes(b);
  if (!('data' in hs)) return hs;
  const d = hs.data;
  const r = new Reader(d, 4, d.length);
  r.u16(); // legacy_version
  r.bytes(32); // random
  const sid = r.u8();
  if (sid > 32) return { kind: 'malformed', reason: `session id of ${sid} bytes` };
  r.bytes(sid);
  const suites = r.u16();
  if (suites < 2 || suites % 2) return { kind: 'malformed', reason: `cipher suites of ${suites} bytes` };
  r.bytes(suites);
  const comp = r.u8();
  if (comp < 1) return { kind: 'malformed', reason: 'no compression methods' };
  r.bytes(comp);
  if (r.short) return { kind: 'malformed', reason: 'ClientHello shorter than its fields' };
  if (r.left() === 0) return { kind: 'tls' }; // no extensions at all
  const extLen = r.u16();
  if (r.short || extLen !== r.left()) return { kind: 'malformed', reason: 'extensions length does not match the ClientHello' };
  let sni: string | undefined;
  const seen = new Set<number>();
  while (r.left() > 0) {
    const type = r.u16();
    const len = r.u16();
    const body = r.bytes(len);
    if (r.short) return { kind: 'malformed', reason: 'extension runs past the ClientHello' };
    if (seen.has(type)) return { kind: 'malformed', reason: `extension ${type} appears twice` };
    seen.add(type);
    if (type !== EXT_SERVER_NAME) continue;
    const e = new Reader(body, 0, body.length);
    const listLen = e.u16();
    if (e.short || listLen !== e.left() || listLen === 0) return { kind: 'malformed', reason: 'server_name list length does not match' };
    while (e.left() > 0) {
      const nameType = e.u8();
      const name = e.bytes(e.u16());
      if (e.short) return { kind: 'malformed', reason: 'server_name entry runs past its extension' };
      if (nameType !== HOST_NAME) continue;
      if (sni !== undefined) return { kind: 'malformed', reason: 'two host names in server_name' };
      if (name.length === 0 || name.some((c) => c <= 0x20 || c >= 0x7f)) return { kind: 'malformed', reason: 'server_name is not a printable ASCII host name' };
      sni = canonicalName(ascii(name));
    }
  }
  return sni === undefined ? { kind: 'tls' } : { kind: 'tls', sni };
}

const METHOD = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT) /;
const METHOD_PREFIXES = ['GET ', 'HEAD ', 'POST ', 'PUT ', 'DELETE ', 'OPTIONS ', 'PATCH ', 'TRACE ', 'CONNECT '];

/**
 * The Host header of an HTTP/1.x request at the start of `b`. The head ends at
 * the empty line; Host is taken as soon as its line is complete, but a second
 * Host header anywhere in the head makes the request malformed (a server and
 * tsjail could pick different ones), so the whole head is read.
 */
export function sniffHttp(b: Uint8Array): Sniffed {
  const text = ascii(b.subarray(0, Math.min(b.length, MAX_HTTP_HEAD)));
  // A prefix of a method ("PO") may still become a request.
  if (!METHOD.test(text)) return METHOD_PREFIXES.some((m) => m.startsWith(text)) ? { kind: 'more', need: b.length + 1 } : { kind: 'other' };
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) {
    if (b.length >= MAX_HTTP_HEAD) return { kind: 'malformed', reason: `HTTP request head longer than ${MAX_HTTP_HEAD} bytes` };
    return { kind: 'more', need: b.length + 1 };
  }
  const lines = text.slice(0, end).split('\r\n');
  if (!/ HTTP\/1\.[01]$/.test(lines[0]!)) return { kind: 'malformed', reason: 'request line is not HTTP/1.0 or HTTP/1.1' };
  let host: string | undefined;
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':');
    if (colon <= 0 || /[\s]/.test(l.slice(0, colon))) return { kind: 'malformed', reason: 'a header line without a name' };
    if (l.slice(0, colon).toLowerCase() !== 'host') continue;
    if (host !== undefined) return { kind: 'malformed', reason: 'two Host headers' };
    host = l.slice(colon + 1).trim();
  }
  if (host === undefined) return { kind: 'http' };
  const name = hostOnly(host);
  return name === undefined ? { kind: 'malformed', reason: `Host '${host}' is not a host name` } : { kind: 'http', host: name };
}

/** The host of a Host header value, without the port; undefined when it is not name[:port]. */
export function hostOnly(v: string): string | undefined {
  const m = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m || m[1] === '') return undefined;
  return canonicalName(m[1]!);
}

/** TLS, HTTP, or neither, from the first bytes. */
export function sniff(b: Uint8Array): Sniffed {
  if (b.length === 0) return { kind: 'other' };
  if (b[0] === HANDSHAKE) return sniffTls(b);
  return sniffHttp(b);
}
