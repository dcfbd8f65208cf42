/** Naming the syscall behind a SIGSYS from the kernel's AUDIT_SECCOMP record. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findSeccompViolation, formatViolation, parseAuditRecord, waitSeccompViolation } from '../../../src/seccomp/violation.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-kmsg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record = (usec: number, pid: number, nr: number, code = '0x80000000') =>
  `5,344,${usec},-;audit: type=1326 audit(1795426700.568:2): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=${pid} comm="uname" exe="/usr/bin/uname" sig=31 arch=c000003e syscall=${nr} compat=0 ip=0x7fce100f34e7 code=${code}`;

describe('parseAuditRecord', () => {
  it('reads nr, name, arch, ip and action', () => {
    expect(parseAuditRecord(record(6330474571, 4378, 63), 4378)).toEqual({
      nr: 63, name: 'newuname', arch: 'x86_64', ip: 0x7fce100f34e7n, action: 'KILL_PROCESS', comm: 'uname',
    });
  });

  it('ignores other pids, other record types and older records', () => {
    expect(parseAuditRecord(record(1, 4378, 63), 437)).toBeUndefined();
    expect(parseAuditRecord(record(1, 14378, 63), 4378)).toBeUndefined();
    expect(parseAuditRecord('6,1,2,-;audit: type=1400 audit(1:2): pid=5 syscall=1 arch=c000003e', 5)).toBeUndefined();
    expect(parseAuditRecord(record(1000, 5, 63), 5, 1001n)).toBeUndefined();
  });

  it('names what it can', () => {
    const i386 = record(1, 9, 122).replace('arch=c000003e', 'arch=40000003');
    expect(parseAuditRecord(i386, 9)).toMatchObject({ nr: 122, name: undefined, arch: 'x86' });
    expect(formatViolation(parseAuditRecord(record(1, 9, 63, '0x00000000'), 9)!)).toBe('newuname (63) on x86_64, ip 0x7fce100f34e7, KILL_THREAD');
    expect(formatViolation({ nr: 0x40000065, arch: 'x86_64' })).toBe('syscall 1073741925 on x86_64');
  });
});

describe('findSeccompViolation', () => {
  it('takes the newest matching record and never throws', () => {
    const log = join(dir, 'kmsg');
    writeFileSync(log, [record(10, 77, 1), '6,2,11,-;unrelated', record(12, 77, 63), record(13, 78, 2)].join('\n'));
    expect(findSeccompViolation(77, { kmsgPath: log })?.name).toBe('newuname');
    expect(findSeccompViolation(77, { kmsgPath: log, since: 12_000n })?.nr).toBe(63);
    expect(findSeccompViolation(77, { kmsgPath: log, since: 13_000n })).toBeUndefined();
    expect(findSeccompViolation(79, { kmsgPath: log })).toBeUndefined();
    expect(findSeccompViolation(77, { kmsgPath: join(dir, 'missing') })).toBeUndefined();
    expect(findSeccompViolation(77, { kmsgPath: dir })).toBeUndefined(); // EISDIR on read
  });

  it('gives up after its timeout', async () => {
    const t0 = Date.now();
    expect(await waitSeccompViolation(1, { kmsgPath: join(dir, 'missing'), timeoutMs: 30 })).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
