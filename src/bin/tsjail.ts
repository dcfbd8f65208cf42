#!/usr/bin/env node
// Before any other module: catch fatal signals from the start (proc/early-signals.ts), and keep
// Node off the jail's stdio (proc/stdio.ts).
import '../proc/catch-signals.js';
import '../proc/stdio.js';
import { reportError, runMain } from '../main.js';
import { exitNow } from '../linux/libc.js';
import { lingeringEnded } from '../proc/lingering.js';

// An error thrown later from a callback ends the run like any other failure:
// one line and 255 (the stack with -v), not Node's trace and exit 1.
process.on('uncaughtException', (e) => process.exit(reportError(e)));
// Worker threads still stopping are waited for first (proc/lingering.ts says why).
void runMain(process.argv.slice(2)).then(async (code) => {
  await lingeringEnded();
  // The last 'exit' listener: once the others ran, the process ends without Node's teardown,
  // unless Node was asked to write something then (a profile, coverage: any option or NODE_OPTIONS).
  if (process.execArgv.length === 0 && !process.env.NODE_OPTIONS && !process.env.NODE_V8_COVERAGE) process.once('exit', exitNow);
  process.exit(code);
});
