/**
 * LISTEN_TCP: an inetd-style server. Each accepted connection becomes the
 * stdin, stdout and stderr of a fresh jail, with no proxy in between: accept
 * is paused so tsjail reads no byte, the child clears O_NONBLOCK, and
 * tsjail's copy is closed right after clone (never shut down). A client that
 * half-closes therefore still gets the program's whole output, and the
 * program sees EOF on stdin exactly when the client sends it.
 *
 * SIGINT/SIGTERM kill every jail and end with 0; a socket that cannot be
 * bound ends with 1 (nsjail).
 *
 * A feature may hold a connection back until it admits it (the proof-of-work
 * gate of --pow, the only case where tsjail reads from the client); while it
 * waits, it counts against --max_conns and --max_conns_per_ip as a jail
 * would. With a feature that supplies the jails' stdio (--output_limit relays
 * the output), that feature gets the connection instead of the jail.
 */
import { createServer, isIP, isIPv4, type AddressInfo, type Server, type Socket } from 'node:net';
import type { RunContext } from './context.js';
import { formatErrno } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { ConfigState } from '../spec.js';
import { startJail, startSpare, type Conn, type Spare } from './jail.js';

/** nsjail's connToText: `[::ffff:127.0.0.1]:37144` (IPv4 peers in their mapped form). */
export function connText(address: string | undefined, port: number | undefined): string {
  const a = address === undefined ? '::' : isIPv4(address) ? `::ffff:${address}` : address;
  return `[${a}]:${port ?? 0}`;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A dual-stack socket for '::', as nsjail's IPv6 socket without IPV6_V6ONLY.
    server.listen({ host, port, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The accepted socket's descriptor; net.Socket keeps it in its libuv handle. */
function socketFd(s: Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

type Limit = 'max_conns' | 'max_conns_per_ip';

/** nsjail's limitConns(): --max_conns over all jails, --max_conns_per_ip over the live jails' peers. The limit hit, if any. */
function limitConns(cfg: ConfigState, live: number, peers: Iterable<string>, ip: string, remote: string): Limit | undefined {
  if (cfg.max_conns > 0 && live >= cfg.max_conns) {
    log.warn(`Rejecting connection, max_conns limit reached: ${cfg.max_conns}`);
    return 'max_conns';
  }
  if (cfg.max_conns_per_ip === 0) return undefined;
  let n = 0;
  for (const peer of peers) if (peer === ip) n++;
  if (n < cfg.max_conns_per_ip) return undefined;
  log.warn(`Rejecting connection from '${remote}', max_conns_per_ip limit reached: ${cfg.max_conns_per_ip}`);
  return 'max_conns_per_ip';
}

export async function runListen(ctx: RunContext): Promise<number> {
  const { p, sup, features } = ctx;
  const { bindhost, port } = p.cfg;
  if (!isIP(bindhost)) {
    log.error(`inet_pton('${bindhost}') failed: not an IPv4 or IPv6 address (--bindhost)`);
    return 1;
  }
  const server = createServer({ pauseOnConnect: true });
  try {
    await listen(server, bindhost, port);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = typeof err.errno === 'number' ? formatErrno(-err.errno) : err.message;
    log.error(`bind(host:[${bindhost}], port:${port}): ${why}`);
    return 1;
  }
  const local = server.address() as AddressInfo;
  log.info(`Listening on ${connText(local.address, local.port)}`);
  features.onRunEvent({ kind: 'ready' });

  // Peer address of each live jail, for --max_conns_per_ip; and of each client a gate still holds.
  const peers = new Map<number, string>();
  const pending = new Map<Socket, string>();
  // One jail is kept set up ahead of the next connection, which then only has to be handed over:
  // the clone and the setup leave the connection's critical path. A spare that fails is not
  // replaced (its error is logged): connections then get jails started for them, as nsjail does.
  // When tsjail merely ran short (EMFILE in a burst), the next connection tries again.
  let spare: Spare | undefined;
  // Not when a feature relays the stdio: a spare waiting before its execve holds a copy of every
  // descriptor tsjail has, the other jails' stdin pipes too, and would keep their EOF from them.
  let sparesWork = p.cfg.mode === 'LISTEN_TCP' && !p.cfg.silent && !p.cfg.stderr_to_null && !features.ownsStdio;
  const prepareSpare = () => {
    if (!sparesWork || spare || sup.fatalSignalReceived !== undefined) return;
    const s = startSpare(ctx, true, (shortage) => (sparesWork = shortage));
    if (!s) return;
    spare = s;
    void s.executed.then((ok) => {
      if (!ok && spare === s) {
        sparesWork = s.shortage();
        spare = undefined;
      }
    });
  };
  setImmediate(prepareSpare);
  /** A connection that passed the limits (and the gates) gets its jail. */
  const serve = (s: Socket, conn: Conn, ip: string, remote: string) => {
    const taken = spare;
    spare = undefined;
    const jail = taken?.handOff(remote, conn) ?? startJail(ctx, remote, conn, taken !== undefined);
    features.onRunEvent({ kind: 'connection', result: 'accepted' });
    // The child holds its own reference now: closing ours sends nothing to the peer. A feature that
    // supplies the stdio relays through the socket and closes it.
    if (!jail || !features.ownsStdio) s.destroy();
    setImmediate(prepareSpare);
    if (!jail) return;
    peers.set(jail.pid, ip);
    void jail.exited.then(() => peers.delete(jail.pid));
  };
  server.on('connection', (s: Socket) => {
    const fd = socketFd(s);
    const ip = s.remoteAddress;
    if (fd === undefined || ip === undefined) {
      s.destroy(); // reset before we saw it
      return;
    }
    const remote = connText(ip, s.remotePort);
    log.info(`New connection from: ${remote} on: ${connText(s.localAddress, s.localPort)}`);
    const limit = limitConns(p.cfg, sup.size + pending.size, [...peers.values(), ...pending.values()], ip, remote);
    if (limit) {
      features.onRunEvent({ kind: 'connection', result: 'rejected_limit', limit });
      s.destroy();
      return;
    }
    if (!features.gated) return serve(s, { fd, socket: s }, ip, remote);
    pending.set(s, ip);
    const stopped = () => sup.fatalSignalReceived !== undefined;
    void features.admit({ socket: s, fd, remote, stopped, event: (e) => features.onRunEvent(e) }).then((ok) => {
      pending.delete(s);
      if (ok === true && !stopped() && !s.destroyed) return serve(s, { fd, socket: s }, ip, remote);
      // Turned away: the gate has answered and closed it.
      if (ok !== false) s.destroy();
    });
  });
  // accept() failures (EMFILE, ECONNABORTED) are not fatal to the server.
  server.on('error', (e) => log.warn(`accept(): ${(e as Error).message}`));

  await sup.whenFatal();
  spare = undefined;
  for (const s of pending.keys()) s.destroy();
  // The supervisor has signalled every jail; execute() reaps them.
  server.close();
  return 0;
}
