/** Judge verdicts from an exit's accounting (src/status.ts), one per kind of end. */
import { describe, expect, it } from 'vitest';
import { accountFromUsage, amendKillCause, readAccounting, recordAccounting, type CgroupUsage } from '../../src/cgroup/accounting.js';
import { log } from '../../src/log/logger.js';
import type { ExitInfo, KillReason } from '../../src/proc/supervisor.js';
import { cpuLimitMs, exitRecord, verdictOf } from '../../src/status.js';

const exit = (o: { exitCode?: number; signal?: number; reason?: KillReason; cpuMs?: number }): ExitInfo => ({
  pid: 42,
  remote: '[STANDALONE MODE]',
  exitCode: o.exitCode,
  signal: o.signal,
  code: o.signal !== undefined ? 128 + o.signal : (o.exitCode ?? 0),
  wallMs: 10,
  rusage: { utimeMs: o.cpuMs ?? 1, stimeMs: 0, maxRssKiB: 1000 },
  reason: o.reason,
});
const oom: CgroupUsage = { oomKills: 1 };

describe('verdictOf', () => {
  const cases: Array<[string, ExitInfo, CgroupUsage | undefined, string]> = [
    ['exit 0', exit({ exitCode: 0 }), undefined, 'OK'],
    ['exit 3', exit({ exitCode: 3 }), undefined, 'RE'],
    ['SIGSEGV', exit({ signal: 11 }), undefined, 'RE'],
    ['SIGKILL from outside', exit({ signal: 9 }), undefined, 'RE'],
    ['--time_limit', exit({ signal: 9, reason: 'time_limit' }), undefined, 'TLE'],
    ['SIGXCPU', exit({ signal: 24 }), undefined, 'TLE'],
    ['RLIMIT_CPU hard limit (SIGKILL after the CPU time)', exit({ signal: 9, cpuMs: 2000 }), undefined, 'TLE'],
    ['OOM killer', exit({ signal: 9 }), oom, 'MLE'],
    ['--output_limit', exit({ signal: 9, reason: 'output_limit' }), undefined, 'OLE'],
    ['RLIMIT_FSIZE (SIGXFSZ)', exit({ signal: 25 }), undefined, 'OLE'],
    ['seccomp kill (SIGSYS)', exit({ signal: 31 }), undefined, 'SV'],
    ['setup failure', exit({ exitCode: 255, reason: 'setup_failed' }), undefined, 'SE'],
    ["tsjail's own SIGTERM", exit({ signal: 9, reason: 'signal' }), undefined, 'SE'],
    ['wait4 failed (how it ended is unknown)', exit({ reason: 'wait_failed' }), undefined, 'SE'],
  ];
  for (const [name, e, usage, want] of cases) {
    it(`${name} → ${want}`, () => {
      expect(verdictOf(accountFromUsage(e, usage), 2000)).toBe(want);
    });
  }

  it('a SIGKILL before the CPU limit is no TLE; without a CPU limit neither', () => {
    expect(verdictOf(accountFromUsage(exit({ signal: 9, cpuMs: 900 })), 2000)).toBe('RE');
    expect(verdictOf(accountFromUsage(exit({ signal: 9, cpuMs: 5000 })))).toBe('RE');
  });

  it('RLIMIT_CPU from the prepared rlimits, unlimited as undefined', () => {
    expect(cpuLimitMs([{ name: 'cpu', resource: 0, kname: 'RLIMIT_CPU', value: 600n }])).toBe(600_000);
    expect(cpuLimitMs([{ name: 'cpu', resource: 0, kname: 'RLIMIT_CPU', value: 0xffffffffffffffffn }])).toBeUndefined();
    expect(cpuLimitMs([])).toBeUndefined();
  });

  it('an output cap seen after the reap turns an exit of its own into OLE, not a kill of tsjail', () => {
    log.configure({ level: 'FATAL' });
    const own = exit({ exitCode: 0 });
    recordAccounting(own);
    amendKillCause(own, 'output_limit');
    expect(verdictOf(readAccounting(own))).toBe('OLE');
    expect(exitRecord(own)).toMatchObject({ reason: 'output_limit', verdict: 'OLE', exit_code: 0 });
    const timed = exit({ signal: 9, reason: 'time_limit' });
    recordAccounting(timed);
    amendKillCause(timed, 'output_limit');
    expect(verdictOf(readAccounting(timed))).toBe('TLE');
  });
});
