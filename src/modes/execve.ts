/**
 * STANDALONE_EXECVE (-Me): the program replaces tsjail, keeping its pid, with
 * no supervisor and so no time limit (as nsjail). Node cannot unshare a user
 * namespace from its multi-threaded process, so tsjail writes the plans into
 * a memfd and execs native/tsjail-exec on it (see exec_main.c):
 *
 *   helper  run by a child forked before unshare, privileged in the parent
 *           namespaces: writes this process's setgroups/gid_map/uid_map, so
 *           -Me works as root with a user namespace (nsjail exits 255 there);
 *   pre     the child program up to the mount phase, in the launcher;
 *   mnt     the mount phase, in a CLONE_FS child: with CLONE_NEWPID only a
 *           member of the new pid namespace may mount its /proc;
 *   main    the rest, in the launcher, ending in execve.
 *
 * With CLONE_NEWPID the program stays in the parent pid namespace (its pid is
 * tsjail's); its children are created in the new one, under a PID 1 that the
 * launcher forks and that reaps them. /proc shows that namespace, so
 * /proc/self does not resolve for the program itself (as in nsjail).
 */
import { readFileSync, writeSync } from 'node:fs';
import type { ActiveFeatures } from '../features/active.js';
import { AT_FDCWD, CLONE_FLAGS, O, O_FLAGS } from '../linux/consts.js';
import { execInPlace, nativePath, keepOnExec, memfdCreate } from '../linux/libc.js';
import { log, logTime } from '../log/logger.js';
import { newContext } from '../phases/context.js';
import { idMapWrites } from '../phases/user.js';
import { describeOp } from '../plan/describe.js';
import { encodePlan } from '../plan/encode.js';
import { EXEC_HDR, WIRE } from '../linux/wire.js';
import { bytes, int, op, slot, str, type Arg, type ChildOp } from '../plan/ops.js';
import { buildChildProgram } from '../plan/program.js';
import type { Prepared } from '../prepare.js';
import { STANDALONE } from './once.js';

const CLONE_NEWPID = CLONE_FLAGS.find(([n]) => n === 'CLONE_NEWPID')![1];
/** Where a descriptor opened before the mount phase is kept for the later plans (slots do not cross plans). */
const CARRY_FD_BASE = 900;

/** openat/write/close of this process's id-map files, from the helper. */
export function helperPlan(p: Prepared, pid: number): ChildOp[] {
  if ([...p.uidMap, ...p.gidMap].some((m) => m.newidmap)) {
    throw new Error('-Me cannot use newuidmap/newgidmap (--uid_mapping/--gid_mapping with use_newidmap): use -Mo');
  }
  return idMapWrites(p, pid).flatMap((w, i) => {
    const fd = slot(i, `fd('${w.path}')`);
    const text = Buffer.from(w.text);
    return [
      op('openat', 'user', [int(AT_FDCWD), str(w.path), int(O.O_WRONLY | O.O_CLOEXEC, O_FLAGS), int(0)], { save: i }),
      op('write', 'user', [fd, bytes(text, `'${w.text.trim().replace(/\n/g, '\\n')}'`), int(text.length)], {
        expect: BigInt(text.length),
        text: `write('${w.path}', '${w.text.trim().replace(/\n/g, '\\n')}')`,
      }),
      op('close', 'user', [fd]),
    ];
  });
}

const slotArgs = (o: ChildOp) => o.args.filter((a): a is Extract<Arg, { t: 'slot' }> => a.t === 'slot').map((a) => a.slot);

/**
 * [pre, mnt, main] around the mount phase. A descriptor saved in a slot by
 * one part and used by a later one (--execute_fd's O_PATH fd) is dup'd to a
 * fixed number right after it is opened and used by that number.
 */
export function splitAtMounts(ops: readonly ChildOp[], reserved: readonly number[]): [ChildOp[], ChildOp[], ChildOp[]] {
  const first = ops.findIndex((o) => o.phase === 'mnt');
  if (first < 0) return [[], [], [...ops]];
  const end = ops.length - [...ops].reverse().findIndex((o) => o.phase === 'mnt');
  if (ops.slice(first, end).some((o) => o.phase !== 'mnt')) throw new Error('the mount phase is not contiguous in the plan');
  const part = (i: number) => (i < first ? 0 : i < end ? 1 : 2);
  const savedIn = new Map<number, number>();
  ops.forEach((o, i) => o.save !== undefined && savedIn.set(o.save, part(i)));
  const carried = new Map<number, number>();
  let next = Math.max(CARRY_FD_BASE, ...reserved.map((fd) => fd + 1));
  ops.forEach((o, i) => {
    for (const s of [...slotArgs(o), o.cond, o.patch?.slot]) {
      if (s === undefined || (savedIn.get(s) ?? part(i)) === part(i) || carried.has(s)) continue;
      if (!slotArgs(o).includes(s)) throw new Error(`${describeOp(o)}: a slot crosses the mount phase`);
      carried.set(s, next++);
    }
  });
  const out: [ChildOp[], ChildOp[], ChildOp[]] = [[], [], []];
  ops.forEach((o, i) => {
    const args = o.args.map((a) => (a.t === 'slot' && part(i) !== savedIn.get(a.slot) && carried.has(a.slot) ? int(carried.get(a.slot)!) : a));
    out[part(i)]!.push({ ...o, args });
    const to = o.save !== undefined ? carried.get(o.save) : undefined;
    if (to !== undefined) out[part(i)]!.push(op('dup3', o.phase, [slot(o.save!, 'fd'), int(to), int(O.O_CLOEXEC)], { text: `dup3(fd, ${to}, O_CLOEXEC): keep it for the later plans` }));
  });
  return out;
}

/** Is tsjail its process group's leader (started by an interactive shell)? Then setsid() fails. */
function leadsProcessGroup(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === process.pid;
  } catch {
    return false;
  }
}

function encodeExec(unshareFlags: bigint, logFd: number, plans: Buffer[]): Buffer {
  const hdr = Buffer.alloc(EXEC_HDR.size);
  const f = EXEC_HDR.fields;
  hdr.writeUInt32LE(WIRE.EXEC_MAGIC, f.magic!.offset);
  hdr.writeUInt32LE(WIRE.ABI_VERSION, f.abi!.offset);
  hdr.writeBigUInt64LE(unshareFlags, f.unshare_flags!.offset);
  (['helper_size', 'pre_size', 'mnt_size', 'main_size'] as const).forEach((k, i) => hdr.writeUInt32LE(plans[i]!.length, f[k]!.offset));
  hdr.writeInt32LE(logFd, f.log_fd!.offset);
  return Buffer.concat([hdr, ...plans]);
}

/** Returns only when the launcher could not be exec'd (255); the program's status is the process's. */
export function runExecve(prepared: Prepared, features: ActiveFeatures): number {
  let p = prepared;
  if (p.cfg.init) {
    log.warn('--init has no effect with -Me: the program keeps tsjail\'s pid; its pid namespace already has a reaping PID 1');
    p = { ...p, cfg: { ...p.cfg, init: false } };
  }
  // In the single binary this makes the launcher's memfd: a failure stops here, before any descriptor is kept open.
  const launcher = nativePath('tsjail-exec');
  const ctx = newContext({ errFd: -1, execveMode: true });
  let ops = buildChildProgram(p, ctx, features.anchors);
  if (!p.cfg.skip_setsid && leadsProcessGroup()) {
    // -Me keeps the pid, and a group leader cannot start a session: nsjail ignores this failure too.
    log.warn('setsid() will fail: tsjail leads its process group (an interactive shell started it), so with -Me the program keeps the controlling terminal; use -Mo to detach it');
    ops = ops.filter((o) => o.kind !== 'setsid');
  }
  const logFd = log.fd;
  const keep = [0, 1, 2, logFd, ...p.passFds];
  const parts = p.cloneFlags & CLONE_NEWPID ? splitAtMounts(ops, keep) : ([[], [], ops] as const);
  // The launcher prints a failing op's description itself: render it as our own error lines
  // (the time is now, a few milliseconds before the launcher runs the plan).
  const head = `[E][${logTime()}][${process.pid}] runExecve():0 `;
  const describe = (o: ChildOp) => `${head}${describeOp(o)}${o.kind === 'execve' || o.kind === 'execveat' ? ' failed' : ''}`;
  const plans = [helperPlan(p, process.pid), ...parts].map((o) => (o.length ? encodePlan(o, describe) : Buffer.alloc(0)));
  const fd = memfdCreate('tsjail-plan');
  writeSync(fd, encodeExec(p.cloneFlags, logFd, plans));
  // The pinned bind sources' clones stay at their descriptors through the exec (phases/pins.ts).
  p.pins?.arm();
  for (const at of p.pins?.fds ?? []) if (at !== undefined) keepOnExec(at);
  // Node opens its descriptors close-on-exec; these must reach the launcher.
  for (const k of new Set([0, 1, 2, logFd])) {
    try {
      keepOnExec(k);
    } catch {
      /* a closed stdio descriptor stays closed */
    }
  }
  log.info(`Executing '${p.exec.path}' for '${STANDALONE}'`);
  features.onStart(process.pid, STANDALONE);
  features.dispose();
  return execInPlace(launcher, ['tsjail-exec', String(fd)], []);
}
