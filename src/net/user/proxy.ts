/**
 * The proxy handshakes of ENCAP_SOCKS5 and ENCAP_CONNECT, with nsjail's bytes
 * (no authentication): SOCKS5 CONNECT and UDP ASSOCIATE (RFC 1928), and HTTP
 * CONNECT. Each resolves once the proxy agreed, with the bytes it already sent
 * beyond its answer (tunnel data for the program), or rejects with nsjail's
 * wording of what the proxy said.
 */
import { isIPv6, type Socket } from 'node:net';
import { ipv4Bytes, ipv6Bytes } from '../addr.js';

/** Reads a socket's bytes on demand until detached; what is left goes back to the caller. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter?: () => void;
  private failed?: Error;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this.waiter?.();
  };
  private readonly onEnd = () => {
    this.failed = new Error('the proxy closed the connection during the handshake');
    this.waiter?.();
  };
  private readonly onError = (e: Error) => {
    this.failed = e;
    this.waiter?.();
  };
  constructor(private readonly s: Socket) {
    s.on('data', this.onData).on('end', this.onEnd).on('error', this.onError);
  }
  /** Wait until pred(buffer) gives a length to take (or throws). */
  async take(pred: (b: Buffer) => number | undefined): Promise<Buffer> {
    for (;;) {
      const n = pred(this.buf);
      if (n !== undefined) {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
      }
      if (this.failed) throw this.failed;
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }
  exact(n: number): Promise<Buffer> {
    return this.take((b) => (b.length >= n ? n : undefined));
  }
  detach(): Buffer {
    this.s.off('data', this.onData).off('end', this.onEnd).off('error', this.onError);
    this.s.pause();
    return this.buf;
  }
}

function addrBytes(ip: string): Buffer {
  return isIPv6(ip) ? Buffer.concat([Buffer.from([4]), Buffer.from(ipv6Bytes(ip)!)]) : Buffer.concat([Buffer.from([1]), Buffer.from(ipv4Bytes(ip)!)]);
}

function port(p: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(p);
  return b;
}

async function socks5Greet(s: Socket, r: Reader): Promise<void> {
  s.write(Buffer.from([5, 1, 0]));
  const g = await r.exact(2);
  if (g[0] !== 5 || g[1] !== 0) throw new Error(`SOCKS5 greeting refused: ver=${g[0]} method=${g[1]}`);
}

/** The reply of a request: its BND address and port; rejects unless ver 5, rep 0. */
async function socks5Reply(r: Reader): Promise<{ atyp: number; addr: Buffer; port: number }> {
  const head = await r.exact(4);
  if (head[0] !== 5 || head[1] !== 0) throw new Error(`SOCKS5 connection failed: ver=${head[0]} rep=${head[1]}`);
  const atyp = head[3]!;
  let len: number;
  if (atyp === 1) len = 4;
  else if (atyp === 4) len = 16;
  else if (atyp === 3) len = (await r.exact(1))[0]!;
  else throw new Error(`SOCKS5 reply with unknown address type ${atyp}`);
  const addr = await r.exact(len);
  const p = (await r.exact(2)).readUInt16BE(0);
  return { atyp, addr, port: p };
}

/** SOCKS5 CONNECT to ip:p over s (already connected to the proxy). */
export async function socks5Connect(s: Socket, ip: string, p: number): Promise<Buffer> {
  const r = new Reader(s);
  await socks5Greet(s, r);
  s.write(Buffer.concat([Buffer.from([5, 1, 0]), addrBytes(ip), port(p)]));
  await socks5Reply(r);
  return r.detach();
}

/** SOCKS5 UDP ASSOCIATE (0.0.0.0:0): where to send the datagrams. The control connection stays open. */
export async function socks5Associate(s: Socket): Promise<{ ip: string; port: number }> {
  const r = new Reader(s);
  await socks5Greet(s, r);
  s.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
  const rep = await socks5Reply(r);
  r.detach();
  if (rep.atyp !== 1) throw new Error('SOCKS5 UDP proxy returned unsupported address type');
  return { ip: [...rep.addr].join('.'), port: rep.port };
}

/** The SOCKS5 UDP header of a datagram to ip:p. */
export function socks5UdpHeader(ip: string, p: number): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0]), addrBytes(ip), port(p)]);
}

/** A datagram from the relay without its header, or undefined when it is malformed or fragmented. */
export function socks5UdpStrip(d: Buffer): Buffer | undefined {
  if (d.length < 4 || d[2] !== 0) return undefined;
  const len = d[3] === 1 ? 4 : d[3] === 4 ? 16 : d[3] === 3 ? 1 + (d[4] ?? 0) : -1;
  if (len < 0 || d.length < 4 + len + 2) return undefined;
  return d.subarray(4 + len + 2);
}

const HTTP_MAX = 8192;

/** HTTP CONNECT ip:p over s. */
export async function httpConnect(s: Socket, ip: string, p: number): Promise<Buffer> {
  const r = new Reader(s);
  const target = isIPv6(ip) ? `[${ip}]:${p}` : `${ip}:${p}`;
  s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const head = await r.take((b) => {
    const end = b.indexOf('\r\n\r\n');
    if (end >= 0) return end + 4;
    if (b.length > HTTP_MAX) throw new Error('HTTP proxy response too long');
    return undefined;
  });
  const text = head.toString('latin1');
  if (!text.startsWith('HTTP/1.') || text[9] !== '2') throw new Error(`HTTP CONNECT failed: ${text.slice(0, 64).replace(/\r?\n.*/s, '')}`);
  return r.detach();
}
