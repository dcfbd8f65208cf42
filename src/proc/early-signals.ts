/**
 * SIGINT, SIGTERM and SIGHUP from the first line of tsjail's own code until
 * the supervisor takes over. Start-up (parsing, preparing, compiling the
 * filter, cgroups) takes a few hundred milliseconds, and without a handler
 * Node dies there by the default action: no `Server stops …` line, and
 * whatever start-up had made so far stays. Here the signal is only recorded;
 * the supervisor acts on it as it starts, as nsjail acts on its flag: no jail
 * runs, the stop line is logged and the exit status is nsjail's (128+signal,
 * 0 in listen mode). The CLI's entry point starts catching first thing
 * (proc/catch-signals.ts); importing this module does nothing, so the library
 * API never takes a host program's signals.
 */
// SIGHUP last: Node already catches SIGINT and SIGTERM (to restore the terminal, then die), not
// SIGHUP, so a handler for it shows from outside (SigCgt) that all three are ours.
export const FATAL_SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
export type FatalSignal = keyof typeof FATAL_SIGNALS;

let caught: FatalSignal | undefined;
let catching = false;
const record = (sig: NodeJS.Signals) => {
  caught ??= sig as FatalSignal;
};

/** From now until takeEarlySignal(), a fatal signal is only recorded. */
export function catchEarlySignals(): void {
  if (catching) return;
  catching = true;
  for (const sig of Object.keys(FATAL_SIGNALS)) process.on(sig as NodeJS.Signals, record);
}

/** The supervisor (or a mode without one) takes over: stop catching here; the first signal caught, if any. */
export function takeEarlySignal(): FatalSignal | undefined {
  if (catching) for (const sig of Object.keys(FATAL_SIGNALS)) process.off(sig as NodeJS.Signals, record);
  catching = false;
  return caught;
}

/** For runs that never start a jail (the seccomp tools): back to the default action, acting on one caught already. */
export function dropEarlySignals(): void {
  const sig = takeEarlySignal();
  if (sig !== undefined) process.kill(process.pid, sig);
}

/**
 * libuv runs a signal's listeners from its event loop, not when it arrives:
 * one caught while start-up ran without yielding still waits there. One turn
 * of the loop delivers it (to the listeners of that moment).
 */
export function deliverPendingSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
