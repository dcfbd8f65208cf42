/**
 * Mount namespace. The new root is built the way bubblewrap builds it, so
 * that no bind source is hidden and nothing is created on the host:
 *
 *   1. everything private; a work tmpfs on an existing host dir (e.g. /tmp);
 *   2. pivot_root into the work tmpfs: the host is now /oldroot, so sources
 *      are reached as /oldroot/<src> even if they lie under the work dir;
 *   3. a 16 MiB tmpfs at /newroot, then each entry in order (binds of
 *      /oldroot/<src>, filesystems, symlinks, src_content files from /files);
 *   4. pivot_root into /newroot and detach the old root (work tmpfs and host);
 *   5. access flags last, with mount_setattr(2): read-only, nosuid, nodev,
 *      noexec are only ever added (recursively) or rdonly cleared, so locked
 *      flags of the source are kept and later entries could still create
 *      their mount points inside earlier ones.
 */
import {
  AT_FDCWD,
  AT_RECURSIVE,
  MNT_DETACH,
  MOUNT_ATTR,
  MS,
  MS_FLAGS,
  O,
  O_FLAGS,
} from '../linux/consts.js';
import { bytes, int, nul, op, slot, str, Struct, type ChildOp, type OpOptions } from '../plan/ops.js';
import type { Prepared, PreparedMount } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

const ROOT_TMPFS_SIZE = 16 * 1024 * 1024;
const HOST = '/oldroot';
const NEW = '/newroot';
const FILES = '/files';

const HINTS = {
  bind: { EACCES: "the source path needs search permission for the jail's user (try 'chmod o+x' on its directories)" },
  attr: { EPERM: 'the source mount has locked flags that cannot be cleared (asked for rw on a read-only mount?)' },
  mount: { ENOSPC: 'mount limit reached (check /proc/sys/fs/mount-max)' },
};

function join(root: string, path: string): string {
  const clean = path.split('/').filter(Boolean).join('/');
  return clean ? `${root === '/' ? '' : root}/${clean}` : root;
}

const mount = (src: string | null, dst: string, fstype: string | null, flags: bigint, data: string | null, o: OpOptions = {}) =>
  op('mount', 'mnt', [src === null ? nul : str(src), str(dst), fstype === null ? nul : str(fstype), int(flags, MS_FLAGS), data ? str(data) : nul], o);
const mkdir = (path: string, mode: number, o: OpOptions = {}) =>
  op('mkdirat', 'mnt', [int(AT_FDCWD), str(path), int(mode)], { okErrno: ['EEXIST'], ...o });
const chdir = (path: string) => op('chdir', 'mnt', [str(path)]);

/** mkdir -p of the parents of path (below root). */
function mkdirParents(root: string, path: string, o: OpOptions): ChildOp[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => mkdir(join(root, parts.slice(0, i + 1).join('/')), 0o755, o));
}

/** An empty file or directory to mount on. */
function makeTarget(ctx: PlanContext, full: string, isDir: boolean, o: OpOptions): ChildOp[] {
  if (full === NEW) return [];
  if (isDir) return [mkdir(full, 0o755, o)];
  const s = allocSlot(ctx);
  const flags = O.O_CREAT | O.O_WRONLY | O.O_CLOEXEC | O.O_NOCTTY;
  return [
    op('openat', 'mnt', [int(AT_FDCWD), str(full), int(flags, O_FLAGS), int(0o644)], { ...o, save: s }),
    op('close', 'mnt', [slot(s, `fd(${full})`)], { ...o, cond: s }),
  ];
}

function writeFile(ctx: PlanContext, path: string, content: Uint8Array, o: OpOptions): ChildOp[] {
  const s = allocSlot(ctx);
  return [
    op('openat', 'mnt', [int(AT_FDCWD), str(path), int(O.O_CREAT | O.O_WRONLY | O.O_TRUNC | O.O_CLOEXEC, O_FLAGS), int(0o644)], { ...o, save: s }),
    op('write', 'mnt', [slot(s, `fd(${path})`), bytes(content, `<${content.length} bytes>`), int(content.length)], { ...o, expect: BigInt(content.length) }),
    op('close', 'mnt', [slot(s, `fd(${path})`)], o),
  ];
}

/** A minimal /dev: device binds, shm, pts, and the fd links (bubblewrap's --dev). */
const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: ReadonlyArray<[string, string]> = [
  ['/proc/self/fd', 'fd'],
  ['/proc/self/fd/0', 'stdin'],
  ['/proc/self/fd/1', 'stdout'],
  ['/proc/self/fd/2', 'stderr'],
  ['pts/ptmx', 'ptmx'],
];

function planDev(ctx: PlanContext, full: string, dst: string, o: OpOptions): ChildOp[] {
  const ops: ChildOp[] = [mount('tmpfs', full, 'tmpfs', MS.MS_NOSUID | MS.MS_NOEXEC, 'mode=0755,size=65536', { ...o, text: `mount(tmpfs -> '${dst}')` })];
  for (const n of DEV_NODES) {
    ops.push(...makeTarget(ctx, `${full}/${n}`, false, o));
    ops.push(mount(`${HOST}/dev/${n}`, `${full}/${n}`, null, MS.MS_BIND, null, { ...o, text: `mount('/dev/${n}' -> '${join(dst, n)}', MS_BIND)` }));
  }
  ops.push(mkdir(`${full}/shm`, 0o1777, o));
  ops.push(mount('tmpfs', `${full}/shm`, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'mode=1777', { ...o, text: `mount(tmpfs -> '${join(dst, 'shm')}')` }));
  // /dev/pts needs a devpts that allows new instances: best effort, like bubblewrap.
  ops.push(mkdir(`${full}/pts`, 0o755, o));
  ops.push(mount('devpts', `${full}/pts`, 'devpts', MS.MS_NOSUID | MS.MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=620', { soft: true }));
  for (const [target, name] of DEV_LINKS) ops.push(op('symlinkat', 'mnt', [str(target), int(AT_FDCWD), str(`${full}/${name}`)], o));
  return ops;
}

function planOverlay(ctx: PlanContext, m: PreparedMount, full: string, n: number, o: OpOptions, userns: boolean): ChildOp[] {
  const dir = `${FILES}/overlay.${n}`;
  return [
    mkdir(dir, 0o700, o),
    mount('tmpfs', dir, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'mode=0755', o),
    mkdir(`${dir}/upper`, 0o755, o),
    mkdir(`${dir}/work`, 0o755, o),
    ...makeTarget(ctx, full, true, o),
    mount('overlay', full, 'overlay', 0n, `lowerdir=${HOST}${m.src},upperdir=${dir}/upper,workdir=${dir}/work${userns ? ',userxattr' : ''}`, {
      ...o,
      text: `mount(overlay '${m.src}' -> '${m.dst}', upper: tmpfs)`,
    }),
  ];
}

/** One entry: its mount point, then the mount. Returns the slot that tells later ops whether it worked. */
function planEntry(p: Prepared, ctx: PlanContext, m: PreparedMount, n: number): { ops: ChildOp[]; ok?: number } {
  const ok = m.mandatory ? undefined : allocSlot(ctx);
  const o: OpOptions = m.mandatory ? {} : { soft: true };
  const full = join(NEW, m.dst);
  const ops = mkdirParents(NEW, m.dst, o);
  const last: OpOptions = { ...o, ...(ok !== undefined ? { save: ok } : {}) };
  switch (m.kind) {
    case 'symlink':
      ops.push(op('symlinkat', 'mnt', [str(m.src), int(AT_FDCWD), str(full)], { ...last, text: `symlink('${m.src}' -> '${m.dst}')` }));
      break;
    case 'bind':
      ops.push(...makeTarget(ctx, full, m.isDir, o));
      ops.push(mount(join(HOST, m.src), full, null, m.flags, null, { ...last, hints: HINTS.bind, text: `mount('${m.src}' -> '${m.dst}', ${flagText(m.flags)})` }));
      break;
    case 'fs':
      ops.push(...makeTarget(ctx, full, m.isDir, o));
      ops.push(mount(m.src, full, m.fstype || null, m.flags, m.data || null, { ...last, hints: HINTS.mount, text: `mount('${m.src}' -> '${m.dst}', type:'${m.fstype}', ${flagText(m.flags)}${m.data ? `, data:'${m.data}'` : ''})` }));
      break;
    case 'content': {
      const file = `${FILES}/content.${n}`;
      ops.push(...writeFile(ctx, file, m.content!, o));
      ops.push(...makeTarget(ctx, full, false, o));
      ops.push(mount(file, full, null, MS.MS_BIND, null, { ...last, text: `mount(<src_content> -> '${m.dst}', MS_BIND)` }));
      break;
    }
    case 'dev':
      ops.push(...makeTarget(ctx, full, true, o), ...planDev(ctx, full, m.dst, last));
      break;
    case 'overlay':
      ops.push(...planOverlay(ctx, m, full, n, last, p.cfg.clone_newuser));
      break;
  }
  return { ops, ok };
}

function flagText(flags: bigint): string {
  return MS_FLAGS.filter(([, b]) => (flags & b) === b && b !== 0n).map(([n]) => n).join('|') || '0';
}

/** struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd } */
function setattr(path: string, set: bigint, clr: bigint, recursive: boolean, o: OpOptions): ChildOp {
  const attr = new Struct(32).u64(0, set).u64(8, clr).done();
  const names = (v: bigint) => MOUNT_ATTR.filter(([, b]) => (v & b) !== 0n).map(([n]) => n).join('|');
  const what = [set ? `set:${names(set)}` : '', clr ? `clear:${names(clr)}` : ''].filter(Boolean).join(' ');
  return op('mount_setattr', 'mnt', [int(AT_FDCWD), str(path), int(recursive ? AT_RECURSIVE : 0), bytes(attr, what), int(32)], {
    ...o,
    hints: HINTS.attr,
    text: `mount_setattr('${path}', ${recursive ? 'AT_RECURSIVE, ' : ''}${what})`,
  });
}

function attrOps(m: { readonly: boolean; nosuid: boolean; nodev: boolean; noexec: boolean }, path: string, o: OpOptions): ChildOp[] {
  const set =
    (m.readonly ? MOUNT_ATTR[0]![1] : 0n) | (m.nosuid ? MOUNT_ATTR[1]![1] : 0n) | (m.nodev ? MOUNT_ATTR[2]![1] : 0n) | (m.noexec ? MOUNT_ATTR[3]![1] : 0n);
  const ops: ChildOp[] = [];
  if (set) ops.push(setattr(path, set, 0n, true, o));
  // A writable entry inside a read-only one: only its own mount is made writable again.
  if (!m.readonly) ops.push(setattr(path, 0n, MOUNT_ATTR[0]![1], false, o));
  return ops;
}

export function planMounts(p: Prepared, ctx: PlanContext): ChildOp[] {
  const { cfg, spec } = p;
  const cwd = op('chdir', 'mnt', [str(cfg.cwd)]);
  if (!cfg.clone_newns) {
    // No mount namespace: nsjail only applies chroot().
    const ops: ChildOp[] = [];
    if (spec.cli.chroot !== undefined) ops.push(op('chroot', 'mnt', [str(spec.cli.chroot)]), chdir('/'));
    return [...ops, cwd];
  }
  const pivot = !cfg.no_pivotroot;
  const ops: ChildOp[] = [
    // Private first: nothing we mount may propagate back to the host.
    mount(null, '/', null, MS.MS_REC | MS.MS_PRIVATE, null, { text: "mount('/', MS_REC|MS_PRIVATE)" }),
    mount('tmpfs', p.workBase, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'mode=0700', { text: `mount(work tmpfs -> '${p.workBase}')` }),
    chdir(p.workBase),
    mkdir('oldroot', 0o700),
    mkdir('newroot', 0o755),
    mkdir('files', 0o700),
  ];
  if (pivot) ops.push(op('pivot_root', 'mnt', [str('.'), str('oldroot')]), chdir('/'));
  const base = pivot ? '' : p.workBase;
  const rebase = (o: ChildOp): ChildOp => (pivot ? o : relocate(o, base));
  ops.push(rebase(mount('tmpfs', NEW, 'tmpfs', 0n, `size=${ROOT_TMPFS_SIZE},mode=0755`, { text: "mount(tmpfs -> '/')" })));
  const attrsLater: ChildOp[] = [];
  // The tmpfs root is read-only unless --rw (an entry mounted over '/' brings its own flags).
  attrsLater.push(...attrOps({ readonly: !spec.cli.rw, nosuid: false, nodev: false, noexec: false }, '/', {}));
  p.mounts.forEach((m, n) => {
    const { ops: entryOps, ok } = planEntry(p, ctx, m, n);
    ops.push(...entryOps.map(rebase));
    if (m.kind !== 'symlink') attrsLater.push(...attrOps(m, join('/', m.dst), ok !== undefined ? { cond: ok } : {}));
  });
  if (pivot) {
    // pivot_root(".", ".") stacks the old root on the new one; detaching it drops the host tree.
    ops.push(chdir(NEW), op('pivot_root', 'mnt', [str('.'), str('.')]), op('umount2', 'mnt', [str('.'), int(MNT_DETACH)]), chdir('/'));
  } else {
    ops.push(chdir(base + NEW), mount('.', '/', null, MS.MS_MOVE, null), op('chroot', 'mnt', [str('.')]), chdir('/'));
  }
  return [...ops, ...attrsLater, cwd];
}

/** --no_pivotroot: paths under the work dir instead of the pivoted root; host paths stay as they are. */
function relocate(o: ChildOp, base: string): ChildOp {
  const fix = (s: string) => (s.startsWith(HOST + '/') ? s.slice(HOST.length) : s.startsWith(NEW) || s.startsWith(FILES) ? base + s : s);
  return { ...o, args: o.args.map((a) => (a.t === 'str' ? str(fix(a.v)) : a)) };
}
