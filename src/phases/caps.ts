/**
 * Capabilities, in the order the kernel requires: no_new_privs, ambient set
 * cleared, inheritable set to the kept caps (capset), every other cap dropped
 * from the bounding set (needs CAP_SETPCAP, still effective), then the kept
 * caps raised in the ambient set (they must be permitted and inheritable).
 */
import { PR, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_RAISE, PR_NAMES, CAPS } from '../linux/consts.js';
import { bytes, int, named, op, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';

const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const capName = (n: number) => CAPS[n] ?? `CAP_${n}`;

function capset(permitted: bigint, inheritable: bigint): ChildOp {
  const hdr = new Struct(8).u32(0, _LINUX_CAPABILITY_VERSION_3).done();
  // two __user_cap_data_struct {effective, permitted, inheritable} for the low and high 32 bits
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number(v >> 32n);
  const data = new Struct(24)
    .u32(0, lo(permitted)).u32(4, lo(permitted)).u32(8, lo(inheritable))
    .u32(12, hi(permitted)).u32(16, hi(permitted)).u32(20, hi(inheritable))
    .done();
  return op('capset', 'caps', [bytes(hdr, 'v3'), bytes(data, `{inheritable=0x${inheritable.toString(16)}}`)]);
}

export function planNoNewPrivs(p: Prepared): ChildOp[] {
  // A seccomp filter forces it (the kernel requires it for unprivileged filters).
  if (p.cfg.disable_no_new_privs && !p.seccomp) return [];
  return [op('prctl', 'caps', [named(PR.PR_SET_NO_NEW_PRIVS, PR_NAMES), int(1), int(0), int(0), int(0)])];
}

export function planCaps(p: Prepared): ChildOp[] {
  const all = (1n << BigInt(p.capLast + 1)) - 1n;
  const kept = p.keepCaps === 'all' ? [...Array(p.capLast + 1).keys()] : p.keepCaps;
  const keptMask = kept.reduce((m, c) => m | (1n << BigInt(c)), 0n);
  const prctl = (option: keyof typeof PR, a2: number, a3 = 0, label?: string) =>
    op('prctl', 'caps', [named(PR[option], PR_NAMES), int(a2), int(a3), int(0), int(0)], label ? { text: label } : {});
  const ops: ChildOp[] = [
    prctl('PR_CAP_AMBIENT', PR_CAP_AMBIENT_CLEAR_ALL, 0, 'prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)'),
    capset(all, keptMask),
  ];
  for (let c = 0; c <= p.capLast; c++) {
    if (!(keptMask & (1n << BigInt(c)))) ops.push(prctl('PR_CAPBSET_DROP', c, 0, `prctl(PR_CAPBSET_DROP, ${capName(c)})`));
  }
  for (const c of kept) ops.push(prctl('PR_CAP_AMBIENT', PR_CAP_AMBIENT_RAISE, c, `prctl(PR_CAP_AMBIENT_RAISE, ${capName(c)})`));
  return ops;
}
