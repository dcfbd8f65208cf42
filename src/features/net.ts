/**
 * Networking features: joining an existing network namespace (--netns),
 * moving host interfaces into the jail (iface_own), a macvlan `vs`
 * (macvlan_*), firewall rules (traffic_rule) and user-mode networking
 * (user_net: built in for backend NSTUN, src/net/user/; pasta for PASTA). All act from the parent, between clone and release, on
 * the child's network namespace (/proc/PID/ns/net), before the program can
 * run; each undoes what it did when a launch fails.
 *
 * Choices, and why:
 * - Interfaces, addresses and routes go through tsjail's own rtnetlink client
 *   (src/linux/netlink.ts): no subprocess per jail, every failure names the
 *   request and the kernel's errno. A socket in the jail's namespace is made
 *   by moving this thread there for the socket() call only.
 * - traffic_rule is an nftables table loaded by `nft -f -` run in the jail's
 *   namespace (src/net/traffic.ts says why nftables): nftables' netlink
 *   protocol (batches, expressions, sets) is large, nft renders it exactly,
 *   and the text is checked once with `nft -c` before any clone.
 * - pasta is an external program by nature (src/net/pasta.ts). NSTUN is
 *   tsjail's own: a helper program makes descriptors inside the jail's
 *   namespaces and the kernel carries TCP (src/net/user/stack.ts says how).
 * - --netns: a process in a new user namespace cannot enter a network
 *   namespace owned by the initial one (setns needs CAP_SYS_ADMIN over its
 *   owner), so the jail is cloned from a thread that is already there: this
 *   thread enters the namespace for the clone3() call and leaves right after.
 */
import { closeSync, openSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { errorText } from '../errors.js';
import { formatErrno } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import type { Feature, FeatureRun } from './types.js';
import { childProcess } from '../lazy.js';
import { userNetHooksOf } from '../net/user/policy.js';

class NetError extends Error {}

const nsPath = (pid: number) => `/proc/${pid}/ns/net`;
const jailNs = (pid: number) => `the jail's network namespace (pid=${pid})`;

/** Open the jail's network namespace for the duration of fn. */
function withJailNs<T>(pid: number, fn: (fd: number) => T): T {
  const fd = openSync(nsPath(pid), 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Rethrow with the feature's name and the errno in the message (launch errors keep only the message). */
function named<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new NetError(`${what}: ${errorText(e)}`);
  }
}

async function netlink() {
  return import('../linux/netlink.js');
}

async function prepareNetns(p: Prepared): Promise<FeatureRun> {
  const nl = await netlink();
  const path = p.cfg.ext.netns!;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const errno = -((e as NodeJS.ErrnoException).errno ?? 0);
    throw new NetError(`netns '${path}': open('${path}') failed: ${errno > 0 ? formatErrno(errno) : (e as Error).message}`);
  }
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    let type: number;
    try {
      type = nl.nsType(fd, path);
    } catch (e) {
      throw new NetError(`netns '${path}' is not a namespace file (${errorText(e)})`);
    }
    if (type !== nl.CLONE_NEWNET) throw new NetError(`netns '${path}' is a ${nl.nsTypeName(type)} namespace, not a network namespace`);
  } catch (e) {
    closeSync(fd);
    closeSync(home);
    throw e;
  }
  return {
    beforeClone: () => named(`netns '${path}'`, () => nl.setNetns(fd, `'${path}'`)),
    afterClone: () => nl.setNetns(home, "tsjail's own network namespace"),
    dispose: () => [fd, home].forEach((x) => closeSync(x)),
  };
}

async function prepareIfaceOwn(p: Prepared): Promise<FeatureRun> {
  const { Rtnl } = await netlink();
  const names = p.cfg.iface_own;
  const host = Rtnl.open();
  try {
    for (const n of names) if (host.linkIndex(n) === undefined) throw new NetError(`iface_own '${n}': no such interface in tsjail's network namespace`);
  } catch (e) {
    host.close();
    throw e instanceof NetError ? e : new NetError(`iface_own: ${errorText(e)}`);
  }
  const home = openSync('/proc/thread-self/ns/net', 'r');
  // Per jail: its namespace, held open so the interfaces can be moved back before it goes away.
  const held = new Map<number, { fd: number; moved: string[] }>();
  const giveBack = (pid: number) => {
    const h = held.get(pid);
    if (!h) return;
    held.delete(pid);
    try {
      if (!h.moved.length) return;
      const jail = Rtnl.openIn(h.fd, jailNs(pid));
      try {
        for (const n of h.moved) {
          const idx = jail.linkIndex(n);
          if (idx === undefined) log.warn(`iface_own '${n}' is no longer in ${jailNs(pid)} (renamed?): the kernel returns a physical device to the initial namespace when that namespace ends, and deletes a virtual one`);
          else jail.moveLink(idx, n, home, "tsjail's network namespace");
        }
      } finally {
        jail.close();
      }
    } finally {
      closeSync(h.fd);
    }
  };
  return {
    beforeRelease(pid) {
      const h = { fd: openSync(nsPath(pid), 'r'), moved: [] as string[] };
      held.set(pid, h);
      for (const n of names) {
        named(`iface_own '${n}'`, () => {
          const idx = host.linkIndex(n);
          if (idx === undefined) throw new Error("no such interface in tsjail's network namespace");
          host.moveLink(idx, n, h.fd, jailNs(pid));
        });
        h.moved.push(n);
      }
    },
    undoRelease: (pid) => giveBack(pid),
    onExit: (e) => giveBack(e.pid),
    dispose() {
      for (const pid of [...held.keys()]) {
        try {
          giveBack(pid);
        } catch (e) {
          log.warn(`iface_own: moving interfaces back from ${jailNs(pid)}: ${errorText(e)}`);
        }
      }
      host.close();
      closeSync(home);
    },
  };
}

async function prepareMacvlan(p: Prepared): Promise<FeatureRun> {
  const { Rtnl } = await netlink();
  const { ipv4Bytes, ipv4Broadcast, macBytes, netmaskPrefix } = await import('../net/addr.js');
  const c = p.cfg;
  const parent = c.macvlan_iface!;
  const host = Rtnl.open();
  try {
    if (host.linkIndex(parent) === undefined) throw new NetError(`macvlan_iface '${parent}': no such interface in tsjail's network namespace`);
  } catch (e) {
    host.close();
    throw e instanceof NetError ? e : new NetError(`macvlan_iface '${parent}': ${errorText(e)}`);
  }
  const ip = ipv4Bytes(c.macvlan_vs_ip)!;
  const prefix = netmaskPrefix(c.macvlan_vs_nm)!;
  const gw = ipv4Bytes(c.macvlan_vs_gw)!;
  const mac = c.macvlan_vs_ma === '' ? undefined : macBytes(c.macvlan_vs_ma);
  const mode = c.macvlan_vs_mo.toLowerCase();
  const zero = (b: Uint8Array) => b.every((x) => x === 0);
  return {
    beforeRelease(pid) {
      named(`macvlan_iface '${parent}'`, () =>
        withJailNs(pid, (fd) => {
          const idx = host.linkIndex(parent);
          if (idx === undefined) throw new Error("no such interface in tsjail's network namespace");
          host.addMacvlan({ parent: idx, parentName: parent, name: 'vs', mode, mac, netnsFd: fd });
          // As nsjail: an address of 0.0.0.0 leaves 'vs' unconfigured and down; a gateway of 0.0.0.0 means no route.
          if (zero(ip)) return;
          const jail = Rtnl.openIn(fd, jailNs(pid));
          try {
            const vs = jail.linkIndex('vs');
            if (vs === undefined) throw new Error(`'vs' is missing from ${jailNs(pid)} right after it was created`);
            jail.addAddress(vs, 'vs', ip, prefix, prefix < 31 ? ipv4Broadcast(ip, prefix) : undefined);
            jail.linkUp(vs, 'vs');
            if (!zero(gw)) jail.addDefaultRoute(vs, 'vs', gw);
          } finally {
            jail.close();
          }
        }),
      );
    },
    // 'vs' lives in the jail's namespace and goes with it when the killed child is reaped.
    dispose: () => host.close(),
  };
}

async function prepareTraffic(p: Prepared): Promise<FeatureRun> {
  const { renderNftRuleset } = await import('../net/traffic.js');
  const { findProgram } = await import('../net/pasta.js');
  const { inNetns } = await netlink();
  const nft = findProgram('nft');
  if (!nft) throw new NetError("traffic_rule: the 'nft' program is not installed (Debian package nftables)");
  const ruleset = renderNftRuleset(p.cfg.traffic_rule);
  const run = (args: string[]) => childProcess().spawnSync(nft, args, { input: ruleset, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const failure = (r: ReturnType<typeof run>) => (r.error ? r.error.message : `exit status ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' | ')}`);
  // A dry run in tsjail's own namespace: syntax and kernel support are known before any clone.
  const check = run(['-c', '-f', '-']);
  if (check.status !== 0) throw new NetError(`traffic_rule: '${nft} -c -f -' refused the rules: ${failure(check)}`);
  if (log.enabled('DEBUG')) log.debug(`traffic_rule: nftables ruleset for each jail:\n${ruleset}`);
  return {
    beforeRelease(pid) {
      const r = named('traffic_rule', () => withJailNs(pid, (fd) => inNetns(fd, jailNs(pid), () => run(['-f', '-']))));
      if (r.status !== 0) throw new NetError(`traffic_rule: '${nft} -f -' in ${jailNs(pid)} failed: ${failure(r)}`);
    },
  };
}

async function prepareUserNet(p: Prepared): Promise<FeatureRun> {
  const pasta = await import('../net/pasta.js');
  const u = p.cfg.user_net!;
  if (u.backend === 'NSTUN') return prepareNstun(p);
  if (userNetHooksOf(p)) throw new NetError("net_allow needs user_net's built-in NSTUN backend: pasta cannot apply the allow-list");
  const bin = process.env.NSJAIL_PASTA_PATH || 'pasta';
  const path = pasta.findProgram(bin);
  if (!path) throw new NetError(`user_net: the '${bin}' program is not installed (Debian package passt; or set NSJAIL_PASTA_PATH)`);
  const setpriv = pasta.findProgram('setpriv');
  if (!setpriv) throw new NetError("user_net: the 'setpriv' program (util-linux) is needed to tie pasta's life to tsjail's");
  if (!pasta.effectivePasta(u).nat) {
    const help = childProcess().spawnSync(path, ['--help'], { encoding: 'utf8' });
    if (!`${help.stdout}${help.stderr}`.includes('--splice-only')) throw new NetError(`user_net.pasta.nat: false needs pasta's --splice-only, which '${path}' does not have`);
  }
  const root = process.geteuid?.() === 0;
  const setup = { pasta: path, setpriv, args: pasta.pastaArgs(u), runAsRoot: root, netnsOnly: root };
  const running = new Map<number, ChildProcess>();
  const stop = (pid: number) => {
    const child = running.get(pid);
    running.delete(pid);
    if (child) pasta.stopPasta(child);
  };
  return {
    beforeRelease(pid) {
      let child: ChildProcess;
      try {
        child = pasta.startPasta(setup, pid);
      } catch (e) {
        throw new NetError(`user_net: ${(e as Error).message}`);
      }
      running.set(pid, child);
      log.info(`Spawned pasta for pid=${pid}, pasta_pid=${child.pid}`);
      child.on('exit', (code, sig) => {
        if (running.get(pid) !== child) return;
        running.delete(pid);
        log.warn(`Pasta process ${child.pid} exited unexpectedly with status ${code ?? sig}. Killing the jail.`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      });
    },
    undoRelease: stop,
    onExit: (e) => stop(e.pid),
    dispose: () => [...running.keys()].forEach(stop),
  };
}

/** user_net's NSTUN backend, built in (src/net/user/stack.ts says how). */
async function prepareNstun(p: Prepared): Promise<FeatureRun> {
  const { parseRules } = await import('../net/user/rules.js');
  const { UserNetStack } = await import('../net/user/stack.js');
  const u = p.cfg.user_net!;
  const rules = parseRules(u);
  for (const line of rules.inert) log.warn(line);
  const rootless = process.geteuid?.() !== 0;
  const stacks = new Map<number, InstanceType<typeof UserNetStack>>();
  const stop = (pid: number) => {
    stacks.get(pid)?.close();
    stacks.delete(pid);
  };
  return {
    beforeRelease(pid) {
      try {
        stacks.set(pid, new UserNetStack(pid, { u, rules, rootless, hooks: userNetHooksOf(p)?.(pid) }));
      } catch (e) {
        throw new NetError(`user_net: ${errorText(e)}`);
      }
    },
    undoRelease: stop,
    onExit: (e) => stop(e.pid),
    dispose: () => [...stacks.keys()].forEach(stop),
  };
}

/** In table order: the namespace to clone into, then interfaces, addresses, rules, and pasta last (the least to undo if an earlier step fails). */
export const NET_FEATURES: readonly Feature[] = [
  { name: 'netns', applies: (s) => s.cfg.ext.netns !== undefined, prepare: prepareNetns },
  { name: 'iface_own', applies: (s) => s.cfg.iface_own.length > 0, prepare: prepareIfaceOwn },
  { name: 'macvlan', applies: (s) => s.cfg.macvlan_iface !== undefined, prepare: prepareMacvlan },
  { name: 'traffic_rule', applies: (s) => s.cfg.traffic_rule.length > 0, prepare: prepareTraffic },
  // Before user_net: it hands that feature its hooks.
  { name: 'net_allow', applies: (s) => s.cfg.ext.net_allow.length > 0, prepare: async (p, ctx) => (await import('./net-allow.js')).prepareNetAllow(p, ctx) },
  { name: 'user_net', applies: (s) => s.cfg.user_net !== undefined, prepare: prepareUserNet },
];
