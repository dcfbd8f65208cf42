/**
 * STANDALONE_RERUN: run the jail again each time it exits, until tsjail gets
 * SIGINT/SIGTERM/SIGHUP (128+signal). A launch that fails before execve stops
 * the loop with 255 instead of retrying forever (nsjail #84).
 *
 * While one jail runs, the next is set up and waits (a spare, as in listen
 * mode): when the program exits, its successor only has to be released.
 */
import type { RunContext } from './context.js';
import { log } from '../log/logger.js';
import { startJail, startSpare, type Spare } from './jail.js';
import { STANDALONE } from './once.js';

export async function runRerun(ctx: RunContext): Promise<number> {
  let spare: Spare | undefined;
  let ready = false;
  for (;;) {
    const fatal = ctx.sup.fatalSignalReceived;
    if (fatal !== undefined) return 128 + fatal;
    const jail = spare?.handOff(STANDALONE) ?? startJail(ctx, STANDALONE, undefined, spare !== undefined);
    spare = startSpare(ctx, false);
    if (!jail || !(await jail.executed)) {
      await jail?.exited;
      log.error("Couldn't launch the child process");
      return 255;
    }
    // Serving once the first program runs (health checks).
    if (!ready) ctx.features.onRunEvent({ kind: 'ready' });
    ready = true;
    await jail.exited;
  }
}
