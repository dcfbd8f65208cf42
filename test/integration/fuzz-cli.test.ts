/**
 * The fuzz test's command lines through the real CLI, a few of them: each is
 * known to be invalid, so tsjail must exit 255 with its own error lines —
 * no JavaScript stack, no hang — and never start a jail. (The thorough part
 * runs in-process: test/unit/fuzz.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { commandLine, FUZZ_SEED, prng, WRITES_HOST } from '../unit/helpers/fuzz.js';
import { runTsjail } from './helpers/run-tsjail.js';

const RUNS = 8;

describe(`the real CLI on fuzzed invalid command lines (seed 0x${FUZZ_SEED.toString(16)})`, () => {
  const r = prng(FUZZ_SEED ^ 0xc11);
  // Errors are looked for on stderr: options that log elsewhere or hide errors (-Q) are left out too.
  const exclude = [...WRITES_HOST, 'log_fd', 'really_quiet'];
  const cases = Array.from({ length: RUNS }, () => commandLine(r, [], { invalid: true, exclude }).argv);

  it.each(cases.map((argv, i) => [i, argv] as const))('case %i', async (_i, argv) => {
    const res = await runTsjail(argv, { timeoutMs: 20_000 });
    const what = `tsjail ${JSON.stringify(argv)}\n${res.stderr}`;
    expect(res.signal, what).toBeNull();
    expect(res.exitCode, what).toBe(255);
    expect(res.stderr, what).toMatch(/^\[[FE]\]\[/m);
    expect(res.stderr, what).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
    expect(res.stderr, what).not.toMatch(/node:internal|Uncaught|TypeError|RangeError|ReferenceError/);
  });
});
