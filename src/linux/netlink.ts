/**
 * A small rtnetlink client (AF_NETLINK, NETLINK_ROUTE) and the namespace
 * calls the network features need: look links up, create a macvlan, move a
 * link to another network namespace, add addresses and routes, bring links
 * up. One socket per namespace, messages built here, every request
 * acknowledged (NLM_F_ACK) and a failure thrown as SyscallError naming the
 * request and the kernel's errno. No subprocess per jail.
 *
 * A netlink socket belongs to the network namespace it was created in, so a
 * socket for the jail's namespace is created with this (main) thread moved
 * there by setns(2) for the one socket() call and moved back at once; network
 * namespaces are per thread, and no other JavaScript runs meanwhile.
 */
import { closeSync, openSync } from 'node:fs';
import { AF_INET, AF_INET6, AF_NETLINK, IFF_UP, NETLINK_ROUTE, SOCK_CLOEXEC, SOCK_RAW } from './consts.js';
import { ipText } from '../net/addr.js';
import { koffi as loadKoffi, SyscallError } from './libc.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
interface Calls {
  socket: Fn;
  bind: Fn;
  send: Fn;
  recv: Fn;
  setns: Fn;
  ioctl: Fn;
}
let calls: Calls | undefined;
let koffiErrno: () => number;

function load(): Calls {
  if (calls) return calls;
  // libc.ts's loader: it also finds koffi inside the single binary.
  const koffi = loadKoffi();
  const c = koffi.load('libc.so.6');
  koffiErrno = () => koffi.errno();
  calls = {
    socket: c.func('int socket(int domain, int type, int protocol)'),
    bind: c.func('int bind(int fd, const void *addr, uint32_t len)'),
    send: c.func('long send(int fd, const void *buf, size_t len, int flags)'),
    recv: c.func('long recv(int fd, _Out_ void *buf, size_t len, int flags)'),
    setns: c.func('int setns(int fd, int nstype)'),
    ioctl: c.func('int ioctl(int fd, unsigned long req, unsigned long arg)'),
  };
  return calls;
}

function check(call: string, r: number | bigint): number {
  if (Number(r) < 0) throw new SyscallError(call, koffiErrno());
  return Number(r);
}

export const CLONE_NEWNET = 0x40000000;
const NS_GET_NSTYPE = 0xb703;
const NS_NAMES: Record<number, string> = {
  0x00020000: 'mnt',
  0x02000000: 'cgroup',
  0x04000000: 'uts',
  0x08000000: 'ipc',
  0x10000000: 'user',
  0x20000000: 'pid',
  0x40000000: 'net',
  0x00000080: 'time',
};

/** ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of a namespace fd; throws for a file that is not a namespace. */
export function nsType(fd: number, path: string): number {
  return check(`ioctl('${path}', NS_GET_NSTYPE)`, load().ioctl(fd, NS_GET_NSTYPE, 0));
}

export function nsTypeName(t: number): string {
  return NS_NAMES[t] ?? `0x${t.toString(16)}`;
}

/** setns(fd, CLONE_NEWNET) for the calling (main) thread. */
export function setNetns(fd: number, what: string): void {
  check(`setns(${what}, CLONE_NEWNET)`, load().setns(fd, CLONE_NEWNET));
}

/** Run fn with this thread in the network namespace `fd`, then move back (also when fn throws). */
export function inNetns<T>(fd: number, what: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    setNetns(fd, what);
    try {
      return fn();
    } finally {
      setNetns(home, "tsjail's own network namespace");
    }
  } finally {
    closeSync(home);
  }
}

// Kernel constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h).
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_SETLINK = 19;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_LINK = 5;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;
const NLA_F_NESTED = 0x8000;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const RTA_GATEWAY = 5;
const RTA_OIF = 4;
const RTA_PRIORITY = 6;
const IFLA_MTU = 4;
const RT_SCOPE_LINK = 253;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

/** MACVLAN_MODE_* by the names nsjail's --macvlan_vs_mo takes. */
export const MACVLAN_MODES: Readonly<Record<string, number>> = { private: 1, vepa: 2, bridge: 4, passthru: 8 };

/** A netlink attribute: type and payload (bytes, or nested attributes). */
interface Attr {
  readonly type: number;
  readonly data: Uint8Array | readonly Attr[];
}
const pad4 = (n: number) => (n + 3) & ~3;

function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const nested = !(a.data instanceof Uint8Array);
    const body = nested ? encodeAttrs(a.data as readonly Attr[]) : Buffer.from(a.data as Uint8Array);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + body.length, 0);
    head.writeUInt16LE(a.type | (nested ? NLA_F_NESTED : 0), 2);
    parts.push(head, body, Buffer.alloc(pad4(body.length) - body.length));
  }
  return Buffer.concat(parts);
}

const strAttr = (type: number, s: string): Attr => ({ type, data: Buffer.from(`${s}\0`, 'latin1') });
const u32Attr = (type: number, v: number): Attr => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return { type, data: b };
};

/** struct ifaddrmsg for an address of ADDR's family, global scope. */
function ifaddrmsg(addr: Uint8Array, prefix: number, index: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(addr.length === 4 ? AF_INET : AF_INET6, 0);
  head.writeUInt8(prefix, 1);
  head.writeUInt8(RT_SCOPE_UNIVERSE, 3);
  head.writeUInt32LE(index, 4);
  return head;
}

function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** One rtnetlink socket, in the namespace it was opened in. */
export class Rtnl {
  private seq = 1;
  private constructor(
    private readonly fd: number,
    /** For errors: which namespace this socket talks to. */
    readonly where: string,
  ) {}

  /** A socket in this thread's current network namespace. */
  static open(where = "tsjail's network namespace"): Rtnl {
    const l = load();
    const fd = check('socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)', l.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    try {
      check('bind(AF_NETLINK)', l.bind(fd, sa, sa.length));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new Rtnl(fd, where);
  }

  /** A socket in the network namespace `nsFd` (see the module comment). */
  static openIn(nsFd: number, where: string): Rtnl {
    return inNetns(nsFd, where, () => Rtnl.open(where));
  }

  /** A NETLINK_ROUTE socket made elsewhere (user_net's socket factory, in the jail's namespace); this object owns it. */
  static fromFd(fd: number, where: string): Rtnl {
    return new Rtnl(fd, where);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Send one request and wait for its answer; returns the reply payloads (for a GET), throws the errno of an NLMSG_ERROR. */
  private request(call: string, type: number, flags: number, body: Buffer): Buffer[] {
    const l = load();
    const seq = this.seq++;
    const head = Buffer.alloc(16);
    head.writeUInt32LE(16 + body.length, 0);
    head.writeUInt16LE(type, 4);
    head.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | flags, 6);
    head.writeUInt32LE(seq, 8);
    const msg = Buffer.concat([head, body]);
    check(`send(netlink, ${call})`, l.send(this.fd, msg, msg.length, 0));
    const replies: Buffer[] = [];
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = check(`recv(netlink, ${call})`, l.recv(this.fd, buf, buf.length, 0));
      for (let at = 0; at + 16 <= n; ) {
        const len = buf.readUInt32LE(at);
        const mtype = buf.readUInt16LE(at + 4);
        const mseq = buf.readUInt32LE(at + 8);
        if (len < 16) break;
        if (mseq === seq) {
          if (mtype === NLMSG_ERROR) {
            const err = -buf.readInt32LE(at + 16);
            if (err !== 0) throw new SyscallError(`${call} in ${this.where}`, err);
            return replies;
          }
          replies.push(Buffer.from(buf.subarray(at + 16, at + len)));
        }
        at += pad4(len);
      }
    }
  }

  /** The index of link `name`, or undefined when there is none (ENODEV). */
  linkIndex(name: string): number | undefined {
    try {
      const replies = this.request(`RTM_GETLINK '${name}'`, RTM_GETLINK, 0, Buffer.concat([ifinfomsg(0), encodeAttrs([strAttr(IFLA_IFNAME, name)])]));
      const r = replies[0];
      return r ? r.readInt32LE(4) : undefined;
    } catch (e) {
      if (e instanceof SyscallError && e.errno === 19 /* ENODEV */) return undefined;
      throw e;
    }
  }

  /** ip link add link PARENT name NAME [address MAC] netns FD type macvlan mode MODE */
  addMacvlan(o: { parent: number; parentName: string; name: string; mode: string; mac?: Uint8Array; netnsFd: number }): void {
    const attrs: Attr[] = [strAttr(IFLA_IFNAME, o.name), u32Attr(IFLA_LINK, o.parent), u32Attr(IFLA_NET_NS_FD, o.netnsFd)];
    if (o.mac) attrs.push({ type: IFLA_ADDRESS, data: o.mac });
    attrs.push({ type: IFLA_LINKINFO, data: [strAttr(IFLA_INFO_KIND, 'macvlan'), { type: IFLA_INFO_DATA, data: [u32Attr(IFLA_MACVLAN_MODE, MACVLAN_MODES[o.mode]!)] }] });
    const mac = o.mac ? ` address ${[...o.mac].map((x) => x.toString(16).padStart(2, '0')).join(':')}` : '';
    this.request(`RTM_NEWLINK(link '${o.parentName}' name '${o.name}'${mac} type macvlan mode ${o.mode}, into the jail's namespace)`, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([ifinfomsg(0), encodeAttrs(attrs)]));
  }

  /** ip link set NAME netns FD */
  moveLink(index: number, name: string, netnsFd: number, whereTo: string): void {
    this.request(`RTM_SETLINK('${name}' netns ${whereTo})`, RTM_SETLINK, 0, Buffer.concat([ifinfomsg(index), encodeAttrs([u32Attr(IFLA_NET_NS_FD, netnsFd)])]));
  }

  /** ip link set NAME up */
  linkUp(index: number, name: string): void {
    this.request(`RTM_NEWLINK('${name}' up)`, RTM_NEWLINK, 0, ifinfomsg(index, IFF_UP, IFF_UP));
  }

  /** ip link set NAME mtu MTU up */
  linkMtuUp(index: number, name: string, mtu: number): void {
    this.request(`RTM_NEWLINK('${name}' mtu ${mtu} up)`, RTM_NEWLINK, 0, Buffer.concat([ifinfomsg(index, IFF_UP, IFF_UP), encodeAttrs([u32Attr(IFLA_MTU, mtu)])]));
  }

  /** ip addr add LOCAL peer PEER/PREFIX dev NAME (IPv4 point-to-point), or LOCAL/PREFIX (IPv6; a TUN device is NOARP, so no duplicate detection delays it). */
  addPeerAddress(index: number, name: string, local: Uint8Array, peer: Uint8Array | undefined, prefix: number): void {
    const head = ifaddrmsg(local, prefix, index);
    const attrs: Attr[] = [{ type: IFA_LOCAL, data: local }, { type: IFA_ADDRESS, data: peer ?? local }];
    const text = `${ipText(local)}${peer ? ` peer ${ipText(peer)}` : ''}/${prefix}`;
    this.request(`RTM_NEWADDR(${text} dev '${name}')`, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([head, encodeAttrs(attrs)]));
  }

  /** ip route add default dev NAME [metric M] (a device route, no gateway). */
  addDefaultDevRoute(index: number, name: string, v6: boolean, metric?: number): void {
    const rt = Buffer.alloc(12);
    rt.writeUInt8(v6 ? AF_INET6 : AF_INET, 0);
    rt.writeUInt8(RT_TABLE_MAIN, 4);
    rt.writeUInt8(RTPROT_BOOT, 5);
    rt.writeUInt8(v6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK, 6);
    rt.writeUInt8(RTN_UNICAST, 7);
    const attrs = [u32Attr(RTA_OIF, index)];
    if (metric !== undefined) attrs.push(u32Attr(RTA_PRIORITY, metric));
    this.request(`RTM_NEWROUTE(default dev '${name}'${v6 ? ' (IPv6)' : ''}${metric !== undefined ? ` metric ${metric}` : ''})`, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([rt, encodeAttrs(attrs)]));
  }

  /** ip addr add ADDR/PREFIX [brd BROADCAST] dev NAME */
  addAddress(index: number, name: string, addr: Uint8Array, prefix: number, broadcast?: Uint8Array): void {
    const head = ifaddrmsg(addr, prefix, index);
    const attrs: Attr[] = [{ type: IFA_LOCAL, data: addr }, { type: IFA_ADDRESS, data: addr }];
    if (broadcast) attrs.push({ type: IFA_BROADCAST, data: broadcast });
    this.request(`RTM_NEWADDR(${ipText(addr)}/${prefix} dev '${name}')`, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([head, encodeAttrs(attrs)]));
  }

  /** ip route add default via GW dev NAME */
  addDefaultRoute(index: number, name: string, gw: Uint8Array): void {
    const family = gw.length === 4 ? AF_INET : AF_INET6;
    const rt = Buffer.alloc(12);
    rt.writeUInt8(family, 0);
    rt.writeUInt8(RT_TABLE_MAIN, 4);
    rt.writeUInt8(RTPROT_BOOT, 5);
    rt.writeUInt8(RT_SCOPE_UNIVERSE, 6);
    rt.writeUInt8(RTN_UNICAST, 7);
    this.request(`RTM_NEWROUTE(default via ${ipText(gw)} dev '${name}')`, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([rt, encodeAttrs([{ type: RTA_GATEWAY, data: gw }, u32Attr(RTA_OIF, index)])]));
  }
}


/** Open a namespace file pinned for the jail's lifetime; the caller closes it. */
export function openNs(path: string): number {
  return openSync(path, 'r');
}
