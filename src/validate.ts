/**
 * Pure validation: every problem of a JailSpec, reported together before any
 * clone. Options whose capability tsjail lacks are refused here by name.
 */
import { capValue, RLIM64_INFINITY, RLIMITS } from './linux/consts.js';
import { ID_MAX, IntegerError, isNumericId, parseId } from './numbers.js';
import { wantsCgroups, wantsLandlock } from './features/predicates.js';
import { parseHostPort } from './hostport.js';
import { POW_MAX, POW_TIMEOUT_MAX, type ConfigState, type IdMap, type JailSpec } from './spec.js';
import { netErrors } from './net/validate.js';
import { quoted } from './text.js';
import { parsePolicyOverride } from './gomod/gomod-file.js';
import { RLIMIT_NAMES } from './spec.js';

function cgroupErrors(cfg: ConfigState): string[] {
  const errors: string[] = [];
  if (cfg.cgroup_mem_memsw_max > 0n && cfg.cgroup_mem_swap_max >= 0n) errors.push('cannot set both cgroup_mem_memsw_max and cgroup_mem_swap_max');
  if (cfg.cgroup_mem_memsw_max > 0n && cfg.cgroup_mem_memsw_max < cfg.cgroup_mem_max) {
    errors.push(`cgroup_mem_memsw_max (${cfg.cgroup_mem_memsw_max}) is below cgroup_mem_max (${cfg.cgroup_mem_max}): it limits memory plus swap`);
  }
  if (!wantsCgroups(cfg)) return errors;
  if (cfg.mode === 'STANDALONE_EXECVE') errors.push('cgroup options need a supervising tsjail: -Me replaces tsjail with the program (use -Mo)');
  const parents = { cgroup_mem_parent: cfg.cgroup_mem_parent, cgroup_pids_parent: cfg.cgroup_pids_parent, cgroup_net_cls_parent: cfg.cgroup_net_cls_parent, cgroup_cpu_parent: cfg.cgroup_cpu_parent };
  for (const [k, v] of Object.entries(parents)) if (v.split('/').includes('..')) errors.push(`${k} ${quoted(v)} leaves its hierarchy ('..')`);
  return errors;
}

/** Metrics, the proof-of-work gate and the output cap: the modes they work in and their ranges (config files reach here unchecked). */
function serviceErrors(cfg: ConfigState): string[] {
  const e = cfg.ext;
  const errors: string[] = [];
  if (e.metrics_addr !== undefined) {
    const a = parseHostPort(e.metrics_addr);
    if (typeof a === 'string') errors.push(`metrics_addr ${a}`);
    if (cfg.mode !== 'LISTEN_TCP' && cfg.mode !== 'STANDALONE_RERUN') errors.push(`metrics_addr: metrics are served in listen (-Ml) and re-run (-Mr) modes, not in ${cfg.mode}`);
  }
  if (e.pow > POW_MAX) errors.push(`pow ${e.pow} is outside 1..${POW_MAX} (0 turns the gate off)`);
  if (e.pow > 0 && cfg.mode !== 'LISTEN_TCP') errors.push(`pow: the proof-of-work gate is for listen mode (-Ml), not ${cfg.mode}`);
  if (e.pow_timeout < 1 || e.pow_timeout > POW_TIMEOUT_MAX) errors.push(`pow_timeout ${e.pow_timeout} is outside 1..${POW_TIMEOUT_MAX} seconds`);
  if (e.pow_bypass_key !== undefined && e.pow === 0) errors.push('pow_bypass_key is set without pow: there is no challenge to bypass');
  if (e.output_limit > 0n) {
    if (cfg.mode === 'STANDALONE_EXECVE') errors.push('output_limit needs a supervising tsjail to count the output: -Me replaces tsjail with the program (use -Mo)');
    if (cfg.silent) errors.push("output_limit with silent: the program's output goes to /dev/null, there is nothing to cut");
  }
  return errors;
}

/** Go module confinement: the policy values, and a supervisor that answers notifications. */
function goModErrors(cfg: ConfigState): string[] {
  const e = cfg.ext;
  const errors: string[] = [];
  for (const v of e.go_module_policy) {
    const r = parsePolicyOverride(v);
    if (typeof r === 'string') errors.push(`go_module_policy ${r}`);
  }
  if (e.go_unwind_fail !== 'deny' && e.go_unwind_fail !== 'allow') errors.push(`go_unwind_fail ${quoted(e.go_unwind_fail)} is not 'deny' or 'allow'`);
  if (e.go_mod === undefined) {
    if (e.go_module_policy.length) errors.push(`go_module_policy ${quoted(e.go_module_policy[0]!)} without go_mod: policies apply to the program whose main module a go.mod names (--go_mod)`);
    return errors;
  }
  if (cfg.mode === 'STANDALONE_EXECVE') errors.push('go_mod needs a supervising tsjail to answer the notified calls: -Me replaces tsjail with the program (use -Mo)');
  if (!e.seccomp_notify) errors.push('go_mod decides calls through seccomp notifications, which --seccomp_no_notify (seccomp_notify: false) turns off');
  return errors;
}

export function validateSpec(spec: JailSpec): string[] {
  const { cfg, cli } = spec;
  const errors: string[] = [];
  // Options and config fields whose capability tsjail lacks: refused by name, never ignored.
  for (const u of new Set(cfg.unsupported)) errors.push(`${u.startsWith('--') ? `option '${u}'` : `config field '${u}'`} is not supported yet`);
  const exe = cfg.exec_bin?.path ?? cli.argv[0] ?? cli.config_argv[0];
  if (!exe && !cli.dump_config) errors.push('No command provided');
  if (cfg.seccomp_policy_file !== undefined && cfg.seccomp_string.length) {
    errors.push('both a seccomp policy file (--seccomp_policy) and a seccomp string (--seccomp_string) are set: choose one');
  }
  errors.push(...goModErrors(cfg));
  errors.push(...cgroupErrors(cfg));
  errors.push(...serviceErrors(cfg));
  for (const c of cfg.cap) if (capValue(c) === undefined) errors.push(`unknown capability ${quoted(c)} (names are exact, e.g. CAP_NET_ADMIN)`);
  if (cfg.mode === 'LISTEN_TCP' && cfg.port === 0) errors.push('listen mode needs a port (--port)');
  if (cfg.nice_level < -20 || cfg.nice_level > 19) errors.push(`nice_level ${cfg.nice_level} is outside -20..19`);
  if (cfg.oom_score_adj !== undefined && (cfg.oom_score_adj < -1000 || cfg.oom_score_adj > 1000)) errors.push(`oom_score_adj ${cfg.oom_score_adj} is outside -1000..1000`);
  if (cfg.seccomp_unotify && cfg.mode === 'STANDALONE_EXECVE') errors.push('--seccomp_unotify needs a supervising tsjail: -Me replaces tsjail with the program (use -Mo)');
  if (cfg.seccomp_unotify_report !== undefined && !cfg.seccomp_unotify) errors.push(`--seccomp_unotify_report ${quoted(cfg.seccomp_unotify_report)} without --seccomp_unotify: there is no report to write`);
  if (cfg.ext.landlock.log && !wantsLandlock(cfg)) errors.push('--landlock_log names paths outside the Landlock rules: give some (--landlock_ro, --landlock_rw, --landlock_rx)');
  if (cfg.ext.landlock.log && cfg.mode === 'STANDALONE_EXECVE') errors.push('--landlock_log needs a supervising tsjail: -Me replaces tsjail with the program (use -Mo)');
  if (cfg.init && !cfg.clone_newpid) errors.push('--init needs a new pid namespace (drop --disable_clone_newpid)');
  if (!cfg.clone_newuser && process.getuid?.() !== 0) errors.push('--disable_clone_newuser needs euid 0');
  if (cfg.clone_newtime && cfg.mode === 'STANDALONE_EXECVE') errors.push('CLONE_NEWTIME is not available with -Me (unshare would not move this process)');
  for (const m of cfg.mount) {
    if (!m.dst.startsWith('/') && !m.prefix_dst_env) errors.push(`mount destination ${quoted(m.dst)} is not an absolute path`);
    if (m.is_bind && !m.src && !m.prefix_src_env) errors.push(`bind mount to ${quoted(m.dst)} has no source`);
    if (m.dir_mode !== undefined && m.dir_mode > 0o7777) errors.push(`mount ${quoted(m.dst)}: dir_mode 0${m.dir_mode.toString(8)} is not a mode (0 to 07777)`);
    if (m.src_fd !== undefined && m.src_fd < 0) errors.push(`mount ${quoted(m.dst)}: src_fd ${m.src_fd} is negative`);
    if (m.overlay_lower?.length === 1) errors.push(`mount ${quoted(m.dst)}: overlay_lower needs at least two directories (got ${quoted(m.overlay_lower[0]!)})`);
  }
  for (const fd of [...cli.pass_fd, ...cfg.pass_fd]) if (fd < 0) errors.push(`pass_fd ${fd} is negative`);
  errors.push(...netErrors(cfg, process.geteuid?.()));
  errors.push(...rangeErrors(spec));
  return errors;
}

/**
 * Values whose type lets through more than the setting means. The command
 * line refuses most of these while parsing; config files reach here with
 * whatever their integer type allows.
 */
function rangeErrors({ cfg, cli }: JailSpec): string[] {
  const errors: string[] = [];
  const ports = [['port', [cfg.port]], ['tsjail.landlock.bind_tcp', cfg.ext.landlock.bind_tcp], ['tsjail.landlock.connect_tcp', cfg.ext.landlock.connect_tcp]] as const;
  for (const [name, list] of ports) for (const p of list) if (p > 65535) errors.push(`${name} ${p} is not a TCP port (0..65535)`);
  for (const [name, fd] of [['log_fd', cli.log_fd], ['tsjail.status_fd', cfg.ext.status_fd]] as const) if (fd !== undefined && fd < 0) errors.push(`${name} ${fd} is negative`);
  if (cfg.cgroup_mem_swap_max < -1n) errors.push(`cgroup_mem_swap_max ${cfg.cgroup_mem_swap_max} is below -1 (-1 leaves swap unlimited)`);
  for (const name of RLIMIT_NAMES) {
    const r = cfg.rlimits[name];
    const unit = RLIMITS[name].unit;
    if (r.type === 'VALUE' && r.value * unit > RLIM64_INFINITY) {
      errors.push(`rlimit_${name} ${r.value} ${unit === 1n << 20n ? 'MiB' : 'KiB'} is more than 2^64-1 bytes (use 'inf' for no limit)`);
    }
  }
  for (const [kind, maps] of [['uid', cli.uidmap], ['gid', cli.gidmap]] as const) for (const m of maps) errors.push(...idMapErrors(kind, m));
  return errors;
}

/** A map must cover at least one id, and stay within the 32-bit id space on both sides. */
function idMapErrors(kind: 'uid' | 'gid', m: IdMap): string[] {
  const errors: string[] = [];
  const shown = `${kind} map ${quoted(`${m.inside_id}:${m.outside_id}:${m.count}`)}`;
  if (m.count < 1) errors.push(`${shown}: count ${m.count} maps no ids`);
  const ids: number[] = [];
  for (const id of new Set([m.inside_id, m.outside_id])) {
    if (!isNumericId(id)) continue;
    try {
      ids.push(parseId(id));
    } catch (e) {
      if (!(e instanceof IntegerError)) throw e;
      errors.push(`${shown}: ${kind} ${e.message}`);
    }
  }
  const top = Math.max(-1, ...ids);
  if (m.count >= 1 && top >= 0 && BigInt(top) + BigInt(m.count) - 1n > ID_MAX) errors.push(`${shown}: ${top} + count ${m.count} goes past ${kind} ${ID_MAX}`);
  return errors;
}
