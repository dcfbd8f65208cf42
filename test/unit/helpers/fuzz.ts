/**
 * Seeded input generators for the fuzz tests: command lines, config files
 * (text format and ProtoJSON) and Kafel policies, from a deterministic PRNG.
 * Each generated command line says whether it is known to be invalid (one
 * bad value planted last, where no later option can undo it), so the oracle
 * can demand a refusal there; the rest are noise that must only never crash.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FLAGS } from '../../../src/cli/flags.js';
import { PRESETS } from '../../../src/seccomp/presets.js';

/** The fixed seed, unless TSJAIL_FUZZ_SEED asks for another (e.g. a longer local run). */
export const FUZZ_SEED = Number(process.env.TSJAIL_FUZZ_SEED ?? 0x7d5a11);
/** A multiplier for the iteration counts (TSJAIL_FUZZ_SCALE=20 for a long run). */
export const FUZZ_SCALE = Number(process.env.TSJAIL_FUZZ_SCALE ?? 1);

/** mulberry32: small, fast, and the same sequence everywhere. */
export function prng(seed: number) {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number): boolean => next() < p;
  return { next, int, pick, chance };
}
export type Rng = ReturnType<typeof prng>;

const NUMBERS = ['0', '1', '-1', '7', '19', '-20', '1000', '65535', '65536', '2147483647', '2147483648', '4294967295', '4294967296', '18446744073709551615', '18446744073709551616', '99999999999999999999999', '0x10', '0xffffffff', '010', '08', '1K', '64M', '2T', '1e3', '1.5', '+3', '--1', 'ten', 'inf', 'soft', 'hard', 'max', 'def', 'NaN', ''];
const PATHS = ['/', '/tmp', '/proc', '/dev/null', '/nonexistent', 'relative', '.', '..', '/a/../b', '/tmp/x:/y', '/a:/b:ro', 'none:/t:tmpfs:size=1m', '/proc/self/fd:/dev/fd', ':::', ':', '/dev/zero', '/etc/passwd'];
const IDS = ['1000', '0', '0:0:1', '1:1:0', '0:0:4294967295', '1:1:4294967295', 'root', 'nobody', 'nobody:nogroup', '99999:1000:1', ':', '::', '4294967294', '4294967295', '0x10:0x10:0x10'];
const WORDS = ['l', 'o', 'e', 'r', 'x', 'text', 'json', 'old', 'new', 'auto', '3.4', 'master', 'CAP_NET_ADMIN', 'CAP_BOGUS', 'abstract_unix', 'signal', 'read,write', 'deny_devel', 'bogus', 'A=1', 'PATH', 'NO_SUCH_VAR_FUZZ', 'a=b=c', '='];
const POLICIES = ['ALLOW { read } DEFAULT KILL', 'DEFAULT ALLOW', 'ERRNO(1) { write { fd == 1 } }', 'ALLOW {', '}', 'ERRNO(99999) { read }', 'POLICY a { ALLOW { read } } USE a DEFAULT ALLOW', 'USE nope', '#define X 1\nALLOW { read { fd == X } }', 'KILL { SYSCALL[-1] }'];
const ODD = ['-', '--', '-x', '--bogus', '-Mz', '--time=5', '--rlimit_', '-Qc/', '-vq', '--chr', '-?', '-h', '--=', '---x', '-C'];

/** A string of random characters: ASCII, control, separators and some non-ASCII. */
export function randomText(r: Rng, max = 12): string {
  const alphabet = 'abcXYZ019 /:,=-_.\t\n"\'\\{}[]()#$*?é€\u0001\u007f\u200b';
  let s = '';
  for (let n = r.int(max + 1); n > 0; n--) s += r.pick([...alphabet]);
  return s;
}

function value(r: Rng): string {
  switch (r.int(8)) {
    case 0:
    case 1:
      return r.pick(NUMBERS);
    case 2:
      return r.pick(PATHS);
    case 3:
      return r.pick(IDS);
    case 4:
      return r.pick(WORDS);
    case 5:
      return r.pick(POLICIES);
    case 6:
      return randomText(r);
    default:
      return r.pick(NUMBERS) + r.pick(['', 'x', ' ', ':', 'K', 'MB', '\n']);
  }
}

/** Values each refused whatever comes before them (they come last): one is planted in every "invalid" command line. */
export const KNOWN_BAD: ReadonlyArray<readonly string[]> = [
  ['--time_limit', 'ten'],
  ['-t', '18446744073709551616'],
  ['--user', '4294967296'],
  ['--group', '99999999999'],
  ['-u', '1:1:0'],
  ['-g', '1:1:4294967295'],
  ['--cgroup_mem_max', '64MB'],
  ['--cgroup_mem_swap_max', '-2'],
  ['--port', '65536'],
  ['--nice_level', '20'],
  ['--oom_score_adj', '-1001'],
  ['--rlimit_as', '17592186044416'],
  ['--rlimit_nofile', '12x'],
  ['--log_fd', '-1'],
  ['--pass_fd', 'abc'],
  ['--max_conns', '-1'],
  ['--cap', 'CAP_BOGUS'],
  ['-M', 'z'],
  ['--experimental_mnt', 'x'],
  ['--log_format', 'xml'],
  ['--bogus_option'],
  ['--landlock_bind_tcp', '70000'],
  ['--landlock_scope', 'nope'],
  ['--traffic_rule', 'dport=9-1'],
  ['--mount', 'none:relative:tmpfs'],
];

export interface CommandLine {
  readonly argv: string[];
  /** A bad value was planted: the run must be refused. */
  readonly invalid: boolean;
}

const OPTIONS = FLAGS.filter((f) => !f.legacy && !['help', 'version', 'config', 'dump_config'].includes(f.long));

/**
 * Options that write to the host when tsjail really runs: the log file is
 * opened before validation, --daemon detaches and logs to /var/log. Left out
 * of command lines run through the real CLI.
 */
export const WRITES_HOST = ['log', 'daemon', 'status_file', 'seccomp_unotify_report'];

/** Random options (config files from `configs`, when given), then maybe a planted bad value, then maybe a command. */
export function commandLine(r: Rng, configs: readonly string[] = [], opts: { invalid?: boolean; exclude?: readonly string[] } = {}): CommandLine {
  const argv: string[] = [];
  const invalid = opts.invalid ?? r.chance(0.4);
  const options = opts.exclude ? OPTIONS.filter((f) => !opts.exclude!.includes(f.long)) : OPTIONS;
  for (let n = r.int(7); n > 0; n--) {
    // Odd tokens ('--', '-x' without its value…) could swallow the planted value: noise only.
    if (!invalid && r.chance(0.05)) {
      argv.push(r.pick(ODD));
      continue;
    }
    if (configs.length && r.chance(0.08)) {
      argv.push('-C', r.pick(configs));
      continue;
    }
    const f = r.pick(options);
    const name = f.short && r.chance(0.3) ? `-${f.short}` : `--${f.long}`;
    if (!f.arg) argv.push(name);
    else if (r.chance(0.2) && name.startsWith('--')) argv.push(`${name}=${value(r)}`);
    else argv.push(name, value(r));
  }
  if (invalid) argv.push(...r.pick(KNOWN_BAD));
  if (r.chance(0.8)) argv.push('--', r.pick(['/bin/true', '/bin/sh', 'relative', '']), ...(r.chance(0.3) ? [randomText(r)] : []));
  return { argv, invalid };
}

// ---- text mutation ----------------------------------------------------------

/** One random edit: delete, duplicate, insert a dictionary token, replace a character, or cut. */
export function mutate(r: Rng, text: string, dictionary: readonly string[]): string {
  const at = r.int(text.length + 1);
  const span = 1 + r.int(Math.min(40, Math.max(1, text.length - at)));
  switch (r.int(6)) {
    case 0:
      return text.slice(0, at) + text.slice(at + span);
    case 1:
      return text.slice(0, at) + text.slice(at, at + span).repeat(2 + r.int(3)) + text.slice(at);
    case 2:
    case 3:
      return text.slice(0, at) + r.pick(dictionary) + text.slice(at);
    case 4:
      return text.slice(0, at) + randomText(r, 3) + text.slice(at + 1);
    default:
      return text.slice(0, at);
  }
}

export function mutateMany(r: Rng, text: string, dictionary: readonly string[]): string {
  let t = text;
  for (let n = 1 + r.int(4); n > 0; n--) t = mutate(r, t, dictionary);
  return t;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The repository's example configs, plus inline seeds in both formats. */
export function configSeeds(): string[] {
  const dir = `${ROOT}configs/`;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cfg')).sort();
  return [
    ...files.map((f) => readFileSync(dir + f, 'utf8')),
    'hostname: "h" time_limit: 5 uidmap { inside_id: "0" count: 1 } mount { src: "/" dst: "/" is_bind: true } exec_bin { path: "/bin/sh" arg: "-c" arg0: "sh" }',
    '{"hostname": "j", "timeLimit": 5, "rlimitAsType": "INF", "mount": [{"dst": "/tmp", "fstype": "tmpfs", "rw": true}], "execBin": {"path": "/bin/true"}, "seccompString": ["DEFAULT ALLOW"]}',
    'mode: LISTEN port: 31337 cgroup_mem_max: 1048576 cgroup_mem_swap_max: -1 rlimit_nofile_type: HARD tsjail { landlock { ro: "/usr" bind_tcp: 80 } status_fd: 3 log_format: "json" }',
  ];
}

/** Field names of config.proto and the tokens of both formats. */
export const CONFIG_TOKENS: readonly string[] = [
  '{', '}', '[', ']', '<', '>', ':', ',', ';', '"', "'", '#', '\n', ' ', '\\', '\\0', '\\x00', '\\u0000', '\\377', '-',
  'null', 'true', 'false', '1e400', '-0', '0x', '1.5', '18446744073709551616', '-9223372036854775809', '4294967296', '"\\n"',
  'hostname', 'mount', 'dst', 'src', 'is_bind', 'exec_bin', 'path', 'arg', 'arg0', 'uidmap', 'count', 'time_limit', 'port',
  'rlimit_as', 'rlimit_as_type', 'INF', 'SOFT', 'VALUE', 'mode', 'LISTEN', 'ONCE', 'log_level', 'FATAL', 'seccomp_string',
  'tsjail', 'landlock', 'bind_tcp', 'user_net', 'traffic_rule', 'envar', 'pass_fd', 'cgroup_mem_max', 'src_content',
  '"execBin"', '"timeLimit"', '"mount"', '"hostname"', '{}', '[]', '[[[[[[[[', '{{{{{{{{', 'mount {', 'mount: [',
];

export const KAFEL_TOKENS: readonly string[] = [
  'ALLOW', 'KILL', 'KILL_PROCESS', 'KILL_THREAD', 'DENY', 'LOG', 'USER_NOTIF', 'ERRNO(1)', 'ERRNO(65536)', 'TRAP(0)', 'TRACE(7)',
  'DEFAULT', 'POLICY', 'USE', '#define', '#include "x"', 'SYSCALL[', 'SYSCALL[-1]', 'ON', 'x86_64', 'i386', 'bogusarch',
  '{', '}', '(', ')', ',', '&&', '||', '!', '==', '!=', '<', '<=', '>', '>=', '&', '|', '/*', '*/', '//', '\n', ' ',
  'read', 'write', 'openat', 'nosuchcall', 'fd', 'buf', 'count', 'a0', '0', '1', '0xffffffffffffffff', '0x1ffffffffffffffff',
  '18446744073709551616', '-1', '99999999999999999999999', '"s"', '\0', '\u00e9', '$', '((((((((((', ')))))))))',
];

export function kafelSeeds(): string[] {
  return [
    ...Object.values(PRESETS),
    'ALLOW { read, write { fd == 1 || fd == 2 }, openat(dirfd, path, flags) { (flags & 3) != 0 } } DEFAULT KILL',
    '#define STDOUT 1\nPOLICY out { ERRNO(9) { write { fd != STDOUT } } }\nUSE out, ALLOW { exit_group } DEFAULT ERRNO(1)',
    'KILL_PROCESS { ptrace, process_vm_readv } ERRNO(38) { io_uring_setup } DEFAULT ALLOW',
    'ALLOW { SYSCALL[0], mmap ON x86_64 { a0 == 0 && !(a2 & 4 == 4) } } TRAP(3) { kill } DEFAULT LOG',
  ];
}
