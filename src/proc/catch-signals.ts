/** The CLI's first import: fatal signals are recorded from here on (see early-signals.ts). */
import { catchEarlySignals } from './early-signals.js';

catchEarlySignals();
