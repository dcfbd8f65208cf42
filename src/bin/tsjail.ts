#!/usr/bin/env node
// Before any other module: keep Node off the jail's stdio (see proc/stdio.ts).
import '../proc/stdio.js';
import { runMain } from '../main.js';

void runMain(process.argv.slice(2)).then((code) => process.exit(code));
