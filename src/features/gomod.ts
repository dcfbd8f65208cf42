/**
 * Go module confinement, gomodjail's idea on tsjail's notification
 * supervisor: the modules a go.mod's comments (and --go_module_policy) mark
 * confined may not make a call outside a base allow-list
 * (src/gomod/syscalls.ts) — such a call fails with EPERM, and is logged, when
 * one of their functions is on the calling goroutine's stack.
 *
 * Prepared once, before any clone: go.mod is read, then the program tsjail
 * will exec (its path mapped through the jail's mounts to the host), whose
 * build information names its main module and dependencies and whose
 * function table (pclntab) the worker walks stacks with. A program whose
 * main module is not go.mod's is not confined (one warning). The calls are
 * notified through the seccomp feature's filter, after the user's policy has
 * had its say (src/seccomp/notify.ts): the stricter answer wins.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readBuildInfo } from '../gomod/buildinfo.js';
import { ET_DYN, parseElf } from '../gomod/elf.js';
import { GoInputError } from '../gomod/errors.js';
import { confinedModules, parseGoMod, parsePolicyOverride } from '../gomod/gomod-file.js';
import { locateGoFunc, locatePclntab } from '../gomod/pclntab.js';
import { goNotifyRules } from '../gomod/syscalls.js';
import { formatNodeError } from '../linux/errno.js';
import { log } from '../log/logger.js';
import type { Prepared } from '../prepare.js';
import { TABLES } from '../seccomp/syscalls/index.js';
import type { FeatureContext, FeatureRun } from './types.js';

const EM_X86_64 = 62;

/** The largest program read (a Go binary of a few hundred MiB is already unusual). */
const MAX_BINARY = 1 << 30;

/**
 * The host path of the program the jail execs: --execute_fd opens it on the
 * host; otherwise its path in the jail (relative to the jail's cwd) is
 * mapped through the last mount that covers it. Only binds and overlays show
 * host files; anything else (a tmpfs, a file from --file) is refused.
 */
export function hostPathOfProgram(p: Pick<Prepared, 'exec' | 'mounts' | 'cfg'>): string {
  const path = p.exec.path;
  if (p.exec.execFd || !p.cfg.clone_newns) return path;
  const inJail = path.startsWith('/') ? path : join(p.cfg.cwd || '/', path);
  const covers = (dst: string) => dst === '/' || inJail === dst || inJail.startsWith(`${dst}/`);
  for (let i = p.mounts.length - 1; i >= 0; i--) {
    const m = p.mounts[i]!;
    if (!covers(m.dst)) continue;
    const rest = m.dst === '/' ? inJail : inJail.slice(m.dst.length);
    if (m.kind === 'bind' || m.kind === 'overlay') return m.src === '/' ? rest || '/' : `${m.src}${rest}`;
    if (m.kind === 'overlay_ro' && m.lowers) {
      const found = m.lowers.find((l) => existsSync(`${l}${rest}`));
      if (found !== undefined) return `${found}${rest}`;
    }
    const what = m.kind === 'fs' ? `a ${m.fstype || 'filesystem'} mount` : m.kind === 'content' ? 'a file tsjail writes (--file, src_content)' : `a ${m.kind} mount`;
    throw new GoInputError(`go_mod: the program ${inJail} is on ${what} at ${m.dst} in the jail, which tsjail cannot read before the jail exists: bind it from the host, or use --execute_fd`);
  }
  throw new GoInputError(`go_mod: no mount of the jail shows the program ${inJail}`);
}

/** The file's bytes, in an ArrayBuffer of their own (they are handed to the worker), and its dev:ino. */
function readBounded(path: string, what: string): { buf: Buffer; devIno: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new GoInputError(`go_mod: ${what} ${path}: ${formatNodeError(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new GoInputError(`go_mod: ${what} ${path} is not a regular file`);
    if (st.size > MAX_BINARY) throw new GoInputError(`go_mod: ${what} ${path} is larger than ${MAX_BINARY >> 20} MiB`);
    const buf = Buffer.from(new ArrayBuffer(st.size));
    for (let at = 0; at < st.size; ) {
      const n = readSync(fd, buf, at, st.size - at, at);
      if (n === 0) throw new GoInputError(`go_mod: ${what} ${path} shrank while being read`);
      at += n;
    }
    return { buf, devIno: `${st.dev}:${st.ino}` };
  } finally {
    closeSync(fd);
  }
}

/** runtime/cgo's functions are in the table (names are NUL-separated there). */
function linksCgo(table: Uint8Array): boolean {
  const b = Buffer.from(table.buffer, table.byteOffset, table.byteLength);
  return b.includes('\0runtime/cgo.', 0, 'latin1') || b.includes('\0_cgo_', 0, 'latin1');
}

export function prepareGoModules(p: Prepared, ctx: FeatureContext): FeatureRun {
  const e = p.cfg.ext;
  const file = e.go_mod!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GoInputError(`go_mod: cannot read ${file}: ${formatNodeError(err)}`);
  }
  const gomod = parseGoMod(text, file);
  for (const w of gomod.warnings) log.warn(w);
  const overrides = e.go_module_policy.map((v) => {
    const r = parsePolicyOverride(v);
    if (typeof r === 'string') throw new GoInputError(`go_module_policy ${r}`);
    return r;
  });
  const confined = confinedModules(gomod, overrides);

  const exe = hostPathOfProgram(p);
  const { buf, devIno } = readBounded(exe, 'the program');
  const elf = parseElf(buf, exe);
  if (elf.machine !== EM_X86_64) throw new GoInputError(`${exe}: built for ELF machine ${elf.machine}, not x86-64 (62): Go module confinement walks x86-64 stacks only`);
  const info = readBuildInfo(buf, elf, exe);
  const table = locatePclntab(buf, elf, exe);
  const main = info.main?.path;
  if (main !== gomod.module) {
    log.warn(`go_mod: ${exe} is built from main module ${main ?? '(none: built outside module mode)'}, not ${gomod.module} (${file}): none of its modules is confined`);
    return {};
  }
  if (confined.size === 0) {
    log.warn(`go_mod: ${file} and --go_module_policy confine no module of ${gomod.module}: nothing to confine`);
    return {};
  }
  const modules = [main, ...info.deps.map((d) => d.path)];
  const absent = [...confined].filter((m) => !modules.includes(m));
  if (absent.length) log.info(`go_mod: ${absent.join(', ')} ${absent.length > 1 ? 'are' : 'is'} confined but not linked into ${exe}`);
  const gofunc = locateGoFunc(buf, elf, table);
  if (gofunc === undefined) log.warn(`go_mod: ${exe}: its inline trees were not found (no moduledata), so a confined function the compiler inlined into an unconfined caller goes unseen`);
  log.info(`Go module confinement of ${exe} (${info.goVersion}, ${elf.type === ET_DYN ? 'PIE' : 'non-PIE'}, ${table.nfunc} functions): confined ${[...confined].sort().join(', ')}`);
  ctx.notify!.go = {
    rules: goNotifyRules(TABLES.x86_64!),
    init: {
      exe,
      devIno,
      binary: buf,
      pie: elf.type === ET_DYN,
      entry: elf.entry,
      cgo: linksCgo(table.bytes),
      table: table.bytes,
      gofunc,
      modules,
      confined: [...confined],
      unwindFail: e.go_unwind_fail === 'allow' ? 'allow' : 'deny',
    },
  };
  return {};
}
