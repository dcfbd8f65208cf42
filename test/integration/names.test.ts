/**
 * --user/--group names resolve as getpwnam(3)/getgrnam(3) do, through NSS:
 * names in /etc/passwd, names only an NSS module knows (LDAP, sssd…), and a
 * clear error for a name nobody knows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jail, runTsjail, TSJAIL } from './helpers/run-tsjail.js';
import { missingBinary, missingRoot, missingUserns } from './helpers/require.js';

const skipJail = missingRoot() ?? missingUserns();
const dir = mkdtempSync(join(tmpdir(), 'tsjail-names-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first entry of a files database with a non-zero id: [name, id]. */
function filesEntry(path: string): [string, number] | undefined {
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id && /^\d+$/.test(id) && id !== '0') return [name, Number(id)];
  }
  return undefined;
}

describe('names from /etc/passwd and /etc/group', () => {
  const user = filesEntry('/etc/passwd');
  const group = filesEntry('/etc/group');
  it.skipIf(!!skipJail || !user || !group)('--user NAME --group NAME run the program as those ids', async () => {
    const r = await jail(['--user', user![0], '--group', group![0]], ['/bin/sh', '-c', 'id -u; id -g']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${user![1]}\n${group![1]}\n`);
  });

  it('an unknown name stops tsjail with one line naming it, exit 255', async () => {
    for (const [opt, db] of [['--user', 'passwd'], ['--group', 'group']] as const) {
      const r = await runTsjail(['--chroot', '/', opt, 'tsjail-no-such-name', '--', '/bin/true']);
      expect(r.exitCode).toBe(255);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`cannot resolve ${opt === '--user' ? 'user' : 'group'} 'tsjail-no-such-name': no such name in the ${db} database`));
    }
  });
});

/**
 * A tiny NSS module that knows one user and one group that are in no file. It
 * is put in front of glibc through a private mount namespace (unshare -m) in
 * which /etc/nsswitch.conf names it, and LD_LIBRARY_PATH, where glibc's
 * dlopen finds libnss_tsjtest.so.2.
 */
const MODULE = `
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

enum nss_status _nss_tsjtest_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *err) {
  (void)buf; (void)len; (void)err;
  if (strcmp(name, "tsjail-nss-user") != 0) return NSS_STATUS_NOTFOUND;
  pw->pw_name = (char *)"tsjail-nss-user"; pw->pw_passwd = (char *)"x";
  pw->pw_uid = 42421; pw->pw_gid = 42422;
  pw->pw_gecos = (char *)""; pw->pw_dir = (char *)"/"; pw->pw_shell = (char *)"/bin/sh";
  return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_tsjtest_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, int *err) {
  if (strcmp(name, "tsjail-nss-group") != 0) return NSS_STATUS_NOTFOUND;
  if (len < sizeof(char *)) { *err = ERANGE; return NSS_STATUS_TRYAGAIN; }
  memset(buf, 0, sizeof(char *));
  gr->gr_name = (char *)"tsjail-nss-group"; gr->gr_passwd = (char *)"x";
  gr->gr_gid = 42422; gr->gr_mem = (char **)buf;
  return NSS_STATUS_SUCCESS;
}
`;

const missingNssTools = () => missingRoot() ?? missingUserns() ?? missingBinary('/usr/bin/gcc') ?? missingBinary('/usr/bin/unshare');

describe('names only an NSS module knows', () => {
  it.skipIf(!!missingNssTools())('--user and --group resolve through nsswitch.conf, not by reading /etc/passwd', async () => {
    writeFileSync(join(dir, 'nss.c'), MODULE);
    const cc = spawnSync('/usr/bin/gcc', ['-shared', '-fPIC', '-o', join(dir, 'libnss_tsjtest.so.2'), join(dir, 'nss.c')], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    writeFileSync(join(dir, 'nsswitch.conf'), 'passwd: files tsjtest\ngroup: files tsjtest\n');
    // The names are in no file, so only NSS can answer.
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain('tsjail-nss-user');
    const script = `mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf && exec "$2" "$3" -Mo --chroot / -q --user tsjail-nss-user --group tsjail-nss-group -- /bin/sh -c 'id -u; id -g'`;
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const child = spawn('/usr/bin/unshare', ['-m', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'sh', dir, process.execPath, TSJAIL], {
        env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', LD_LIBRARY_PATH: dir, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe('42421\n42422\n');
  });
});
