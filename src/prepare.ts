/**
 * Prepare: everything the parent resolves before clone, so that the child
 * side is plain data. Ids from names, host paths through symlinks, rlimit
 * keywords into numbers, the environment and argv, mount entries with their
 * flags split from their data. Seccomp and Landlock preparation plug in here.
 */
import { isTty } from './linux/tty.js';
import { fstatSync, lstatSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { MAX_INPUT_BYTES } from './input-file.js';
import { formatNodeError } from './linux/errno.js';
import { capValue, CLONE_FLAGS, flagsToStr, MS, MS_FLAGS, PERSONA, RLIMITS, RLIM64_INFINITY } from './linux/consts.js';
import type { ConfigState, IdMap, JailSpec, MountPt, RlimitName } from './spec.js';
import { RLIMIT_NAMES, defaultMount } from './spec.js';
import { q } from './plan/describe.js';
import { wantsSeccomp } from './features/predicates.js';
import { lookupId } from './linux/libc.js';
import { ID_MAX, isNumericId, parseId } from './numbers.js';
import { quoted } from './text.js';
import type { Pins } from './phases/pins.js';

export class PrepareError extends Error {}

export interface IdRange {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
  readonly newidmap: boolean;
}

export type MountKind = 'bind' | 'fs' | 'symlink' | 'content' | 'dev' | 'overlay' | 'overlay_ro' | 'dir';

export interface PreparedMount {
  readonly kind: MountKind;
  /** Host path (bind, overlay lower dir), symlink target, or the fs source ('none'). */
  readonly src: string;
  /** A bind's or overlay's source as written (env prefix applied), before host symlinks were followed. */
  readonly srcGiven?: string;
  /** Absolute path inside the jail. */
  readonly dst: string;
  readonly fstype: string;
  /** Flags for mount(2) itself; access flags (ro, nosuid, ...) are applied at the end. */
  readonly flags: bigint;
  readonly data: string;
  readonly readonly: boolean;
  readonly nosuid: boolean;
  readonly nodev: boolean;
  readonly noexec: boolean;
  readonly isDir: boolean;
  readonly mandatory: boolean;
  readonly content?: Uint8Array;
  /** A directory entry's mode. */
  readonly mode?: number;
  /** A read-only overlay's lower dirs on the host, the top one first. */
  readonly lowers?: readonly string[];
  /** A minimal /dev's console: the host path of tsjail's terminal, bound on dst/console. */
  readonly console?: string;
  /** The nsjail-style `Mount:` / `Symlink:` log line (built only when it is printed). */
  readonly logLine: () => string;
  /** The same line as nsjail 3.4 printed it (--compat 3.4): with the mount flags, and dir: always. */
  readonly logLine34: () => string;
}

export interface PreparedRlimit {
  readonly name: RlimitName;
  readonly resource: number;
  readonly kname: string;
  readonly value: bigint;
}

export interface Prepared {
  readonly spec: JailSpec;
  readonly cfg: ConfigState;
  readonly cloneFlags: bigint;
  readonly uidMap: readonly IdRange[];
  readonly gidMap: readonly IdRange[];
  readonly uid: number;
  readonly gid: number;
  readonly mounts: readonly PreparedMount[];
  /** Entries dropped before the jail starts (unset prefix variables of non-mandatory mounts). */
  readonly mountWarnings: readonly string[];
  /** An existing host directory to mount the work tmpfs on (hidden from the host by the mount ns). */
  readonly workBase: string;
  readonly exec: { readonly path: string; readonly argv: readonly string[]; readonly env: readonly string[]; readonly execFd: boolean };
  readonly rlimits: readonly PreparedRlimit[];
  readonly keepCaps: readonly number[] | 'all';
  readonly capLast: number;
  readonly persona: number;
  readonly cpuMask?: Uint8Array;
  readonly passFds: readonly number[];
  /** PR_SET_NO_NEW_PRIVS for the program: unless disabled, and always under a seccomp filter (the kernel requires it unprivileged). */
  readonly noNewPrivs: boolean;
  /** Bind sources opened once for the run (set by execute when tsjail may clone mounts). */
  readonly pins?: Pins;
  /** The program starts a session (setsid): unless skip_setsid, and not with -Me when tsjail leads its process group (a group leader cannot). */
  readonly setsid: boolean;
  /** --init's reaper becomes PID 1: not with -Me, whose pid namespace has a PID 1 of the launcher's (phases/launcher.ts). */
  readonly init: boolean;
  // What the planners need from the config, resolved here so that nothing below prepare reads raw config.
  /** The plan runs in -Me's launcher: no supervisor, so no parent-death signal. */
  readonly execve: boolean;
  /** A new user namespace: the parent writes the id maps; the child holds every capability during setup. */
  readonly userns: boolean;
  /** The hostname to set, only in a new UTS namespace (as nsjail). */
  readonly hostname?: string;
  /** Bring loopback up: in a network namespace of the jail's own (not a joined --netns), unless iface_no_lo. */
  readonly loopbackUp: boolean;
  /** Descriptors pointed at /dev/null: all three with silent, stderr with stderr_to_null. */
  readonly toDevNull: readonly number[];
  readonly oomScoreAdj?: number;
  readonly niceLevel: number;
  readonly maxCpus: number;
  readonly coreScheduling: boolean;
  readonly disableTsc: boolean;
  /** The root: a new mount namespace (else only chroot applies), pivot_root or not, read-only at the end or not, and the working directory. */
  readonly root: { readonly newNs: boolean; readonly chroot?: string; readonly pivot: boolean; readonly readonly: boolean; readonly cwd: string };
}

export function cloneFlagsOf(cfg: ConfigState): bigint {
  const want: Record<string, boolean> = {
    CLONE_NEWUSER: cfg.clone_newuser,
    CLONE_NEWNS: cfg.clone_newns,
    CLONE_NEWPID: cfg.clone_newpid,
    CLONE_NEWIPC: cfg.clone_newipc,
    CLONE_NEWUTS: cfg.clone_newuts,
    // --netns: the jail is cloned inside the joined namespace (src/features/net.ts).
    CLONE_NEWNET: cfg.clone_newnet && cfg.ext.netns === undefined,
    CLONE_NEWCGROUP: cfg.clone_newcgroup,
    CLONE_NEWTIME: cfg.clone_newtime,
  };
  return CLONE_FLAGS.reduce((acc, [name, bit]) => (want[name] ? acc | bit : acc), 0n);
}

/**
 * An id as nsjail reads it: empty for the caller's, a number, or a name looked
 * up through NSS as getpwnam(3)/getgrnam(3) do, so LDAP and sssd users work too.
 */
function resolveId(id: string, db: 'passwd' | 'group', current: number): number {
  if (id === '') return current;
  if (isNumericId(id)) {
    try {
      return parseId(id);
    } catch (e) {
      throw new PrepareError(`${db === 'passwd' ? 'uid' : 'gid'} ${(e as Error).message}`);
    }
  }
  const found = lookupId(db, id);
  if (found === undefined) {
    throw new PrepareError(`cannot resolve ${db === 'passwd' ? 'user' : 'group'} ${quoted(id)}: no such name in the ${db} database (${db === 'passwd' ? 'getpwnam_r' : 'getgrnam_r'}, through nsswitch.conf); give a name that exists or a number`);
  }
  return found;
}

/**
 * Id map entries. `selfOutside`: an entry that names an inside id but no outside id maps to
 * that same id on the host (tsjail run as root, a new user namespace). nsjail maps it to the
 * caller, which as root makes the jail's user host root: `--user 99999` would read
 * /etc/shadow through `--chroot /`. `--user 99999:0` still asks for that explicitly.
 */
export function resolveMap(maps: readonly IdMap[], db: 'passwd' | 'group', current: number, selfOutside = false): IdRange[] {
  if (maps.length === 0) return [{ inside: current, outside: current, count: 1, newidmap: false }];
  return maps.map((m) => {
    const inside = resolveId(m.inside_id, db, current);
    const own = selfOutside && !m.use_newidmap && m.outside_id === '' && m.inside_id !== '';
    const r = { inside, outside: own ? inside : resolveId(m.outside_id, db, current), count: m.count, newidmap: m.use_newidmap };
    // Names and the caller's id are only known now; validation checked the numbers given.
    if (r.count < 1 || BigInt(Math.max(r.inside, r.outside)) + BigInt(r.count) - 1n > ID_MAX) {
      throw new PrepareError(`${db === 'passwd' ? 'uid' : 'gid'} map ${r.inside} ${r.outside} ${r.count}: ${r.count < 1 ? 'maps no ids' : `the range goes past id ${ID_MAX}`}`);
    }
    return r;
  });
}

/** mount(8)-style options: flags split from filesystem data. */
const OPTION_FLAGS: Record<string, { set?: bigint; clear?: bigint }> = {
  ro: { set: MS.MS_RDONLY },
  rw: { clear: MS.MS_RDONLY },
  nosuid: { set: MS.MS_NOSUID },
  suid: { clear: MS.MS_NOSUID },
  nodev: { set: MS.MS_NODEV },
  dev: { clear: MS.MS_NODEV },
  noexec: { set: MS.MS_NOEXEC },
  exec: { clear: MS.MS_NOEXEC },
  sync: { set: MS.MS_SYNCHRONOUS },
  async: { clear: MS.MS_SYNCHRONOUS },
  dirsync: { set: MS.MS_DIRSYNC },
  noatime: { set: MS.MS_NOATIME },
  atime: { clear: MS.MS_NOATIME },
  nodiratime: { set: MS.MS_NODIRATIME },
  diratime: { clear: MS.MS_NODIRATIME },
  relatime: { set: MS.MS_RELATIME },
  norelatime: { clear: MS.MS_RELATIME },
  strictatime: { set: MS.MS_STRICTATIME },
  lazytime: { set: MS.MS_LAZYTIME },
  nosymfollow: { set: MS.MS_NOSYMFOLLOW },
  bind: { set: MS.MS_BIND },
  rbind: { set: MS.MS_BIND | MS.MS_REC },
  defaults: {},
};

/** `ro,nosuid,size=8m` → flags set, flags explicitly cleared (`rw`, `exec`), and the data the filesystem parses. */
export function splitMountOptions(options: string): { flags: bigint; clear: bigint; data: string } {
  let flags = 0n;
  let clear = 0n;
  const data: string[] = [];
  for (const o of options.split(',').filter(Boolean)) {
    const f = OPTION_FLAGS[o];
    if (!f) {
      data.push(o);
      continue;
    }
    flags = (flags | (f.set ?? 0n)) & ~(f.clear ?? 0n);
    clear = (clear | (f.clear ?? 0n)) & ~(f.set ?? 0n);
  }
  return { flags, clear, data: data.join(',') };
}

function isDirOnHost(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory();
  } catch {
    return undefined;
  }
}

/**
 * Follow host symlinks: after the first pivot the host is under /oldroot, where absolute links would point elsewhere.
 * realpath(3) in one call (Node's own version lstat()s every component).
 */
export function realHostPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}

/** nsjail's describeMountPt: the fields as written (before the env prefixes), std::quoted. */
export function mountLogLine(m: MountPt, as34?: { flags: bigint; isDir: boolean }): string {
  const head = m.is_symlink ? 'Symlink' : 'Mount';
  const src = m.src ?? '';
  const flags = as34 ? ` flags:${flagsToStr(as34.flags, MS_FLAGS)}` : '';
  let line = `${head}: ${src ? `${q(src)} -> ` : ''}${q(m.dst)}${flags} type:${q(m.fstype ?? '')} options:${q(m.options ?? '')}`;
  if (as34) line += ` dir:${as34.isDir}`;
  else if (m.is_dir !== undefined) line += ` dir:${m.is_dir}`;
  if (!m.mandatory) line += ' mandatory:false';
  if (m.src_content?.length) line += ` src_content_len:${m.src_content.length}`;
  if (m.is_symlink) line += ' symlink:true';
  return line;
}

/** prefix_src_env / prefix_dst_env; undefined when the variable is unset (nsjail warns and drops the entry). */
function prefixed(env: string | undefined, path: string): string | undefined {
  if (!env) return path;
  const v = process.env[env];
  return v === undefined ? undefined : v + path;
}

const ACCESS_FLAGS = MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC;

/**
 * One MountPt as the child plan needs it. Returns a warning instead when a
 * prefix variable is unset and the entry is not mandatory (a mandatory one
 * is an error: nsjail would mount an empty path).
 */
/** The flags nsjail 3.4 logged for an entry: what mount(2) got plus the access flags applied after. */
function flags34(r: Omit<PreparedMount, 'logLine34'>): bigint {
  const access = (r.readonly ? MS.MS_RDONLY : 0n) | (r.nosuid ? MS.MS_NOSUID : 0n) | (r.nodev ? MS.MS_NODEV : 0n) | (r.noexec ? MS.MS_NOEXEC : 0n);
  return r.kind === 'symlink' ? 0n : r.flags | access | (r.kind === 'bind' ? MS.MS_PRIVATE : 0n);
}

export function prepareMount(m: MountPt): PreparedMount | { skip: string } {
  const r = prepareMountKind(m);
  return 'skip' in r ? r : { ...r, logLine34: () => mountLogLine(m, { flags: flags34(r), isDir: r.isDir }) };
}

function prepareMountKind(m: MountPt): Omit<PreparedMount, 'logLine34'> | { skip: string } {
  const src = m.src !== undefined || m.prefix_src_env ? prefixed(m.prefix_src_env, m.src ?? '') : undefined;
  const dst = prefixed(m.prefix_dst_env, m.dst);
  const unset = src === undefined && m.prefix_src_env ? m.prefix_src_env : dst === undefined ? m.prefix_dst_env : undefined;
  if (unset !== undefined || dst === undefined) {
    const why = `Environment variable not set: ${q(unset ?? '')} (mount ${q(m.dst)})`;
    if (m.mandatory) throw new PrepareError(why);
    return { skip: why };
  }
  const { flags: optFlags, clear, data } = splitMountOptions(m.options ?? '');
  const base = {
    dst: normalizeDst(dst),
    fstype: m.fstype ?? '',
    data,
    readonly: (!m.rw || (optFlags & MS.MS_RDONLY) !== 0n) && (clear & MS.MS_RDONLY) === 0n,
    nosuid: m.nosuid || (optFlags & MS.MS_NOSUID) !== 0n,
    nodev: m.nodev || (optFlags & MS.MS_NODEV) !== 0n,
    noexec: m.noexec || (optFlags & MS.MS_NOEXEC) !== 0n,
    mandatory: m.mandatory,
    logLine: () => mountLogLine(m),
  };
  if (m.is_symlink) return { ...base, kind: 'symlink', src: src ?? '', flags: 0n, isDir: false };
  if (m.dir_mode !== undefined) return { ...base, kind: 'dir', src: '', flags: 0n, isDir: true, mode: m.dir_mode };
  if (m.src_fd !== undefined) return { ...base, kind: 'content', src: '', flags: MS.MS_BIND, isDir: false, content: readContentFd(m.src_fd, base.dst) };
  if (m.src_content?.length) return { ...base, kind: 'content', src: '', flags: MS.MS_BIND, isDir: false, content: m.src_content };
  if (m.is_dev) return { ...base, kind: 'dev', src: '', flags: 0n, isDir: true, ...consoleOf() };
  if (m.overlay_lower?.length) {
    const lowers = m.overlay_lower.map((d) => {
      const host = realHostPath(d);
      if (isDirOnHost(host) !== true) throw new PrepareError(`--overlay_ro/overlay_lower lower dir ${q(d)} (mount ${q(base.dst)}): ${isDirOnHost(host) === false ? 'is not a directory' : 'does not exist'}`);
      return host;
    });
    return { ...base, kind: 'overlay_ro', src: m.overlay_lower.join(':'), flags: 0n, isDir: true, readonly: true, lowers };
  }
  if (m.is_overlay) return { ...base, kind: 'overlay', src: realHostPath(src || dst), srcGiven: src || dst, flags: 0n, isDir: true, readonly: false };
  if (m.is_bind || (optFlags & MS.MS_BIND) !== 0n) {
    const host = realHostPath(src ?? '');
    // Host device nodes only where asked for: --dev_bind, a config's explicit `nodev: false`, the `dev`
    // option, or a source under /dev named as such (nsjail's configs bind /dev/null, /dev/urandom).
    const devices = m.dev === true || (clear & MS.MS_NODEV) !== 0n || host === '/dev' || host.startsWith('/dev/');
    // nsjail: is_dir when present, else what the source is (a missing one counts as a file; the mount fails anyway).
    return { ...base, nodev: base.nodev || !devices, kind: 'bind', src: host, srcGiven: src ?? '', flags: MS.MS_BIND | MS.MS_REC, isDir: m.is_dir ?? isDirOnHost(host) ?? false };
  }
  return { ...base, kind: 'fs', src: src || 'none', flags: optFlags & ~ACCESS_FLAGS, isDir: m.is_dir ?? true };
}

/**
 * A descriptor's content is read once per run of tsjail, whatever the number of
 * jails (listen and rerun modes prepare each one): a pipe has nothing left the second time.
 */
const fdContents = new Map<number, Uint8Array>();

function safeLink(fd: string): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** The whole content of one of tsjail's descriptors (src_fd, --file_fd), bounded like an input file. */
function readContentFd(fd: number, dst: string): Uint8Array {
  const done = fdContents.get(fd);
  if (done) return done;
  const refuse = (why: string): never => {
    throw new PrepareError(`--file_fd/src_fd ${fd} (file ${q(dst)}): ${why}`);
  };
  // Node's own descriptors (epoll, eventfd, its self-pipes) share the numbers above 2: a number
  // tsjail was not given must not read one of them (a self-pipe would block for ever).
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return refuse('is not open');
  }
  if (fd > 2 && link.startsWith('anon_inode:')) refuse(`is not open (that number is tsjail's own ${link})`);
  if (fd > 2 && link.startsWith('pipe:') && readdirSync('/proc/self/fd').filter((n) => safeLink(n) === link).length > 1) {
    refuse("is not open (that number is one of tsjail's own pipes: both of its ends are open here)");
  }
  let st;
  try {
    st = fstatSync(fd);
  } catch (e) {
    return refuse(`fstat() failed: ${formatNodeError(e)}`);
  }
  if (st.isDirectory() || st.isCharacterDevice() || st.isBlockDevice()) refuse(`is ${st.isDirectory() ? 'a directory' : 'a device'}, not a file, pipe or socket`);
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(64 << 10);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      // Node's pipes are O_NONBLOCK: an empty pipe with a live writer is not an end of file.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return refuse('read() failed: EAGAIN (the writer has not closed it; tsjail reads until end of file)');
      return refuse(`read() failed: ${formatNodeError(e)}`);
    }
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
    if (total > MAX_INPUT_BYTES) refuse(`holds more than the ${MAX_INPUT_BYTES >> 20} MiB an input file may have`);
  }
  const content = Buffer.concat(chunks, total);
  fdContents.set(fd, content);
  return content;
}

/** tsjail's terminal (stdin, else stdout) for a minimal /dev's console, as bubblewrap's --dev does. */
function consoleOf(): { console?: string } {
  for (const fd of [0, 1]) {
    if (!isTty(fd)) continue;
    try {
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      if (path.startsWith('/dev/')) return { console: path };
    } catch {
      /* no /proc: no console */
    }
  }
  return {};
}

/** '/a//b/' → '/a/b': the child compares and splits these. */
function normalizeDst(dst: string): string {
  return '/' + dst.split('/').filter((c) => c && c !== '.').join('/');
}

/** The mount list as nsjail builds it: --chroot first, the entries, then /proc. */
export function effectiveMounts(spec: JailSpec): MountPt[] {
  const { cfg, cli } = spec;
  const list: MountPt[] = [];
  const plain = defaultMount();
  if (cli.chroot !== undefined) list.push({ ...plain, src: cli.chroot, dst: '/', is_bind: true, is_dir: true, rw: cli.rw });
  list.push(...cfg.mount);
  // --net_allow: the jail asks tsjail's DNS on the gateway, and nothing else (after the config's mounts, so it wins).
  if (cfg.ext.net_allow.length && cfg.user_net) {
    const u = cfg.user_net;
    list.push({ ...plain, dst: '/etc/resolv.conf', src_content: new TextEncoder().encode(`nameserver ${u.gw4}\nnameserver ${u.gw6}\n`), is_dir: false });
  }
  // nosuid,nodev,noexec as nsjail does since PR #283; the log line stays nsjail's.
  if (cfg.mount_proc) {
    const proc = { ...plain, dst: cli.proc_path ?? '/proc', is_dir: true, rw: cli.proc_rw, nosuid: true, nodev: true, noexec: true };
    // procfs can only be mounted by the user namespace owning the pid namespace: sharing the
    // host's pids from a new user namespace, the host's /proc is bound instead (it shows the same pids).
    if (!cfg.clone_newpid && cfg.clone_newuser) list.push({ ...proc, src: '/proc', is_bind: true });
    else list.push({ ...proc, fstype: 'proc' });
  }
  return list;
}

const WORK_BASES = ['/tmp', '/mnt', '/run', '/var/tmp', '/opt', '/srv', '/media', '/home'];

/**
 * An existing host dir for the work tmpfs. Not one that holds a source: with
 * --no_pivotroot the tmpfs would hide it (with pivot_root it is harmless).
 */
export function pickWorkBase(mounts: readonly PreparedMount[]): string {
  const sources = mounts.flatMap((m) => (m.kind === 'bind' || m.kind === 'overlay' ? [m.src] : (m.lowers ?? [])));
  const inside = (dir: string, path: string) => path === dir || path.startsWith(dir + '/');
  for (const d of WORK_BASES) if (isDirOnHost(d) && !sources.some((s) => inside(realHostPath(d), s))) return realHostPath(d);
  throw new PrepareError(`no directory to mount the work tmpfs on (tried ${WORK_BASES.join(', ')}; each is missing or holds a mount source)`);
}

/**
 * A root bound from the host (`--chroot /`) brings the host's /dev with it; its nodes are dead
 * (nodev), so the jail gets the minimal /dev instead, read-only, on top of it and under any
 * entry the user puts below /dev. Not when an entry mounts /dev itself.
 */
function implicitDev(list: readonly PreparedMount[]): PreparedMount | undefined {
  const root = list.find((m) => m.dst === '/' && (m.kind === 'bind' || m.kind === 'overlay'));
  if (!root || !isDirOnHost(`${root.src === '/' ? '' : root.src}/dev`) || list.some((m) => m.dst === '/dev')) return undefined;
  const dev: MountPt = { ...defaultMount(), dst: '/dev', is_dev: true, is_dir: true, nosuid: true, nodev: true, noexec: true };
  return prepareMount(dev) as PreparedMount;
}

/**
 * The first symlink on the way to `path` that lies inside a writable bind source and belongs to
 * a host id the jail runs as: an earlier jail may have planted it to redirect this source.
 */
export function plantedLink(path: string, writable: readonly string[], jailOwns: (uid: number) => boolean): { link: string; root: string } | undefined {
  let cur = '/';
  let rest = path.split('/').filter(Boolean);
  for (let hops = 0; rest.length; ) {
    const c = rest.shift()!;
    if (c === '.') continue;
    if (c === '..') {
      cur = cur.slice(0, cur.lastIndexOf('/')) || '/';
      continue;
    }
    const next = cur === '/' ? `/${c}` : `${cur}/${c}`;
    let st;
    try {
      st = lstatSync(next);
    } catch {
      return undefined; // missing: the mount reports it
    }
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    const root = writable.find((r) => r === '/' || next.startsWith(`${r}/`));
    if (root !== undefined && jailOwns(st.uid)) return { link: next, root };
    if (++hops > 40) return undefined;
    const target = readlinkSync(next);
    if (target.startsWith('/')) cur = '/';
    rest = [...target.split('/').filter(Boolean), ...rest];
  }
  return undefined;
}

/**
 * The prepared mount list, and the warnings for entries dropped on the way. `jailOwns` (the host
 * ids the jail runs as) refuses sources reached through a symlink the jail could have planted.
 */
export function prepareMounts(spec: JailSpec, jailOwns?: (uid: number) => boolean): { mounts: PreparedMount[]; warnings: string[] } {
  const mounts: PreparedMount[] = [];
  const warnings: string[] = [];
  for (const m of effectiveMounts(spec)) {
    const p = prepareMount(m);
    if ('skip' in p) warnings.push(p.skip);
    else mounts.push(p);
  }
  const writable = mounts.filter((m) => m.kind === 'bind' && !m.readonly).map((m) => m.src);
  for (const m of jailOwns && writable.length ? mounts : []) {
    const found = m.srcGiven !== undefined ? plantedLink(m.srcGiven, writable, jailOwns!) : undefined;
    if (found) {
      throw new PrepareError(
        `bind source ${q(m.srcGiven!)}: ${q(found.link)} is a symlink inside the writable bind source ${q(found.root)}, owned by the jail's user (an earlier jail may have planted it): tsjail does not follow it`,
      );
    }
  }
  const dev = implicitDev(mounts);
  if (dev) mounts.splice(mounts.findIndex((m) => m.dst === '/') + 1, 0, dev);
  return { mounts, warnings };
}

export interface HostFacts {
  uid: number;
  gid: number;
  /** [soft, hard] per rlimit, as read at start-up. */
  rlimits: Record<RlimitName, [bigint, bigint]>;
  capLast: number;
  cpus: number[];
  /** tsjail leads its process group (an interactive shell started it): setsid() would fail in -Me, which keeps the pid. */
  leadsProcessGroup?: boolean;
}

export function resolveRlimits(cfg: ConfigState, host: HostFacts): PreparedRlimit[] {
  if (cfg.disable_rl) return [];
  return RLIMIT_NAMES.map((name) => {
    const r = RLIMITS[name];
    const s = cfg.rlimits[name];
    const [soft, hard] = host.rlimits[name];
    const value = { VALUE: s.value * r.unit, SOFT: soft, HARD: hard, INF: RLIM64_INFINITY }[s.type];
    return { name, resource: r.resource, kname: r.kname, value };
  });
}

function cpuMask(maxCpus: number, cpus: readonly number[]): Uint8Array | undefined {
  if (maxCpus <= 0 || maxCpus >= cpus.length) return undefined;
  const pool = [...cpus];
  const mask = new Uint8Array(Math.ceil((Math.max(...cpus) + 1) / 64) * 8);
  for (let i = 0; i < maxCpus; i++) {
    const [cpu] = pool.splice(Math.floor(Math.random() * pool.length), 1);
    mask[cpu! >> 3]! |= 1 << (cpu! & 7);
  }
  return mask;
}

export function buildEnv(cfg: ConfigState): string[] {
  const env = cfg.keep_env ? Object.entries(process.env).map(([k, v]) => `${k}=${v}`) : [];
  return env.concat(cfg.envar);
}

/** nsjail's rule: the command after `--` replaces the config's argv; a known exec path (-x, exec_bin.path) is kept, else argv[0] is run. */
export function execOf(spec: JailSpec): { path: string; argv: string[] } {
  const argv = [...(spec.cli.argv.length ? spec.cli.argv : spec.cli.config_argv)];
  return { path: spec.cfg.exec_bin?.path ?? argv[0] ?? '', argv };
}

export function prepare(spec: JailSpec, host: HostFacts): Prepared {
  const { cfg } = spec;
  // Command-line and config id maps accumulate in spec.cli (nsjail keeps them outside the proto).
  const asRoot = host.uid === 0 && cfg.clone_newuser;
  const uidMap = resolveMap(spec.cli.uidmap, 'passwd', host.uid, asRoot);
  const gidMap = resolveMap(spec.cli.gidmap, 'group', host.gid, asRoot);
  const { path, argv } = execOf(spec);
  // The host ids the jail's processes have (not host root: a jail that is host root is not contained anyway).
  const jailOwns = (uid: number) => uid !== 0 && (cfg.clone_newuser ? uidMap.some((r) => uid >= r.outside && uid < r.outside + r.count) : uid === uidMap[0]!.inside);
  const { mounts, warnings: mountWarnings } = prepareMounts(spec, jailOwns);
  const execve = cfg.mode === 'STANDALONE_EXECVE';
  const persona = Object.entries(PERSONA).reduce((acc, [k, bit]) => (cfg[k as keyof typeof PERSONA] ? acc | bit : acc), 0);
  return {
    spec,
    cfg,
    cloneFlags: cloneFlagsOf(cfg),
    uidMap,
    gidMap,
    uid: uidMap[0]!.inside,
    gid: gidMap[0]!.inside,
    mounts,
    mountWarnings,
    workBase: cfg.clone_newns ? pickWorkBase(mounts) : '/',
    exec: { path, argv, env: buildEnv(cfg), execFd: cfg.exec_bin?.exec_fd ?? false },
    rlimits: resolveRlimits(cfg, host),
    keepCaps: cfg.keep_caps ? 'all' : cfg.cap.map((c) => capIndex(c)),
    capLast: host.capLast,
    persona,
    cpuMask: cpuMask(cfg.max_cpus, host.cpus),
    passFds: [...new Set([...spec.cli.pass_fd, ...cfg.pass_fd])],
    noNewPrivs: !cfg.disable_no_new_privs || wantsSeccomp(cfg),
    setsid: !cfg.skip_setsid && !(execve && host.leadsProcessGroup),
    init: cfg.init && cfg.clone_newpid && !execve,
    execve,
    userns: cfg.clone_newuser,
    hostname: cfg.clone_newuts ? cfg.hostname : undefined,
    loopbackUp: cfg.clone_newnet && !cfg.iface_no_lo && cfg.ext.netns === undefined,
    toDevNull: cfg.silent ? [0, 1, 2] : cfg.stderr_to_null ? [2] : [],
    oomScoreAdj: cfg.oom_score_adj,
    niceLevel: cfg.nice_level,
    maxCpus: cfg.max_cpus,
    coreScheduling: cfg.use_core_scheduling,
    disableTsc: cfg.disable_tsc,
    root: { newNs: cfg.clone_newns, chroot: spec.cli.chroot, pivot: !cfg.no_pivotroot, readonly: !spec.cli.rw, cwd: cfg.cwd },
  };
}

function capIndex(name: string): number {
  const i = capValue(name);
  if (i === undefined) throw new PrepareError(`unknown capability ${quoted(name)}`);
  return i;
}
