/**
 * Bind sources pinned for the whole run. Each source is opened once at start,
 * refusing any symlink (prepare already resolved the host's own), and tsjail
 * keeps that O_PATH descriptor: a jail that later swaps a directory in a
 * writable bind source for a symlink (or for another directory) does not
 * change what a later jail of the run gets, in any mode.
 *
 * The child cannot clone the pinned descriptor itself: it lives in tsjail's
 * mount namespace and open_tree(OPEN_TREE_CLONE) refuses mounts of another
 * namespace (EINVAL). So tsjail clones it (open_tree on the descriptor,
 * detached and recursive) right before each clone of a jail, at a descriptor
 * number fixed for the run so the plan is the same every time; the child
 * sets the access flags on that tree and attaches it (move_mount).
 *
 * Cloning mounts of the initial mount namespace needs root there. Without it
 * (an unprivileged tsjail) nothing is pinned: the child opens each source by
 * path with openat2(RESOLVE_NO_SYMLINKS), so a planted symlink stops the jail
 * (ELOOP) instead of redirecting the bind.
 */
import { closeFd, cloneMountTree, dupCloexec, dupOnto, openNoSymlinks, SyscallError } from '../linux/libc.js';
import type { PreparedMount } from '../prepare.js';

const EPERM = 1;

export interface Pins {
  /** Per mount entry (same index as the prepared list): the fixed descriptor its clone is put at. */
  readonly fds: ReadonlyArray<number | undefined>;
  /** Put a fresh clone of every pinned source at its descriptor; returns the undo, for once the child is cloned. */
  arm(): () => void;
  /** Close every pinned descriptor (a library caller's run ends; the CLI's ends with the process). */
  release(): void;
}

interface Pin {
  readonly src: string;
  /** The O_PATH descriptor kept for the run. */
  readonly fd: number;
  /** Where each jail's clone is put; holds a copy of `fd` in between (so the number stays ours). */
  readonly at: number;
}

/** Undefined when there is nothing to pin or tsjail may not clone mounts (unprivileged). */
export function pinBindSources(mounts: readonly PreparedMount[]): Pins | undefined {
  const pins: Pin[] = [];
  const fds: Array<number | undefined> = [];
  for (const [i, m] of mounts.entries()) {
    if (m.kind !== 'bind') continue;
    let fd: number;
    try {
      fd = openNoSymlinks(m.src);
    } catch {
      // Missing (or a -try bind): the child opens it by path and reports it as it always did.
      continue;
    }
    if (!pins.length) {
      // The first clone tells whether tsjail may clone mounts at all.
      try {
        closeFd(cloneMountTree(fd, `'${m.src}'`));
      } catch (e) {
        closeFd(fd);
        if (e instanceof SyscallError && e.errno === EPERM) return undefined;
        throw e;
      }
    }
    const pin = { src: m.src, fd, at: dupCloexec(fd) };
    pins.push(pin);
    fds[i] = pin.at;
  }
  if (!pins.length) return undefined;
  const disarm = (list: readonly Pin[]) => () => list.forEach((p) => dupOnto(p.fd, p.at));
  return {
    fds,
    arm() {
      const done: Pin[] = [];
      try {
        for (const p of pins) {
          const tree = cloneMountTree(p.fd, `<pinned '${p.src}'>`);
          try {
            dupOnto(tree, p.at);
          } finally {
            closeFd(tree);
          }
          done.push(p);
        }
      } catch (e) {
        disarm(done)();
        throw e;
      }
      return disarm(pins);
    },
    release() {
      for (const p of pins.splice(0)) [p.fd, p.at].forEach(closeFd);
    },
  };
}
