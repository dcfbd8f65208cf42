/**
 * `tsjail learn -o FILE.cfg [--errno N] [jail options] -- PROG ARGS`: run the
 * program once with every call notified (the notification supervisor in its
 * learn mode), then write an nsjail-format config that runs it again with
 * just what it used: the options given, binds for what it read and wrote,
 * Landlock rules for those paths, and a Kafel allow-list of the calls it made
 * (DEFAULT KILL, or ERRNO(N) with --errno). `tsjail --config FILE.cfg` runs it.
 */
import { closeSync, lstatSync, openSync, readlinkSync, readSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../cli/flags.js';
import { formatNodeError } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { Feature } from '../features/types.js';
import type { Stats, StatsData } from '../notify/report.js';
import type { Prepared } from '../prepare.js';
import type { JailSpec, MountPt } from '../spec.js';
import { defaultMount } from '../spec.js';
import { quoted } from '../text.js';
import { learnProfile, type HostView, type TracedPath } from './profile.js';

export interface LearnOptions {
  readonly output: string;
  /** DEFAULT ERRNO(n) instead of DEFAULT KILL. */
  readonly errno?: number;
  /** The jail's own command line. */
  readonly rest: string[];
}

/** Takes learn's own options (before `--`) out of argv; the rest is a jail's command line. */
export function parseLearnArgs(argv: readonly string[]): LearnOptions {
  const rest: string[] = [];
  let output: string | undefined;
  let errno: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^(-o|--output|--errno)(?:=(.*)|(.+))?$/.exec(a);
    if (!m || (m[3] !== undefined && m[1] !== '-o')) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? m[3] ?? argv[++i];
    if (value === undefined) throw new UsageError(`tsjail learn: ${m[1]} needs a value`);
    if (m[1] === '--errno') {
      if (!/^\d+$/.test(value) || Number(value) > 4095) throw new UsageError(`tsjail learn: --errno ${quoted(value)} is not an errno number (0..4095)`);
      errno = Number(value);
    } else output = value;
  }
  if (output === undefined) throw new UsageError('tsjail learn: -o FILE.cfg is required (where the learnt config is written)');
  return { output, errno, rest };
}

/** Problems of a learn run, found before it starts. */
export function learnProblems(spec: JailSpec, o: LearnOptions): string[] {
  const { cfg } = spec;
  const e = cfg.ext;
  const out: string[] = [];
  if (cfg.mode !== 'STANDALONE_ONCE') out.push('tsjail learn runs the program once: drop -M/--port (the learnt config may then use any mode)');
  if (cfg.seccomp_string.length || cfg.seccomp_policy_file !== undefined || e.syscall_allow.length || e.syscall_deny.length || e.seccomp_preset.length || e.seccomp_bpf_file !== undefined) {
    out.push('tsjail learn writes the seccomp policy itself: drop the seccomp options from the learning run');
  }
  if (e.go_mod !== undefined) out.push('tsjail learn notifies every call to count it: drop --go_mod from the learning run (the learnt config can add it)');
  try {
    if (!lstatSync(dirname(o.output)).isDirectory()) out.push(`-o ${quoted(o.output)}: ${quoted(dirname(o.output))} is not a directory`);
  } catch (err) {
    out.push(`-o ${quoted(o.output)}: ${quoted(dirname(o.output))}: ${formatNodeError(err)}`);
  }
  return out;
}

/** The host as the profile builder sees it. */
const HOST: HostView = {
  kind(p) {
    try {
      const st = lstatSync(p);
      return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  },
  readlink(p) {
    try {
      return readlinkSync(p);
    } catch {
      return undefined;
    }
  },
  interpreter(p) {
    const b = Buffer.alloc(4096);
    let n = 0;
    try {
      const fd = openSync(p, 'r');
      try {
        n = readSync(fd, b, 0, b.length, 0);
      } finally {
        closeSync(fd);
      }
    } catch {
      return undefined;
    }
    return interpreterOf(b.subarray(0, n));
  },
};

/** An ELF64 file's PT_INTERP (within its first bytes), or a script's `#!` program. */
export function interpreterOf(b: Buffer): string | undefined {
  if (b.length > 2 && b[0] === 0x23 && b[1] === 0x21) {
    const line = b.toString('latin1', 2, Math.max(2, b.indexOf(0x0a) < 0 ? b.length : b.indexOf(0x0a))).trim();
    return line.split(/\s+/)[0] || undefined;
  }
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return undefined;
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 56 > b.length) return undefined;
    if (b.readUInt32LE(at) !== 3) continue; // PT_INTERP
    const off = Number(b.readBigUInt64LE(at + 8));
    const size = Number(b.readBigUInt64LE(at + 32));
    if (off + size > b.length) return undefined;
    return b.toString('latin1', off, off + size).replace(/\0.*$/s, '');
  }
  return undefined;
}

/**
 * Calls whose failure libraries answer with older ones, which one run cannot
 * show: copy_file_range to a pipe fails and cat then reads and writes; clone3
 * refused falls back to clone. Each adds its fallbacks to the allow-list.
 */
const FALLBACKS: Readonly<Record<string, readonly string[]>> = {
  copy_file_range: ['read', 'write'],
  sendfile64: ['read', 'write'],
  splice: ['read', 'write'],
  clone3: ['clone'],
  statx: ['newfstatat'],
  openat2: ['openat'],
  faccessat2: ['faccessat'],
  fchmodat2: ['fchmodat'],
  pwritev2: ['pwritev', 'pwrite64'],
  preadv2: ['preadv', 'pread64'],
};

/** The Kafel allow-list of the calls made (and of their fallbacks). */
export function learntPolicy(calls: readonly string[], errno?: number): string {
  const names = [...new Set(calls.flatMap((c) => [c, ...(FALLBACKS[c] ?? [])]))].sort();
  const lines: string[] = [];
  for (let i = 0; i < names.length; i += 8) lines.push(`    ${names.slice(i, i + 8).join(', ')}`);
  return `POLICY learnt {\n  ALLOW {\n${lines.join(',\n')}\n  }\n}\nUSE learnt DEFAULT ${errno === undefined ? 'KILL' : `ERRNO(${errno})`}`;
}

export async function runLearn(spec: JailSpec, o: LearnOptions): Promise<number> {
  const problems = learnProblems(spec, o);
  if (problems.length) {
    for (const p of problems) log.error(p);
    return 255;
  }
  // The learn feature installs the one filter with a listener; --seccomp_unotify's report rides on it.
  const report = spec.cfg.seccomp_unotify;
  spec.cfg.seccomp_unotify = false;
  let prepared: Prepared | undefined;
  let stats: Stats | undefined;
  const learn: Feature = {
    name: 'learn',
    applies: () => true,
    async prepare(p, ctx) {
      prepared = p;
      const run = await (await import('../features/seccomp.js')).prepareSeccomp(p, ctx, { trace: true, learn: true, report });
      stats = run.stats;
      return run;
    },
  };
  const code = await (await import('../run-spec.js')).runSpec(spec, { features: [learn] });
  spec.cfg.seccomp_unotify = report;
  if (!prepared || !stats || stats.calls.size === 0) {
    log.error('tsjail learn: the program made no call under the filter (it did not start); nothing was written');
    return code === 0 ? 255 : code;
  }
  const text = learntConfig(spec, prepared, stats, o, (await import('../config/dump.js')).dumpConfig);
  try {
    writeFileSync(o.output, text.config, { mode: 0o644 });
  } catch (err) {
    log.error(`tsjail learn: open('${o.output}', O_WRONLY|O_CREAT|O_TRUNC): ${formatNodeError(err)}`);
    return 255;
  }
  log.info(`tsjail learn: wrote ${o.output}: ${text.summary}`);
  return code;
}

type Dump = (spec: JailSpec) => string;

export interface LearntNetwork {
  /** TCP ports it connected to and bound (Landlock's connect_tcp and bind_tcp; UDP ports too, which only narrows TCP). */
  readonly connectTcp: number[];
  readonly bindTcp: number[];
  /** Unix socket files it reached (read: bound read-only, as connecting needs) or created (their directory writable). */
  readonly socketPaths: TracedPath[];
  /** Every endpoint, for the config's header. */
  readonly notes: string[];
}

/**
 * What the program did on the network, as rules: the network namespace options
 * stay as given (the jail's own loopback by default, so what it reached there
 * is reached again), Landlock allows TCP only on the ports it connected to and
 * bound, and the socket files it used are in its binds. The seccomp allow-list
 * already refuses socket calls it never made.
 */
export function learntNetwork(net: StatsData['net'], ownNetns: boolean): LearntNetwork {
  const connectTcp = new Set<number>();
  const bindTcp = new Set<number>();
  const socketPaths: TracedPath[] = [];
  const reached: string[] = [];
  for (const e of net) {
    const calls = [...e.syscalls.values()].map((s) => s.name);
    const inet = e.type === 'IPV4' || e.type === 'IPV6';
    if (inet && e.port !== undefined) {
      if (calls.includes('connect')) connectTcp.add(e.port);
      if (calls.includes('bind')) bindTcp.add(e.port);
    }
    if (e.socketPath) {
      const made = calls.includes('bind');
      socketPaths.push({ path: e.socketPath.path, jailType: made ? 'NONEXISTENT' : e.socketPath.jailType, mode: made ? undefined : 'RDONLY', modeExtra: '', syscalls: [{ name: made ? 'mknod' : 'openat' }] });
    }
    const where = inet && e.port !== undefined ? `${e.type === 'IPV6' ? `[${e.endpoint}]` : e.endpoint}:${e.port}` : e.endpoint;
    reached.push(`${[...new Set(calls)].join('/')} ${e.type} ${where}`);
  }
  const notes = reached.length
    ? [`network: it ran ${ownNetns ? 'in a network namespace of its own (loopback only)' : "in tsjail's network namespace"}, kept as it was; it reached ${reached.sort().join(', ')}`]
    : [];
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { connectTcp: sorted(connectTcp), bindTcp: sorted(bindTcp), socketPaths, notes };
}

function learntConfig(spec: JailSpec, p: Prepared, stats: Stats, o: LearnOptions, dump: Dump): { config: string; summary: string } {
  const root = p.mounts.find((m) => m.kind === 'bind' && m.dst === '/');
  const others = p.mounts.filter((m) => m !== root);
  const calls = [...stats.calls.keys()];
  const foreign = calls.filter((c) => c.includes(':'));
  const net = learntNetwork(stats.data().net, spec.cfg.clone_newnet && spec.cfg.ext.netns === undefined);
  const paths = [...stats.paths(), ...net.socketPaths];
  const profile = root
    ? learnProfile({ root: root.src, otherMounts: others.map((m) => m.dst), pseudo: others.filter((m) => m.fstype === 'proc').map((m) => m.dst), paths }, HOST)
    : learnProfile({ root: '/', otherMounts: ['/'], pseudo: others.filter((m) => m.fstype === 'proc').map((m) => m.dst), paths }, HOST);
  const out: JailSpec = structuredClone(spec);
  const { cfg, cli } = out;
  // The root the program ran in gives way to the binds of what it used.
  let mounts: MountPt[] = cfg.mount;
  if (cli.chroot !== undefined) {
    cli.chroot = undefined;
    cli.rw = false;
  } else mounts = mounts.filter((m) => !(m.is_bind && m.dst === '/'));
  const devFromRoot = root && others.some((m) => m.kind === 'dev' && m.dst === '/dev') && !cfg.mount.some((m) => m.dst === '/dev');
  const dev: MountPt[] = devFromRoot ? [{ ...defaultMount(), dst: '/dev', is_dev: true, is_dir: true }] : [];
  cfg.mount = root ? [...profile.mounts, ...dev, ...mounts] : mounts;
  cfg.seccomp_string = [learntPolicy(calls.filter((c) => !c.includes(':')), o.errno)];
  const l = cfg.ext.landlock;
  l.ro = [...new Set([...l.ro, ...profile.landlock.ro])];
  l.rw = [...new Set([...l.rw, ...profile.landlock.rw])];
  l.rx = [...new Set([...l.rx, ...profile.landlock.rx])];
  // A file the program did not use is then refused by Landlock or absent, and named by tsjail.
  if (l.ro.length + l.rw.length + l.rx.length) l.log = true;
  l.connect_tcp = [...new Set([...l.connect_tcp, ...net.connectTcp])];
  l.bind_tcp = [...new Set([...l.bind_tcp, ...net.bindTcp])];
  const argv = spec.cli.argv.length ? spec.cli.argv : spec.cli.config_argv;
  const notes = [...profile.notes, ...net.notes, ...(foreign.length ? [`calls of other arches are left out of the allow-list (refused): ${foreign.join(', ')}`] : []), ...(root ? [] : ['the run had no host root (--chroot): its mounts are kept as they were'])];
  const header = [`# Learnt by 'tsjail learn' from: ${argv.map((a) => JSON.stringify(a)).join(' ')}`, `# Run it: tsjail --config ${o.output}${argv.length ? '' : ' -- PROG ARGS'}`, ...notes.map((n) => `# Note: ${n}`)];
  // --dump_config's text, with learn's header instead of its own.
  const config = `${header.join('\n')}\n${dump(out).replace(/^(#[^\n]*\n)+/, '')}`;
  return { config, summary: `${profile.mounts.length} mounts, ${l.ro.length + l.rw.length + l.rx.length} Landlock rules, ${calls.length - foreign.length} syscalls allowed (DEFAULT ${o.errno === undefined ? 'KILL' : `ERRNO(${o.errno})`})${net.connectTcp.length + net.bindTcp.length ? `, TCP connect ${net.connectTcp.join(',') || 'none'} / bind ${net.bindTcp.join(',') || 'none'}` : ''}` };
}
