import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyConfigFile, configToState, expandEnvar } from '../../../src/config/apply.js';
import { fieldsOf } from '../../../src/config/fields.js';
import { ConfigError, loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import { defaultConfig, defaultMount, defaultSpec } from '../../../src/spec.js';
import { NSJAIL_CONFIGS, haveNsjailConfigs, nsjailConfigFiles } from './helpers.js';

const fromText = (text: string) => configToState(parseConfigText(text, 'x.cfg'));

function tempConfig(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tsjail-cfg-')), 'x.cfg');
  writeFileSync(path, text);
  return path;
}

describe('configToState', () => {
  it('gives nsjail\'s config defaults for a file that sets nothing', () => {
    const { state, uidmap, gidmap } = fromText('# defaults\n');
    const { rlimits, ...rest } = state;
    const { rlimits: defaultRlimits, ...defaults } = defaultConfig(false);
    expect(rest).toEqual(defaults);
    expect(state.mount_proc).toBe(false);
    expect(uidmap).toEqual([]);
    expect(gidmap).toEqual([]);
    // Soft/hard/inf rlimits carry the proto's number, used only if the type becomes VALUE.
    expect(rlimits).toEqual({
      ...defaultRlimits,
      nproc: { value: 1024n, type: 'SOFT' },
      stack: { value: 8n, type: 'SOFT' },
      memlock: { value: 64n, type: 'SOFT' },
      msgqueue: { value: 1024n, type: 'SOFT' },
    });
  });

  it('maps enums, rlimits, id maps, mounts and exec_bin', () => {
    const { state, uidmap, gidmap } = fromText(`
      mode: EXECVE
      log_level: WARNING
      rlimit_as: 128 rlimit_cpu_type: INF
      uidmap { inside_id: "0" outside_id: "1000" count: 2 use_newidmap: true }
      gidmap { inside_id: "0" }
      mount { src: "/" dst: "/" is_bind: true is_dir: false mandatory: false }
      mount { dst: "/etc/x" src_content: "a\\0b" }
      mount { dst: "/dev" is_dev: true }
      exec_bin { path: "/bin/sh" arg: "-c" arg: "true" arg0: "sh" exec_fd: true }
      cgroup_mem_swap_max: 4096
      init: true
    `);
    expect(state.mode).toBe('STANDALONE_EXECVE');
    expect(state.log_level).toBe('WARNING');
    expect(state.rlimits.as).toEqual({ value: 128n, type: 'VALUE' });
    expect(state.rlimits.cpu).toEqual({ value: 600n, type: 'INF' });
    expect(uidmap).toEqual([{ inside_id: '0', outside_id: '1000', count: 2, use_newidmap: true }]);
    expect(gidmap).toEqual([{ inside_id: '0', outside_id: '', count: 1, use_newidmap: false }]);
    expect(state.mount[0]).toEqual({ ...defaultMount(), src: '/', dst: '/', is_bind: true, is_dir: false, mandatory: false });
    expect(state.mount[1]!.src_content).toEqual(new Uint8Array([97, 0, 98]));
    expect('is_dir' in state.mount[1]!).toBe(false);
    expect(state.mount[2]!.is_dev).toBe(true);
    expect(state.exec_bin).toEqual({ path: '/bin/sh', arg: ['-c', 'true'], arg0: 'sh', exec_fd: true });
    expect(state.cgroup_mem_swap_max).toBe(4096n);
    expect(state.init).toBe(true);
    expect(state.unsupported).toEqual([]);
  });

  it('maps the tsjail block onto ext', () => {
    const { state } = fromText(`
      tsjail {
        landlock { ro: "/usr" rw_try: "/tmp" connect_tcp: 443 scope_signal: true required: true }
        syscall_deny: "ptrace"
        seccomp_preset: "default"
        status_fd: 3
        log_format: "json"
      }
    `);
    expect(state.ext.landlock).toMatchObject({ ro: ['/usr'], rw_try: ['/tmp'], connect_tcp: [443], scope_signal: true, required: true, rx: [] });
    expect(state.ext.syscall_deny).toEqual(['ptrace']);
    expect(state.ext.seccomp_preset).toEqual(['default']);
    expect(state.ext.status_fd).toBe(3);
    expect(state.ext.status_file).toBeUndefined();
    expect(state.ext.log_format).toBe('json');
  });

  it('refuses a log_format it does not know', () => {
    expect(() => fromText('tsjail { log_format: "xml" }')).toThrow(ConfigError);
    expect(() => fromText('tsjail { log_format: "xml" }')).toThrow("config field 'tsjail.log_format': 'xml' is not one of text, json");
  });

  it('marks every field tsjail cannot honour yet as unsupported (none today)', () => {
    const { state } = fromText(`
      iface_own: "eth1"
      macvlan_iface: "eth0" macvlan_vs_ip: "10.0.0.2" macvlan_vs_mo: "private"
      traffic_rule { proto: TCP dport: 80 }
      user_net { rule4 { action: DROP } }
    `);
    expect(state.unsupported).toEqual([]);
    // The list is config.proto's: the fields marked [(tsjail_unsupported) = true].
    expect(fieldsOf('nsjail.NsJailConfig').filter((f) => f.unsupported).map((f) => f.name)).toEqual([]);
    expect(fieldsOf('nsjail.NsJailConfig.UserNet').filter((f) => f.unsupported).map((f) => f.name)).toEqual([]);
  });

  it('fills the networking fields', () => {
    const { state } = fromText(`
      iface_own: "eth1"
      macvlan_iface: "eth0" macvlan_vs_ip: "10.0.0.2" macvlan_vs_mo: "bridge"
      traffic_rule { proto: TCP dport: 80 dport_end: 85 action: REJECT }
      traffic_rule { ip_family: IPV6 dst_ip: "fd00::/64" }
      user_net { backend: PASTA ns_iface: "tap0" pasta { map_gw: false tcp_map_in: "8080" } }
      tsjail { netns: "/run/netns/x" }
    `);
    expect(state.iface_own).toEqual(['eth1']);
    expect(state.macvlan_iface).toBe('eth0');
    expect(state.macvlan_vs_mo).toBe('bridge');
    expect(state.traffic_rule).toEqual([
      { proto: 'TCP', dport: 80, dport_end: 85, action: 'REJECT', ip_family: 'IPV4' },
      { proto: 'UNKNOWN_PROTO', action: 'DROP', ip_family: 'IPV6', dst_ip: 'fd00::/64' },
    ]);
    expect(state.user_net).toMatchObject({ backend: 'PASTA', ns_iface: 'tap0', ip4: '10.255.255.2', pasta: { map_gw: false, tcp_map_in: '8080', nat: true } });
    expect(fromText('user_net { }').state.user_net).toEqual({ backend: 'NSTUN', ip4: '10.255.255.2', gw4: '10.255.255.1', ip6: 'fc00::2', gw6: 'fc00::1', ns_iface: 'eth0', rule4: [], rule6: [] });
    expect(state.ext.netns).toBe('/run/netns/x');
  });

  it('reads seccomp_unotify (99), seccomp_unotify_report (100) and tsjail.seccomp_notify', () => {
    const { state } = fromText('seccomp_unotify: true\nseccomp_unotify_report: "/tmp/r"\ntsjail { seccomp_notify: false }');
    expect([state.seccomp_unotify, state.seccomp_unotify_report, state.ext.seccomp_notify, state.unsupported]).toEqual([true, '/tmp/r', false, []]);
    expect(fromText('hostname: "x"').state.ext.seccomp_notify).toBe(true);
  });

  it('treats unsupported fields at their defaults as unused', () => {
    expect(fromText('seccomp_unotify: false\niface_own: []\nmacvlan_iface: ""').state.unsupported).toEqual([]);
  });
});

describe.skipIf(!haveNsjailConfigs)('nsjail configs', () => {
  const load = (file: string) => configToState(loadConfigFile(`${NSJAIL_CONFIGS}${file}`));

  it.each(nsjailConfigFiles())('%s maps to a ConfigState', (file) => {
    expect(load(file).state.hostname).toBeTypeOf('string');
  });

  it('text and JSON forms of bash-with-fake-geteuid give the same jail', () => {
    const text = load('configs/bash-with-fake-geteuid.cfg');
    const json = load('configs/bash-with-fake-geteuid.json');
    expect(json).toEqual(text);
    expect(text.state.hostname).toBe('JAILED-BASH');
    expect(text.state.mount).toHaveLength(14);
    expect(text.state.exec_bin).toEqual({ path: '/bin/bash', arg: ['-i'], arg0: 'sh', exec_fd: false });
  });

  it("reads bash-with-fake-geteuid's user_net, text and JSON alike", () => {
    for (const f of ['configs/bash-with-fake-geteuid.cfg', 'configs/bash-with-fake-geteuid.json']) {
      expect(load(f).state.user_net?.backend, f).toBe('NSTUN');
      expect(load(f).state.unsupported).toEqual([]);
    }
  });

  it('reads traffic rules, macvlan and nstun rules', () => {
    const mixed = load('tests/traffic-mixed.cfg').state;
    expect(mixed.unsupported).toEqual([]);
    expect(mixed.traffic_rule.map((r) => `${r.ip_family} ${r.proto} ${r.dport} ${r.action}`)).toEqual(['IPV4 TCP 443 REJECT', 'IPV6 UDP 53 DROP', 'IPV4 TCP 80 ALLOW']);
    expect(load('configs/apache.cfg').state.macvlan_iface).toBe('enp0s31f6');
    expect(load('configs/znc-with-net.cfg').state.unsupported).toEqual([]);
    expect(load('tests/basic.cfg').state.unsupported).toEqual([]);
  });
});

describe('applyConfigFile', () => {
  it('replaces config-backed settings given before it, keeps command-line state', () => {
    const spec = defaultSpec();
    spec.cfg.hostname = 'before';
    spec.cfg.envar = ['EARLY=1'];
    spec.cli.chroot = '/srv';
    spec.cli.rw = true;
    spec.cli.proc_rw = true;
    spec.cli.uidmap.push({ inside_id: '1', outside_id: '', count: 1, use_newidmap: false });
    spec.cli.pass_fd.push(5);
    spec.cli.log_level = 'DEBUG';

    applyConfigFile(spec, tempConfig('hostname: "FROMCFG"\nuidmap { inside_id: "2" }\npass_fd: 7\nlog_fd: 9\nenvar: "A=b"'));

    expect(spec.cfg.hostname).toBe('FROMCFG');
    expect(spec.cfg.envar).toEqual(['A=b']);
    expect(spec.cfg.mount_proc).toBe(false);
    expect(spec.cli).toMatchObject({ chroot: '/srv', rw: true, proc_rw: true, log_level: 'DEBUG', log_fd: 9, pass_fd: [5, 7] });
    expect(spec.cli.uidmap.map((m) => m.inside_id)).toEqual(['1', '2']);
    expect(spec.cfg.log_fd).toBeUndefined();
    expect(spec.cfg.pass_fd).toEqual([]);
  });

  it('a second config replaces the first, id maps and pass_fd accumulate', () => {
    const spec = defaultSpec();
    applyConfigFile(spec, tempConfig('hostname: "ONE"\ncwd: "/one"\ngidmap { inside_id: "1" }\npass_fd: 3'));
    applyConfigFile(spec, tempConfig('hostname: "TWO"\ngidmap { inside_id: "2" }\npass_fd: 4\nlog_level: ERROR'));
    expect(spec.cfg.hostname).toBe('TWO');
    expect(spec.cfg.cwd).toBe('/');
    expect(spec.cli.gidmap.map((m) => m.inside_id)).toEqual(['1', '2']);
    expect(spec.cli.pass_fd).toEqual([3, 4]);
    expect(spec.cli.log_level).toBe('ERROR');
  });

  it('expands bare envar names from the environment, as -E does', () => {
    const spec = defaultSpec();
    const warnings = applyConfigFile(spec, tempConfig('envar: "HOME"\nenvar: "UNSET_ONE"\nenvar: "X=1"'), { HOME: '/home/u' });
    expect(spec.cfg.envar).toEqual(['HOME=/home/u', 'X=1']);
    expect(warnings).toEqual(["Environment variable 'UNSET_ONE' is not set, not passing it to the jail"]);
  });

  it('leaves the spec untouched when the file is bad', () => {
    const spec = defaultSpec();
    expect(() => applyConfigFile(spec, tempConfig('mount { src: "/" }'))).toThrow('Message missing required fields: mount[0].dst');
    expect(spec).toEqual(defaultSpec());
  });
});

describe('expandEnvar', () => {
  it('keeps NAME=value, copies NAME, keeps an empty value', () => {
    expect(expandEnvar(['A=1', 'B', 'C'], { B: '', C: 'x=y' })).toEqual({ envar: ['A=1', 'B=', 'C=x=y'], warnings: [] });
  });
});
