/**
 * Equivalent calls. Denying `openat` leaves `open`, `openat2` and io_uring's
 * IORING_OP_OPENAT; denying `execve` leaves `execveat`; denying `clone` leaves
 * `clone3`, `fork` and `vfork`. When the filter's DEFAULT lets calls through
 * (ALLOW or LOG, without --syscall_allow), a rule on a call is carried over to
 * the other forms of the same operation, with its condition rewritten for
 * their arguments. Allow-lists (any other DEFAULT) need nothing: an equivalent
 * the list does not name is refused anyway.
 *
 * Each family names the operation's arguments (canonical slots); a form maps
 * every slot to one of its own arguments, a constant (open's dfd is AT_FDCWD),
 * or null when the value sits in memory. A rule's condition is rewritten slot
 * by slot and folded: `clone { clone_flags & CLONE_NEWUSER }` becomes false for
 * fork (flags SIGCHLD) and adds nothing. Where a condition cannot be expressed
 * — the target keeps that argument in memory (openat2's struct open_how,
 * clone3's struct clone_args, io_uring's submission queue, the mount API) or
 * the family has no slot for it — a refusal becomes ENOSYS: the program falls
 * back to the older call, where the rule applies exactly.
 *
 * Direction: only `source` forms carry their rules over. The newer, wider
 * calls (openat2, execveat, clone3, statx, renameat2, faccessat2, fchmodat2,
 * accept4, the *mmsg and p*v forms) are targets only, because a rule on them
 * alone is how policies ask for a fallback (`ERRNO(38) { clone3 }`) or close
 * just the extra door (`ERRNO(1) { execveat }` against descriptor execution),
 * and carrying those to the older call would stop every open, exec or clone.
 *
 * Data only; the per-table index is built on first use.
 */
import { action, type Action } from './actions.js';
import {
  SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRAP,
} from './bpf.js';
import type { Pos } from './lexer.js';
import { cmpWidth, simplifyCond, type Cond, type Rule, type Val } from './model.js';
import { syscallByName, syscallByNr, type SyscallTable } from './syscalls/index.js';

/** An argument index of the form, a constant, or null (the value is in memory). */
type Slot = number | bigint | null;

interface Form {
  readonly call: string;
  /** One entry per family argument; absent: every argument is in memory (opaque). */
  readonly slots?: readonly Slot[];
  /** A rule on this call carries over to the family's other forms. */
  readonly source?: true;
}

export interface Family {
  /** What the family does, for documentation and lint. */
  readonly what: string;
  readonly args: readonly string[];
  readonly forms: readonly Form[];
  /**
   * Slots that pick the operation rather than parametrise it: a form's constant
   * there narrows what its rule says about the other forms (unlink is
   * unlinkat with flag 0, rmdir is unlinkat with AT_REMOVEDIR).
   */
  readonly selects?: readonly string[];
  /** io_uring performs this operation: io_uring_setup/enter/register are targets too. */
  readonly ioUring?: true;
}

const AT_FDCWD = BigInt.asUintN(64, -100n); // an int sign-extended in its register
const AT_SYMLINK_NOFOLLOW = 0x100n;
const AT_REMOVEDIR = 0x200n;
const AT_EMPTY_PATH = 0x1000n;
const O_WRONLY_CREAT_TRUNC = 0x241n; // creat(2)
const SIGCHLD = 17n;
const CLONE_VM = 0x100n;
const CLONE_VFORK = 0x4000n;
const ENOSYS = 38;

const src = (call: string, ...slots: Slot[]): Form => ({ call, slots, source: true });
const to = (call: string, ...slots: Slot[]): Form => ({ call, slots });
const opaque = (...calls: string[]): Form[] => calls.map((call) => ({ call }));
const single = (what: string, call: string): Family => ({ what, args: [], forms: [src(call)], ioUring: true });

export const IO_URING_CALLS = ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] as const;

/** The table (x86_64 names, Kafel's spellings). README.md and src/seccomp/README.md describe it. */
export const FAMILIES: readonly Family[] = [
  {
    what: 'open a file', args: ['dfd', 'path', 'flags', 'mode'], ioUring: true,
    forms: [src('openat', 0, 1, 2, 3), src('open', AT_FDCWD, 0, 1, 2), to('creat', AT_FDCWD, 0, O_WRONLY_CREAT_TRUNC, 1), ...opaque('openat2', 'open_by_handle_at')],
  },
  {
    what: 'execute a program', args: ['dfd', 'path', 'argv', 'envp', 'flags'],
    forms: [src('execve', AT_FDCWD, 0, 1, 2, 0n), to('execveat', 0, 1, 2, 3, 4)],
  },
  {
    what: 'create a process or thread', args: ['flags', 'stack', 'parent_tid', 'child_tid', 'tls'],
    forms: [
      src('clone', 0, 1, 2, 3, 4),
      to('fork', SIGCHLD, 0n, 0n, 0n, 0n),
      to('vfork', CLONE_VM | CLONE_VFORK | SIGCHLD, 0n, 0n, 0n, 0n),
      ...opaque('clone3'),
    ],
  },
  {
    what: 'rename', args: ['olddfd', 'old', 'newdfd', 'new', 'flags'], ioUring: true,
    forms: [src('rename', AT_FDCWD, 0, AT_FDCWD, 1, 0n), src('renameat', 0, 1, 2, 3, 0n), to('renameat2', 0, 1, 2, 3, 4)],
  },
  {
    what: 'remove a file or directory', args: ['dfd', 'path', 'flag'], selects: ['flag'], ioUring: true,
    forms: [src('unlink', AT_FDCWD, 0, 0n), src('rmdir', AT_FDCWD, 0, AT_REMOVEDIR), src('unlinkat', 0, 1, 2)],
  },
  {
    what: 'hard link', args: ['olddfd', 'old', 'newdfd', 'new', 'flags'], ioUring: true,
    forms: [src('link', AT_FDCWD, 0, AT_FDCWD, 1, 0n), src('linkat', 0, 1, 2, 3, 4)],
  },
  { what: 'symbolic link', args: ['target', 'newdfd', 'new'], ioUring: true, forms: [src('symlink', 0, AT_FDCWD, 1), src('symlinkat', 0, 1, 2)] },
  { what: 'make a directory', args: ['dfd', 'path', 'mode'], ioUring: true, forms: [src('mkdir', AT_FDCWD, 0, 1), src('mkdirat', 0, 1, 2)] },
  { what: 'make a node', args: ['dfd', 'path', 'mode', 'dev'], forms: [src('mknod', AT_FDCWD, 0, 1, 2), src('mknodat', 0, 1, 2, 3)] },
  {
    what: 'file status by path', args: ['dfd', 'path', 'flags'], ioUring: true,
    forms: [src('newstat', AT_FDCWD, 0, 0n), src('newlstat', AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW), src('newfstatat', 0, 1, 3), to('statx', 0, 1, 2)],
  },
  {
    what: 'change ownership', args: ['dfd', 'path', 'user', 'group', 'flags'],
    forms: [
      src('chown', AT_FDCWD, 0, 1, 2, 0n), src('lchown', AT_FDCWD, 0, 1, 2, AT_SYMLINK_NOFOLLOW),
      src('fchown', 0, null, 1, 2, AT_EMPTY_PATH), src('fchownat', 0, 1, 2, 3, 4),
    ],
  },
  {
    what: 'change mode', args: ['dfd', 'path', 'mode', 'flags'],
    forms: [src('chmod', AT_FDCWD, 0, 1, 0n), src('fchmod', 0, null, 1, AT_EMPTY_PATH), src('fchmodat', 0, 1, 2, 0n), to('fchmodat2', 0, 1, 2, 3)],
  },
  {
    what: 'check access', args: ['dfd', 'path', 'mode', 'flags'],
    forms: [src('access', AT_FDCWD, 0, 1, 0n), src('faccessat', 0, 1, 2, 0n), to('faccessat2', 0, 1, 2, 3)],
  },
  { what: 'read a symbolic link', args: ['dfd', 'path', 'buf', 'size'], forms: [src('readlink', AT_FDCWD, 0, 1, 2), src('readlinkat', 0, 1, 2, 3)] },
  {
    what: 'send a signal', args: ['pid', 'sig'],
    forms: [src('kill', 0, 1), src('tkill', 0, 1), src('tgkill', 0, 2), to('rt_sigqueueinfo', 0, 1), to('rt_tgsigqueueinfo', 0, 2), to('pidfd_send_signal', null, 1)],
  },
  {
    what: 'mount', args: [],
    forms: [src('mount'), ...opaque('open_tree', 'open_tree_attr', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr')],
  },
  { what: 'read', args: ['fd'], ioUring: true, forms: [src('read', 0), to('pread64', 0), to('readv', 0), to('preadv', 0), to('preadv2', 0)] },
  { what: 'write', args: ['fd'], ioUring: true, forms: [src('write', 0), to('pwrite64', 0), to('writev', 0), to('pwritev', 0), to('pwritev2', 0)] },
  { what: 'send', args: ['fd'], ioUring: true, forms: [src('sendto', 0), src('sendmsg', 0), to('sendmmsg', 0)] },
  { what: 'receive', args: ['fd'], ioUring: true, forms: [src('recvfrom', 0), src('recvmsg', 0), to('recvmmsg', 0)] },
  { what: 'accept a connection', args: ['fd', 'addr', 'addrlen', 'flags'], ioUring: true, forms: [src('accept', 0, 1, 2, 0n), to('accept4', 0, 1, 2, 3)] },
  // Operations io_uring performs that have no other form.
  single('create a socket', 'socket'),
  single('connect a socket', 'connect'),
  single('bind a socket', 'bind'),
  single('listen', 'listen'),
  single('shut a socket down', 'shutdown'),
  single('set a socket option', 'setsockopt'),
  single('read a socket option', 'getsockopt'),
  single('move data between descriptors', 'splice'),
  single('duplicate pipe content', 'tee'),
  single('allocate file space', 'fallocate'),
  single('truncate a file', 'ftruncate'),
];

const U32 = 0xffffffffn;
const U64 = (1n << 64n) - 1n;
const NOWHERE: Pos = { line: 0, col: 0 };

interface Member {
  readonly family: Family;
  readonly form: Form;
  readonly nr: number;
}

const indexes = new Map<SyscallTable, Map<number, Member[]>>();

/** nr → the family forms it is, for one table; unknown names (other arches) are skipped. */
function indexOf(table: SyscallTable): Map<number, Member[]> {
  let idx = indexes.get(table);
  if (idx) return idx;
  idx = new Map();
  for (const base of FAMILIES) {
    const family = base.ioUring ? { ...base, forms: [...base.forms, ...opaque(...IO_URING_CALLS)] } : base;
    for (const form of family.forms) {
      const info = syscallByName(table, form.call);
      if (!info) continue;
      const list = idx.get(info.nr) ?? [];
      list.push({ family, form, nr: info.nr });
      idx.set(info.nr, list);
    }
  }
  indexes.set(table, idx);
  return idx;
}

const isRefusal = (a: Action): boolean => {
  const kind = (a & SECCOMP_RET_ACTION_FULL) >>> 0;
  return kind === SECCOMP_RET_ERRNO || kind === SECCOMP_RET_TRAP || kind === SECCOMP_RET_KILL_PROCESS || kind === SECCOMP_RET_KILL_THREAD;
};

/** DEFAULT actions under which equivalents matter: the call would otherwise go through. */
export const isPermissive = (a: Action): boolean => a === SECCOMP_RET_ALLOW || a === SECCOMP_RET_LOG;

type ArgMap = (i: number, size: number) => Val | null;

function translateVal(v: Val, map: ArgMap, mask: bigint): Val | null {
  switch (v.k) {
    case 'num': return { k: 'num', v: v.v & mask };
    case 'arg': {
      const t = map(v.i, v.size);
      return t && t.k === 'num' ? { k: 'num', v: t.v & mask } : t;
    }
    default: {
      const l = translateVal(v.l, map, mask);
      const r = translateVal(v.r, map, mask);
      return l && r && { k: v.k, l, r };
    }
  }
}

/**
 * Rewrites a condition for another form. Each comparison keeps the width it had
 * (a 32-bit comparison masks the constants that replace arguments), so the
 * folded result is what the kernel would compute. Null: not expressible.
 */
function translate(c: Cond, map: ArgMap): Cond | null {
  switch (c.k) {
    case 'true':
    case 'false':
      return c;
    case '!': {
      const e = translate(c.e, map);
      return e && { k: '!', e };
    }
    case '&&':
    case '||': {
      const l = translate(c.l, map);
      const r = translate(c.r, map);
      return l && r && { k: c.k, l, r };
    }
    case 'cmp': {
      const s = simplifyCond(c);
      if (s.k !== 'cmp') return s;
      const mask = cmpWidth(s) === 32 ? U32 : U64;
      const l = translateVal(c.l, map, mask);
      const r = translateVal(c.r, map, mask);
      return l && r && { k: 'cmp', op: c.op, l, r, pos: c.pos };
    }
  }
}

const and = (l: Cond, r: Cond): Cond => ({ k: '&&', l, r });

/** A derived rule for `to` from the effective condition of a rule on `from`; undefined when it adds nothing. */
function derive(m: Member, target: Member, effective: Cond | undefined, act: Action, table: SyscallTable): Rule | undefined {
  const unconditional = (a: Action): Rule => ({ nr: target.nr, action: a });
  const fallback = isRefusal(act) ? action('ERRNO', ENOSYS) : act;
  const slots = target.form.slots;
  if (!slots) return unconditional(fallback);
  const fromSlots = m.form.slots ?? [];
  const targetArgs = syscallByNr(table, target.nr)?.args ?? [];
  const map: ArgMap = (i, size) => {
    const slot = fromSlots.indexOf(i);
    const t = slot < 0 ? null : slots[slot]!;
    if (t === null || t === undefined) return null;
    if (typeof t === 'bigint') return { k: 'num', v: t };
    return { k: 'arg', i: t, size: Math.min(size, targetArgs[t]?.[1] ?? 8) };
  };
  let written: Cond | null = effective ? translate(effective, map) : { k: 'true' };
  if (!written) return unconditional(fallback);
  for (const name of m.family.selects ?? []) {
    const s = m.family.args.indexOf(name);
    const want = fromSlots[s];
    const have = slots[s];
    if (typeof want !== 'bigint') continue;
    if (typeof have === 'bigint') {
      if (have !== want) return undefined;
    } else if (typeof have === 'number') {
      const size = targetArgs[have]?.[1] ?? 8;
      const v = size === 8 ? want : want & U32;
      written = and(written, { k: 'cmp', op: '==', l: { k: 'arg', i: have, size }, r: { k: 'num', v }, pos: NOWHERE });
    }
  }
  const cond = simplifyCond(written);
  if (cond.k === 'false') return undefined;
  return cond.k === 'true' ? unconditional(act) : { nr: target.nr, action: act, written, cond };
}

/** An equivalent the rules as written leave open, and whether tsjail closes it. */
export interface Finding {
  /** The call a rule refuses (or sends elsewhere). */
  readonly source: string;
  /** Its equivalent. */
  readonly target: string;
  /**
   * 'added': tsjail adds the rule (Kafel and nsjail would let it through);
   * 'off': left open because equivalents are turned off;
   * 'allowed': the policy allows it explicitly, before tsjail's rule.
   */
  readonly state: 'added' | 'off' | 'allowed';
}

export interface EquivalentsResult {
  /** The layers with derived rules after each. */
  readonly layers: Rule[][];
  readonly findings: Finding[];
}

/**
 * Adds the equivalents of every non-ALLOW rule, each layer's right after that
 * layer (so an operator's deny list still comes before the policy), unless
 * `enabled` is false; findings are computed either way. A target the rules
 * already refuse outright gets nothing, so its own answer stands.
 */
export function applyEquivalents(layers: readonly (readonly Rule[])[], table: SyscallTable, enabled: boolean): EquivalentsResult {
  const idx = indexOf(table);
  const byNr = new Map<number, Array<{ rule: Rule; layer: number }>>();
  layers.forEach((rules, layer) => {
    for (const rule of rules) {
      const list = byNr.get(rule.nr) ?? [];
      list.push({ rule, layer });
      byNr.set(rule.nr, list);
    }
  });
  const derived: Rule[][] = layers.map(() => []);
  const findings = new Map<string, Finding>();
  const nameOf = (nr: number) => syscallByNr(table, nr)?.name ?? String(nr);

  for (const [nr, chain] of byNr) {
    for (const m of idx.get(nr) ?? []) {
      if (!m.form.source) continue;
      // A rule applies only where the earlier rules on the same call did not match.
      const earlier: Cond[] = [];
      for (const { rule, layer } of chain) {
        const c = rule.written;
        if (rule.action !== SECCOMP_RET_ALLOW) {
          const parts: Cond[] = [...(c ? [c] : []), ...earlier.map((e): Cond => ({ k: '!', e }))];
          const effective = parts.length ? parts.reduce(and) : undefined;
          for (const t of m.family.forms) {
            const tnr = syscallByName(table, t.call)?.nr;
            if (tnr === undefined || tnr === nr) continue;
            const state = targetState(byNr.get(tnr) ?? [], layer);
            if (state === 'closed') continue;
            const d = state === 'dead' ? undefined : derive(m, { family: m.family, form: t, nr: tnr }, effective, rule.action, table);
            if (state !== 'dead' && !d) continue;
            if (d) derived[layer]!.push(d);
            const key = `${nameOf(nr)}\0${t.call}`;
            const found: Finding['state'] = state === 'open' ? (enabled ? 'added' : 'off') : 'allowed';
            if (findings.get(key)?.state !== 'allowed') findings.set(key, { source: nameOf(nr), target: t.call, state: found });
          }
        }
        if (!c) break; // an unconditional rule ends the chain
        earlier.push(c);
      }
    }
  }
  const out = enabled ? layers.flatMap((rules, i) => [[...rules], derived[i]!]) : layers.map((r) => [...r]);
  return { layers: out, findings: [...findings.values()] };
}

/**
 * How a target's own rules stand against a rule derived after `layer`:
 * 'closed' — as written, its first unconditional rule refuses it and no ALLOW comes first;
 * 'dead' — it ends in an unconditional rule in a layer up to `layer` (an ALLOW, or a
 *   refusal after a conditional ALLOW): a derived rule would never run, and it stays allowed;
 * 'allowed' — an explicit ALLOW on it in a layer up to `layer` comes first;
 * 'open' — otherwise: it reaches DEFAULT (or an ALLOW the derived rule precedes).
 */
function targetState(chain: ReadonlyArray<{ rule: Rule; layer: number }>, layer: number): 'closed' | 'dead' | 'allowed' | 'open' {
  let allowedBefore = false;
  let anyAllow = false;
  for (const { rule, layer: l } of chain) {
    const allow = rule.action === SECCOMP_RET_ALLOW;
    if (allow) {
      anyAllow = true;
      if (l <= layer) allowedBefore = true;
    }
    if (rule.written) continue;
    // The first unconditional rule ends the chain.
    if (!allow && !anyAllow) return 'closed';
    if (l <= layer) return 'dead';
    break;
  }
  return allowedBefore ? 'allowed' : 'open';
}

const STATE_TEXT: Readonly<Record<Finding['state'], string>> = {
  added: 'tsjail applies the same rule to its equivalents (Kafel and nsjail leave them open):',
  off: 'its equivalents are left open (--seccomp_no_equivalents):',
  allowed: 'the policy allows its equivalents explicitly:',
};

/** One line per restricted call and state: `openat is restricted; … open, creat, openat2`. */
export function describeFindings(findings: readonly Finding[]): Array<{ state: Finding['state']; text: string }> {
  const groups = new Map<string, { state: Finding['state']; source: string; targets: string[] }>();
  for (const f of findings) {
    const key = `${f.source}\0${f.state}`;
    const g = groups.get(key) ?? { state: f.state, source: f.source, targets: [] };
    g.targets.push(f.target);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({
    state: g.state,
    text: `${g.source} is restricted${g.state === 'added' ? ';' : ', but'} ${STATE_TEXT[g.state]} ${g.targets.join(', ')}`,
  }));
}
