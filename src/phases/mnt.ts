/**
 * Mount namespace. The new root is built so that no bind source is hidden
 * and nothing is created on the host, whatever the mount table says:
 *
 *   1. everything private; a work tmpfs on an existing host dir (e.g. /tmp);
 *      pivot_root into it, so the host is /oldroot and every source is
 *      reachable even if it lies under the work dir;
 *   2. a 16 MiB tmpfs at /newroot;
 *   3. per entry, first the source, as a mount not yet in the new root:
 *      binds are open_tree(2) clones of the source (the one tsjail pinned at
 *      start, see pins.ts, or /oldroot/<src> opened without following a
 *      symlink) that get their access
 *      flags (ro, nosuid, ...) before they are attached, so a read-only host
 *      directory never becomes writable, not even while the root is built;
 *      filesystems are mounted on a staging dir with the host as root, so
 *      paths in their source and options mean what they mean on the host;
 *   4. then chroot into /newroot and attach it there with move_mount(2):
 *      mkdir -p, the mount point and symlinks resolve inside the new root,
 *      so an absolute symlink in a chroot dir cannot lead onto the host;
 *   5. read-only last, before the switch, for the tmpfs root and tmpfs entries
 *      (so later entries can create their mount points inside), through the
 *      fd kept for each (a path could name a mount stacked on top);
 *   6. pivot_root into /newroot and detach the old root (work tmpfs and host).
 *
 * Access flags are only ever added with mount_setattr(2), never recomputed:
 * the locked flags of a source (nosuid, nodev, ...) are kept, which is why
 * a --chroot on a nosuid,nodev filesystem works here (nsjail: EPERM).
 */
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_RECURSIVE,
  F_DUPFD_CLOEXEC,
  MNT_DETACH,
  MOUNT_ATTR,
  MOVE_MOUNT_FLAGS,
  MS,
  MS_FLAGS,
  O,
  O_FLAGS,
  OPEN_TREE_FLAGS,
  RESOLVE_FLAGS,
  S_IFREG,
  flagsToStr,
} from '../linux/consts.js';
import { bytes, int, nul, op, slot, str, Struct, type ChildOp, type OpOptions } from '../plan/ops.js';
import { q } from '../plan/describe.js';
import type { Prepared, PreparedMount } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

const ROOT_TMPFS_SIZE = 16 * 1024 * 1024;
/** Filesystems whose read-only flag waits until the end: later entries may need mount points inside, and they hold no host data. */
const DEFER_RO_FS = new Set(['tmpfs', 'ramfs']);

const bit = (name: string, table = MOUNT_ATTR) => table.find(([n]) => n === name)![1];
const ATTR = { ro: bit('MOUNT_ATTR_RDONLY'), nosuid: bit('MOUNT_ATTR_NOSUID'), nodev: bit('MOUNT_ATTR_NODEV'), noexec: bit('MOUNT_ATTR_NOEXEC') };
const OPEN_TREE_CLONE = bit('OPEN_TREE_CLONE', OPEN_TREE_FLAGS) | bit('OPEN_TREE_CLOEXEC', OPEN_TREE_FLAGS);
const MOVE_ATTACH = bit('MOVE_MOUNT_F_EMPTY_PATH', MOVE_MOUNT_FLAGS) | bit('MOVE_MOUNT_T_SYMLINKS', MOVE_MOUNT_FLAGS);
const O_DIR_PATH = O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC;
const RESOLVE_NO_SYMLINKS = bit('RESOLVE_NO_SYMLINKS', RESOLVE_FLAGS);

const HINTS = {
  source: { EACCES: "the source path needs search permission for the jail's user (try 'chmod o+x' on its directories)" },
  attr: { EPERM: 'the mount has locked flags that cannot be changed from inside a user namespace' },
  mount: { ENOSPC: 'mount limit reached (check /proc/sys/fs/mount-max)', EACCES: "the source path needs search permission for the jail's user (try 'chmod o+x')" },
  target: { EROFS: 'the mount point does not exist under a read-only mount, and tsjail creates nothing on the host: create it there, or mount it under a writable one (--rw, -T)' },
  proc: { EPERM: 'procfs needs a fully visible /proc on the host (no overmounts such as /dev/null on /proc/kcore) and a new pid namespace' },
} as const;

const SKIPPED = { ENOENT: 'mandatory:false, skipped' };

function join(root: string, path: string): string {
  const clean = path.split('/').filter(Boolean).join('/');
  return clean ? `${root === '/' ? '' : root}/${clean}` : root || '/';
}

/** Where things live while the root is built: the work root's layout in either mode. */
interface Layout {
  /** Prefix that turns a host path into a path in the work root. */
  readonly host: string;
  readonly newRoot: string;
  readonly files: string;
  /** Slot of an O_PATH fd of the work root, to leave the new root's chroot. */
  readonly workFd: number;
  /** Scratch slot for a bind's clone before it takes its entry's slot. */
  readonly treeFd: number;
  readonly pivot: boolean;
}

/** An entry's name in messages, built only if a message is (a run with many mounts and -q builds none). */
type Label = () => string;
function once(make: () => string): Label {
  let text: string | undefined;
  return () => (text ??= make());
}

const mount = (src: string | null, dst: string, fstype: string | null, flags: bigint, data: string | null, o: OpOptions = {}) =>
  op('mount', 'mnt', [src === null ? nul : str(src), str(dst), fstype === null ? nul : str(fstype), int(flags, MS_FLAGS), data ? str(data) : nul], o);
const mkdir = (path: string, mode: number, o: OpOptions = {}) => op('mkdirat', 'mnt', [int(AT_FDCWD), str(path), int(mode)], { okErrno: ['EEXIST'], ...o });
const chdir = (path: string, o: OpOptions = {}) => op('chdir', 'mnt', [str(path)], o);
const chroot = (path: string, o: OpOptions = {}) => op('chroot', 'mnt', [str(path)], o);
const openPath = (path: string, save: number, o: OpOptions = {}) =>
  op('openat', 'mnt', [int(AT_FDCWD), str(path), int(O_DIR_PATH, O_FLAGS), int(0)], { ...o, save });
const close = (s: number, o: OpOptions = {}) => op('close', 'mnt', [slot(s, 'fd')], { ...o, cond: s });

/** struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd } on the mount behind a saved fd. */
/** `set:MOUNT_ATTR_…` by value: a few values, each rendered once. */
const attrTexts = new Map<bigint, string>();
function attrText(set: bigint): string {
  let t = attrTexts.get(set);
  if (t === undefined) attrTexts.set(set, (t = `set:${flagsToStr(set, MOUNT_ATTR)}`));
  return t;
}

function setattrFd(s: number, set: bigint, recursive: boolean, label: Label, o: OpOptions = {}): ChildOp {
  const attr = new Struct(32).u64(0, set).done();
  const what = attrText(set);
  const flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  return op('mount_setattr', 'mnt', [slot(s, 'fd'), str(''), int(flags, OPEN_TREE_FLAGS), bytes(attr, what), int(32)], {
    ...o,
    cond: s,
    hints: HINTS.attr,
    text: () => `mount_setattr(${what}${recursive ? ', AT_RECURSIVE' : ''}) for ${label()}`,
  });
}

function attrsOf(m: { nosuid: boolean; nodev: boolean; noexec: boolean }, ro: boolean): bigint {
  return (ro ? ATTR.ro : 0n) | (m.nosuid ? ATTR.nosuid : 0n) | (m.nodev ? ATTR.nodev : 0n) | (m.noexec ? ATTR.noexec : 0n);
}

/** The flags nsjail would pass for this entry, for messages. */
function entryFlags(m: PreparedMount): bigint {
  const access = (m.readonly ? MS.MS_RDONLY : 0n) | (m.nosuid ? MS.MS_NOSUID : 0n) | (m.nodev ? MS.MS_NODEV : 0n) | (m.noexec ? MS.MS_NOEXEC : 0n);
  return m.flags | access | (m.kind === 'bind' || m.kind === 'content' ? MS.MS_PRIVATE : 0n);
}

/** The entry as the user wrote it, named in every message about it. */
export function entryLabel(m: PreparedMount): string {
  const flags = flagsToStr(entryFlags(m), MS_FLAGS);
  switch (m.kind) {
    case 'symlink':
      return `symlink(${q(m.src)} -> ${q(m.dst)})`;
    case 'bind':
      return `mount(${q(m.src)} -> ${q(m.dst)}, ${flags})`;
    case 'fs':
      return `mount(${q(m.src)} -> ${q(m.dst)}, type:${q(m.fstype)}, ${flags}${m.data ? `, data:${q(m.data)}` : ''})`;
    case 'content':
      return `mount(<src_content ${m.content?.length ?? 0} bytes> -> ${q(m.dst)}, ${flags})`;
    case 'dev':
      return `mount(minimal /dev -> ${q(m.dst)})`;
    case 'overlay':
      return `mount(overlay ${q(m.src)} -> ${q(m.dst)}, upper:tmpfs)`;
    case 'overlay_ro':
      return `mount(overlay lower:${q(m.src)} -> ${q(m.dst)}, read-only)`;
    case 'dir':
      return `mkdir(${q(m.dst)}, 0${m.mode!.toString(8)})`;
  }
}

/** A minimal /dev: device binds, shm, pts, and the fd links (bubblewrap's --dev). */
const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: ReadonlyArray<[target: string, name: string]> = [
  ['/proc/self/fd', 'fd'],
  ['/proc/self/fd/0', 'stdin'],
  ['/proc/self/fd/1', 'stdout'],
  ['/proc/self/fd/2', 'stderr'],
  ['pts/ptmx', 'ptmx'],
];

const RESOLVE_TEXT = flagsToStr(RESOLVE_NO_SYMLINKS, RESOLVE_FLAGS);

/** A path in overlayfs' options: its separators escaped. */
const escOverlay = (s: string) => s.replace(/[\\,:]/g, (ch) => `\\${ch}`);

/** Mount on a staging dir, then keep an O_PATH fd of it (moved into the new root later). */
function stageDone(stage: string, t: number): ChildOp {
  return op('openat', 'mnt', [int(AT_FDCWD), str(stage), int(O_DIR_PATH, O_FLAGS), int(0)], { cond: t, save: t });
}

/**
 * A bind source tsjail could not pin: opened by path without following any symlink (the path was
 * resolved at start, so one found now was planted since), then cloned through that descriptor.
 * The clone replaces the path descriptor at its number (dup3), so slot t holds it as for any entry.
 */
function sourceByPath(L: Layout, m: PreparedMount, t: number, label: Label, soft: OpOptions): ChildOp[] {
  const how = new Struct(24).u64(0, O.O_PATH | O.O_CLOEXEC).u64(16, RESOLVE_NO_SYMLINKS).done();
  const resolve = RESOLVE_TEXT;
  const flags = OPEN_TREE_CLONE | BigInt(AT_RECURSIVE) | BigInt(AT_EMPTY_PATH);
  const hints = { ...HINTS.source, ELOOP: 'a symlink appeared in the source path after tsjail resolved it at start, and tsjail does not follow it', ...(soft.soft ? SKIPPED : {}) };
  const tree = slot(L.treeFd, 'fd');
  return [
    op('openat2', 'mnt', [int(AT_FDCWD), str(join(L.host, m.src)), bytes(how, `{O_PATH|O_CLOEXEC, ${resolve}}`), int(24)], {
      ...soft,
      save: t,
      hints,
      text: () => `openat2(${q(m.src)}, O_PATH, ${resolve}) for ${label()}`,
    }),
    op('open_tree', 'mnt', [slot(t, 'fd'), str(''), int(flags, OPEN_TREE_FLAGS)], { cond: t, save: L.treeFd, text: () => `open_tree(fd(${q(m.src)}), ${flagsToStr(flags, OPEN_TREE_FLAGS)}) for ${label()}` }),
    op('dup3', 'mnt', [tree, slot(t, 'fd'), int(O.O_CLOEXEC, O_FLAGS)], { cond: t }),
    op('close', 'mnt', [tree], { cond: t }),
  ];
}

/** The source of one entry, in the work root. Leaves a mount fd in slot t (negative: skip the entry). */
function planSource(p: Prepared, L: Layout, m: PreparedMount, n: number, t: number, label: Label, soft: OpOptions): ChildOp[] {
  const userns = p.userns;
  switch (m.kind) {
    case 'symlink':
    case 'dir':
      return [];
    case 'bind': {
      const pinned = p.pins?.fds[n];
      const ops = pinned === undefined ? sourceByPath(L, m, t, label, soft) : [
        // tsjail's clone of the source it opened at start (see phases/pins.ts), at a fixed descriptor.
        op('fcntl', 'mnt', [int(pinned), int(F_DUPFD_CLOEXEC), int(0)], { save: t, text: () => `fcntl(<clone of pinned ${q(m.src)}>, F_DUPFD_CLOEXEC) for ${label()}` }),
        op('close', 'mnt', [int(pinned)], { text: () => `close(<clone of pinned ${q(m.src)}>)` }),
      ];
      // Before attaching: a read-only bind is never writable in the jail's tree, not even for mkdir.
      const set = attrsOf(m, m.readonly);
      if (set) ops.push(setattrFd(t, set, true, label));
      return ops;
    }
    case 'content': {
      const file = `${L.files}/content.${n}`;
      const ops = [
        op('openat', 'mnt', [int(AT_FDCWD), str(file), int(O.O_CREAT | O.O_EXCL | O.O_WRONLY | O.O_CLOEXEC, O_FLAGS), int(0o644)], { save: t }),
        op('write', 'mnt', [slot(t, 'fd'), bytes(m.content!, `<${m.content!.length} bytes>`), int(m.content!.length)], { expect: BigInt(m.content!.length), text: () => `write(<src_content>) for ${label()}` }),
        op('close', 'mnt', [slot(t, 'fd')]),
        op('open_tree', 'mnt', [int(AT_FDCWD), str(file), int(OPEN_TREE_CLONE, OPEN_TREE_FLAGS)], { save: t }),
      ];
      const set = attrsOf(m, m.readonly);
      if (set) ops.push(setattrFd(t, set, false, label));
      return ops;
    }
    case 'fs': {
      const stage = `${L.files}/mnt.${n}`;
      const flags = m.flags | (m.nosuid ? MS.MS_NOSUID : 0n) | (m.nodev ? MS.MS_NODEV : 0n) | (m.noexec ? MS.MS_NOEXEC : 0n);
      const hints = m.fstype === 'proc' ? { ...HINTS.mount, ...HINTS.proc } : HINTS.mount;
      const doMount = mount(m.src, '.', m.fstype || null, flags, m.data || null, { ...soft, save: t, hints, text: label });
      // With the host as root and the stage as cwd: a source or option naming a host path (a device, overlay dirs) means the host's.
      const hostView = L.pivot ? [chroot(L.host), doMount, op('fchdir', 'mnt', [slot(L.workFd, 'fd(work root)')]), chroot('.')] : [doMount];
      const ops = [mkdir(stage, 0o755), chdir(stage), ...hostView, stageDone(stage, t)];
      if (m.readonly && !DEFER_RO_FS.has(m.fstype)) ops.push(setattrFd(t, ATTR.ro, false, label));
      return ops;
    }
    case 'dev': {
      const stage = `${L.files}/dev.${n}`;
      const c = { cond: t };
      const ops: ChildOp[] = [
        mkdir(stage, 0o755),
        mount('tmpfs', stage, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC, 'mode=0755,size=65536', { ...soft, save: t, text: () => `mount('tmpfs' -> ${q(m.dst)})` }),
      ];
      for (const name of DEV_NODES) {
        ops.push(op('mknodat', 'mnt', [int(AT_FDCWD), str(`${stage}/${name}`), int(S_IFREG | 0o666), int(0)], c));
        // A host without one of the nodes still gets the others.
        ops.push(mount(join(L.host, `/dev/${name}`), `${stage}/${name}`, null, MS.MS_BIND, null, { ...c, soft: true, text: () => `mount('/dev/${name}' -> ${q(join(m.dst, name))}, MS_BIND)` }));
      }
      ops.push(mkdir(`${stage}/shm`, 0o1777, c));
      ops.push(mount('tmpfs', `${stage}/shm`, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'mode=1777', { ...c, text: () => `mount('tmpfs' -> ${q(join(m.dst, 'shm'))})` }));
      // A private devpts instance where the kernel allows it, like bubblewrap.
      ops.push(mkdir(`${stage}/pts`, 0o755, c));
      ops.push(mount('devpts', `${stage}/pts`, 'devpts', MS.MS_NOSUID | MS.MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=620', { ...c, soft: true, text: () => `mount('devpts' -> ${q(join(m.dst, 'pts'))})` }));
      for (const [target, name] of DEV_LINKS) ops.push(op('symlinkat', 'mnt', [str(target), int(AT_FDCWD), str(`${stage}/${name}`)], c));
      const consolePath = m.console;
      if (consolePath) {
        // tsjail's terminal as the console, like bubblewrap's --dev; a jail without it still runs.
        ops.push(op('mknodat', 'mnt', [int(AT_FDCWD), str(`${stage}/console`), int(S_IFREG | 0o600), int(0)], c));
        ops.push(mount(join(L.host, consolePath), `${stage}/console`, null, MS.MS_BIND, null, { ...c, soft: true, text: () => `mount(${q(consolePath)} -> ${q(join(m.dst, 'console'))}, MS_BIND)` }));
      }
      return [...ops, stageDone(stage, t)];
    }
    case 'overlay_ro': {
      // No upper and work dir: overlayfs is read-only, and lists the top layer first.
      const stage = `${L.files}/overlay.${n}`;
      const data = `lowerdir=${m.lowers!.map((d) => escOverlay(join(L.host, d))).join(':')}${userns ? ',userxattr' : ''}`;
      const flags = MS.MS_RDONLY | MS.MS_NODEV | (m.nosuid ? MS.MS_NOSUID : 0n) | (m.noexec ? MS.MS_NOEXEC : 0n);
      return [
        mkdir(stage, 0o755),
        mount('overlay', stage, 'overlay', flags, data, { ...soft, save: t, hints: { ...HINTS.source, ...(soft.soft ? SKIPPED : {}) }, text: label }),
        stageDone(stage, t),
      ];
    }
    case 'overlay': {
      const dir = `${L.files}/overlay.${n}`;
      const esc = escOverlay;
      const data = `lowerdir=${esc(join(L.host, m.src))},upperdir=${dir}/upper,workdir=${dir}/work${userns ? ',userxattr' : ''}`;
      return [
        mkdir(dir, 0o700),
        mount('tmpfs', dir, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'mode=0755', { text: () => `mount('tmpfs' -> <overlay upper of ${q(m.dst)}>)` }),
        ...['upper', 'work', 'mnt'].map((d) => mkdir(`${dir}/${d}`, 0o755)),
        mount('overlay', `${dir}/mnt`, 'overlay', 0n, data, { ...soft, save: t, hints: { ...HINTS.source, ...(soft.soft ? SKIPPED : {}) }, text: label }),
        stageDone(`${dir}/mnt`, t),
      ];
    }
  }
}

/**
 * With --no_pivotroot the work tmpfs sits on a host dir (e.g. /tmp), so the
 * recursive bind of one of its ancestors (--chroot /) copies it along: where
 * that copy lands in the jail, or undefined.
 */
function workCopyIn(L: Layout, workBase: string, m: PreparedMount): string | undefined {
  if (L.pivot || m.kind !== 'bind') return undefined;
  const under = m.src === '/' ? workBase !== '/' : workBase.startsWith(m.src + '/');
  return under ? join(m.dst, workBase.slice(m.src === '/' ? 0 : m.src.length)) : undefined;
}

/** Attach one entry inside the new root (chrooted, so every path resolves there). */
function planAttach(L: Layout, m: PreparedMount, t: number | undefined, label: Label, soft: OpOptions, workCopy?: string, maskSlot?: number): ChildOp[] {
  const c: OpOptions = t === undefined ? {} : { cond: t };
  const s: OpOptions = { ...soft, ...c };
  const parts = m.dst.split('/').filter(Boolean);
  const ops: ChildOp[] = [chroot(L.newRoot, c), chdir('/', c)];
  const hints = HINTS.target;
  parts.slice(0, -1).forEach((_, i) => ops.push(mkdir(join('/', parts.slice(0, i + 1).join('/')), 0o755, { ...s, hints, text: () => `mkdirat(${q(join('/', parts.slice(0, i + 1).join('/')))}) for ${label()}` })));
  if (m.kind === 'symlink') {
    ops.push(op('symlinkat', 'mnt', [str(m.src), int(AT_FDCWD), str(m.dst)], { ...s, hints, text: label }));
  } else if (m.kind === 'dir') {
    // The mode as given, not cut by the umask the program inherits; an existing directory keeps its own.
    ops.push(
      op('umask', 'mnt', [int(0)], { save: maskSlot, text: 'umask(0)' }),
      mkdir(m.dst, m.mode!, { ...s, hints, text: label }),
      op('umask', 'mnt', [slot(maskSlot!, 'umask')], { text: 'umask(<saved>)' }),
    );
  } else {
    if (parts.length) {
      ops.push(
        m.isDir
          ? mkdir(m.dst, 0o755, { ...s, hints, text: () => `mkdirat(${q(m.dst)}) for ${label()}` })
          : op('mknodat', 'mnt', [int(AT_FDCWD), str(m.dst), int(S_IFREG | 0o644), int(0)], { ...s, okErrno: ['EEXIST'], hints, text: () => `mknodat(${q(m.dst)}, S_IFREG) for ${label()}` }),
      );
    }
    ops.push(
      op('move_mount', 'mnt', [slot(t!, 'fd'), str(''), int(AT_FDCWD), str(m.dst), int(MOVE_ATTACH, MOVE_MOUNT_FLAGS)], {
        ...s,
        text: () => `move_mount(-> ${q(m.dst)}) for ${label()}`,
      }),
    );
    // The jail sees the directory beneath (the chroot's own /tmp), never tsjail's work files. A
    // fresh chroot sees the mount just attached, should it be on '/'. A source pinned by tsjail
    // was cloned in tsjail's own namespace, which has no work tmpfs: then there is no copy (EINVAL).
    if (workCopy) {
      ops.push(op('fchdir', 'mnt', [slot(L.workFd, 'fd(work root)')], c), chroot('.', c), chroot(L.newRoot, c), chdir('/', c));
      ops.push(op('umount2', 'mnt', [str(workCopy), int(MNT_DETACH)], { ...c, okErrno: ['EINVAL'], text: () => `umount2(${q(workCopy)}, MNT_DETACH): the work tmpfs copied with ${label()}` }));
    }
  }
  // Back to the work root; the next chroot into the new root also sees a mount made on '/'.
  ops.push(op('fchdir', 'mnt', [slot(L.workFd, 'fd(work root)')]), chroot('.'));
  return ops;
}

export function planMounts(p: Prepared, ctx: PlanContext): ChildOp[] {
  const { root } = p;
  const cwd = chdir(root.cwd);
  if (!root.newNs) {
    // No mount namespace: nsjail only applies chroot().
    const ops: ChildOp[] = [];
    if (root.chroot !== undefined) ops.push(chroot(root.chroot), chdir('/'));
    return [...ops, cwd];
  }
  const pivot = root.pivot;
  const base = pivot ? '' : p.workBase;
  const [workFd, rootFd, scratch, treeFd] = [allocSlot(ctx), allocSlot(ctx), allocSlot(ctx), allocSlot(ctx)];
  const L: Layout = { host: pivot ? '/oldroot' : '', newRoot: `${base}/newroot`, files: `${base}/files`, workFd, treeFd, pivot };
  const ops: ChildOp[] = [
    // Private first: nothing we mount may propagate back to the host.
    mount(null, '/', null, MS.MS_REC | MS.MS_PRIVATE, null, { text: "mount('/', MS_REC|MS_PRIVATE)" }),
    mount('tmpfs', p.workBase, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'mode=0700', { text: () => `mount('tmpfs' -> ${q(p.workBase)}) (work dir)` }),
    chdir(p.workBase),
    mkdir('oldroot', 0o700),
    mkdir('newroot', 0o755),
    mkdir('files', 0o700),
  ];
  if (pivot) ops.push(op('pivot_root', 'mnt', [str('.'), str('oldroot')]), chdir('/'));
  ops.push(
    mount('tmpfs', L.newRoot, 'tmpfs', 0n, `size=${ROOT_TMPFS_SIZE},mode=0755`, { text: "mount('tmpfs' -> '/') (root)" }),
    openPath(L.newRoot, rootFd),
    openPath('/', L.workFd),
  );
  // Read-only at the end, through the fd kept since mounting: tmpfs roots and tmpfs entries.
  const late: ChildOp[] = !root.readonly ? [] : [setattrFd(rootFd, ATTR.ro, false, () => "the root tmpfs '/'")];
  late.push(close(rootFd));
  p.mounts.forEach((m, n) => {
    const label = once(() => entryLabel(m));
    const soft: OpOptions = m.mandatory ? {} : { soft: true };
    const deferRo = m.readonly && ((m.kind === 'fs' && DEFER_RO_FS.has(m.fstype)) || m.kind === 'dev');
    const t = m.kind === 'symlink' || m.kind === 'dir' ? undefined : deferRo ? allocSlot(ctx) : scratch;
    ops.push(...planSource(p, L, m, n, t ?? scratch, label, soft), ...planAttach(L, m, t, label, soft, workCopyIn(L, p.workBase, m), scratch));
    if (t === undefined) return;
    if (deferRo) late.push(setattrFd(t, ATTR.ro, false, label, soft), close(t));
    else ops.push(close(t));
  });
  // Every mount point exists now. The work root's fd would reach the old root (and the host) from inside.
  ops.push(...late, close(L.workFd));
  if (pivot) {
    // pivot_root(".", ".") stacks the old root on the new one; detaching it drops the host tree.
    ops.push(chdir(L.newRoot), op('pivot_root', 'mnt', [str('.'), str('.')]), op('umount2', 'mnt', [str('.'), int(MNT_DETACH)]), chdir('/'));
  } else {
    // nsjail's --no_pivotroot: the host root stays underneath (escapable with enough capabilities).
    ops.push(chdir(L.newRoot), mount('.', '/', null, MS.MS_MOVE, null), chroot('.'), chdir('/'));
  }
  return [...ops, cwd];
}
