/**
 * Landlock in the child, after the mount namespace is final so that rules
 * name what the program sees. Everything was decided in the parent (ABI
 * probe, downgrade); here each path is opened O_PATH into a slot whose fd is
 * patched into its rule, then the ruleset is enforced.
 *
 * A rule on a non-directory may hold only file rights (EINVAL otherwise), and
 * the child cannot stat: each path gets a file-rights rule on its fd, and a
 * full rule on `openat(fd, ".", O_DIRECTORY)`, which exists only for a
 * directory (ENOTDIR for a file, EBADF when a _try path was missing).
 */
import {
  fsText,
  LANDLOCK_RULE_NET_PORT,
  LANDLOCK_RULE_PATH_BENEATH,
  netText,
  scopeText,
  type PathRule,
  type PortRule,
  type RulesetAttr,
} from '../landlock/abi.js';
import { AT_FDCWD, O, O_FLAGS, PR, PR_NAMES } from '../linux/consts.js';
import { bytes, int, named, op, slot, str, Struct, type ChildOp } from '../plan/ops.js';
import { allocSlot, type PlanContext } from './context.js';

export interface PreparedLandlock {
  readonly ruleset: RulesetAttr;
  readonly paths: readonly PathRule[];
  readonly ports: readonly PortRule[];
  /** Set PR_SET_NO_NEW_PRIVS first (landlock_restrict_self needs it or CAP_SYS_ADMIN). */
  readonly noNewPrivs: boolean;
}

const HINTS = {
  restrict: { EPERM: 'landlock_restrict_self needs no_new_privs or CAP_SYS_ADMIN in the jail user namespace (drop --disable_no_new_privs)' },
  create: { EINVAL: 'the kernel rejected a right tsjail believed it supports (a bug in src/landlock/abi.ts)', E2BIG: 'the kernel does not know the scoped or net fields' },
  rule: { EINVAL: 'the rights do not fit the object (a directory right on a file?)' },
};

function rulesetText(r: RulesetAttr): string {
  const parts = [r.handled_access_fs ? `handled_access_fs=${fsText(r.handled_access_fs)}` : ''];
  if (r.handled_access_net) parts.push(`handled_access_net=${netText(r.handled_access_net)}`);
  if (r.scoped) parts.push(`scoped=${scopeText(r.scoped)}`);
  return `landlock_create_ruleset({${parts.filter(Boolean).join(', ')}})`;
}

/** struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } __packed */
function pathBeneath(rs: number, fdSlot: number, access: bigint, path: string): ChildOp {
  const attr = new Struct(12).u64(0, access).i32(8, -1).done();
  const rights = fsText(access);
  return op('landlock_add_rule', 'landlock', [slot(rs, 'ruleset'), int(LANDLOCK_RULE_PATH_BENEATH), bytes(attr, `{${rights}}`), int(0)], {
    patch: { slot: fdSlot, arg: 2, offset: 8, width: 4 },
    cond: fdSlot,
    hints: HINTS.rule,
    text: `landlock_add_rule('${path}', ${rights})`,
  });
}

function planPath(rs: number, f: number, d: number, r: PathRule): ChildOp[] {
  const flag = `--landlock_${r.kind}${r.optional ? '_try' : ''}`;
  const fd = `fd('${r.path}')`;
  return [
    op('openat', 'landlock', [int(AT_FDCWD), str(r.path), int(O.O_PATH | O.O_CLOEXEC, O_FLAGS)], {
      save: f,
      ...(r.optional ? { soft: true } : { hints: { ENOENT: `a Landlock path must exist inside the jail; ${flag}_try skips a missing one` } }),
      text: `openat('${r.path}', O_PATH|O_CLOEXEC) for ${flag}`,
    }),
    // Always runs, so the slot never keeps the previous path's fd.
    op('openat', 'landlock', [slot(f, fd), str('.'), int(O.O_PATH | O.O_DIRECTORY | O.O_CLOEXEC, O_FLAGS)], {
      save: d,
      okErrno: ['ENOTDIR', 'EBADF'],
      text: `openat(${fd}, '.', O_PATH|O_DIRECTORY|O_CLOEXEC)`,
    }),
    pathBeneath(rs, f, r.fileAccess, r.path),
    pathBeneath(rs, d, r.access, r.path),
    op('close', 'landlock', [slot(d, fd)], { cond: d }),
    op('close', 'landlock', [slot(f, fd)], { cond: f }),
  ];
}

/** struct landlock_net_port_attr { __u64 allowed_access; __u64 port; } */
function netPort(rs: number, r: PortRule): ChildOp {
  const attr = new Struct(16).u64(0, r.access).u64(8, BigInt(r.port)).done();
  const rights = netText(r.access);
  return op('landlock_add_rule', 'landlock', [slot(rs, 'ruleset'), int(LANDLOCK_RULE_NET_PORT), bytes(attr, `{${rights}, port=${r.port}}`), int(0)], {
    text: `landlock_add_rule(tcp port ${r.port}, ${rights})`,
  });
}

export function planLandlock(l: PreparedLandlock, ctx: PlanContext): ChildOp[] {
  const rs = allocSlot(ctx);
  // One pair of slots serves every path: each path's ops overwrite both before reading them.
  const f = allocSlot(ctx);
  const d = allocSlot(ctx);
  const r = l.ruleset;
  const attr = new Struct(r.size).u64(0, r.handled_access_fs);
  if (r.size >= 16) attr.u64(8, r.handled_access_net);
  if (r.size >= 24) attr.u64(16, r.scoped);
  return [
    ...(l.noNewPrivs ? [op('prctl', 'landlock', [named(PR.PR_SET_NO_NEW_PRIVS, PR_NAMES), int(1), int(0), int(0), int(0)])] : []),
    op('landlock_create_ruleset', 'landlock', [bytes(attr.done(), 'attr'), int(r.size), int(0)], { save: rs, hints: HINTS.create, text: rulesetText(r) }),
    ...l.paths.flatMap((p) => planPath(rs, f, d, p)),
    ...l.ports.map((p) => netPort(rs, p)),
    op('landlock_restrict_self', 'landlock', [slot(rs, 'ruleset'), int(0)], { hints: HINTS.restrict, text: 'landlock_restrict_self(ruleset, 0)' }),
    op('close', 'landlock', [slot(rs, 'ruleset')]),
  ];
}
