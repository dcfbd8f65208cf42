/**
 * config.proto's fields, read from the generated schema without protobufjs:
 * each message's defaults, its field list, and the generic conversion between
 * a decoded message and the typed form of schema.gen.ts, both ways.
 * Everything here follows the field's proto type; what a field means is left
 * to its users (src/spec.ts maps the typed form onto the JailSpec). A run
 * without --config only takes defaults, which are generated code: the schema
 * itself is parsed on the first call that needs a field list.
 */
import { DEFAULTS, SCHEMA_JSON, type Messages, type SchemaField, type SchemaNode } from './schema.gen.js';

/** A config file that cannot be read, parsed or used; main exits 255 on it, as nsjail does. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type MessageName = keyof Messages;

/** uint64/int64 as protobufjs hands them over (a Long, or a number when it fits). */
export type Int64 = number | string | { toString(): string };

/**
 * A message as protobufjs decodes it: every field readable (an absent one
 * reads its proto default through the prototype, an absent message null),
 * enums as numbers, 64-bit integers as Int64. Present fields are own
 * properties (`Object.hasOwn`).
 */
export type Decoded<T> = { readonly [K in keyof T]-?: DecodedField<Exclude<T[K], undefined>> };
type DecodedField<V> = V extends readonly (infer E)[] ? DecodedValue<E>[] : V extends Uint8Array ? V : V extends object ? Decoded<V> | null : DecodedValue<V>;
type DecodedValue<V> = V extends bigint
  ? Int64
  : V extends Uint8Array
    ? Uint8Array
    : V extends object
      ? Decoded<V>
      : V extends string
        ? string extends V
          ? string
          : number // an enum's names are a union of literals; decoded, it is its number
        : V;

type Kind = 'number' | 'bigint' | 'bool' | 'string' | 'bytes' | 'enum' | 'message';

export interface FieldInfo {
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  readonly required: boolean;
  /** Singular with neither a [default] nor `required`, or a message: set only when given. */
  readonly presence: boolean;
  /** The typed default (bigint, enum name, Uint8Array…); undefined for messages and presence fields. */
  readonly defaultValue: unknown;
  /** Full name of an enum or message type. */
  readonly typeName?: string;
  /** Marked [(tsjail_unsupported) = true] in the .proto. */
  readonly unsupported: boolean;
}

const KINDS: Readonly<Record<string, Kind>> = {
  double: 'number', float: 'number', int32: 'number', uint32: 'number', sint32: 'number', fixed32: 'number', sfixed32: 'number',
  int64: 'bigint', uint64: 'bigint', sint64: 'bigint', fixed64: 'bigint', sfixed64: 'bigint',
  bool: 'bool', string: 'string', bytes: 'bytes',
};
const UNSUPPORTED_OPTION = '(tsjail_unsupported)';

let parsed: { readonly schema: SchemaNode; readonly types: ReadonlyMap<string, SchemaNode> } | undefined;

/** The schema as protobufjs JSON, and every type in it by full name ('nsjail.NsJailConfig.TrafficRule'). */
export function schemaJson(): NonNullable<typeof parsed> {
  if (parsed) return parsed;
  const schema = JSON.parse(SCHEMA_JSON) as SchemaNode;
  const types = new Map<string, SchemaNode>();
  (function index(node: SchemaNode, prefix: string): void {
    for (const [name, sub] of Object.entries(node.nested ?? {})) {
      const full = prefix ? `${prefix}.${name}` : name;
      types.set(full, sub);
      index(sub, full);
    }
  })(schema, '');
  return (parsed = { schema, types });
}

/** An empty message in typed form: every default set, presence fields absent, lists empty. */
export function defaults<K extends MessageName>(typeName: K): Messages[K] {
  return DEFAULTS[typeName]();
}

/** A type name as written in a field of `scope`, resolved the way protoc does: innermost scope first. */
function resolve(name: string, scope: string): string {
  if (name.startsWith('.')) return name.slice(1);
  const { types } = schemaJson();
  for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
    const full = s ? `${s}.${name}` : name;
    if (types.has(full)) return full;
    if (!s) throw new Error(`config schema: type ${name} (used in ${scope}) is not defined`);
  }
}

function enumValues(typeName: string): Readonly<Record<string, number>> {
  return schemaJson().types.get(typeName)!.values!;
}

const fieldCache = new Map<string, readonly FieldInfo[]>();

/** The fields of a message type, in declaration order. */
export function fieldsOf(typeName: MessageName): readonly FieldInfo[] {
  let list = fieldCache.get(typeName);
  if (!list) {
    const node = schemaJson().types.get(typeName);
    if (!node?.fields) throw new Error(`config schema: ${typeName} is not a message`);
    const empty = defaults(typeName) as unknown as Record<string, unknown>;
    list = Object.entries(node.fields).map(([name, f]) => fieldInfo(name, f, typeName, empty));
    fieldCache.set(typeName, list);
  }
  return list;
}

/** `empty`: the message's generated defaults, which leave out exactly the presence fields. */
function fieldInfo(name: string, f: SchemaField, scope: string, empty: Readonly<Record<string, unknown>>): FieldInfo {
  let kind = KINDS[f.type];
  let typeName: string | undefined;
  if (!kind) {
    typeName = resolve(f.type, scope);
    kind = schemaJson().types.get(typeName)!.fields ? 'message' : 'enum';
  }
  const repeated = f.rule === 'repeated';
  return {
    name,
    kind,
    repeated,
    required: f.rule === 'required',
    presence: !(name in empty),
    defaultValue: repeated ? undefined : empty[name],
    typeName,
    unsupported: f.options?.[UNSUPPORTED_OPTION] === true,
  };
}

const ZEROS: Partial<Record<Kind, unknown>> = { bigint: 0n, number: 0, bool: false, string: '' };

/** What a presence field holds when given empty: its type's zero (proto2: an enum's first value). */
function zero(f: FieldInfo): unknown {
  if (f.kind === 'enum') return Object.keys(enumValues(f.typeName!))[0];
  return f.kind === 'bytes' ? new Uint8Array() : ZEROS[f.kind];
}

const copy = (v: unknown): unknown => (v instanceof Uint8Array ? new Uint8Array(v) : v);

/**
 * A decoded message in typed form. Fields that were not given take their
 * default; presence fields are set only when given. `path` names the field
 * in errors (mount[2].…).
 */
export function fromMessage<K extends MessageName>(typeName: K, msg: Decoded<Messages[K]>, path = ''): Messages[K] {
  const m = msg as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of fieldsOf(typeName)) {
    const here = path ? `${path}.${f.name}` : f.name;
    const v = m[f.name];
    if (f.repeated) out[f.name] = ((v ?? []) as unknown[]).map((x, i) => fromValue(f, x, `${here}[${i}]`));
    else if (Object.hasOwn(m, f.name) && v !== null && v !== undefined) out[f.name] = fromValue(f, v, here);
    else if (!f.presence) out[f.name] = copy(f.defaultValue);
  }
  return out as unknown as Messages[K];
}

function fromValue(f: FieldInfo, v: unknown, path: string): unknown {
  switch (f.kind) {
    case 'bigint':
      return BigInt(String(v));
    case 'bytes':
      return new Uint8Array(v as Uint8Array);
    case 'enum': {
      const name = Object.entries(enumValues(f.typeName!)).find(([, n]) => n === v)?.[0];
      if (name === undefined) throw new ConfigError(`config field '${path}': unknown value ${String(v)}`);
      return name;
    }
    case 'message':
      return fromMessage(f.typeName as MessageName, v as never, path);
    default:
      return v;
  }
}

/**
 * The typed form back as a plain object protobufjs formats (enums as
 * numbers), holding only what a file would have to say: fields at their
 * default, absent presence fields and empty lists are left out; `required`
 * fields and given messages (even empty ones) are always written.
 */
export function toMessage<K extends MessageName>(typeName: K, value: Messages[K]): Record<string, unknown> {
  const v = value as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of fieldsOf(typeName)) {
    const x = v[f.name];
    if (x === undefined) continue;
    if (f.repeated) {
      if ((x as unknown[]).length) out[f.name] = (x as unknown[]).map((e) => toValue(f, e));
    } else if (f.required || f.presence || !sameValue(x, f.defaultValue)) {
      out[f.name] = toValue(f, x);
    }
  }
  return out;
}

function toValue(f: FieldInfo, v: unknown): unknown {
  if (f.kind === 'enum') return enumValues(f.typeName!)[v as string];
  if (f.kind === 'message') return toMessage(f.typeName as MessageName, v as never);
  return copy(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/**
 * The fields marked unsupported that a decoded message uses, as paths: a
 * list when not empty, a message when present (`user_net { }` alone turns
 * networking on), a scalar when given with a value other than its default.
 */
export function unsupportedIn<K extends MessageName>(typeName: K, msg: Decoded<Messages[K]>, path = ''): string[] {
  const m = msg as unknown as Record<string, unknown>;
  const used: string[] = [];
  for (const f of fieldsOf(typeName)) {
    const here = path ? `${path}.${f.name}` : f.name;
    const v = m[f.name];
    const given = Object.hasOwn(m, f.name) && v !== null && v !== undefined;
    if (f.unsupported) {
      // A presence field's "default" is its type's zero: `macvlan_iface: ""` asks for nothing.
      const differs = (): boolean => f.kind === 'message' || !sameValue(fromValue(f, v, here), f.presence ? zero(f) : f.defaultValue);
      if (f.repeated ? (v as unknown[]).length > 0 : given && differs()) used.push(here);
    } else if (f.kind === 'message' && given) {
      const items = f.repeated ? (v as unknown[]).map((x, i) => [x, `${here}[${i}]`] as const) : [[v, here] as const];
      for (const [x, p] of items) used.push(...unsupportedIn(f.typeName as MessageName, x as never, p));
    }
  }
  return used;
}
