/**
 * STANDALONE_ONCE: one jail, its status is tsjail's. A tsjail failure before
 * execve is 255; SIGINT/SIGTERM to tsjail kill the jail and give 128+signal.
 */
import type { RunContext } from './context.js';
import { log } from '../log/logger.js';
import type { ExitInfo } from '../proc/supervisor.js';
import { startJail } from './jail.js';

export const STANDALONE = '[STANDALONE MODE]';

/** One jail on tsjail's stdio: its exit, or undefined when the launch failed before execve (logged). */
export async function runStandaloneJail(ctx: RunContext): Promise<ExitInfo | undefined> {
  const jail = startJail(ctx, STANDALONE);
  if (!jail || !(await jail.executed)) {
    await jail?.exited;
    log.error("Couldn't launch the child process");
    return undefined;
  }
  return jail.exited;
}

export async function runOnce(ctx: RunContext): Promise<number> {
  // SIGINT/SIGTERM during start-up: no jail at all.
  const early = ctx.sup.fatalSignalReceived;
  if (early !== undefined) return 128 + early;
  const e = await runStandaloneJail(ctx);
  if (!e) return 255;
  const fatal = ctx.sup.fatalSignalReceived;
  return fatal !== undefined ? 128 + fatal : e.code;
}
