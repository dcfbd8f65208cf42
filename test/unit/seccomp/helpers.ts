import { formatAction } from '../../../src/seccomp/actions.js';
import { generate } from '../../../src/seccomp/codegen.js';
import { buildModel, type SeccompInput } from '../../../src/seccomp/index.js';
import { run, verify } from '../../../src/seccomp/interp.js';
import { decide, type Model } from '../../../src/seccomp/model.js';
import { syscallByName, TABLES } from '../../../src/seccomp/syscalls/index.js';

export const X86_64 = 0xc000003e;
export const I386 = 0x40000003;
export const AARCH64 = 0xc00000b7;

export interface Event {
  nr: number | string;
  args?: ReadonlyArray<bigint | number>;
  arch?: number;
}

export const nrOf = (s: number | string): number => (typeof s === 'number' ? s : syscallByName(TABLES.x86_64!, s)!.nr);

export function model(input: Partial<SeccompInput>): Model {
  return buildModel({ policies: [], allow: [], deny: [], presets: [], ...input })!;
}

/** Compiles, checks the program loads, and answers through the interpreter and the reference evaluator. */
export function decisions(m: Model, events: readonly Event[]): Array<{ bpf: string; ref: string; executed: number }> {
  const prog = generate(m);
  const problems = verify(prog);
  if (problems.length) throw new Error(`unloadable program: ${problems.join('; ')}`);
  return events.map((e) => {
    const data = { nr: nrOf(e.nr), arch: e.arch ?? X86_64, args: (e.args ?? []).map((a) => BigInt.asUintN(64, BigInt(a))) };
    const r = run(prog, data);
    return { bpf: formatAction(r.ret), ref: formatAction(decide(m, data)), executed: r.executed };
  });
}

/** The decision for one event from a Kafel policy text. */
export function evalPolicy(policy: string, e: Event): string {
  const [d] = decisions(model({ policies: [policy] }), [e]);
  if (d!.bpf !== d!.ref) throw new Error(`BPF says ${d!.bpf}, reference says ${d!.ref}`);
  return d!.bpf;
}
