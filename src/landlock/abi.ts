/**
 * Landlock ABI table and the best-effort downgrade, as pure data and one pure
 * function (go-landlock's abiInfos and restrict.go's downgrade). Nothing here
 * touches the kernel: the parent probes the ABI, downgrades the request, logs
 * the outcome, and the child only replays the syscalls.
 */
import { flagsToStr, type NamedBits } from '../linux/consts.js';

/** <linux/landlock.h> access rights, in kernel order. */
export const LANDLOCK_ACCESS_FS: NamedBits = [
  ['LANDLOCK_ACCESS_FS_EXECUTE', 1n << 0n],
  ['LANDLOCK_ACCESS_FS_WRITE_FILE', 1n << 1n],
  ['LANDLOCK_ACCESS_FS_READ_FILE', 1n << 2n],
  ['LANDLOCK_ACCESS_FS_READ_DIR', 1n << 3n],
  ['LANDLOCK_ACCESS_FS_REMOVE_DIR', 1n << 4n],
  ['LANDLOCK_ACCESS_FS_REMOVE_FILE', 1n << 5n],
  ['LANDLOCK_ACCESS_FS_MAKE_CHAR', 1n << 6n],
  ['LANDLOCK_ACCESS_FS_MAKE_DIR', 1n << 7n],
  ['LANDLOCK_ACCESS_FS_MAKE_REG', 1n << 8n],
  ['LANDLOCK_ACCESS_FS_MAKE_SOCK', 1n << 9n],
  ['LANDLOCK_ACCESS_FS_MAKE_FIFO', 1n << 10n],
  ['LANDLOCK_ACCESS_FS_MAKE_BLOCK', 1n << 11n],
  ['LANDLOCK_ACCESS_FS_MAKE_SYM', 1n << 12n],
  ['LANDLOCK_ACCESS_FS_REFER', 1n << 13n],
  ['LANDLOCK_ACCESS_FS_TRUNCATE', 1n << 14n],
  ['LANDLOCK_ACCESS_FS_IOCTL_DEV', 1n << 15n],
];
export const LANDLOCK_ACCESS_NET: NamedBits = [
  ['LANDLOCK_ACCESS_NET_BIND_TCP', 1n << 0n],
  ['LANDLOCK_ACCESS_NET_CONNECT_TCP', 1n << 1n],
];
export const LANDLOCK_SCOPE: NamedBits = [
  ['LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET', 1n << 0n],
  ['LANDLOCK_SCOPE_SIGNAL', 1n << 1n],
];
export const LANDLOCK_RESTRICT_SELF: NamedBits = [
  ['LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF', 1n << 0n],
  ['LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON', 1n << 1n],
  ['LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF', 1n << 2n],
  ['LANDLOCK_RESTRICT_SELF_TSYNC', 1n << 3n],
];

export const LANDLOCK_CREATE_RULESET_VERSION = 1;
export const LANDLOCK_RULE_PATH_BENEATH = 1;
export const LANDLOCK_RULE_NET_PORT = 2;

const bit = (table: NamedBits, name: string): bigint => {
  const e = table.find(([n]) => n === name);
  if (!e) throw new Error(`BUG(landlock): no ${name}`);
  return e[1];
};
const FS = (name: string) => bit(LANDLOCK_ACCESS_FS, `LANDLOCK_ACCESS_FS_${name}`);
const fsBits = (names: readonly string[]) => names.reduce((m, n) => m | FS(n), 0n);
const NET = (name: string) => bit(LANDLOCK_ACCESS_NET, `LANDLOCK_ACCESS_NET_${name}`);
const SCOPE = (name: string) => bit(LANDLOCK_SCOPE, `LANDLOCK_SCOPE_${name}`);
const RESTRICT = (name: string) => bit(LANDLOCK_RESTRICT_SELF, `LANDLOCK_RESTRICT_SELF_${name}`);
const all = (table: NamedBits) => table.reduce((m, [, b]) => m | b, 0n);

/** What each ABI adds over the previous one: the source of the cumulative table, the docs and the README. */
export const ABI_STEPS: ReadonlyArray<{
  readonly version: number;
  readonly kernel: string;
  readonly adds: string;
  readonly fs: bigint;
  readonly net: bigint;
  readonly scoped: bigint;
  readonly restrictFlags: bigint;
}> = [
  { version: 1, kernel: '5.13', adds: 'file system access rights (execute, read, write, remove, make_*)', fs: (1n << 13n) - 1n, net: 0n, scoped: 0n, restrictFlags: 0n },
  { version: 2, kernel: '5.19', adds: 'REFER: linking and renaming across directories (always denied on ABI 1)', fs: FS('REFER'), net: 0n, scoped: 0n, restrictFlags: 0n },
  { version: 3, kernel: '6.2', adds: 'TRUNCATE', fs: FS('TRUNCATE'), net: 0n, scoped: 0n, restrictFlags: 0n },
  { version: 4, kernel: '6.7', adds: 'TCP bind and connect ports', fs: 0n, net: all(LANDLOCK_ACCESS_NET), scoped: 0n, restrictFlags: 0n },
  { version: 5, kernel: '6.10', adds: 'IOCTL_DEV: ioctl on device files', fs: FS('IOCTL_DEV'), net: 0n, scoped: 0n, restrictFlags: 0n },
  { version: 6, kernel: '6.12', adds: 'scopes: abstract unix sockets and signals', fs: 0n, net: 0n, scoped: all(LANDLOCK_SCOPE), restrictFlags: 0n },
  { version: 7, kernel: '6.15', adds: 'audit logging flags of landlock_restrict_self', fs: 0n, net: 0n, scoped: 0n, restrictFlags: RESTRICT('LOG_SAME_EXEC_OFF') | RESTRICT('LOG_NEW_EXEC_ON') | RESTRICT('LOG_SUBDOMAINS_OFF') },
  { version: 8, kernel: '7.0', adds: 'TSYNC: restrict every thread of the process', fs: 0n, net: 0n, scoped: 0n, restrictFlags: RESTRICT('TSYNC') },
];

export interface AbiInfo {
  readonly version: number;
  readonly fs: bigint;
  readonly net: bigint;
  readonly scoped: bigint;
  readonly restrictFlags: bigint;
}

/** ABIS[v] = everything ABI v supports; ABIS[0] is "no Landlock". */
export const ABIS: readonly AbiInfo[] = ABI_STEPS.reduce<AbiInfo[]>(
  (acc, s) => {
    const prev = acc[acc.length - 1]!;
    return [...acc, { version: s.version, fs: prev.fs | s.fs, net: prev.net | s.net, scoped: prev.scoped | s.scoped, restrictFlags: prev.restrictFlags | s.restrictFlags }];
  },
  [{ version: 0, fs: 0n, net: 0n, scoped: 0n, restrictFlags: 0n }],
);
export const NEWEST_ABI = ABIS.length - 1;

/** A kernel newer than this table is used as the newest ABI known (rust-landlock's `From<i32>`). */
export function abiInfo(kernelAbi: number): AbiInfo {
  return ABIS[Math.max(0, Math.min(kernelAbi, NEWEST_ABI))]!;
}

/** Rights that apply to a non-directory; a rule on a file may hold only these. */
export const FS_FILE_RIGHTS = fsBits(['EXECUTE', 'WRITE_FILE', 'READ_FILE', 'TRUNCATE', 'IOCTL_DEV']);
const FS_READ = fsBits(['READ_FILE', 'READ_DIR']);
const FS_EXECUTE = FS('EXECUTE');
const FS_REFER = FS('REFER');

export type PathAccess = 'ro' | 'rx' | 'rw';

/**
 * The rights a rule grants at a given ABI. rw is every right the ABI knows but
 * EXECUTE: a writable tree is not executable unless it is also listed as rx.
 */
export function accessFor(kind: PathAccess, abi: AbiInfo): bigint {
  const want = { ro: FS_READ, rx: FS_READ | FS_EXECUTE, rw: abi.fs & ~FS_EXECUTE }[kind];
  return want & abi.fs;
}

export interface PathRequest {
  readonly path: string;
  readonly access: PathAccess;
  /** The _try form: a missing path is skipped with a warning. */
  readonly optional: boolean;
}

export type ScopeName = 'abstract_unix' | 'signal';
const SCOPE_BITS: Record<ScopeName, bigint> = { abstract_unix: SCOPE('ABSTRACT_UNIX_SOCKET'), signal: SCOPE('SIGNAL') };
const NET_BIND = NET('BIND_TCP');
const NET_CONNECT = NET('CONNECT_TCP');

export interface LandlockRequest {
  readonly paths: readonly PathRequest[];
  readonly bindTcp: readonly number[];
  readonly connectTcp: readonly number[];
  readonly scopes: readonly ScopeName[];
  /** Fail instead of dropping what the kernel cannot enforce. */
  readonly required: boolean;
}

export type EnforcementStatus = 'fully_enforced' | 'partially_enforced' | 'not_enforced';

/** struct landlock_ruleset_attr, with the size to pass (the smallest that holds every non-zero field). */
export interface RulesetAttr {
  readonly handled_access_fs: bigint;
  readonly handled_access_net: bigint;
  readonly scoped: bigint;
  readonly size: 8 | 16 | 24;
}

export interface PathRule {
  readonly path: string;
  readonly kind: PathAccess;
  readonly optional: boolean;
  /** allowed_access when the path is a directory. */
  readonly access: bigint;
  /** allowed_access when it is not (directory-only rights removed). */
  readonly fileAccess: bigint;
}

export interface PortRule {
  readonly port: number;
  readonly access: bigint;
}

export interface Rights {
  readonly fs: bigint;
  readonly net: bigint;
  readonly scoped: bigint;
}

export interface Downgraded {
  /** The kernel's ABI as probed (0: no Landlock); may exceed the table. */
  readonly kernelAbi: number;
  /** The lowest ABI that enforces the whole request. */
  readonly neededAbi: number;
  /** Absent when there is nothing left to enforce. */
  readonly ruleset?: RulesetAttr;
  readonly paths: readonly PathRule[];
  readonly ports: readonly PortRule[];
  /** Restrictions asked for that this kernel cannot make: protection is weaker by these. */
  readonly dropped: Rights;
  readonly status: EnforcementStatus;
  /** Set with `required` when anything was dropped: the run must not go on. */
  readonly error?: string;
  /** Facts worth a log line that weaken nothing. */
  readonly notes: readonly string[];
}

/** What the request restricts: every file system right known (so all not allowed is denied), net rights per kind with ports, scopes asked for. */
export function requestedRights(r: LandlockRequest): Rights {
  const newest = ABIS[NEWEST_ABI]!;
  return {
    fs: r.paths.length ? newest.fs : 0n,
    net: (r.bindTcp.length ? NET_BIND : 0n) | (r.connectTcp.length ? NET_CONNECT : 0n),
    scoped: r.scopes.reduce((m, s) => m | SCOPE_BITS[s], 0n),
  };
}

const covers = (abi: AbiInfo, want: Rights) => (want.fs & ~abi.fs) === 0n && (want.net & ~abi.net) === 0n && (want.scoped & ~abi.scoped) === 0n;

export function neededAbi(want: Rights): number {
  if (!want.fs && !want.net && !want.scoped) return 0;
  return ABIS.findIndex((a) => covers(a, want));
}

const strip = (prefix: string) => (s: string) => s.split('|').map((x) => x.replace(prefix, '')).join('|');
export const fsText = (v: bigint) => strip('LANDLOCK_ACCESS_FS_')(flagsToStr(v, LANDLOCK_ACCESS_FS));
export const netText = (v: bigint) => strip('LANDLOCK_ACCESS_NET_')(flagsToStr(v, LANDLOCK_ACCESS_NET));
export const scopeText = (v: bigint) => strip('LANDLOCK_SCOPE_')(flagsToStr(v, LANDLOCK_SCOPE));

/** `IOCTL_DEV, CONNECT_TCP, scope SIGNAL` */
export function rightsText(r: Rights): string {
  return [r.fs ? fsText(r.fs) : '', r.net ? netText(r.net) : '', r.scoped ? `scope ${scopeText(r.scoped)}` : '']
    .filter(Boolean)
    .join(', ')
    .replace(/\|/g, ', ');
}

/**
 * What to enforce on a kernel with `kernelAbi`: the request's restrictions
 * intersected with what the kernel knows, rules cut down to them. Best effort
 * unless `required`, where anything dropped is an error.
 */
export function downgrade(request: LandlockRequest, kernelAbi: number): Downgraded {
  const abi = abiInfo(kernelAbi);
  const want = requestedRights(request);
  const handled: Rights = { fs: want.fs & abi.fs, net: want.net & abi.net, scoped: want.scoped & abi.scoped };
  // Without REFER (ABI 1) the kernel denies reparenting outright: stricter, never weaker.
  const dropped: Rights = { fs: want.fs & ~abi.fs & ~FS_REFER, net: want.net & ~abi.net, scoped: want.scoped & ~abi.scoped };
  const needed = neededAbi(want);
  const notes: string[] = [];
  if (want.fs & ~abi.fs & FS_REFER) notes.push(`ABI ${abi.version} denies linking and renaming files across directories (REFER needs ABI 2)`);

  const nothing = !handled.fs && !handled.net && !handled.scoped;
  const weaker = !!(dropped.fs || dropped.net || dropped.scoped);
  const status: EnforcementStatus = nothing ? 'not_enforced' : weaker ? 'partially_enforced' : 'fully_enforced';
  const error = request.required && weaker
    ? `Landlock cannot enforce every rule asked for (--landlock_required): kernel ABI ${kernelAbi}, rules need ABI ${needed}; ` +
      (kernelAbi === 0 ? 'the kernel has no Landlock' : `the kernel cannot restrict ${rightsText(dropped)}`)
    : undefined;
  if (nothing) return { kernelAbi, neededAbi: needed, paths: [], ports: [], dropped, status, notes, ...(error ? { error } : {}) };

  const ruleset: RulesetAttr = {
    handled_access_fs: handled.fs,
    handled_access_net: handled.net,
    scoped: handled.scoped,
    size: handled.scoped ? 24 : handled.net ? 16 : 8,
  };
  const paths = request.paths.map((p): PathRule => {
    const access = accessFor(p.access, abi) & handled.fs;
    return { path: p.path, kind: p.access, optional: p.optional, access, fileAccess: access & FS_FILE_RIGHTS };
  });
  const perPort = new Map<number, bigint>();
  const allow = (ports: readonly number[], right: bigint) => {
    if (!(handled.net & right)) return;
    for (const port of ports) perPort.set(port, (perPort.get(port) ?? 0n) | right);
  };
  allow(request.bindTcp, NET_BIND);
  allow(request.connectTcp, NET_CONNECT);
  const ports = [...perPort].map(([port, access]) => ({ port, access }));
  return { kernelAbi, neededAbi: needed, ruleset, paths, ports, dropped, status, notes, ...(error ? { error } : {}) };
}

/** The one-line outcome, for the log: `Landlock: fully enforced (kernel ABI 7, rules need ABI 5)`. */
export function statusText(d: Downgraded, reason?: string): string {
  const head = `Landlock: ${d.status.replace('_', ' ')} (kernel ABI ${d.kernelAbi}, rules need ABI ${d.neededAbi})`;
  switch (d.status) {
    case 'fully_enforced':
      return head;
    case 'partially_enforced':
      return `${head}: the kernel cannot restrict ${rightsText(d.dropped)}`;
    case 'not_enforced':
      return `${head}: ${reason ?? (d.kernelAbi === 0 ? 'the kernel has no Landlock' : `the kernel cannot restrict ${rightsText(d.dropped)}`)}`;
  }
}
