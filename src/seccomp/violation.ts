/**
 * Names the syscall that got a jailed process killed by its seccomp filter.
 *
 * Mechanism: for SECCOMP_RET_KILL_* the kernel writes an AUDIT_SECCOMP
 * (type=1326) record; with no audit daemon attached, kauditd prints it to the
 * kernel log:
 *   audit: type=1326 audit(…): auid=… uid=0 … pid=4378 comm="uname" exe="…"
 *          sig=31 arch=c000003e syscall=63 compat=0 ip=0x7f… code=0x80000000
 * This reads /dev/kmsg with O_NONBLOCK and takes the newest such record for the
 * pid. The record has no syscall arguments: only nr, arch, ip and the action.
 *
 * It works when: tsjail runs as root (or with CAP_SYSLOG; kernel.dmesg_restrict
 * = 1 denies others); tsjail is in the initial PID namespace (the record's pid
 * is the global one, the pid the parent got from clone); the kernel has audit
 * (CONFIG_AUDIT, not booted with audit=0); /proc/sys/kernel/seccomp/actions_logged
 * contains kill_process/kill_thread (the default); no auditd holds the audit
 * netlink socket (it then writes the record to its own log instead); and
 * printk's rate limit (kernel.printk_ratelimit, burst 10) did not drop it, as a
 * storm of audit records would. kauditd prints asynchronously, so the record
 * can lag the child's death by a few milliseconds: use waitSeccompViolation.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { formatAction } from './actions.js';
import { ARCHS } from './arch.js';
import { syscallByNr, TABLES } from './syscalls/index.js';

export interface SeccompViolation {
  nr: number;
  /** Syscall name when the arch's table knows the number. */
  name?: string;
  /** Kafel arch name (`x86_64`) or the AUDIT_ARCH value in hex. */
  arch: string;
  ip?: bigint;
  /** The filter's answer, e.g. `KILL_PROCESS`. */
  action?: string;
  comm?: string;
}

export interface ViolationSearch {
  /** Only records logged at or after this process.hrtime.bigint() value (kmsg uses the same monotonic clock). */
  since?: bigint;
  /** Defaults to /dev/kmsg; tests pass a file. */
  kmsgPath?: string;
}

const AUDIT_SECCOMP = 1326;
const MAX_RECORDS = 200_000;
const RECORD_MAX = 8192; // one /dev/kmsg read returns one record, at most ~1 KiB plus dictionary

/** Parses one /dev/kmsg record (`prio,seq,usec,flags;text`) if it is a seccomp record for pid. */
export function parseAuditRecord(record: string, pid: number, sinceUs = -1n): SeccompViolation | undefined {
  if (!record.includes(`type=${AUDIT_SECCOMP} `)) return undefined;
  const head = /^\d+,\d+,(\d+),[^;]*;/.exec(record);
  if (head && BigInt(head[1]!) < sinceUs) return undefined;
  const field = (k: string) => new RegExp(`(?:^|[\\s:])${k}=("[^"]*"|\\S+)`).exec(record)?.[1];
  if (field('pid') !== String(pid)) return undefined;
  const nrText = field('syscall');
  const archText = field('arch');
  if (nrText === undefined || archText === undefined) return undefined;
  const nr = Number(nrText);
  const audit = parseInt(archText, 16) >>> 0;
  const arch = ARCHS.find((a) => a.auditArch === audit)?.name ?? `0x${archText}`;
  const table = Object.values(TABLES).find((t) => t.auditArch === audit);
  const ip = field('ip');
  const code = field('code');
  const comm = field('comm');
  return {
    nr,
    name: table && syscallByNr(table, nr)?.name,
    arch,
    ip: ip && /^0x[0-9a-f]+$/i.test(ip) ? BigInt(ip) : undefined,
    action: code ? formatAction(parseInt(code, 16)) : undefined,
    comm: comm?.replace(/^"|"$/g, ''),
  };
}

/** Scans the kernel log once, without blocking; undefined when no record is found or kmsg is unreadable. */
export function findSeccompViolation(pid: number, opts: ViolationSearch = {}): SeccompViolation | undefined {
  let fd: number;
  try {
    fd = openSync(opts.kmsgPath ?? '/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const sinceUs = opts.since === undefined ? -1n : opts.since / 1000n;
  const buf = Buffer.alloc(RECORD_MAX);
  let found: SeccompViolation | undefined;
  try {
    for (let n = 0; n < MAX_RECORDS; n++) {
      let len: number;
      try {
        len = readSync(fd, buf, 0, RECORD_MAX, null);
      } catch (e) {
        // EPIPE: the ring buffer overwrote the record we were at; reading continues with the next.
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') continue;
        break; // EAGAIN: no more records
      }
      if (len === 0) break; // a regular file (tests)
      const text = buf.toString('latin1', 0, len);
      // /dev/kmsg gives one record per read; a file gives many lines.
      for (const line of text.split('\n')) found = parseAuditRecord(line, pid, sinceUs) ?? found;
    }
  } catch {
    // Never let a logging aid fail the jail.
  } finally {
    closeSync(fd);
  }
  return found;
}

/** Polls findSeccompViolation until a record shows up or timeoutMs passes. */
export async function waitSeccompViolation(pid: number, opts: ViolationSearch & { timeoutMs?: number } = {}): Promise<SeccompViolation | undefined> {
  const deadline = Date.now() + (opts.timeoutMs ?? 100);
  for (;;) {
    const v = findSeccompViolation(pid, opts);
    if (v || Date.now() >= deadline) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `newuname (63) on x86_64, ip 0x7f…, KILL_PROCESS` for log lines. */
export function formatViolation(v: SeccompViolation): string {
  const what = v.name ? `${v.name} (${v.nr})` : `syscall ${v.nr}`;
  const ip = v.ip !== undefined ? `, ip 0x${v.ip.toString(16)}` : '';
  return `${what} on ${v.arch}${ip}${v.action ? `, ${v.action}` : ''}`;
}
