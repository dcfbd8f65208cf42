/**
 * The library API's command-line layer (exported by src/api.ts, see its
 * header): a JailSpec run the way the CLI runs it. A module of its own so that
 * the CLI, which calls it, loads nothing of startJail's (its streams, stdio
 * plumbing and shared supervisor): the one-shot start-up runs exactly the
 * modules it ran when it called execute() itself.
 */
import { ValidationError } from './errors.js';
import type { Feature } from './features/types.js';
import type { JailSpec } from './spec.js';
import { validateSpec } from './validate.js';

/**
 * Runs a JailSpec exactly as the command line does and resolves to the exit
 * status the CLI exits with (the program's, 128+signal, 255 for tsjail's
 * failures, logged through tsjail's log). Unlike startJail it takes over the
 * process's signals (SIGINT, SIGTERM, SIGUSR1, SIGQUIT) while it runs, as a
 * command-line tool does. Throws ValidationError for a spec that does not
 * validate.
 */
export async function runSpec(spec: JailSpec, opts: { readonly features?: readonly Feature[] } = {}): Promise<number> {
  const problems = validateSpec(spec);
  if (problems.length) throw new ValidationError(problems);
  const { execute } = await import('./execute.js');
  return execute(spec, opts);
}
