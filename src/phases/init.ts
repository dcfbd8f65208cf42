/**
 * --init: PID 1 is native/tsjail-init, not a copy of tsjail. Once the jail is
 * complete (mounts, ids, capabilities, rlimits, setsid, descriptors), the
 * child forks: the new process is the program (pid 2) and goes on with the
 * plan; PID 1 then clears every capability, sets no_new_privs, blocks all
 * signals, marks every descriptor close-on-exec (stdio included: it holds
 * none of the program's), installs a filter that allows only what the init
 * does, and execs the init with argv ["init"] and an empty environment. So
 * /proc/1/cmdline and /proc/1/environ show nothing of tsjail's, and PID 1
 * keeps no memory of tsjail's process.
 *
 * Forking after seccomp instead would put the jail's own filter on PID 1,
 * but a policy without fork or wait4 would then kill the init; the init's
 * filter below is tighter than any policy a program can run under.
 */
import { AT_EMPTY_PATH, AT_FDCWD, CLOSE_RANGE_CLOEXEC, O, O_FLAGS, PR, PR_CAP_AMBIENT_CLEAR_ALL, PR_NAMES, SECCOMP_SET_MODE_FILTER, SYS, CAPS, AUDIT_ARCH_X86_64 } from '../linux/consts.js';
import { nativePath } from '../linux/libc.js';
import { bytes, int, named, nul, op, slot, str, strv, Struct, type ChildOp } from '../plan/ops.js';
import type { Prepared } from '../prepare.js';
import { allocSlot, type PlanContext } from './context.js';

/** The program is the first process PID 1 forks in its new pid namespace; the init forwards signals to it. */
const PROGRAM_PID = 2n;

/** What tsjail-init calls, and the execveat that starts it (x86_64 numbers). */
const INIT_SYSCALLS: ReadonlyArray<readonly [string, number]> = [
  ['execveat', SYS.execveat],
  ['rt_sigprocmask', SYS.rt_sigprocmask],
  ['rt_sigtimedwait', 128],
  ['wait4', 61],
  ['kill', 62],
  ['exit', 60],
  ['exit_group', 231],
  ['restart_syscall', 219],
];
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ALLOW = 0x7fff0000;

/** Classic BPF: x86_64 only, the listed numbers allowed, anything else kills (x32 numbers never match). */
export function initFilter(): Uint8Array {
  const insns: Array<[code: number, jt: number, jf: number, k: number]> = [];
  const nrs = INIT_SYSCALLS.map(([, nr]) => nr);
  insns.push([0x20, 0, 0, 4]); // ld [arch]
  insns.push([0x15, 1, 0, AUDIT_ARCH_X86_64]); // jeq x86_64 ? skip the kill
  insns.push([0x06, 0, 0, SECCOMP_RET_KILL_PROCESS]);
  insns.push([0x20, 0, 0, 0]); // ld [nr]
  // Each match jumps over the remaining tests and the kill, to the allow.
  nrs.forEach((nr, i) => insns.push([0x15, nrs.length - i, 0, nr]));
  insns.push([0x06, 0, 0, SECCOMP_RET_KILL_PROCESS]);
  insns.push([0x06, 0, 0, SECCOMP_RET_ALLOW]);
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

export interface InitPlan {
  /** Opens the init binary while the host is still reachable. */
  open: ChildOp[];
  /** The fork, then PID 1's steps (the child skips them). */
  fork: ChildOp[];
}

export function planInit(p: Prepared, ctx: PlanContext): InitPlan {
  if (!p.init) return { open: [], fork: [] };
  const binary = nativePath('tsjail-init');
  const s = allocSlot(ctx);
  const fd = slot(s, `fd('${binary}')`);
  const prctl = (option: keyof typeof PR, a2: number, label: string) => op('prctl', 'init', [named(PR[option], PR_NAMES), int(a2), int(0), int(0), int(0)], { text: `${label} (PID 1)` });
  const kept = p.keepCaps === 'all' ? [...Array(p.capLast + 1).keys()] : p.keepCaps;
  const all = Buffer.alloc(8, 0xff);
  const filter = initFilter();
  const fprog = bytes(new Struct(16).u16(0, filter.length / 8).done(), `{len=${filter.length / 8}}`, [{ at: 8, to: bytes(filter, 'init filter') }]);
  const capHdr = new Struct(8).u32(0, 0x20080522).done();
  const pid1: ChildOp[] = [
    prctl('PR_CAP_AMBIENT', PR_CAP_AMBIENT_CLEAR_ALL, 'prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)'),
    // The kept caps are the bounding set's last ones: a root jail user would get them back at execve.
    ...kept.map((c) => prctl('PR_CAPBSET_DROP', c, `prctl(PR_CAPBSET_DROP, ${CAPS[c] ?? `CAP_${c}`})`)),
    op('capset', 'init', [bytes(capHdr, 'v3'), bytes(Buffer.alloc(24), '{0, 0, 0}')], { text: 'capset(none) (PID 1)' }),
    prctl('PR_SET_NO_NEW_PRIVS', 1, 'prctl(PR_SET_NO_NEW_PRIVS, 1)'),
    // Blocked until the init waits for them (the mask survives execve): none is lost or kills it meanwhile.
    op('rt_sigprocmask', 'init', [int(2), bytes(all, 'all signals'), nul, int(8)], { text: 'rt_sigprocmask(SIG_SETMASK, all) (PID 1)' }),
    op('close_range', 'init', [int(0), int(0xffffffff), int(CLOSE_RANGE_CLOEXEC)], { text: 'close_range(0, ~0U, CLOSE_RANGE_CLOEXEC) (PID 1)' }),
    op('seccomp', 'init', [int(SECCOMP_SET_MODE_FILTER), int(0), fprog], { text: `seccomp(SECCOMP_SET_MODE_FILTER, init filter: ${INIT_SYSCALLS.map(([n]) => n).join(', ')}) (PID 1)` }),
    op('execveat', 'init', [fd, str(''), strv(['init']), strv([]), int(AT_EMPTY_PATH)], { text: `execveat(fd('${binary}'), AT_EMPTY_PATH) (PID 1)` }),
  ];
  return {
    open: [op('openat', 'init', [int(AT_FDCWD), str(binary), int(O.O_PATH | O.O_CLOEXEC, O_FLAGS), int(0)], { save: s, text: `open('${binary}', O_PATH) for --init` })],
    fork: [op('init_fork', 'init', [int(pid1.length)], { expect: PROGRAM_PID, text: 'fork(PID 1 and the program)' }), ...pid1],
  };
}
