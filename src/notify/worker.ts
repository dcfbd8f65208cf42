/**
 * The notification worker: a thread of tsjail that answers the jails'
 * seccomp notifications, so that neither a waiting jail nor a slow decode
 * stops the event loop (and the loop's latency never adds to a call's).
 *
 * One poll() over: the notify socket (listeners arrive there, with the
 * sender's pid), a wake pipe (the main thread's messages) and each listener.
 * For every notification it runs the jail's original filter on the call's
 * registers and:
 *   - a call the filter lets through (only traced calls are notified then):
 *     decode it for the report, check the id is still valid, CONTINUE;
 *   - a refusal or a USER_NOTIF rule: decode the call, check the id, and hand
 *     it to the main thread, which logs it; once it acknowledges, apply the
 *     action. tsjail thus names every violation before it acts.
 * Nothing read from memory decides anything: the answer comes from the filter
 * run on seccomp_data, which the kernel copied when the call was made.
 */
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import {
  closeFd,
  getsockoptInt,
  notifContinue,
  notifIdValid,
  notifRecv,
  pathTypes,
  notifSend,
  notifSyncWakeUp,
  notifyServe,
  pidfdGetfd,
  pidfdOpen,
  pidfdSendSignal,
  pollFds,
  readFd,
  recvListener,
  SECCOMP_NOTIF_RESP_SIZE,
  SECCOMP_NOTIF_SIZE,
  SECCOMP_USER_NOTIF_FLAG_CONTINUE,
  tgkill,
  trapLikeKernel,
  type TrapInfo,
  vmRead,
} from '../linux/notify.js';
import { AUDIT_ARCH_X86_64, SO_PROTOCOL, SO_TYPE, SOL_SOCKET } from '../linux/consts.js';
import { errnoName } from '../linux/errno.js';
import { inheritNativePaths } from '../linux/libc.js';
import { formatAction } from '../seccomp/actions.js';
import { ARCHS } from '../seccomp/arch.js';
import { decode, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF, type SockFilter } from '../seccomp/bpf.js';
import { run } from '../seccomp/interp.js';
import { stronger } from '../seccomp/notify.js';
import { syscallByNr, TABLES } from '../seccomp/syscalls/index.js';
import { decodeCall, decodeTraced, formatCall, type FileType, type TraceRecord, type Tracee } from './decode.js';
import { followLinks, type PathLookup } from './paths.js';
import { Stats } from './report.js';
import { TRACED_BY_NR } from './syscalls.js';
import type { FromWorker, GoEventInfo, ToWorker, WorkerInit } from './protocol.js';
import { GoConfinement, type GoVerdict } from './go.js';

const POLLIN = 1;
const POLLERR = 8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const ENOSYS = 38;
const EPERM = 1;
const MAX_ERRNO = 4095;
const SIGKILL = 9;
const SIGSYS = 31;
/** After SIGSYS a process that still runs (it caught the signal after all) gets SIGKILL. */
const KILL_GRACE_MS = 200;
/** Per jail: violations logged one by one; beyond, they are acted on and counted. */
const LOG_LIMIT = 100;

interface Listener {
  readonly fd: number;
  /** The process that installed the filter, and its parent: the jail is one of them (its PID 1 with --init). */
  readonly pid: number;
  readonly ppid: number;
  readonly stats: Stats;
  logged: number;
  unlogged: number;
  hup: boolean;
}

/** A notification waiting for the main thread to log it. */
interface Pending {
  readonly l: Listener;
  readonly id: bigint;
  readonly tid: number;
  readonly act: Plan;
}

/** What tsjail does with a notified call. */
type Plan =
  | { k: 'continue' }
  | { k: 'errno'; errno: number }
  /** SIGSYS to the thread, then the call fails with ENOSYS: it dies of SIGSYS, or its handler runs (TRAP; with `trap`, given the kernel's siginfo). */
  | { k: 'sigsys'; tgid: number; mustDie: boolean; trap?: TrapInfo }
  /** why: the reason SIGSYS could not do. */
  | { k: 'sigkill'; tgid: number; why: string };

const init = workerData as WorkerInit;
inheritNativePaths(init.native);
const policy: SockFilter[] | undefined = init.policy ? decode(init.policy) : undefined;
const go = init.go ? new GoConfinement(init.go) : undefined;
const bpfFile: SockFilter[] | undefined = init.file ? decode(init.file) : undefined;
const listeners: Listener[] = [];
const pending = new Map<number, Pending>();
let nextKey = 1;
/** Processes sent SIGSYS, and when they get SIGKILL unless gone: pidfd → deadline. */
const deadlines = new Map<number, number>();
const notif = Buffer.alloc(SECCOMP_NOTIF_SIZE);
const resp = Buffer.alloc(SECCOMP_NOTIF_RESP_SIZE);
const idBuf = Buffer.alloc(8);
const wakeBuf = Buffer.alloc(64);
const chunk = Buffer.alloc(4096);

function post(m: FromWorker): void {
  parentPort!.postMessage(m);
}

function respond(fd: number, id: bigint, val: bigint, error: number, flags: number): void {
  resp.writeBigUInt64LE(id, 0);
  resp.writeBigInt64LE(val, 8);
  resp.writeInt32LE(error, 16);
  resp.writeUInt32LE(flags, 20);
  // ENOENT: the caller is gone (killed, or interrupted and will retry): nothing to answer.
  notifSend(fd, resp);
}

function idValid(fd: number, id: bigint): boolean {
  idBuf.writeBigUInt64LE(id, 0);
  return notifIdValid(fd, idBuf);
}


const S_IFMT = 0o170000;
const MODE_TYPES: Readonly<Record<number, FileType>> = { 0o100000: 'REGULAR', 0o040000: 'DIR', 0o020000: 'CHR', 0o060000: 'BLK', 0o010000: 'FIFO', 0o120000: 'LINK', 0o140000: 'SOCK' };
const modeType = (m: number): FileType => (m === 0 ? 'NONEXISTENT' : (MODE_TYPES[m & S_IFMT] ?? 'UNKNOWN'));

function procStatus(tid: number): Record<string, string> | undefined {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync(`/proc/${tid}/status`, 'latin1').split('\n')) {
      const at = line.indexOf(':');
      if (at > 0) out[line.slice(0, at)] = line.slice(at + 1).trim();
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The notified thread, read through /proc and process_vm_readv. */
function tracee(tid: number): Tracee {
  let tgid: number | undefined;
  // Both lstats in one call, once per path: the decoder asks for the jail's type, then the host's.
  let last: { path: string; types: [FileType, FileType] } | undefined;
  const types = (path: string): [FileType, FileType] => {
    if (last?.path !== path) {
      const [j, m] = pathTypes(tid, Buffer.from(`${path}\0`, 'latin1'));
      // A relative path names nothing on the host; "" is the root itself inside the jail (nsjail's LINK).
      last = { path, types: [path.startsWith('/') || path === '' ? modeType(j) : 'NONEXISTENT', path.startsWith('/') ? modeType(m) : 'NONEXISTENT'] };
    }
    return last.types;
  };
  return {
    readString(addr, max) {
      let s = '';
      let at = addr;
      while (s.length <= max) {
        // Up to the page end first: the next page may not be mapped.
        const room = Math.min(chunk.length, 4096 - Number(at & 4095n));
        const n = vmRead(tid, at, chunk, room);
        if (n <= 0) return s.length ? s : undefined;
        const nul = chunk.subarray(0, n).indexOf(0);
        if (nul >= 0) return (s + chunk.toString('latin1', 0, nul)).slice(0, max);
        s += chunk.toString('latin1', 0, n);
        at += BigInt(n);
      }
      return s.slice(0, max);
    },
    readBytes(addr, len) {
      const b = Buffer.alloc(len);
      return vmRead(tid, addr, b, len) === len ? b : undefined;
    },
    cwd: () => link(`/proc/${tid}/cwd`),
    fdPath: (fd) => link(`/proc/${tid}/fd/${fd}`),
    jailType: (path) => types(path)[0],
    mainType: (path) => types(path)[1],
    socketType(fd) {
      tgid ??= Number(procStatus(tid)?.Tgid ?? tid);
      const pidfd = pidfdOpen(tgid);
      if (pidfd < 0) return undefined;
      const copy = pidfdGetfd(pidfd, fd);
      closeFd(pidfd);
      if (copy < 0) return undefined;
      const type = getsockoptInt(copy, SOL_SOCKET, SO_TYPE);
      const protocol = getsockoptInt(copy, SOL_SOCKET, SO_PROTOCOL);
      closeFd(copy);
      return type < 0 ? undefined : { type, protocol: Math.max(protocol, 0) };
    },
  };
}

function link(path: string): string | undefined {
  try {
    return readlinkSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

const SIGSYS_BIT = 1n << BigInt(SIGSYS - 1);
const hasSigsys = (mask: string | undefined) => mask !== undefined && (BigInt(`0x${mask}`) & SIGSYS_BIT) !== 0n;

/**
 * How to end a process for a KILL or TRAP answer. The kernel's own SIGSYS
 * cannot come from a notification, so tsjail sends it (the exit status is
 * still SIGSYS's, 159) when the process lets it kill: not caught, blocked or
 * ignored. TRAP to a process that catches SIGSYS runs its handler right after
 * the call fails with ENOSYS (the wait is killable-only, so the signal waits
 * for the answer). Otherwise SIGKILL: a kill must not depend on the program.
 */
function killPlan(tid: number, trap: boolean): Plan {
  const st = procStatus(tid);
  const tgid = Number(st?.Tgid ?? tid);
  if (!st) return { k: 'sigkill', tgid, why: `/proc/${tid}/status is unreadable` };
  const caught = hasSigsys(st.SigCgt);
  if (trap && caught) return { k: 'sigsys', tgid, mustDie: false };
  // The kernel drops a default-action signal sent to PID 1 of a pid namespace unless it is SIGKILL.
  if (st.NSpid?.split(/\s+/).pop() === '1') return { k: 'sigkill', tgid, why: 'PID 1 of its pid namespace ignores SIGSYS sent from outside' };
  if (caught) return { k: 'sigkill', tgid, why: 'it catches SIGSYS' };
  if (hasSigsys(st.SigBlk) || hasSigsys(st.SigIgn)) return { k: 'sigkill', tgid, why: 'it blocks or ignores SIGSYS' };
  return { k: 'sigsys', tgid, mustDie: true };
}

/** A TRAP answer to a handler: given the kernel's siginfo, unless SIGSYS is blocked (the kernel would unblock it; tsjail cannot). */
function withTrap(p: Plan, tid: number, t: TrapInfo): Plan {
  if (p.k !== 'sigsys' || p.mustDie) return p;
  // SigBlk is the thread's own.
  return hasSigsys(procStatus(tid)?.SigBlk) ? p : { ...p, trap: t };
}

function outcomeText(p: Plan): string {
  switch (p.k) {
    case 'continue':
      return 'allowed';
    case 'errno':
      return p.errno === 0 ? 'not made, answered 0' : `failed with ${errnoName(p.errno)}`;
    case 'sigsys':
      return p.mustDie ? 'killed with SIGSYS' : p.trap ? 'SIGSYS (SYS_SECCOMP) to its handler, the call not made' : 'SIGSYS sent to its handler, the call fails with ENOSYS';
    case 'sigkill':
      return `killed with SIGKILL (${p.why})`;
  }
}

function apply(fd: number, id: bigint, tid: number, p: Plan): void {
  switch (p.k) {
    case 'continue':
      return respond(fd, id, 0n, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
    case 'errno':
      return respond(fd, id, 0n, -p.errno, 0);
    case 'sigsys': {
      // A handler gets the kernel's siginfo where tsjail may trace the thread; else tsjail's own SIGSYS (SI_TKILL).
      if (p.trap && trapLikeKernel(fd, id, p.tgid, tid, p.trap) >= 0) return;
      // The id still valid means the thread still waits: tid and tgid are still its.
      const pidfd = p.mustDie ? pidfdOpen(p.tgid) : -1;
      if (!idValid(fd, id)) {
        if (pidfd >= 0) closeFd(pidfd);
        return;
      }
      tgkill(p.tgid, tid, SIGSYS);
      // Queued for the thread, it is taken on the way back from the call; a signal the kernel
      // dropped (ignored after all) must not leave the process running.
      if (p.mustDie && !hasSigsys(procStatus(tid)?.SigPnd)) {
        if (pidfd >= 0) {
          pidfdSendSignal(pidfd, SIGKILL);
          closeFd(pidfd);
        }
        return;
      }
      respond(fd, id, 0n, -ENOSYS, 0);
      if (pidfd >= 0) deadlines.set(pidfd, Date.now() + KILL_GRACE_MS);
      return;
    }
    case 'sigkill': {
      const pidfd = pidfdOpen(p.tgid);
      if (pidfd < 0) return;
      if (idValid(fd, id)) pidfdSendSignal(pidfd, SIGKILL);
      closeFd(pidfd);
      return;
    }
  }
}

/** The calls Landlock restricts by path: opening, executing, creating, removing, renaming, linking, truncating. */
const LANDLOCK_CALLS = new Set(['open', 'openat', 'openat2', 'creat', 'execve', 'execveat', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'unlink', 'unlinkat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat', 'truncate']);
const within = (p: string, dir: string) => dir === '/' || p === dir || p.startsWith(`${dir.replace(/\/$/, '')}/`);

/** A path as the jail resolves it: its symlinks followed inside the jail's root; a missing tail kept as it is. */
function resolveInJail(tid: number, path: string): string {
  const root = `/proc/${tid}/root`;
  const inJail: PathLookup = {
    kind(p) {
      try {
        const st = lstatSync(Buffer.from(root + p, 'latin1'), { throwIfNoEntry: false });
        return st === undefined ? undefined : st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
      } catch {
        return undefined;
      }
    },
    readlink: (p) => link(root + p),
  };
  return followLinks(path, inJail, { keepMissing: true }) ?? path;
}

/** The rules' paths, and where they lead in the jail (Landlock opens them, following links). */
const watched = new WeakMap<Listener, string[]>();
function rulesOf(l: Listener, tid: number): string[] {
  let r = watched.get(l);
  if (!r) watched.set(l, (r = [...new Set([...init.watch!, ...init.watch!.map((p) => resolveInJail(tid, p))])]));
  return r;
}

/** --landlock_log: the first path of a file call that no rule covers, if the jail or the host has it (a probe for a file nowhere is no refusal). */
function outsideRules(l: Listener, tid: number, rec: TraceRecord): string | undefined {
  if (!LANDLOCK_CALLS.has(rec.name)) return undefined;
  const rules = rulesOf(l, tid);
  const covered = (p: string) => rules.some((d) => within(p, d));
  for (const p of rec.paths) {
    if (!p.path.startsWith('/') || covered(p.path) || covered(resolveInJail(tid, p.path))) continue;
    const inJail = p.jailType !== 'NONEXISTENT' && p.jailType !== 'UNKNOWN';
    const onHost = p.mainType !== 'NONEXISTENT' && p.mainType !== 'UNKNOWN';
    if (inJail) return `names ${p.path}, outside the Landlock rules`;
    if (onHost) return `names ${p.path}, which the jail does not have (the host has it) and the Landlock rules do not cover`;
  }
  return undefined;
}

function archName(audit: number): string {
  return ARCHS.find((a) => a.auditArch === audit)?.name ?? `0x${audit.toString(16)}`;
}

function handle(l: Listener): void {
  if (notifRecv(l.fd, notif) < 0) return; // ENOENT: the caller went away before we got it
  received(l);
}

/** The notification in `notif`, received from l. */
function received(l: Listener): void {
  const id = notif.readBigUInt64LE(0);
  const tid = notif.readUInt32LE(8);
  const nr = notif.readInt32LE(16);
  const arch = notif.readUInt32LE(20);
  const ip = notif.readBigUInt64LE(24);
  const args = [0, 1, 2, 3, 4, 5].map((i) => notif.readBigUInt64LE(32 + 8 * i));
  const data = { nr, arch, instruction_pointer: ip, args };
  const own = policy ? run(policy, data).ret : SECCOMP_RET_ALLOW;
  const ret = bpfFile ? stronger(own, run(bpfFile, data).ret) : own;
  const kind = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  const x86 = arch === AUDIT_ARCH_X86_64;
  const t = tracee(tid);
  const traced = x86 && (init.trace || init.learn) ? TRACED_BY_NR.get(nr) : undefined;
  const passes = kind === SECCOMP_RET_ALLOW || kind === SECCOMP_RET_LOG || kind === SECCOMP_RET_USER_NOTIF;
  // Decode before checking the id: once valid after the read, what was read belongs to this call.
  const rec = passes && traced ? decodeTraced(traced, args, t) : undefined;
  // A call the policy lets through may still be refused by Go module confinement: the stricter answer wins.
  const verdict = go && passes ? goDecide(go, tid, nr, ip) : undefined;
  if (verdict && (verdict.k === 'block' || verdict.k === 'unwind_failed')) return goDecided(l, id, tid, nr, arch, ip, args, t, verdict);
  if (kind === SECCOMP_RET_ALLOW || kind === SECCOMP_RET_LOG) {
    const outside = rec && init.watch ? outsideRules(l, tid, rec) : undefined;
    const record = () => {
      if (rec) l.stats.add(rec);
      if (init.learn) l.stats.count(x86 ? (syscallByNr(TABLES.x86_64!, nr)?.name ?? `sys_${nr}`) : `${archName(arch)}:${nr}`);
    };
    if (!outside || l.logged >= LOG_LIMIT) {
      // The id checked valid after the read, in one call with the answer; only then is the record kept.
      if (notifContinue(l.fd, id) === 0) record();
      return;
    }
    if (!idValid(l.fd, id)) return;
    record();
    // Named by the main thread, then let through: Landlock, not tsjail, refuses it.
    l.logged++;
    const call = decodeCall(nr, 'x86_64', args, t);
    const key = nextKey++;
    pending.set(key, { l, id, tid, act: { k: 'continue' } });
    return post({ t: 'event', key, jail: l.pid, ppid: l.ppid, tid, nr, arch: 'x86_64', ip: `0x${ip.toString(16)}`, syscall: call.name, args: call.args, call: formatCall(call), action: 'ALLOW', outcome: 'let through to Landlock', violation: false, landlock: outside, last: l.logged === LOG_LIMIT, sigkilled: false });
  }
  if (kind === SECCOMP_RET_TRACE) {
    // No tracer: the kernel's answer would be ENOSYS.
    return respond(l.fd, id, 0n, -ENOSYS, 0);
  }
  const plan: Plan =
    kind === SECCOMP_RET_USER_NOTIF
      ? { k: 'continue' }
      : kind === SECCOMP_RET_ERRNO
        ? { k: 'errno', errno: Math.min(ret & SECCOMP_RET_DATA, MAX_ERRNO) }
        : withTrap(killPlan(tid, kind === SECCOMP_RET_TRAP), tid, { nr, arch, ip, data: ret & SECCOMP_RET_DATA });
  const archText = archName(arch);
  const call = decodeCall(nr, archText, args, t);
  if (!idValid(l.fd, id)) return;
  if (rec) l.stats.add(rec);
  // Kills are always logged (each ends a process); the rest up to the limit.
  const kill = plan.k === 'sigkill' || (plan.k === 'sigsys' && plan.mustDie);
  if (l.logged >= LOG_LIMIT && !kill) {
    l.unlogged++;
    return apply(l.fd, id, tid, plan);
  }
  if (!kill) l.logged++;
  const key = nextKey++;
  pending.set(key, { l, id, tid, act: plan });
  post({
    t: 'event',
    key,
    jail: l.pid,
    ppid: l.ppid,
    tid,
    nr,
    arch: archText,
    ip: `0x${ip.toString(16)}`,
    syscall: call.name,
    args: call.args,
    call: formatCall(call),
    action: formatAction(kind === SECCOMP_RET_KILL_THREAD || kind === SECCOMP_RET_KILL_PROCESS || kind === SECCOMP_RET_USER_NOTIF ? kind : ret),
    outcome: outcomeText(plan),
    violation: kind !== SECCOMP_RET_USER_NOTIF,
    last: !kill && l.logged === LOG_LIMIT,
    sigkilled: plan.k === 'sigkill',
  });
}

/**
 * The calls tsj_notify_serve (native/notify.c) may observe and continue by itself: traced, and
 * whose only memory argument is one path (the rest are numbers). By number, the path's argument
 * index + 1. Only when nothing else is asked of a notification: no policy or --seccomp_bpf_file
 * program to run on it, no Go confinement decision, no learning, no Landlock naming.
 */
const FAST: Uint8Array | undefined = (() => {
  if (!init.trace || init.learn || init.watch || policy || bpfFile || go) return undefined;
  const plain = new Set(['dirfd', 'oflags', 'octal', 'access', 'uid', 'gid']);
  const t = new Uint8Array(512);
  for (const [nr, def] of TRACED_BY_NR) {
    const paths = def.roles.flatMap((r, i) => (r === 'path' ? [i] : []));
    if (nr < t.length && paths.length === 1 && def.roles.every((r) => r === 'path' || plain.has(r))) t[nr] = paths[0]! + 1;
  }
  return t;
})();
const served = Buffer.alloc(64 * 1024);
const NOTIF_AT = 8;
const MODES_AT = NOTIF_AT + SECCOMP_NOTIF_SIZE;
const PATH_AT = MODES_AT + 8;

/** The records tsj_notify_serve wrote: calls it continued (recorded here), or one it handed over. */
function consume(len: number, live: readonly Listener[]): void {
  for (let at = 0; at < len; ) {
    const kind = served[at]!;
    const l = live[served.readUInt16LE(at + 2)]!;
    if (kind === 2) {
      served.copy(notif, 0, at + NOTIF_AT, at + MODES_AT);
      received(l);
      at += MODES_AT;
      continue;
    }
    const plen = served.readUInt16LE(at + 4);
    const path = served.toString('latin1', at + PATH_AT, at + PATH_AT + plen);
    const n = at + NOTIF_AT;
    const nr = served.readInt32LE(n + 16);
    const args = [0, 1, 2, 3, 4, 5].map((i) => served.readBigUInt64LE(n + 32 + 8 * i));
    const types: [FileType, FileType] = [modeType(served.readUInt32LE(at + MODES_AT)), modeType(served.readUInt32LE(at + MODES_AT + 4))];
    l.stats.add(decodeTraced(TRACED_BY_NR.get(nr)!, args, seen(path, types)), served.readUInt16LE(at + 6));
    at += (PATH_AT + plen + 7) & ~7;
  }
}

/** A tracee whose one path was read natively: the decoder asks for nothing else of a fast call. */
function seen(path: string, types: [FileType, FileType]): Tracee {
  const none = () => undefined;
  return { readString: () => path, readBytes: none, cwd: none, fdPath: none, jailType: () => types[0], mainType: () => types[1], socketType: none };
}

/** A decision never throws: whatever stops the walk (a malformed table entry) is a stack that could not be walked. */
function goDecide(g: GoConfinement, tid: number, nr: number, ip: bigint): GoVerdict {
  try {
    return g.decide(tid, nr, ip);
  } catch (e) {
    return { k: 'unwind_failed', error: (e as Error).message, frames: [] };
  }
}

/** Hands a call Go module confinement refused (or could not judge) to the main thread, then answers it. */
function goDecided(l: Listener, id: bigint, tid: number, nr: number, arch: number, ip: bigint, args: bigint[], t: Tracee, v: Extract<GoVerdict, { k: 'block' | 'unwind_failed' }>): void {
  const plan: Plan = v.k === 'block' || init.go!.unwindFail === 'deny' ? { k: 'errno', errno: EPERM } : { k: 'continue' };
  const archText = archName(arch);
  const call = decodeCall(nr, archText, args, t);
  if (!idValid(l.fd, id)) return;
  if (l.logged >= LOG_LIMIT) {
    l.unlogged++;
    return apply(l.fd, id, tid, plan);
  }
  l.logged++;
  const key = nextKey++;
  pending.set(key, { l, id, tid, act: plan });
  const info: GoEventInfo = v.k === 'block' ? { module: v.module, function: v.func, frames: v.frames } : { unwind: v.error, frames: v.frames };
  post({ t: 'event', key, jail: l.pid, ppid: l.ppid, tid, nr, arch: archText, ip: `0x${ip.toString(16)}`, syscall: call.name, args: call.args, call: formatCall(call), action: 'GO_CONFINED', outcome: outcomeText(plan), violation: plan.k !== 'continue', last: l.logged === LOG_LIMIT, sigkilled: false, go: info });
}

function register(): void {
  for (;;) {
    const m = recvListener(init.sock);
    if (m === null || typeof m === 'number') return;
    if (m.fd < 0) continue;
    adopt(m);
  }
}

function adopt(m: { fd: number; pid: number }): void {
  const ppid = Number(procStatus(m.pid)?.PPid ?? 0);
  // Linux 6.6: the jail and this thread hand the CPU to each other on each notification.
  notifSyncWakeUp(m.fd);
  listeners.push({ fd: m.fd, pid: m.pid, ppid, stats: new Stats(), logged: 0, unlogged: 0, hup: false });
}

function drop(l: Listener): void {
  for (const [k, p] of pending) if (p.l === l) pending.delete(k);
  closeFd(l.fd);
  listeners.splice(listeners.indexOf(l), 1);
  if (l.unlogged) post({ t: 'gone', jail: l.pid, ppid: l.ppid, unlogged: l.unlogged });
}

function finish(jail: number): void {
  register();
  const mine = listeners.filter((l) => l.pid === jail || l.ppid === jail);
  const stats = new Stats();
  let unlogged = 0;
  for (const l of mine) {
    stats.merge(l.stats.data());
    for (const [name, n] of l.stats.calls) stats.calls.set(name, (stats.calls.get(name) ?? 0) + n);
    unlogged += l.unlogged;
    for (const [k, p] of pending) if (p.l === l) pending.delete(k);
    closeFd(l.fd);
    listeners.splice(listeners.indexOf(l), 1);
  }
  post({ t: 'report', jail, stats: stats.data(), calls: [...stats.calls], unlogged, traced: mine.length > 0 });
}

/** Messages from the main thread; false once told to stop. */
function control(): boolean {
  while (readFd(init.wake, wakeBuf, wakeBuf.length) > 0);
  for (let m = receiveMessageOnPort(parentPort as never); m; m = receiveMessageOnPort(parentPort as never)) {
    const msg = m.message as ToWorker;
    if (msg.t === 'stop') return false;
    if (msg.t === 'finish') finish(msg.jail);
    else if (msg.t === 'ack') {
      const p = pending.get(msg.key);
      if (!p) continue;
      pending.delete(msg.key);
      apply(p.l.fd, p.id, p.tid, p.act);
    }
  }
  return true;
}

function expire(now: number): number {
  let next = -1;
  for (const [pidfd, at] of deadlines) {
    if (at > now) {
      next = next < 0 ? at - now : Math.min(next, at - now);
      continue;
    }
    // A pidfd polls readable once the process is gone.
    const pf = Buffer.alloc(8);
    pf.writeInt32LE(pidfd, 0);
    pf.writeInt16LE(POLLIN, 4);
    if (pollFds(pf, 1, 0) === 0) pidfdSendSignal(pidfd, SIGKILL);
    closeFd(pidfd);
    deadlines.delete(pidfd);
  }
  return next;
}

function loop(): void {
  let fds = Buffer.alloc(8 * 16);
  for (;;) {
    const live = listeners.filter((l) => !l.hup);
    const n = 2 + live.length;
    if (fds.length < 8 * n) fds = Buffer.alloc(8 * n * 2);
    [init.sock, init.wake, ...live.map((l) => l.fd)].forEach((fd, i) => {
      fds.writeInt32LE(fd, 8 * i);
      fds.writeInt16LE(POLLIN, 8 * i + 4);
      fds.writeInt16LE(0, 8 * i + 6);
    });
    const r = FAST ? notifyServe(fds, n, 2, FAST, served, expire(Date.now())) : pollFds(fds, n, expire(Date.now()));
    if (r < 0) continue; // EINTR
    if (FAST) consume(r, live);
    if (fds.readInt16LE(8 + 6) & POLLIN && !control()) return;
    if (fds.readInt16LE(6) & POLLIN) register();
    live.forEach((l, i) => {
      const ev = fds.readInt16LE(8 * (2 + i) + 6);
      if (ev & POLLIN) handle(l);
      // POLLHUP: every process under the filter is gone. Traced figures wait for finish; without
      // them the listener goes now and nobody waits for the worker when a jail ends.
      else if (ev & (POLLHUP | POLLERR | POLLNVAL)) {
        l.hup = true;
        if (!init.trace) drop(l);
      }
    });
  }
}

for (const m of init.adopt ?? []) adopt(m);
try {
  loop();
} catch (e) {
  // Without answers the jails would wait forever, and with their listeners closed the calls
  // their filters refuse would merely fail with ENOSYS: they are killed instead.
  for (const l of listeners) {
    try {
      process.kill(l.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  post({ t: 'error', message: (e as Error).stack ?? String(e) });
}
for (const l of listeners) closeFd(l.fd);
for (const pidfd of deadlines.keys()) closeFd(pidfd);
parentPort!.close();
