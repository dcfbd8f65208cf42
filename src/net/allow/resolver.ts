/**
 * Resolution of allowed names through the host: the host's DNS servers
 * (with the records' TTL), then the host's name service (getaddrinfo:
 * /etc/hosts and the rest of nsswitch) for names DNS does not know.
 *
 * For tests, TSJAIL_NET_ALLOW_HOSTS names a hosts-style file ("ADDRESS NAME…"
 * per line, # comments) that replaces the host's resolution entirely, so that
 * names can point at local servers.
 */
import { promises as dns } from 'node:dns';
import { readFileSync } from 'node:fs';
import { addressKey } from './guard.js';
import { canonicalName } from './names.js';

export type Resolution = { readonly addrs: readonly string[]; readonly ttl: number } | { readonly nxdomain: true } | { readonly error: string };
export type Resolve = (name: string, family: 4 | 6) => Promise<Resolution>;

/** TTL given to answers from a source without one (getaddrinfo, the test file). */
const NO_TTL = 60;

/** A hosts-style text as a resolver; unknown names are NXDOMAIN, a known name without an address of the family has none. */
export function hostsResolver(text: string): Resolve {
  const table = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const [addr, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || !names.length || addressKey(addr) === undefined) continue;
    for (const n of names) table.set(canonicalName(n), [...(table.get(canonicalName(n)) ?? []), addr]);
  }
  return async (name, family) => {
    const addrs = table.get(canonicalName(name));
    if (!addrs) return { nxdomain: true };
    return { addrs: addrs.filter((a) => addressKey(a)!.includes(':') === (family === 6)), ttl: NO_TTL };
  };
}

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

export const hostResolver: Resolve = async (name, family) => {
  let dnsError: string | undefined;
  try {
    const recs = family === 4 ? await dns.resolve4(name, { ttl: true }) : await dns.resolve6(name, { ttl: true });
    if (recs.length) return { addrs: recs.map((r) => r.address), ttl: Math.min(...recs.map((r) => r.ttl)) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (!NOT_FOUND.has(code)) dnsError = `resolve${family}('${name}'): ${code || (e as Error).message}`;
  }
  // Names DNS does not know (or a DNS that failed): the host's name service, /etc/hosts first.
  try {
    const found = await dns.lookup(name, { family, all: true });
    return { addrs: found.map((f) => f.address), ttl: NO_TTL };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (dnsError) return { error: dnsError };
    // A name with addresses of the other family only is not NXDOMAIN for this one.
    return NOT_FOUND.has(code) ? { addrs: [], ttl: NO_TTL } : { error: `getaddrinfo('${name}'): ${code || (e as Error).message}` };
  }
};

/** The resolver for a run: the test file when TSJAIL_NET_ALLOW_HOSTS is set, the host's otherwise. */
export function runResolver(env: NodeJS.ProcessEnv = process.env): { resolve: Resolve; source: string } {
  const file = env.TSJAIL_NET_ALLOW_HOSTS;
  if (!file) return { resolve: hostResolver, source: "the host's resolver" };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`TSJAIL_NET_ALLOW_HOSTS: open('${file}') failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { resolve: hostsResolver(text), source: `the hosts file ${file} (TSJAIL_NET_ALLOW_HOSTS, for tests)` };
}
