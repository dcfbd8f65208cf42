/**
 * user_net through pasta (Debian's passt package): the options nsjail's
 * UserNet and UserNet.Pasta give, turned into pasta's command line, and the
 * process that serves one jail.
 *
 * Only `backend: PASTA` comes here; nsjail's default backend, NSTUN, is built
 * into tsjail (src/net/user/).
 *
 * Lifetime: pasta runs in the foreground (-f) as tsjail's child, under
 * `setpriv --pdeathsig KILL` so that it dies with tsjail even when tsjail is
 * killed. It is ready when it has written its pid file: pasta writes it only
 * after it has created and configured the interface in the namespace and
 * bound its port forwards. tsjail waits for that (or for pasta's exit, with
 * its message) before the jail is released, and kills pasta when the jail is
 * reaped.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { PastaOptions, UserNet } from '../spec.js';
import { defaultPasta } from '../spec.js';
import { ipv4Bytes, ipv6Bytes, netmaskPrefix, validIfName } from './addr.js';
import { childProcess, nodeOs } from '../lazy.js';

/** The options pasta gets: the pasta block, or for NSTUN the same NAT without the gateway mapped to the host. */
export function effectivePasta(u: UserNet): PastaOptions {
  if (u.backend === 'PASTA' && u.pasta) return u.pasta;
  const p = defaultPasta();
  if (u.backend === 'NSTUN') p.map_gw = false;
  return p;
}

/** pasta's port specs: 'none', 'auto', or a list of ports, ranges, exclusions, addresses and interfaces. */
const PORT_SPEC = /^(none|auto|[0-9A-Fa-f.:,~%/\-[\]a-z]+)$/;

/** Every problem of a user_net block, naming the field and its value. */
export function userNetErrors(u: UserNet): string[] {
  const errors: string[] = [];
  const p = effectivePasta(u);
  const addr = (field: string, v: string, parse: (s: string) => Uint8Array | undefined, what: string) => {
    if (v !== '' && !parse(v)) errors.push(`user_net.${field} '${v}' is not ${what}`);
  };
  addr('ip4', u.ip4, ipv4Bytes, 'an IPv4 address');
  addr('gw4', u.gw4, ipv4Bytes, 'an IPv4 address');
  addr('ip6', u.ip6, ipv6Bytes, 'an IPv6 address');
  addr('gw6', u.gw6, ipv6Bytes, 'an IPv6 address');
  if (u.ns_iface !== '' && !validIfName(u.ns_iface)) errors.push(`user_net.ns_iface '${u.ns_iface}' is not an interface name`);
  if (p.mask4 !== '' && netmaskPrefix(p.mask4) === undefined && !/^([0-9]|[12][0-9]|3[0-2])$/.test(p.mask4)) errors.push(`user_net.pasta.mask4 '${p.mask4}' is not a netmask`);
  if (p.mask6 !== '64') errors.push(`user_net.pasta.mask6 '${p.mask6}': pasta gives the namespace a /64 and takes no IPv6 prefix length (as nsjail, only 64 is meaningful)`);
  if (p.dns_forward !== '' && !ipv4Bytes(p.dns_forward) && !ipv6Bytes(p.dns_forward)) errors.push(`user_net.pasta.dns_forward '${p.dns_forward}' is not an IP address`);
  if (!p.ip4_enabled && !p.ip6_enabled) errors.push('user_net.pasta: ip4_enabled and ip6_enabled are both false (Both IPv4 and IPv6 disabled for user networking)');
  for (const key of ['tcp_map_in', 'udp_map_in', 'tcp_map_out', 'udp_map_out'] as const) {
    const v = p[key];
    if (v !== '' && !PORT_SPEC.test(v)) errors.push(`user_net.pasta.${key} '${v}' is not a pasta port specification (none, auto, or e.g. 8080, 22:2222, 1000-1010)`);
  }
  return errors;
}

/** pasta's arguments in nsjail's order, up to the target (`-P` and the target are added by the launcher). */
export function pastaArgs(u: UserNet): string[] {
  const p = effectivePasta(u);
  const a = ['-f', '-q'];
  if (p.nat) {
    if (!p.enable_ip4_dhcp) a.push('--no-dhcp');
    if (!p.enable_ip6_dhcp) a.push('--no-dhcpv6');
    if (!p.enable_ip6_ra) a.push('--no-ra');
    if (!p.enable_ip4_dhcp && !p.enable_ip6_dhcp) a.push('--config-net');
    if (p.enable_dns) a.push('--dhcp-dns');
    if (p.dns_forward !== '') a.push('--dns-forward', p.dns_forward);
    if (!p.enable_tcp) a.push('--no-tcp');
    if (!p.enable_udp) a.push('--no-udp');
    if (!p.enable_icmp) a.push('--no-icmp');
    if (!p.map_gw) a.push('--no-map-gw');
    // Addresses of a disabled family are left out: pasta refuses an IPv4 address with -6 (nsjail passes them).
    if (u.ip4 !== '' && p.ip4_enabled) {
      a.push('-a', u.ip4);
      if (p.mask4 !== '') a.push('-n', p.mask4);
      if (u.gw4 !== '') a.push('-g', u.gw4);
    }
    if (u.ip6 !== '' && p.ip6_enabled) {
      a.push('-a', u.ip6);
      if (u.gw6 !== '') a.push('-g', u.gw6);
    }
    if (!p.ip4_enabled) a.push('-6');
    if (!p.ip6_enabled) a.push('-4');
    if (u.ns_iface !== '') a.push('-I', u.ns_iface);
  }
  if (p.tcp_map_in !== '') a.push('-t', p.tcp_map_in);
  if (p.udp_map_in !== '') a.push('-u', p.udp_map_in);
  if (p.tcp_map_out !== '') a.push('-T', p.tcp_map_out);
  if (p.udp_map_out !== '') a.push('-U', p.udp_map_out);
  if (!p.nat) a.push('--splice-only');
  return a;
}

/** A program in $PATH (and the sbin directories, which a user's PATH may lack). */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** What a pasta launch needs that is fixed for the run. */
export interface PastaSetup {
  readonly pasta: string;
  readonly setpriv: string;
  readonly args: readonly string[];
  /** Join only the jail's network namespace (tsjail is root: no need to enter the jail's user namespace). */
  readonly netnsOnly: boolean;
  readonly runAsRoot: boolean;
}

/** The readiness wait: how long pasta may take to set the namespace up. */
const READY_MS = 10_000;

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** pasta's own error lines, without the noise of a missing syslog. */
function pastaMessage(log: string): string {
  return log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Failed to send \d+ bytes to syslog/.test(l))
    .join('; ');
}

export class PastaError extends Error {}

/**
 * SIGKILL pasta and wait, up to a bound, until it is dead (a zombie the event
 * loop reaps later counts as dead): the jail's end, a failed launch and
 * tsjail's exit leave no pasta serving a namespace.
 */
export function stopPasta(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  const deadline = Date.now() + 2000;
  for (;;) {
    const st = procState(child.pid);
    if (st === undefined || st === 'Z' || Date.now() > deadline) return;
    Atomics.wait(sleeper, 0, 0, 1);
  }
}

/**
 * Start pasta for jail `pid` and wait until it is ready. Synchronous: it runs
 * between clone and release, where the launch does not return to the event
 * loop. Throws PastaError with pasta's own message when it exits early.
 */
export function startPasta(s: PastaSetup, pid: number): ChildProcess {
  const dir = mkdtempSync(join(nodeOs().tmpdir(), 'tsjail-pasta-'));
  const pidFile = join(dir, 'pid');
  const logPath = join(dir, 'log');
  const logFd = openSync(logPath, 'w');
  const target = s.netnsOnly ? ['--netns', `/proc/${pid}/ns/net`, '--netns-only', '--no-netns-quit'] : [String(pid)];
  const argv = [...s.args, ...(s.runAsRoot ? ['--runas', '0'] : []), '-P', pidFile, ...target];
  let child: ChildProcess;
  try {
    child = childProcess().spawn(s.setpriv, ['--pdeathsig', 'KILL', '--', s.pasta, ...argv], { stdio: ['ignore', logFd, logFd] });
    // A failed spawn is seen below (no pid); the event must not go unhandled.
    child.on('error', () => {});
  } finally {
    closeSync(logFd);
  }
  const cmd = `${s.pasta} ${argv.join(' ')}`;
  try {
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (child.pid === undefined) throw new PastaError(`could not start '${s.setpriv}' to run pasta`);
      let size = 0;
      try {
        size = statSync(pidFile).size;
      } catch {
        /* not yet */
      }
      if (size > 0) return child;
      const st = procState(child.pid);
      if (st === undefined || st === 'Z') {
        const msg = pastaMessage(readFileSync(logPath, 'utf8'));
        throw new PastaError(`pasta exited before it was ready (${cmd}): ${msg || 'no message'}`);
      }
      if (Date.now() > deadline) throw new PastaError(`pasta was not ready after ${READY_MS / 1000} s (${cmd})`);
      Atomics.wait(sleeper, 0, 0, 2);
    }
  } catch (e) {
    stopPasta(child);
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
