#!/usr/bin/env node
// Before any other module: catch fatal signals from the start (proc/early-signals.ts), and keep
// Node off the jail's stdio (proc/stdio.ts).
import '../proc/early-signals.js';
import '../proc/stdio.js';
import { runMain } from '../main.js';

void runMain(process.argv.slice(2)).then((code) => process.exit(code));
