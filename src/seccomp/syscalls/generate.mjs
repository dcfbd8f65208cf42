#!/usr/bin/env node
// Regenerates src/seccomp/syscalls/x86_64.ts from the running kernel:
//   numbers        <asm/unistd_64.h> (uapi), plus LATE_NUMBERS for syscalls newer
//                  than the installed header (x86_64 numbers are ABI, never reused);
//   kernel names   BTF FUNCs `__x64_sys_<name>` (the SYSCALL_DEFINE names Kafel uses);
//   arguments      tracefs `events/syscalls/sys_enter_<name>/format` (the kernel's
//                  syscall metadata, the same source Kafel's generator read), then BTF
//                  `__do_sys_<name>` prototypes, then HAND_ARGS; type sizes from BTF.
// Usage: node src/seccomp/syscalls/generate.mjs [--btf FILE] [--unistd FILE] [--tracefs DIR] [-o FILE]
// tracefs is often unmounted: `mount -t tracefs nodev /sys/kernel/tracing` (as root).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const opt = { btf: '/sys/kernel/btf/vmlinux', unistd: '', tracefs: '', out: join(root, 'src/seccomp/syscalls/x86_64.ts') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const key = { '--btf': 'btf', '--unistd': 'unistd', '--tracefs': 'tracefs', '-o': 'out' }[a];
  if (!key) throw new Error(`unknown option ${a}`);
  opt[key] = process.argv[++i];
}
opt.unistd ||= ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h'].find(existsSync);
opt.tracefs ||= ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((d) => existsSync(join(d, 'events/syscalls')));
if (!opt.unistd) throw new Error('asm/unistd_64.h not found (Debian: apt-get install linux-libc-dev), or pass --unistd');
if (!opt.tracefs) throw new Error('tracefs syscall events not found: mount -t tracefs nodev /sys/kernel/tracing, or pass --tracefs');

// __NR_ names whose SYSCALL_DEFINE name differs (Kafel spells the kernel name).
const KERNEL_NAME = { stat: 'newstat', fstat: 'newfstat', lstat: 'newlstat', uname: 'newuname', sendfile: 'sendfile64', _sysctl: 'sysctl', umount2: 'umount' };

// Syscalls newer than many distributions' uapi headers (arch/x86/entry/syscalls/syscall_64.tbl).
const LATE_NUMBERS = {
  uretprobe: 335, uprobe: 336, cachestat: 451, fchmodat2: 452, map_shadow_stack: 453, futex_wake: 454, futex_wait: 455,
  futex_requeue: 456, statmount: 457, listmount: 458, lsm_get_self_attr: 459, lsm_set_self_attr: 460,
  lsm_list_modules: 461, mseal: 462, setxattrat: 463, getxattrat: 464, listxattrat: 465, removexattrat: 466,
  open_tree_attr: 467, file_getattr: 468, file_setattr: 469, listns: 470, rseq_slice_yield: 471,
};

// Kafel's spellings of arguments the kernel has since renamed; accepted as aliases.
const ARG_ALIASES = { arch_prctl: { option: ['code'], arg2: ['addr'] } };

// Arguments of syscalls that have no tracefs event and no BTF prototype on common kernels:
// removed or never-implemented calls and a few defined outside SYSCALL_DEFINE's metadata.
// Spelled from the kernel's SYSCALL_DEFINE / asmlinkage declarations.
const P = 8, INT = 4;
const HAND_ARGS = {
  sysctl: [['args', P]],
  create_module: [['name', P], ['size', P]],
  get_kernel_syms: [['table', P]],
  query_module: [['name', P], ['which', INT], ['buf', P], ['bufsize', P], ['ret', P]],
  nfsservctl: [['cmd', INT], ['argp', P], ['resp', P]],
  uselib: [['library', P]],
  lookup_dcookie: [['cookie64', 8], ['buf', P], ['len', P]],
  arch_prctl: [['option', INT], ['arg2', P]],
  modify_ldt: [['func', INT], ['ptr', P], ['bytecount', P]],
  ioperm: [['from', P], ['num', P], ['turn_on', INT]],
  iopl: [['level', INT]],
  delete_module: [['name_user', P], ['flags', INT]],
  init_module: [['umod', P], ['len', P], ['uargs', P]],
  finit_module: [['fd', INT], ['uargs', P], ['flags', INT]],
  kexec_load: [['entry', P], ['nr_segments', P], ['segments', P], ['flags', P]],
  kexec_file_load: [['kernel_fd', INT], ['initrd_fd', INT], ['cmdline_len', P], ['cmdline_ptr', P], ['flags', P]],
  get_thread_area: [['u_info', P]],
  set_thread_area: [['u_info', P]],
  map_shadow_stack: [['addr', P], ['size', P], ['flags', INT]],
};

// --- BTF (Documentation/bpf/btf.rst): header, then type records, then strings.
const btf = readFileSync(opt.btf);
if (btf.readUInt16LE(0) !== 0xeb9f) throw new Error(`${opt.btf}: not BTF`);
const hdrLen = btf.readUInt32LE(4);
const typeStart = hdrLen + btf.readUInt32LE(8), typeEnd = typeStart + btf.readUInt32LE(12);
const strStart = hdrLen + btf.readUInt32LE(16);
const str = (off) => btf.toString('latin1', strStart + off, btf.indexOf(0, strStart + off));
const BTF_KIND = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19 };
const TRAILER = { 1: () => 4, 3: () => 12, 4: (n) => n * 12, 5: (n) => n * 12, 6: (n) => n * 8, 13: (n) => n * 8, 14: () => 4, 15: (n) => n * 12, 17: () => 4, 19: (n) => n * 12 };
const types = [{ kind: 0, name: 'void', sizeOrType: 0, vlen: 0, at: 0 }];
for (let p = typeStart; p < typeEnd; ) {
  const info = btf.readUInt32LE(p + 4);
  const kind = (info >>> 24) & 0x1f, vlen = info & 0xffff;
  types.push({ kind, vlen, name: str(btf.readUInt32LE(p)), sizeOrType: btf.readUInt32LE(p + 8), at: p + 12 });
  p += 12 + (TRAILER[kind]?.(vlen) ?? 0);
}
const funcs = new Map();
const named = new Map();
for (const t of types) {
  if (t.kind === BTF_KIND.FUNC) funcs.set(t.name, t);
  else if (t.name && !named.has(t.name)) named.set(t.name, t);
}
function sizeOf(t) {
  for (;;) {
    switch (t.kind) {
      case BTF_KIND.PTR: return 8;
      case BTF_KIND.INT: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.STRUCT: case BTF_KIND.UNION: return t.sizeOrType;
      case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT: case BTF_KIND.TYPE_TAG:
        t = types[t.sizeOrType]; break;
      default: throw new Error(`no size for BTF kind ${t.kind} (${t.name})`);
    }
  }
}
function btfArgs(fn) {
  const proto = types[fn.sizeOrType];
  const args = [];
  for (let i = 0; i < proto.vlen; i++) {
    const name = str(btf.readUInt32LE(proto.at + i * 8));
    const type = types[btf.readUInt32LE(proto.at + i * 8 + 4)];
    if (type.kind === 0) break; // `void` marks varargs
    args.push([name, sizeOf(type)]);
  }
  return args;
}

// --- C type text from tracefs → size: pointers 8, base types by keyword, typedefs via BTF.
const BASE = { char: 1, short: 2, int: 4, long: 8, unsigned: 4, signed: 4, _Bool: 1 };
function sizeOfC(text) {
  if (text.includes('*')) return 8;
  const words = text.split(/\s+/).filter((w) => w && !['const', 'volatile', '__user'].includes(w));
  if (words.every((w) => w in BASE)) {
    if (words.includes('long')) return 8;
    for (const w of ['char', 'short']) if (words.includes(w)) return BASE[w];
    return 4;
  }
  const name = words.join(' ');
  const t = named.get(name.replace(/^(struct|union|enum) /, ''));
  if (!t) throw new Error(`unknown C type '${text}'`);
  return sizeOf(t);
}
function tracefsArgs(name) {
  const file = join(opt.tracefs, 'events/syscalls', `sys_enter_${name}`, 'format');
  if (!existsSync(file)) return undefined;
  const args = [];
  for (const m of readFileSync(file, 'utf8').matchAll(/field:([^;]*?)\s*(\w+);\s*offset:(\d+);/g)) {
    if (Number(m[3]) < 16) continue; // common_* fields and __syscall_nr
    args.push([m[2], sizeOfC(m[1])]);
  }
  return args;
}

// --- Numbers.
const numbers = new Map();
for (const m of readFileSync(opt.unistd, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)/gm)) numbers.set(m[1], Number(m[2]));
for (const [name, nr] of Object.entries(LATE_NUMBERS)) {
  if (!numbers.has(name) && funcs.has(`__x64_sys_${name}`)) numbers.set(name, nr);
}

const entries = [];
const aliases = {};
const sources = { tracefs: 0, btf: 0, hand: 0, none: 0 };
for (const [uapiName, nr] of numbers) {
  const name = KERNEL_NAME[uapiName] ?? uapiName;
  if (name !== uapiName) aliases[uapiName] = name;
  let args = tracefsArgs(name);
  if (args) sources.tracefs++;
  else if (funcs.has(`__do_sys_${name}`)) { args = btfArgs(funcs.get(`__do_sys_${name}`)); sources.btf++; }
  else if (HAND_ARGS[name]) { args = HAND_ARGS[name]; sources.hand++; }
  else { args = []; sources.none++; }
  const renamed = ARG_ALIASES[name] ?? {};
  entries.push([name, nr, args.map(([a, size]) => [a, size, ...(renamed[a] ?? [])])]);
}
entries.sort((a, b) => a[1] - b[1]);
const seen = new Set();
for (const [name] of entries) {
  if (seen.has(name)) throw new Error(`duplicate syscall name ${name}`);
  seen.add(name);
}

const lines = entries.map(([name, nr, args]) =>
  `    [${JSON.stringify(name)}, ${nr}, [${args.map((a) => JSON.stringify(a).replace(/,/g, ', ')).join(', ')}]],`);
const out = `// Generated by src/seccomp/syscalls/generate.mjs from Linux ${release()} (BTF, tracefs syscall
// metadata, <asm/unistd_64.h>). Regenerate instead of editing.
import type { SyscallTable } from './types.js';

export const x86_64: SyscallTable = {
  arch: 'x86_64',
  auditArch: 0xc000003e, // AUDIT_ARCH_X86_64
  // [SYSCALL_DEFINE name, number, [argument name, byte size, older Kafel spellings...]...]
  syscalls: [
${lines.join('\n')}
  ],
  // uapi (__NR_, glibc, libseccomp) spellings of the calls Kafel names after SYSCALL_DEFINE.
  aliases: ${JSON.stringify(aliases).replace(/"(\w+)":/g, '$1: ').replace(/,/g, ', ').replace(/"/g, "'")},
};
`;
writeFileSync(opt.out, out);
console.log(`${opt.out}: ${entries.length} syscalls (args from tracefs ${sources.tracefs}, BTF ${sources.btf}, hand ${sources.hand}, none ${sources.none})`);
