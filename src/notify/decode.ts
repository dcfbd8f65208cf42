/**
 * Decoding a notified call: the report's record (nsjail's unotify.proto
 * argument strings) and the strace-like text of a violation's log line. Pure:
 * the process's memory, descriptors and file types come through `Tracee`, so
 * tests run it on a fake. Strings are latin1 (one char per byte) until shown.
 *
 * Everything read here comes from the program's memory and is only ever
 * shown: the kernel reads its arguments again when a call goes on, so the
 * program could have changed them in between (see README, TOCTOU).
 */
import { syscallByNr, TABLES } from '../seccomp/syscalls/index.js';
import { TRACED_BY_NR, type Role, type Traced } from './syscalls.js';

export type FileType = 'UNKNOWN' | 'NONEXISTENT' | 'REGULAR' | 'DIR' | 'CHR' | 'BLK' | 'FIFO' | 'LINK' | 'SOCK';
export type AccessMode = 'RDONLY' | 'WRONLY' | 'RDWR';
export type NetType = 'IPV4' | 'IPV6' | 'UNIX' | 'NETLINK';

export interface PathInfo {
  /** The path as the jail sees it: absolute when it could be resolved. */
  readonly path: string;
  readonly jailType: FileType;
  readonly mainType: FileType;
  /** Set for the open family only. */
  mode?: AccessMode;
}

export interface NetInfo {
  readonly type: NetType;
  readonly endpoint: string;
  readonly port?: number;
  readonly socketPath?: PathInfo;
}

export interface TraceRecord {
  /** The report's name: nsjail's display name, or sys_<nr>. */
  readonly name: string;
  readonly args: string[];
  readonly paths: PathInfo[];
  net?: NetInfo;
}

/** The traced process, as the decoder sees it. Every method fails soft (undefined). */
export interface Tracee {
  /** A NUL-terminated string of at most max bytes (latin1), or undefined when unreadable. */
  readString(addr: bigint, max: number): string | undefined;
  readBytes(addr: bigint, len: number): Buffer | undefined;
  /** The process's working directory, as the jail sees it. */
  cwd(): string | undefined;
  /** The path behind one of its descriptors. */
  fdPath(fd: number): string | undefined;
  /** lstat of path inside the jail (through /proc/PID/root) and on the host. */
  jailType(path: string): FileType;
  mainType(path: string): FileType;
  /** SO_TYPE and SO_PROTOCOL of one of its sockets. */
  socketType(fd: number): { type: number; protocol: number } | undefined;
}

export const PATH_MAX = 4095;
const MAX_VEC = 128;
const AT_FDCWD = -100;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;

const O_ACC: Readonly<Record<number, AccessMode>> = { 0: 'RDONLY', 1: 'WRONLY', 2: 'RDWR' };
/** The open flags besides the access mode, in nsjail's order (O_SYNC includes O_DSYNC's bit). */
const O_EXTRA: ReadonlyArray<readonly [string, number]> = [
  ['O_CREAT', 0o100],
  ['O_EXCL', 0o200],
  ['O_NOCTTY', 0o400],
  ['O_TRUNC', 0o1000],
  ['O_APPEND', 0o2000],
  ['O_NONBLOCK', 0o4000],
  ['O_DSYNC', 0o10000],
  ['FASYNC', 0o20000],
  ['O_DIRECT', 0o40000],
  ['O_LARGEFILE', 0o100000],
  ['O_DIRECTORY', 0o200000],
  ['O_NOFOLLOW', 0o400000],
  ['O_NOATIME', 0o1000000],
  ['O_CLOEXEC', 0o2000000],
  ['O_SYNC', 0o4010000],
  ['O_PATH', 0o10000000],
  ['O_TMPFILE', 0o20200000],
];
const ACCESS_BITS: ReadonlyArray<readonly [string, number]> = [
  ['R_OK', 4],
  ['W_OK', 2],
  ['X_OK', 1],
];
const SOCK_TYPES: Readonly<Record<number, string>> = { 1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 4: 'SOCK_RDM', 5: 'SOCK_SEQPACKET', 6: 'SOCK_DCCP', 10: 'SOCK_PACKET' };
const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'IPPROTO_ICMP', 6: 'IPPROTO_TCP', 17: 'IPPROTO_UDP', 58: 'IPPROTO_ICMPV6' };
const FAMILIES: Readonly<Record<number, string>> = { 1: 'AF_UNIX', 2: 'AF_INET', 10: 'AF_INET6', 16: 'AF_NETLINK', 17: 'AF_PACKET' };

const i32 = (v: bigint): number => Number(BigInt.asIntN(32, v));

/** The access mode and the other open flags' names (`O_CREAT|O_TRUNC`, '' when none). */
export function openFlags(flags: number): { mode: AccessMode | undefined; extra: string } {
  const extra = O_EXTRA.filter(([, bit]) => (flags & bit) === bit).map(([n]) => n);
  return { mode: O_ACC[flags & 3], extra: extra.join('|') };
}

function accessText(m: number): string {
  if (m === 0) return 'F_OK';
  const names = ACCESS_BITS.filter(([, b]) => m & b).map(([n]) => n);
  const rest = m & ~7;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.join('|');
}

function socketTypeText(s: { type: number; protocol: number }): string {
  const t = SOCK_TYPES[s.type & 0xf] ?? `type_${s.type}`;
  if (s.protocol === 0) return t;
  return `${t} (${PROTOCOLS[s.protocol] ?? `proto_${s.protocol}`})`;
}

/** inet_ntop(AF_INET6) as glibc prints it: the longest run of zero groups as ::, IPv4-mapped and -compatible tails dotted. */
export function ipv6Text(b: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = { base: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > best.len) best = { base: i, len: j - i };
    i = j;
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base >= 0 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && w[5] === 0xffff))) {
      out += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best.base >= 0 && best.base + best.len === 8) out += ':';
  return out;
}

/** A sockaddr as the report's network resource; undefined for families the report leaves out. */
export function decodeSockaddr(b: Buffer, sockType: number | undefined, t: Tracee, resolve: (p: string) => string): NetInfo | undefined {
  if (b.length < 2) return undefined;
  const family = b.readUInt16LE(0);
  const withPort = sockType !== undefined && ((sockType & 0xf) === SOCK_STREAM || (sockType & 0xf) === SOCK_DGRAM);
  switch (family) {
    case AF_INET:
      if (b.length < 8) return undefined;
      return { type: 'IPV4', endpoint: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, ...(withPort ? { port: b.readUInt16BE(2) } : {}) };
    case AF_INET6:
      if (b.length < 24) return undefined;
      return { type: 'IPV6', endpoint: ipv6Text(b.subarray(8, 24)), ...(withPort ? { port: b.readUInt16BE(2) } : {}) };
    case AF_UNIX: {
      if (b.length <= 2) return { type: 'UNIX', endpoint: 'anonymous unix socket' };
      const raw = b.subarray(2);
      if (raw[0] === 0) return { type: 'UNIX', endpoint: `@${raw.subarray(1).toString('latin1')}` };
      const nul = raw.indexOf(0);
      const path = resolve(raw.subarray(0, nul < 0 ? raw.length : nul).toString('latin1'));
      return { type: 'UNIX', endpoint: path, socketPath: { path, jailType: t.jailType(path), mainType: t.mainType(path) } };
    }
    case AF_NETLINK:
      return { type: 'NETLINK', endpoint: 'NETLINK' };
    default:
      return undefined;
  }
}

/** Reads the NULL-terminated pointer array at addr (at most max entries). */
function readPointers(t: Tracee, addr: bigint, max: number): bigint[] | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < max; i++) {
    const b = t.readBytes(addr + BigInt(8 * i), 8);
    if (!b) return i === 0 ? undefined : out;
    const p = b.readBigUInt64LE(0);
    if (p === 0n) break;
    out.push(p);
  }
  return out;
}

/** The record of one traced call, for the report. */
export function decodeTraced(def: Traced, args: readonly bigint[], t: Tracee): TraceRecord {
  const rec: TraceRecord = { name: def.display, args: [], paths: [] };
  let dirfd: number | undefined;
  let sockType: number | undefined;
  let modeExtra = '';
  const base = (fd: number | undefined): string | undefined => (fd === undefined || fd === AT_FDCWD ? t.cwd() : t.fdPath(fd));
  const resolveWith = (fd: number | undefined) => (p: string) => {
    if (p.startsWith('/') || p === '') return p;
    const b = base(fd);
    return b === undefined ? p : `${b === '/' ? '' : b}/${p}`;
  };
  const applyFlags = (flags: number) => {
    const f = openFlags(flags);
    const last = rec.paths[rec.paths.length - 1];
    if (last && f.mode) last.mode = f.mode;
    modeExtra = f.extra;
  };
  const saddr = (addr: bigint, len: number) => {
    if (addr === 0n || len <= 0 || len > 128) return;
    const b = t.readBytes(addr, len);
    if (b) rec.net = decodeSockaddr(b, sockType, t, resolveWith(undefined));
  };
  def.roles.forEach((role: Role, i) => {
    const v = args[i] ?? 0n;
    switch (role) {
      case 'dirfd':
        dirfd = i32(v);
        rec.args.push(dirfd === AT_FDCWD ? 'dirfd=AT_FDCWD' : `dirfd=${dirfd}`);
        return;
      case 'path': {
        const s = v === 0n ? 'NULL' : (t.readString(v, PATH_MAX) ?? '<invalid_ptr>');
        const path = v === 0n || s === '<invalid_ptr>' ? s : resolveWith(dirfd)(s);
        rec.paths.push({ path, jailType: t.jailType(path), mainType: t.mainType(path) });
        dirfd = undefined;
        return;
      }
      case 'oflags':
        return applyFlags(i32(v));
      case 'ohow': {
        const how = v === 0n ? undefined : t.readBytes(v, 24);
        if (!how) return;
        applyFlags(Number(how.readBigUInt64LE(0) & 0xffffffffn));
        const resolve = how.readBigUInt64LE(16);
        if (resolve !== 0n) rec.args.push(`resolve=${resolve}`);
        return;
      }
      case 'octal':
        rec.args.push(`mode=0${(Number(v) >>> 0).toString(8)}`);
        return;
      case 'access':
        rec.args.push(`mode=${accessText(i32(v))}`);
        return;
      case 'uid':
        rec.args.push(`owner=${i32(v)}`);
        return;
      case 'gid':
        rec.args.push(`group=${i32(v)}`);
        return;
      case 'argv':
      case 'envp': {
        const ptrs = v === 0n ? [] : (readPointers(t, v, MAX_VEC) ?? []);
        ptrs.forEach((p, k) => rec.args.push(`${role}[${k}]=${t.readString(p, PATH_MAX) ?? '<invalid_ptr>'}`));
        return;
      }
      case 'fd': {
        const fd = i32(v);
        rec.args.push(`fd=${fd}`);
        const st = t.socketType(fd);
        sockType = st?.type;
        if (st) rec.args.push(`type=${socketTypeText(st)}`);
        return;
      }
      case 'saddr':
        return saddr(v, i32(args[i + 1] ?? 0n));
      case 'iflags':
        rec.args.push(`flags=${i32(v)}`);
        return;
      case 'msghdr': {
        const m = v === 0n ? undefined : t.readBytes(v, 16);
        if (m) saddr(m.readBigUInt64LE(0), m.readUInt32LE(8));
        return;
      }
      case 'skip':
        return;
    }
  });
  if (def.impliedFlags !== undefined) applyFlags(def.impliedFlags);
  if (modeExtra) rec.args.push(`mode_extra=${modeExtra}`);
  return rec;
}

// --- Violations: any call, strace-like -------------------------------------------------

/** Argument names that hold a path or a name string, for calls outside the traced table. */
const STRING_ARGS = new Set(['filename', 'pathname', 'path', 'oldname', 'newname', 'dev_name', 'dir_name', 'specialfile', 'library', 'new_root', 'put_old', 'fs_name']);
/** Strings whose argument name means a number elsewhere (`type`, `name`). */
const STRING_ARGS_OF: Readonly<Record<string, readonly string[]>> = {
  mount: ['type'],
  sethostname: ['name'],
  setdomainname: ['name'],
  ...Object.fromEntries(['setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'fgetxattr', 'removexattr', 'lremovexattr', 'fremovexattr'].map((c) => [c, ['name']])),
};
const DIRFD_ARGS = new Set(['dfd', 'olddfd', 'newdfd', 'dirfd']);
const SHOWN = 256;

/** A string for a log line: UTF-8 shown as such, control bytes escaped, long ones cut. */
export function quoteString(latin1: string, max = SHOWN): string {
  const cut = latin1.length > max;
  const text = Buffer.from(cut ? latin1.slice(0, max) : latin1, 'latin1').toString('utf8');
  const escaped = text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${escaped}"${cut ? '...' : ''}`;
}

const num = (v: bigint): string => {
  const s = BigInt.asIntN(64, v);
  return s > -4096n && s < 65536n ? String(s) : `0x${BigInt.asUintN(64, v).toString(16)}`;
};

function strArg(t: Tracee, v: bigint): string {
  if (v === 0n) return 'NULL';
  const s = t.readString(v, PATH_MAX);
  return s === undefined ? num(v) : quoteString(s);
}

function sockaddrText(t: Tracee, addr: bigint, len: number): string {
  if (addr === 0n) return 'NULL';
  const b = len > 0 && len <= 128 ? t.readBytes(addr, len) : undefined;
  if (!b || b.length < 2) return `0x${addr.toString(16)}`;
  const family = b.readUInt16LE(0);
  const fam = FAMILIES[family] ?? String(family);
  const n = decodeSockaddr(b, SOCK_STREAM, t, (p) => p);
  if (!n) return `{${fam}}`;
  if (n.type === 'IPV4') return `{${fam}, ${n.endpoint}:${n.port}}`;
  if (n.type === 'IPV6') return `{${fam}, [${n.endpoint}]:${n.port}}`;
  if (n.type === 'UNIX') return `{${fam}, ${quoteString(n.endpoint)}}`;
  return `{${fam}}`;
}

function roleText(role: Role, i: number, args: readonly bigint[], t: Tracee): string {
  const v = args[i] ?? 0n;
  switch (role) {
    case 'dirfd':
      return i32(v) === AT_FDCWD ? 'AT_FDCWD' : String(i32(v));
    case 'path':
      return strArg(t, v);
    case 'oflags': {
      const f = openFlags(i32(v));
      return [f.mode ? `O_${f.mode}` : `0x${(i32(v) & 3).toString(16)}`, ...(f.extra ? [f.extra] : [])].join('|');
    }
    case 'ohow': {
      const how = v === 0n ? undefined : t.readBytes(v, 24);
      if (!how) return num(v);
      return `{flags=${roleText('oflags', 0, [how.readBigUInt64LE(0)], t)}, mode=0${how.readBigUInt64LE(8).toString(8)}, resolve=0x${how.readBigUInt64LE(16).toString(16)}}`;
    }
    case 'octal':
      return `0${(Number(v) >>> 0).toString(8)}`;
    case 'access':
      return accessText(i32(v));
    case 'uid':
    case 'gid':
    case 'fd':
      return String(i32(v));
    case 'argv': {
      const ptrs = v === 0n ? [] : readPointers(t, v, 9);
      if (!ptrs) return `0x${v.toString(16)}`;
      return `[${ptrs.slice(0, 8).map((p) => strArg(t, p)).join(', ')}${ptrs.length > 8 ? ', ...' : ''}]`;
    }
    case 'envp': {
      const ptrs = v === 0n ? [] : readPointers(t, v, MAX_VEC);
      return ptrs ? `[/* ${ptrs.length} vars */]` : `0x${v.toString(16)}`;
    }
    case 'saddr':
      return sockaddrText(t, v, i32(args[i + 1] ?? 0n));
    case 'msghdr': {
      const m = v === 0n ? undefined : t.readBytes(v, 16);
      if (!m) return num(v);
      const name = m.readBigUInt64LE(0);
      return name === 0n ? `{msg_name=NULL}` : `{msg_name=${sockaddrText(t, name, m.readUInt32LE(8))}}`;
    }
    case 'iflags':
      return `0x${(i32(v) >>> 0).toString(16)}`;
    case 'skip':
      return num(v);
  }
}

export interface CallText {
  readonly name: string;
  /** Each argument, decoded. */
  readonly args: string[];
}

/** Any call by number, with its arguments decoded as far as tsjail knows them: `openat(AT_FDCWD, "/etc/passwd", O_RDONLY)`. */
export function decodeCall(nr: number, arch: string, args: readonly bigint[], t: Tracee): CallText {
  const table = TABLES[arch];
  const info = table && syscallByNr(table, nr);
  if (!info) return { name: `syscall_${nr}`, args: args.map(num) };
  const traced = arch === 'x86_64' ? TRACED_BY_NR.get(nr) : undefined;
  const out = info.args.map(([argName], i) => {
    if (traced) return roleText(traced.roles[i] ?? 'skip', i, args, t);
    if (DIRFD_ARGS.has(argName)) return roleText('dirfd', i, args, t);
    if (STRING_ARGS.has(argName) || STRING_ARGS_OF[info.name]?.includes(argName)) return strArg(t, args[i] ?? 0n);
    return num(args[i] ?? 0n);
  });
  return { name: info.name, args: out };
}

export const formatCall = (c: CallText): string => `${c.name}(${c.args.join(', ')})`;
