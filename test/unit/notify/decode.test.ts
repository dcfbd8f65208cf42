/** Decoding notified calls (src/notify/decode.ts) on a fake process: the report's arguments and the violation text. */
import { describe, expect, it } from 'vitest';
import { decodeCall, decodeTraced, formatCall, ipv6Text, openFlags, quoteString, type FileType, type Tracee } from '../../../src/notify/decode.js';
import { TRACED, TRACED_BY_NR } from '../../../src/notify/syscalls.js';

/** A process whose memory is a few strings and structs at fixed addresses. */
function fake(mem: Record<string, Buffer | string>, opts: { cwd?: string; fds?: Record<number, string>; types?: Record<string, FileType>; sock?: { type: number; protocol: number } } = {}): Tracee {
  const at = (addr: bigint) => {
    for (const [k, v] of Object.entries(mem)) {
      const base = BigInt(k);
      const b = typeof v === 'string' ? Buffer.from(`${v}\0`, 'latin1') : v;
      if (addr >= base && addr < base + BigInt(b.length)) return b.subarray(Number(addr - base));
    }
    return undefined;
  };
  return {
    readString: (addr, max) => {
      const b = at(addr);
      if (!b) return undefined;
      const nul = b.indexOf(0);
      return b.toString('latin1', 0, nul < 0 ? b.length : nul).slice(0, max);
    },
    readBytes: (addr, len) => {
      const b = at(addr);
      return b && b.length >= len ? Buffer.from(b.subarray(0, len)) : undefined;
    },
    cwd: () => opts.cwd,
    fdPath: (fd) => opts.fds?.[fd],
    jailType: (p) => opts.types?.[p] ?? 'NONEXISTENT',
    mainType: (p) => opts.types?.[p] ?? 'NONEXISTENT',
    socketType: () => opts.sock,
  };
}

const def = (name: string) => TRACED.find((t) => t.name === name)!;
const AT_FDCWD = BigInt.asUintN(64, -100n);

describe('the report record of a traced call', () => {
  it('openat: dirfd, the path resolved against the cwd, the access mode and the other flags', () => {
    const t = fake({ 0x1000: 'rel/file' }, { cwd: '/work', types: { '/work/rel/file': 'REGULAR' } });
    const r = decodeTraced(def('openat'), [AT_FDCWD, 0x1000n, BigInt(0o1 | 0o100 | 0o1000 | 0o2000000), 0o644n], t);
    expect(r).toEqual({ name: 'openat', args: ['dirfd=AT_FDCWD', 'mode_extra=O_CREAT|O_TRUNC|O_CLOEXEC'], paths: [{ path: '/work/rel/file', jailType: 'REGULAR', mainType: 'REGULAR', mode: 'WRONLY' }] });
  });

  it('a dirfd other than AT_FDCWD resolves through the descriptor; "" stays "" (AT_EMPTY_PATH)', () => {
    const t = fake({ 0x1000: 'x', 0x2000: '' }, { fds: { 7: '/etc' } });
    expect(decodeTraced(def('newfstatat'), [7n, 0x1000n], t).paths[0]!.path).toBe('/etc/x');
    expect(decodeTraced(def('newfstatat'), [3n, 0x2000n], t)).toMatchObject({ args: ['dirfd=3'], paths: [{ path: '' }] });
  });

  it('stat and lstat carry their nsjail names; NULL and unreadable pointers are shown as such', () => {
    expect(decodeTraced(def('newstat'), [0n], fake({})).name).toBe('stat');
    expect(decodeTraced(def('newlstat'), [0n], fake({})).paths[0]!.path).toBe('NULL');
    expect(decodeTraced(def('access'), [0x9000n, 0n], fake({}))).toMatchObject({ args: ['mode=F_OK'], paths: [{ path: '<invalid_ptr>' }] });
  });

  it('access mode bits, octal modes, owners, two paths', () => {
    const t = fake({ 0x1000: '/a', 0x2000: '/b' });
    expect(decodeTraced(def('faccessat'), [AT_FDCWD, 0x1000n, 6n], t).args).toEqual(['dirfd=AT_FDCWD', 'mode=R_OK|W_OK']);
    expect(decodeTraced(def('mkdir'), [0x1000n, 0o755n], t).args).toEqual(['mode=0755']);
    expect(decodeTraced(def('fchownat'), [AT_FDCWD, 0x1000n, 1000n, BigInt.asUintN(64, -1n)], t).args).toEqual(['dirfd=AT_FDCWD', 'owner=1000', 'group=-1']);
    expect(decodeTraced(def('renameat2'), [AT_FDCWD, 0x1000n, AT_FDCWD, 0x2000n], t).paths.map((p) => p.path)).toEqual(['/a', '/b']);
  });

  it('execve: argv and envp strings', () => {
    const argv = Buffer.alloc(24);
    argv.writeBigUInt64LE(0x3000n, 0);
    argv.writeBigUInt64LE(0x3100n, 8);
    const envp = Buffer.alloc(16);
    envp.writeBigUInt64LE(0x3200n, 0);
    const t = fake({ 0x1000: '/bin/sh', 0x2000: argv, 0x2100: envp, 0x3000: 'sh', 0x3100: '-c', 0x3200: 'A=1' });
    expect(decodeTraced(def('execve'), [0x1000n, 0x2000n, 0x2100n], t).args).toEqual(['argv[0]=sh', 'argv[1]=-c', 'envp[0]=A=1']);
  });

  it('openat2: flags from open_how, resolve when set; creat implies O_CREAT|O_WRONLY|O_TRUNC', () => {
    const how = Buffer.alloc(24);
    how.writeBigUInt64LE(BigInt(0o2), 0);
    how.writeBigUInt64LE(8n, 16);
    const t = fake({ 0x1000: '/f', 0x2000: how });
    expect(decodeTraced(def('openat2'), [AT_FDCWD, 0x1000n, 0x2000n, 24n], t)).toMatchObject({ args: ['dirfd=AT_FDCWD', 'resolve=8'], paths: [{ path: '/f', mode: 'RDWR' }] });
    expect(decodeTraced(def('creat'), [0x1000n, 0o600n], t)).toMatchObject({ args: ['mode=0600', 'mode_extra=O_CREAT|O_TRUNC'], paths: [{ mode: 'WRONLY' }] });
  });

  it('connect: the socket type, and an IPv4, IPv6, unix or netlink address', () => {
    const sin = Buffer.from([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const sin6 = Buffer.alloc(28);
    sin6.writeUInt16LE(10, 0);
    sin6.writeUInt16BE(53, 2);
    sin6[23] = 1;
    const sun = Buffer.concat([Buffer.from([1, 0]), Buffer.from('run/sock\0')]);
    const abs = Buffer.concat([Buffer.from([1, 0, 0]), Buffer.from('name')]);
    const t = fake({ 0x1000: sin, 0x2000: sin6, 0x3000: sun, 0x4000: abs, 0x5000: Buffer.from([16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }, { cwd: '/', sock: { type: 1, protocol: 6 } });
    const c = def('connect');
    expect(decodeTraced(c, [3n, 0x1000n, 16n], t)).toMatchObject({ args: ['fd=3', 'type=SOCK_STREAM (IPPROTO_TCP)'], net: { type: 'IPV4', endpoint: '127.0.0.1', port: 8080 } });
    expect(decodeTraced(c, [3n, 0x2000n, 28n], t).net).toEqual({ type: 'IPV6', endpoint: '::1', port: 53 });
    expect(decodeTraced(c, [3n, 0x3000n, BigInt(sun.length)], t).net).toMatchObject({ type: 'UNIX', endpoint: '/run/sock', socketPath: { path: '/run/sock' } });
    expect(decodeTraced(c, [3n, 0x4000n, BigInt(abs.length)], t).net).toEqual({ type: 'UNIX', endpoint: '@name' });
    expect(decodeTraced(c, [3n, 0x3000n, 2n], t).net).toEqual({ type: 'UNIX', endpoint: 'anonymous unix socket' });
    expect(decodeTraced(c, [3n, 0x5000n, 12n], t).net).toEqual({ type: 'NETLINK', endpoint: 'NETLINK' });
    // No port for a socket that is neither stream nor datagram; protocol 0 is not printed.
    const raw = fake({ 0x1000: sin }, { sock: { type: 3, protocol: 0 } });
    expect(decodeTraced(c, [4n, 0x1000n, 16n], raw)).toMatchObject({ args: ['fd=4', 'type=SOCK_RAW'], net: { type: 'IPV4', endpoint: '127.0.0.1' } });
    expect(decodeTraced(c, [4n, 0x1000n, 16n], raw).net!.port).toBeUndefined();
  });

  it('sendto without an address (a connected socket) records no network resource; sendmsg reads msg_name', () => {
    const sin = Buffer.from([2, 0, 0, 53, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(0x1000n, 0);
    msg.writeUInt32LE(16, 8);
    const t = fake({ 0x1000: sin, 0x2000: msg }, { sock: { type: 2, protocol: 17 } });
    const unaddressed = decodeTraced(def('sendto'), [5n, 0x9000n, 10n, 0n, 0n, 0n], t);
    expect(unaddressed.args).toEqual(['fd=5', 'type=SOCK_DGRAM (IPPROTO_UDP)', 'flags=0']);
    expect(unaddressed.net).toBeUndefined();
    expect(decodeTraced(def('sendmsg'), [5n, 0x2000n, 0n], t).net).toEqual({ type: 'IPV4', endpoint: '10.0.0.1', port: 53 });
  });

  it('every traced call exists on x86_64', () => {
    expect(TRACED_BY_NR.size).toBe(TRACED.length);
  });
});

describe('the text of a violation', () => {
  it('a traced call, strace-like', () => {
    const t = fake({ 0x1000: '/etc/passwd' });
    expect(formatCall(decodeCall(257, 'x86_64', [AT_FDCWD, 0x1000n, BigInt(0o2000000), 0n], t))).toBe('openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC, 0)');
  });

  it('other calls: path-named arguments read as strings, the rest as numbers', () => {
    const t = fake({ 0x1000: 'none', 0x2000: '/mnt', 0x3000: 'tmpfs' });
    expect(formatCall(decodeCall(165, 'x86_64', [0x1000n, 0x2000n, 0x3000n, 0n, 0n], t))).toBe('mount("none", "/mnt", "tmpfs", 0, 0)');
    expect(formatCall(decodeCall(39, 'x86_64', [], t))).toBe('getpid()');
    expect(formatCall(decodeCall(62, 'x86_64', [BigInt.asUintN(64, -1n), 9n], t))).toBe('kill(-1, 9)');
    expect(formatCall(decodeCall(5, 'x86', [1n, 2n, 3n], t))).toBe('syscall_5(1, 2, 3)');
  });

  it('strings: UTF-8 kept, control bytes escaped, long ones cut', () => {
    expect(quoteString(Buffer.from('é\n"', 'utf8').toString('latin1'))).toBe('"é\\x0a\\""');
    expect(quoteString('a'.repeat(300))).toBe(`"${'a'.repeat(256)}"...`);
  });
});

describe('helpers', () => {
  it('open flags: access mode and the rest in nsjail order (O_SYNC includes O_DSYNC)', () => {
    expect(openFlags(0o4010002)).toEqual({ mode: 'RDWR', extra: 'O_DSYNC|O_SYNC' });
    expect(openFlags(3)).toEqual({ mode: undefined, extra: '' });
  });

  it('IPv6 text as inet_ntop prints it', () => {
    const v6 = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');
    expect(ipv6Text(v6('00000000 00000000 00000000 00000000'))).toBe('::');
    expect(ipv6Text(v6('fd000000 00000000 00000000 00000002'))).toBe('fd00::2');
    expect(ipv6Text(v6('00000000 00000000 0000ffff 7f000001'))).toBe('::ffff:127.0.0.1');
    expect(ipv6Text(v6('20010db8 00000001 00000000 00000001'))).toBe('2001:db8:0:1::1');
    expect(ipv6Text(v6('20010db8 00010001 00010001 00010001'))).toBe('2001:db8:1:1:1:1:1:1');
  });
});
