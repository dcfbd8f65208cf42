/**
 * tsjail's seccomp layer: Kafel policies, simple allow/deny lists and presets
 * compiled to classic BPF in TypeScript (kafel-spec.md), in the parent before
 * clone; the child only installs the bytes.
 *
 * Combination order (one first-match list, compiled by one compiler):
 *   1. `--seccomp_preset` rules, in the order given (see presets.ts);
 *   2. `--syscall_deny` names → ERRNO(EPERM);
 *   3. the Kafel policy (`--seccomp_string` entries or `--seccomp_policy` file);
 *   4. `--syscall_allow` names → ALLOW.
 * DEFAULT: with `--syscall_allow` it is ERRNO(EPERM) (a Kafel DEFAULT is then an
 * error: the two would contradict); otherwise the policy's DEFAULT, KILL_THREAD
 * when a policy omits it (Kafel's rule), or ALLOW when only presets/deny lists
 * are given. Presets and deny lists come first so a policy cannot re-allow what
 * the operator asked to deny; the policy comes before the allow list so its
 * conditions can narrow an allowed call.
 *
 * Equivalents (equivalents.ts): when DEFAULT lets calls through, a rule on a
 * call is carried over to the other forms of the same operation (openat →
 * open, openat2, io_uring…), the operator's right after the deny list, the
 * policy's right after the policy. `equivalents: false` turns that off; the
 * findings name what is then left open.
 *
 * x32: calls with __X32_SYSCALL_BIT (0x40000000) arrive with AUDIT_ARCH_X86_64,
 * so the arch check does not stop them, and Kafel sends them to DEFAULT — with
 * the usual `DEFAULT ALLOW` deny-list that lets `ptrace` through as x32 call
 * 0x40000065. tsjail answers every number in 0x40000000..0xFFFFFFFE that no rule
 * names with SECCOMP_RET_KILL_PROCESS instead of DEFAULT: an x86_64 jail runs no
 * x32 code, so such a call is an evasion attempt, and killing the process is
 * loud (exit 159, an audit record the violation helper names) where ERRNO
 * would let a probe continue quietly. Explicit rules (`SYSCALL[0x40000065]`, a
 * #define'd number) still apply first, and nr 0xFFFFFFFF (-1) keeps DEFAULT: it
 * is how a ptrace/SECCOMP_RET_TRACE tracer skips a call, and seccomp re-checks
 * the new number.
 */
import { InputFileError, readInputFile } from '../input-file.js';
import { printable } from '../text.js';
import { action, type Action } from './actions.js';
import { encode } from './bpf.js';
import { generate } from './codegen.js';
import { SeccompCompileError } from './errors.js';
import type { Model, Rule } from './model.js';
import { parse } from './parser.js';
import { applyEquivalents, isPermissive, type Finding } from './equivalents.js';
import { expandPresets, PRESETS, presetNames } from './presets.js';
import { resolve } from './resolve.js';
import { syscallByName, TABLES, type SyscallTable } from './syscalls/index.js';

export { SeccompCompileError } from './errors.js';
export { loadBpfFile } from './bpffile.js';
export { describeFindings } from './equivalents.js';
export { formatAction } from './actions.js';
export type { SeccompData } from './model.js';

export interface SeccompInput {
  /** `--seccomp_string` entries in order; joined as nsjail does (each followed by "\n"). */
  policies: string[];
  /** `--seccomp_policy FILE`; read here, compiled as it is. */
  policyFile?: string;
  /** `--syscall_allow` values; each may be a comma-separated list of names or numbers. */
  allow: string[];
  /** `--syscall_deny` values, same form. */
  deny: string[];
  /** `--seccomp_preset` values, same form (presets.ts). */
  presets: string[];
  /** Carry deny rules over to equivalent calls (default true; `--seccomp_no_equivalents` sets false). */
  equivalents?: boolean;
}

export interface CompiledFilter {
  /** struct sock_filter[] little-endian, 8 bytes each, ready for struct sock_fprog. */
  program: Uint8Array;
  /** Instruction count (sock_fprog.len). */
  length: number;
  /** Equivalents the rules leave open, or that tsjail closed (equivalents.ts). */
  findings: Finding[];
}

export type { Finding } from './equivalents.js';

export const EPERM = 1;
/** What unnamed x32-range numbers get (see above). */
export const X32_ACTION: Action = action('KILL_PROCESS');

const splitList = (values: readonly string[]) => values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);

function listRules(flag: string, values: readonly string[], act: Action, table: SyscallTable): Rule[] {
  return splitList(values).map((name) => {
    const nr = /^\d+$/.test(name) ? Number(name) : syscallByName(table, name)?.nr;
    if (nr === undefined || nr > 0xffffffff) throw new SeccompCompileError(`${flag}: unknown syscall \`${printable(name)}'`);
    return { nr, action: act };
  });
}

/** Builds the decision model for an input; undefined when nothing was asked. */
export function buildModel(input: SeccompInput, table: SyscallTable = TABLES.x86_64!): Model | undefined {
  return analyze(input, table)?.model;
}

/** The decision model and the equivalents findings; undefined when nothing was asked. */
export function analyze(input: SeccompInput, table: SyscallTable = TABLES.x86_64!): { model: Model; findings: Finding[] } | undefined {
  const hasPolicy = input.policies.length > 0 || input.policyFile !== undefined;
  const presets = splitList(input.presets);
  if (!hasPolicy && !splitList(input.allow).length && !splitList(input.deny).length && !presets.length) return undefined;
  if (input.policies.length > 0 && input.policyFile !== undefined) {
    throw new SeccompCompileError('--seccomp_string and --seccomp_policy: specify one only');
  }

  const operator: Rule[] = [];
  const expanded = expandPresets(presets);
  if (expanded.unknown !== undefined) {
    throw new SeccompCompileError(`--seccomp_preset: unknown preset \`${printable(expanded.unknown)}' (known: ${presetNames().join(', ')})`);
  }
  for (const name of expanded.presets) operator.push(...resolve(parse(PRESETS[name]), table).rules);
  operator.push(...listRules('--syscall_deny', input.deny, action('ERRNO', EPERM), table));

  let policy: Rule[] = [];
  let policyDefault: Action | undefined;
  if (hasPolicy) {
    const text = input.policyFile !== undefined ? readPolicyFile(input.policyFile) : input.policies.map((p) => `${p}\n`).join('');
    const program = parse(text);
    const r = resolve(program, table);
    policy = r.rules;
    policyDefault = r.defaultAction ?? action('KILL_THREAD');
    if (program.defaultAction !== undefined && splitList(input.allow).length) {
      throw new SeccompCompileError('DEFAULT cannot be combined with --syscall_allow, which makes everything else fail with EPERM', program.defaultPos);
    }
  }
  const allow = listRules('--syscall_allow', input.allow, action('ALLOW'), table);
  const defaultAction = allow.length ? action('ERRNO', EPERM) : (policyDefault ?? action('ALLOW'));
  let layers: Rule[][] = [operator, policy];
  let findings: Finding[] = [];
  if (isPermissive(defaultAction)) ({ layers, findings } = applyEquivalents(layers, table, input.equivalents !== false));
  const rules = [...layers.flat(), ...allow];
  return { model: { auditArch: table.auditArch, rules, defaultAction, x32Action: X32_ACTION }, findings };
}

function readPolicyFile(path: string): string {
  try {
    // latin1 keeps bytes 1:1, so a stray non-ASCII byte is reported like Kafel does.
    return readInputFile(path, '--seccomp_policy').toString('latin1');
  } catch (e) {
    if (e instanceof InputFileError) throw new SeccompCompileError(e.message);
    throw e;
  }
}

/** Compiles a model into sock_filter bytes. */
export function compileModel(model: Model, findings: Finding[] = []): CompiledFilter {
  const prog = generate(model);
  return { program: encode(prog), length: prog.length, findings };
}

/**
 * Compiles everything seccomp-related on the command line into one filter;
 * undefined when nothing was asked. Throws SeccompCompileError.
 */
export function compileSeccomp(input: SeccompInput): CompiledFilter | undefined {
  const a = analyze(input);
  return a && compileModel(a.model, a.findings);
}
