#!/usr/bin/env node
// Start-up figures, each paired with bare `node -e 0` (the floor) in the same
// run: every round runs the floor and then each case, so a busy machine slows
// both alike. Prints medians of wall time and their ratio to the floor, of CPU
// time (user + system of the whole process tree, from wait4's rusage), peak
// memory (/usr/bin/time), and the derived costs from those medians: CPU
// per bind mount (100 binds against 1) and the fixed cost of a seccomp
// policy. The single binary (dist/tsjail, `make`) and the development entry
// (node dist/bin/tsjail.js) are measured when present. Not a test.
//   RUNS=30 node bench/startup.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.RUNS ?? 20);
// Every command runs with PATH alone, as `env -i PATH=/usr/bin:/bin` would run it: a variable such as
// NODE_EXTRA_CA_CERTS (Node reads that file at every start, ~20-60 ms on the test machines) would
// otherwise weigh on the floor and the cases alike and flatter the ratio.
const ENV = { PATH: '/usr/bin:/bin' };
const TICK_MS = 10; // USER_HZ is 100 on Linux

/** user + system time of this process's reaped children so far, in ms (clock-tick resolution). */
function childrenCpuMs() {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(v[13]) + Number(v[14])) * TICK_MS;
}

// wait4()'s rusage has microseconds where /proc's children times have 10 ms ticks: with python3
// at hand, CPU comes from a second run of each case under this small parent, which prints the
// tree's user + system time. Wall time is always taken from a direct spawn (a python parent
// slows what it starts by ~10 %).
const RUSAGE_PY = [
  'import os,sys',
  'pid=os.fork()',
  'if pid==0:',
  '  os.execv(sys.argv[1],sys.argv[1:])',
  '_,st,ru=os.wait4(pid,0)',
  'sys.stderr.write("\\ncpu %f\\n"%((ru.ru_utime+ru.ru_stime)*1000))',
  'sys.exit(os.waitstatus_to_exitcode(st))',
].join('\n');
const precise = spawnSync('python3', ['-c', RUSAGE_PY, '/bin/true'], { stdio: 'ignore', env: ENV }).status === 0;

function run(file, args) {
  const r = spawnSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
  if (r.status !== 0) throw new Error(`${[file, ...args].join(' ')}: exit ${r.status}: ${String(r.stderr).trim().split('\n').pop()}`);
  return String(r.stderr);
}

function once(argv) {
  const c0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  run(argv[0], argv.slice(1));
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!precise) return { wall, cpu: childrenCpuMs() - c0 };
  const m = /\ncpu ([\d.]+)\n$/.exec(run('python3', ['-c', RUSAGE_PY, ...argv]));
  if (!m) throw new Error(`${argv.join(' ')}: no CPU time from the timing parent`);
  return { wall, cpu: Number(m[1]) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Runs the floor and every case `runs` times, interleaved. */
function measure(cases) {
  const floor = ['node', '-e', '0'].map((a, i) => (i === 0 ? process.execPath : a));
  const res = new Map([['floor', { wall: [], cpu: [] }], ...cases.map(([name]) => [name, { wall: [], cpu: [], ratio: [] }])]);
  for (let i = 0; i < runs; i++) {
    const f = once(floor);
    res.get('floor').wall.push(f.wall);
    res.get('floor').cpu.push(f.cpu);
    for (const [name, argv] of cases) {
      const r = once(argv);
      const m = res.get(name);
      m.wall.push(r.wall);
      m.cpu.push(r.cpu);
      m.ratio.push(r.wall / f.wall);
    }
  }
  return res;
}

/**
 * Drops a file's pages from the page cache (posix_fadvise DONTNEED, through python3 when there is
 * one). A binary just built or copied is wholly in the cache, and the kernel's fault-around then
 * maps ~10 MiB more of it into each run than it touches: the peak would depend on the file's
 * history, not on tsjail.
 */
function evict(file) {
  spawnSync('python3', ['-c', 'import os,sys\nfor p in sys.argv[1:]:\n  f=os.open(p,os.O_RDONLY); os.posix_fadvise(f,0,0,os.POSIX_FADV_DONTNEED); os.close(f)', file], { stdio: 'ignore', env: ENV });
}

function peakMiB(argv) {
  if (!existsSync('/usr/bin/time')) return NaN;
  evict(argv[0]);
  const kib = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
    kib.push(Number(r.stderr.trim().split('\n').pop()));
  }
  return median(kib) / 1024;
}

const entries = [];
if (existsSync(join(root, 'dist/tsjail'))) entries.push(['binary', [join(root, 'dist/tsjail')]]);
if (existsSync(join(root, 'dist/bin/tsjail.js'))) entries.push(['node dist/bin/tsjail.js', [process.execPath, join(root, 'dist/bin/tsjail.js')]]);
if (!entries.length) {
  console.error('bench/startup.mjs: nothing to measure: run `npm run build` (and `make` for the binary)');
  process.exit(1);
}

const x86 = await import(join(root, 'dist/seccomp/syscalls/x86_64.js')).catch(() => undefined);
const names = x86 ? x86.x86_64.syscalls.map(([n]) => n).slice(0, 300) : [];

const ONE_SHOT = ['-Mo', '--chroot', '/', '-q', '--', '/bin/true'];
const binds = (n) => ['-Mo', '-q', '-R', '/usr', '-R', '/lib', '-R', '/lib64', '-R', '/bin', ...Array.from({ length: n }, (_, i) => ['-R', `/usr/bin:/m/${i}`]).flat(), '--', '/bin/true'];
const SECCOMP = ['-Mo', '--chroot', '/', '-q', '--seccomp_string', 'KILL { ptrace } DEFAULT ALLOW', '--', '/bin/true'];

console.log(`start-up, ${runs} rounds, each case paired with node -e 0 (medians; CPU = user+system of the process tree${precise ? '' : ', in 10 ms ticks: no python3 for wait4 rusage'}; environment: PATH=${ENV.PATH} only)`);
const row = (name, m, floor) =>
  `  ${name.padEnd(48)} ${median(m.wall).toFixed(1).padStart(7)} ms  ${m.ratio ? `${median(m.ratio).toFixed(2)} x floor` : '(floor)     '}  CPU ${median(m.cpu).toFixed(1).padStart(6)} ms${floor ? ` (${(median(m.cpu) / median(floor.cpu)).toFixed(2)} x)` : ''}`;
for (const [label, argv] of entries) {
  console.log(`\n${label}`);
  const cases = [
    ['-Mo --chroot / -q -- /bin/true', [...argv, ...ONE_SHOT]],
    ['  with a seccomp policy', [...argv, ...SECCOMP]],
    ['1 extra bind', [...argv, ...binds(1)]],
    ['100 extra binds', [...argv, ...binds(100)]],
  ];
  if (names.length) cases.push([`seccomp compile (${names.length}-syscall allow-list)`, [...argv, 'seccomp', 'compile', '--syscall_allow', names.join(','), '-o', '/dev/null']]);
  const res = measure(cases);
  const floor = res.get('floor');
  console.log(row('node -e 0', floor));
  for (const [name] of cases) console.log(row(name, res.get(name), floor));
  const cpu = (name) => median(res.get(name).cpu);
  console.log(`  CPU per bind mount (100 vs 1):                 ${((cpu('100 extra binds') - cpu('1 extra bind')) / 99).toFixed(3)} ms`);
  console.log(`  fixed CPU cost of a seccomp policy:            ${(cpu('  with a seccomp policy') - cpu('-Mo --chroot / -q -- /bin/true')).toFixed(1)} ms`);
  const peak = peakMiB([...argv, ...ONE_SHOT]);
  const floorPeak = peakMiB([process.execPath, '-e', '0']);
  console.log(`  peak memory, one-shot:                         ${peak.toFixed(1)} MiB (node -e 0: ${floorPeak.toFixed(1)} MiB, +${(peak - floorPeak).toFixed(1)})`);
}

const others = [];
for (const bin of ['/usr/bin/nsjail', '/usr/local/bin/nsjail']) if (existsSync(bin)) others.push(['nsjail', [bin, ...ONE_SHOT]]);
if (existsSync('/usr/bin/bwrap')) others.push(['bwrap', ['/usr/bin/bwrap', '--bind', '/', '/', '--unshare-all', '/bin/true']]);
if (others.length) {
  console.log('\nothers');
  const res = measure(others);
  console.log(row('node -e 0', res.get('floor')));
  for (const [name, argv] of others) console.log(`${row(name, res.get(name), res.get('floor'))}   peak ${peakMiB(argv).toFixed(1)} MiB`);
}
