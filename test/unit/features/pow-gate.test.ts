import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PowGate } from '../../../src/features/pow-gate.js';
import { parseChallenge, solve } from '../../../src/pow.js';
import type { TsjailExt } from '../../../src/spec.js';

// The gate on a real loopback connection: the client reads the banner and answers as a kCTF client would.
const server = createServer({ pauseOnConnect: true });
const accepted: Socket[] = [];
const waiting: Array<(s: Socket) => void> = [];
server.on('connection', (s) => (waiting.length ? waiting.shift()!(s) : accepted.push(s)));
const listening = new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
afterAll(() => server.close());

async function pair(): Promise<{ ours: Socket; theirs: Socket }> {
  await listening;
  const port = (server.address() as { port: number }).port;
  const ours = new Promise<Socket>((r) => (accepted.length ? r(accepted.shift()!) : waiting.push(r)));
  const theirs = connect(port, '127.0.0.1');
  return { ours: await ours, theirs };
}

const fdOf = (s: Socket) => (s as unknown as { _handle: { fd: number } })._handle.fd;

/** Runs the gate; `answer` gets the challenge text and replies through the client socket. */
async function gate(ext: Partial<TsjailExt>, answer: (challenge: string, client: Socket) => void) {
  const g = PowGate.create({ pow: 1, pow_timeout: 10, ...ext } as TsjailExt);
  const { ours, theirs } = await pair();
  let seen = '';
  theirs.on('data', (d) => {
    const before = seen;
    seen += d.toString('latin1');
    if (!before.includes('Solution? ') && seen.includes('Solution? ')) answer(/solve (s\.\S+)/.exec(seen)![1]!, theirs);
  });
  const ended = new Promise<void>((r) => theirs.on('close', () => r()));
  theirs.on('error', () => {});
  const result = await g.check(ours, fdOf(ours), '127.0.0.1:1', () => false);
  return { result, ours, theirs, seen: () => seen, ended };
}

describe('the proof-of-work gate of listen mode', () => {
  it('lets a correct solution through, answers Correct, and leaves what came after the line unread', async () => {
    const r = await gate({}, (c, client) => client.write(`${solve(parseChallenge(c)!)}\nprogram input\n`));
    expect(r.result?.outcome).toBe('correct');
    const rest = await new Promise<string>((res) => {
      r.ours.once('data', (d) => res(d.toString()));
      r.ours.resume();
    });
    expect(rest).toBe('program input\n');
    r.theirs.destroy();
  });

  it('refuses a wrong answer, an answer at EOF without a newline that is wrong, and a client that hangs up', async () => {
    const wrong = await gate({}, (_c, client) => client.write('s.AAAA\n'));
    expect(wrong.result?.outcome).toBe('wrong');
    await wrong.ended;
    expect(wrong.seen()).toContain('Proof-of-work fail\n');
    const atEof = await gate({}, (_c, client) => client.end('s.AAAA'));
    expect(atEof.result?.outcome).toBe('wrong');
    const eof = await gate({}, (_c, client) => client.end());
    expect(eof.result?.outcome).toBe('eof');
  });

  it('skips empty lines and takes a solution split over several writes', async () => {
    const r = await gate({}, (c, client) => {
      const sol = solve(parseChallenge(c)!);
      client.write(`\n\n${sol.slice(0, 10)}`);
      setImmediate(() => client.write(`${sol.slice(10)}\n`));
    });
    expect(r.result?.outcome).toBe('correct');
    r.theirs.destroy();
  });

  it('refuses an over-long line unread, and times out a silent client', async () => {
    const long = await gate({}, (_c, client) => client.write('x'.repeat(5000)));
    expect(long.result?.outcome).toBe('wrong');
    const silent = await gate({ pow_timeout: 0.05 }, () => {});
    expect(silent.result?.outcome).toBe('timeout');
    await silent.ended;
    expect(silent.seen()).toContain('Proof-of-work timeout\n');
  });

  it('takes a signature by the bypass key instead of a solution, and refuses one by another key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-pow-'));
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = join(dir, 'bypass.pem');
    writeFileSync(pem, key.publicKey.export({ type: 'spki', format: 'pem' }));
    const signed = (k: typeof key.privateKey) => (c: string, client: Socket) => client.write(`b.${sign('sha256', Buffer.from(c), k).toString('hex')}\n`);
    expect((await gate({ pow_bypass_key: pem }, signed(key.privateKey))).result?.outcome).toBe('bypass');
    expect((await gate({ pow_bypass_key: pem }, signed(other.privateKey))).result?.outcome).toBe('wrong');
    expect((await gate({ pow_bypass_key: pem }, (_c, client) => client.write('b.zz\n'))).result?.outcome).toBe('wrong');
    writeFileSync(join(dir, 'bad.pem'), 'not a key');
    expect(() => PowGate.create({ pow: 1, pow_timeout: 1, pow_bypass_key: join(dir, 'bad.pem') } as TsjailExt)).toThrow(/not a PEM public key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(join(dir, 'rsa.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(() => PowGate.create({ pow: 1, pow_timeout: 1, pow_bypass_key: join(dir, 'rsa.pem') } as TsjailExt)).toThrow(/not a P-256/);
  });
});
