/**
 * The seccomp feature: Kafel policies, lists and presets compiled once before
 * any clone, a --seccomp_bpf_file filter read and checked there too, and, when
 * a supervisor runs the jails, the notification supervisor (src/notify/):
 *
 *   - every refusal of the compiled filter (KILL, KILL_PROCESS, TRAP, ERRNO)
 *     and every USER_NOTIF rule reaches tsjail as a notification; tsjail logs
 *     the call with its decoded arguments (and writes a status event), then
 *     applies the filter's answer (src/seccomp/notify.ts says why it cannot be
 *     the other way round). Unprivileged, no /dev/kmsg needed.
 *   - --seccomp_unotify traces the file and network calls and writes nsjail's
 *     report when the run ends, however the jails ended.
 *
 * -Me has no supervisor: there the kernel applies the filter as it is.
 */
import { writeFileSync } from 'node:fs';
import { formatNodeError } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { NotifyEvent } from '../notify/protocol.js';
import { Stats } from '../notify/report.js';
import type { NotifySupervisor } from '../notify/supervisor.js';
import { planSeccomp, type SeccompFilters } from '../phases/seccomp.js';
import type { Prepared } from '../prepare.js';
import type { JailSpec } from '../spec.js';
import type { FeatureContext, FeatureRun } from './types.js';

const SIGSYS = 31;

interface Compiled extends SeccompFilters {
  readonly model?: import('../seccomp/model.js').Model;
}

async function compileFilters(spec: JailSpec): Promise<Compiled> {
  const { cfg } = spec;
  const e = cfg.ext;
  const wantsCompiled = cfg.seccomp_string.length > 0 || cfg.seccomp_policy_file !== undefined || e.syscall_allow.length > 0 || e.syscall_deny.length > 0 || e.seccomp_preset.length > 0;
  const { analyze, compileModel, describeFindings, loadBpfFile, SeccompCompileError } = await import('../seccomp/index.js');
  const out: { compiled?: Uint8Array; file?: Uint8Array; fileName?: string; model?: Compiled['model'] } = {};
  if (e.seccomp_bpf_file !== undefined) {
    try {
      out.file = loadBpfFile(e.seccomp_bpf_file);
      out.fileName = e.seccomp_bpf_file;
    } catch (err) {
      if (err instanceof SeccompCompileError) throw new Error(err.message);
      throw err;
    }
    log.debug(`Seccomp filter from ${e.seccomp_bpf_file}: ${out.file.length / 8} BPF instructions`);
  }
  if (!wantsCompiled) return out;
  try {
    const a = analyze({ policies: cfg.seccomp_string, policyFile: cfg.seccomp_policy_file, allow: e.syscall_allow, deny: e.syscall_deny, presets: e.seccomp_preset, equivalents: e.seccomp_equivalents });
    if (a) {
      const f = compileModel(a.model, a.findings);
      log.debug(`Seccomp filter: ${f.length} BPF instructions`);
      for (const d of describeFindings(f.findings)) if (d.state !== 'added') log.warn(`seccomp: ${d.text}`);
      out.compiled = f.program;
      out.model = a.model;
    }
    return out;
  } catch (err) {
    if (err instanceof SeccompCompileError) throw new Error(`Could not compile policy: ${err.message}`);
    throw err;
  }
}

/** What a run asks of the supervisor beyond naming violations. */
export interface NotifyWants {
  /** Record the traced calls (--seccomp_unotify). */
  readonly trace: boolean;
  /** Notify every call and count it by name (tsjail learn). */
  readonly learn: boolean;
  /** Log the report, and write it to seccomp_unotify_report (--seccomp_unotify). */
  readonly report: boolean;
  /** --landlock_log: name file calls outside these paths (the Landlock rules). */
  readonly watch?: readonly string[];
}

function defaultWants(p: Prepared): NotifyWants {
  const l = p.cfg.ext.landlock;
  const watch = l.log ? [l.ro, l.rw, l.rx, l.ro_try, l.rw_try, l.rx_try].flat() : undefined;
  return { trace: p.cfg.seccomp_unotify, learn: false, report: p.cfg.seccomp_unotify, watch };
}

export async function prepareSeccomp(p: Prepared, ctx: FeatureContext, wants: NotifyWants = defaultWants(p)): Promise<FeatureRun & { stats?: Stats }> {
  const { cfg } = p;
  const c = await compileFilters(p.spec);
  const supervised = cfg.mode !== 'STANDALONE_EXECVE';
  const tracing = wants.trace || wants.learn || wants.watch !== undefined;
  const go = ctx.notify?.go;
  let notify: NotifySupervisor | undefined;
  let installed = c.compiled;
  // Every compiled policy refuses something (other arches, x32 numbers): each gets the supervisor.
  let fileNotified = false;
  if (supervised && (tracing || go || (cfg.ext.seccomp_notify && (c.model !== undefined || c.file !== undefined)))) {
    const { probeWaitKillableRecv } = await import('../linux/notify.js');
    if (!probeWaitKillableRecv()) {
      if (tracing || go) throw new Error(`${wants.learn ? 'tsjail learn' : wants.trace ? '--seccomp_unotify' : go ? '--go_mod' : '--landlock_log'} needs Linux 5.19 or later (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)`);
      log.debug('seccomp: no SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux < 5.19): the kernel applies refusals itself');
    } else {
      // Without tracing or Go confinement the notify filter is the policy's program with its refusals
      // turned into USER_NOTIF; tracing and --go_mod add rules, compiled with them. A --seccomp_bpf_file
      // program heads either.
      const { everyCallModel, notifyModel, notifyProgram } = await import('../seccomp/notify.js');
      installed = !tracing && !go && c.compiled ? notifyProgram(c.compiled) : undefined;
      if (!installed) {
        const { TABLES } = await import('../seccomp/syscalls/index.js');
        const { compileModel } = await import('../seccomp/index.js');
        const { TRACED_BY_NR } = await import('../notify/syscalls.js');
        const table = TABLES.x86_64!;
        const base = wants.learn ? everyCallModel(table.auditArch) : c.model;
        const model = notifyModel(base, tracing ? [...TRACED_BY_NR.keys()] : [], table.auditArch, go ? { rules: go.rules, others: true } : {});
        installed = compileModel(model).program;
      }
      if (c.file) [installed, fileNotified] = await withFile(c.file, installed, c.fileName!);
      const { NotifySupervisor } = await import('../notify/supervisor.js');
      notify = new NotifySupervisor({
        policy: c.compiled,
        file: fileNotified ? c.file : undefined,
        trace: tracing,
        learn: wants.learn,
        watch: wants.watch,
        lazy: !tracing,
        go: go?.init,
        onEvent: (e) => onEvent(e),
        onGone: (g) => {
          const jail = withInit ? g.ppid : g.jail;
          log.warn(`pid=${jail}: ${g.unlogged} more seccomp notifications were answered without a log line`);
          silenced.delete(jail);
          gone.get(jail)?.();
          gone.delete(jail);
        },
      });
      if (wants.trace) log.info('Started unotify loop');
    }
  }

  // Jails whose violation tsjail named: a death by SIGSYS needs no audit record then.
  const named = new Set<number>();
  // Jails killed with SIGKILL for a KILL or TRAP answer (SIGSYS could not do): they exit as SIGSYS's.
  const sigkilled = new Set<number>();
  const withInit = cfg.init && cfg.clone_newpid;
  // Jails past the logged notifications: their count comes once the worker sees the listener hang up.
  const silenced = new Set<number>();
  const gone = new Map<number, () => void>();
  function onEvent(e: NotifyEvent): void {
    const jail = withInit ? e.ppid : e.jail;
    if (e.go) {
      goEvent(e, jail, e.go);
    } else if (e.landlock !== undefined) {
      log.warn(`pid=${e.tid} landlock: ${e.call} ${e.landlock}`);
      ctx.emit({ event: 'landlock_outside', pid: jail, tid: e.tid, syscall: e.syscall, nr: e.nr, args: e.args, call: e.call, text: e.landlock });
    } else {
      named.add(jail);
      if (e.sigkilled && e.tid === jail) sigkilled.add(jail);
      const line = `pid=${e.tid} seccomp ${e.violation ? 'violation' : 'notification'}: ${e.call} on ${e.arch}, ip ${e.ip}, ${e.action}: ${e.outcome}`;
      if (e.violation) log.warn(line);
      else log.info(line);
      ctx.emit({ event: e.violation ? 'seccomp_violation' : 'seccomp_notification', pid: jail, tid: e.tid, syscall: e.syscall, nr: e.nr, arch: e.arch, args: e.args, call: e.call, action: e.action, outcome: e.outcome, ip: e.ip });
    }
    if (e.last) silenced.add(jail);
    if (e.last) log.warn(`pid=${jail}: further seccomp notifications of this jail are answered without a log line, and counted`);
  }

  /** gomodjail's words for a refusal (`***Blocked*** syscall=… module=…`), with the function and the call. */
  function goEvent(e: NotifyEvent, jail: number, g: NonNullable<NotifyEvent['go']>): void {
    if (g.module !== undefined) {
      log.warn(`pid=${e.tid} ***Blocked*** syscall=${e.syscall} module=${g.module} function=${g.function}: ${e.call} ${e.outcome}`);
      ctx.emit({ event: 'go_module_blocked', pid: jail, tid: e.tid, syscall: e.syscall, nr: e.nr, module: g.module, function: g.function, frames: g.frames, call: e.call, args: e.args, outcome: e.outcome, ip: e.ip });
    } else {
      const line = `pid=${e.tid} go stack of syscall=${e.syscall} not walked to its end (${g.unwind}): ${e.call} ${e.outcome}`;
      if (e.violation) log.warn(line);
      else log.info(line);
      ctx.emit({ event: 'go_unwind_failed', pid: jail, tid: e.tid, syscall: e.syscall, nr: e.nr, error: g.unwind, frames: g.frames, call: e.call, args: e.args, outcome: e.outcome, ip: e.ip });
    }
  }

  const stats = tracing ? new Stats() : undefined;
  const kmsg = (await import('../phases/seccomp-report.js')).seccompViolationHook((pid) => named.has(pid));
  const filters: SeccompFilters = { compiled: installed, file: fileNotified ? undefined : c.file, fileName: c.fileName, notifySock: notify?.childSock };
  return {
    stats,
    ops: installed || c.file ? { filter: (_p, pctx) => planSeccomp(filters, cfg.seccomp_log, pctx) } : undefined,
    exitSignal: (pid) => (sigkilled.has(pid) ? SIGSYS : undefined),
    onStart: () => notify?.start(),
    async onExit(e) {
      if (notify && tracing) {
        const r = await notify.finish(e.pid);
        if (r.unlogged) log.warn(`pid=${e.pid}: ${r.unlogged} more seccomp notifications were answered without a log line`);
        if (stats) {
          stats.merge(r.stats);
          for (const [name, n] of r.calls) stats.calls.set(name, (stats.calls.get(name) ?? 0) + n);
        }
      }
      // With its own pid namespace nothing of the jail outlives it, so the hang-up is certain: wait for the count.
      if (notify && !tracing && silenced.delete(e.pid) && cfg.clone_newpid) await new Promise<void>((resolve) => gone.set(e.pid, resolve));
      sigkilled.delete(e.pid);
      return kmsg(e);
    },
    dispose() {
      try {
        if (stats && wants.report) writeReport(stats, cfg.seccomp_unotify_report);
      } finally {
        notify?.dispose();
      }
    },
  };
}

/** The --seccomp_bpf_file program at the head of the notify filter, its refusals named too; as it is when both do not fit in one filter. */
async function withFile(file: Uint8Array, rest: Uint8Array, name: string): Promise<[Uint8Array, boolean]> {
  const { withBpfFile } = await import('../seccomp/notify.js');
  const { decode, encode } = await import('../seccomp/bpf.js');
  const merged = withBpfFile(decode(file), decode(rest));
  if (merged) return [encode(merged), true];
  log.debug(`seccomp: ${name} and the policy exceed 4096 instructions together: ${name} is installed as it is, its refusals not named`);
  return [rest, false];
}

/** nsjail's ending: the report logged, and written to the file when one is named; nothing when nothing was traced. */
function writeReport(stats: Stats, file: string | undefined): void {
  const text = stats.text();
  if (!text) return;
  log.info(`unotify report:\n${text.trimEnd()}`);
  if (file === undefined) return;
  try {
    writeFileSync(file, text, { mode: 0o644 });
  } catch (e) {
    log.error(`Couldn't open '${file}' for writing: ${formatNodeError(e)}`);
    log.warn(`Failed to write unotify report to ${file}: ${formatNodeError(e)}`);
  }
}
