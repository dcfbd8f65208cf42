/**
 * Pure checks of the networking options (macvlan, iface_own, traffic_rule,
 * user_net, --netns): each problem names the field and its value. Facts of
 * the host (does the interface exist, is the path a network namespace, is
 * pasta installed) are checked when the features prepare, still before any
 * clone.
 */
import type { ConfigState } from '../spec.js';
import { ipv4Bytes, macBytes, netmaskPrefix, validIfName } from './addr.js';
import { userNetErrors } from './pasta.js';
import { trafficRuleErrors } from './traffic.js';
import { allowErrors } from './allow/names.js';
import { parseRules } from './user/rules.js';

/** The macvlan modes nsjail's --macvlan_vs_mo accepts (any case). */
export const MACVLAN_MODE_NAMES: readonly string[] = ['private', 'vepa', 'bridge', 'passthru'];

function sameNetwork(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit++) if ((a[bit >> 3]! ^ b[bit >> 3]!) & (0x80 >> (bit & 7))) return false;
  return true;
}

/** Options that set up the jail's own network namespace from the parent (as root). */
export function netSetupOptions(cfg: ConfigState): string[] {
  const used: string[] = [];
  if (cfg.macvlan_iface !== undefined) used.push('macvlan_iface');
  if (cfg.iface_own.length) used.push('iface_own');
  if (cfg.traffic_rule.length) used.push('traffic_rule');
  if (cfg.user_net) used.push('user_net');
  return used;
}

export function netErrors(cfg: ConfigState, euid: number | undefined): string[] {
  const errors: string[] = [];
  if (cfg.macvlan_iface !== undefined) {
    if (!validIfName(cfg.macvlan_iface)) errors.push(`macvlan_iface '${cfg.macvlan_iface}' is not an interface name`);
    if (!ipv4Bytes(cfg.macvlan_vs_ip)) errors.push(`macvlan_vs_ip '${cfg.macvlan_vs_ip}' is not an IPv4 address`);
    if (netmaskPrefix(cfg.macvlan_vs_nm) === undefined) errors.push(`macvlan_vs_nm '${cfg.macvlan_vs_nm}' is not an IPv4 netmask`);
    if (!ipv4Bytes(cfg.macvlan_vs_gw)) errors.push(`macvlan_vs_gw '${cfg.macvlan_vs_gw}' is not an IPv4 address`);
    const [ip, gw, prefix] = [ipv4Bytes(cfg.macvlan_vs_ip), ipv4Bytes(cfg.macvlan_vs_gw), netmaskPrefix(cfg.macvlan_vs_nm)];
    const zero = (b: Uint8Array) => b.every((x) => x === 0);
    if (ip && gw && prefix !== undefined && !zero(ip) && !zero(gw) && !sameNetwork(ip, gw, prefix)) {
      errors.push(`macvlan_vs_gw '${cfg.macvlan_vs_gw}' is outside ${cfg.macvlan_vs_ip}/${prefix} (macvlan_vs_ip/macvlan_vs_nm): no route could reach it`);
    }
    if (cfg.macvlan_vs_ma !== '' && !macBytes(cfg.macvlan_vs_ma)) errors.push(`macvlan_vs_ma '${cfg.macvlan_vs_ma}' is not a MAC address (xx:xx:xx:xx:xx:xx)`);
    if (!MACVLAN_MODE_NAMES.includes(cfg.macvlan_vs_mo.toLowerCase())) {
      errors.push(`macvlan_vs_mo '${cfg.macvlan_vs_mo}': macvlan mode can only be one of the values: 'private'/'vepa'/'bridge'/'passthru'`);
    }
  }
  cfg.iface_own.forEach((n) => {
    if (!validIfName(n)) errors.push(`iface_own '${n}' is not an interface name`);
  });
  if (new Set(cfg.iface_own).size !== cfg.iface_own.length) errors.push(`iface_own names an interface twice (${cfg.iface_own.join(', ')})`);
  cfg.traffic_rule.forEach((r, i) => errors.push(...trafficRuleErrors(r, `traffic_rule[${i}]`)));
  if (cfg.user_net) errors.push(...userNetErrors(cfg.user_net));
  const allow = cfg.ext.net_allow;
  if (allow.length) {
    errors.push(...allowErrors(allow));
    if (!cfg.user_net) errors.push('net_allow needs user-mode networking: add user_net { } to the config (--net_allow on the command line turns it on)');
    else if (cfg.user_net.backend !== 'NSTUN') errors.push(`net_allow needs user_net's built-in NSTUN backend, not ${cfg.user_net.backend}`);
  }
  if (cfg.user_net && cfg.user_net.backend === 'NSTUN') {
    errors.push(...parseRules(cfg.user_net).errors);
    if (cfg.iface_no_lo) errors.push("user_net (backend NSTUN) and iface_no_lo: tsjail's user-mode networking hands the jail's TCP to listeners on its loopback, which iface_no_lo leaves down");
  }
  if (cfg.user_net && cfg.user_net.backend === 'PASTA') {
    if (cfg.user_net.rule4.length) errors.push('user_net.rule4: rules are for backend NSTUN; pasta takes none (backend is PASTA)');
    if (cfg.user_net.rule6.length) errors.push('user_net.rule6: rules are for backend NSTUN; pasta takes none (backend is PASTA)');
  }

  const used = netSetupOptions(cfg);
  const netns = cfg.ext.netns;
  if (netns !== undefined) {
    if (!netns.startsWith('/')) errors.push(`netns '${netns}' is not an absolute path (e.g. /run/netns/NAME or /proc/PID/ns/net)`);
    if (!cfg.clone_newnet) errors.push(`netns '${netns}' and --disable_clone_newnet both choose the jail's network: give one`);
    for (const u of used) errors.push(`${u} sets up a new network namespace, but --netns '${netns}' joins an existing one`);
    if (euid !== 0) errors.push(`netns '${netns}': joining a network namespace needs tsjail to run as root`);
  } else if (!cfg.clone_newnet) {
    if (cfg.user_net) errors.push('user_net: Support for User-Mode Networking requested but CLONE_NEWNET is not enabled');
    for (const u of used.filter((x) => x !== 'user_net')) errors.push(`${u} needs a new network namespace (clone_newnet is off)`);
  }
  if (cfg.mode === 'STANDALONE_EXECVE') {
    for (const u of [...used, ...(netns !== undefined ? ['netns'] : [])]) errors.push(`${u} needs a supervising tsjail: -Me replaces tsjail with the program (use -Mo)`);
  }
  // Entering the jail's namespace from tsjail, and moving host interfaces, need root.
  if (euid !== 0) for (const u of used.filter((x) => x !== 'user_net')) errors.push(`${u} needs tsjail to run as root`);
  return errors;
}
