/**
 * Seeded fuzzing of the command line, config files (text and JSON) and Kafel,
 * through the real in-process pipeline: parse → validate → prepare → seccomp
 * compile → child plan → --dump_config. The oracle: every input is either
 * accepted, or refused with an error tsjail raises on purpose whose message
 * is one line; never an exception of JavaScript itself (a bug), never a hang,
 * and never acceptance of an input known to be invalid. The seed is fixed and
 * printed; TSJAIL_FUZZ_SEED / TSJAIL_FUZZ_SCALE run other or longer sequences.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError } from '../../src/cli/parse.js';
import { applyConfigFile } from '../../src/config/apply.js';
import { dumpConfig } from '../../src/config/dump.js';
import { ConfigError } from '../../src/config/load.js';
import { newContext } from '../../src/phases/context.js';
import { describeOp } from '../../src/plan/describe.js';
import { encodePlan } from '../../src/plan/encode.js';
import { buildChildProgram } from '../../src/plan/program.js';
import { prepare, PrepareError } from '../../src/prepare.js';
import { decode } from '../../src/seccomp/bpf.js';
import { compileSeccomp, SeccompCompileError } from '../../src/seccomp/index.js';
import { verify } from '../../src/seccomp/interp.js';
import { validateSpec } from '../../src/validate.js';
import { FAKE_HOST } from './helpers/host.js';
import { commandLine, CONFIG_TOKENS, configSeeds, FUZZ_SCALE, FUZZ_SEED, KAFEL_TOKENS, kafelSeeds, mutateMany, prng } from './helpers/fuzz.js';

const CLI_CASES = 300 * FUZZ_SCALE;
const CONFIG_CASES = 300 * FUZZ_SCALE;
const KAFEL_CASES = 600 * FUZZ_SCALE;
/** Far above any case's real cost: a case slower than this counts as a hang. */
const SLOW_MS = 2000;

const dir = mkdtempSync(join(tmpdir(), 'tsjail-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Errors tsjail raises on purpose; anything else escaping the pipeline is a bug. */
const EXPECTED = [UsageError, ConfigError, PrepareError, SeccompCompileError] as const;

type Verdict = { ok: true } | { ok: false; errors: string[] };

function refusal(e: unknown): Verdict {
  if (!EXPECTED.some((c) => e instanceof c)) throw e;
  return { ok: false, errors: [(e as Error).message] };
}

/** Everything main and execute do with a command line short of cloning a jail. */
async function pipeline(argv: readonly string[]): Promise<Verdict> {
  let spec;
  try {
    spec = (await parseCommandLine(argv, async (s, path) => void applyConfigFile(s, path))).spec;
  } catch (e) {
    return refusal(e);
  }
  const problems = validateSpec(spec);
  if (problems.length) return { ok: false, errors: problems };
  try {
    const p = prepare(spec, FAKE_HOST);
    const e = spec.cfg.ext;
    const filter = compileSeccomp({ policies: spec.cfg.seccomp_string, policyFile: spec.cfg.seccomp_policy_file, allow: e.syscall_allow, deny: e.syscall_deny, presets: e.seccomp_preset });
    const ops = buildChildProgram({ ...p, seccomp: filter?.program }, newContext({ syncFd: 10, syncParentFd: 11, errFd: 12 }));
    encodePlan(ops, describeOp);
    dumpConfig(spec);
  } catch (e) {
    return refusal(e);
  }
  return { ok: true };
}

/** Error messages are one line; the one exception is the config error that shows both formats' reasons. */
function expectClean(v: Verdict, what: string): void {
  if (v.ok) return;
  expect(v.errors.length, what).toBeGreaterThan(0);
  for (const m of v.errors) {
    expect(m.trim(), what).not.toBe('');
    expect(m, what).not.toMatch(/^\s+at /m);
    if (!/^Couldn't parse config file '.*' as text format or as ProtoJSON:\n {2}\S.*\n {2}\S.*$/.test(m)) expect(m, `${what}: ${JSON.stringify(m)}`).not.toContain('\n');
  }
}

async function timed<T>(what: string, f: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).stack ?? e}`);
  } finally {
    const ms = performance.now() - t0;
    if (ms > SLOW_MS) throw new Error(`${what}: took ${Math.round(ms)} ms`);
  }
}

console.log(`fuzz seed 0x${FUZZ_SEED.toString(16)} (TSJAIL_FUZZ_SEED), scale ${FUZZ_SCALE} (TSJAIL_FUZZ_SCALE)`);

/** Fuzzed config files, also used by the command-line cases. */
function writeConfigs(seed: number, n: number): Array<{ path: string; text: string; invalid: boolean }> {
  const r = prng(seed);
  const seeds = configSeeds();
  const planted = ['port: 70000', 'time_limit: -1', 'cwd: "/tmp\\0x"', 'uidmap { count: 0 }', 'mount { dst: "rel" }', 'traffic_rule { dport: 70000 }', 'nice_level: 20', 'bogus_field: 1'];
  const plantedJson = ['"port": 70000', '"timeLimit": -1', '"cwd": "/tmp\\u0000x"', '"uidmap": [{"count": 0}]', '"niceLevel": 20', '"bogusField": 1'];
  return Array.from({ length: n }, (_, i) => {
    const base = r.pick(seeds);
    let text = r.chance(0.8) ? mutateMany(r, base, CONFIG_TOKENS) : base;
    const invalid = r.chance(0.3);
    if (invalid) {
      // A planted bad field in a seed left intact, so nothing else decides the outcome.
      // Last in the object: JSON.parse keeps the last of two equal keys.
      text = base.trimStart().startsWith('{') ? base.replace(/}\s*$/, `, ${r.pick(plantedJson)}}`) : `${base}\n${r.pick(planted)}\n`;
    }
    const path = join(dir, `s${seed.toString(16)}-${i}.cfg`);
    writeFileSync(path, text);
    return { path, text, invalid };
  });
}

describe(`fuzz (seed 0x${FUZZ_SEED.toString(16)})`, () => {
  it(`${CLI_CASES} command lines`, async () => {
    const configs = writeConfigs(FUZZ_SEED ^ 0xc0f1, 20).map((c) => c.path);
    const r = prng(FUZZ_SEED);
    let refused = 0;
    for (let i = 0; i < CLI_CASES; i++) {
      const { argv, invalid } = commandLine(r, configs);
      const what = `case ${i}: tsjail ${JSON.stringify(argv)}`;
      const v = await timed(what, () => pipeline(argv));
      expectClean(v, what);
      if (invalid) expect(v.ok, `${what} was accepted`).toBe(false);
      if (!v.ok) refused++;
    }
    // The generator must exercise both outcomes, or the oracle proves little.
    expect(refused).toBeGreaterThan(CLI_CASES / 3);
    expect(refused).toBeLessThan(CLI_CASES);
  });

  it(`${CONFIG_CASES} config files, text format and ProtoJSON`, async () => {
    let accepted = 0;
    for (const [i, c] of writeConfigs(FUZZ_SEED ^ 0xcf9, CONFIG_CASES).entries()) {
      const what = `case ${i}: ${JSON.stringify(c.text.length > 400 ? `${c.text.slice(0, 400)}…` : c.text)}`;
      const v = await timed(what, () => pipeline(['-C', c.path, '--', '/bin/true']));
      expectClean(v, what);
      if (c.invalid) expect(v.ok, `${what} was accepted`).toBe(false);
      if (v.ok) accepted++;
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it(`${KAFEL_CASES} Kafel policies`, async () => {
    const r = prng(FUZZ_SEED ^ 0x5ecc);
    const seeds = kafelSeeds();
    const planted = ['\nALLOW {', '\n}', '\nERRNO(65536) { read }', '\nUSE no_such_policy_fuzz', '\nALLOW { nosuchsyscall_fuzz }', '\nALLOW { read { fd & 1 } }'];
    let accepted = 0;
    for (let i = 0; i < KAFEL_CASES; i++) {
      const base = r.pick(seeds);
      const invalid = r.chance(0.2);
      const policy = invalid ? `${base}${r.pick(planted)}` : mutateMany(r, base, KAFEL_TOKENS);
      const what = `case ${i}: ${JSON.stringify(policy)}`;
      const v = await timed(what, () => {
        try {
          const f = compileSeccomp({ policies: [policy], allow: [], deny: [], presets: [] });
          if (f) {
            expect(verify(decode(f.program)), what).toEqual([]);
            expect(f.length, what).toBeLessThanOrEqual(4096);
          }
          return { ok: true } as Verdict;
        } catch (e) {
          return refusal(e);
        }
      });
      expectClean(v, what);
      if (invalid) expect(v.ok, `${what} was accepted`).toBe(false);
      if (v.ok) accepted++;
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
