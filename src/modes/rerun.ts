/**
 * STANDALONE_RERUN: run the jail again each time it exits, until tsjail gets
 * SIGINT/SIGTERM/SIGHUP (128+signal). A launch that fails before execve stops
 * the loop with 255 instead of retrying forever (nsjail #84).
 */
import type { RunContext } from '../execute.js';
import { runStandaloneJail } from './once.js';

export async function runRerun(ctx: RunContext): Promise<number> {
  for (;;) {
    const fatal = ctx.sup.fatalSignalReceived;
    if (fatal !== undefined) return 128 + fatal;
    if (!(await runStandaloneJail(ctx))) return 255;
  }
}
