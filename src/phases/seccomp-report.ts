/**
 * After a jail dies of SIGSYS, name the syscall its filter killed it for
 * (nsjail can only point to dmesg). The kernel's seccomp audit record is read
 * from /dev/kmsg (see seccomp/violation.ts for when that works), unless the
 * notification supervisor named the call before the kill.
 */
import { log } from '../log/logger.js';
import type { ExitInfo } from '../proc/supervisor.js';

const SIGSYS = 31;

/** isNamed: tsjail already named the call that killed this jail (the notification supervisor). */
export function seccompViolationHook(isNamed: (pid: number) => boolean = () => false): (e: ExitInfo) => Promise<void> | void {
  const since = process.hrtime.bigint();
  async function seccompViolationSyscall(pid: number): Promise<void> {
    const { formatViolation, waitSeccompViolation } = await import('../seccomp/violation.js');
    const v = await waitSeccompViolation(pid, { since, timeoutMs: 200 });
    if (v) log.warn(`pid=${pid} seccomp violation: ${formatViolation(v)}`);
    else log.warn(`pid=${pid} seccomp violation: the kernel's audit record was not found (needs root and a readable /dev/kmsg; see 'dmesg')`);
  }
  // Named as nsjail's function, whose name its log lines carry.
  return function seccompViolation(e) {
    if (e.signal !== SIGSYS) return;
    log.warn(`pid=${e.pid} committed a syscall/seccomp violation and exited with SIGSYS`);
    if (!isNamed(e.pid)) return seccompViolationSyscall(e.pid);
  };
}
