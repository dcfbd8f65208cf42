/**
 * proto/config.proto is the one schema: the module generated from it must be
 * current, and src/config/fields.ts reads every field from it by type.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OUT, renderSchemaModule } from '../../../.ci/gen-schema.mjs';
import { configToState } from '../../../src/config/apply.js';
import { defaults, fieldsOf, fromMessage, toMessage } from '../../../src/config/fields.js';
import { parseConfigText } from '../../../src/config/load.js';

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

  it('are refused as unsupported where the .proto marks them, by type: a message when present, a list when not empty', () => {
    const unsupported = (text: string): string[] => configToState(parseConfigText(text, 'x.cfg')).state.unsupported;
    expect(fieldsOf('nsjail.NsJailConfig').filter((f) => f.unsupported).map((f) => f.name)).toContain('user_net');
    expect(unsupported('user_net { }')).toEqual(['user_net']);
    expect(unsupported('traffic_rule { }')).toEqual(['traffic_rule']);
    expect(unsupported('iface_own: []')).toEqual([]);
  });
});
