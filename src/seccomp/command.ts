/**
 * `tsjail seccomp <compile|dump|eval|lint>`: policy tools over the compiler and the
 * interpreter. Policy sources are the jail's own flags (`--policy` is
 * `--seccomp_string`, `--policy_file` is `--seccomp_policy`), so a policy can be
 * tried here exactly as the jail would build it.
 */
import { writeFileSync } from 'node:fs';
import { InputFileError } from '../input-file.js';
import { formatAction } from './actions.js';
import { archByName } from './arch.js';
import { loadBpfFile } from './bpffile.js';
import { decode, encode, type SockFilter } from './bpf.js';
import { disassemble } from './disasm.js';
import { SeccompCompileError } from './errors.js';
import { describeFindings } from './equivalents.js';
import { analyze, buildModel, compileModel, type SeccompInput } from './index.js';
import { run } from './interp.js';
import { syscallByName, TABLES } from './syscalls/index.js';

type Io = { stdout: (s: string) => void; stderr: (s: string) => void };
type Sub = 'compile' | 'dump' | 'eval' | 'lint';
const SUBS: readonly Sub[] = ['compile', 'dump', 'eval', 'lint'];

interface Opts {
  input: SeccompInput;
  filterFile?: string;
  out?: string;
  syscall?: string;
  args?: string;
  arch?: string;
  ip?: string;
}

const USAGE = `Usage: tsjail seccomp <command> [options]

Commands:
  compile -o FILE       write the filter as raw struct sock_filter[] (8 bytes each, little-endian)
  dump                  print the filter as annotated BPF
  eval --syscall NAME|NR [--args A,B,...] [--arch ARCH] [--ip N]
                        print the filter's decision: ALLOW, ERRNO(n), KILL_PROCESS, KILL_THREAD,
                        TRAP(n), TRACE(n), LOG or USER_NOTIF
  lint                  name the equivalents of restricted calls (openat: open, openat2, io_uring…)
                        the rules leave open; exit 1 when one stays open in tsjail

Filter sources (as for the jail; combinable except --policy with --policy_file):
  --policy TEXT         Kafel policy text, repeatable (like --seccomp_string)
  --policy_file FILE    Kafel policy file (like --seccomp_policy)
  --syscall_allow LIST  only these syscalls; everything else fails with EPERM
  --syscall_deny LIST   these syscalls fail with EPERM
  --seccomp_preset LIST presets (default, deny_common, deny_system, deny_userns, deny_mount,
                        deny_chown, deny_setid, deny_ns, deny_emu, deny_socket_family,
                        deny_personality, deny_io_uring, deny_tty, deny_devel)
  --seccomp_no_equivalents
                        apply rules only to the calls they name (as Kafel does)
  --filter_file FILE    a raw filter written by 'compile' or another tool (dump and eval only)
`;

class UsageError extends Error {}

const VALUE_OPTS: Readonly<Record<string, (o: Opts, v: string) => void>> = {
  '--policy': (o, v) => void o.input.policies.push(v),
  '--policy_file': (o, v) => void (o.input.policyFile = v),
  '--syscall_allow': (o, v) => void o.input.allow.push(v),
  '--syscall_deny': (o, v) => void o.input.deny.push(v),
  '--seccomp_preset': (o, v) => void o.input.presets.push(v),
  '--filter_file': (o, v) => void (o.filterFile = v),
  '-o': (o, v) => void (o.out = v),
  '--syscall': (o, v) => void (o.syscall = v),
  '--args': (o, v) => void (o.args = v),
  '--arch': (o, v) => void (o.arch = v),
  '--ip': (o, v) => void (o.ip = v),
};
const FLAG_OPTS: Readonly<Record<string, (o: Opts) => void>> = {
  '--seccomp_no_equivalents': (o) => void (o.input.equivalents = false),
};
const ONLY_FOR: Readonly<Record<string, readonly Sub[]>> = {
  '-o': ['compile'], '--syscall': ['eval'], '--args': ['eval'], '--arch': ['eval'], '--ip': ['eval'], '--filter_file': ['dump', 'eval'],
};

function parseArgs(sub: Sub, argv: readonly string[]): Opts {
  const o: Opts = { input: { policies: [], allow: [], deny: [], presets: [] } };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const flag = FLAG_OPTS[name];
    if (flag) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      flag(o);
      continue;
    }
    const set = VALUE_OPTS[name];
    if (!set) throw new UsageError(`unknown option '${arg}'`);
    if (ONLY_FOR[name] && !ONLY_FOR[name]!.includes(sub)) throw new UsageError(`${name} does not apply to '${sub}'`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    set(o, value);
  }
  return o;
}

/** A u64 from decimal, 0x hex or a negative decimal (wrapped, as a C caller would pass it). */
function parseU64(s: string, what: string): bigint {
  const t = s.trim();
  if (!/^(-?\d+|0x[0-9a-f]+)$/i.test(t)) throw new UsageError(`${what}: '${s}' is not a number`);
  const v = BigInt(t);
  if (v >= 1n << 64n || v < -(1n << 63n)) throw new UsageError(`${what}: '${s}' does not fit in 64 bits`);
  return BigInt.asUintN(64, v);
}

function loadProgram(o: Opts): SockFilter[] {
  if (o.filterFile !== undefined) {
    if (buildModel(o.input) !== undefined) throw new UsageError('--filter_file cannot be combined with policy options');
    return decode(loadBpfFile(o.filterFile, '--filter_file'));
  }
  const model = buildModel(o.input);
  if (!model) throw new UsageError('no filter given: use --policy, --policy_file, --syscall_allow, --syscall_deny or --seccomp_preset');
  return decode(compileModel(model).program);
}

function evaluate(o: Opts, prog: SockFilter[]): string {
  const table = TABLES.x86_64!;
  if (o.syscall === undefined) throw new UsageError('eval needs --syscall NAME|NR');
  const named = syscallByName(table, o.syscall);
  const nr = named ? named.nr : parseU64(o.syscall, '--syscall');
  if (nr > 0xffffffffn) throw new UsageError(`--syscall: ${o.syscall} is not a 32-bit syscall number`);
  let arch = table.auditArch;
  if (o.arch !== undefined) {
    const known = archByName(o.arch);
    arch = known ? known.auditArch : Number(parseU64(o.arch, '--arch') & 0xffffffffn);
  }
  const args = o.args === undefined || o.args === '' ? [] : o.args.split(',').map((a) => parseU64(a, '--args'));
  if (args.length > 6) throw new UsageError('--args: at most 6 arguments');
  const ip = o.ip === undefined ? 0n : parseU64(o.ip, '--ip');
  return formatAction(run(prog, { nr: Number(nr), arch, instruction_pointer: ip, args }).ret);
}

/** Prints the equivalents findings; 1 when one stays open in tsjail. */
function lint(o: Opts, io: Io): number {
  const a = analyze(o.input);
  if (!a) throw new UsageError('no filter given: use --policy, --policy_file, --syscall_allow, --syscall_deny or --seccomp_preset');
  const lines = describeFindings(a.findings);
  if (!lines.length) {
    const def = formatAction(a.model.defaultAction);
    io.stdout(def === 'ALLOW' || def === 'LOG' ? 'no equivalent left open\n' : `DEFAULT ${def}: calls the rules do not name are refused, equivalents included\n`);
    return 0;
  }
  for (const l of lines) io.stdout(`${l.state === 'added' ? 'note' : 'open'}: ${l.text}\n`);
  return lines.some((l) => l.state !== 'added') ? 1 : 0;
}

/**
 * `tsjail seccomp compile|dump|eval|lint …`; returns the exit code: 0, 1 for
 * lint's open equivalents, 255 for a command line or an input it refuses (one
 * line naming the problem, as the jail's options are refused; --help prints
 * the usage).
 */
export async function runSeccompCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  try {
    if (sub === undefined) throw new UsageError(`a command is needed: ${SUBS.join(', ')}`);
    if (!SUBS.includes(sub as Sub)) throw new UsageError(`unknown command '${sub}'`);
    if (rest.includes('-h') || rest.includes('--help')) {
      io.stdout(USAGE);
      return 0;
    }
    const cmd = sub as Sub;
    const o = parseArgs(cmd, rest);
    if (cmd === 'lint') return lint(o, io);
    const prog = loadProgram(o);
    switch (cmd) {
      case 'compile': {
        if (o.out === undefined) throw new UsageError('compile needs -o FILE');
        writeFileSync(o.out, encode(prog));
        io.stderr(`${o.out}: ${prog.length} instructions\n`);
        return 0;
      }
      case 'dump':
        io.stdout(disassemble(prog, TABLES.x86_64));
        return 0;
      case 'eval':
        io.stdout(`${evaluate(o, prog)}\n`);
        return 0;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`tsjail seccomp: ${e.message}\nsee tsjail seccomp --help\n`);
      return 255;
    }
    if (e instanceof SeccompCompileError || e instanceof InputFileError) {
      io.stderr(`tsjail seccomp: ${e.message}\n`);
      return 255;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code && err.syscall) {
      io.stderr(`tsjail seccomp: ${err.message}\n`);
      return 255;
    }
    throw e;
  }
}
