/** Facts about the host and this process, read once before anything changes them. */
import { readFileSync } from 'node:fs';
import { RLIMITS } from './linux/consts.js';
import { getRlimit } from './linux/libc.js';
import type { HostFacts } from './prepare.js';
import { RLIMIT_NAMES, type RlimitName } from './spec.js';

function cpuList(): number[] {
  try {
    const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    const cpus: number[] = [];
    for (const part of (m?.[1] ?? '').split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let c = a!; c <= (b ?? a!); c++) cpus.push(c);
    }
    return cpus;
  } catch {
    return [0];
  }
}

function capLast(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    return 40;
  }
}

/** Is this process its group's leader (started by an interactive shell)? */
function leadsProcessGroup(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === process.pid;
  } catch {
    return false;
  }
}

/**
 * rlimit 'soft'/'hard' mean tsjail's own limits. Node raises its RLIMIT_NOFILE
 * soft limit to the hard limit at start-up, so for nofile 'soft' equals 'hard'
 * (nsjail likewise raises its own to min(8192, hard)).
 */
export function readHostFacts(): HostFacts {
  const rlimits = {} as Record<RlimitName, [bigint, bigint]>;
  for (const name of RLIMIT_NAMES) rlimits[name] = getRlimit(RLIMITS[name].resource);
  return { uid: process.getuid!(), gid: process.getgid!(), rlimits, capLast: capLast(), cpus: cpuList(), leadsProcessGroup: leadsProcessGroup() };
}
