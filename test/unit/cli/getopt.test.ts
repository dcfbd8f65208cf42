/** The fast argv scanner reads every line it accepts exactly as commander does (parse.ts falls back to commander otherwise). */
import { describe, expect, it } from 'vitest';
import { FLAGS } from '../../../src/cli/flags.js';
import { scanArgv } from '../../../src/cli/getopt.js';
import { expandAbbreviations, parseWithCommander } from '../../../src/cli/parse.js';

const names = (s: { events: Array<{ flag: { long: string }; value: string }>; operands: string[] }) => ({ events: s.events.map((e) => [e.flag.long, e.value]), operands: s.operands });

function same(argv: string[]): void {
  const args = expandAbbreviations(argv);
  const fast = scanArgv(args);
  let slow: ReturnType<typeof parseWithCommander> | undefined;
  try {
    slow = parseWithCommander(args);
  } catch {
    slow = undefined;
  }
  if (fast) expect(names(fast), argv.join(' ')).toEqual(names(slow!));
  // A line commander refuses is never accepted by the scanner.
  if (!slow) expect(fast, argv.join(' ')).toBeUndefined();
}

describe('scanArgv', () => {
  it('reads the usual lines as commander does', () => {
    for (const argv of [
      ['-Mo', '--chroot', '/', '-q', '--', '/bin/true'],
      ['-Mo', '-Nv', '-Qc/', '--', '/bin/echo', 'x'],
      ['--chroot=/', '-R', '/usr', '-R', '/lib:/l', '-B', '/tmp', '/bin/sh', '-c', 'echo'],
      ['/bin/echo', '-Mo', 'x'],
      ['-E', 'A=1', '--env', 'B', '-T', '/tmp', '--', '--', '-x'],
      ['--chroot', '--', '/bin/true'],
      ['-', '-M', 'o'],
      ['--chr', '/', '--user=99999', '--group', '99999'],
    ]) {
      same(argv);
      expect(scanArgv(expandAbbreviations(argv))).toBeDefined();
    }
  });

  it('leaves unknown options, missing values and refused forms to commander', () => {
    for (const argv of [['--bogus'], ['-Z'], ['--chroot'], ['-M'], ['--verbose=1'], ['-Mo', '-5'], ['--help=x']]) {
      same(argv);
      expect(scanArgv(expandAbbreviations(argv)), argv.join(' ')).toBeUndefined();
    }
  });

  it('agrees with commander on seeded random lines over the whole flag table', () => {
    let seed = 16;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const words = ['/', 'x', '-', '--', '-1', '=', 'a=b', '/bin/true'];
    for (let k = 0; k < 400; k++) {
      const argv: string[] = [];
      for (let j = rand(6); j >= 0; j--) {
        const f = FLAGS[rand(FLAGS.length)]!;
        const form = rand(5);
        if (form === 0 && f.short) argv.push(`-${f.short}${f.arg ? words[rand(words.length)] : ''}`);
        else if (form === 1 && f.arg) argv.push(`--${f.long}=${words[rand(words.length)]}`);
        else argv.push(`--${f.long}`, ...(f.arg && rand(4) ? [words[rand(words.length)]!] : []));
        if (rand(4) === 0) argv.push(words[rand(words.length)]!);
      }
      same(argv);
    }
  });
});
