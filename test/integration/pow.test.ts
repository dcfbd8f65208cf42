/** The proof-of-work gate (issue 19): kCTF's dialogue, a solution gets a jail, anything else is turned away without one. */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseChallenge, solve } from '../../src/pow.js';
import { startServer } from './helpers/listen.js';
import { missingRoot, missingUserns } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingRoot() ?? missingUserns();

interface Session {
  /** Everything the server sent until it closed (or the timeout). */
  readonly text: string;
  readonly challenge: string;
  readonly ended: boolean;
}

/** A client as kCTF's health check is: read to `Solution? `, take the challenge after ` solve `, answer, read to EOF. */
function client(port: number, answer: (challenge: string) => string | undefined, opts: { halfClose?: boolean } = {}): Promise<Session> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
    let text = '';
    let challenge = '';
    let answered = false;
    const t = setTimeout(() => done(false), 20_000);
    const done = (ended: boolean) => {
      clearTimeout(t);
      c.destroy();
      resolve({ text, challenge, ended });
    };
    c.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (answered || !text.includes('Solution? ')) return;
      answered = true;
      challenge = /python3 .* solve (\S+)\n/.exec(text)![1]!;
      const a = answer(challenge);
      if (a !== undefined) c.write(a);
      if (opts.halfClose ?? true) c.end();
    });
    c.on('end', () => done(true));
    c.on('error', () => done(true));
  });
}

const solution = (ch: string) => solve(parseChallenge(ch)!);
const JAIL = ['--chroot', '/', '--pow', '20'];

describe.skipIf(!!skip)('--pow', () => {
  it('--pow 20 turns away a client without a solution (no jail) and serves one with it', async () => {
    const s = await startServer([...JAIL, '--', '/bin/echo', 'jailed']);
    try {
      const bad = await client(s.port, () => 's.AAAA\n');
      expect(bad.ended).toBe(true);
      expect(bad.text).toMatch(/^== proof-of-work: enabled ==\nplease solve a pow first\nYou can run the solver with:\n {4}python3 <\(curl -sSL https:\/\/goo\.gle\/kctf-pow\) solve s\.AAAU\.[A-Za-z0-9+/]+\n===================\n\nSolution\? Proof-of-work fail\n$/);
      await s.waitLog(/Rejecting connection from '\[::ffff:127\.0\.0\.1\]:\d+', proof-of-work failed: wrong after/);
      expect(s.log()).not.toContain('Executing');

      const good = await client(s.port, (ch) => `${solution(ch)}\n`);
      expect(good.ended).toBe(true);
      expect(good.text.endsWith('Solution? Correct\njailed\n')).toBe(true);
      await s.waitLog(/Proof-of-work from '\[::ffff:127\.0\.0\.1\]:\d+': correct after/);
      expect(s.log().match(/Executing '\/bin\/echo'/g)).toHaveLength(1);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('what the client sends after its solution line reaches the program (tsjail reads no byte past the line)', async () => {
    const s = await startServer([...JAIL, '-q', '--', '/bin/cat']);
    try {
      const r = await client(s.port, (ch) => `\n${solution(ch)}\nafter the line\nand more\n`);
      expect(r.text.endsWith('Correct\nafter the line\nand more\n')).toBe(true);
    } finally {
      await s.stop();
    }
  });

  it('EOF, a timeout and a wrong number are failures; an answer without a newline before EOF counts', async () => {
    const s = await startServer([...JAIL, '--pow_timeout', '1', '--', '/bin/echo', 'jailed']);
    try {
      expect((await client(s.port, () => undefined)).text.endsWith('Solution? EOF')).toBe(true);
      expect((await client(s.port, () => undefined, { halfClose: false })).text.endsWith('Solution? Proof-of-work timeout\n')).toBe(true);
      expect((await client(s.port, () => 's.AAAAAAAA\n')).text.endsWith('Proof-of-work fail\n')).toBe(true);
      expect((await client(s.port, (ch) => solution(ch))).text.endsWith('Correct\njailed\n')).toBe(true);
      await s.waitLog(/proof-of-work failed: timeout after 1\.\d+ s/);
      expect(s.log().match(/Executing/g)).toHaveLength(1);
    } finally {
      await s.stop();
    }
  });

  it("--pow_bypass_key: kCTF's bypass, an ECDSA P-256 signature of the challenge, stands for a solution", async () => {
    const dir = mkdtempSync('/tmp/tsjail-pow-');
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(`${dir}/pub.pem`, publicKey.export({ type: 'spki', format: 'pem' }));
    const s = await startServer([...JAIL, '--pow_bypass_key', `${dir}/pub.pem`, '--', '/bin/echo', 'jailed']);
    try {
      const ok = await client(s.port, (ch) => `b.${sign('sha256', Buffer.from(ch), privateKey).toString('hex')}\n`);
      expect(ok.text.endsWith('Correct\njailed\n')).toBe(true);
      const forged = await client(s.port, () => `b.${sign('sha256', Buffer.from('s.AAAU.AAAA'), privateKey).toString('hex')}\n`);
      expect(forged.text.endsWith('Proof-of-work fail\n')).toBe(true);
      await s.waitLog(/correct|bypass after/);
      expect(s.log()).toMatch(/Proof-of-work from '[^']+': bypass after/);
    } finally {
      await s.stop();
    }
  });

  it('tsjail pow solve answers a challenge on stdout', async () => {
    const r = await runTsjail(['pow', 'solve', 's.AAAB.AAAF']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${solution('s.AAAB.AAAF')}\n`);
  });

  it('a difficulty out of range, and a bypass key that is none, stop with one line and 255', async () => {
    for (const v of ['0', '1000001', 'twenty']) {
      const r = await runTsjail(['-Ml', '--port', '1', '--pow', v, '--', '/bin/true']);
      expect(r.exitCode, v).toBe(255);
      expect(r.stderr, v).toMatch(new RegExp(`--pow: '${v}' is (out of range \\(1\\.\\.1000000\\)|not a number)`));
    }
    const r = await runTsjail(['-Mo', '--pow', '20', '--', '/bin/true']);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toContain('pow: the proof-of-work gate is for listen mode (-Ml), not STANDALONE_ONCE');
    const dir = mkdtempSync('/tmp/tsjail-pow-');
    writeFileSync(`${dir}/bad.pem`, 'not a key\n');
    const k = await runTsjail(['-Ml', '--bindhost', '127.0.0.1', '--port', '1', '--chroot', '/', '--pow', '20', '--pow_bypass_key', `${dir}/bad.pem`, '--', '/bin/true']);
    expect(k.exitCode).toBe(255);
    expect(k.stderr).toMatch(/--pow_bypass_key '.*bad\.pem': not a PEM public key/);
  });
});
