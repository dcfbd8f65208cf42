/**
 * `tsjail learn`: from what a run touched to the jail that allows just that.
 * Pure: the paths come from the notification supervisor's trace, the host
 * through HostView, so tests run it on a fake file system.
 *
 * The root the program ran in (a host directory bound at /, --chroot) is
 * replaced by binds of what it used: read-only for what it read, executed or
 * looked at, read-write for what it wrote, and the directory in which it
 * created or removed entries. Symlinks met on the way (merged /usr's /lib, a
 * /bin/sh -> dash) are recreated as symlinks, and paths are bound at their real
 * place. Landlock rules then narrow a bound directory to the files used in it.
 * Paths below another mount of the run (/proc, /dev, a -T tmpfs, a bind the
 * user gave) keep that mount and get Landlock rules only.
 */
import type { FileType } from '../notify/decode.js';
import { followLinks, type PathLookup } from '../notify/paths.js';
import type { MountPt } from '../spec.js';
import { defaultMount } from '../spec.js';

export interface HostView {
  /** lstat of a host path: what it is, or undefined when it does not exist. */
  kind(hostPath: string): 'dir' | 'file' | 'link' | undefined;
  readlink(hostPath: string): string | undefined;
  /** The file the kernel loads to run this one: its ELF PT_INTERP, or a `#!` line's program. */
  interpreter(hostPath: string): string | undefined;
}

/** One path of the trace (a report fs_access entry). */
export interface TracedPath {
  readonly path: string;
  readonly jailType: FileType;
  readonly mode?: string;
  readonly modeExtra: string;
  readonly syscalls: ReadonlyArray<{ readonly name: string }>;
}

export interface LearnInput {
  /** The host directory the run had at / (its --chroot). */
  readonly root: string;
  /** Where the run's other mounts were (their paths keep those mounts). */
  readonly otherMounts: readonly string[];
  /** Those of them whose paths name no lasting file (procfs): a Landlock rule covers the whole mount. */
  readonly pseudo: readonly string[];
  readonly paths: readonly TracedPath[];
}

export interface Profile {
  readonly mounts: MountPt[];
  readonly landlock: { ro: string[]; rw: string[]; rx: string[] };
  /** What the profile cannot reproduce exactly, for the config's header. */
  readonly notes: string[];
}

const OPENS = new Set(['open', 'openat', 'openat2', 'creat']);
const EXECS = new Set(['execve', 'execveat']);
/** Calls that add or remove an entry of the path's directory. */
const ENTRY_CALLS = new Set(['mkdir', 'mkdirat', 'mknod', 'mknodat', 'unlink', 'unlinkat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat', 'creat']);
/** Calls that change the file itself. */
const ATTR_CALLS = new Set(['chmod', 'fchmodat', 'fchmodat2', 'chown', 'lchown', 'fchownat', 'truncate', 'utimensat']);

interface Need {
  read: boolean;
  write: boolean;
  exec: boolean;
  list: boolean;
  /** Entries were added or removed in this directory. */
  entries: boolean;
}

const exists = (t: FileType) => t !== 'NONEXISTENT' && t !== 'UNKNOWN';
const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
const under = (p: string, dir: string) => dir === '/' || p === dir || p.startsWith(`${dir}/`);

function normalize(p: string): string | undefined {
  if (!p.startsWith('/')) return undefined;
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return `/${out.join('/')}`;
}

const mount = (m: Partial<MountPt> & { dst: string }): MountPt => ({ ...defaultMount(), ...m });

export function learnProfile(input: LearnInput, host: HostView): Profile {
  const notes: string[] = [];
  const hostPath = (p: string) => (input.root === '/' ? p : `${input.root.replace(/\/$/, '')}${p}`);
  const other = (p: string) => input.otherMounts.some((m) => m !== '/' && under(p, m));
  const needs = new Map<string, Need>();
  const need = (p: string): Need => {
    let n = needs.get(p);
    if (!n) needs.set(p, (n = { read: false, write: false, exec: false, list: false, entries: false }));
    return n;
  };

  for (const e of input.paths) {
    const path = normalize(e.path);
    if (path === undefined) continue;
    const names = new Set(e.syscalls.map((s) => s.name));
    const opened = [...names].some((n) => OPENS.has(n));
    const there = exists(e.jailType);
    if ([...names].some((n) => ENTRY_CALLS.has(n)) || (opened && e.modeExtra.includes('O_CREAT') && !there)) need(parentOf(path)).entries = true;
    if (!there) continue;
    const n = need(path);
    if ([...names].some((x) => EXECS.has(x))) n.exec = true;
    if ((opened && (e.mode === 'WRONLY' || e.mode === 'RDWR')) || [...names].some((x) => ATTR_CALLS.has(x))) n.write = true;
    if (opened && (e.modeExtra.includes('O_DIRECTORY') || e.jailType === 'DIR') && !e.modeExtra.includes('O_PATH')) n.list = true;
    else if (opened && !e.modeExtra.includes('O_PATH')) n.read = true;
  }

  // Resolve every path through the host's symlinks: the links become symlink entries, the rest binds at real paths.
  const links = new Map<string, string>();
  const onHost: PathLookup = { kind: (p) => host.kind(hostPath(p)), readlink: (p) => host.readlink(hostPath(p)) };
  const resolve = (p: string) => followLinks(p, onHost, { onLink: (at, target) => links.set(at, target), stop: other });

  interface Item extends Need {
    kind: 'dir' | 'file';
  }
  const items = new Map<string, Item>();
  const ll = { ro: new Set<string>(), rw: new Set<string>(), rx: new Set<string>() };
  const add = (real: string, n: Need) => {
    const k = host.kind(hostPath(real)) === 'dir' ? 'dir' : 'file';
    const it = items.get(real) ?? { kind: k, read: false, write: false, exec: false, list: false, entries: false };
    for (const f of ['read', 'write', 'exec', 'list', 'entries'] as const) it[f] ||= n[f];
    items.set(real, it);
  };
  const seenInterp = new Set<string>();
  for (const [p, n] of needs) {
    if (other(p)) {
      // A path of another mount: that mount stays; only Landlock needs to know.
      if (n.exec) ll.rx.add(p);
      const at = input.pseudo.find((m) => under(p, m)) ?? p;
      if (n.write || n.entries) ll.rw.add(at);
      else if (n.read || n.list) ll.ro.add(at);
      continue;
    }
    const real = resolve(p);
    if (real === undefined) continue;
    if (other(real)) {
      if (n.write || n.entries) ll.rw.add(real);
      else if (n.read || n.list || n.exec) ll.ro.add(real);
      continue;
    }
    add(real, n);
    // The kernel opens an executable's interpreter itself (no call to trace): it needs the same.
    for (let x = n.exec ? host.interpreter(hostPath(real)) : undefined; x !== undefined && !seenInterp.has(x); ) {
      seenInterp.add(x);
      const r = resolve(x);
      if (r === undefined || other(r)) break;
      add(r, { read: false, write: false, exec: true, list: false, entries: false });
      x = host.interpreter(hostPath(r));
    }
  }

  // Directories bound whole: listed, entries changed, or looked at with nothing bound below.
  const dirBinds = new Map<string, boolean>(); // path -> rw
  for (const [p, it] of items) {
    if (it.kind !== 'dir') continue;
    if (p === '/') {
      if (it.list || it.entries) notes.push("the program listed or changed '/': the learnt root holds only what it used");
      continue;
    }
    const below = [...items.keys()].some((q) => q !== p && under(q, p));
    if (it.list || it.entries || it.write || !below) dirBinds.set(p, it.entries || it.write);
  }
  const coveredBy = (p: string, rw: boolean) => [...dirBinds].some(([d, drw]) => d !== p && under(p, d) && (drw || !rw));
  const mounts: MountPt[] = [];
  for (const [d, rw] of [...dirBinds].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (coveredBy(d, rw)) continue;
    mounts.push(mount({ src: hostPath(d), dst: d, is_bind: true, rw, is_dir: true }));
  }
  for (const [p, it] of [...items].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (it.kind !== 'file') continue;
    if (!coveredBy(p, it.write) && !dirBinds.has(p)) mounts.push(mount({ src: hostPath(p), dst: p, is_bind: true, rw: it.write, is_dir: false }));
  }
  for (const [l, target] of [...links].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!coveredBy(l, false)) mounts.push(mount({ src: target, dst: l, is_symlink: true }));
  }

  for (const [p, it] of items) {
    if (p === '/') continue;
    if (it.exec) ll.rx.add(p);
    if (it.write || it.entries) ll.rw.add(p);
    else if ((it.read || it.list) && !it.exec) ll.ro.add(p);
  }
  if ([...ll.ro, ...ll.rx].some((p) => p !== '/' && dirBinds.has(p) && items.get(p)?.list)) {
    notes.push('Landlock read rules on listed directories allow every file below them');
  }
  // A rule below another that grants as much adds nothing: rx and rw include reading.
  const covers = (p: string, kinds: ReadonlyArray<Set<string>>) => kinds.some((s) => [...s].some((d) => d !== p && under(p, d)));
  const ro = [...ll.ro].filter((p) => !covers(p, [ll.ro, ll.rw, ll.rx])).sort();
  const rw = [...ll.rw].filter((p) => !covers(p, [ll.rw])).sort();
  const rx = [...ll.rx].filter((p) => !covers(p, [ll.rx])).sort();
  return { mounts, landlock: { ro, rw, rx }, notes };
}
