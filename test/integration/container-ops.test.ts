/** Container ops (issue 13): --dir, --file, --file_fd, --overlay_ro and /dev/console, from the command line and a config. */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTsjail, sh, TSJAIL, type RunResult } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();
const noScript = missingBinary('/usr/bin/script');

/** tsjail with `extra` as its descriptor 3 (a pipe the test writes, or a file). */
function withFd3(args: readonly string[], extra: 'pipe' | number, content?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSJAIL, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe', extra] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr, ms: 0 }));
    child.stdin!.end();
    if (extra === 'pipe') (child.stdio[3] as NodeJS.WritableStream).end(content);
  });
}

/** The one error line of a refused run. */
/** The error line; a usage error adds tsjail's pointer to --help as its one other line. */
function refused(r: RunResult): string {
  expect(r.exitCode).toBe(255);
  const lines = r.stderr.trim().split('\n').filter((l) => !/Couldn't parse cmdline options; see tsjail --help/.test(l));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe.skipIf(!!skip)('container ops', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync('/tmp/tsjail-ops-');
    for (const [dir, files] of [['top', { a: 'top-a\n' }], ['mid', { a: 'mid-a\n', b: 'mid-b\n' }], ['low', { b: 'low-b\n', c: 'low-c\n' }]] as const) {
      mkdirSync(join(tmp, dir));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, dir, name), text);
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('--dir creates directories with the mode given (umask not applied), 0755 by default', async () => {
    const r = await sh('stat -c "%a %n" /tmp/d /tmp/e /tmp/x/y; umask', ['-T', '/tmp', '--dir', '/tmp/d:0700', '--dir', '/tmp/e', '--dir', '/tmp/x/y:1777']);
    expect(r.stdout).toBe('700 /tmp/d\n755 /tmp/e\n1777 /tmp/x/y\n0022\n');
  });

  it('--file places TEXT (everything after the first =), read-only', async () => {
    const r = await sh('cat /tmp/msg; echo; echo x > /tmp/msg || echo ro', ['-T', '/tmp', '--file', '/tmp/msg=a: b=c']);
    expect(r.stdout).toBe('a: b=c\nro\n');
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it('--file_fd places what tsjail reads from a pipe it was given', async () => {
    const r = await withFd3(['-Mo', '--chroot', '/', '-q', '-T', '/tmp', '--file_fd', '3:/tmp/in.txt', '--', '/bin/sh', '-c', 'cat /tmp/in.txt; echo x >> /tmp/in.txt || echo ro'], 'pipe', 'from the pipe\n');
    expect(r.stdout).toBe('from the pipe\nro\n');
    expect(r.exitCode).toBe(0);
  });

  it('--file_fd reads a file descriptor too', async () => {
    const f = join(tmp, 'fd-file');
    writeFileSync(f, 'from a file\n');
    const fd = openSync(f, 'r');
    try {
      const r = await withFd3(['-Mo', '--chroot', '/', '-q', '-T', '/tmp', '--file_fd', '3:/tmp/in', '--', '/bin/cat', '/tmp/in'], fd);
      expect(r.stdout).toBe('from a file\n');
    } finally {
      closeSync(fd);
    }
  });

  it('--overlay_ro shows the union, the first lower dir on top, and is read-only', async () => {
    const r = await sh('cd /tmp/ov; ls; cat a b c; touch new 2>&1; (echo x > a) 2>&1', ['-T', '/tmp', '--overlay_ro', `${tmp}/top:${tmp}/mid:${tmp}/low:/tmp/ov`]);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 6)).toEqual(['a', 'b', 'c', 'top-a', 'mid-b', 'low-c']);
    expect(lines.slice(6).join('\n')).toMatch(/Read-only file system[\s\S]*Read-only file system/);
  });

  it('config form: dir_mode, src_content, src_fd and overlay_lower in mount entries', async () => {
    const cfg = join(tmp, 'ops.cfg');
    writeFileSync(
      cfg,
      [
        'mode: ONCE',
        'mount { src: "/" dst: "/" is_bind: true }',
        'mount { dst: "/tmp" fstype: "tmpfs" rw: true }',
        'mount { dst: "/tmp/d" dir_mode: 488 }',
        'mount { dst: "/tmp/f" src_content: "inline" }',
        'mount { dst: "/tmp/g" src_fd: 3 }',
        `mount { dst: "/tmp/ov" overlay_lower: "${tmp}/low" overlay_lower: "${tmp}/top" }`,
      ].join('\n'),
    );
    const r = await withFd3(['-C', cfg, '-q', '--', '/bin/sh', '-c', 'stat -c %a /tmp/d; cat /tmp/f; echo; cat /tmp/g; cat /tmp/ov/b /tmp/ov/a'], 'pipe', 'piped\n');
    expect(r.stdout).toBe('750\ninline\npiped\nlow-b\ntop-a\n');
  });

  it.skipIf(!!noScript)('/dev/console is the terminal tsjail runs on, with a minimal /dev', () => {
    const cmd = `${process.execPath} ${TSJAIL} -Mo --chroot / -q -- /bin/sh -c 'stat -Lc "%t:%T" /dev/console /proc/self/fd/0'`;
    const out = execFileSync('/usr/bin/script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' } });
    const [consoleDev, stdinDev] = out.split(/\r?\n/).filter((l) => /^[0-9a-f]+:[0-9a-f]+$/.test(l));
    expect(consoleDev).toMatch(/^[0-9a-f]+:[0-9a-f]+$/);
    expect(consoleDev).toBe(stdinDev);
  });

  it('no terminal: no /dev/console', async () => {
    const r = await sh('test -e /dev/console && echo console || echo none');
    expect(r.stdout).toBe('none\n');
  });

  it.each([
    [['--dir', '/x:999'], /^\[F\].*--dir: mode '999' in '\/x:999' is not an octal mode/],
    [['--dir', ':0755'], /--dir: ':0755' names no destination/],
    [['--file', '/x'], /--file: '\/x' is not DST=TEXT/],
    [['--file_fd', '3'], /--file_fd: '3' names no destination/],
    [['--file_fd', '77:/x'], /--file_fd\/src_fd 77 \(file '\/x'\): is not open/],
    [['--overlay_ro', '/tmp:/ov'], /--overlay_ro: '\/tmp:\/ov' is not LOWER1:LOWER2/],
    [['--overlay_ro', '/tmp:/no/such/dir:/ov'], /--overlay_ro\/overlay_lower lower dir '\/no\/such\/dir' \(mount '\/ov'\): does not exist/],
  ])('refuses %j with one line naming it', async (args, line) => {
    const r = await runTsjail(['-Mo', '--chroot', '/', '-q', ...args, '--', '/bin/true']);
    expect(refused(r)).toMatch(line);
  });
});
