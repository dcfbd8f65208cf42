/**
 * Symlinks followed one path component at a time, as the kernel resolves a
 * path: for --landlock_log (inside a jail's root, through /proc/PID/root) and
 * tsjail learn (on the host, recording each link it meets).
 */
export interface PathLookup {
  /** What the path is, without following a final symlink; undefined when missing. */
  kind(path: string): 'link' | 'dir' | 'file' | undefined;
  readlink(path: string): string | undefined;
}

export interface FollowOptions {
  /** Called with each symlink met and its target. */
  onLink?(at: string, target: string): void;
  /** A path not looked into (another mount): it and the rest are returned as they are. */
  stop?(path: string): boolean;
  /** A missing component: return it and the rest as they are (else undefined). */
  keepMissing?: boolean;
}

const MAX_LINKS = 40;

/** The absolute path p leads to; undefined when it cannot be followed (a missing component, a loop). */
export function followLinks(p: string, look: PathLookup, opts: FollowOptions = {}): string | undefined {
  let left = p.split('/').filter(Boolean);
  let cur = '';
  for (let links = 0; left.length; ) {
    const name = left.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur = cur.slice(0, cur.lastIndexOf('/'));
      continue;
    }
    const next = `${cur}/${name}`;
    if (opts.stop?.(next)) return [next, ...left].join('/');
    const kind = look.kind(next);
    if (kind === undefined) return opts.keepMissing ? [next, ...left].join('/') : undefined;
    if (kind !== 'link') {
      cur = next;
      continue;
    }
    const target = look.readlink(next);
    if (target === undefined || ++links > MAX_LINKS) return undefined;
    opts.onLink?.(next, target);
    left = [...target.split('/').filter(Boolean), ...left];
    if (target.startsWith('/')) cur = '';
  }
  return cur || '/';
}
