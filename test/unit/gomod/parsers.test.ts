import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModInfo, readBuildInfo } from '../../../src/gomod/buildinfo.js';
import { parseElf, ET_DYN, ET_EXEC } from '../../../src/gomod/elf.js';
import { GoInputError } from '../../../src/gomod/errors.js';
import { confinedModules, parseGoMod, parsePolicyOverride } from '../../../src/gomod/gomod-file.js';
import { ModuleIndex, packageOf } from '../../../src/gomod/modules.js';
import { GoTable, locateGoFunc, locatePclntab } from '../../../src/gomod/pclntab.js';
import { goNotifyRules, unknownAllowed } from '../../../src/gomod/syscalls.js';
import { unwind } from '../../../src/gomod/unwind.js';
import { syscallByName, TABLES } from '../../../src/seccomp/syscalls/index.js';
import { buildGoPrograms, missingGo, type GoPrograms } from '../../integration/helpers/goprog.js';

describe('go.mod policy comments', () => {
  // gomodjail's docs/syntax.md example, restated.
  const example = `// gomodjail:confined
module example.com/main

go 1.23

require (
	example.com/mod100 v1.2.3
	example.com/mod101 v1.2.3 // gomodjail:unconfined
	example.com/mod102 v1.2.3
	// gomodjail:unconfined
	example.com/mod103 v1.2.3
)

require (
	// gomodjail:unconfined
	example.com/mod200 v1.2.3 // indirect
	example.com/mod201 v1.2.3 // indirect
)

//gomodjail:unconfined
require (
	example.com/mod300 v1.2.3
	example.com/mod301 v1.2.3 // indirect; gomodjail:confined
	example.com/mod302 v1.2.3
)
`;
  it('applies line, block and module-line comments, nearest first', () => {
    const g = parseGoMod(example, 'go.mod');
    expect(g.module).toBe('example.com/main');
    expect([...confinedModules(g, [])].sort()).toEqual(['example.com/mod100', 'example.com/mod102', 'example.com/mod201', 'example.com/mod301']);
  });

  it('takes a single-line require, a trailing module comment, quoted paths, and overrides on top', () => {
    const g = parseGoMod('module "example.com/m" // gomodjail:confined\n\nrequire a.com/x v1.0.0\n// gomodjail:unconfined\nrequire b.com/y v1.0.0\n', 'go.mod');
    expect(g.policies.get('a.com/x')).toBe('confined');
    expect(g.policies.get('b.com/y')).toBe('unconfined');
    expect([...confinedModules(g, [{ module: 'a.com/x', policy: 'unconfined' }, { module: 'c.com/z', policy: 'confined' }])]).toEqual(['c.com/z']);
  });

  it('leaves everything unconfined without comments, and warns about a module required twice', () => {
    const g = parseGoMod('module m\nrequire a.com/x v1\nrequire a.com/x v2 // gomodjail:confined\n', 'go.mod');
    expect(g.policies.get('a.com/x')).toBe('confined');
    expect(g.warnings[0]).toMatch(/go\.mod:3: a\.com\/x is required again \(first at line 2\)/);
    expect(confinedModules(parseGoMod('module m\nrequire a.com/x v1\n', 'g'), []).size).toBe(0);
  });

  it.each([
    ['module m\nrequire a v1 // gomodjail:confine\n', /^f:2: unknown gomodjail policy 'confine' \(confined or unconfined\)$/],
    ['module m\ngo 1.19 // gomodjail:confined\n', /^f:2: gomodjail:confined on a go line has no effect/],
    ['// gomodjail:confined\n\nmodule m\n', /^f:1: gomodjail:confined is followed by a blank line/],
    ['go 1.19\n', /^f: no module line/],
    ['module m\nrequire (\n  a v1\n', /^f:2: 'require \(' is never closed$/],
    ['module m\nrequire a\n', /^f:2: a require entry needs a module path and a version$/],
    ['module m\nfrobnicate x\n', /^f:2: unknown directive 'frobnicate'$/],
    ['module m\n/* x */\n', /^f:2: \/\* \*\/ comments/],
    ['module m\nreplace (\n// gomodjail:confined\n a => ../a\n)\n', /^f:3: gomodjail:confined is attached to a replace entry/],
  ])('refuses %j with one line naming the file and line', (text, msg) => {
    expect(() => parseGoMod(text, 'f')).toThrow(GoInputError);
    expect(() => parseGoMod(text, 'f')).toThrow(msg);
  });

  it('reads --go_module_policy values', () => {
    expect(parsePolicyOverride('example.com/a=confined')).toEqual({ module: 'example.com/a', policy: 'confined' });
    expect(parsePolicyOverride('x=maybe')).toMatch(/'x=maybe': the policy 'maybe' is not confined or unconfined/);
    expect(parsePolicyOverride('confined')).toMatch(/is not MODULE=confined/);
    expect(parsePolicyOverride('=confined')).toMatch(/is not MODULE=confined/);
  });
});

describe('function names and modules', () => {
  it.each([
    ['example.com/dep/sub.(*T).Method', 'example.com/dep/sub'],
    ['example.com/dep.F[...]', 'example.com/dep'],
    ['example.com/dep.G[go.shape.int_0].func1', 'example.com/dep'],
    ['example.com/lib%2ev2.Open', 'example.com/lib.v2'],
    ['gopkg.in/yaml%2ev3.Unmarshal', 'gopkg.in/yaml.v3'],
    ['main.main.func1', 'main'],
    ['os.(*File).Read', 'os'],
    ['go:buildid', undefined],
    ['type:.eq.T', undefined],
  ])('%s is in package %s', (name, pkg) => {
    expect(packageOf(name)).toBe(pkg);
  });

  it('maps a package to the longest module path that holds it', () => {
    const idx = new ModuleIndex(['example.com/a', 'example.com/a/b', 'go.uber.org/zap', 'example.com/app']);
    expect(idx.moduleOf('example.com/a/b/c')).toBe('example.com/a/b');
    expect(idx.moduleOf('example.com/a/x')).toBe('example.com/a');
    expect(idx.moduleOf('example.com/ab')).toBeUndefined();
    expect(idx.moduleOfFunc('go.uber.org/zap.New')).toBe('go.uber.org/zap');
    expect(idx.moduleOfFunc('type..eq.example.com/a.T')).toBeUndefined();
    expect(idx.moduleOfFunc('runtime.goexit')).toBeUndefined();
    expect(idx.moduleOfFunc('main.main')).toBeUndefined();
  });
});

describe('the calls left alone', () => {
  it('names only calls the x86_64 table knows, notifies open, exec, sockets, pidfd, and clone only for processes', () => {
    const t = TABLES.x86_64!;
    expect(unknownAllowed(t)).toEqual([]);
    const rules = goNotifyRules(t);
    const nrs = new Set(rules.map((r) => r.nr));
    for (const n of ['openat', 'open', 'execve', 'execveat', 'socket', 'connect', 'bind', 'pidfd_open', 'ptrace', 'mount', 'kill', 'clone3', 'newfstatat']) expect(nrs.has(syscallByName(t, n)!.nr), n).toBe(true);
    for (const n of ['read', 'write', 'futex', 'mmap', 'epoll_pwait', 'tgkill']) expect(nrs.has(syscallByName(t, n)!.nr), n).toBe(false);
    expect(rules.find((r) => r.nr === syscallByName(t, 'clone')!.nr)?.cond).toBeDefined();
  });
});

describe('ELF, build info and pclntab: bad input', () => {
  it('refuses a non-ELF file, a 32-bit one and headers outside the file, naming the file', () => {
    expect(() => parseElf(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(80)), '/x/script')).toThrow(/^\/x\/script: not an ELF file/);
    const h = Buffer.alloc(64);
    h.set([0x7f, 0x45, 0x4c, 0x46, 1, 1]);
    expect(() => parseElf(h, 'f')).toThrow(/^f: a 32-bit ELF file/);
    h[4] = 2;
    h.writeUInt16LE(ET_EXEC, 16);
    h.writeBigUInt64LE(1n << 40n, 32);
    expect(() => parseElf(h, 'f')).toThrow(/^f: program header offset 0x10000000000 is past the end of the file/);
  });

  it('says an ELF program without Go build information is not a Go program', () => {
    const buf = readFileSync('/bin/true');
    expect(() => readBuildInfo(buf, parseElf(buf, '/bin/true'), '/bin/true')).toThrow(/^\/bin\/true: not a Go program/);
    expect(() => locatePclntab(buf, parseElf(buf, '/bin/true'), '/bin/true')).toThrow(/^\/bin\/true: no Go function table/);
  });

  it('refuses a truncated or unknown table header', () => {
    expect(() => new GoTable(new Uint8Array(10), 'f')).toThrow(/^f: malformed Go function table \(pclntab\): only 10 bytes$/);
    const b = new Uint8Array(128);
    new DataView(b.buffer).setUint32(0, 0xfffffffa, true);
    expect(() => new GoTable(b, 'f')).toThrow(/^f: built by Go 1.16 or 1.17 \(pclntab magic 0xfffffffa\); tsjail reads Go 1.18 or later$/);
    new DataView(b.buffer).setUint32(0, 0x12345678, true);
    expect(() => new GoTable(b, 'f')).toThrow(/unknown magic 0x12345678/);
  });

  it('reads modinfo lines with their replacements', () => {
    const m = parseModInfo('path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tex.com/d\tv1.0.0\th1:x\n=>\t../d\t(devel)\t\nbuild\t-compiler=gc\n');
    expect(m).toEqual({ path: 'example.com/app', main: { path: 'example.com/app', version: '(devel)' }, deps: [{ path: 'ex.com/d', version: 'v1.0.0', replace: '../d' }] });
  });
});

describe.skipIf(!!missingGo())('Go binaries the test builds', () => {
  let g: GoPrograms;
  beforeAll(() => {
    g = buildGoPrograms();
  }, 240_000);
  afterAll(() => rmSync(g.dir, { recursive: true, force: true }));

  it.each([
    ['non-PIE', 'app', ET_EXEC],
    ['PIE', 'appPie', ET_DYN],
    ['stripped PIE (no .gopclntab section)', 'appStripped', ET_DYN],
  ] as const)('reads the build info and function table of a %s binary', (_, key, type) => {
    const file = g[key];
    const buf = readFileSync(file);
    const elf = parseElf(buf, file);
    expect(elf.type).toBe(type);
    const bi = readBuildInfo(buf, elf, file);
    expect(bi.goVersion).toMatch(/^go1\.\d+/);
    expect(bi.main?.path).toBe('example.com/app');
    expect(bi.deps).toEqual([expect.objectContaining({ path: 'example.com/poisoned', replace: '../poisoned' })]);
    const t = locatePclntab(buf, elf, file);
    const names = [...t.names()];
    for (const n of ['example.com/poisoned.PidfdOpen', 'example.com/app/local.Dial', 'runtime.goexit', 'main.main']) expect(names).toContain(n);
    // Every entry looks itself up, and the PC just past the text does not.
    for (let i = 0; i < t.nfunc; i += 97) expect(t.findIndex(t.funcAt(i).entry)).toBe(i);
    // The inline trees (through moduledata.gofunc): QuickOpen left no frame in main.main, its tree entry names it.
    const gofunc = locateGoFunc(buf, elf, t);
    expect(gofunc).toBeDefined();
    expect(t.inlineTreesCheck(buf, 0)).toBe(false);
    t.inline = { data: buf, gofunc: gofunc! };
    const main = t.funcAt(names.indexOf('main.main'));
    const end = main.index + 1 < t.nfunc ? t.funcAt(main.index + 1).entry : t.textStartN + t.textEnd;
    const inlined = new Set<string>();
    for (let pc = main.entry; pc < end; pc++) for (const n of t.inlinedAt(main, pc)) inlined.add(n);
    expect(inlined).toContain('example.com/poisoned.QuickOpen');
    expect(inlined).toContain('example.com/app/local.QuickOpen');
    expect(t.findIndex(t.textStartN + t.textEnd)).toBe(-1);
    expect(t.findIndex(t.textStartN - 1)).toBe(-1);
  });

  it('unwinds a synthetic stack through pcsp frame sizes, and fails where memory or code ends', () => {
    const buf = readFileSync(g.app);
    const t = locatePclntab(buf, parseElf(buf, g.app), g.app);
    const byName = (n: string) => t.funcAt([...t.names()].indexOf(n));
    const stub = byName('runtime/internal/syscall.Syscall6');
    const mid = byName('example.com/poisoned.PidfdOpen');
    const top = byName('runtime.goexit');
    const bias = 0x1000;
    // A return address inside PidfdOpen with a frame: its size from pcsp at ret-1.
    let ret = mid.entry + 20;
    while (!(t.pcvalue(mid.pcsp, mid.entry, ret - 1)! > 0)) ret++;
    const size = t.pcvalue(mid.pcsp, mid.entry, ret - 1)!;
    const sp0 = 0xc000100000;
    const mem = new Map<number, number>([[sp0, ret + bias], [sp0 + 8 + size, top.entry + 1 + bias]]);
    const stubPc = stub.entry + 8 + bias;
    const u = unwind(t, (a) => mem.get(a), sp0, stubPc, bias);
    expect(u.ok).toBe(true);
    expect(u.frames.map((f) => f.func.name)).toEqual(['runtime/internal/syscall.Syscall6', 'example.com/poisoned.PidfdOpen', 'runtime.goexit']);
    const lost = unwind(t, (a) => (a === sp0 ? mem.get(a) : undefined), sp0, stubPc, bias);
    expect(lost).toMatchObject({ ok: false, error: expect.stringMatching(/^the stack at 0x[0-9a-f]+ cannot be read \(example.com\/poisoned.PidfdOpen's return address\)$/) });
    expect(unwind(t, () => 0x10, sp0, 0x10, 0)).toMatchObject({ ok: false, error: expect.stringMatching(/outside Go's code/) });
  });

  it('names a binary of an older Go as too old', () => {
    const buf = Buffer.from(readFileSync(g.app));
    const elf = parseElf(buf, 'old');
    const s = elf.sections.find((x) => x.name === '.gopclntab')!;
    buf.writeUInt32LE(0xfffffffa, s.offset);
    expect(() => locatePclntab(buf, elf, 'old')).toThrow(/^old: built by Go 1.16 or 1.17/);
    const bi = elf.sections.find((x) => x.name === '.go.buildinfo')!;
    buf[bi.offset + 15] = 0;
    expect(() => readBuildInfo(buf, elf, 'old')).toThrow(/^old: built by a Go older than 1.18/);
  });
});
