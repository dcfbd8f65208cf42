/**
 * The single binary (issue 16): dist/tsjail copied alone into an empty
 * directory runs jails with an empty environment, no node on PATH and no
 * node_modules; its native parts come from anonymous memory files. `make deb`
 * packs it, and the binary extracted from the package runs too. The binary
 * is built here (.ci/sea.mjs) when it is missing or older than the npm build.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/listen.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const root = join(import.meta.dirname, '../..');
const built = join(root, 'dist/tsjail');

function missingPostject(): string | undefined {
  if (existsSync(built) && statSync(built).mtimeMs >= statSync(join(root, 'dist/bin/tsjail.js')).mtimeMs) return undefined;
  try {
    createRequire(join(root, 'package.json')).resolve('postject/package.json');
    return undefined;
  } catch {
    console.warn('SKIP (single binary): dist/tsjail needs building and postject is not installed (npm install)');
    return 'postject is not installed';
  }
}

const skip = missingRoot() ?? missingUserns() ?? missingPostject();

/** The binary alone in an empty directory, with an empty environment. */
function run(bin: string, args: string[], env: Record<string, string> = { PATH: '/usr/bin:/bin' }) {
  return spawnSync(bin, args, { cwd: join(bin, '..'), env, encoding: 'utf8', timeout: 30_000 });
}

describe.skipIf(!!skip)('the single binary', () => {
  let dir: string;
  let bin: string;

  beforeAll(() => {
    if (missingPostject() === undefined && !(existsSync(built) && statSync(built).mtimeMs >= statSync(join(root, 'dist/bin/tsjail.js')).mtimeMs)) {
      execFileSync(process.execPath, [join(root, '.ci/sea.mjs')], { cwd: root, stdio: 'pipe' });
    }
    dir = mkdtempSync(join(tmpdir(), 'tsjail-bin-'));
    bin = join(dir, 'tsjail');
    copyFileSync(built, bin);
    execFileSync('chmod', ['755', bin]);
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a jail from an empty directory with an empty environment', () => {
    const r = run(bin, ['-Mo', '--chroot', '/', '-q', '--', '/bin/echo', 'hi']);
    expect(r.stdout).toBe('hi\n');
    expect(r.status).toBe(0);
  });

  it('refuses in one line, with 255, a copy that lost the parts appended after its blob', () => {
    const cut = join(dir, 'tsjail-cut');
    copyFileSync(bin, cut);
    execFileSync('truncate', ['-s', '-12', cut]);
    execFileSync('chmod', ['755', cut]);
    const r = run(cut, ['--version']);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^tsjail: reading the parts appended to \/proc\/self\/exe: it does not end with the parts/)]);
    expect(r.status).toBe(255);
    rmSync(cut);
  });

  it('gives --user_net its interface, with the socket factory and netlink inside the binary', () => {
    const r = run(bin, ['-Mo', '--chroot', '/', '-q', '--user_net', '--', '/usr/sbin/ip', '-4', 'addr', 'show', 'eth0']);
    expect(r.stdout).toContain('inet 10.255.255.2 peer 10.255.255.1/32');
    expect(r.status).toBe(0);
  });

  it('needs no node: PATH holds nothing', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const r = run(bin, ['-Mo', '--chroot', '/', '-Q', '--', '/bin/echo', 'alone'], { PATH: empty });
    expect(r.stdout).toBe('alone\n');
    expect(r.status).toBe(0);
  });

  it('loads its native parts from anonymous memory files, not from paths', async () => {
    // Read from the host while the jail waits: libtsjail.so is a memfd, koffi.node an unnamed file.
    const child = spawn(bin, ['-Mo', '--chroot', '/', '-Q', '--', '/bin/sh', '-c', 'read x'], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    let maps = '';
    for (let i = 0; i < 500 && !maps.includes('memfd:libtsjail.so'); i++) {
      maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.stdin!.end('\n');
    expect(await exited).toBe(0);
    expect(maps).toMatch(/\/memfd:libtsjail\.so \(deleted\)/);
    expect(maps).toMatch(/\/#\d+ \(deleted\)/);
    expect(maps).not.toMatch(/native\/build|koffi\/build|node_modules/);
  });

  it('--init execs tsjail-init from its memfd', () => {
    const r = run(bin, ['-Mo', '--chroot', '/', '-Q', '--init', '--', '/bin/sh', '-c', 'tr "\\0" " " </proc/1/cmdline; echo; echo $$']);
    expect(r.stdout).toBe('init \n2\n');
    expect(r.status).toBe(0);
  });

  it('-Me execs tsjail-exec from its memfd, keeping the pid', () => {
    const r = run(bin, ['-Me', '--chroot', '/', '-Q', '--', '/bin/sh', '-c', 'echo $$']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${r.pid}\n`);
  });

  it('reads config files with the schema inside the binary, and compiles seccomp policies', () => {
    const cfg = join(dir, 'echo.cfg');
    writeFileSync(cfg, 'mode: ONCE\nlog_level: WARNING\nmount { src: "/" dst: "/" is_bind: true }\nexec_bin { path: "/bin/echo" arg: "from-config" }\n');
    const r = run(bin, ['-C', cfg, '--seccomp_string', 'ERRNO(1) { ptrace } DEFAULT ALLOW']);
    expect(r.stdout).toBe('from-config\n');
    expect(r.status).toBe(0);
    const c = run(bin, ['seccomp', 'compile', '--syscall_allow', 'read,write,exit_group', '-o', join(dir, 'f.bpf')]);
    expect(c.status).toBe(0);
    expect(statSync(join(dir, 'f.bpf')).size % 8).toBe(0);
  });

  it('loads the libraries kept out of its bundle when a run needs them: commander, pino, prom-client', { timeout: 30_000 }, async () => {
    // commander words what the command-line scanner leaves: an unknown option.
    const bad = run(bin, ['--bogus']);
    expect(bad.stderr).toMatch(/unknown option '--bogus'/);
    expect(bad.status).toBe(255);
    // pino writes --log_format json.
    const json = run(bin, ['-Mo', '--chroot', '/', '--log_format', 'json', '--', '/bin/true']);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stderr.split('\n')[0]!)).toMatchObject({ msg: 'Mode: STANDALONE_ONCE' });
    // prom-client serves --metrics_addr.
    const [port, mport] = [await freePort(), await freePort()];
    const child = spawn(bin, ['-Ml', '--bindhost', '127.0.0.1', '--port', String(port), '--metrics_addr', `127.0.0.1:${mport}`, '--chroot', '/', '-q', '--', '/bin/true'], { env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
    try {
      let text = '';
      for (const t0 = Date.now(); !text && Date.now() - t0 < 15_000; ) {
        text = await fetch(`http://127.0.0.1:${mport}/metrics`).then((r) => r.text(), () => '');
        if (!text) await new Promise((r) => setTimeout(r, 50));
      }
      expect(text).toMatch(/^tsjail_jails_started_total 0$/m);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("names a log line's caller and its line in the bundle (from the binary's line table)", () => {
    const r = run(bin, ['-Mo', '--chroot', '/', '--', '/bin/true']);
    const m = /\] logParams\(\):(\d+) Process will be UID\/EUID=0/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const lines = readFileSync(join(root, 'dist/sea/tsjail.js'), 'utf8').split('\n');
    expect(lines[Number(m![1]) - 1]).toMatch(/log\.warn\(`Process will be/);
  });

  it('names a seccomp violation: the notification worker runs from inside the binary', () => {
    const r = run(bin, ['-Mo', '--chroot', '/', '-q', '--seccomp_string', 'ERRNO(1) { newuname } DEFAULT ALLOW', '--', '/bin/uname']);
    expect(r.stderr).toMatch(/seccomp violation: newuname\(0x[0-9a-f]+\) on x86_64, ip 0x[0-9a-f]+, ERRNO\(1\): failed with EPERM/);
    expect(r.stderr).not.toMatch(/notification worker/);
    expect(r.status).toBe(1);
  });

  it.skipIf(!!missingBinary('/usr/bin/dpkg-deb'))('make deb packs the binary; the extracted one runs', () => {
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
    execFileSync('make', ['-s', 'deb'], { cwd: root, stdio: 'pipe' });
    const deb = join(root, `dist/tsjail_${version}_amd64.deb`);
    const contents = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
    expect(contents).toMatch(/-rwxr-xr-x root\/root .* \.\/usr\/bin\/tsjail\n/);
    const fields = execFileSync('dpkg-deb', ['--field', deb, 'Package', 'Architecture'], { encoding: 'utf8' });
    expect(fields).toBe('Package: tsjail\nArchitecture: amd64\n');
    const x = join(dir, 'deb');
    execFileSync('dpkg-deb', ['-x', deb, x]);
    const r = run(join(x, 'usr/bin/tsjail'), ['-Mo', '--chroot', '/', '-q', '--', '/bin/echo', 'from-deb']);
    expect(r.stdout).toBe('from-deb\n');
    expect(r.status).toBe(0);
  }, 300_000);
});
