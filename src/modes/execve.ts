/**
 * STANDALONE_EXECVE (-Me): the program replaces tsjail, keeping its pid, with
 * no supervisor and so no time limit (as nsjail). Node cannot unshare a user
 * namespace from its multi-threaded process, so tsjail writes the plan into a
 * memfd and execs native/tsjail-exec on it, which runs it. The plan is
 * buildChildProgram()'s, as in every mode: for -Me it enters the namespaces
 * itself and runs the mount phase in a child (src/phases/launcher.ts).
 */
import type { ActiveFeatures } from '../features/active.js';
import type { Anchors } from '../features/types.js';
import { nativePath } from '../linux/libc.js';
import { EXEC_HDR, WIRE } from '../linux/wire.js';
import { log, logTime } from '../log/logger.js';
import { newContext } from '../phases/context.js';
import { describeOp } from '../plan/describe.js';
import { encodePlan } from '../plan/encode.js';
import type { ChildOp } from '../plan/ops.js';
import { buildChildProgram } from '../plan/program.js';
import type { Prepared } from '../prepare.js';
import { sys } from '../proc/sys.js';
import { STANDALONE } from './once.js';

/** The launcher's input: its header, then the plan. */
export function encodeExec(plan: Buffer, logFd: number): Buffer {
  const hdr = Buffer.alloc(EXEC_HDR.size);
  const f = EXEC_HDR.fields;
  hdr.writeUInt32LE(WIRE.EXEC_MAGIC, f.magic!.offset);
  hdr.writeUInt32LE(WIRE.ABI_VERSION, f.abi!.offset);
  hdr.writeUInt32LE(plan.length, f.plan_size!.offset);
  hdr.writeInt32LE(logFd, f.log_fd!.offset);
  return Buffer.concat([hdr, plan]);
}

/** The -Me plan, with the descriptions the launcher prints as our own error lines (the time is now, a few milliseconds before it runs). */
export function execvePlan(p: Prepared, anchors: Anchors, pid: number): { ops: ChildOp[]; plan: Buffer } {
  const ops = buildChildProgram(p, newContext({ errFd: -1, execveMode: true, selfPid: pid }), anchors);
  const head = `[E][${logTime()}][${pid}] runExecve():0 `;
  const describe = (o: ChildOp) => `${head}${describeOp(o)}${o.kind === 'execve' || o.kind === 'execveat' ? ' failed' : ''}`;
  return { ops, plan: encodePlan(ops, describe) };
}

/** Returns only when the launcher could not be exec'd (255); the program's status is the process's. */
export function runExecve(p: Prepared, features: ActiveFeatures): number {
  if (p.cfg.init) log.warn("--init has no effect with -Me: the program keeps tsjail's pid; its pid namespace already has a reaping PID 1");
  // In the single binary this makes the launcher's memfd: a failure stops here, before any descriptor is kept open.
  const launcher = nativePath('tsjail-exec');
  if (!p.cfg.skip_setsid && !p.setsid) {
    // -Me keeps the pid, and a group leader cannot start a session: nsjail ignores this failure too.
    log.warn('setsid() will fail: tsjail leads its process group (an interactive shell started it), so with -Me the program keeps the controlling terminal; use -Mo to detach it');
  }
  const logFd = log.fd;
  const { plan } = execvePlan(p, features.anchors, process.pid);
  const fd = sys.memfdCreate('tsjail-plan');
  sys.write(fd, encodeExec(plan, logFd));
  // The pinned bind sources' clones stay at their descriptors through the exec (phases/pins.ts).
  p.pins?.arm();
  for (const at of p.pins?.fds ?? []) if (at !== undefined) sys.keepOnExec(at);
  // Node opens its descriptors close-on-exec; these must reach the launcher.
  for (const k of new Set([0, 1, 2, logFd])) {
    try {
      sys.keepOnExec(k);
    } catch {
      /* a closed stdio descriptor stays closed */
    }
  }
  log.info(`Executing '${p.exec.path}' for '${STANDALONE}'`);
  features.onStart(process.pid, STANDALONE);
  features.dispose();
  return sys.execInPlace(launcher, ['tsjail-exec', String(fd)], []);
}
