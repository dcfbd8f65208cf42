/**
 * Prepare: everything the parent resolves before clone, so that the child
 * side is plain data. Ids from names, host paths through symlinks, rlimit
 * keywords into numbers, the environment and argv, mount entries with their
 * flags split from their data. Seccomp and Landlock preparation plug in here.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { CLONE_FLAGS, MS, PERSONA, RLIMITS, RLIM64_INFINITY } from './linux/consts.js';
import type { ConfigState, IdMap, JailSpec, MountPt, RlimitName } from './spec.js';
import { RLIMIT_NAMES } from './spec.js';

export class PrepareError extends Error {}

export interface IdRange {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
  readonly newidmap: boolean;
}

export type MountKind = 'bind' | 'fs' | 'symlink' | 'content' | 'dev' | 'overlay';

export interface PreparedMount {
  readonly kind: MountKind;
  /** Host path (bind, overlay lower dir), symlink target, or the fs source ('none'). */
  readonly src: string;
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
  /** The nsjail-style `Mount:` / `Symlink:` log line. */
  readonly logLine: string;
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
  /** An existing host directory to mount the work tmpfs on (hidden from the host by the mount ns). */
  readonly workBase: string;
  readonly exec: { readonly path: string; readonly argv: readonly string[]; readonly env: readonly string[]; readonly execFd: boolean };
  readonly rlimits: readonly PreparedRlimit[];
  readonly keepCaps: readonly number[] | 'all';
  readonly capLast: number;
  readonly persona: number;
  readonly cpuMask?: Uint8Array;
  readonly passFds: readonly number[];
  readonly seccomp?: Uint8Array;
}

export function cloneFlagsOf(cfg: ConfigState): bigint {
  const want: Record<string, boolean> = {
    CLONE_NEWUSER: cfg.clone_newuser,
    CLONE_NEWNS: cfg.clone_newns,
    CLONE_NEWPID: cfg.clone_newpid,
    CLONE_NEWIPC: cfg.clone_newipc,
    CLONE_NEWUTS: cfg.clone_newuts,
    CLONE_NEWNET: cfg.clone_newnet,
    CLONE_NEWCGROUP: cfg.clone_newcgroup,
    CLONE_NEWTIME: cfg.clone_newtime,
  };
  return CLONE_FLAGS.reduce((acc, [name, bit]) => (want[name] ? acc | bit : acc), 0n);
}

/** getpwnam/getgrnam from the files database, then a number. */
function resolveId(id: string, db: '/etc/passwd' | '/etc/group', current: number): number {
  if (id === '') return current;
  if (/^\d+$/.test(id)) return Number(id);
  let text = '';
  try {
    text = readFileSync(db, 'utf8');
  } catch {
    /* no database: only numbers resolve */
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === id && f[2] !== undefined) return Number(f[2]);
  }
  throw new PrepareError(`cannot resolve ${db === '/etc/passwd' ? 'user' : 'group'} '${id}'`);
}

function resolveMap(maps: readonly IdMap[], db: '/etc/passwd' | '/etc/group', current: number): IdRange[] {
  if (maps.length === 0) return [{ inside: current, outside: current, count: 1, newidmap: false }];
  return maps.map((m) => ({
    inside: resolveId(m.inside_id, db, current),
    outside: resolveId(m.outside_id, db, current),
    count: Math.max(1, m.count),
    newidmap: m.use_newidmap,
  }));
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

export function splitMountOptions(options: string): { flags: bigint; data: string } {
  let flags = 0n;
  const data: string[] = [];
  for (const o of options.split(',').filter(Boolean)) {
    const f = OPTION_FLAGS[o];
    if (!f) data.push(o);
    else flags = (flags | (f.set ?? 0n)) & ~(f.clear ?? 0n);
  }
  return { flags, data: data.join(',') };
}

function isDirOnHost(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory();
  } catch {
    return undefined;
  }
}

/** Follow host symlinks: after the first pivot the host is under /oldroot, where absolute links would point elsewhere. */
export function realHostPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function mountLogLine(m: MountPt, src: string | undefined): string {
  const head = m.is_symlink ? 'Symlink' : 'Mount';
  let line = `${head}: ${src ? `'${src}' -> ` : ''}'${m.dst}' type:'${m.fstype ?? ''}' options:'${m.options ?? ''}'`;
  if (m.is_dir !== undefined) line += ` dir:${m.is_dir}`;
  if (!m.mandatory) line += ' mandatory:false';
  if (m.src_content) line += ` src_content_len:${m.src_content.length}`;
  if (m.is_symlink) line += ' symlink:true';
  return line;
}

function prefixed(env: string | undefined, path: string): string {
  return env ? (process.env[env] ?? '') + path : path;
}

export function prepareMount(m: MountPt): PreparedMount {
  const src = m.src !== undefined ? prefixed(m.prefix_src_env, m.src) : undefined;
  const dst = prefixed(m.prefix_dst_env, m.dst);
  const { flags: optFlags, data } = splitMountOptions(m.options ?? '');
  const base = {
    dst,
    fstype: m.fstype ?? '',
    data,
    readonly: !m.rw || (optFlags & MS.MS_RDONLY) !== 0n,
    nosuid: m.nosuid || (optFlags & MS.MS_NOSUID) !== 0n,
    nodev: m.nodev || (optFlags & MS.MS_NODEV) !== 0n,
    noexec: m.noexec || (optFlags & MS.MS_NOEXEC) !== 0n,
    mandatory: m.mandatory,
    logLine: mountLogLine(m, src),
  };
  const accessFlags = MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC;
  if (m.is_symlink) return { ...base, kind: 'symlink', src: src ?? '', flags: 0n, isDir: false };
  if (m.src_content) return { ...base, kind: 'content', src: '', flags: MS.MS_BIND, isDir: false, content: m.src_content };
  if (m.is_dev) return { ...base, kind: 'dev', src: '', flags: 0n, isDir: true, readonly: false };
  if (m.is_overlay) return { ...base, kind: 'overlay', src: realHostPath(src ?? dst), flags: 0n, isDir: true, readonly: false };
  if (m.is_bind || (optFlags & MS.MS_BIND) !== 0n) {
    const host = realHostPath(src ?? '');
    return { ...base, kind: 'bind', src: host, flags: MS.MS_BIND | MS.MS_REC, isDir: m.is_dir ?? isDirOnHost(host) ?? true };
  }
  return { ...base, kind: 'fs', src: src || 'none', flags: optFlags & ~accessFlags, isDir: m.is_dir ?? true };
}

/** The mount list as nsjail builds it: --chroot first, the entries, then /proc. */
export function effectiveMounts(spec: JailSpec): MountPt[] {
  const { cfg, cli } = spec;
  const list: MountPt[] = [];
  const plain = { is_bind: false, rw: false, mandatory: true, is_symlink: false, nosuid: false, nodev: false, noexec: false };
  if (cli.chroot !== undefined) list.push({ ...plain, src: cli.chroot, dst: '/', is_bind: true, is_dir: true, rw: cli.rw });
  list.push(...cfg.mount);
  if (cfg.mount_proc) list.push({ ...plain, dst: cli.proc_path ?? '/proc', fstype: 'proc', is_dir: true, rw: cli.proc_rw });
  return list;
}

const WORK_BASES = ['/tmp', '/mnt', '/run', '/var/tmp', '/opt', '/srv', '/media', '/home'];

function pickWorkBase(): string {
  for (const d of WORK_BASES) if (isDirOnHost(d)) return d;
  throw new PrepareError(`no directory to mount the work tmpfs on (tried ${WORK_BASES.join(', ')})`);
}

export interface HostFacts {
  uid: number;
  gid: number;
  /** [soft, hard] per rlimit, as read at start-up. */
  rlimits: Record<RlimitName, [bigint, bigint]>;
  capLast: number;
  cpus: number[];
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

export function execOf(spec: JailSpec): { path: string; argv: string[] } {
  const exe = spec.cfg.exec_bin;
  const argv = spec.cli.argv.length ? [...spec.cli.argv] : exe ? [exe.path ?? '', ...exe.arg] : [];
  const path = exe?.path ?? argv[0] ?? '';
  if (exe?.arg0 !== undefined && argv.length) argv[0] = exe.arg0;
  return { path, argv };
}

export function prepare(spec: JailSpec, host: HostFacts): Prepared {
  const { cfg } = spec;
  const uidMap = resolveMap([...cfg_maps(spec, 'uid')], '/etc/passwd', host.uid);
  const gidMap = resolveMap([...cfg_maps(spec, 'gid')], '/etc/group', host.gid);
  const { path, argv } = execOf(spec);
  const persona = Object.entries(PERSONA).reduce((acc, [k, bit]) => (cfg[k as keyof typeof PERSONA] ? acc | bit : acc), 0);
  return {
    spec,
    cfg,
    cloneFlags: cloneFlagsOf(cfg),
    uidMap,
    gidMap,
    uid: uidMap[0]!.inside,
    gid: gidMap[0]!.inside,
    mounts: effectiveMounts(spec).map(prepareMount),
    workBase: cfg.clone_newns ? pickWorkBase() : '/',
    exec: { path, argv, env: buildEnv(cfg), execFd: cfg.exec_bin?.exec_fd ?? false },
    rlimits: resolveRlimits(cfg, host),
    keepCaps: cfg.keep_caps ? 'all' : cfg.cap.map((c) => capIndex(c)),
    capLast: host.capLast,
    persona,
    cpuMask: cpuMask(cfg.max_cpus, host.cpus),
    passFds: [...new Set([...spec.cli.pass_fd, ...cfg.pass_fd])],
  };
}

function capIndex(name: string): number {
  const i = CAP_INDEX.get(name);
  if (i === undefined) throw new PrepareError(`unknown capability '${name}'`);
  return i;
}
import { CAPS } from './linux/consts.js';
const CAP_INDEX = new Map<string, number>(CAPS.map((c, i) => [c, i]));

/** Id maps: command-line ones accumulate with the config's (nsjail keeps them outside the proto). */
function cfg_maps(spec: JailSpec, which: 'uid' | 'gid'): IdMap[] {
  return which === 'uid' ? spec.cli.uidmap : spec.cli.gidmap;
}
