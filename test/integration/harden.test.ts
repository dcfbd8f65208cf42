/**
 * Issue 13: attacks from inside a CTF-style jail (`--chroot / --user 99999`, run as root),
 * each judged from the host: canary files, host processes, the host keyring.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jail, runTsjail, sh } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();
const CTF = ['--user', '99999', '--group', '99999'];

const dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsjail-harden-'));
  chmodSync(d, 0o755);
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.skipIf(!!skip)("the jail's ids are its own on the host", () => {
  it('--user 99999 is host uid 99999: /etc/shadow and a root-only canary stay closed', async () => {
    const r = await jail(CTF, ['/bin/cat', '/etc/shadow']);
    expect(r.stderr).toContain('/etc/shadow: Permission denied');
    expect(r.exitCode).toBe(1);
    const d = scratch();
    writeFileSync(join(d, 'canary'), 'secret\n', { mode: 0o600 });
    const c = await sh(`cat ${d}/canary; cat /proc/self/uid_map /proc/self/gid_map`, CTF);
    expect(c.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['99999 99999 1', '99999 99999 1', '']);
    expect(c.stderr).toContain('Permission denied');
  });

  it("--user 99999:0 asks for nsjail's mapping explicitly, with its warning", async () => {
    const d = scratch();
    writeFileSync(join(d, 'canary'), 'secret\n', { mode: 0o600 });
    const r = await sh(`cat ${d}/canary`, ['--user', '99999:0', '--group', '99999:0']);
    expect(r.stdout).toBe('secret\n');
    expect(r.stderr).toContain('Process will be UID/EUID=0 in the global user namespace');
  });

  it('a jail sharing the host pid namespace cannot signal host root processes', async () => {
    const victim = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    try {
      const r = await sh(`kill -0 ${victim.pid} && echo reached`, [...CTF, '--disable_clone_newpid']);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/Operation not permitted|can't kill/);
      expect(victim.exitCode).toBe(null);
    } finally {
      victim.kill('SIGKILL');
    }
  });

  it('config uidmap/gidmap with an inside id only map to that id on the host', async () => {
    const d = scratch();
    const cfg = join(d, 'ids.cfg');
    writeFileSync(cfg, 'uidmap { inside_id: "4242" }\ngidmap { inside_id: "4343" }\nmount { src: "/" dst: "/" is_bind: true }\nmount { dst: "/proc" fstype: "proc" }\n');
    const r = await runTsjail(['-Mo', '-q', '-C', cfg, '--', '/bin/sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map']);
    expect(r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['4242 4242 1', '4343 4343 1', '']);
  });
});
