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
 */
import { createServer, isIP, isIPv4, type AddressInfo, type Server, type Socket } from 'node:net';
import type { RunContext } from './context.js';
import { formatErrno } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { ConfigState } from '../spec.js';
import { startJail, startSpare, type Spare } from './jail.js';

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

/** nsjail's limitConns(): --max_conns over all jails, --max_conns_per_ip over the live jails' peers. */
function limitConns(cfg: ConfigState, live: number, peers: ReadonlyMap<number, string>, ip: string, remote: string): boolean {
  if (cfg.max_conns > 0 && live >= cfg.max_conns) {
    log.warn(`Rejecting connection, max_conns limit reached: ${cfg.max_conns}`);
    return false;
  }
  if (cfg.max_conns_per_ip === 0) return true;
  let n = 0;
  for (const peer of peers.values()) if (peer === ip) n++;
  if (n < cfg.max_conns_per_ip) return true;
  log.warn(`Rejecting connection from '${remote}', max_conns_per_ip limit reached: ${cfg.max_conns_per_ip}`);
  return false;
}

export async function runListen(ctx: RunContext): Promise<number> {
  const { p, sup } = ctx;
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

  // Peer address of each live jail, for --max_conns_per_ip.
  const peers = new Map<number, string>();
  // One jail is kept set up ahead of the next connection, which then only has to be handed over:
  // the clone and the setup leave the connection's critical path. A spare that fails is not
  // replaced (its error is logged): connections then get jails started for them, as nsjail does.
  // When tsjail merely ran short (EMFILE in a burst), the next connection tries again.
  let spare: Spare | undefined;
  let sparesWork = p.cfg.mode === 'LISTEN_TCP' && !p.cfg.silent && !p.cfg.stderr_to_null;
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
  server.on('connection', (s: Socket) => {
    const fd = socketFd(s);
    const ip = s.remoteAddress;
    if (fd === undefined || ip === undefined) {
      s.destroy(); // reset before we saw it
      return;
    }
    const remote = connText(ip, s.remotePort);
    log.info(`New connection from: ${remote} on: ${connText(s.localAddress, s.localPort)}`);
    if (!limitConns(p.cfg, sup.size, peers, ip, remote)) {
      s.destroy();
      return;
    }
    const taken = spare;
    spare = undefined;
    const jail = taken?.handOff(remote, fd) ?? startJail(ctx, remote, fd, taken !== undefined);
    // The child holds its own reference now: closing ours sends nothing to the peer.
    s.destroy();
    setImmediate(prepareSpare);
    if (!jail) return;
    peers.set(jail.pid, ip);
    void jail.exited.then(() => peers.delete(jail.pid));
  });
  // accept() failures (EMFILE, ECONNABORTED) are not fatal to the server.
  server.on('error', (e) => log.warn(`accept(): ${(e as Error).message}`));

  await sup.whenFatal();
  spare = undefined;
  // The supervisor has signalled every jail; execute() reaps them.
  server.close();
  return 0;
}
