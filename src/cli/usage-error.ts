/**
 * A command line tsjail refuses: one line naming the option and the problem,
 * which the entry point prints with a pointer to `tsjail --help` (never the
 * whole usage). showUsage marks getopt's own refusals (an unknown option, a
 * missing value, a bad -M) as against a bad value; both are printed alike.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
  }
}
