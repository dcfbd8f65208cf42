/**
 * Listen mode's proof-of-work gate (--pow), a feature whose admit() hook holds
 * each connection back: before it gets a jail,
 * the client is sent a kCTF challenge (src/pow.ts) and has --pow_timeout
 * seconds to answer with its solution. The dialogue is kCTF's, byte for byte
 * where its clients parse it: the banner, the solver line, `Solution? ` and
 * `Correct\n`. With --pow_bypass_key, `b.<hex of an ECDSA P-256 signature of
 * the challenge>` stands for a solution (kCTF's health checks use it).
 *
 * tsjail reads the answer line and no byte after it: the socket stays paused
 * in Node, the line's end is found with recv(MSG_PEEK) and exactly that much
 * is taken, so whatever the client sent after it (a script that does not
 * wait for `Correct`) stays in the socket for the program. Node cannot wait
 * for readable data without reading it, so a pending socket is polled: every
 * 20 ms at first, backing off to 250 ms over the first seconds (solving takes
 * seconds; a thousand clients at work cost 4000 recv calls a second).
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';
import { readInputFile } from '../input-file.js';
import { recvNow } from '../linux/libc.js';
import { log } from '../log/logger.js';
import { formatChallenge, newChallenge, parseSolution, verify, type Challenge } from '../pow.js';
import type { Prepared } from '../prepare.js';
import type { TsjailExt } from '../spec.js';
import type { FeatureRun } from './types.js';

export type PowOutcome = 'correct' | 'wrong' | 'eof' | 'timeout' | 'bypass';

/** Longer answers are refused unread: a solution is 218 characters, a bypass signature about 146. */
const MAX_LINE = 4096;
/** The poll interval: 20 ms, growing by 50 ms a second of waiting, up to 250 ms. */
const pollMs = (waited: number) => Math.min(250, 20 + waited / 20);

export function banner(challenge: string): string {
  return (
    '== proof-of-work: enabled ==\n' +
    'please solve a pow first\n' +
    'You can run the solver with:\n' +
    `    python3 <(curl -sSL https://goo.gle/kctf-pow) solve ${challenge}\n` +
    '===================\n' +
    '\n' +
    'Solution? '
  );
}

export class PowGate {
  private constructor(
    private readonly difficulty: number,
    private readonly timeoutMs: number,
    private readonly bypassKey?: KeyObject,
  ) {}

  /** Reads the bypass key (a P-256 public key in PEM); a bad one stops the run before it listens. */
  static create(ext: TsjailExt): PowGate {
    let key: KeyObject | undefined;
    if (ext.pow_bypass_key !== undefined) {
      const pem = readInputFile(ext.pow_bypass_key, '--pow_bypass_key');
      try {
        key = createPublicKey(pem);
      } catch (e) {
        throw new Error(`--pow_bypass_key '${ext.pow_bypass_key}': not a PEM public key: ${(e as Error).message}`);
      }
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new Error(`--pow_bypass_key '${ext.pow_bypass_key}': not a P-256 (prime256v1) EC key, as kCTF's bypass uses`);
      }
    }
    return new PowGate(ext.pow, ext.pow_timeout * 1000, key);
  }

  /**
   * Challenges the client; resolves with how it ended (after `Correct\n` is
   * written for a pass; a failure is answered and the socket closed), or
   * undefined when `stopped()` turned true meanwhile (the socket is left to the caller).
   */
  async check(socket: Socket, fd: number, remote: string, stopped: () => boolean): Promise<{ outcome: PowOutcome; seconds: number } | undefined> {
    const t0 = Date.now();
    const challenge = newChallenge(this.difficulty);
    const text = formatChallenge(challenge);
    socket.on('error', () => {}); // a reset client is an 'eof' below
    socket.write(banner(text));
    let outcome: PowOutcome;
    let partial: Buffer = Buffer.alloc(0);
    for (;;) {
      if (stopped()) return undefined;
      if (Date.now() - t0 >= this.timeoutMs) {
        outcome = 'timeout';
        break;
      }
      const step = this.takeLine(fd, partial);
      if (step === undefined) {
        await new Promise((r) => setTimeout(r, pollMs(Date.now() - t0)));
        continue;
      }
      if (step === 'long') {
        outcome = 'wrong';
        break;
      }
      if (step === 'eof') {
        // As a line reader at EOF: what came without a newline is the answer.
        const rest = partial.toString('latin1').trim();
        outcome = rest ? await this.judge(challenge, text, rest) : 'eof';
        break;
      }
      if (typeof step !== 'string') {
        partial = step;
        continue;
      }
      partial = Buffer.alloc(0);
      if (step.trim() === '') continue; // empty lines are skipped, as kCTF does
      outcome = await this.judge(challenge, text, step.trim());
      break;
    }
    const seconds = (Date.now() - t0) / 1000;
    if (outcome === 'correct' || outcome === 'bypass') {
      log.info(`Proof-of-work from '${remote}': ${outcome} after ${seconds.toFixed(3)} s`);
      await new Promise<void>((r) => socket.write('Correct\n', () => r()));
    } else {
      log.warn(`Rejecting connection from '${remote}', proof-of-work failed: ${outcome} after ${seconds.toFixed(3)} s`);
      fail(socket, outcome === 'eof' ? 'EOF' : outcome === 'timeout' ? 'Proof-of-work timeout\n' : 'Proof-of-work fail\n');
    }
    return { outcome, seconds };
  }

  /**
   * One step of reading the answer: a whole line (taken from the socket up to
   * and with its newline, the partial bytes before it included), the bytes so
   * far when no newline came yet (taken too: they belong to the line), 'eof',
   * 'long' past MAX_LINE, or undefined when nothing new is waiting.
   */
  private takeLine(fd: number, partial: Buffer): string | Buffer | 'eof' | 'long' | undefined {
    if (partial.length >= MAX_LINE) return 'long';
    const buf = Buffer.alloc(MAX_LINE);
    let n: number | undefined;
    try {
      n = recvNow(fd, buf, MAX_LINE - partial.length, true);
    } catch {
      return 'eof'; // ECONNRESET and the like
    }
    if (n === undefined) return undefined;
    if (n === 0) return 'eof';
    const nl = buf.subarray(0, n).indexOf(0x0a);
    const take = nl < 0 ? n : nl + 1;
    const got = recvNow(fd, buf, take, false) ?? 0;
    const all = Buffer.concat([partial, buf.subarray(0, got)]);
    if (nl >= 0 && got === take) return all.toString('latin1');
    return all.length >= MAX_LINE ? 'long' : all;
  }

  private async judge(c: Challenge, text: string, answer: string): Promise<PowOutcome> {
    if (answer.startsWith('b.') && this.bypassKey) {
      const sig = answer.slice(2);
      if (!/^(?:[0-9a-fA-F]{2})+$/.test(sig)) return 'wrong';
      try {
        return verifySignature('sha256', Buffer.from(text), this.bypassKey, Buffer.from(sig, 'hex')) ? 'bypass' : 'wrong';
      } catch {
        return 'wrong';
      }
    }
    const y = parseSolution(answer);
    return y !== undefined && (await verify(c, y)) ? 'correct' : 'wrong';
  }
}

/** Answer a failed client and close: what it sent is read and dropped first, so the close is no reset that could eat the answer. */
function fail(socket: Socket, text: string): void {
  socket.on('data', () => {});
  socket.resume();
  socket.end(text);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** The feature: a connection is admitted once its client has answered the challenge (or the bypass). */
export function powGate(p: Prepared): FeatureRun {
  const gate = PowGate.create(p.cfg.ext);
  return {
    async admit(c) {
      let r: Awaited<ReturnType<PowGate['check']>>;
      try {
        r = await gate.check(c.socket, c.fd, c.remote, c.stopped);
      } catch (e) {
        log.error(`Proof-of-work from '${c.remote}': ${(e as Error).message}`);
        return undefined;
      }
      if (!r) return undefined;
      c.event({ kind: 'pow', outcome: r.outcome, seconds: r.seconds });
      if (r.outcome === 'correct' || r.outcome === 'bypass') return true;
      c.event({ kind: 'connection', result: 'pow_failed' });
      return false;
    },
  };
}
