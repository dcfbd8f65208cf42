/**
 * Every numeric option and every numeric config field, through the real
 * parse → validate pipeline: junk, trailing garbage, overflow and negative
 * values are refused with the option or field named; the boundary values are
 * accepted and stored exactly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { FLAGS } from '../../src/cli/flags.js';
import { parseCommandLine } from '../../src/cli/parse.js';
import { applyConfigFile } from '../../src/config/apply.js';
import { loadSchema } from '../../src/config/load.js';
import { parseInteger } from '../../src/numbers.js';
import type { JailSpec } from '../../src/spec.js';
import { validateSpec } from '../../src/validate.js';

const U32_MAX = '4294967295';
const U64_MAX = '18446744073709551615';
/** Refused by every numeric option: not numbers, or numbers followed by something. */
const JUNK = ['ten', '12abc', '', '1.5', '1e3', '0x', '08', ' 7', '7 ', '--1', '0x1g', '١٢'];

type Outcome = { ok: true; spec: JailSpec } | { ok: false; error: string };

async function runCli(args: string[]): Promise<Outcome> {
  try {
    const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
    const problems = validateSpec(spec);
    return problems.length ? { ok: false, error: problems.join('; ') } : { ok: true, spec };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

interface CliRow {
  readonly flag: string;
  readonly get: (s: JailSpec) => unknown;
  /** Values accepted, with what the spec then holds. */
  readonly ok: ReadonlyArray<readonly [string, unknown]>;
  /** Values refused beyond JUNK (overflow, negative, outside the meaning). */
  readonly bad: readonly string[];
  /** Ids are names when they are not numbers: junk there is a user name, resolved later. */
  readonly noJunk?: true;
  /** Options the option needs to be valid at all (a mode). */
  readonly with?: readonly string[];
}

const u32 = (flag: string, get: (s: JailSpec) => unknown): CliRow => ({
  flag,
  get,
  ok: [['0', 0], [U32_MAX, 4294967295], ['0x10', 16], ['010', 8], ['+7', 7]],
  bad: ['4294967296', '99999999999', '18446744073709551616', '-1'],
});
const fdRow = (flag: string, get: (s: JailSpec) => unknown): CliRow => ({ flag, get, ok: [['0', 0], ['2147483647', 2147483647], ['0x3', 3]], bad: ['-1', '2147483648', '4294967296'] });
const portRow = (flag: string, get: (s: JailSpec) => unknown): CliRow => ({ flag, get, ok: [['0', 0], ['65535', 65535], ['0x50', 80]], bad: ['65536', '-1', '4294967296'] });
const rl = (name: string, max: string, over: string, extra: Partial<CliRow> = {}): CliRow => ({
  flag: `rlimit_${name}`,
  get: (s) => s.cfg.rlimits[name as keyof JailSpec['cfg']['rlimits']],
  ok: [['0', { value: 0n, type: 'VALUE' }], [max, { value: BigInt(max), type: 'VALUE' }], ['0x10', { value: 16n, type: 'VALUE' }], ['soft', { value: 0n, type: 'SOFT' }], ['DEF', { value: 0n, type: 'SOFT' }], ['Max', { value: 0n, type: 'HARD' }], ['hard', { value: 0n, type: 'HARD' }], ['inf', { value: 0n, type: 'INF' }], ...(extra.ok ?? [])],
  bad: [over, '18446744073709551616', '-1', 'infinity', ...(extra.bad ?? [])],
});
const MIB_MAX = String((1n << 44n) - 1n);
const MIB_OVER = String(1n << 44n);
const idRow = (flag: string, get: (s: JailSpec) => unknown): CliRow => ({
  flag,
  get,
  noJunk: true,
  ok: [
    ['1000', { inside_id: '1000', outside_id: '', count: 1 }],
    ['0:0:4294967295', { inside_id: '0', outside_id: '0', count: 4294967295 }],
    ['4294967294', { inside_id: '4294967294', outside_id: '', count: 1 }],
    ['1:2:0x10', { inside_id: '1', outside_id: '2', count: 16 }],
    ['1000::', { inside_id: '1000', outside_id: '', count: 1 }],
  ],
  bad: ['4294967295', '4294967296', '99999999999', '0:99999999999', '1:1:0', '1:1:4294967295', '4294967294:0:2', '0:0:4294967296', '1:1:junk', '1:1:-1', '1:1:1x', '0x100000000'],
});
const size = (flag: string, type: 'uint64' | 'int64', get: (s: JailSpec) => unknown): CliRow => ({
  flag,
  get,
  ok: [
    ['0', 0n],
    ['64M', 64n << 20n],
    ['1k', 1024n],
    ['2T', 2n << 40n],
    ['3G', 3n << 30n],
    [type === 'uint64' ? U64_MAX : '9223372036854775807', type === 'uint64' ? (1n << 64n) - 1n : (1n << 63n) - 1n],
    ...(type === 'int64' ? [['-1', -1n] as const] : []),
  ],
  bad: [type === 'uint64' ? '18446744073709551616' : '9223372036854775808', '16777216T', '64MB', '1.5G', 'M', '64 M', '0x10K', '010K', type === 'uint64' ? '-1' : '-2'],
});

const CLI_ROWS: readonly CliRow[] = [
  // Port 0 is no port for listen mode, which --port selects.
  { flag: 'port', get: (s) => s.cfg.port, ok: [['1', 1], ['65535', 65535], ['0x50', 80]], bad: ['0', '65536', '-1', '4294967296'] },
  u32('max_conns', (s) => s.cfg.max_conns),
  u32('max_conns_per_ip', (s) => s.cfg.max_conns_per_ip),
  fdRow('log_fd', (s) => s.cli.log_fd),
  u32('time_limit', (s) => s.cfg.time_limit),
  u32('max_cpus', (s) => s.cfg.max_cpus),
  fdRow('pass_fd', (s) => s.cli.pass_fd.at(-1)),
  { flag: 'nice_level', get: (s) => s.cfg.nice_level, ok: [['-20', -20], ['19', 19], ['0', 0], ['-0x14', -20]], bad: ['-21', '20', '2147483648', '-2147483649'] },
  size('cgroup_mem_max', 'uint64', (s) => s.cfg.cgroup_mem_max),
  size('cgroup_mem_memsw_max', 'uint64', (s) => s.cfg.cgroup_mem_memsw_max),
  size('cgroup_mem_swap_max', 'int64', (s) => s.cfg.cgroup_mem_swap_max),
  { flag: 'cgroup_pids_max', get: (s) => s.cfg.cgroup_pids_max, ok: [['0', 0n], [U64_MAX, (1n << 64n) - 1n], ['010', 8n]], bad: ['18446744073709551616', '-1', '1K'] },
  u32('cgroup_net_cls_classid', (s) => s.cfg.cgroup_net_cls_classid),
  u32('cgroup_cpu_ms_per_sec', (s) => s.cfg.cgroup_cpu_ms_per_sec),
  { flag: 'oom_score_adj', get: (s) => s.cfg.oom_score_adj, ok: [['-1000', -1000], ['1000', 1000], ['0', 0]], bad: ['-1001', '1001', '2147483648'] },
  portRow('landlock_bind_tcp', (s) => s.cfg.ext.landlock.bind_tcp.at(-1)),
  portRow('landlock_connect_tcp', (s) => s.cfg.ext.landlock.connect_tcp.at(-1)),
  fdRow('status_fd', (s) => s.cfg.ext.status_fd),
  // A cap of 0 would cut everything: refused.
  { flag: 'output_limit', get: (s) => s.cfg.ext.output_limit, ok: [['1', 1n], ['1M', 1n << 20n], ['0x10', 16n], [U64_MAX, (1n << 64n) - 1n]], bad: ['0', '-1', '18446744073709551616', '1MB'] },
  { flag: 'pow', with: ['-Ml', '--port', '1'], get: (s) => s.cfg.ext.pow, ok: [['1', 1], ['1000000', 1000000], ['0x10', 16]], bad: ['0', '1000001', '-1', U32_MAX] },
  { flag: 'pow_timeout', get: (s) => s.cfg.ext.pow_timeout, ok: [['1', 1], ['86400', 86400]], bad: ['0', '86401', '-1'] },
  rl('as', MIB_MAX, MIB_OVER, { bad: ['4G'] }),
  rl('core', MIB_MAX, MIB_OVER),
  rl('cpu', U64_MAX, '18446744073709551617'),
  rl('fsize', MIB_MAX, MIB_OVER),
  rl('nofile', U64_MAX, '18446744073709551617'),
  rl('nproc', U64_MAX, '18446744073709551617'),
  rl('stack', MIB_MAX, MIB_OVER),
  rl('memlock', String((1n << 54n) - 1n), String(1n << 54n)),
  rl('rtprio', U64_MAX, '18446744073709551617'),
  rl('msgqueue', U64_MAX, '16777216T', { ok: [['1M', { value: 1n << 20n, type: 'VALUE' }]] }),
  idRow('user', (s) => s.cli.uidmap[0]),
  idRow('group', (s) => s.cli.gidmap[0]),
  idRow('uid_mapping', (s) => s.cli.uidmap[0]),
  idRow('gid_mapping', (s) => s.cli.gidmap[0]),
];

describe('numeric options', () => {
  it('the table covers every numeric option', () => {
    expect(CLI_ROWS.map((r) => r.flag).sort()).toEqual(FLAGS.filter((f) => f.numeric).map((f) => f.long).sort());
  });

  for (const row of CLI_ROWS) {
    it(`--${row.flag}`, async () => {
      for (const [text, want] of row.ok) {
        const r = await runCli([...(row.with ?? []), `--${row.flag}`, text]);
        expect(r.ok ? '' : r.error, `--${row.flag} ${text}`).toBe('');
        if (r.ok) expect(row.get(r.spec), `--${row.flag} ${text}`).toMatchObject(want as object);
      }
      for (const text of [...row.bad, ...(row.noJunk ? [] : JUNK)]) {
        const r = await runCli([...(row.with ?? []), `--${row.flag}`, text]);
        expect(r.ok, `--${row.flag} '${text}' was accepted`).toBe(false);
        // One line, naming the option (or its field) and the value.
        if (!r.ok) {
          expect(r.error, `--${row.flag} '${text}'`).toMatch(new RegExp(`(${row.flag}|${row.flag.replace(/^(user|uid_mapping)$/, 'uid').replace(/^(group|gid_mapping)$/, 'gid')})`));
          expect(r.error, `--${row.flag} '${text}'`).not.toContain('\n');
        }
      }
    });
  }

  it('-t 18446744073709551616 names the option and the value', async () => {
    expect(await runCli(['-t', '18446744073709551616'])).toEqual({ ok: false, error: "--time_limit: '18446744073709551616' is out of range (0..4294967295)" });
    expect(await runCli(['--user', '4294967296'])).toEqual({ ok: false, error: "--user: id '4294967296' is out of range (0..4294967294)" });
  });

  it('size suffixes are explained in --help of the byte options', () => {
    for (const f of ['cgroup_mem_max', 'cgroup_mem_memsw_max', 'cgroup_mem_swap_max', 'rlimit_msgqueue', 'output_limit']) {
      expect(FLAGS.find((x) => x.long === f)!.help, f).toMatch(/K, M, G or T suffix/);
    }
  });
});

// ---- config fields ---------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'tsjail-numbers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

async function runConfig(text: string): Promise<Outcome> {
  const path = join(dir, `c${serial++}.cfg`);
  writeFileSync(path, text);
  try {
    const { spec } = await parseCommandLine(['-C', path, '--', '/bin/true'], async (s, p) => {
      applyConfigFile(s, p);
    });
    const problems = validateSpec(spec);
    return problems.length ? { ok: false, error: problems.join('; ') } : { ok: true, spec };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** A field path (a.b.c) with a value, as text format and as ProtoJSON. */
function configTexts(path: string, value: string, repeated: boolean, extra?: string): [string, string] {
  const parts = path.split('.');
  const leaf = parts.pop()!;
  // An rlimit value counts only with type VALUE (the default of some is SOFT).
  const rlimitType = /^rlimit_/.test(leaf) ? ` ${leaf}_type: VALUE` : '';
  let text = `${leaf}: ${value}${rlimitType}`;
  // ProtoJSON: a number literal where a double holds it exactly, else the string form (as 64-bit values are written).
  const jsonValue = /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? value : JSON.stringify(value);
  let json = `"${leaf}": ${repeated ? `[${jsonValue}]` : jsonValue}${rlimitType ? `, "${leaf}_type": "VALUE"` : ''}`;
  for (const p of parts.reverse()) {
    // A mount entry needs its required dst.
    if (p === 'mount') [text, json] = [`dst: "/x" ${text}`, `"dst": "/x", ${json}`];
    text = `${p} { ${text} }`;
    json = `"${p}": ${['uidmap', 'gidmap', 'traffic_rule', 'rule4', 'rule6', 'mount'].includes(p) ? `[{${json}}]` : `{${json}}`}`;
  }
  if (extra) {
    text = `${extra} ${text}`;
    json = `${extra.replace(/(\w+): (\w+)/g, (_, k: string, v: string) => `"${k}": ${/^\d+$/.test(v) ? v : `"${v}"`},`)} ${json}`;
  }
  return [text, `{${json}}`];
}

interface FieldRow {
  readonly ok: readonly string[];
  readonly bad: readonly string[];
  /** The field belongs to a capability tsjail refuses as a whole. */
  readonly unsupported?: true;
  /** Top-level text-format fields the value needs to be valid at all (a mode). */
  readonly with?: string;
}

const U32_FIELD: FieldRow = { ok: ['0', U32_MAX, '0x10'], bad: ['4294967296', '-1'] };
const I32_FD: FieldRow = { ok: ['0', '2147483647'], bad: ['-1', '2147483648'] };
const PORT_FIELD: FieldRow = { ok: ['0', '65535'], bad: ['65536', '-1', '4294967296'] };
const MIB_FIELD: FieldRow = { ok: ['0', MIB_MAX], bad: [MIB_OVER, '18446744073709551616', '-1'] };
const U64_FIELD: FieldRow = { ok: ['0', U64_MAX], bad: ['18446744073709551616', '-1'] };

const CONFIG_ROWS: Readonly<Record<string, FieldRow>> = {
  'uidmap.count': { ok: ['1', '0x10'], bad: ['0', '4294967296', '-1'] },
  'gidmap.count': { ok: ['1', '0x10'], bad: ['0', '4294967296', '-1'] },
  port: PORT_FIELD,
  max_conns: U32_FIELD,
  max_conns_per_ip: U32_FIELD,
  time_limit: U32_FIELD,
  max_cpus: U32_FIELD,
  nice_level: { ok: ['-20', '19'], bad: ['-21', '20', '2147483648'] },
  log_fd: I32_FD,
  pass_fd: I32_FD,
  oom_score_adj: { ok: ['-1000', '1000'], bad: ['-1001', '1001', '2147483648'] },
  rlimit_as: MIB_FIELD,
  rlimit_core: MIB_FIELD,
  rlimit_cpu: U64_FIELD,
  rlimit_fsize: MIB_FIELD,
  rlimit_nofile: U64_FIELD,
  rlimit_nproc: U64_FIELD,
  rlimit_stack: MIB_FIELD,
  rlimit_memlock: { ok: ['0', String((1n << 54n) - 1n)], bad: [String(1n << 54n), '-1'] },
  rlimit_rtprio: U64_FIELD,
  rlimit_msgqueue: U64_FIELD,
  cgroup_mem_max: U64_FIELD,
  cgroup_mem_memsw_max: U64_FIELD,
  cgroup_mem_swap_max: { ok: ['-1', '0', '9223372036854775807'], bad: ['-2', '9223372036854775808'] },
  cgroup_pids_max: U64_FIELD,
  cgroup_net_cls_classid: U32_FIELD,
  cgroup_cpu_ms_per_sec: U32_FIELD,
  'traffic_rule.sport': { ok: ['0', '65535'], bad: ['65536', '4294967296', '-1'] },
  'traffic_rule.dport': { ok: ['0', '65535'], bad: ['65536', '4294967296', '-1'] },
  // An end alone is refused: it needs the start of its range.
  'traffic_rule.sport_end': { ok: [], bad: ['1', '65536', '4294967296'] },
  'traffic_rule.dport_end': { ok: [], bad: ['1', '65536', '4294967296'] },
  'user_net.rule4.sport': PORT_FIELD,
  // As traffic_rule's: an end alone is refused.
  'user_net.rule4.sport_end': { ok: [], bad: ['1', '65536', '4294967296'] },
  'user_net.rule4.dport': PORT_FIELD,
  'user_net.rule4.dport_end': { ok: [], bad: ['1', '65536', '4294967296'] },
  'user_net.rule4.redirect_port': PORT_FIELD,
  'user_net.rule6.sport': PORT_FIELD,
  'user_net.rule6.sport_end': { ok: [], bad: ['1', '65536', '4294967296'] },
  'user_net.rule6.dport': PORT_FIELD,
  'user_net.rule6.dport_end': { ok: [], bad: ['1', '65536', '4294967296'] },
  'user_net.rule6.redirect_port': PORT_FIELD,
  'tsjail.landlock.bind_tcp': PORT_FIELD,
  'tsjail.landlock.connect_tcp': PORT_FIELD,
  'tsjail.status_fd': I32_FD,
  'tsjail.pow': { with: 'mode: LISTEN port: 1', ok: ['0', '1000000'], bad: ['1000001', '-1', '4294967296'] },
  'tsjail.pow_timeout': { ok: ['1', '86400'], bad: ['0', '86401', '-1'] },
  'tsjail.output_limit': U64_FIELD,
  'mount.dir_mode': { ok: ['0', '4095', '0x10'], bad: ['4096', '4294967296', '-1'] },
  'mount.src_fd': I32_FD,
};

/** Every integer field reachable from NsJailConfig, as dotted paths, with whether it is repeated. */
function integerFields(): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const walk = (t: Protobuf.Type, prefix: string): void => {
    for (const f of t.fieldsArray) {
      const path = prefix ? `${prefix}.${f.name}` : f.name;
      if (f.resolvedType && 'fieldsArray' in f.resolvedType) walk(f.resolvedType as Protobuf.Type, path);
      else if (/^u?int(32|64)$|^s?fixed|^sint/.test(f.type)) out.set(path, f.repeated);
    }
  };
  walk(loadSchema().NsJailConfig, '');
  return out;
}

describe('numeric config fields', () => {
  const fields = integerFields();

  it('the table covers every integer field of config.proto', () => {
    expect(Object.keys(CONFIG_ROWS).sort()).toEqual([...fields.keys()].sort());
  });

  for (const [path, row] of Object.entries(CONFIG_ROWS)) {
    it(path, async () => {
      const repeated = fields.get(path) ?? false;
      const leaf = path.split('.').pop()!;
      for (const v of row.ok) {
        // ProtoJSON has no hex: only text format takes strtoul syntax.
        const [text0, json] = configTexts(path, v, repeated, row.with);
        for (const text of /^0x/.test(v) ? [text0] : [text0, json]) {
          const r = await runConfig(text);
          expect(r.ok ? '' : r.error, text).toBe('');
        }
      }
      for (const v of [...row.bad, 'ten', '1.5']) {
        for (const text of configTexts(path, v, repeated, row.with)) {
          const r = await runConfig(text);
          expect(r.ok, `${text} was accepted`).toBe(false);
          if (!r.ok) expect(r.error, text).toMatch(row.unsupported && /^-?\d+$/.test(v) && BigInt(v) >= 0n && BigInt(v) < 1n << 32n ? /not supported yet/ : new RegExp(`${leaf}|${path.split('.')[0]}|uid|gid`));
        }
      }
    });
  }
});

describe('parseInteger', () => {
  it('reads strtoul base-0 syntax, the whole text or nothing', () => {
    expect(parseInteger('0x10', 'uint32')).toBe(16n);
    expect(parseInteger('010', 'uint32')).toBe(8n);
    expect(parseInteger('0', 'uint32')).toBe(0n);
    expect(parseInteger('-0x14', 'int32')).toBe(-20n);
    expect(() => parseInteger('12abc', 'uint32')).toThrow("'12abc' is not a number");
    expect(() => parseInteger('1G', 'uint64')).toThrow("'1G' is not a number");
    expect(parseInteger('1G', 'uint64', { sizes: true })).toBe(1n << 30n);
    expect(() => parseInteger('a\nb', 'uint32')).toThrow("'a\\x0ab' is not a number");
  });
});
