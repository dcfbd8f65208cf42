#!/usr/bin/env node
// Seccomp compiler figures (run `npm run build` first): import cost, compile time of a
// 300-syscall allow-list, filter length, and BPF instructions executed per syscall, counted by
// the interpreter, against what a balanced binary search over the policy's ranges needs.
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../dist/seccomp');
const t0 = performance.now();
const { compileSeccomp, buildModel } = await import(join(dist, 'index.js'));
const importMs = performance.now() - t0;
const { run } = await import(join(dist, 'interp.js'));
const { decode } = await import(join(dist, 'bpf.js'));
const { buildRanges } = await import(join(dist, 'codegen.js'));
const { x86_64 } = await import(join(dist, 'syscalls/x86_64.js'));

const AUDIT_ARCH_X86_64 = 0xc000003e;
const names = x86_64.syscalls.map(([name]) => name);

// Deterministic scattered pick (LCG) and a contiguous one (the first 300 numbers).
let seed = 42;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const scattered = [...names].sort(() => rand() - 0.5).slice(0, 300);
const contiguous = names.slice(0, 300);
const NSJAIL_DENYLIST = ['KILL_PROCESS { ptrace, process_vm_readv, process_vm_writev }', 'ERRNO(38) { io_uring_setup, io_uring_enter, io_uring_register }', 'DEFAULT ALLOW'];

function measure(label, input, probe) {
  const cold0 = performance.now();
  const f = compileSeccomp(input);
  const coldMs = performance.now() - cold0;
  const times = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    compileSeccomp(input);
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  const prog = decode(f.program);
  const ranges = buildRanges(buildModel(input)).length;
  const nrOf = new Map(x86_64.syscalls.map(([n, nr]) => [n, nr]));
  const exec = probe.map((n) => run(prog, { nr: nrOf.get(n), arch: AUDIT_ARCH_X86_64, args: [] }).executed);
  const avg = exec.reduce((a, b) => a + b, 0) / exec.length;
  // ld arch + jeq arch + ld nr, the search, then RET.
  const balanced = 3 + Math.ceil(Math.log2(ranges)) + 1;
  console.log(`${label}
  compile: first ${coldMs.toFixed(2)} ms, median ${times[100].toFixed(3)} ms, p95 ${times[190].toFixed(3)} ms
  filter: ${f.length} instructions (${f.program.length} bytes), ${ranges} syscall-number ranges
  executed per syscall over its ${probe.length} syscalls: avg ${avg.toFixed(2)}, max ${Math.max(...exec)} (balanced search bound: ${balanced})`);
}

console.log(`import dist/seccomp/index.js: ${importMs.toFixed(2)} ms`);
measure('300-syscall allow-list, scattered numbers (--syscall_allow)', { policies: [], allow: [scattered.join(',')], deny: [], presets: [] }, scattered);
measure('300-syscall allow-list, numbers 0..~310 (--syscall_allow)', { policies: [], allow: [contiguous.join(',')], deny: [], presets: [] }, contiguous);
measure('300-syscall Kafel ALLOW block, DEFAULT KILL_PROCESS', { policies: [`ALLOW { ${scattered.join(', ')} } DEFAULT KILL_PROCESS`], allow: [], deny: [], presets: [] }, scattered);
measure('nsjail configs\' deny-list (DEFAULT ALLOW)', { policies: NSJAIL_DENYLIST, allow: [], deny: [], presets: [] }, ['ptrace', 'io_uring_enter', 'read', 'openat']);
