/**
 * `tsjail pow solve CHALLENGE`: answers a --pow challenge (kCTF's format) on
 * stdout, for clients without Python: `tsjail pow solve s.AAU5.…` prints the
 * line to paste at `Solution? `. Difficulty 1337 takes about two seconds.
 */
import { parseChallenge, solve } from './pow.js';

type Io = { stdout: (s: string) => void; stderr: (s: string) => void };

const USAGE = 'Usage: tsjail pow solve CHALLENGE   (prints the solution of a kCTF proof-of-work challenge s.<difficulty>.<x>)\n';

export function runPowCommand(argv: readonly string[], io: Io): number {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    io.stdout(USAGE);
    return 0;
  }
  if (argv.length !== 2 || argv[0] !== 'solve') {
    io.stderr(USAGE);
    return 255;
  }
  const c = parseChallenge(argv[1]!);
  if (!c) {
    io.stderr(`tsjail pow solve: '${argv[1]!.slice(0, 80)}' is not a challenge (s.<difficulty>.<x>, as the server prints it)\n`);
    return 255;
  }
  io.stdout(`${solve(c)}\n`);
  return 0;
}
