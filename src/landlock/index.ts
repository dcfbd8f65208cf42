/**
 * Landlock for a run: request from the spec, kernel ABI probe, downgrade, the
 * status line, and the planner the child program calls once the mount
 * namespace is final. Loaded only when a Landlock option is set.
 */
import { probeLandlockAbi } from '../linux/landlock.js';
import { log } from '../log/logger.js';
import { planLandlock, type PreparedLandlock } from '../phases/landlock.js';
import type { PlanStep } from '../features/types.js';
import type { Prepared } from '../prepare.js';
import type { LandlockSpec } from '../spec.js';
import { downgrade, statusText, type LandlockRequest, type PathAccess, type ScopeName } from './abi.js';

export class LandlockError extends Error {}

/** Caps the probed ABI, to see older kernels' behaviour on a new one (tests); it can only lower protection, and the log says so. */
export const ABI_CAP_ENV = 'TSJAIL_LANDLOCK_ABI';

export function requestOf(l: LandlockSpec): LandlockRequest {
  const lists: ReadonlyArray<[readonly string[], PathAccess, boolean]> = [
    [l.ro, 'ro', false],
    [l.rx, 'rx', false],
    [l.rw, 'rw', false],
    [l.ro_try, 'ro', true],
    [l.rx_try, 'rx', true],
    [l.rw_try, 'rw', true],
  ];
  const paths = lists.flatMap(([list, access, optional]) => list.map((path) => ({ path, access, optional })));
  for (const p of paths) if (!p.path.startsWith('/')) throw new LandlockError(`Landlock path '${p.path}' is not absolute (paths are as seen inside the jail)`);
  for (const port of [...l.bind_tcp, ...l.connect_tcp]) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LandlockError(`Landlock TCP port ${port} is outside 0..65535`);
  }
  const scopes: ScopeName[] = [...(l.scope_abstract_unix ? ['abstract_unix' as const] : []), ...(l.scope_signal ? ['signal' as const] : [])];
  return { paths, bindTcp: l.bind_tcp, connectTcp: l.connect_tcp, scopes, required: l.required };
}

function probeKernel(): { abi: number; reason?: string; capped?: string } {
  const probed = probeLandlockAbi();
  const cap = process.env[ABI_CAP_ENV];
  if (cap === undefined || cap === '') return probed;
  const n = Number(cap);
  if (!Number.isInteger(n) || n < 0) throw new LandlockError(`${ABI_CAP_ENV}='${cap}' is not an ABI number`);
  if (n >= probed.abi) return probed;
  return { abi: n, capped: ` [probed ABI ${probed.abi}, capped by ${ABI_CAP_ENV}=${n}]`, ...(n === 0 ? { reason: `Landlock disabled by ${ABI_CAP_ENV}=0` } : {}) };
}

/**
 * Probes and downgrades once per run, logs the outcome, and returns the
 * planner for every child; undefined when nothing is enforced (best effort).
 * Throws when --landlock_required cannot be met.
 */
export function landlockStep(p: Prepared): PlanStep | undefined {
  const request = requestOf(p.cfg.ext.landlock);
  const kernel = probeKernel();
  const d = downgrade(request, kernel.abi);
  const line = statusText(d, kernel.reason) + (kernel.capped ?? '');
  if (d.error) throw new LandlockError(`${d.error}${kernel.reason ? ` (${kernel.reason})` : ''}${kernel.capped ?? ''}`);
  if (d.status === 'fully_enforced') log.info(line);
  else log.warn(line);
  for (const n of d.notes) log.info(`Landlock: ${n}`);
  if (!d.ruleset) return undefined;
  const prepared: PreparedLandlock = { ruleset: d.ruleset, paths: d.paths, ports: d.ports, noNewPrivs: !p.cfg.disable_no_new_privs };
  if (log.enabled('DEBUG')) {
    for (const r of d.paths) log.debug(`Landlock rule: --landlock_${r.kind}${r.optional ? '_try' : ''} '${r.path}'`);
    for (const r of d.ports) log.debug(`Landlock rule: tcp port ${r.port}`);
  }
  return (_p, ctx) => planLandlock(prepared, ctx);
}
