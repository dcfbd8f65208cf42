/**
 * HOST:PORT as --metrics_addr takes it: an IP address (IPv6 in brackets, as
 * in a URL) and a TCP port. Names are refused, as for --bindhost: what the
 * server binds must not depend on a resolver.
 */
import { nodeNet } from './lazy.js';
import { quoted } from './text.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The address, or why the text is not one (the caller names the option). */
export function parseHostPort(text: string): HostPort | string {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  if (!m || !host) return `${quoted(text)} is not HOST:PORT (e.g. 127.0.0.1:9100 or [::]:9100)`;
  const { isIP } = nodeNet();
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4) return `${quoted(text)}: ${quoted(host)} is not an ${m[1] !== undefined ? 'IPv6' : 'IPv4'} address${m[1] === undefined && isIP(host) === 0 ? ' (names are not resolved; IPv6 goes in brackets)' : ''}`;
  const port = Number(m[3]);
  if (port > 65535) return `${quoted(text)}: port ${port} is not a TCP port (0..65535)`;
  return { host, port };
}

/** host:port as a URL writes it. */
export function formatHostPort(host: string, port: number): string {
  return nodeNet().isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
