/**
 * Reading a config file into an NsJailConfig message, exactly as nsjail does:
 * the text is tried as protobuf text format and as ProtoJSON, and exactly one
 * of the two must accept it.
 *
 * protobufjs is loaded on first use only (a synchronous require inside the
 * functions), so a run without --config never pays for it.
 */
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import { InputFileError, readInputFile } from '../input-file.js';
import { printable, quoted } from '../text.js';
import { ConfigError, fieldsOf, schemaJson, type Decoded, type MessageName } from './fields.js';
import type { NsJailConfig, SchemaNode } from './schema.gen.js';

export { ConfigError } from './fields.js';

/** The decoded message, snake_case as in config.proto (see Decoded for presence and defaults). */
export type NsJailConfigMessage = Decoded<NsJailConfig>;

type TextFormat = typeof import('protobufjs/ext/textformat.js');
type ProtoJson = typeof import('protobufjs/ext/protojson.js');

export interface Schema {
  readonly root: Protobuf.Root;
  readonly NsJailConfig: Protobuf.Type;
  readonly textformat: TextFormat;
  readonly protojson: ProtoJson;
}

let schema: Schema | undefined;

/** The parsers, built from the schema generated from config.proto (src/config/schema.gen.ts). */
export function loadSchema(): Schema {
  if (schema) return schema;
  const require = createRequire(import.meta.url);
  // nsjail's parsers refuse a missing required field; checkRequired() does it
  // for both formats, naming the path, so the parsers get them as optional.
  const light = require('protobufjs/light.js') as typeof Protobuf;
  const root = light.Root.fromJSON(withoutRequired(schemaJson().schema) as Protobuf.INamespace);
  root.resolveAll();
  schema = {
    root,
    NsJailConfig: root.lookupType('nsjail.NsJailConfig'),
    textformat: require('protobufjs/ext/textformat.js') as TextFormat,
    protojson: require('protobufjs/ext/protojson.js') as ProtoJson,
  };
  return schema;
}

function withoutRequired(node: SchemaNode): SchemaNode {
  const out: Record<string, unknown> = { ...node };
  if (node.fields) out['fields'] = Object.fromEntries(Object.entries(node.fields).map(([n, { rule, ...f }]) => [n, rule === 'required' ? f : { rule, ...f }]));
  if (node.nested) out['nested'] = Object.fromEntries(Object.entries(node.nested).map(([n, sub]) => [n, withoutRequired(sub)]));
  return out;
}

export function loadConfigFile(path: string): NsJailConfigMessage {
  let text: string;
  try {
    text = readInputFile(path, 'config file').toString('utf8');
  } catch (e) {
    if (e instanceof InputFileError) throw new ConfigError(`Couldn't read ${e.message}`);
    throw e;
  }
  return parseConfigText(text, path);
}

/** Outcome of one parser: the message, or why it refused the text. */
export type ParseAttempt = { ok: true; msg: NsJailConfigMessage } | { ok: false; error: string };

export function parseConfigText(text: string, origin: string): NsJailConfigMessage {
  // nsjail refuses an empty file outright; whitespace alone counts as empty.
  if (text.trim() === '') throw new ConfigError(`Config file ${quoted(origin, 200)} is empty`);
  const s = loadSchema();
  const parsed = chooseFormat(parseAsText(s, text, origin), parseAsJson(s, text, origin), origin, text.trimStart().startsWith('{'));
  checkRequired(s.NsJailConfig, parsed, origin);
  checkNoNul(s.NsJailConfig, parsed, origin);
  // Both parsers leave nested messages as plain objects; make every level a
  // message instance, so absent fields read their proto defaults.
  return s.NsJailConfig.fromObject({ ...parsed }) as unknown as NsJailConfigMessage;
}

/** nsjail's rule: exactly one of the two parsers must accept the file. */
export function chooseFormat(asText: ParseAttempt, asJson: ParseAttempt, origin: string, looksLikeJson = false): NsJailConfigMessage {
  if (asText.ok && asJson.ok) throw new ConfigError(`Config file ${quoted(origin, 200)} was ambiguously parsed: it is valid both as text format and as ProtoJSON`);
  if (asText.ok) return asText.msg;
  if (asJson.ok) return asJson.msg;
  // Both failed: show the error of the format the file seems to be in first.
  // Parsers quote the offending text, which may hold a newline or control characters: one line each.
  const lines = [`  text format: ${printable(asText.error, 300)}`, `  ProtoJSON: ${printable(asJson.error, 300)}`];
  if (looksLikeJson) lines.reverse();
  return fail(`Couldn't parse config file ${quoted(origin, 200)} as text format or as ProtoJSON:\n${lines.join('\n')}`);
}

function fail(message: string): never {
  throw new ConfigError(message);
}

function parseAsText(s: Schema, text: string, origin: string): ParseAttempt {
  try {
    return { ok: true, msg: s.textformat.fromText(s.NsJailConfig, text) as unknown as NsJailConfigMessage };
  } catch (e) {
    const found = locateTextError(s, text);
    if (found) return { ok: false, error: `${origin}:${found.line}: ${found.path ? `${found.path}: ` : ''}${found.message}` };
    // The parser's own message; its structural errors end in "(line N)".
    const m = /^(.*) \(line (\d+)\)$/.exec((e as Error).message);
    return { ok: false, error: m ? `${origin}:${m[2]}: ${tidy(m[1]!)}` : `${origin}: ${tidy((e as Error).message)}` };
  }
}

function parseAsJson(s: Schema, text: string, origin: string): ParseAttempt {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const pos = /position (\d+)/.exec(message);
    const line = pos ? text.slice(0, Number(pos[1])).split('\n').length : undefined;
    return { ok: false, error: `${origin}${line ? `:${line}` : ''}: ${message.replace(/ in JSON at position \d+.*$/, '')}` };
  }
  try {
    return { ok: true, msg: s.protojson.fromJson(s.NsJailConfig, json) as unknown as NsJailConfigMessage };
  } catch (e) {
    const found = locateJsonError(s, s.NsJailConfig, json, '');
    return { ok: false, error: `${origin}: ${found ?? tidy((e as Error).message)}` };
  }
}

/** ".nsjail.NsJailConfig.mode: x" → "mode: x"; nested types keep their name. */
function tidy(message: string): string {
  return message.replace(/\.?nsjail\.NsJailConfig\./g, '').replace(/\.?nsjail\./g, '');
}

// ---- Error locations -------------------------------------------------------
// protobufjs reports bad values without a line, and unknown fields without
// the path to them. On the error path only, the text is walked again with the
// schema; each scalar is re-parsed alone by protobufjs, so what counts as
// valid is still decided by protobufjs and never twice.

interface Located {
  line: number;
  path: string;
  message: string;
}

interface Token {
  kind: 'punct' | 'string' | 'word';
  value: string;
  start: number;
  end: number;
  line: number;
}

function* tokenize(text: string): Generator<Token> {
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const start = i++;
      while (i < text.length && text[i] !== c && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
      i++;
      yield { kind: 'string', value: text.slice(start, i), start, end: i, line };
    } else if ('{}<>:[],;-'.includes(c)) {
      yield { kind: 'punct', value: c, start: i, end: ++i, line };
    } else {
      const start = i;
      while (i < text.length && !/[\s#"'{}<>:[\],;]/.test(text[i]!)) i++;
      yield { kind: 'word', value: text.slice(start, i), start, end: i, line };
    }
  }
}

interface Frame {
  type: Protobuf.Type;
  path: string;
  close: string;
  seen: Set<string>;
  counts: Map<string, number>;
  /** Set while inside `field: [ {...}, {...} ]`: the next '{' opens an element. */
  list?: () => Frame;
}

/** The first unknown field, repeated singular field or bad value, with its line and path. */
function locateTextError(s: Schema, text: string): Located | null {
  const tokens = [...tokenize(text)];
  let i = 0;
  const frames: Frame[] = [{ type: s.NsJailConfig, path: '', close: '', seen: new Set(), counts: new Map() }];
  const join = (base: string, name: string): string => (base ? `${base}.${name}` : name);

  while (i < tokens.length) {
    const frame = frames[frames.length - 1]!;
    const tok = tokens[i++]!;
    if (tok.value === ',' || tok.value === ';') continue;
    if (tok.kind === 'punct' && tok.value === frame.close) {
      frames.pop();
      continue;
    }
    if (frame.list) {
      if (tok.value !== '{' && tok.value !== '<') return null;
      frames.push({ ...frame.list(), close: tok.value === '{' ? '}' : '>' });
      continue;
    }
    if (tok.kind !== 'word') return null;
    const field = frame.type.fields[tok.value];
    if (!field) return { line: tok.line, path: frame.path, message: `unknown field '${tok.value}' in ${frame.type.name}` };
    if (!field.repeated) {
      if (frame.seen.has(field.name)) return { line: tok.line, path: join(frame.path, field.name), message: 'given more than once' };
      frame.seen.add(field.name);
    }
    const elementPath = (): string => {
      if (!field.repeated) return join(frame.path, field.name);
      const n = frame.counts.get(field.name) ?? 0;
      frame.counts.set(field.name, n + 1);
      return `${join(frame.path, field.name)}[${n}]`;
    };

    if (field.resolvedType && 'fieldsArray' in field.resolvedType) {
      const element = (): Frame => ({ type: field.resolvedType as Protobuf.Type, path: elementPath(), close: '}', seen: new Set(), counts: new Map() });
      if (tokens[i]?.value === ':') i++;
      if (tokens[i]?.value === '[') {
        i++;
        frames.push({ type: frame.type, path: frame.path, close: ']', seen: new Set(), counts: new Map(), list: element });
        continue;
      }
      const open = tokens[i++];
      if (!open || (open.value !== '{' && open.value !== '<')) return null;
      frames.push({ ...element(), close: open.value === '{' ? '}' : '>' });
      continue;
    }

    if (tokens[i]?.value !== ':') return null;
    i++;
    const start = tokens[i];
    if (!start) return null;
    let endTok = start;
    if (start.value === '[') {
      let j = i;
      while (j < tokens.length && tokens[j]!.value !== ']') j++;
      endTok = tokens[j] ?? start;
      i = j + 1;
    } else {
      if (start.value === '-') i++;
      endTok = tokens[i++] ?? start;
      while (endTok.kind === 'string' && tokens[i]?.kind === 'string') endTok = tokens[i++]!;
    }
    const path = elementPath();
    try {
      s.textformat.fromText(frame.type, `${field.name}: ${text.slice(start.start, endTok.end)}`);
    } catch (e) {
      const message = (e as Error).message.replace(/^\S+: /, '').replace(/ \(line \d+\)$/, '');
      return { line: start.line, path, message: `${message}: ${text.slice(start.start, endTok.end)}` };
    }
  }
  return null;
}

/** The path to the first unknown member or bad value of a JSON config. */
function locateJsonError(s: Schema, type: Protobuf.Type, json: unknown, path: string): string | null {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return null;
  const byName = new Map<string, Protobuf.Field>();
  for (const f of type.fieldsArray) {
    byName.set(f.name, f);
    byName.set(f.jsonName ?? f.name, f);
  }
  for (const [key, value] of Object.entries(json)) {
    const here = path ? `${path}.${key}` : key;
    const field = byName.get(key);
    if (!field) return `${path ? `${path}: ` : ''}unknown field '${key}' in ${type.name}`;
    if (field.resolvedType && 'fieldsArray' in field.resolvedType) {
      const sub = field.resolvedType as Protobuf.Type;
      const items = field.repeated && Array.isArray(value) ? value.map((v, n) => [v, `${here}[${n}]`] as const) : [[value, here] as const];
      for (const [v, p] of items) {
        const found = locateJsonError(s, sub, v, p);
        if (found) return found;
      }
    }
    try {
      s.protojson.fromJson(type, { [key]: value });
    } catch (e) {
      return `${here}: ${(e as Error).message.replace(/^\S+: /, '')}`;
    }
  }
  return null;
}

// ---- Required fields -------------------------------------------------------

/** nsjail: "Message missing required fields: mount[0].dst". */
function checkRequired(type: Protobuf.Type, msg: NsJailConfigMessage, origin: string): void {
  const missing: string[] = [];
  const walk = (t: Protobuf.Type, m: Record<string, unknown>, path: string): void => {
    for (const f of fieldsOf(t.fullName.replace(/^\./, '') as MessageName)) {
      if (f.required && !Object.hasOwn(m, f.name)) missing.push(path ? `${path}.${f.name}` : f.name);
    }
    for (const f of t.fieldsArray) {
      if (!f.resolvedType || !('fieldsArray' in f.resolvedType) || !Object.hasOwn(m, f.name)) continue;
      const value = m[f.name];
      const sub = f.resolvedType as Protobuf.Type;
      const here = path ? `${path}.${f.name}` : f.name;
      if (Array.isArray(value)) value.forEach((v, n) => walk(sub, v as Record<string, unknown>, `${here}[${n}]`));
      else if (value) walk(sub, value as Record<string, unknown>, here);
    }
  };
  walk(type, msg as unknown as Record<string, unknown>, '');
  if (missing.length) throw new ConfigError(`${origin}: Message missing required fields: ${missing.join(', ')}`);
}

// ---- NUL bytes ---------------------------------------------------------------

/** Informational strings that never reach a system call. */
const FREE_TEXT = new Set(['name', 'description']);

/**
 * Strings become C strings for system calls (paths, hostname, argv, env, cgroup
 * names…), where a NUL byte would silently cut them short: refuse it, naming the field.
 */
function checkNoNul(type: Protobuf.Type, msg: NsJailConfigMessage, origin: string): void {
  const walk = (t: Protobuf.Type, m: Record<string, unknown>, path: string): void => {
    for (const f of t.fieldsArray) {
      if (!Object.hasOwn(m, f.name) || (!path && FREE_TEXT.has(f.name))) continue;
      const here = path ? `${path}.${f.name}` : f.name;
      const values = f.repeated && Array.isArray(m[f.name]) ? (m[f.name] as unknown[]) : [m[f.name]];
      values.forEach((v, n) => {
        const at = f.repeated ? `${here}[${n}]` : here;
        if (f.type === 'string' && typeof v === 'string' && v.includes('\0')) {
          throw new ConfigError(`${origin}: ${at}: a NUL byte is not allowed in '${printable(v)}'`);
        }
        if (f.resolvedType && 'fieldsArray' in f.resolvedType && v && typeof v === 'object') walk(f.resolvedType as Protobuf.Type, v as Record<string, unknown>, at);
      });
    }
  };
  walk(type, msg as unknown as Record<string, unknown>, '');
}
