/**
 * User namespace: the parent writes setgroups/gid_map/uid_map (gid first:
 * after uid_map is written an unprivileged parent could no longer write
 * setgroups), the child switches to the jail's ids right after the sync,
 * keeping its capabilities for the rest of setup.
 */
import { writeFileSync } from 'node:fs';
import { PR, PR_NAMES, SECBIT_KEEP_CAPS, SECBIT_NO_SETUID_FIXUP } from '../linux/consts.js';
import { int, named, nul, op, type ChildOp } from '../plan/ops.js';
import type { IdRange, Prepared } from '../prepare.js';
import { childProcess } from '../lazy.js';

export function planUser(p: Prepared): ChildOp[] {
  const secure = (bits: number) => op('prctl', 'user', [named(PR.PR_SET_SECUREBITS, PR_NAMES), int(bits)]);
  return [
    // Keep the capabilities across the uid change: mounts still need them.
    secure(SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP),
    op('setresgid', 'user', [int(p.gid), int(p.gid), int(p.gid)]),
    // With setgroups=deny (an unprivileged parent) this fails: the list is empty already.
    op('setgroups', 'user', [int(0), nul], { okErrno: ['EPERM'] }),
    op('setresuid', 'user', [int(p.uid), int(p.uid), int(p.uid)]),
    secure(0),
    // Credential changes clear the parent-death signal: arm it again.
    ...(p.execve ? [] : [op('prctl', 'user', [named(PR.PR_SET_PDEATHSIG, PR_NAMES), int(9)])]),
  ];
}

const KEYCTL_JOIN_SESSION_KEYRING = 1;

/**
 * A new anonymous session keyring: the jail no longer possesses the caller's
 * (tsjail's) session keyring, so keys in it cannot be searched for or read.
 * After the id switch, so that the keyring belongs to the jail's user.
 */
export function planSessionKeyring(): ChildOp[] {
  return [
    op('keyctl', 'user', [int(KEYCTL_JOIN_SESSION_KEYRING), nul], {
      text: 'keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)',
      // A kernel without keys has no keyring to leak.
      okErrno: ['ENOSYS'],
      hints: { EDQUOT: "the jail user's key quota is used up (one keyring per running jail; see /proc/sys/kernel/keys/maxkeys and /proc/key-users)" },
    }),
  ];
}

export function idMapText(map: readonly IdRange[]): string {
  return map.map((m) => `${m.inside} ${m.outside} ${m.count}\n`).join('');
}

/** Files the parent writes for the child's user namespace, in the order the kernel requires. */
export function idMapWrites(p: Prepared, pid: number): Array<{ path: string; text: string }> {
  if (!p.userns) return [];
  const direct = (m: readonly IdRange[]) => m.filter((r) => !r.newidmap);
  const writes: Array<{ path: string; text: string }> = [];
  const gids = direct(p.gidMap);
  // Writing gid_map without CAP_SETGID in the parent namespace needs setgroups=deny.
  if (gids.length && process.getuid?.() !== 0) writes.push({ path: `/proc/${pid}/setgroups`, text: 'deny' });
  if (gids.length) writes.push({ path: `/proc/${pid}/gid_map`, text: idMapText(gids) });
  const uids = direct(p.uidMap);
  if (uids.length) writes.push({ path: `/proc/${pid}/uid_map`, text: idMapText(uids) });
  return writes;
}

function runNewIdMap(tool: 'newgidmap' | 'newuidmap', pid: number, ranges: readonly IdRange[]): void {
  if (!ranges.length) return;
  const args = [String(pid), ...ranges.flatMap((r) => [String(r.inside), String(r.outside), String(r.count)])];
  try {
    childProcess().execFileSync(`/usr/bin/${tool}`, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`/usr/bin/${tool} ${args.join(' ')} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

export function setupUserFromParent(p: Prepared, pid: number): void {
  if (!p.userns) return;
  const writes = idMapWrites(p, pid);
  const write = (suffix: string) => {
    for (const w of writes.filter((x) => x.path.endsWith(suffix))) {
      try {
        writeFileSync(w.path, w.text);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        throw new Error(`write('${w.path}', '${w.text.trim().replace(/\n/g, '\\n')}'): ${code} (${(e as Error).message.replace(/^[A-Z]+: /, '')})`);
      }
    }
  };
  // nsjail's order: setgroups, gid_map, newgidmap, uid_map, newuidmap.
  write('/setgroups');
  write('/gid_map');
  runNewIdMap('newgidmap', pid, p.gidMap.filter((r) => r.newidmap));
  write('/uid_map');
  runNewIdMap('newuidmap', pid, p.uidMap.filter((r) => r.newidmap));
}
