#!/usr/bin/env node
import { runMain } from '../main.js';

process.exit(await runMain(process.argv.slice(2)));
