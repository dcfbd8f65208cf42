/**
 * The entries of --net_allow (NAME[:PORT], repeatable): parsing, checking and
 * matching. Pure.
 *
 * Ports: a bare NAME allows the web ports 80 and 443, where a connection must
 * open with an HTTP request or a TLS ClientHello naming NAME. NAME:PORT allows
 * that port only; on a port other than 80 and 443 a protocol tsjail cannot read
 * a name from (SSH, a database, a server that speaks first) is let through too,
 * since the entry asked for that port explicitly. `*.example.com` matches every
 * name below example.com (not example.com itself).
 */

export const WEB_PORTS: readonly number[] = [80, 443];

export interface AllowEntry {
  /** Lower case, no trailing dot; `*.` first for a wildcard. */
  readonly name: string;
  /** Undefined: the web ports (80, 443). */
  readonly port?: number;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** A DNS name as received (SNI, Host, a query): lower case, without a trailing dot. */
export function canonicalName(n: string): string {
  const l = n.toLowerCase();
  return l.endsWith('.') ? l.slice(0, -1) : l;
}

/** Why `name` is not a host name an entry can hold, or undefined. */
function nameProblem(name: string): string | undefined {
  if (name === '') return 'the name is empty';
  if (name.includes(':') || IPV4.test(name)) return 'is an address: the allow-list holds DNS names';
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  if (name.length > 253) return 'is longer than 253 characters';
  const bad = labels.find((l) => !LABEL.test(l));
  if (bad !== undefined) return bad === '' ? 'has an empty label' : `has an invalid label '${bad}' (letters, digits and inner hyphens, at most 63)`;
  if (/^\d+$/.test(labels[labels.length - 1]!)) return 'ends with a numeric label';
  return undefined;
}

/** Parses one NAME[:PORT]; a string is the problem, phrased to follow the quoted value. */
export function parseAllowEntry(v: string): AllowEntry | string {
  const raw = v.trim();
  if (raw.startsWith('[') || (raw.match(/:/g)?.length ?? 0) > 1) return 'is an address: the allow-list holds DNS names';
  const cut = raw.lastIndexOf(':');
  const name = canonicalName(cut < 0 ? raw : raw.slice(0, cut));
  const problem = nameProblem(name);
  if (problem) return problem;
  if (cut < 0) return { name };
  const p = raw.slice(cut + 1);
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return `has port '${p}', not a number from 1 to 65535`;
  return { name, port: Number(p) };
}

/** Every problem of the entries, one line each, naming the field and the value. */
export function allowErrors(list: readonly string[], field = 'net_allow'): string[] {
  return list.flatMap((v) => {
    const r = parseAllowEntry(v);
    return typeof r === 'string' ? [`${field} '${v}' ${r}`] : [];
  });
}

/** Does the entry's name cover this (canonical) name? */
export function nameMatches(entry: string, name: string): boolean {
  if (!entry.startsWith('*.')) return entry === name;
  const base = entry.slice(1); // ".example.com"
  return name.length > base.length && name.endsWith(base);
}

/** How the allow-list treats a port of a name. */
export type PortRule = 'web' | 'any_protocol';

/** The parsed allow-list: which names may be resolved, and on which ports they may be reached. */
export class AllowList {
  readonly entries: readonly AllowEntry[];

  constructor(list: readonly string[]) {
    this.entries = list.map((v) => {
      const r = parseAllowEntry(v);
      if (typeof r === 'string') throw new Error(`net_allow '${v}' ${r}`);
      return r;
    });
  }

  /** May the jail resolve this name? */
  allowsName(name: string): boolean {
    const n = canonicalName(name);
    return this.entries.some((e) => nameMatches(e.name, n));
  }

  /**
   * The rule for NAME on PORT, undefined when not allowed: 'web' needs a TLS
   * ClientHello or an HTTP request naming NAME; 'any_protocol' (an explicit
   * port other than 80 and 443) also lets an unreadable protocol through.
   */
  portRule(name: string, port: number): PortRule | undefined {
    const n = canonicalName(name);
    let rule: PortRule | undefined;
    for (const e of this.entries) {
      if (!nameMatches(e.name, n)) continue;
      if (e.port === undefined ? WEB_PORTS.includes(port) : e.port === port) {
        if (e.port !== undefined && !WEB_PORTS.includes(e.port)) return 'any_protocol';
        rule = 'web';
      }
    }
    return rule;
  }
}
