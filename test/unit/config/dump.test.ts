import { describe, expect, it } from 'vitest';
import { configToState } from '../../../src/config/apply.js';
import { dumpConfig, effectiveConfig } from '../../../src/config/dump.js';
import { loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import type { JailSpec } from '../../../src/spec.js';
import { defaultCli, defaultMount, defaultSpec } from '../../../src/spec.js';
import { NSJAIL_CONFIGS, haveNsjailConfigs, nsjailConfigFiles } from './helpers.js';

/** dump → parse → state must equal what the spec means once the command line is folded in. */
function expectRoundTrip(spec: JailSpec): string {
  const text = dumpConfig(spec);
  const back = configToState(parseConfigText(text, 'dump.cfg'));
  const { notes: _notes, ...want } = effectiveConfig(spec);
  expect(back).toEqual(want);
  return text;
}

function specFromFile(path: string): JailSpec {
  const { state, uidmap, gidmap, argv } = configToState(loadConfigFile(path));
  return { cfg: state, cli: { ...defaultCli(), uidmap, gidmap, config_argv: argv } };
}

describe.skipIf(!haveNsjailConfigs)('nsjail configs round-trip through --dump_config', () => {
  it.each(nsjailConfigFiles())('%s', (file) => {
    const spec = specFromFile(`${NSJAIL_CONFIGS}${file}`);
    const text = expectRoundTrip(spec);
    expect(text.startsWith('# tsjail effective configuration')).toBe(true);
  });
});

describe('dumpConfig', () => {
  it('round-trips the command-line defaults', () => {
    const text = expectRoundTrip(defaultSpec());
    expect(text).toContain('mount_proc: true');
  });

  it('leaves out fields at their defaults', () => {
    const spec = defaultSpec();
    spec.cfg.mount_proc = false;
    spec.cfg.rlimits = configToState(parseConfigText('#', 'x')).state.rlimits;
    expect(dumpConfig(spec)).toBe('# tsjail effective configuration (tsjail --dump_config). Fields at their default are left out.\n');
  });

  it('folds --chroot/--rw into a leading bind mount of /', () => {
    const spec = defaultSpec();
    spec.cfg.mount.push({ ...defaultMount(), dst: '/tmp', fstype: 'tmpfs', rw: true });
    spec.cli.chroot = '/srv/root';
    spec.cli.rw = true;
    const text = expectRoundTrip(spec);
    expect(text).toContain('mount {\n  src: "/srv/root"\n  dst: "/"\n  is_bind: true\n  rw: true\n  is_dir: true\n}\nmount {\n  dst: "/tmp"');
  });

  it('folds --proc_rw and a moved /proc into an explicit proc mount', () => {
    const spec = defaultSpec();
    spec.cli.proc_rw = true;
    const text = expectRoundTrip(spec);
    expect(text).toContain('mount {\n  dst: "/proc"\n  fstype: "proc"\n  rw: true\n}');
    expect(text).not.toContain('mount_proc');
  });

  it('folds -u/-g, pass_fd and log settings', () => {
    const spec = defaultSpec();
    spec.cli.uidmap.push({ inside_id: '0', outside_id: '1000', count: 1, use_newidmap: false });
    spec.cli.gidmap.push({ inside_id: '0', outside_id: '', count: 5, use_newidmap: true });
    spec.cli.pass_fd.push(3);
    spec.cli.log_level = 'WARNING';
    spec.cli.log_file = '/tmp/log';
    const text = expectRoundTrip(spec);
    expect(text).toContain('uidmap {\n  inside_id: "0"\n  outside_id: "1000"\n}');
    expect(text).toContain('gidmap {\n  inside_id: "0"\n  count: 5\n  use_newidmap: true\n}');
    expect(text).toContain('log_level: WARNING');
  });

  it('keeps the exec path when a command follows --, as nsjail does', () => {
    const spec = defaultSpec();
    spec.cfg.exec_bin = { path: '/bin/echo', arg: ['from-config'], exec_fd: true };
    spec.cli.argv = ['/bin/printf', 'x\n'];
    const text = expectRoundTrip(spec);
    expect(text).toContain('exec_bin {\n  path: "/bin/echo"\n  arg: "x\\n"\n  arg0: "/bin/printf"\n  exec_fd: true\n}');
  });

  it('turns a bare command into exec_bin', () => {
    const spec = defaultSpec();
    spec.cli.argv = ['/bin/sh', '-c', 'echo "hi"'];
    const text = expectRoundTrip(spec);
    expect(text).toContain('exec_bin {\n  path: "/bin/sh"\n  arg: "-c"\n  arg: "echo \\"hi\\""\n}');
  });

  it('round-trips every mode, rlimit type, 64-bit value and the tsjail block', () => {
    const spec = defaultSpec();
    spec.cfg.mode = 'LISTEN_TCP';
    spec.cfg.port = 8080;
    spec.cfg.rlimits.as = { value: 18446744073709551615n, type: 'VALUE' };
    spec.cfg.rlimits.nofile = { value: 0n, type: 'HARD' };
    spec.cfg.cgroup_mem_swap_max = 0n;
    spec.cfg.oom_score_adj = -500;
    spec.cfg.init = true;
    spec.cfg.mount.push({ ...defaultMount(), src: '/usr', dst: '/usr', is_bind: true, mandatory: false, nosuid: true, nodev: true, is_overlay: true, is_dir: true });
    spec.cfg.mount.push({ ...defaultMount(), dst: '/etc/passwd', src_content: new Uint8Array([0, 255, 10, 34]) });
    spec.cfg.ext.landlock.ro.push('/usr');
    spec.cfg.ext.landlock.bind_tcp.push(8080);
    spec.cfg.ext.landlock.required = true;
    spec.cfg.ext.syscall_allow.push('read', 'write');
    spec.cfg.ext.status_file = '/tmp/status';
    spec.cfg.ext.log_format = 'json';
    spec.cfg.ext.metrics_addr = '[::1]:9100';
    spec.cfg.ext.pow = 1337;
    spec.cfg.ext.pow_timeout = 30;
    spec.cfg.ext.pow_bypass_key = '/etc/pow.pem';
    spec.cfg.ext.output_limit = 1n << 20n;
    const text = expectRoundTrip(spec);
    expect(text).toContain('  metrics_addr: "[::1]:9100"\n  pow: 1337\n  pow_timeout: 30\n  pow_bypass_key: "/etc/pow.pem"\n  output_limit: 1048576\n');
    expect(text).toContain('mode: LISTEN');
    expect(text).toContain('rlimit_nofile_type: HARD');
    expect(text).toContain('tsjail {\n  landlock {\n    ro: "/usr"\n    bind_tcp: 8080\n    required: true\n  }');
  });

  it('names what it cannot express', () => {
    const spec = defaultSpec();
    (spec.cfg.unsupported as string[]).push('user_net.rule4', 'user_net.rule6');
    spec.cfg.iface_own.push('eth1');
    spec.cli.experimental_mnt = 'new';
    const text = dumpConfig(spec);
    expect(text).toContain('# --experimental_mnt=new has no config field\n');
    expect(text).toContain('# Left out, not supported yet: user_net.rule4, user_net.rule6\n');
    expect(text).toContain('iface_own: "eth1"');
  });
});
