/**
 * Plan segments: 'spawn' runs the next ops in a child that exits 0 after
 * them, 'join' waits for it; slots saved in a segment stay in its process.
 * The encoder refuses what would read another process's slot, the runner a
 * segment past the plan's end.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRunner, hasCc } from '../helpers/runner-harness.js';
import { OP, PLAN_HDR, WIRE } from '../../../src/linux/wire.js';
import { checkSegments, encodePlan } from '../../../src/plan/encode.js';
import { bytes, int, op, slot, type ChildOp } from '../../../src/plan/ops.js';

if (!hasCc) console.warn('SKIP (cc): no C compiler to build a runner harness');

const say = (fd: number, s: string) => op('write', 'misc', [int(fd), bytes(Buffer.from(s), `'${s}'`), int(s.length)], { expect: BigInt(s.length), text: `say ${s.trim()}` });
const spawnOf = (n: number, save: number) => op('spawn', 'sync', [int(0), int(n)], { save, text: 'spawn' });
const joinOf = (s: number, text = 'join') => op('join', 'sync', [slot(s, 'pid')], { expect: 0n, quiet: true, text });

describe('checkSegments', () => {
  it('refuses a slot saved in a segment and read outside it', () => {
    const ops: ChildOp[] = [spawnOf(1, 0), op('pause', 'misc', [], { save: 5 }), joinOf(0), op('close', 'misc', [slot(5, 'fd')])];
    expect(() => checkSegments(ops)).toThrow(/op 4 \(close\) reads slot 5, which the segment of op 1 saves in another process/);
    expect(() => encodePlan(ops)).toThrow(/reads slot 5/);
  });

  it('refuses a segment past the end of the plan, or past the segment it starts in', () => {
    expect(() => checkSegments([spawnOf(3, 0), say(1, 'x')])).toThrow(/covers 3 ops, past the plan's end/);
    expect(() => checkSegments([spawnOf(2, 0), say(1, 'a'), spawnOf(2, 1), say(1, 'b'), say(1, 'c')])).toThrow(/the segment of op 3 reaches past the one of op 1/);
  });

  it("accepts slots that flow into a segment, and the parent's own slots after it", () => {
    expect(() => checkSegments([op('pause', 'misc', [], { save: 3 }), spawnOf(1, 0), op('close', 'misc', [slot(3, 'fd')]), joinOf(0), op('close', 'misc', [slot(3, 'fd')])])).not.toThrow();
  });
});

describe.skipIf(!hasCc)('the native runner runs segments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-seg-'));
  let exe = '';
  const built = () => (exe = buildRunner(dir, `  int ret = tsj_run_plan(blob, (uint32_t)n, -1, 2);
  printf("ret %d\\n", ret);
  fflush(stdout);
  return ret == -8 ? 0 : 255; /* as tsjail-exec: a failure ends the process with 255 */`));
  const run = (ops: ChildOp[], raw?: (blob: Buffer) => void) => {
    const blob = encodePlan(ops, (o) => o.text ?? o.kind);
    raw?.(blob);
    writeFileSync(join(dir, 'plan.bin'), blob);
    return spawnSync(exe, [join(dir, 'plan.bin')], { encoding: 'utf8' });
  };

  it('a child runs only its segment and exits 0; the parent skips it, waits, and goes on', () => {
    built();
    const r = run([say(1, 'before\n'), spawnOf(1, 0), say(1, 'child\n'), joinOf(0), say(1, 'after\n')]);
    // The plan ends without execve: ENOEXEC, in the parent only.
    expect(r.stdout).toBe('before\nchild\nafter\nret -8\n');
    expect(r.stderr).toBe('');
  });

  it("a failing child describes its failure once; the parent's wait fails quietly and ends the plan", () => {
    const r = run([spawnOf(1, 0), op('close', 'misc', [int(999)], { text: 'close(999)' }), joinOf(0), say(1, 'not reached\n')]);
    // The child returns from the runner with -EBADF and exits 255; the parent's join sees that: -EPROTO.
    expect(r.stderr).toBe('close(999): Bad file descriptor\n');
    expect(r.stdout).toBe('ret -9\nret -71\n');
  });

  it('a join of a child that exited non-zero fails with EPROTO, undescribed', () => {
    const r = run([spawnOf(1, 0), op('exit_group' as never, 'misc', [int(3)], { text: 'exit(3)' }), joinOf(0, 'wait'), say(1, 'not reached\n')], (blob) => {
      // exit_group (231) is no plan syscall: write its number into op 2.
      blob.writeUInt32LE(231, PLAN_HDR.size + OP.size + OP.fields.nr!.offset);
    });
    expect(r.stdout).toBe('ret -71\n');
    expect(r.stderr).toBe('');
  });

  it('a segment past the end is rejected before anything runs', () => {
    const r = run([say(1, 'x\n'), spawnOf(0, 0)], (blob) => blob.writeBigInt64LE(5n, PLAN_HDR.size + OP.size + OP.fields.args!.offset + 8));
    expect(r.stdout).toBe(`ret -${34}\n`);
    expect(WIRE.BAD_PLAN_INDEX).toBe(0xffffffff);
  });
});
