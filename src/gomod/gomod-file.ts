/**
 * go.mod with gomodjail's policy comments. A `// gomodjail:confined` or
 * `// gomodjail:unconfined` comment applies where it is attached: above or
 * after the `module` line it is the default for every required module; above
 * or after a `require (` line, the default inside that block; above or after
 * a require entry, that module. The nearest wins (entry, block, module line),
 * and a module named by no comment is unconfined. Versions play no part.
 *
 * A comment is attached to a line when it trails it, or when it belongs to
 * the group of comment lines right above it with no blank line between (Go's
 * modfile package attaches comments the same way).
 */
import { GoInputError } from './errors.js';

export type GoPolicy = 'confined' | 'unconfined';
export const GO_POLICIES: readonly GoPolicy[] = ['confined', 'unconfined'];

export interface GoModPolicy {
  /** The `module` line's path. */
  readonly module: string;
  /** Every required module with the policy its comments give it (unconfined when none does). */
  readonly policies: ReadonlyMap<string, GoPolicy>;
  readonly warnings: readonly string[];
}

const VERBS = new Set(['module', 'go', 'toolchain', 'godebug', 'require', 'exclude', 'replace', 'retract', 'tool', 'ignore']);

interface Line {
  readonly no: number;
  readonly tokens: string[];
  /** The trailing comment's text (without //), if any. */
  readonly suffix?: string;
}

/** Splits one line into tokens (quoted strings unquoted) and its trailing comment. */
function lex(text: string, where: string): { tokens: string[]; comment?: string } {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (text.startsWith('//', i)) {
      return { tokens, comment: text.slice(i + 2) };
    } else if (text.startsWith('/*', i)) {
      throw new GoInputError(`${where}: /* */ comments are not allowed in go.mod`);
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== c) {
        if (c === '"' && text[j] === '\\' && j + 1 < text.length) j++;
        s += text[j++];
      }
      if (j >= text.length) throw new GoInputError(`${where}: unterminated quoted string`);
      tokens.push(s);
      i = j + 1;
    } else if (c === '(' || c === ')') {
      tokens.push(c);
      i++;
    } else {
      let j = i;
      while (j < text.length && !' \t\r()"`'.includes(text[j]!) && !text.startsWith('//', j)) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  return { tokens };
}

/** The policy a comment gives, if it holds a gomodjail: field; an unknown policy is an error. */
function directive(comment: string, where: string): GoPolicy | undefined {
  for (let f of comment.trim().split(/\s+/)) {
    while (f.startsWith('//')) f = f.slice(2);
    if (!f.startsWith('gomodjail:')) continue;
    const p = f.slice('gomodjail:'.length);
    if (p === 'confined' || p === 'unconfined') return p;
    throw new GoInputError(`${where}: unknown gomodjail policy '${p}' (confined or unconfined)`);
  }
  return undefined;
}

export function parseGoMod(text: string, file: string): GoModPolicy {
  const warnings: string[] = [];
  let module: string | undefined;
  let moduleDefault: GoPolicy | undefined;
  const policies = new Map<string, GoPolicy>();
  const explicit = new Map<string, { policy?: GoPolicy; block?: GoPolicy; no: number }>();
  /** Comment lines right above the current line, with their directives. */
  let pending: Array<{ no: number; policy?: GoPolicy }> = [];
  let block: { verb: string; no: number; policy?: GoPolicy } | undefined;

  const attached = (suffix: string | undefined, where: string): GoPolicy | undefined => {
    let p: GoPolicy | undefined;
    for (const c of pending) if (c.policy) p = c.policy;
    const s = suffix === undefined ? undefined : directive(suffix, where);
    return s ?? p;
  };
  const misplaced = (what: string): void => {
    const c = pending.find((x) => x.policy);
    if (c) throw new GoInputError(`${file}:${c.no}: gomodjail:${c.policy} is attached to ${what}; it belongs on the module line, a require block or a require line`);
  };

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const no = i + 1;
    const where = `${file}:${no}`;
    const { tokens, comment } = lex(lines[i]!, where);
    if (tokens.length === 0) {
      if (comment !== undefined) pending.push({ no, policy: directive(comment, where) });
      else {
        // A blank line detaches the comments above it.
        const stray = pending.find((x) => x.policy);
        if (stray) throw new GoInputError(`${file}:${stray.no}: gomodjail:${stray.policy} is followed by a blank line, so it is attached to nothing; put it right above the module, require or require ( line`);
        pending = [];
      }
      continue;
    }
    const line: Line = { no, tokens, suffix: comment };
    if (block) {
      if (tokens[0] === ')') {
        if (tokens.length > 1) throw new GoInputError(`${where}: unexpected '${tokens.slice(1).join(' ')}' after ')'`);
        misplaced(`the end of a ${block.verb} block`);
        block = undefined;
      } else if (block.verb === 'require') {
        requireEntry(line, block.policy);
      } else {
        misplaced(`a ${block.verb} entry`);
        if (line.suffix !== undefined && directive(line.suffix, where)) throw new GoInputError(`${where}: a gomodjail comment on a ${block.verb} entry has no effect; it belongs on the module line, a require block or a require line`);
      }
      pending = [];
      continue;
    }
    const verb = tokens[0]!;
    if (!VERBS.has(verb)) throw new GoInputError(`${where}: unknown directive '${verb}'`);
    if (tokens[1] === '(') {
      if (tokens.length > 2) throw new GoInputError(`${where}: unexpected '${tokens.slice(2).join(' ')}' after '${verb} ('`);
      if (verb === 'module') throw new GoInputError(`${where}: a module block is not supported; write 'module PATH'`);
      block = { verb, no, policy: verb === 'require' ? attached(line.suffix, where) : undefined };
      if (verb !== 'require') {
        misplaced(`a ${verb} block`);
        if (line.suffix !== undefined && directive(line.suffix, where)) throw new GoInputError(`${where}: gomodjail:${directive(line.suffix, where)} on a ${verb} block has no effect; it belongs on the module line, a require block or a require line`);
      }
      pending = [];
      continue;
    }
    if (verb === 'module') {
      if (module !== undefined) throw new GoInputError(`${where}: a second module line`);
      if (tokens.length !== 2) throw new GoInputError(`${where}: 'module' needs exactly one module path`);
      module = tokens[1]!;
      moduleDefault = attached(line.suffix, where);
    } else if (verb === 'require') {
      requireEntry({ no, tokens: tokens.slice(1), suffix: line.suffix }, undefined);
    } else {
      misplaced(`a ${verb} line`);
      const d = line.suffix === undefined ? undefined : directive(line.suffix, where);
      if (d) throw new GoInputError(`${where}: gomodjail:${d} on a ${verb} line has no effect; it belongs on the module line, a require block or a require line`);
    }
    pending = [];
  }
  if (block) throw new GoInputError(`${file}:${block.no}: '${block.verb} (' is never closed`);
  const stray = pending.find((x) => x.policy);
  if (stray) throw new GoInputError(`${file}:${stray.no}: gomodjail:${stray.policy} at the end of the file is attached to nothing`);
  if (module === undefined) throw new GoInputError(`${file}: no module line (not a go.mod file?)`);
  for (const [path, e] of explicit) policies.set(path, e.policy ?? e.block ?? moduleDefault ?? 'unconfined');
  return { module, policies, warnings };

  function requireEntry(l: Line, blockPolicy: GoPolicy | undefined): void {
    const where = `${file}:${l.no}`;
    if (l.tokens.length !== 2) throw new GoInputError(`${where}: a require entry needs a module path and a version`);
    const path = l.tokens[0]!;
    const prev = explicit.get(path);
    if (prev) warnings.push(`${where}: ${path} is required again (first at line ${prev.no}); this line's policy counts`);
    explicit.set(path, { policy: attached(l.suffix, where), block: blockPolicy, no: l.no });
  }
}

/**
 * --go_module_policy values, MODULE=confined|unconfined: a problem is a
 * message naming the value (for validation, which reports every one).
 */
export function parsePolicyOverride(v: string): { module: string; policy: GoPolicy } | string {
  const eq = v.lastIndexOf('=');
  const module = eq < 0 ? '' : v.slice(0, eq).trim();
  const policy = eq < 0 ? '' : v.slice(eq + 1).trim();
  if (!module) return `'${v}' is not MODULE=confined or MODULE=unconfined`;
  if (policy !== 'confined' && policy !== 'unconfined') return `'${v}': the policy '${policy}' is not confined or unconfined`;
  if (/\s/.test(module)) return `'${v}': the module path '${module}' has blanks`;
  return { module, policy };
}

/** The confined modules: go.mod's policies with the overrides applied on top (in order; a later one wins). */
export function confinedModules(gomod: GoModPolicy, overrides: ReadonlyArray<{ module: string; policy: GoPolicy }>): Set<string> {
  const all = new Map(gomod.policies);
  for (const o of overrides) all.set(o.module, o.policy);
  return new Set([...all].filter(([, p]) => p === 'confined').map(([m]) => m));
}
