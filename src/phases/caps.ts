/**
 * Capabilities, in the order the kernel requires: no_new_privs, ambient set
 * cleared, inheritable set to the kept caps (capset), every other cap dropped
 * from the bounding set (needs CAP_SETPCAP, still effective), then the kept
 * caps raised in the ambient set (they must be permitted and inheritable).
 */
import { readFileSync } from 'node:fs';
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
  return op('capset', 'caps', [bytes(hdr, 'v3'), bytes(data, `{permitted=0x${permitted.toString(16)}, inheritable=0x${inheritable.toString(16)}}`)]);
}

/** This process's CapPrm: without a new user namespace the child inherits exactly these. */
function ownPermitted(): bigint {
  const m = /^CapPrm:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt('0x' + m[1]) : 0n;
}

/**
 * The child's permitted set during setup: every cap in a new user namespace,
 * tsjail's own otherwise (a host root without CAP_SYS_RESOURCE in its bounding
 * set cannot capset it back).
 */
export function setupPermitted(p: Prepared, own: () => bigint = ownPermitted): bigint {
  const all = (1n << BigInt(p.capLast + 1)) - 1n;
  return p.userns ? all : own() & all;
}

export function planNoNewPrivs(p: Prepared): ChildOp[] {
  if (!p.noNewPrivs) return [];
  return [op('prctl', 'caps', [named(PR.PR_SET_NO_NEW_PRIVS, PR_NAMES), int(1), int(0), int(0), int(0)])];
}

export function planCaps(p: Prepared, own?: () => bigint): ChildOp[] {
  const permitted = setupPermitted(p, own);
  const has = (c: number) => (permitted & (1n << BigInt(c))) !== 0n;
  // --keep_caps keeps what is permitted; a --cap outside it fails at the ambient raise, named.
  const kept = p.keepCaps === 'all' ? [...Array(p.capLast + 1).keys()].filter(has) : p.keepCaps;
  const keptMask = kept.reduce((m, c) => m | (1n << BigInt(c)), 0n);
  const prctl = (option: keyof typeof PR, a2: number, a3: number, label: string, hints?: Record<string, string>) =>
    op('prctl', 'caps', [named(PR[option], PR_NAMES), int(a2), int(a3), int(0), int(0)], { text: label, hints });
  const ops: ChildOp[] = [
    prctl('PR_CAP_AMBIENT', PR_CAP_AMBIENT_CLEAR_ALL, 0, 'prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)'),
    // Inheritable may only grow within the bounding set; permitted stays as it is, effective = permitted.
    capset(permitted, keptMask & permitted),
  ];
  for (let c = 0; c <= p.capLast; c++) {
    if (!(keptMask & (1n << BigInt(c)))) ops.push(prctl('PR_CAPBSET_DROP', c, 0, `prctl(PR_CAPBSET_DROP, ${capName(c)})`));
  }
  const notPermitted = { EPERM: 'the capability is not in tsjail\'s permitted set (see CapPrm in /proc/self/status)' };
  for (const c of kept) ops.push(prctl('PR_CAP_AMBIENT', PR_CAP_AMBIENT_RAISE, c, `prctl(PR_CAP_AMBIENT_RAISE, ${capName(c)})`, notPermitted));
  return ops;
}
