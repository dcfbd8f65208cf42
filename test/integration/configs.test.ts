/** Config files through the real CLI (issue 7): nsjail's own configs, precedence, errors, tsjail's examples. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runTsjail, SHARED } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();
const NSJ = join(SHARED, 'compat/nsjail-configs');
const tmp = mkdtempSync('/tmp/tsjail-cfg-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const GETEUID_SCRIPT = 'id; hostname; echo "E=$ENVAR1"; cat /DYNAMIC_FILE; echo; exit 0\n';

describe.skipIf(!!skip)('nsjail config files', () => {
  it('tests/basic.cfg sets the hostname and cwd', async () => {
    const r = await runTsjail(['--config', join(NSJ, 'tests/basic.cfg'), '-q', '--', '/bin/sh', '-c', 'hostname; pwd']);
    expect(r.stdout).toBe('BASIC\n/tmp\n');
    expect(r.exitCode).toBe(0);
  });

  it.skipIf(!!missingBinary('/dev/net/tun'))('bash-with-fake-geteuid runs with its user_net (the built-in NSTUN backend)', async () => {
    const r = await runTsjail(['--config', join(NSJ, 'configs/bash-with-fake-geteuid.cfg'), '-q'], { input: GETEUID_SCRIPT });
    expect(r.stdout).toContain('euid=4294965959');
    expect(r.stdout).toContain('JAILED-BASH');
    expect(r.exitCode).toBe(0);
  });

  it('bash-with-fake-geteuid without user_net runs, text and JSON alike', async () => {
    const text = readFileSync(join(NSJ, 'configs/bash-with-fake-geteuid.cfg'), 'utf8').replace(/^user_net \{ \}$/m, '');
    const json = JSON.parse(readFileSync(join(NSJ, 'configs/bash-with-fake-geteuid.json'), 'utf8'));
    delete json.userNet;
    for (const file of [write('geteuid.cfg', text), write('geteuid.json', JSON.stringify(json))]) {
      const r = await runTsjail(['--config', file, '-q'], { input: GETEUID_SCRIPT });
      expect(r.stdout, file).toContain('euid=4294965959');
      expect(r.stdout).toContain('JAILED-BASH');
      expect(r.stdout).toContain('E=VALUE1');
      expect(r.stdout).toContain('This file was created dynamically');
      expect(r.exitCode).toBe(0);
    }
  });

  it('-C applies in place: earlier options are replaced, later ones override', async () => {
    const cfg = join(NSJ, 'tests/basic.cfg');
    const before = await runTsjail(['-H', 'x', '-C', cfg, '-q', '--', '/bin/hostname']);
    expect(before.stdout).toBe('BASIC\n');
    const after = await runTsjail(['-C', cfg, '-H', 'x', '-q', '--', '/bin/hostname']);
    expect(after.stdout).toBe('x\n');
  });

  it('a command after -- replaces argv but keeps exec_bin.path', async () => {
    const cfg = write('exec.cfg', 'mount { src: "/" dst: "/" is_bind: true }\nexec_bin { path: "/bin/echo" arg: "from-config" }\n');
    expect((await runTsjail(['-C', cfg, '-q'])).stdout).toBe('from-config\n');
    const r = await runTsjail(['-C', cfg, '-q', '--', '/bin/printf', 'x\\n']);
    expect(r.stdout).toBe('x\\n\n'); // /bin/echo ran with argv ["/bin/printf", "x\n"]
  });

  it('src_content bytes reach the jail unchanged, whatever they hold', async () => {
    // 00 00 00 6a 73 74 00 00: the 64-bit stand-in tsjail's plan template uses for a descriptor
    const cfg = write('bytes.cfg', 'mount { src: "/" dst: "/" is_bind: true }\nmount { dst: "/tmp" fstype: "tmpfs" rw: true }\nmount { src_content: "\\000\\000\\000jst\\000\\000" dst: "/tmp/b" }\n');
    const r = await runTsjail(['-C', cfg, '-q', '--', '/usr/bin/od', '-An', '-tx1', '/tmp/b']);
    expect(r.stdout.trim()).toBe('00 00 00 6a 73 74 00 00');
  });

  it('errors name the field and the line, exit 255', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['unknown.cfg', 'hostname: "a"\nbogus_field: 1\n', /bogus_field/],
      ['nodst.cfg', 'mount { src: "/" }\n', /mount\[0\]\.dst/],
      ['enum.cfg', 'mode: SOMETIMES\n', /mode.*SOMETIMES/],
      ['empty.cfg', '', /empty/],
    ];
    for (const [name, text, msg] of cases) {
      const r = await runTsjail(['--config', write(name, text), '--', '/bin/true']);
      expect(r.exitCode, name).toBe(255);
      expect(r.stderr, name).toMatch(msg);
    }
  });

  it('--dump_config prints a config that loads back to the same jail', async () => {
    const files = readdirSync(join(ROOT, 'configs')).filter((f) => f.endsWith('.cfg')).map((f) => join(ROOT, 'configs', f));
    files.push(join(NSJ, 'tests/basic.cfg'));
    for (const f of files) {
      const first = await runTsjail(['-C', f, '-H', 'dumped', '--dump_config']);
      expect(first.exitCode, f).toBe(0);
      const again = await runTsjail(['-C', write('dump.cfg', first.stdout), '--dump_config']);
      expect(again.stdout, f).toBe(first.stdout);
    }
  });
});

describe.skipIf(!!skip)("tsjail's example configs run", () => {
  const cfg = (name: string) => join(ROOT, 'configs', name);

  it('minimal-shell.cfg', async () => {
    const r = await runTsjail(['-C', cfg('minimal-shell.cfg'), '-q'], { input: 'hostname; ls /; exit 3\n', env: { TERM: 'dumb' } });
    expect(r.stdout).toContain('TSJAIL');
    expect(r.stdout).toContain('bin');
    expect(r.exitCode).toBe(3);
  });

  it.skipIf(!!missingBinary('/bin/busybox'))('static-busybox-execveat.cfg runs a binary the jail cannot see', async () => {
    const r = await runTsjail(['-C', cfg('static-busybox-execveat.cfg'), '-q'], { input: 'id; ls /; exit 0\n' });
    expect(r.stdout).toContain('uid=99999');
    expect(r.stdout.split('\n')).toContain('proc');
    expect(r.exitCode).toBe(0);
  });

  it('interpreter-sandbox.cfg', async () => {
    const r = await runTsjail(['-C', cfg('interpreter-sandbox.cfg'), '-q', '--', '/bin/sh', '-c', 'id -u; ulimit -n; echo x > /tmp/f && cat /tmp/f; unshare -U true || echo denied']);
    expect(r.stdout).toBe('65534\n64\nx\ndenied\n');
  });

  it('landlock.cfg', async () => {
    const r = await runTsjail(['-C', cfg('landlock.cfg'), '-q'], { input: 'cat /etc/hostname >/dev/null && echo read-etc; echo x > /tmp/f && echo write-tmp; echo x > /etc/f 2>/dev/null || echo no-write-etc; exit 0\n' });
    expect(r.stdout).toContain('read-etc');
    expect(r.stdout).toContain('write-tmp');
    expect(r.stdout).toContain('no-write-etc');
  });

  it('inetd-echo.cfg serves connections on 127.0.0.1', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const text = readFileSync(cfg('inetd-echo.cfg'), 'utf8').replace(/^port: \d+/m, `port: ${port}`);
    const { connect } = await import('node:net');
    let reply = '';
    const r = await runTsjail(['-C', write('inetd.cfg', text), '-q'], {
      onSpawn: (child) => {
        const tryConnect = (left: number) => {
          const s = connect(port, '127.0.0.1');
          s.on('error', () => (left > 0 ? setTimeout(() => tryConnect(left - 1), 100) : child.kill('SIGTERM')));
          s.on('connect', () => s.end('hello\n'));
          s.on('data', (d) => (reply += d.toString()));
          s.on('close', () => reply && child.kill('SIGTERM'));
        };
        setTimeout(() => tryConnect(50), 200);
      },
    });
    expect(reply).toBe('hello\n');
    expect(r.exitCode).toBe(0);
  });
});
