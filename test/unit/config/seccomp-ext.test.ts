/** The tsjail block's seccomp_equivalents and seccomp_bpf_file: config, command line and --dump_config agree. */
import { describe, expect, it } from 'vitest';
import { configToState } from '../../../src/config/apply.js';
import { dumpConfig, effectiveConfig } from '../../../src/config/dump.js';
import { parseConfigText } from '../../../src/config/load.js';
import { parseCommandLine } from '../../../src/cli/parse.js';

const fromText = (text: string) => configToState(parseConfigText(text, 'x.cfg')).state;

describe('seccomp_equivalents and seccomp_bpf_file', () => {
  it('default to on and unset', () => {
    expect(fromText('# defaults\n').ext).toMatchObject({ seccomp_equivalents: true });
    expect(fromText('# defaults\n').ext.seccomp_bpf_file).toBeUndefined();
  });

  it('read from the tsjail block', () => {
    const { ext } = fromText('tsjail { seccomp_equivalents: false seccomp_bpf_file: "/etc/jail.bpf" }');
    expect(ext.seccomp_equivalents).toBe(false);
    expect(ext.seccomp_bpf_file).toBe('/etc/jail.bpf');
  });

  it('set by --seccomp_no_equivalents and --seccomp_bpf_file, and dumped back', async () => {
    const { spec } = await parseCommandLine(['--seccomp_no_equivalents', '--seccomp_bpf_file', '/f.bpf', '--', '/bin/true']);
    expect(spec.cfg.ext).toMatchObject({ seccomp_equivalents: false, seccomp_bpf_file: '/f.bpf' });
    const text = dumpConfig(spec);
    expect(text).toMatch(/tsjail \{[^}]*seccomp_equivalents: false\n\s*seccomp_bpf_file: "\/f\.bpf"/);
    const { notes: _notes, ...want } = effectiveConfig(spec);
    expect(configToState(parseConfigText(text, 'dump.cfg'))).toEqual(want);
  });
});
