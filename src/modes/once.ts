/**
 * STANDALONE_ONCE: one jail, its status is tsjail's. A tsjail failure before
 * execve is 255; SIGINT/SIGTERM to tsjail kill the jail and give 128+signal.
 */
import type { RunContext } from '../execute.js';
import { log } from '../log/logger.js';
import { launchJail } from '../proc/spawn.js';

export const STANDALONE = '[STANDALONE MODE]';

export async function runOnce({ p, sup, hooks }: RunContext): Promise<number> {
  log.info(`Executing '${p.exec.path}' for '${STANDALONE}'`);
  const jail = launchJail(p, { extras: hooks.extras, parent: hooks.parent });
  const exited = sup.track(jail.pid, STANDALONE, p.cfg.time_limit, jail.executed);
  if (!(await jail.executed)) {
    await exited;
    log.error("Couldn't launch the child process");
    return 255;
  }
  const e = await exited;
  const fatal = sup.fatalSignalReceived;
  return fatal !== undefined ? 128 + fatal : e.code;
}
