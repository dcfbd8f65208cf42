/** Bad and extreme input through the real CLI (issue 11): numbers, log and output failures, config files, -x. */
import { describe, expect, it } from 'vitest';
import { jail, runTsjail } from './helpers/run-tsjail.js';
import { missingRoot, missingUserns } from './helpers/require.js';

const skipJail = missingRoot() ?? missingUserns();

describe('time limits past setTimeout’s range', () => {
  // 2147484 s is 2^31 ms and more: Node would fire such a timer after 1 ms and kill the jail at once.
  it.skipIf(!!skipJail)('-t 2147484 lets the program run', async () => {
    const r = await jail(['-t', '2147484'], ['/bin/sh', '-c', 'sleep 1; echo ran']);
    expect(r.stdout).toBe('ran\n');
    expect(r.exitCode).toBe(0);
  });
});
