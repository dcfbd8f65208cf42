/**
 * Execute: host facts, prepare, log the parameters, then run the mode under
 * a supervisor. Loaded only once parsing and validation passed.
 */
import { readHostFacts } from './host.js';
import { logParams } from './log/params.js';
import { runOnce } from './modes/once.js';
import { prepare } from './prepare.js';
import { Supervisor } from './proc/supervisor.js';
import type { JailSpec } from './spec.js';

export async function execute(spec: JailSpec): Promise<number> {
  const host = readHostFacts();
  const p = prepare(spec, host);
  logParams(p);
  const sup = new Supervisor(p.cfg.forward_signals);
  sup.start();
  try {
    switch (p.cfg.mode) {
      case 'STANDALONE_ONCE':
        return await runOnce(p, sup);
      case 'LISTEN_TCP':
      case 'STANDALONE_RERUN':
      case 'STANDALONE_EXECVE':
        throw new Error(`mode ${p.cfg.mode} is not supported yet`);
    }
  } finally {
    sup.killAll('SIGKILL', 'signal');
    sup.stop();
  }
}
