/**
 * proto/config.proto is the one schema: the generated module must be current,
 * and a field added there reaches ConfigState, --dump_config and the
 * unsupported check with no other edit (every scalar field is driven through
 * load → state → dump → load here, by type, without naming it).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FLAGS } from '../../../src/cli/flags.js';
import { OUT, renderSchemaModule } from '../../../.ci/gen-schema.mjs';
import { configToState } from '../../../src/config/apply.js';
import { dumpConfig, effectiveConfig } from '../../../src/config/dump.js';
import { defaults, fieldsOf, fromMessage, toMessage, type FieldInfo } from '../../../src/config/fields.js';
import { loadSchema, parseConfigText } from '../../../src/config/load.js';
import type { NsJailConfig } from '../../../src/config/schema.gen.js';
import { defaultCli, defaultConfig, fieldsFromState, stateFromFields, type JailSpec } from '../../../src/spec.js';

const CONFIG = fieldsOf('nsjail.NsJailConfig');
/** Fields ConfigState holds in another form (src/spec.ts writes these mappings out). */
const RESHAPED = /^(mode|rlimit_.*|uidmap|gidmap|mount|exec_bin|tsjail)$/;

/** A value other than the field's default, by type alone. */
function sample(f: FieldInfo): unknown {
  switch (f.kind) {
    case 'bool':
      return !f.defaultValue;
    case 'string':
      return `x-${f.name}`;
    case 'number':
      return f.defaultValue === 7 ? 8 : 7;
    case 'bigint':
      return f.defaultValue === 7n ? 8n : 7n;
    case 'bytes':
      return new Uint8Array([1, 0, 2]);
    case 'enum': {
      const names = Object.keys(loadSchema().root.lookupEnum(f.typeName!).values);
      return names.find((n) => n !== f.defaultValue);
    }
    default:
      return undefined;
  }
}

/** The config text of NsJailConfig fields, as protobufjs writes it. */
function configText(fields: NsJailConfig): string {
  const { textformat, NsJailConfig } = loadSchema();
  return textformat.toText(NsJailConfig, toMessage('nsjail.NsJailConfig', fields));
}

function specOf(text: string): JailSpec {
  const { state, uidmap, gidmap, argv } = configToState(parseConfigText(text, 'x.cfg'));
  return { cfg: state, cli: { ...defaultCli(), uidmap, gidmap, config_argv: argv } };
}

describe('src/config/schema.gen.ts', () => {
  it('is what .ci/gen-schema.mjs makes of proto/config.proto (run it after editing the .proto)', () => {
    expect(readFileSync(OUT, 'utf8')).toBe(renderSchemaModule());
  });
});

describe('fields of config.proto', () => {
  it('take their [default], or stay absent when they have none', () => {
    const d = defaults('nsjail.NsJailConfig');
    expect(d.hostname).toBe('NSJAIL');
    expect(d.mode).toBe('ONCE');
    expect(d.cgroup_mem_swap_max).toBe(-1n);
    expect(d.rlimit_nproc_type).toBe('SOFT');
    expect(d.envar).toEqual([]);
    expect('log_fd' in d).toBe(false);
    expect('exec_bin' in d).toBe(false);
    expect(defaults('nsjail.MountPt')).toMatchObject({ dst: '', mandatory: true, src_content: new Uint8Array() });
    expect('is_dir' in defaults('nsjail.MountPt')).toBe(false);
  });

  it('convert from a decoded message and back', () => {
    const msg = parseConfigText('mode: LISTEN cgroup_mem_max: 18446744073709551615 log_fd: 0 mount { dst: "/x" is_dir: false } user_net { }', 'x.cfg');
    const f = fromMessage('nsjail.NsJailConfig', msg);
    expect(f).toMatchObject({ mode: 'LISTEN', cgroup_mem_max: 18446744073709551615n, log_fd: 0, user_net: { backend: 'NSTUN' } });
    expect(f.mount[0]).toMatchObject({ dst: '/x', is_dir: false, src: '' });
    // Only what differs from the defaults, presence fields and given messages always; enums as numbers.
    expect(toMessage('nsjail.NsJailConfig', f)).toEqual({ mode: 0, cgroup_mem_max: 18446744073709551615n, log_fd: 0, mount: [{ dst: '/x', is_dir: false }], user_net: {} });
  });

  it('map onto ConfigState and back without loss', () => {
    const f = defaults('nsjail.NsJailConfig');
    expect(fieldsFromState(stateFromFields(f), [], [])).toEqual({ ...f, tsjail: { ...defaults('nsjail.TsjailConfig'), landlock: defaults('nsjail.TsjailConfig.Landlock') } });
    expect(stateFromFields(f)).toEqual(defaultConfig(false));
  });

  const scalars = CONFIG.filter((f) => f.kind !== 'message');
  it.each(scalars.map((f) => [f.name, f] as const))('%s reaches ConfigState and survives --dump_config', (_name, f) => {
    const value = sample(f);
    const fields = { ...defaults('nsjail.NsJailConfig'), [f.name]: f.repeated ? [value] : value };
    const spec = specOf(configText(fields));
    if (!RESHAPED.test(f.name)) expect((spec.cfg as unknown as Record<string, unknown>)[f.name]).toEqual(f.repeated ? [value] : value);
    if (f.unsupported) expect(spec.cfg.unsupported).toEqual([f.name]);
    else expect(spec.cfg.unsupported).toEqual([]);
    const back = configToState(parseConfigText(dumpConfig(spec), 'dump.cfg'));
    const { notes: _notes, ...want } = effectiveConfig(spec);
    expect(back).toEqual(want);
  });

  it('are refused as unsupported where the .proto marks them, by type: a message when present, a list when not empty', () => {
    expect(CONFIG.filter((f) => f.unsupported).map((f) => f.name)).not.toContain('seccomp_unotify');
    expect(specOf('user_net { }').cfg.unsupported).toEqual([]);
    expect(specOf('user_net { rule4 { } rule6 { } rule6 { } }').cfg.unsupported).toEqual([]);
    expect(specOf('user_net { rule4: [] }').cfg.unsupported).toEqual([]);
    expect(specOf('seccomp_unotify: false').cfg.unsupported).toEqual([]);
  });

  it('are the ones whose flags --help marks as refused', () => {
    const marked = new Set(CONFIG.filter((f) => f.unsupported).map((f) => f.name));
    expect(FLAGS.filter((f) => f.refused).map((f) => f.long)).toEqual(FLAGS.filter((f) => marked.has(f.long)).map((f) => f.long));
  });
});
