/** Pure questions about a spec that both validation and the feature table ask. */
import type { ConfigState } from '../spec.js';

/** Any Landlock rule or scope asked for. */
export function wantsLandlock(cfg: ConfigState): boolean {
  const l = cfg.ext.landlock;
  return [l.ro, l.rw, l.rx, l.ro_try, l.rw_try, l.rx_try, l.bind_tcp, l.connect_tcp].some((x) => x.length > 0) || l.scope_abstract_unix || l.scope_signal;
}

/** Any cgroup option that asks for a cgroup (an explicit --use_cgroupv2 puts each jail in one even without limits). */
export function wantsCgroups(cfg: ConfigState): boolean {
  return cfg.cgroup_mem_max > 0n || cfg.cgroup_mem_memsw_max > 0n || cfg.cgroup_mem_swap_max >= 0n || cfg.cgroup_pids_max > 0n || cfg.cgroup_net_cls_classid > 0 || cfg.cgroup_cpu_ms_per_sec > 0 || cfg.use_cgroupv2;
}

/** Any seccomp policy, list, preset, raw filter file, tracing (--seccomp_unotify, --landlock_log), or Go module confinement. */
export function wantsSeccomp(cfg: ConfigState): boolean {
  const e = cfg.ext;
  return cfg.seccomp_string.length > 0 || cfg.seccomp_policy_file !== undefined || e.syscall_allow.length > 0 || e.syscall_deny.length > 0 || e.seccomp_preset.length > 0 || e.seccomp_bpf_file !== undefined || cfg.seccomp_unotify || e.landlock.log || e.go_mod !== undefined;
}

/** A status channel (--status_fd / --status_file). */
export function wantsStatus(cfg: ConfigState): boolean {
  return cfg.ext.status_fd !== undefined || cfg.ext.status_file !== undefined;
}
