/**
 * Reading a config file into an NsJailConfig message, exactly as nsjail does:
 * the text is tried as protobuf text format and as ProtoJSON, and exactly one
 * of the two must accept it.
 *
 * protobufjs is loaded on first use only (a synchronous require inside the
 * functions), so a run without --config never pays for it.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Protobuf from 'protobufjs';
import { InputFileError, readInputFile } from '../input-file.js';
import { printable, quoted } from '../text.js';

/** A config file that cannot be read or parsed; main exits 255 on it, as nsjail does. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** uint64/int64 as protobufjs hands them over (a Long, or a number when it fits). */
export type Int64 = number | string | { toString(): string };

/**
 * The decoded message, snake_case as in config.proto. A field is present when
 * it is an own property (`Object.hasOwn`); absent fields read their proto
 * default through the prototype, and optional fields without a default read
 * as the type's zero, so check presence where nsjail calls has_*().
 */
export interface IdMapMessage {
  inside_id: string;
  outside_id: string;
  count: number;
  use_newidmap: boolean;
}

export interface MountPtMessage {
  src: string;
  prefix_src_env: string;
  src_content: Uint8Array;
  dst: string;
  prefix_dst_env: string;
  fstype: string;
  options: string;
  is_bind: boolean;
  rw: boolean;
  is_dir: boolean;
  mandatory: boolean;
  is_symlink: boolean;
  nosuid: boolean;
  nodev: boolean;
  noexec: boolean;
  is_dev: boolean;
  is_overlay: boolean;
  dir_mode: number;
  src_fd: number;
  overlay_lower: string[];
}

export interface ExeMessage {
  path: string;
  arg: string[];
  arg0: string;
  exec_fd: boolean;
}

export interface LandlockMessage {
  ro: string[];
  rw: string[];
  rx: string[];
  ro_try: string[];
  rw_try: string[];
  rx_try: string[];
  bind_tcp: number[];
  connect_tcp: number[];
  scope_abstract_unix: boolean;
  scope_signal: boolean;
  required: boolean;
}

export interface TsjailConfigMessage {
  landlock: LandlockMessage | null;
  syscall_allow: string[];
  syscall_deny: string[];
  seccomp_preset: string[];
  seccomp_equivalents: boolean;
  seccomp_bpf_file: string;
  status_fd: number;
  status_file: string;
  netns: string;
  log_format: string;
}

/** Enum fields hold numbers (see MODE_NAMES etc. in apply.ts). */
export interface NsJailConfigMessage {
  name: string;
  description: string[];
  mode: number;
  hostname: string;
  cwd: string;
  no_pivotroot: boolean;
  port: number;
  bindhost: string;
  max_conns: number;
  max_conns_per_ip: number;
  time_limit: number;
  daemon: boolean;
  max_cpus: number;
  nice_level: number;
  log_fd: number;
  log_file: string;
  log_level: number;
  keep_env: boolean;
  envar: string[];
  keep_caps: boolean;
  cap: string[];
  silent: boolean;
  skip_setsid: boolean;
  stderr_to_null: boolean;
  pass_fd: number[];
  disable_no_new_privs: boolean;
  forward_signals: boolean;
  disable_tsc: boolean;
  oom_score_adj: number;
  [rlimit: `rlimit_${string}`]: Int64 | number;
  disable_rl: boolean;
  persona_addr_compat_layout: boolean;
  persona_mmap_page_zero: boolean;
  persona_read_implies_exec: boolean;
  persona_addr_limit_3gb: boolean;
  persona_addr_no_randomize: boolean;
  clone_newnet: boolean;
  clone_newuser: boolean;
  clone_newns: boolean;
  clone_newpid: boolean;
  clone_newipc: boolean;
  clone_newuts: boolean;
  clone_newcgroup: boolean;
  clone_newtime: boolean;
  uidmap: IdMapMessage[];
  gidmap: IdMapMessage[];
  mount_proc: boolean;
  mount: MountPtMessage[];
  seccomp_policy_file: string;
  seccomp_string: string[];
  seccomp_log: boolean;
  cgroup_mem_max: Int64;
  cgroup_mem_memsw_max: Int64;
  cgroup_mem_swap_max: Int64;
  cgroup_mem_mount: string;
  cgroup_mem_parent: string;
  cgroup_pids_max: Int64;
  cgroup_pids_mount: string;
  cgroup_pids_parent: string;
  cgroup_net_cls_classid: number;
  cgroup_net_cls_mount: string;
  cgroup_net_cls_parent: string;
  cgroup_cpu_ms_per_sec: number;
  cgroup_cpu_mount: string;
  cgroup_cpu_parent: string;
  cgroupv2_mount: string;
  use_cgroupv2: boolean;
  detect_cgroupv2: boolean;
  iface_no_lo: boolean;
  iface_own: string[];
  macvlan_iface: string;
  macvlan_vs_ip: string;
  macvlan_vs_nm: string;
  macvlan_vs_gw: string;
  macvlan_vs_ma: string;
  macvlan_vs_mo: string;
  traffic_rule: object[];
  user_net: object | null;
  exec_bin: ExeMessage | null;
  seccomp_unotify: boolean;
  seccomp_unotify_report: string;
  use_core_scheduling: boolean;
  init: boolean;
  tsjail: TsjailConfigMessage | null;
}

type TextFormat = typeof import('protobufjs/ext/textformat.js');
type ProtoJson = typeof import('protobufjs/ext/protojson.js');

export interface Schema {
  readonly root: Protobuf.Root;
  readonly NsJailConfig: Protobuf.Type;
  readonly textformat: TextFormat;
  readonly protojson: ProtoJson;
}

/** Fields labelled `required`, by type name; checked by us so the error can name mount[3].dst. */
const requiredFields = new Map<string, string[]>();

let schema: Schema | undefined;

/** The schema, compiled to JSON at build time; the .proto is parsed only if that is missing or stale. */
export function loadSchema(): Schema {
  if (schema) return schema;
  const require = createRequire(import.meta.url);
  const jsonPath = fileURLToPath(new URL('../../dist/config/schema.json', import.meta.url));
  const protoPath = fileURLToPath(new URL('../../proto/config.proto', import.meta.url));
  const mtime = (p: string): number => statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? -1;

  let json: JsonNamespace | undefined;
  if (mtime(jsonPath) >= mtime(protoPath)) {
    json = JSON.parse(readFileSync(jsonPath, 'utf8')) as JsonNamespace;
    // A schema compiled without keepCase has camelCase names and would reject every nsjail config.
    if (!json.nested?.['nsjail']?.nested?.['NsJailConfig']?.fields?.['pass_fd']) json = undefined;
  }
  if (!json) {
    const full = require('protobufjs') as typeof Protobuf;
    json = new full.Root().loadSync(protoPath, { keepCase: true }).toJSON() as JsonNamespace;
  }
  // nsjail's parsers refuse a missing required field; checkRequired() does it
  // for both formats, naming the path, so the parsers get them as optional.
  liftRequired(json, '');
  const light = require('protobufjs/light.js') as typeof Protobuf;
  const root = light.Root.fromJSON(json as Protobuf.INamespace);
  root.resolveAll();
  schema = {
    root,
    NsJailConfig: root.lookupType('nsjail.NsJailConfig'),
    textformat: require('protobufjs/ext/textformat.js') as TextFormat,
    protojson: require('protobufjs/ext/protojson.js') as ProtoJson,
  };
  return schema;
}

interface JsonNamespace {
  nested?: Record<string, JsonNamespace>;
  fields?: Record<string, { rule?: string }>;
}

function liftRequired(ns: JsonNamespace, name: string): void {
  const required = Object.entries(ns.fields ?? {}).filter(([, f]) => f.rule === 'required');
  if (required.length) requiredFields.set(name, required.map(([n]) => n));
  for (const [, f] of required) delete f.rule;
  for (const [n, sub] of Object.entries(ns.nested ?? {})) liftRequired(sub, name ? `${name}.${n}` : n);
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
    for (const name of requiredFields.get(t.fullName.replace(/^\./, '')) ?? []) {
      if (!Object.hasOwn(m, name)) missing.push(path ? `${path}.${name}` : name);
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
