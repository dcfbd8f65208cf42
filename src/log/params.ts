/** The start-up lines nsjail prints (cmdline::logParams): mode, parameters, mounts, id maps. */
import { log } from './logger.js';
import type { Prepared } from '../prepare.js';

export function logParams(p: Prepared): void {
  const { cfg, spec } = p;
  const v34 = spec.cli.compat === '3.4';
  // -q and -Q print none of these: nothing is built for them.
  if (log.enabled('INFO')) logInfoLines(p, v34);
  for (const w of p.mountWarnings) log.warn(w);
  if (cfg.clone_newns && cfg.no_pivotroot) log.warn('Using no_pivotroot is escapable when user posseses relevant capabilities, Use it with care!');
  const maps = [
    ['Uid', 'uid', p.uidMap, 'UID/EUID', 'user'],
    ['Gid', 'gid', p.gidMap, 'GID/EGID', 'group'],
  ] as const;
  for (const [Title, id, map, who, what] of maps) {
    for (const m of map) {
      log.info(`${Title} map: inside_${id}:${m.inside} outside_${id}:${m.outside} count:${m.count} new${id}map:${m.newidmap}`);
      if (m.outside === 0 && cfg.clone_newuser) {
        log.warn(`Process will be ${who}=0 in the global user namespace, and will have ${what} root-level access to files`);
      }
    }
  }
}

function logInfoLines(p: Prepared, v34: boolean): void {
  const { cfg, spec } = p;
  log.info(`Mode: ${cfg.mode}`);
  const b = (v: boolean) => String(v);
  const bind = cfg.bindhost.includes(':') ? `[${cfg.bindhost}]` : cfg.bindhost;
  const head = `Jail parameters: hostname:'${cfg.hostname}', chroot:'${spec.cli.chroot ?? ''}', process:'${p.exec.path}', bind:${bind}:${cfg.port}, max_conns:${cfg.max_conns}, max_conns_per_ip:${cfg.max_conns_per_ip}, time_limit:${cfg.time_limit}, `;
  const ns = `clone_newnet:${b(cfg.clone_newnet)}, clone_newuser:${b(cfg.clone_newuser)}, clone_newns:${b(cfg.clone_newns)}, clone_newpid:${b(cfg.clone_newpid)}, clone_newipc:${b(cfg.clone_newipc)}, clone_newuts:${b(cfg.clone_newuts)}, `;
  log.info(
    v34
      ? `${head}personality:${p.persona === 0 ? '0' : `0x${p.persona.toString(16)}`}, daemonize:${b(cfg.daemon)}, ${ns}clone_newcgroup:${b(cfg.clone_newcgroup)}, clone_newtime:${b(cfg.clone_newtime)}, keep_caps:${b(cfg.keep_caps)}, disable_no_new_privs:${b(cfg.disable_no_new_privs)}, max_cpus:${cfg.max_cpus}`
      : `${head}daemonize:${b(cfg.daemon)}, ${ns}cgroupv2:${b(cfg.use_cgroupv2)}, keep_caps:${b(cfg.keep_caps)}, disable_no_new_privs:${b(cfg.disable_no_new_privs)}, max_cpus:${cfg.max_cpus}, use_core_scheduling:${b(cfg.use_core_scheduling)}`,
  );
  // 3.4 listed the tmpfs root it mounts when there is no --chroot.
  if (v34 && spec.cli.chroot === undefined && cfg.clone_newns) log.info(`Mount: '/' flags:${spec.cli.rw ? '0' : 'MS_RDONLY'} type:'tmpfs' options:'' dir:true`);
  for (const m of p.mounts) log.info(v34 ? m.logLine34() : m.logLine());
}
