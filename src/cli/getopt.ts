/**
 * The usual command line without commander: known options (exact long names,
 * --name=value, short letters bundled or with a glued value) and operands,
 * read exactly as commander reads them. Anything else (an unknown option, a
 * missing value) returns undefined: commander then parses the line and words
 * the error. Loading commander and declaring the table's options to it is
 * most of the cost of parsing a command line.
 */
import { FLAGS, type Flag } from './flags.js';

export interface Scanned {
  /** Options in the order given; a switch's value is ''. */
  events: Array<{ flag: Flag; value: string }>;
  operands: string[];
}

let byName: Map<string, Flag> | undefined;

export function scanArgv(args: readonly string[]): Scanned | undefined {
  if (!byName) {
    byName = new Map(FLAGS.map((f) => [`--${f.long}`, f]));
    for (const f of FLAGS) if (f.short) byName.set(`-${f.short}`, f);
  }
  const events: Scanned['events'] = [];
  const operands: string[] = [];
  let i = 0;
  let group: string | undefined; // the rest of a bundle of short switches (-Qv → -v)
  while (i < args.length || group !== undefined) {
    const arg = group ?? args[i++]!;
    group = undefined;
    if (arg === '--') {
      operands.push(...args.slice(i));
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') {
      operands.push(arg);
      continue;
    }
    const exact = byName.get(arg);
    if (exact) {
      if (!exact.arg) events.push({ flag: exact, value: '' });
      else if (i < args.length) events.push({ flag: exact, value: args[i++]! });
      else return undefined;
      continue;
    }
    if (arg[1] !== '-') {
      const f = arg.length > 2 ? byName.get(`-${arg[1]}`) : undefined;
      if (!f) return undefined;
      events.push({ flag: f, value: f.arg ? arg.slice(2) : '' });
      if (!f.arg) group = `-${arg.slice(2)}`;
      continue;
    }
    const eq = arg.indexOf('=');
    const f = eq > 2 ? byName.get(arg.slice(0, eq)) : undefined;
    if (!f?.arg) return undefined;
    events.push({ flag: f, value: arg.slice(eq + 1) });
  }
  return { events, operands };
}
