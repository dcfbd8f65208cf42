/**
 * The seccomp feature's prepare step: Kafel policies, lists and presets
 * compiled once before any clone, and a --seccomp_bpf_file filter read and
 * checked there too.
 */
import { log } from '../log/logger.js';
import type { SeccompFilters } from '../phases/seccomp.js';
import type { JailSpec } from '../spec.js';

export async function prepareFilters(spec: JailSpec): Promise<SeccompFilters> {
  const { cfg } = spec;
  const e = cfg.ext;
  const wantsCompiled = cfg.seccomp_string.length > 0 || cfg.seccomp_policy_file !== undefined || e.syscall_allow.length > 0 || e.syscall_deny.length > 0 || e.seccomp_preset.length > 0;
  const { compileSeccomp, describeFindings, loadBpfFile, SeccompCompileError } = await import('../seccomp/index.js');
  const out: { compiled?: Uint8Array; file?: Uint8Array; fileName?: string } = {};
  if (e.seccomp_bpf_file !== undefined) {
    try {
      out.file = loadBpfFile(e.seccomp_bpf_file);
      out.fileName = e.seccomp_bpf_file;
    } catch (err) {
      if (err instanceof SeccompCompileError) throw new Error(err.message);
      throw err;
    }
    log.debug(`Seccomp filter from ${e.seccomp_bpf_file}: ${out.file.length / 8} BPF instructions`);
  }
  if (!wantsCompiled) return out;
  try {
    const f = compileSeccomp({ policies: cfg.seccomp_string, policyFile: cfg.seccomp_policy_file, allow: e.syscall_allow, deny: e.syscall_deny, presets: e.seccomp_preset, equivalents: e.seccomp_equivalents });
    if (f) {
      log.debug(`Seccomp filter: ${f.length} BPF instructions`);
      for (const d of describeFindings(f.findings)) if (d.state !== 'added') log.warn(`seccomp: ${d.text}`);
    }
    out.compiled = f?.program;
    return out;
  } catch (err) {
    if (err instanceof SeccompCompileError) throw new Error(`Could not compile policy: ${err.message}`);
    throw err;
  }
}
