/** What a supervised mode is given: the prepared run, its supervisor and the active features. */
import type { ActiveFeatures } from '../features/active.js';
import type { Prepared } from '../prepare.js';
import type { Supervisor } from '../proc/supervisor.js';

export interface RunContext {
  readonly p: Prepared;
  readonly sup: Supervisor;
  readonly features: ActiveFeatures;
}
