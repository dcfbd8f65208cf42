/**
 * The feature table is open: a feature defined here, and nowhere in execute or
 * the modes, gets its prepare step, its ops at an anchor, its parent-side step
 * between clone and release, and its start, exit and dispose hooks run — on a
 * real jail, in this process.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/cli/parse.js';
import { execute } from '../../src/execute.js';
import type { Feature } from '../../src/features/types.js';
import { int, op, str } from '../../src/plan/ops.js';
import { validateSpec } from '../../src/validate.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skip = missingRoot() ?? missingUserns();

describe.skipIf(!!skip)('a feature from outside the table', () => {
  it('runs its prepare, anchor ops, parent step and hooks', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsjail-feature-'));
    const seen: string[] = [];
    let releasedPid = 0;
    const marker: Feature = {
      name: 'marker',
      applies: (s) => s.cfg.hostname === 'FEATURED',
      prepare(p) {
        seen.push(`prepare ${p.exec.path}`);
        return {
          // At 'root_final' the hostname is set and privileges are still held: this one replaces tsjail's.
          ops: { root_final: () => [op('sethostname', 'uts', [str('MARKED'), int(6)])] },
          beforeRelease(pid) {
            releasedPid = pid;
            seen.push('beforeRelease');
          },
          onStart: (pid) => seen.push(`start ${pid === releasedPid}`),
          onExit: (e) => void seen.push(`exit ${e.code}`),
          dispose: () => void seen.push('dispose'),
        };
      },
    };
    const { spec } = await parseCommandLine(['-Mo', '--chroot', '/', '-q', '-H', 'FEATURED', '-B', `${out}:/tmp`, '--', '/bin/sh', '-c', 'hostname > /tmp/h; exit 3']);
    expect(validateSpec(spec)).toEqual([]);
    expect(await execute(spec, { features: [marker] })).toBe(3);
    expect(readFileSync(join(out, 'h'), 'utf8')).toBe('MARKED\n');
    expect(seen).toEqual(['prepare /bin/sh', 'beforeRelease', 'start true', 'exit 3', 'dispose']);
  });
});
