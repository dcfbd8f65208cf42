/** kCTF's proof of work (src/pow.ts): encodings and the solution of kCTF's own pow.py, as test vectors. */
import { describe, expect, it } from 'vitest';
import { banner } from '../../src/features/pow-gate.js';
import { decodeNumber, encodeNumber, formatChallenge, MODULUS, parseChallenge, parseSolution, solve, verify } from '../../src/pow.js';
import { runPowCommand } from '../../src/pow-command.js';

// Challenge s.AAAB.AAAF (difficulty 1, x = 5) and its solution, both from kCTF's pow.py.
const KCTF_SOLUTION =
  's.AABHBG7oNDMP52+4vLdbohMxVILgpmTWQQVO2r4oT2wzYSR0ql9nyjjVKBis13CW1ktunDIgUWW+1JPsFrN0fM6DczsBnQ1qczhhPITYnAbo9zsgeVjGdr+c7LLuZeH1bR1ECmqKKapCNUlnzvfgo9wlnOct/4RmhaQ3LSRaOV+U0IgdjaR8iHwSSrEcnmR+P3wM+A3o5JjqCgsiNx98hPnC';

describe('kCTF proof of work', () => {
  it('numbers: big-endian in a multiple of 3 bytes, base64 without padding', () => {
    expect(encodeNumber(0n)).toBe('AAAA');
    expect(encodeNumber(1337n)).toBe('AAU5');
    expect(encodeNumber(1n << 24n)).toBe('AAABAAAA');
    expect(encodeNumber((1n << 128n) - 1n)).toBe('AAD/////////////////////');
    for (const n of [0n, 1n, 1337n, 1n << 24n, (1n << 128n) - 1n, MODULUS - 1n]) expect(decodeNumber(encodeNumber(n))).toBe(n);
    expect(formatChallenge({ difficulty: 10, x: 123456789n })).toBe('s.AAAK.AAAHW80V');
    expect(parseChallenge('s.AAAK.AAAHW80V')).toEqual({ difficulty: 10, x: 123456789n });
    expect(parseChallenge('x.AAAK.AAAHW80V')).toBeUndefined();
    expect(parseChallenge('s.AAAK')).toBeUndefined();
  });

  it("solves kCTF's test vector exactly as pow.py does, and verifies it (and p - y)", async () => {
    const c = parseChallenge('s.AAAB.AAAF')!;
    expect(solve(c)).toBe(KCTF_SOLUTION);
    const y = parseSolution(KCTF_SOLUTION)!;
    expect(await verify(c, y)).toBe(true);
    expect(await verify(c, MODULUS - y)).toBe(true);
    expect(await verify(c, y + 1n)).toBe(false);
    expect(await verify({ difficulty: 1, x: 6n }, y)).toBe(false);
    expect(parseSolution('s.AAAA.AAAA')).toBeUndefined();
    expect(parseSolution('b.00')).toBeUndefined();
  });

  it('round trip at difficulty 20, in slices', async () => {
    const c = { difficulty: 20, x: 0x1234567890abcdef1234567890abcdefn };
    const sol = solve(c);
    expect(sol).toMatch(/^s\.[A-Za-z0-9+/]+$/);
    expect(await verify(c, parseSolution(sol)!, 3)).toBe(true);
  });

  it("the banner is kCTF's, byte for byte", () => {
    expect(banner('s.AAAU.AAAF')).toBe(
      '== proof-of-work: enabled ==\nplease solve a pow first\nYou can run the solver with:\n    python3 <(curl -sSL https://goo.gle/kctf-pow) solve s.AAAU.AAAF\n===================\n\nSolution? ',
    );
  });

  it('tsjail pow solve prints the solution; a bad challenge is one line and 255', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
    expect(runPowCommand(['solve', 's.AAAB.AAAF'], io)).toBe(0);
    expect(out.join('')).toBe(`${KCTF_SOLUTION}\n`);
    expect(runPowCommand(['solve', 'nonsense'], io)).toBe(255);
    expect(err.join('')).toBe("tsjail pow solve: 'nonsense' is not a challenge (s.<difficulty>.<x>, as the server prints it)\n");
  });
});
