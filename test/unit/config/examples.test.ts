import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configToState } from '../../../src/config/apply.js';
import { dumpConfig, effectiveConfig } from '../../../src/config/dump.js';
import { loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import { defaultCli } from '../../../src/spec.js';

const CONFIGS = fileURLToPath(new URL('../../../configs/', import.meta.url));
const examples = readdirSync(CONFIGS).filter((f) => f.endsWith('.cfg')).sort();

describe('tsjail\'s example configs', () => {
  it('has the five examples', () => {
    expect(examples).toEqual(['inetd-echo.cfg', 'interpreter-sandbox.cfg', 'landlock.cfg', 'minimal-shell.cfg', 'static-busybox-execveat.cfg']);
  });

  it.each(examples)('%s loads, uses only supported fields and round-trips through --dump_config', (file) => {
    const { state, uidmap, gidmap, argv } = configToState(loadConfigFile(`${CONFIGS}${file}`));
    expect(state.unsupported).toEqual([]);
    const spec = { cfg: state, cli: { ...defaultCli(), uidmap, gidmap, config_argv: argv } };
    const { notes, ...want } = effectiveConfig(spec);
    expect(notes).toEqual([]);
    expect(configToState(parseConfigText(dumpConfig(spec), 'dump.cfg'))).toEqual(want);
  });

  it('says what each example is about', () => {
    const load = (f: string) => configToState(loadConfigFile(`${CONFIGS}${f}`)).state;
    expect(load('inetd-echo.cfg')).toMatchObject({ mode: 'LISTEN_TCP', port: 31337 });
    expect(load('static-busybox-execveat.cfg').exec_bin).toMatchObject({ path: '/bin/busybox', exec_fd: true });
    expect(load('interpreter-sandbox.cfg').rlimits.nproc).toEqual({ value: 32n, type: 'VALUE' });
    expect(load('landlock.cfg').ext.landlock).toMatchObject({ connect_tcp: [443], required: true });
    expect(load('minimal-shell.cfg').mount_proc).toBe(true);
  });
});
