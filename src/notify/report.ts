/**
 * The --seccomp_unotify report: trace records counted and grouped as nsjail's
 * unotify.Stat, printed in protobuf text format (fields in number order,
 * strings escaped as C++ CEscape does). Pure; the worker fills a Stats per
 * jail and tsjail merges them for the run.
 */
import type { FileType, NetType, PathInfo, TraceRecord } from './decode.js';

interface SyscallCount {
  readonly name: string;
  readonly args: readonly string[];
  count: number;
}

interface FsEntry {
  readonly path: string;
  readonly jailType: FileType;
  readonly mainType: FileType;
  readonly mode?: string;
  readonly modeExtra: string;
  count: number;
  readonly syscalls: Map<string, SyscallCount>;
}

interface NetEntry {
  readonly type: NetType;
  readonly endpoint: string;
  readonly port?: number;
  readonly socketPath?: PathInfo;
  count: number;
  readonly syscalls: Map<string, SyscallCount>;
}

/** What crosses from the worker to the main thread: plain data. */
export interface StatsData {
  readonly fs: FsEntry[];
  readonly net: NetEntry[];
}

const FILE_TYPES: readonly FileType[] = ['UNKNOWN', 'NONEXISTENT', 'REGULAR', 'DIR', 'CHR', 'BLK', 'FIFO', 'LINK', 'SOCK'];
const NET_TYPES: readonly NetType[] = ['IPV4', 'IPV6', 'UNIX', 'NETLINK'];
const MODES = ['RDONLY', 'WRONLY', 'RDWR'];

const exists = (t: FileType) => t !== 'NONEXISTENT' && t !== 'UNKNOWN';
const key = (...parts: ReadonlyArray<string | number | undefined>) => parts.map((p) => (p === undefined ? '\u0001' : String(p))).join('\u0000');
const modeExtraOf = (args: readonly string[]) => args.find((a) => a.startsWith('mode_extra='))?.slice('mode_extra='.length) ?? '';

function addSyscall(m: Map<string, SyscallCount>, name: string, args: readonly string[], n: number): void {
  const k = key(name, ...args);
  const e = m.get(k);
  if (e) e.count += n;
  else m.set(k, { name, args, count: n });
}

export class Stats {
  private readonly fs = new Map<string, FsEntry>();
  private readonly net = new Map<string, NetEntry>();
  /** Every call counted, by report name (learn's allow-list reads it). */
  readonly calls = new Map<string, number>();

  /** Records r, made n times. */
  add(r: TraceRecord, n = 1): void {
    const extra = modeExtraOf(r.args);
    for (const p of r.paths) {
      const k = key(p.path, p.jailType, p.mainType, p.mode, extra);
      let e = this.fs.get(k);
      if (!e) this.fs.set(k, (e = { path: p.path, jailType: p.jailType, mainType: p.mainType, mode: p.mode, modeExtra: extra, count: 0, syscalls: new Map() }));
      e.count += n;
      addSyscall(e.syscalls, r.name, r.args, n);
    }
    if (r.net) {
      const net = r.net;
      const k = key(net.type, net.endpoint, net.port, net.socketPath?.path);
      let e = this.net.get(k);
      if (!e) this.net.set(k, (e = { ...net, count: 0, syscalls: new Map() }));
      e.count += n;
      addSyscall(e.syscalls, r.name, r.args, n);
    }
  }

  count(name: string): void {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
  }

  get empty(): boolean {
    return this.fs.size === 0 && this.net.size === 0;
  }

  data(): StatsData {
    return { fs: [...this.fs.values()], net: [...this.net.values()] };
  }

  /** Adds another jail's figures (the run's report covers every jail). */
  merge(d: StatsData): void {
    for (const f of d.fs) {
      const k = key(f.path, f.jailType, f.mainType, f.mode, f.modeExtra);
      let e = this.fs.get(k);
      if (!e) this.fs.set(k, (e = { ...f, count: 0, syscalls: new Map() }));
      e.count += f.count;
      for (const s of f.syscalls.values()) addSyscall(e.syscalls, s.name, s.args, s.count);
    }
    for (const n of d.net) {
      const k = key(n.type, n.endpoint, n.port, n.socketPath?.path);
      let e = this.net.get(k);
      if (!e) this.net.set(k, (e = { ...n, count: 0, syscalls: new Map() }));
      e.count += n.count;
      for (const s of n.syscalls.values()) addSyscall(e.syscalls, s.name, s.args, s.count);
    }
  }

  /** The fs entries, for `learn`. */
  paths(): ReadonlyArray<Omit<FsEntry, 'syscalls'> & { syscalls: SyscallCount[] }> {
    return [...this.fs.values()].map((e) => ({ ...e, syscalls: [...e.syscalls.values()] }));
  }

  /** unotify.Stat in protobuf text format; '' when nothing was recorded. */
  text(): string {
    const out: string[] = [];
    const cmpBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const fs = [...this.fs.values()].sort(
      (a, b) => cmpBytes(a.path, b.path) || FILE_TYPES.indexOf(a.jailType) - FILE_TYPES.indexOf(b.jailType) || MODES.indexOf(a.mode ?? '') - MODES.indexOf(b.mode ?? '') || cmpBytes(a.modeExtra, b.modeExtra),
    );
    for (const e of fs) {
      out.push('fs_access {');
      pathFields(out, '  ', e);
      if (e.mode) out.push(`  mode: ${e.mode}`);
      out.push(`  count: ${e.count}`);
      syscallBlocks(out, e.syscalls);
      out.push(`  exists_in_jail: ${exists(e.jailType)}`, `  exists_in_main: ${exists(e.mainType)}`, '}');
    }
    const net = [...this.net.values()].sort((a, b) => NET_TYPES.indexOf(a.type) - NET_TYPES.indexOf(b.type) || cmpBytes(a.endpoint, b.endpoint) || (a.port ?? -1) - (b.port ?? -1));
    for (const e of net) {
      out.push('net_access {', `  type: ${e.type}`, `  endpoint: ${cEscape(e.endpoint)}`);
      if (e.socketPath) {
        out.push('  socket_path {');
        pathFields(out, '    ', e.socketPath);
        out.push(`    exists_in_jail: ${exists(e.socketPath.jailType)}`, `    exists_in_main: ${exists(e.socketPath.mainType)}`, '  }');
      }
      out.push(`  count: ${e.count}`);
      syscallBlocks(out, e.syscalls);
      if (e.port !== undefined) out.push(`  port: ${e.port}`);
      out.push('}');
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }
}

function pathFields(out: string[], ind: string, p: { path: string; jailType: FileType; mainType: FileType }): void {
  out.push(`${ind}path: ${cEscape(p.path)}`, `${ind}jail_type: ${p.jailType}`, `${ind}main_type: ${p.mainType}`);
}

function syscallBlocks(out: string[], m: Map<string, SyscallCount>): void {
  const list = [...m.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : cmpArgs(a.args, b.args)));
  for (const s of list) {
    out.push('  syscall {', `    name: ${cEscape(s.name)}`);
    for (const a of s.args) out.push(`    args: ${cEscape(a)}`);
    out.push(`    count: ${s.count}`, '  }');
  }
}

function cmpArgs(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

/** A quoted text-format string: latin1 bytes, escaped as protobuf's C++ printer does (CEscape: octal for the rest). */
export function cEscape(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x22) out += '\\"';
    else if (c === 0x27) out += "\\'";
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c >= 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}
