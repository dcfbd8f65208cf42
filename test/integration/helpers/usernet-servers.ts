/**
 * Local servers for user-mode networking tests and the benchmark: TCP and UDP
 * echo, a SOCKS5 proxy (CONNECT and UDP ASSOCIATE, no authentication) and an
 * HTTP CONNECT proxy. The proxies record what they were asked and send every
 * tunnel to `target` (a local echo server) whatever the requested address:
 * that is how the internet targets of nsjail's configs become local ones.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface Echo {
  tcp: Server;
  udp: UdpSocket;
  port: number;
  close(): void;
}

/** TCP and UDP echo on host:port (0: any); the TCP side ends when the client does. */
export async function echoServer(host: string, port = 0): Promise<Echo> {
  const tcp = createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => {});
    c.pipe(c);
  });
  await new Promise<void>((r, j) => tcp.once('error', j).listen(port, host, r));
  const p = (tcp.address() as AddressInfo).port;
  const udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  udp.on('message', (m, ri) => udp.send(m, ri.port, ri.address));
  await new Promise<void>((r, j) => udp.once('error', j).bind(p, host, r));
  return { tcp, udp, port: p, close: () => (tcp.close(), udp.close()) };
}

/** A TCP server that resets every connection after its first bytes. */
export async function resetServer(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => c.resetAndDestroy());
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port };
}

export interface ProxyLog {
  /** Hex of each handshake message received, in order. */
  readonly messages: string[];
  /** Requested destinations, as 'ip:port'. */
  readonly targets: string[];
}

async function readN(s: Socket, n: number, buf: { b: Buffer }): Promise<Buffer> {
  while (buf.b.length < n) {
    const d = await new Promise<Buffer | null>((r) => {
      const on = (x: Buffer) => (s.off('end', end), r(x));
      const end = () => (s.off('data', on), r(null));
      s.once('data', on).once('end', end);
    });
    if (!d) throw new Error('eof');
    buf.b = Buffer.concat([buf.b, d]);
  }
  const out = buf.b.subarray(0, n);
  buf.b = buf.b.subarray(n);
  return out;
}

function addrText(atyp: number, a: Buffer): string {
  if (atyp === 1) return [...a].join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(a.readUInt16BE(i).toString(16));
  return `[${g.join(':')}]`;
}

/**
 * SOCKS5 on 127.0.0.1:port; `refuse` answers every request with that REP code.
 * UDP datagrams for an IPv6 destination (ATYP 04) go to target.udp6 on ::1
 * when it is given, and its replies come back under the requested address.
 */
export async function socks5Server(target: { tcp: number; udp: number; udp6?: number }, port = 0, refuse?: number): Promise<{ server: Server; port: number; log: ProxyLog; close(): void }> {
  const log: ProxyLog = { messages: [], targets: [] };
  const udps: UdpSocket[] = [];
  const server = createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => {});
    c.pause();
    void (async () => {
      const buf = { b: Buffer.alloc(0) };
      c.resume();
      const g = await readN(c, 3, buf);
      log.messages.push(g.toString('hex'));
      c.write(Buffer.from([5, 0]));
      const head = await readN(c, 4, buf);
      const atyp = head[3]!;
      const a = await readN(c, atyp === 1 ? 4 : 16, buf);
      const p = await readN(c, 2, buf);
      log.messages.push(Buffer.concat([head, a, p]).toString('hex'));
      if (refuse !== undefined) {
        c.end(Buffer.from([5, refuse, 0, 1, 0, 0, 0, 0, 0, 0]));
        return;
      }
      c.pause(); // nothing may be lost before the pipes are set
      if (head[1] === 1) {
        log.targets.push(`${addrText(atyp, a)}:${p.readUInt16BE(0)}`);
        const up = connect({ port: target.tcp, host: '127.0.0.1', allowHalfOpen: true }, () => {
          c.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
          if (buf.b.length) up.write(buf.b);
          c.pipe(up);
          up.pipe(c);
        });
        up.on('error', () => c.destroy());
        return;
      }
      // UDP ASSOCIATE: a relay socket; datagrams carry the SOCKS header both ways.
      const relay = createSocket('udp4');
      udps.push(relay);
      await new Promise<void>((r) => relay.bind(0, '127.0.0.1', r));
      let client: { address: string; port: number } | undefined;
      // IPv6 destinations: an upstream socket on ::1, and the header of the last one asked for (for its replies).
      const up6 = target.udp6 === undefined ? undefined : createSocket('udp6');
      let head6: Buffer | undefined;
      if (up6) {
        udps.push(up6);
        await new Promise<void>((r) => up6.bind(0, '::1', r));
        up6.on('message', (m, ri) => {
          if (ri.port === target.udp6 && client && head6) relay.send(Buffer.concat([head6, m]), client.port, client.address);
        });
      }
      relay.on('message', (m, ri) => {
        if (ri.port === target.udp && ri.address === '127.0.0.1' && client) {
          relay.send(Buffer.concat([Buffer.from([0, 0, 0, 1, 10, 1, 1, 1, 0x14, 0xe9]), m]), client.port, client.address);
          return;
        }
        client = ri;
        log.messages.push(m.subarray(0, m[3] === 1 ? 10 : 22).toString('hex'));
        const hl = m[3] === 1 ? 10 : 22;
        log.targets.push(`${addrText(m[3]!, m.subarray(4, hl - 2))}:${m.readUInt16BE(hl - 2)}/udp`);
        if (m[3] === 4 && up6) {
          head6 = Buffer.from(m.subarray(0, hl));
          up6.send(m.subarray(hl), target.udp6!, '::1');
          return;
        }
        relay.send(m.subarray(hl), target.udp, '127.0.0.1');
      });
      const bnd = Buffer.alloc(2);
      bnd.writeUInt16BE((relay.address() as AddressInfo).port);
      c.write(Buffer.concat([Buffer.from([5, 0, 0, 1, 127, 0, 0, 1]), bnd]));
      c.resume();
      c.on('close', () => {
        for (const u of [relay, up6]) {
          const i = u ? udps.indexOf(u) : -1;
          if (i >= 0) (udps.splice(i, 1), u!.close());
        }
      });
    })().catch(() => c.destroy());
  });
  await new Promise<void>((r, j) => server.once('error', j).listen(port, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, log, close: () => (server.close(), udps.forEach((u) => u.close())) };
}

/** HTTP CONNECT on 127.0.0.1:port; `status` other than 200 refuses. */
export async function connectProxy(targetTcp: number, port = 0, status = 200): Promise<{ server: Server; port: number; log: ProxyLog }> {
  const log: ProxyLog = { messages: [], targets: [] };
  const server = createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.off('data', onData);
      c.pause(); // nothing may be lost before the pipes are set
      const req = head.subarray(0, end + 4).toString('latin1');
      log.messages.push(req);
      log.targets.push(req.split(' ')[1] ?? '');
      if (status !== 200) {
        c.end(`HTTP/1.1 ${status} Forbidden\r\n\r\n`);
        return;
      }
      const rest = head.subarray(end + 4);
      const up = connect({ port: targetTcp, host: '127.0.0.1', allowHalfOpen: true }, () => {
        c.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (rest.length) up.write(rest);
        c.pipe(up);
        up.pipe(c);
      });
      up.on('error', () => c.destroy());
    };
    c.on('data', onData);
  });
  await new Promise<void>((r, j) => server.once('error', j).listen(port, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, log };
}
