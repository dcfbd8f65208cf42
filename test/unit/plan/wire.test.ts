/**
 * The wire format is defined once (src/linux/wire.ts): the C header is generated
 * from it and asserts every size and offset, the runner range-checks every slot
 * and offset, and the encoder refuses what the runner would reject.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRunner, hasCc } from '../helpers/runner-harness.js';
import { EXEC_HDR, OP, PLAN_HDR, renderWireHeader, REPORT, WIRE } from '../../../src/linux/wire.js';
import { encodePlan } from '../../../src/plan/encode.js';
import { int, op, slot } from '../../../src/plan/ops.js';

const ROOT = join(import.meta.dirname, '../../..');
if (!hasCc) console.warn('SKIP (cc): no C compiler to check the generated header against');

describe('one definition of the wire format', () => {
  it('has the layouts the runner was written for', () => {
    expect([OP.size, PLAN_HDR.size, REPORT.size, EXEC_HDR.size]).toEqual([88, 32, 24, 16]);
    expect(OP.fields.ok_errno!.offset).toBe(76);
  });

  it('the built native/build/wire.h is the one generated from src/linux/wire.ts', () => {
    expect(readFileSync(join(ROOT, 'native/build/wire.h'), 'utf8')).toBe(renderWireHeader());
  });

  it.skipIf(!hasCc)('a C layout that drifts from the definition fails to compile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-wire-'));
    const check = (header: string) => {
      writeFileSync(join(dir, 'wire.h'), header);
      writeFileSync(join(dir, 'use.c'), '#include "wire.h"\nint main(void) { return 0; }\n');
      return spawnSync('cc', ['-std=gnu11', '-fsyntax-only', join(dir, 'use.c')], { encoding: 'utf8' });
    };
    expect(check(renderWireHeader()).status).toBe(0);
    const drifted = check(renderWireHeader().replace('\tint16_t save_slot;', '\tint32_t save_slot;'));
    expect(drifted.status).not.toBe(0);
    expect(drifted.stderr).toContain('tsj_op.patch_slot: offset differs from src/linux/wire.ts');
  });
});

describe('slot indices are range-checked, never wrapped', () => {
  it('the encoder refuses a slot outside 0..MAX_SLOTS-1', () => {
    expect(() => encodePlan([op('close', 'mnt', [slot(WIRE.MAX_SLOTS, 'fd')])])).toThrow(/argument slot 256 out of range 0\.\.255/);
    expect(() => encodePlan([op('close', 'mnt', [int(3)], { save: -1 })])).toThrow(/save slot -1 out of range/);
    expect(() => encodePlan([op('close', 'mnt', [int(3)], { cond: 300 })])).toThrow(/condition slot 300 out of range/);
  });

  it.skipIf(!hasCc)('the runner rejects a plan whose slot is out of range before running any op', () => {
    const ops = [op('getpid', 'misc', []), op('close', 'mnt', [slot(3, 'fd')], { save: 4 })];
    const blob = encodePlan(ops);
    // Corrupt op 2's save slot past the table, as a stale or hostile encoder could.
    blob.writeInt16LE(WIRE.MAX_SLOTS + 5, PLAN_HDR.size + OP.size + OP.fields.save_slot!.offset);
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-wire-'));
    writeFileSync(join(dir, 'plan.bin'), blob);
    const exe = buildRunner(dir, `  int p[2];
  if (pipe(p)) return 2;
  int ret = tsj_run_plan(blob, (uint32_t)n, p[1], -1);
  struct tsj_report r;
  if (read(p[0], &r, sizeof r) != sizeof r) return 3;
  printf("%d %u %d %lld\\n", ret, r.op_index, r.err, (long long)r.ret);
  return 0;`);
    const out = execFileSync(exe, [join(dir, 'plan.bin')], { encoding: 'utf8' });
    // -ERANGE, the bad-plan index, ERANGE, and op 1 named: getpid (op 0) never ran as nothing runs.
    expect(out).toBe(`-34 ${WIRE.BAD_PLAN_INDEX} 34 1\n`);
  });
});
