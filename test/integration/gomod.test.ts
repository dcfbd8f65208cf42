/**
 * Go module confinement (--go_mod): a main module (example.com/app) and a
 * local module it requires (example.com/poisoned) make the same four calls;
 * the confined module's fail with EPERM and are logged, the main module's
 * and an unconfined module's go through, and the program runs on.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseElf } from '../../src/gomod/elf.js';
import { buildCgoProgram, buildGoPrograms, missingGo, type GoPrograms } from './helpers/goprog.js';
import { missingRoot } from './helpers/require.js';
import { runTsjail } from './helpers/run-tsjail.js';

const skip = missingGo() ?? missingRoot();
const CALLS = ['pidfd_open', 'exec', 'open', 'dial'] as const;
const FUNCS: Record<(typeof CALLS)[number], [syscall: string, func: string]> = {
  pidfd_open: ['pidfd_open', 'PidfdOpen'],
  exec: ['clone', 'Exec'],
  open: ['openat', 'Open'],
  dial: ['socket', 'Dial'],
};

describe.skipIf(!!skip)('Go module confinement', () => {
  let g: GoPrograms;
  let server: Server;
  let addr: string;
  let tmp: string;
  beforeAll(async () => {
    g = buildGoPrograms();
    tmp = mkdtempSync(join(tmpdir(), 'tsjail-gomod-'));
    writeFileSync(join(tmp, 'target'), 'x\n');
    server = createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    addr = `127.0.0.1:${(server.address() as { port: number }).port}`;
  }, 240_000);
  afterAll(() => {
    server?.close();
    if (g) rmSync(g.dir, { recursive: true, force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The app under tsjail (host network: the dial reaches this test's listener). */
  const run = (bin: string, who: 'poisoned' | 'main', extra: string[] = []) => runTsjail(['-Mo', '--chroot', '/', '-q', '-N', ...extra, '--', bin, who, join(tmp, 'target'), addr]);
  const results = (stdout: string) => Object.fromEntries(stdout.trim().split('\n').filter((l) => l !== 'done').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));

  it.each([
    ['non-PIE', 'app', false],
    ['PIE without section headers for the table (-s -w)', 'appStripped', false],
    ['PIE seen through an overlay (another inode, the same bytes)', 'appPie', true],
  ] as const)('refuses the confined module its calls with EPERM, names module and function, and the program runs on (%s)', async (_, key, overlay) => {
    const goMod = g.writeGoMod('// gomodjail:confined\nmodule example.com/app\n\ngo 1.18\n');
    const status = join(tmp, `status-${key}.jsonl`);
    const r = await run(g[key], 'poisoned', ['--go_mod', goMod, '--status_file', status, ...(overlay ? ['--tmp_overlay', g.dir] : [])]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\ndone\n$/);
    const got = results(r.stdout);
    for (const c of CALLS) {
      expect(got[c], `${c}\n${r.stderr}`).toMatch(/operation not permitted/);
      const [sc, fn] = FUNCS[c];
      expect(r.stderr).toMatch(new RegExp(`\\[W\\].* pid=\\d+ \\*\\*\\*Blocked\\*\\*\\* syscall=${sc} module=example\\.com/poisoned function=example\\.com/poisoned\\.${fn}: .* failed with EPERM`));
    }
    // QuickOpen left no frame of its own: its inline tree entry in the caller names it.
    expect(got.inlined_open).toMatch(/operation not permitted/);
    expect(r.stderr).toMatch(/\*\*\*Blocked\*\*\* syscall=openat module=example\.com\/poisoned function=example\.com\/poisoned\.QuickOpen: /);
    const events = readFileSync(status, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'go_module_blocked');
    expect(events.map((e) => e.syscall)).toEqual(['pidfd_open', 'clone', 'openat', 'socket', 'openat']);
    expect(events[0]).toMatchObject({ module: 'example.com/poisoned', function: 'example.com/poisoned.PidfdOpen', outcome: 'failed with EPERM' });
    expect(events[0]!.frames).toEqual(expect.arrayContaining(['example.com/poisoned.PidfdOpen', 'main.main']));
  });

  it("keeps refusing the confined module's traced file calls under --seccomp_unotify (the native path leaves them to the worker)", async () => {
    const goMod = g.writeGoMod('// gomodjail:confined\nmodule example.com/app\n\ngo 1.18\n');
    const r = await run(g.app, 'poisoned', ['--go_mod', goMod, '--seccomp_unotify']);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = results(r.stdout);
    expect(got.open, r.stderr).toMatch(/operation not permitted/);
    expect(got.inlined_open, r.stderr).toMatch(/operation not permitted/);
    expect(r.stderr).toMatch(/\*\*\*Blocked\*\*\* syscall=openat module=example\.com\/poisoned function=example\.com\/poisoned\.Open: /);
  });

  it("lets the main module's identical calls through", async () => {
    const goMod = g.writeGoMod('// gomodjail:confined\nmodule example.com/app\n\ngo 1.18\n');
    for (const bin of [g.app, g.appPie]) {
      const r = await run(bin, 'main', ['--go_mod', goMod]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(results(r.stdout)).toEqual({ pidfd_open: 'ok', exec: 'ok', open: 'ok', dial: 'ok', inlined_open: 'ok' });
      expect(r.stderr).not.toMatch(/Blocked|not walked/);
    }
  });

  it('lets an unconfined module through: no comment, an unconfined line, or --go_module_policy over the module line', async () => {
    const cases: Array<[string, string[]]> = [
      ['module example.com/app\n\ngo 1.18\n', ['--go_module_policy', 'example.com/elsewhere=confined']],
      ['// gomodjail:confined\nmodule example.com/app\n\ngo 1.18\n// gomodjail:unconfined\nrequire example.com/poisoned v0.0.0\n', []],
      ['// gomodjail:confined\nmodule example.com/app\n\ngo 1.18\n', ['--go_module_policy', 'example.com/poisoned=unconfined', '--go_module_policy', 'example.com/elsewhere=confined']],
    ];
    for (const [text, extra] of cases) {
      const r = await run(g.app, 'poisoned', ['--go_mod', g.writeGoMod(text), ...extra]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(results(r.stdout), text).toEqual({ pidfd_open: 'ok', exec: 'ok', open: 'ok', dial: 'ok', inlined_open: 'ok' });
    }
  });

  it('confines through --go_module_policy alone, and keeps the user policy on top (the stricter answer wins)', async () => {
    const goMod = g.writeGoMod('module example.com/app\n\ngo 1.18\n');
    const r = await run(g.app, 'poisoned', ['--go_mod', goMod, '--go_module_policy', 'example.com/poisoned=confined']);
    expect(results(r.stdout)).toMatchObject({ pidfd_open: 'operation not permitted', open: expect.stringMatching(/operation not permitted/) });
    const m = await run(g.app, 'main', ['--go_mod', goMod, '--go_module_policy', 'example.com/poisoned=confined', '--syscall_deny', 'pidfd_open']);
    expect(results(m.stdout)).toEqual({ pidfd_open: 'operation not permitted', exec: 'ok', open: 'ok', dial: 'ok', inlined_open: 'ok' });
    expect(m.stderr).toMatch(/seccomp violation: pidfd_open\(/);
  });

  it("confines nothing, with one warning, when the program's main module is not go.mod's", async () => {
    const r = await run(g.app, 'poisoned', ['--go_mod', g.writeGoMod('// gomodjail:confined\nmodule example.com/other\n\ngo 1.18\n')]);
    expect(r.exitCode).toBe(0);
    expect(results(r.stdout)).toEqual({ pidfd_open: 'ok', exec: 'ok', open: 'ok', dial: 'ok', inlined_open: 'ok' });
    expect(r.stderr.match(/is built from main module example\.com\/app, not example\.com\/other .*: none of its modules is confined/g)).toHaveLength(1);
  });

  it('stops with one line naming the file and exit 255 on bad input', async () => {
    const goMod = g.writeGoMod('// gomodjail:confined\nmodule example.com/app\n\ngo 1.18\n');
    const bad = join(tmp, 'bad.mod');
    writeFileSync(bad, 'module example.com/app\nrequire example.com/poisoned v0.0.0 // gomodjail:strict\n');
    const old = join(tmp, 'old.bin');
    copyFileSync(g.app, old);
    const buf = readFileSync(old);
    buf.writeUInt32LE(0xfffffffa, parseElf(buf, old).sections.find((s) => s.name === '.gopclntab')!.offset);
    writeFileSync(old, buf, { mode: 0o755 });
    const arm = join(tmp, 'arm64.bin');
    const armBuf = Buffer.from(readFileSync(g.app));
    armBuf.writeUInt16LE(183, 18);
    writeFileSync(arm, armBuf, { mode: 0o755 });
    const script = join(tmp, 'script.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const cases: Array<[string[], RegExp]> = [
      [['--go_mod', join(tmp, 'missing.mod'), '--', g.app], new RegExp(`go_mod: cannot read ${tmp}/missing\\.mod: .*ENOENT`)],
      [['--go_mod', bad, '--', g.app], new RegExp(`${bad}:2: unknown gomodjail policy 'strict' \\(confined or unconfined\\)`)],
      [['--go_mod', goMod, '--', '/bin/true'], /\/bin\/true: not a Go program/],
      [['--go_mod', goMod, '--', script], new RegExp(`${script}: not an ELF file`)],
      [['--go_mod', goMod, '--', old], new RegExp(`${old}: built by Go 1\\.16 or 1\\.17`)],
      [['--go_mod', goMod, '--', arm], new RegExp(`${arm}: built for ELF machine 183, not x86-64`)],
      [['--go_mod', goMod, '--go_module_policy', 'example.com/x=maybe', '--', g.app], /go_module_policy 'example\.com\/x=maybe': the policy 'maybe' is not confined or unconfined/],
      [['--go_module_policy', 'example.com/x=confined', '--', g.app], /without go_mod/],
      [['-Me', '--go_mod', goMod, '--', g.app], /go_mod needs a supervising tsjail/],
    ];
    for (const [args, msg] of cases) {
      const r = await runTsjail(['--chroot', '/', '-q', ...args]);
      expect(r.exitCode, args.join(' ')).toBe(255);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('fails closed on a stack it cannot walk (cgo: C code, the dynamic loader), and lets it through with --go_unwind_fail allow', async (t) => {
    const c = buildCgoProgram(g);
    if (typeof c === 'string') {
      console.warn(`SKIP (cgo): ${c}`);
      t.skip();
      return;
    }
    const args = (fail: string) => ['-Mo', '--chroot', '/', '--go_mod', c.goMod, '--go_module_policy', 'example.com/elsewhere=confined', '--go_unwind_fail', fail, '--', c.bin, join(tmp, 'target')];
    const deny = await runTsjail(args('deny'));
    expect(deny.exitCode).toBe(127);
    expect(deny.stderr).toMatch(/cannot open shared object file: Operation not permitted/);
    expect(deny.stderr).toMatch(/\[W\].* go stack of syscall=openat not walked to its end \(the call was made at 0x[0-9a-f]+, outside Go's code .*\): openat\(AT_FDCWD, .* failed with EPERM/);
    const allow = await runTsjail(args('allow'));
    expect(allow.exitCode, allow.stderr).toBe(0);
    expect(allow.stdout).toBe('copen: true\n');
    expect(allow.stderr).toMatch(new RegExp(`\\[I\\].* go stack of syscall=openat not walked to its end .*: openat\\(AT_FDCWD, "${tmp}/target".* allowed`));
  }, 120_000);

  it('runs hundreds of goroutines doing file I/O for 10 s under the supervisor without a hang or a refused call', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tsjail-gomod-busy-'));
    try {
      const goMod = join(g.dir, 'busy', 'go.mod');
      const r = await runTsjail(['-Mo', '--chroot', '/', '-q', '-t', '60', '--rlimit_nofile', '4096', '-B', `${work}:/work`, '--go_mod', goMod, '--go_module_policy', 'example.com/elsewhere=confined', '--', g.busy, '/work', '300', '10'], { timeoutMs: 90_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      const m = /^ops=(\d+) fails=(\d+)$/m.exec(r.stdout);
      expect(m, r.stdout + r.stderr).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(300);
      expect(Number(m![2])).toBe(0);
      expect(r.stderr).not.toMatch(/Blocked|not walked/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
