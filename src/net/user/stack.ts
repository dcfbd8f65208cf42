/**
 * user_net's NSTUN backend for one jail: the kernel's own TCP/IP does the
 * work wherever it can, tsjail only decides and relays.
 *
 * - tsjail-nsfd (factory.ts) makes every descriptor inside the jail's network
 *   namespace: the TUN device `ns_iface`, the rtnetlink and nfnetlink sockets
 *   that configure it, tsjail's TCP listeners on 127.0.0.1 / ::1 there, and
 *   the sockets inbound forwards connect from.
 * - TCP from the jail: an nf_tables nat rule (nft.ts) redirects each new
 *   connection leaving through ns_iface to tsjail's listener (DROP and REJECT
 *   rules act in the kernel first). tsjail reads the original destination
 *   (SO_ORIGINAL_DST), takes the rules' verdict, connects on the host (or
 *   through a proxy) and relays both ways with Node streams: half-close,
 *   resets, backpressure and bounded buffers come from the kernel and Node.
 *   The program's connect() completes when its own kernel accepts, before
 *   tsjail has connected on the host; a failed host connection is a reset.
 * - UDP and ICMP echo leave through the TUN device: the factory relays its
 *   packets as framed records, tsjail parses them (packet.ts) and answers from
 *   host datagram sockets with crafted packets.
 * - HOST_TO_GUEST: host listeners; TCP is connected into the jail from a
 *   factory-made socket, UDP is injected through the TUN device.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, createServer, isIPv6, Socket, type Server } from 'node:net';
import { errorText } from '../../errors.js';
import { formatErrno } from '../../linux/errno.js';
import { SyscallError } from '../../linux/libc.js';
import { Rtnl } from '../../linux/netlink.js';
import * as sock from '../../linux/sock.js';
import { log } from '../../log/logger.js';
import type { UserNet } from '../../spec.js';
import { ipBytes } from '../addr.js';
import { Factory } from './factory.js';
import { buildBatch, type NftFamily } from './nft.js';
import * as pk from './packet.js';
import type { UserNetHooks } from './policy.js';
import { httpConnect, socks5Associate, socks5Connect, socks5UdpHeader, socks5UdpStrip } from './proxy.js';
import { verdict, type Forward, type ParsedRules, type Rule, type Verdict } from './rules.js';

export const MTU = 64512;
const MAX_FLOWS = 1024;
const UDP_IDLE_MS = 60_000;
const ICMP_IDLE_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
const GC_MS = 2_000;
/** Bytes queued toward the TUN relay before packets for the jail are dropped. */
const TUN_QUEUE_CAP = 4 << 20;
const SOCKS_UDP_QUEUE = 50;

export interface StackConfig {
  readonly u: UserNet;
  readonly rules: ParsedRules;
  readonly hooks?: UserNetHooks;
  readonly rootless: boolean;
}

const bytes = (ip: string) => Buffer.from(ipBytes(ip)!.bytes);
const hostPort = (ip: string, port: number) => (isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`);
const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');

/** Send an nf_tables batch on a NETLINK_NETFILTER socket and wait for every acknowledgement. */
function applyNft(fd: number, batch: ReturnType<typeof buildBatch>, where: string): void {
  sock.sendMsg(fd, batch.msg, `NETLINK_NETFILTER in ${where}`);
  const pending = new Set(batch.seqs);
  const buf = Buffer.alloc(65536);
  while (pending.size) {
    const n = sock.recvMsg(fd, buf, `NETLINK_NETFILTER in ${where}`);
    for (let at = 0; at + 16 <= n; ) {
      const len = buf.readUInt32LE(at);
      if (len < 16) break;
      if (buf.readUInt16LE(at + 4) === 2 /* NLMSG_ERROR */) {
        const seq = buf.readUInt32LE(at + 8);
        const err = -buf.readInt32LE(at + 16);
        if (err !== 0) throw new SyscallError(`${batch.what.get(seq) ?? `nf_tables message ${seq}`} in ${where}`, err);
        pending.delete(seq);
      }
      at += (len + 3) & ~3;
    }
  }
}

interface UdpFlow {
  readonly v: 4 | 6;
  readonly guest: Buffer;
  readonly sport: number;
  /** The destination the program used: replies come from it. */
  readonly dst: Buffer;
  readonly dport: number;
  readonly target: { ip: string; port: number };
  readonly sock: UdpSocket;
  last: number;
  /** SOCKS5: the control connection, the relay address once associated, datagrams waiting for it. */
  socks?: { ctl: Socket; relay?: { ip: string; port: number }; queue: Buffer[] };
}

interface PingFlow {
  readonly v: 4 | 6;
  readonly guest: Buffer;
  readonly dst: Buffer;
  readonly id: number;
  readonly fd: number;
  readonly target: string;
  last: number;
}

/** An inbound UDP flow: the guest's replies to `peer` go back to the real client through the listener. */
interface InboundUdp {
  readonly listener: UdpSocket;
  readonly client: RemoteInfo;
  last: number;
}

export class UserNetStack {
  private readonly factory: Factory;
  private readonly ip4?: Buffer;
  private readonly gw4?: Buffer;
  private readonly ip6?: Buffer;
  private readonly gw6?: Buffer;
  private readonly servers: Server[] = [];
  private readonly udpListeners: UdpSocket[] = [];
  private readonly tcpFlows = new Set<Socket>();
  private readonly udpFlows = new Map<string, UdpFlow>();
  private readonly pingFlows = new Map<string, PingFlow>();
  private readonly inbound = new Map<string, InboundUdp>();
  private tun?: Socket;
  private tunIn: Buffer = Buffer.alloc(0);
  private gc?: NodeJS.Timeout;
  private pingPoll?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly pid: number,
    private readonly cfg: StackConfig,
  ) {
    const u = cfg.u;
    if (u.ip4) this.ip4 = bytes(u.ip4);
    if (u.gw4) this.gw4 = bytes(u.gw4);
    if (u.ip6) this.ip6 = bytes(u.ip6);
    if (u.gw6) this.gw6 = bytes(u.gw6);
    this.factory = Factory.start(pid, cfg.rootless);
    try {
      this.setup();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private get where(): string {
    return `the jail's network namespace (pid=${this.pid})`;
  }

  private setup(): void {
    const u = this.cfg.u;
    const name = u.ns_iface || 'eth0';
    const f = this.factory;
    const rt = Rtnl.fromFd(f.socket(sock.AF_NETLINK, sock.SOCK_RAW, sock.NETLINK_ROUTE, 'AF_NETLINK, SOCK_RAW, NETLINK_ROUTE'), this.where);
    let oif: number;
    try {
      // lo first: tsjail's listeners live on 127.0.0.1 and ::1 (the child brings lo up again later, harmlessly).
      rt.linkUp(rt.linkIndex('lo')!, 'lo');
      const tunFd = f.tun(name);
      this.tun = new Socket({ fd: tunFd, readable: true, writable: true });
      this.tun.on('data', (d: Buffer) => this.onTunData(d));
      this.tun.on('error', (e) => log.debug(`user_net: TUN relay of pid ${this.pid}: ${e.message}`));
      oif = rt.linkIndex(name)!;
      rt.linkMtuUp(oif, name, MTU);
      if (this.ip4) {
        rt.addPeerAddress(oif, name, this.ip4, this.gw4, 32);
        rt.addDefaultDevRoute(oif, name, false);
      }
      if (this.ip6) {
        rt.addPeerAddress(oif, name, this.ip6, undefined, 128);
        rt.addDefaultDevRoute(oif, name, true, 1);
      }
    } finally {
      rt.close();
    }
    const families: NftFamily[] = [];
    if (this.ip4) families.push({ family: 4, rules: this.cfg.rules.rules4, port: this.listen(4) });
    if (this.ip6) families.push({ family: 6, rules: this.cfg.rules.rules6, port: this.listen(6) });
    const nfd = f.socket(sock.AF_NETLINK, sock.SOCK_RAW, sock.NETLINK_NETFILTER, 'AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER');
    try {
      applyNft(nfd, buildBatch(oif, families, 1), this.where);
    } finally {
      sock.closeSock(nfd);
    }
    for (const fw of this.cfg.rules.forwards) this.forward(fw);
    this.gc = setInterval(() => this.collect(), GC_MS).unref();
    log.info(`nstun initialized successfully, tap_fd=${(this.tun as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1}`);
  }

  /** tsjail's listener for the jail's redirected TCP; returns its port. */
  private listen(family: 4 | 6): number {
    const what = `TCP listener on ${family === 4 ? '127.0.0.1' : '[::1]'} in ${this.where}`;
    const fd = this.factory.socket(family === 4 ? sock.AF_INET : sock.AF_INET6, sock.SOCK_STREAM | sock.SOCK_NONBLOCK, 0, what);
    try {
      if (family === 6) sock.v6Only(fd, what);
      sock.bindTo(fd, family === 4 ? '127.0.0.1' : '::1', 0, what);
      sock.listenOn(fd, 4096, what);
    } catch (e) {
      sock.closeSock(fd);
      throw e;
    }
    const port = sock.localAddress(fd, what).port;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.onGuestTcp(s, family));
    server.on('error', (e) => log.warn(`user_net: ${what}: ${e.message}`));
    server.listen({ fd });
    this.servers.push(server);
    return port;
  }

  // ---- TCP from the jail -------------------------------------------------

  private onGuestTcp(guest: Socket, family: 4 | 6): void {
    this.tcpFlows.add(guest);
    guest.on('close', () => this.tcpFlows.delete(guest));
    guest.on('error', () => {});
    if (this.tcpFlows.size > MAX_FLOWS * 2) {
      log.warn(`Maximum number of TCP flows (${MAX_FLOWS * 2}) reached, dropping`);
      guest.resetAndDestroy();
      return;
    }
    const fd = (guest as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    let od: { ip: string; port: number };
    try {
      od = sock.originalDst(fd, family === 6);
    } catch (e) {
      log.warn(`user_net: a TCP connection from the jail without its original destination: ${errorText(e)}`);
      guest.resetAndDestroy();
      return;
    }
    const src = (guest.remoteAddress ?? '').replace(/^::ffff:/, '');
    const sport = guest.remotePort ?? 0;
    const rules = family === 4 ? this.cfg.rules.rules4 : this.cfg.rules.rules6;
    const v: Verdict = verdict(rules, { proto: 'TCP', src: bytes(src), dst: bytes(od.ip), sport, dport: od.port }, od.ip);
    void this.tcpFlow(guest, family, src, sport, od, v).catch((e) => {
      log.warn(`user_net: TCP flow ${hostPort(src, sport)} -> ${hostPort(od.ip, od.port)}: ${errorText(e)}`);
      guest.resetAndDestroy();
    });
  }

  private async tcpFlow(guest: Socket, family: 4 | 6, src: string, sport: number, od: { ip: string; port: number }, first: Verdict): Promise<void> {
    let v = first;
    const early: Buffer[] = [];
    let guestEnded = false;
    guest.once('end', () => (guestEnded = true));
    if (v.kind === 'drop' || v.kind === 'reject') {
      // The kernel rules act first; these are reached only if the jail changed its own ruleset.
      log.debug(`TCP connect to ${hostPort(od.ip, od.port)} ${v.kind === 'drop' ? 'dropped' : 'rejected'} by policy`);
      guest.resetAndDestroy();
      return;
    }
    const hook = this.cfg.hooks?.tcpFlow;
    if (hook) {
      const peek = (max: number, timeoutMs: number) =>
        new Promise<Buffer>((resolve) => {
          const have = () => Buffer.concat(early);
          if (have().length >= max || guestEnded) return resolve(have().subarray(0, max));
          const done = () => {
            clearTimeout(t);
            guest.off('data', onData).off('end', done).off('close', done);
            guest.pause();
            resolve(have().subarray(0, max));
          };
          const onData = (d: Buffer) => {
            early.push(d);
            if (have().length >= max) done();
          };
          const t = setTimeout(done, timeoutMs);
          guest.on('data', onData).once('end', done).once('close', done);
          guest.resume();
        });
      const r = await hook({ src, sport, dst: od.ip, dport: od.port, peek });
      if (!r.allow) {
        log.debug(`user_net: TCP flow ${hostPort(src, sport)} -> ${hostPort(od.ip, od.port)} refused: ${r.reason}`);
        guest.resetAndDestroy();
        return;
      }
      if (r.dst !== undefined || r.dport !== undefined) v = { kind: 'direct', ip: r.dst ?? od.ip, port: r.dport ?? od.port, redirected: true };
    }
    if (guest.destroyed) return;
    await this.connectOut(guest, sport, od, v, Buffer.concat(early), () => guestEnded);
  }

  private async connectOut(guest: Socket, sport: number, od: { ip: string; port: number }, v: Exclude<Verdict, { kind: 'drop' | 'reject' }>, early: Buffer, guestEnded: () => boolean): Promise<void> {
    const target = v.kind === 'direct' ? { ip: v.ip, port: v.port } : { ip: v.proxyIp, port: v.proxyPort };
    const host = tcpConnect({ host: target.ip, port: target.port, allowHalfOpen: true, noDelay: true });
    this.tcpFlows.add(host);
    host.on('close', () => this.tcpFlows.delete(host));
    host.setTimeout(CONNECT_TIMEOUT_MS, () => host.destroy(new Error(`no answer from ${hostPort(target.ip, target.port)} within ${CONNECT_TIMEOUT_MS / 1000} s`)));
    const fail = (e: Error) => {
      if (v.kind !== 'direct') log.warn(`user_net: ${v.kind === 'socks5' ? 'SOCKS5' : 'HTTP CONNECT'} proxy ${hostPort(target.ip, target.port)} (${v.rule.where}) for ${hostPort(od.ip, od.port)}: ${e.message}`);
      else log.debug(`user_net: TCP to ${hostPort(target.ip, target.port)} failed: ${e.message}`);
      guest.resetAndDestroy();
      host.destroy();
    };
    host.once('error', fail);
    // The program gave up before the host side answered: so does tsjail.
    guest.once('close', () => {
      if (host.connecting) host.destroy();
    });
    await new Promise<void>((resolve) => host.once('connect', resolve).once('close', resolve));
    if (host.destroyed || guest.destroyed) return;
    if (v.kind === 'direct') log.debug(v.redirected ? `Redirecting TCP flow guest ${sport} to host ${v.ip}:${v.port} via policy` : `New TCP flow guest ${sport} -> host ${v.ip}:${v.port}`);
    let tunnel: Buffer = Buffer.alloc(0);
    try {
      if (v.kind === 'socks5') tunnel = await socks5Connect(host, od.ip, od.port);
      else if (v.kind === 'connect') tunnel = await httpConnect(host, od.ip, od.port);
    } catch (e) {
      fail(e as Error);
      return;
    }
    host.setTimeout(0);
    host.off('error', fail);
    if (guest.destroyed) {
      host.destroy();
      return;
    }
    this.relay(guest, host, early, tunnel, guestEnded());
  }

  /**
   * Both ways, with half-close and resets carried over. The factory relays in
   * the kernel (splice) when it can take the pair; Node's pipe() otherwise.
   */
  private relay(guest: Socket, host: Socket, toHost: Buffer, toGuest: Buffer, guestEnded: boolean): void {
    const fdOf = (s: Socket) => (s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    // Anything Node already read from either side goes first.
    const buffered = (s: Socket) => {
      const parts: Buffer[] = [];
      for (let d = s.read() as Buffer | null; d; d = s.read() as Buffer | null) parts.push(d);
      return parts;
    };
    guest.pause();
    host.pause();
    const a = fdOf(guest);
    const b = fdOf(host);
    if (a >= 0 && b >= 0 && !this.closed) {
      try {
        this.factory.relay(a, b, Buffer.concat([toHost, ...buffered(guest)]), Buffer.concat([toGuest, ...buffered(host)]), `relay of fds ${a} and ${b}`);
        guest.destroy();
        host.destroy();
        return;
      } catch (e) {
        log.debug(`user_net: the factory did not take a relay (${errorText(e)}); Node relays it`);
      }
    }
    guest.on('error', () => host.resetAndDestroy());
    host.on('error', () => guest.resetAndDestroy());
    guest.setNoDelay(true);
    if (toGuest.length) guest.write(toGuest);
    if (toHost.length) host.write(toHost);
    if (guestEnded) host.end();
    else guest.pipe(host);
    host.pipe(guest);
    host.resume();
    guest.resume();
  }

  // ---- HOST_TO_GUEST -----------------------------------------------------

  private forward(fw: Forward): void {
    const v6 = fw.family === 6;
    const what = `host ${fw.proto} port ${hostPort(fw.bind, fw.port)} (${fw.where})`;
    const guestIp = fw.guestIp ?? (v6 ? this.cfg.u.ip6 : this.cfg.u.ip4);
    if (!guestIp) throw new Error(`${fw.where}: no guest address to forward to (user_net.${v6 ? 'ip6' : 'ip4'} is empty)`);
    const fd = sock.socket(v6 ? sock.AF_INET6 : sock.AF_INET, (fw.proto === 'TCP' ? sock.SOCK_STREAM : sock.SOCK_DGRAM) | sock.SOCK_NONBLOCK, 0, what);
    try {
      sock.reuseAddr(fd, what);
      if (v6) sock.v6Only(fd, what);
      sock.bindTo(fd, fw.bind, fw.port, what);
      if (fw.proto === 'TCP') sock.listenOn(fd, 4096, what);
    } catch (e) {
      sock.closeSock(fd);
      throw e;
    }
    log.info(`Listening on host ${v6 ? 'IPv6 ' : ''}port ${fw.port} for inbound ${fw.proto} redirection to guest`);
    if (fw.proto === 'TCP') {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.inboundTcp(client, fw, guestIp));
      server.on('error', (e) => log.warn(`user_net: ${what}: ${e.message}`));
      server.listen({ fd });
      this.servers.push(server);
      return;
    }
    // dgram cannot adopt a descriptor: the checked bind is released and redone by dgram at once.
    sock.closeSock(fd);
    const s = createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true, ipv6Only: v6 });
    s.on('error', (e) => log.warn(`user_net: ${what}: ${e.message}`));
    s.on('message', (msg, rinfo) => this.inboundUdp(s, fw, guestIp, msg, rinfo));
    s.bind(fw.port, fw.bind);
    this.udpListeners.push(s);
  }

  private inboundTcp(client: Socket, fw: Forward, guestIp: string): void {
    client.on('error', () => {});
    this.tcpFlows.add(client);
    client.on('close', () => this.tcpFlows.delete(client));
    const v6 = fw.family === 6;
    let fd: number;
    try {
      fd = this.factory.socket(v6 ? sock.AF_INET6 : sock.AF_INET, sock.SOCK_STREAM | sock.SOCK_NONBLOCK, 0, `inbound TCP to ${hostPort(guestIp, fw.guestPort)}`);
    } catch (e) {
      log.warn(`user_net: inbound TCP on port ${fw.port}: ${errorText(e)}`);
      client.resetAndDestroy();
      return;
    }
    const guest = new Socket({ fd, allowHalfOpen: true });
    this.tcpFlows.add(guest);
    guest.on('close', () => this.tcpFlows.delete(guest));
    guest.once('error', (e) => {
      log.debug(`user_net: inbound TCP to ${hostPort(guestIp, fw.guestPort)}: ${e.message}`);
      client.resetAndDestroy();
    });
    guest.connect({ host: guestIp, port: fw.guestPort }, () => {
      log.debug(`Inbound TCP ${hostPort(client.remoteAddress ?? '?', client.remotePort ?? 0)} -> guest ${hostPort(guestIp, fw.guestPort)}`);
      this.relay(client, guest, Buffer.alloc(0), Buffer.alloc(0), false);
    });
  }

  /** A datagram for the guest: sent into the jail from the client's address (loopback clients appear as the gateway). */
  private inboundUdp(listener: UdpSocket, fw: Forward, guestIp: string, msg: Buffer, rinfo: RemoteInfo): void {
    const v6 = fw.family === 6;
    const gw = v6 ? this.gw6 : this.gw4;
    const client = rinfo.address.replace(/^::ffff:/, '');
    const from = isLoopback(client) && gw ? gw : bytes(client);
    const key = `${pk.ipText(from)}|${rinfo.port}|${guestIp}|${fw.guestPort}`;
    this.inbound.set(key, { listener, client: rinfo, last: Date.now() });
    this.toTun(pk.buildUdp(v6 ? 6 : 4, from, bytes(guestIp), rinfo.port, fw.guestPort, msg));
  }

  // ---- the TUN device: UDP and ICMP ---------------------------------------

  private onTunData(d: Buffer): void {
    this.tunIn = this.tunIn.length ? Buffer.concat([this.tunIn, d]) : d;
    let at = 0;
    while (this.tunIn.length - at >= 2) {
      const len = this.tunIn.readUInt16BE(at);
      if (this.tunIn.length - at < 2 + len) break;
      this.onPacket(this.tunIn.subarray(at + 2, at + 2 + len));
      at += 2 + len;
    }
    this.tunIn = at ? Buffer.from(this.tunIn.subarray(at)) : this.tunIn;
  }

  private toTun(pkt: Buffer): void {
    const t = this.tun;
    if (!t || t.destroyed || t.writableLength > TUN_QUEUE_CAP) return;
    const h = Buffer.alloc(2);
    h.writeUInt16BE(pkt.length);
    t.write(Buffer.concat([h, pkt]));
  }

  private onPacket(raw: Buffer): void {
    const r = pk.parsePacket(raw, this.ip4, this.ip6);
    if (!r.ok) {
      if (r.warn) log.warn(r.warn);
      else if (r.debug) log.debug(`user_net: dropped: ${r.debug}`);
      return;
    }
    const p = r.pkt;
    if (!pk.l4ChecksumOk(p)) {
      log.debug(`user_net: bad checksum (proto ${p.proto}) from ${pk.ipText(p.src)} to ${pk.ipText(p.dst)}, dropped`);
      return;
    }
    if (p.proto === pk.PROTO_UDP) this.onUdp(p);
    else if (p.proto === (p.v === 4 ? pk.PROTO_ICMP : pk.PROTO_ICMPV6)) this.onIcmp(p);
    else if (log.enabled('DEBUG')) log.debug(`IP packet: proto=${p.proto}, ${pk.ipText(p.src)} -> ${pk.ipText(p.dst)}, len=${p.raw.length} (not handled)`);
  }

  private rulesOf(v: 4 | 6): readonly Rule[] {
    return v === 4 ? this.cfg.rules.rules4 : this.cfg.rules.rules6;
  }

  private isGateway(p: pk.Packet): boolean {
    const gw = p.v === 4 ? this.gw4 : this.gw6;
    return !!gw && p.dst.equals(gw);
  }

  private onUdp(p: pk.Packet): void {
    const u = pk.parseUdp(p.l4);
    if (!u) return;
    const dstText = pk.ipText(p.dst);
    // The guest's answer on an inbound forward goes back to the real client.
    const inb = this.inbound.get(`${dstText}|${u.dport}|${pk.ipText(p.src)}|${u.sport}`);
    if (inb) {
      inb.last = Date.now();
      inb.listener.send(u.data, inb.client.port, inb.client.address);
      return;
    }
    const hook = this.cfg.hooks?.udpToGateway;
    if (hook && this.isGateway(p)) {
      const src = Buffer.from(p.src);
      const dst = Buffer.from(p.dst);
      hook({ src: pk.ipText(src), sport: u.sport, dport: u.dport, data: Buffer.from(u.data) })
        .then((reply) => reply && this.toTun(pk.buildUdp(p.v, dst, src, u.dport, u.sport, reply)))
        .catch((e) => log.warn(`user_net: answering UDP to the gateway port ${u.dport}: ${errorText(e)}`));
      return;
    }
    const key = `${p.v}|${pk.ipText(p.src)}|${u.sport}|${dstText}|${u.dport}`;
    // A policy layer's verdict on a new flow (--net_allow refuses them): answered as REJECT is.
    const gate = this.cfg.hooks?.datagramFlow;
    if (gate && !this.udpFlows.has(key) && !gate({ proto: 'udp', src: pk.ipText(p.src), sport: u.sport, dst: dstText, dport: u.dport }).allow) {
      this.toTun(pk.buildUnreachable(p, p.dst, p.v === 4 ? 3 : 4));
      return;
    }
    const v = verdict(this.rulesOf(p.v), { proto: 'UDP', src: p.src, dst: p.dst, sport: u.sport, dport: u.dport }, dstText);
    if (v.kind === 'drop') return log.debug(`UDP flow ${u.sport} -> ${dstText}:${u.dport} dropped by policy`);
    if (v.kind === 'reject') {
      log.debug(`UDP flow ${u.sport} -> ${dstText}:${u.dport} rejected by policy`);
      this.toTun(pk.buildUnreachable(p, p.dst, p.v === 4 ? 3 : 4));
      return;
    }
    if (v.kind === 'connect') return log.warn(`HTTP CONNECT proxy not supported for UDP, dropping packet to port ${u.dport}`);
    if (v.kind !== 'direct' && v.kind !== 'socks5') return;
    let flow = this.udpFlows.get(key);
    if (!flow) {
      if ([...this.udpFlows.values()].filter((f) => f.v === p.v).length >= MAX_FLOWS) return log.warn(`Maximum number of UDP flows (${MAX_FLOWS}) reached, dropping`);
      flow = this.newUdpFlow(p, u, v);
      this.udpFlows.set(key, flow);
    }
    flow.last = Date.now();
    this.udpSend(flow, Buffer.from(u.data));
  }

  private newUdpFlow(p: pk.Packet, u: pk.Udp, v: Exclude<Verdict, { kind: 'drop' | 'reject' }>): UdpFlow {
    const socks = v.kind === 'socks5';
    const target = v.kind === 'direct' ? { ip: v.ip, port: v.port } : { ip: pk.ipText(p.dst), port: u.dport };
    const s = createSocket(socks || !isIPv6(target.ip) ? 'udp4' : 'udp6');
    const flow: UdpFlow = { v: p.v, guest: Buffer.from(p.src), sport: u.sport, dst: Buffer.from(p.dst), dport: u.dport, target, sock: s, last: Date.now() };
    s.on('error', (e) => log.debug(`user_net: UDP flow to ${hostPort(target.ip, target.port)}: ${e.message}`));
    s.on('message', (msg) => {
      flow.last = Date.now();
      const data = flow.socks ? socks5UdpStrip(msg) : msg;
      if (data) this.toTun(pk.buildUdp(flow.v, flow.dst, flow.guest, flow.dport, flow.sport, data));
    });
    s.bind(0);
    log.debug(`Created UDP flow for guest port ${u.sport} -> ${hostPort(target.ip, target.port)}${v.kind === 'direct' && v.redirected ? ' [redirected]' : ''}`);
    if (v.kind === 'socks5') {
      const ctl = tcpConnect({ host: v.proxyIp, port: v.proxyPort });
      flow.socks = { ctl, queue: [] };
      const end = (why: string) => {
        if (this.udpFlows.get(this.udpKey(flow)) !== flow) return;
        log.warn(`user_net: SOCKS5 proxy ${hostPort(v.proxyIp, v.proxyPort)} (${v.rule.where}) for UDP to ${hostPort(target.ip, target.port)}: ${why}`);
        this.dropUdp(flow);
      };
      ctl.on('error', (e) => end(e.message));
      ctl.on('close', () => end('the control connection closed'));
      ctl.once('connect', () => {
        socks5Associate(ctl)
          .then((relay) => {
            flow.socks!.relay = relay;
            for (const d of flow.socks!.queue.splice(0)) this.udpSend(flow, d);
          })
          .catch((e: Error) => end(e.message));
      });
    }
    return flow;
  }

  private udpKey(f: UdpFlow): string {
    return `${f.v}|${pk.ipText(f.guest)}|${f.sport}|${pk.ipText(f.dst)}|${f.dport}`;
  }

  private udpSend(f: UdpFlow, data: Buffer): void {
    if (f.socks) {
      if (!f.socks.relay) {
        if (data.length <= 1500) f.socks.queue.push(data);
        if (f.socks.queue.length > SOCKS_UDP_QUEUE) f.socks.queue.shift();
        return;
      }
      f.sock.send(Buffer.concat([socks5UdpHeader(f.target.ip, f.target.port), data]), f.socks.relay.port, f.socks.relay.ip);
      return;
    }
    f.sock.send(data, f.target.port, f.target.ip);
  }

  private dropUdp(f: UdpFlow): void {
    this.udpFlows.delete(this.udpKey(f));
    f.sock.close();
    f.socks?.ctl.destroy();
  }

  private onIcmp(p: pk.Packet): void {
    const type = p.l4[0];
    if (p.l4.length < 8 || type !== pk.ECHO_REQUEST[p.v] || p.l4[1] !== 0) return;
    const dstText = pk.ipText(p.dst);
    const v = verdict(this.rulesOf(p.v), { proto: 'ICMP', src: p.src, dst: p.dst, sport: 0, dport: 0 }, dstText);
    if (v.kind === 'drop') return log.debug('ICMP dropped by policy');
    if (v.kind === 'reject') {
      log.debug('ICMP rejected by policy');
      this.toTun(pk.buildUnreachable(p, p.dst, p.v === 4 ? 3 : 4));
      return;
    }
    if (v.kind !== 'direct') return;
    if (this.isGateway(p) && !v.redirected) {
      this.toTun(pk.buildIcmp(p.v, p.dst, p.src, pk.ECHO_REPLY[p.v], 0, Buffer.from(p.l4.subarray(4))));
      return;
    }
    const id = p.l4.readUInt16BE(4);
    const key = `${p.v}|${pk.ipText(p.src)}|${dstText}|${id}`;
    const gate = this.cfg.hooks?.datagramFlow;
    if (gate && !this.pingFlows.has(key) && !gate({ proto: 'icmp', src: pk.ipText(p.src), sport: 0, dst: dstText, dport: 0 }).allow) {
      this.toTun(pk.buildUnreachable(p, p.dst, p.v === 4 ? 13 : 1));
      return;
    }
    let flow = this.pingFlows.get(key);
    if (!flow) {
      if ([...this.pingFlows.values()].filter((f) => f.v === p.v).length >= MAX_FLOWS) return log.warn(`Maximum number of ICMP flows (${MAX_FLOWS}) reached, dropping`);
      let fd: number;
      try {
        fd = sock.socket(p.v === 4 ? sock.AF_INET : sock.AF_INET6, sock.SOCK_DGRAM | sock.SOCK_NONBLOCK, p.v === 4 ? sock.IPPROTO_ICMP : sock.IPPROTO_ICMPV6, p.v === 4 ? 'AF_INET, SOCK_DGRAM, IPPROTO_ICMP' : 'AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6');
      } catch (e) {
        const why = e instanceof SyscallError ? formatErrno(e.errno) : errorText(e);
        log.warn(p.v === 4 ? `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) failed. You may need: sysctl -w net.ipv4.ping_group_range='0 2147483647': ${why}` : `socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6) failed: ${why}`);
        if (p.v === 4) this.toTun(pk.buildUnreachable(p, p.dst, 1));
        return;
      }
      flow = { v: p.v, guest: Buffer.from(p.src), dst: Buffer.from(p.dst), id, fd, target: v.ip, last: Date.now() };
      this.pingFlows.set(key, flow);
      this.pingPoll ??= setInterval(() => this.pollPings(), 5);
    }
    flow.last = Date.now();
    try {
      sock.sendToNow(flow.fd, Buffer.from(p.l4), flow.target, 0, 'ping socket');
    } catch (e) {
      log.debug(`user_net: ping ${flow.target}: ${errorText(e)}`);
    }
  }

  private pollPings(): void {
    const buf = Buffer.alloc(65536);
    for (const f of this.pingFlows.values()) {
      for (;;) {
        let r: ReturnType<typeof sock.recvFromNow>;
        try {
          r = sock.recvFromNow(f.fd, buf, 'ping socket');
        } catch {
          break;
        }
        if (!r) break;
        const m = Buffer.from(buf.subarray(0, r.n));
        if (m.length < 8 || m[0] !== pk.ECHO_REPLY[f.v]) continue;
        m.writeUInt16BE(f.id, 4);
        this.toTun(pk.buildIcmp(f.v, f.dst, f.guest, m[0]!, m[1]!, m.subarray(4)));
      }
    }
  }

  private collect(): void {
    const now = Date.now();
    for (const f of [...this.udpFlows.values()]) if (now - f.last > UDP_IDLE_MS) this.dropUdp(f);
    for (const [k, f] of this.pingFlows) {
      if (now - f.last <= ICMP_IDLE_MS) continue;
      this.pingFlows.delete(k);
      sock.closeSock(f.fd);
    }
    if (!this.pingFlows.size && this.pingPoll) {
      clearInterval(this.pingPoll);
      this.pingPoll = undefined;
    }
    for (const [k, f] of this.inbound) if (now - f.last > UDP_IDLE_MS) this.inbound.delete(k);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.gc);
    clearInterval(this.pingPoll);
    for (const s of this.servers) s.close();
    for (const s of this.udpListeners) s.close();
    for (const s of this.tcpFlows) s.destroy();
    for (const f of [...this.udpFlows.values()]) this.dropUdp(f);
    for (const f of this.pingFlows.values()) sock.closeSock(f.fd);
    this.pingFlows.clear();
    this.tun?.destroy();
    this.factory.close();
  }
}
