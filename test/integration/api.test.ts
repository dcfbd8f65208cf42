/**
 * The library API, driven directly: a jail's output, its input, a time limit,
 * cancellation, typed validation errors, a setup failure, an object config and
 * two jails at once, in this process.
 */
import { describe, expect, it } from 'vitest';
import { configureLog, JailError, runJail, runSpec, specFromOptions, startJail, ValidationError } from '../../src/index.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();
const BASE = ['--chroot', '/'];

describe.skipIf(!!skip)('library API', () => {
  it('runs a jail and returns its output, status and accounting', async () => {
    const r = await runJail({ args: [...BASE, '--user', '99999', '--group', '99999'], command: ['/bin/sh', '-c', 'id; echo oops >&2; exit 3'] });
    expect(r.stdout.toString()).toBe('uid=99999 gid=99999 groups=99999\n');
    expect(r.stderr.toString()).toBe('oops\n');
    expect(r).toMatchObject({ code: 3, exitCode: 3, reason: 'exited', verdict: 'RE' });
    expect(r.wallMs).toBeGreaterThanOrEqual(0);
    expect(r.pid).toBeGreaterThan(0);
  });

  it('feeds input to stdin', async () => {
    const r = await runJail({ args: BASE, command: ['/usr/bin/tr', 'a-z', 'A-Z'], input: 'hello\n' });
    expect(r.stdout.toString()).toBe('HELLO\n');
  });

  it('kills at the time limit with reason time_limit', async () => {
    const r = await runJail({ args: [...BASE, '-t', '1'], command: ['/bin/sleep', '30'] });
    expect(r).toMatchObject({ code: 137, signal: 9, signalName: 'SIGKILL', reason: 'time_limit', verdict: 'TLE' });
  });

  it('cancels through an AbortSignal once the program runs', async () => {
    const ac = new AbortController();
    const jail = await startJail({ args: BASE, command: ['/bin/sh', '-c', 'echo ready; exec sleep 30'], signal: ac.signal, stdin: 'ignore' });
    jail.stdout!.once('data', () => ac.abort());
    const r = await jail.result;
    expect(r).toMatchObject({ signal: 9, reason: 'signal' });
  });

  it('reports every invalid option as a ValidationError, before anything runs', async () => {
    const err = await startJail({ args: ['--cap', 'CAP_NOPE', '--nice_level', '40'], command: ['/bin/true'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toEqual(["unknown capability 'CAP_NOPE' (names are exact, e.g. CAP_NET_ADMIN)", 'nice_level 40 is outside -20..19']);
    const mode = await startJail({ args: ['-Ml', '--port', '9000'], command: ['/bin/true'] }).catch((e: unknown) => e);
    expect((mode as ValidationError).problems[0]).toMatch(/the API runs one program per jail/);
    expect(await startJail({ args: ['--bogus'] }).catch((e: unknown) => e)).toBeInstanceOf(ValidationError);
    // The caller reads the output itself: tsjail has nothing to relay and count.
    const cap = await startJail({ args: ['--output_limit', '1M'], command: ['/bin/true'] }).catch((e: unknown) => e);
    expect((cap as ValidationError).problems).toEqual([expect.stringMatching(/^--output_limit is the command line's/)]);
  });

  it('runs a JailSpec the way the command line does (runSpec, the layer of the CLI)', async () => {
    configureLog({ level: 'ERROR' });
    const spec = await specFromOptions({ args: [...BASE, '-q'], command: ['/bin/sh', '-c', 'exit 7'] });
    expect(await runSpec(spec)).toBe(7);
    spec.cfg.nice_level = 40;
    const err = await runSpec(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toEqual(['nice_level 40 is outside -20..19']);
  });

  it('gives a setup failure as reason setup_failed with a typed error', async () => {
    const r = await runJail({ args: BASE, command: ['/nonexistent'] });
    expect(r).toMatchObject({ code: 255, reason: 'setup_failed', verdict: 'SE' });
    expect(r.error).toBeInstanceOf(JailError);
    expect(r.error!.render()).toContain("execve('/nonexistent') failed: ENOENT (No such file or directory)");
    expect(r.error).toMatchObject({ call: "execve('/nonexistent')", errno: 2, errnoName: 'ENOENT', phase: 'exec', stage: 'child' });
  });

  it('takes a config object in nsjail JSON form, with flags after it', async () => {
    const config = { hostname: 'FROMCONFIG', mount: [{ src: '/', dst: '/', is_bind: true }], exec_bin: { path: '/bin/hostname' } };
    expect((await runJail({ config })).stdout.toString()).toBe('FROMCONFIG\n');
    expect((await runJail({ config, args: ['-H', 'FLAG'] })).stdout.toString()).toBe('FLAG\n');
    const bad = await runJail({ config: { hostname: 7 } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
  });

  it('runs two jails at once, each with its own output', async () => {
    const [a, b] = await Promise.all([
      runJail({ args: BASE, command: ['/bin/sh', '-c', 'echo a; exit 1'] }),
      runJail({ args: BASE, command: ['/bin/sh', '-c', 'echo b; exit 2'] }),
    ]);
    expect([a.stdout.toString(), a.code, b.stdout.toString(), b.code]).toEqual(['a\n', 1, 'b\n', 2]);
    expect(a.pid).not.toBe(b.pid);
  });
});
