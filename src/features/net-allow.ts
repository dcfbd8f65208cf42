/**
 * --net_allow: the egress allow-list, as hooks user_net's NSTUN backend calls
 * (src/net/allow/hooks.ts has the policy). This module only wires it to the
 * run: the resolver, the log and the status channel (event `net_denied`), and
 * hands user_net, which prepares after it, a maker of each jail's hooks. Each
 * jail has its own state: it may reach only what it was itself handed out,
 * and its denials are reported with its pid.
 */
import { log } from '../log/logger.js';
import { startNetAllow, type NetAllow } from '../net/allow/hooks.js';
import type { Denial } from '../net/allow/guard.js';
import { AllowList } from '../net/allow/names.js';
import { runResolver } from '../net/allow/resolver.js';
import { provideUserNetHooks } from '../net/user/policy.js';
import type { Prepared } from '../prepare.js';
import type { FeatureContext, FeatureRun } from './types.js';

/** Names whose failed resolution was logged already (each once per run; bounded). */
const FAILED_MAX = 1000;

const hostPort = (a: string, port: number) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);

export function denialLine(pid: number, d: Denial): string {
  return `net_allow: pid=${pid} denied ${d.proto} ${hostPort(d.address, d.port)} (name ${d.name === '-' ? 'none' : `'${d.name}'`}): ${d.reason}`;
}

export async function prepareNetAllow(p: Prepared, ctx: FeatureContext): Promise<FeatureRun> {
  const u = p.cfg.user_net!;
  const list = new AllowList(p.cfg.ext.net_allow);
  const { resolve, source } = runResolver();
  const failed = new Set<string>();
  const jails = new Map<number, NetAllow>();
  const end = (pid: number) => {
    jails.get(pid)?.close();
    jails.delete(pid);
  };
  provideUserNetHooks(p, (pid) => {
    end(pid);
    const na = startNetAllow({
      list,
      resolve,
      gateways: [u.gw4, u.gw6],
      report(d) {
        log.warn(denialLine(pid, d));
        ctx.emit({ event: 'net_denied', pid, proto: d.proto, name: d.name, address: d.address, port: d.port, reason: d.reason });
      },
      resolveFailed(name, error) {
        if (failed.has(name) || failed.size >= FAILED_MAX) return;
        failed.add(name);
        log.warn(`net_allow: resolving '${name}' failed (the jail gets SERVFAIL): ${error}`);
      },
    });
    jails.set(pid, na);
    return na.hooks;
  });
  log.info(`net_allow: the jail may reach ${list.entries.map((e) => (e.port ? `${e.name}:${e.port}` : e.name)).join(', ')}; names are resolved through ${source}`);
  return {
    undoRelease: end,
    onExit: (e) => end(e.pid),
    dispose: () => [...jails.keys()].forEach(end),
  };
}
