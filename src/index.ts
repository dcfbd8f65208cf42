/**
 * tsjail as a library: run jails from a Node program with the same options,
 * validation and error messages as the command line. See src/api.ts.
 */
export { configureLog, Jail, JailError, runJail, runSpec, specFromOptions, startJail, ValidationError } from './api.js';
export type { JailSpec } from './spec.js';
export type { Anchor, ExitReason, Feature, FeatureRun, JailEvents, JailOptions, JailResult, RunResult, StdioOption, Verdict } from './api.js';
