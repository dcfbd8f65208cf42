import { describe, expect, it } from 'vitest';
import { ConfigError, chooseFormat, loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import type { NsJailConfigMessage } from '../../../src/config/load.js';
import { NSJAIL_CONFIGS, haveNsjailConfigs, nsjailConfigFiles } from './helpers.js';

const parse = (text: string): NsJailConfigMessage => parseConfigText(text, 'x.cfg');

function errorOf(text: string): string {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe.skipIf(!haveNsjailConfigs)('nsjail configs (../shared/compat/nsjail-configs)', () => {
  it('finds all 30 files', () => {
    expect(nsjailConfigFiles()).toHaveLength(30);
  });

  it.each(nsjailConfigFiles())('%s parses', (file) => {
    const msg = loadConfigFile(`${NSJAIL_CONFIGS}${file}`);
    expect(typeof msg.hostname).toBe('string');
  });

  it('tracks presence where nsjail calls has_*()', () => {
    const bash = loadConfigFile(`${NSJAIL_CONFIGS}configs/bash-with-fake-geteuid.cfg`);
    expect(Object.hasOwn(bash, 'exec_bin')).toBe(true);
    expect(Object.hasOwn(bash.exec_bin!, 'arg0')).toBe(true);
    expect(Object.hasOwn(bash, 'user_net')).toBe(true);
    expect(Object.hasOwn(bash, 'log_fd')).toBe(false);
    expect(Object.hasOwn(bash, 'log_level')).toBe(false);
    expect(Object.hasOwn(bash.mount[0]!, 'is_dir')).toBe(false);
    expect(bash.mount[0]!.mandatory).toBe(true); // proto default, not false

    const weechat = loadConfigFile(`${NSJAIL_CONFIGS}configs/weechat-with-net.cfg`);
    expect(Object.hasOwn(weechat, 'log_fd')).toBe(true);
    expect(weechat.log_fd).toBe(2);

    // path present but empty: master keeps it (has_path()), so must we.
    const convert = loadConfigFile(`${NSJAIL_CONFIGS}configs/imagemagick-convert.cfg`);
    expect(Object.hasOwn(convert.exec_bin!, 'path')).toBe(true);
    expect(convert.exec_bin!.path).toBe('');
  });

  it('reads the JSON form through ProtoJSON', () => {
    const json = loadConfigFile(`${NSJAIL_CONFIGS}configs/bash-with-fake-geteuid.json`);
    expect(json.max_conns_per_ip).toBe(10);
    expect(json.rlimit_as.toString()).toBe('128');
    expect(Buffer.from(json.mount[9]!.src_content).toString()).toBe('nameserver 8.8.8.8\n');
  });
});

describe('text format', () => {
  it('accepts what protobuf text format allows', () => {
    const msg = parse(`
      # comment
      hostname: "a" "b"   # adjacent literals are joined
      time_limit: 0x10; max_cpus: 010,
      rlimit_as_type: 3
      daemon: t keep_env: 1
      envar: ["A=1", "B=\\x41\\n"]
      mount: [ { dst: "/x" }, < dst: "/y" is_bind: true > ]
      exec_bin { path: "/bin/true" }
    `);
    expect(msg.hostname).toBe('ab');
    expect(msg.time_limit).toBe(16);
    expect(msg.max_cpus).toBe(8);
    expect(msg.rlimit_as_type).toBe(3);
    expect(msg.daemon).toBe(true);
    expect(msg.keep_env).toBe(true);
    expect(msg.envar).toEqual(['A=1', 'B=A\n']);
    expect(msg.mount.map((m) => m.dst)).toEqual(['/x', '/y']);
  });

  it('accepts a file of comments only, as all defaults', () => {
    const msg = parse('# nothing here\n');
    expect(msg.hostname).toBe('NSJAIL');
    expect(msg.mount_proc).toBe(false);
  });

  it('refuses an empty file', () => {
    expect(errorOf('')).toBe("Config file 'x.cfg' is empty");
    expect(errorOf('  \n\t\n')).toBe("Config file 'x.cfg' is empty");
  });

  it('names an unknown field with its line and path', () => {
    expect(errorOf('hostname: "x"\nno_such_field: 1\n')).toContain("x.cfg:2: unknown field 'no_such_field' in NsJailConfig");
    expect(errorOf('mount { dst: "/" }\nmount {\n  dst: "/a"\n  bogus: true\n}')).toContain("x.cfg:4: mount[1]: unknown field 'bogus' in MountPt");
    expect(errorOf('mount: [ { dst: "/a" }, { dst: "/b" bogus: 1 } ]')).toContain("x.cfg:1: mount[1]: unknown field 'bogus'");
  });

  it('refuses the 3.5/3.6 flat user_net fields, as nsjail master does', () => {
    expect(errorOf('user_net {\n  enable: true\n}')).toContain("x.cfg:2: user_net: unknown field 'enable' in UserNet");
  });

  it('names a missing required field with its path', () => {
    expect(errorOf('mount { dst: "/" }\nmount { src: "/tmp" }')).toBe('x.cfg: Message missing required fields: mount[1].dst');
    expect(errorOf('exec_bin { arg: "x" }')).toBe('x.cfg: Message missing required fields: exec_bin.path');
  });

  it('names a bad enum value with its line', () => {
    expect(errorOf('hostname: "x"\nmode: SOMETIMES\n')).toContain('x.cfg:2: mode: enum value expected: SOMETIMES');
    expect(errorOf('rlimit_as_type: 7')).toContain('x.cfg:1: rlimit_as_type: enum value expected: 7');
  });

  it('names type errors with their line and path', () => {
    expect(errorOf('mount {\n  dst: "/"\n  is_bind: yes\n}')).toContain('x.cfg:3: mount[0].is_bind: bool value expected: yes');
    expect(errorOf('time_limit: -1')).toContain('x.cfg:1: time_limit: unsigned integer value expected: -1');
    expect(errorOf('hostname: 12')).toContain('x.cfg:1: hostname: expected string: 12');
    expect(errorOf('hostname: "a"\nhostname: "b"')).toContain('x.cfg:2: hostname: given more than once');
  });

  it('shows both parsers\' errors, the likelier format first', () => {
    const text = errorOf('mode: SOMETIMES');
    expect(text).toMatch(/^Couldn't parse config file 'x.cfg' as text format or as ProtoJSON:\n {2}text format: .*\n {2}ProtoJSON: /);
    const json = errorOf('{"mode": "SOMETIMES"}');
    expect(json).toMatch(/\n {2}ProtoJSON: x.cfg: mode: unknown enum value: "SOMETIMES"\n {2}text format: /);
  });
});

describe('ProtoJSON', () => {
  it('accepts camelCase and snake_case names, 64-bit strings, enum names and numbers, base64 bytes', () => {
    const msg = parse(JSON.stringify({
      timeLimit: 5,
      max_cpus: 2,
      rlimitAs: '18446744073709551615',
      mode: 3,
      rlimit_cpu_type: 'INF',
      mount: [{ dst: '/f', srcContent: Buffer.from('hi').toString('base64'), isBind: false }],
    }));
    expect(msg.time_limit).toBe(5);
    expect(msg.max_cpus).toBe(2);
    expect(msg.rlimit_as.toString()).toBe('18446744073709551615');
    expect(msg.mode).toBe(3);
    expect(msg.rlimit_cpu_type).toBe(3);
    expect(Buffer.from(msg.mount[0]!.src_content).toString()).toBe('hi');
  });

  it('names unknown members, bad values and missing required fields by path', () => {
    expect(errorOf('{"mount": [{"dst": "/"}, {"dst": "/a", "bogus": 1}]}')).toContain("ProtoJSON: x.cfg: mount[1]: unknown field 'bogus' in MountPt");
    expect(errorOf('{"mount": [{"dst": "/", "isBind": "yes"}]}')).toContain('ProtoJSON: x.cfg: mount[0].isBind: expected boolean: "yes"');
    expect(errorOf('{"execBin": {"arg": ["x"]}}')).toBe('x.cfg: Message missing required fields: exec_bin.path');
  });

  it('gives the line of a JSON syntax error', () => {
    expect(errorOf('{\n  "hostname": "x",\n}\n')).toMatch(/ProtoJSON: x.cfg:3: /);
  });
});

describe('format choice', () => {
  const ok = { ok: true as const, msg: {} as NsJailConfigMessage };
  const bad = (error: string) => ({ ok: false as const, error });

  it('uses the one parser that accepted the file', () => {
    expect(chooseFormat(ok, bad('no'), 'x.cfg')).toBe(ok.msg);
    expect(chooseFormat(bad('no'), ok, 'x.cfg')).toBe(ok.msg);
  });

  it('refuses a file both parsers accept', () => {
    // protobufjs's two parsers never both accept real text; the rule is still nsjail's.
    expect(() => chooseFormat(ok, ok, 'x.cfg')).toThrow(/x.cfg' was ambiguously parsed/);
  });

  it('reports both errors when neither accepts it', () => {
    expect(() => chooseFormat(bad('T'), bad('J'), 'x.cfg')).toThrow("Couldn't parse config file 'x.cfg' as text format or as ProtoJSON:\n  text format: T\n  ProtoJSON: J");
  });
});

describe('loadConfigFile', () => {
  it('refuses a file it cannot read', () => {
    expect(() => loadConfigFile('/nonexistent/x.cfg')).toThrow(ConfigError);
    expect(() => loadConfigFile('/nonexistent/x.cfg')).toThrow("Couldn't read config file '/nonexistent/x.cfg'");
  });
});
