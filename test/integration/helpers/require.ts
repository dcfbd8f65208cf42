/**
 * Host features a test needs. A missing one skips the test with the reason
 * printed (never a silent pass): `it.skipIf(!!why)(…)` plus a console line.
 */
import { existsSync, readFileSync } from 'node:fs';

function printSkip(feature: string, why: string | undefined): string | undefined {
  if (why) console.warn(`SKIP (${feature}): ${why}`);
  return why;
}

export function missingRoot(): string | undefined {
  return printSkip('root', process.getuid?.() === 0 ? undefined : 'these jail tests run as root');
}

export function missingUserns(): string | undefined {
  let why: string | undefined;
  try {
    const max = Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8'));
    if (max === 0) why = 'user namespaces are disabled (user.max_user_namespaces = 0)';
  } catch {
    why = 'no /proc/sys/user/max_user_namespaces';
  }
  return printSkip('userns', why);
}

export function missingCgroup2(): string | undefined {
  const has = readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[2] === 'cgroup2');
  return printSkip('cgroup2', has ? undefined : 'no cgroup2 filesystem is mounted');
}

export function missingBinary(path: string): string | undefined {
  return printSkip(path, existsSync(path) ? undefined : `${path} is not installed`);
}

/** Can an unprivileged user create a user namespace (Debian's and Ubuntu's extra switches)? */
export function missingUnprivilegedUserns(): string | undefined {
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined);
  let why: string | undefined;
  if (read('/proc/sys/kernel/unprivileged_userns_clone') === '0') why = 'kernel.unprivileged_userns_clone = 0';
  else if (read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1') why = 'kernel.apparmor_restrict_unprivileged_userns = 1';
  return printSkip('unprivileged userns', why);
}
