/** Kafel actions ↔ SECCOMP_RET_* values ↔ the text the tools print. */
import {
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
} from './bpf.js';

export type ActionKind = 'ALLOW' | 'LOG' | 'KILL_THREAD' | 'KILL_PROCESS' | 'USER_NOTIF' | 'ERRNO' | 'TRAP' | 'TRACE';

/** A filter's answer as its 32-bit SECCOMP_RET_* value (action | data). */
export type Action = number;

const RET: ReadonlyArray<readonly [ActionKind, number, boolean]> = [
  ['ALLOW', SECCOMP_RET_ALLOW, false],
  ['LOG', SECCOMP_RET_LOG, false],
  ['KILL_THREAD', SECCOMP_RET_KILL_THREAD, false],
  ['KILL_PROCESS', SECCOMP_RET_KILL_PROCESS, false],
  ['USER_NOTIF', SECCOMP_RET_USER_NOTIF, false],
  ['ERRNO', SECCOMP_RET_ERRNO, true],
  ['TRAP', SECCOMP_RET_TRAP, true],
  ['TRACE', SECCOMP_RET_TRACE, true],
];

export function action(kind: ActionKind, data = 0): Action {
  const row = RET.find((r) => r[0] === kind)!;
  return (row[1] | (row[2] ? data & SECCOMP_RET_DATA : 0)) >>> 0;
}

/** `ALLOW`, `ERRNO(1337)`, `KILL_PROCESS`…; unknown action bits print as hex. */
export function formatAction(ret: number): string {
  const full = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = ret & SECCOMP_RET_DATA;
  const row = RET.find((r) => r[1] === full);
  if (!row) return `0x${(ret >>> 0).toString(16).padStart(8, '0')}`;
  return row[2] ? `${row[0]}(${data})` : row[0];
}
