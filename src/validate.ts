/**
 * Pure validation: every problem of a JailSpec, reported together before any
 * clone. Options whose capability tsjail lacks are refused here by name.
 */
import { capValue } from './linux/consts.js';
import { wantsCgroups } from './features/predicates.js';
import { netErrors } from './net/validate.js';
import type { ConfigState, JailSpec } from './spec.js';

function cgroupErrors(cfg: ConfigState): string[] {
  const errors: string[] = [];
  if (cfg.cgroup_mem_memsw_max > 0n && cfg.cgroup_mem_swap_max >= 0n) errors.push('cannot set both cgroup_mem_memsw_max and cgroup_mem_swap_max');
  if (cfg.cgroup_mem_memsw_max > 0n && cfg.cgroup_mem_memsw_max < cfg.cgroup_mem_max) {
    errors.push(`cgroup_mem_memsw_max (${cfg.cgroup_mem_memsw_max}) is below cgroup_mem_max (${cfg.cgroup_mem_max}): it limits memory plus swap`);
  }
  if (!wantsCgroups(cfg)) return errors;
  if (cfg.mode === 'STANDALONE_EXECVE') errors.push('cgroup options need a supervising tsjail: -Me replaces tsjail with the program (use -Mo)');
  const parents = { cgroup_mem_parent: cfg.cgroup_mem_parent, cgroup_pids_parent: cfg.cgroup_pids_parent, cgroup_net_cls_parent: cfg.cgroup_net_cls_parent, cgroup_cpu_parent: cfg.cgroup_cpu_parent };
  for (const [k, v] of Object.entries(parents)) if (v.split('/').includes('..')) errors.push(`${k} '${v}' leaves its hierarchy ('..')`);
  return errors;
}

export function validateSpec(spec: JailSpec): string[] {
  const { cfg, cli } = spec;
  const errors: string[] = [];
  // Options and config fields whose capability tsjail lacks: refused by name, never ignored.
  for (const u of new Set(cfg.unsupported)) errors.push(`${u.startsWith('--') ? `option '${u}'` : `config field '${u}'`} is not supported yet`);
  const exe = cfg.exec_bin?.path ?? cli.argv[0];
  if (!exe && !cli.dump_config) errors.push('No command provided');
  if (cfg.seccomp_policy_file !== undefined && cfg.seccomp_string.length) {
    errors.push('both a seccomp policy file (--seccomp_policy) and a seccomp string (--seccomp_string) are set: choose one');
  }
  errors.push(...cgroupErrors(cfg));
  for (const c of cfg.cap) if (capValue(c) === undefined) errors.push(`unknown capability '${c}' (names are exact, e.g. CAP_NET_ADMIN)`);
  if (cfg.mode === 'LISTEN_TCP' && cfg.port === 0) errors.push('listen mode needs a port (--port)');
  if (cfg.time_limit < 0) errors.push(`time_limit ${cfg.time_limit} is negative`);
  if (cfg.nice_level < -20 || cfg.nice_level > 19) errors.push(`nice_level ${cfg.nice_level} is outside -20..19`);
  if (cfg.oom_score_adj !== undefined && (cfg.oom_score_adj < -1000 || cfg.oom_score_adj > 1000)) errors.push(`oom_score_adj ${cfg.oom_score_adj} is outside -1000..1000`);
  if (cfg.init && !cfg.clone_newpid) errors.push('--init needs a new pid namespace (drop --disable_clone_newpid)');
  if (!cfg.clone_newuser && process.getuid?.() !== 0) errors.push('--disable_clone_newuser needs euid 0');
  if (cfg.clone_newtime && cfg.mode === 'STANDALONE_EXECVE') errors.push('CLONE_NEWTIME is not available with -Me (unshare would not move this process)');
  for (const m of cfg.mount) {
    if (!m.dst.startsWith('/') && !m.prefix_dst_env) errors.push(`mount destination '${m.dst}' is not an absolute path`);
    if (m.is_bind && !m.src && !m.prefix_src_env) errors.push(`bind mount to '${m.dst}' has no source`);
  }
  for (const fd of [...cli.pass_fd, ...cfg.pass_fd]) if (fd < 0) errors.push(`pass_fd ${fd} is negative`);
  errors.push(...netErrors(cfg, process.geteuid?.()));
  return errors;
}
