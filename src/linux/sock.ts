/**
 * Socket calls Node does not offer, on descriptors user-mode networking gets
 * from its socket factory (native/nsfd.c): receive a descriptor, bind and
 * read back a port, socket options, the original destination of a redirected
 * connection (SO_ORIGINAL_DST), and datagram calls for ping sockets. Every
 * failure is a SyscallError naming the call and its arguments.
 */
import { nodeNet } from '../lazy.js';
import { ipText, ipv6Bytes } from '../net/addr.js';
import { AF_INET, AF_INET6, IP6T_SO_ORIGINAL_DST, IPV6_V6ONLY, MSG_DONTWAIT, SO_ORIGINAL_DST, SO_REUSEADDR, SOL_IP, SOL_IPV6, SOL_SOCKET } from './consts.js';
import { koffi as loadKoffi, nativePath, SyscallError } from './libc.js';

export { AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, IPPROTO_ICMP, IPPROTO_ICMPV6, NETLINK_NETFILTER, NETLINK_ROUTE, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOCK_STREAM } from './consts.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
interface Lib {
  socket: Fn;
  bind: Fn;
  listen: Fn;
  getsockname: Fn;
  getsockopt: Fn;
  setsockopt: Fn;
  send: Fn;
  recv: Fn;
  sendto: Fn;
  recvfrom: Fn;
  close: Fn;
  recvWithFd: Fn;
  sendWithFds: Fn;
  errno: () => number;
}
let lib: Lib | undefined;

function load(): Lib {
  if (lib) return lib;
  const k = loadKoffi();
  const c = k.load('libc.so.6');
  const native = k.load(nativePath('libtsjail.so'));
  lib = {
    socket: c.func('int socket(int domain, int type, int protocol)'),
    bind: c.func('int bind(int fd, const void *addr, uint32_t len)'),
    listen: c.func('int listen(int fd, int backlog)'),
    getsockname: c.func('int getsockname(int fd, void *addr, void *len)'),
    getsockopt: c.func('int getsockopt(int fd, int level, int name, void *val, void *len)'),
    setsockopt: c.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
    send: c.func('long send(int fd, const void *buf, size_t len, int flags)'),
    recv: c.func('long recv(int fd, void *buf, size_t len, int flags)'),
    sendto: c.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)'),
    recvfrom: c.func('long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *alen)'),
    close: c.func('int close(int fd)'),
    recvWithFd: native.func('long tsj_recv_with_fd(int sock, void *buf, unsigned long len, _Out_ int *fd)'),
    sendWithFds: native.func('long tsj_send_with_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds)'),
    errno: () => k.errno(),
  };
  return lib;
}

function check(call: string, r: number | bigint): number {
  if (Number(r) < 0) throw new SyscallError(call, load().errno());
  return Number(r);
}

const EAGAIN = 11;
const EINTR = 4;

/** sockaddr_in / sockaddr_in6 for ip:port. */
export function sockaddr(ip: string, port: number): Buffer {
  if (nodeNet().isIPv6(ip)) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(AF_INET6, 0);
    b.writeUInt16BE(port, 2);
    Buffer.from(ipv6Bytes(ip)!).copy(b, 8);
    return b;
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip.split('.').map(Number)).copy(b, 4);
  return b;
}

/** ip:port of a sockaddr_in / sockaddr_in6. */
export function parseSockaddr(b: Buffer): { ip: string; port: number } {
  const family = b.readUInt16LE(0);
  const port = b.readUInt16BE(2);
  return { ip: ipText(family === AF_INET6 ? b.subarray(8, 24) : b.subarray(4, 8)), port };
}

export function socket(domain: number, type: number, proto: number, what: string): number {
  return check(`socket(${what})`, load().socket(domain, type | 0o2000000, proto));
}

export function bindTo(fd: number, ip: string, port: number, what: string): void {
  const sa = sockaddr(ip, port);
  check(`bind(${what}, ${nodeNet().isIPv6(ip) ? `[${ip}]` : ip}:${port})`, load().bind(fd, sa, sa.length));
}

export function listenOn(fd: number, backlog: number, what: string): void {
  check(`listen(${what}, ${backlog})`, load().listen(fd, backlog));
}

export function localAddress(fd: number, what: string): { ip: string; port: number } {
  const b = Buffer.alloc(28);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(28);
  check(`getsockname(${what})`, load().getsockname(fd, b, len));
  return parseSockaddr(b);
}

function setInt(fd: number, level: number, name: number, v: number, call: string): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  check(call, load().setsockopt(fd, level, name, b, 4));
}

export function reuseAddr(fd: number, what: string): void {
  setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, `setsockopt(${what}, SOL_SOCKET, SO_REUSEADDR, 1)`);
}

export function v6Only(fd: number, what: string): void {
  setInt(fd, SOL_IPV6, IPV6_V6ONLY, 1, `setsockopt(${what}, SOL_IPV6, IPV6_V6ONLY, 1)`);
}

/** Where a connection redirected by netfilter was going (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). */
export function originalDst(fd: number, v6: boolean): { ip: string; port: number } {
  const b = Buffer.alloc(28);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(v6 ? 28 : 16);
  const call = v6 ? `getsockopt(${fd}, SOL_IPV6, IP6T_SO_ORIGINAL_DST)` : `getsockopt(${fd}, SOL_IP, SO_ORIGINAL_DST)`;
  check(call, load().getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST, b, len));
  return parseSockaddr(b);
}

/** Blocking send of a whole message (netlink, the factory's control socket). */
export function sendMsg(fd: number, msg: Buffer, what: string): void {
  check(`send(${what}, ${msg.length} bytes)`, load().send(fd, msg, msg.length, 0));
}

/** Blocking recv: bytes read. */
export function recvMsg(fd: number, buf: Buffer, what: string): number {
  for (;;) {
    const r = Number(load().recv(fd, buf, buf.length, 0));
    if (r >= 0) return r;
    const e = load().errno();
    if (e !== EINTR) throw new SyscallError(`recv(${what})`, e);
  }
}

/** Blocking recvmsg of a message that may carry a descriptor. */
export function recvWithFd(sock: number, buf: Buffer, what: string): { n: number; fd: number } {
  const fd = [-1];
  const n = Number(load().recvWithFd(sock, buf, buf.length, fd));
  if (n < 0) throw new SyscallError(`recvmsg(${what})`, -n);
  return { n, fd: fd[0]! };
}

/** Blocking sendmsg of a message with descriptors attached (SCM_RIGHTS). */
export function sendWithFds(sock: number, msg: Buffer, fds: readonly number[], what: string): void {
  const r = Number(load().sendWithFds(sock, msg, msg.length, fds, fds.length));
  if (r < 0) throw new SyscallError(`sendmsg(${what}, SCM_RIGHTS ${fds.join(', ')})`, -r);
}

/** sendto without blocking: false when the socket's buffer is full. */
export function sendToNow(fd: number, data: Buffer, ip: string, port: number, what: string): boolean {
  const sa = sockaddr(ip, port);
  const r = Number(load().sendto(fd, data, data.length, MSG_DONTWAIT, sa, sa.length));
  if (r >= 0) return true;
  const e = load().errno();
  if (e === EAGAIN) return false;
  throw new SyscallError(`sendto(${what}, ${ip})`, e);
}

/** recvfrom without blocking: the datagram and its sender, or undefined when none is waiting. */
export function recvFromNow(fd: number, buf: Buffer, what: string): { n: number; ip: string; port: number } | undefined {
  const sa = Buffer.alloc(28);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(28);
  const r = Number(load().recvfrom(fd, buf, buf.length, MSG_DONTWAIT, sa, len));
  if (r >= 0) return { n: r, ...parseSockaddr(sa) };
  const e = load().errno();
  if (e === EAGAIN || e === EINTR) return undefined;
  throw new SyscallError(`recvfrom(${what})`, e);
}

export function closeSock(fd: number): void {
  load().close(fd);
}
