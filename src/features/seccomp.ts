/** The seccomp feature's prepare step: Kafel policies, lists and presets compiled once, before any clone. */
import { log } from '../log/logger.js';
import type { JailSpec } from '../spec.js';

export async function compileFilter(spec: JailSpec): Promise<Uint8Array | undefined> {
  const { cfg } = spec;
  const e = cfg.ext;
  const { compileSeccomp, SeccompCompileError } = await import('../seccomp/index.js');
  try {
    const f = compileSeccomp({ policies: cfg.seccomp_string, policyFile: cfg.seccomp_policy_file, allow: e.syscall_allow, deny: e.syscall_deny, presets: e.seccomp_preset });
    if (f) log.debug(`Seccomp filter: ${f.length} BPF instructions`);
    return f?.program;
  } catch (err) {
    if (err instanceof SeccompCompileError) throw new Error(`Could not compile policy: ${err.message}`);
    throw err;
  }
}
