/**
 * Go's build information (`go version -m`): the toolchain version, the main
 * module and every module linked in. The Go linker writes a 32-byte header
 * starting with "\xff Go buildinf:" at a 16-byte boundary of the
 * .go.buildinfo section (or, without section headers, at the start of the
 * first writable, non-executable PT_LOAD segment); since Go 1.18 the two
 * strings follow it inline, each behind a uvarint length.
 */
import { type Elf, PF_W, PF_X, PT_LOAD, section } from './elf.js';
import { GoInputError } from './errors.js';
import { uvarint } from './varint.js';

export interface GoModule {
  readonly path: string;
  readonly version: string;
  /** A replace directive's target (a directory for a local replacement). */
  readonly replace?: string;
}

export interface BuildInfo {
  /** go1.19.8 */
  readonly goVersion: string;
  /** The main package's import path (`command-line-arguments` for a file list). */
  readonly path: string;
  /** The main module; absent when the binary was built outside module mode. */
  readonly main?: GoModule;
  readonly deps: readonly GoModule[];
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const SEARCH = 64 << 10;
const FLAG_INLINE = 2;

/** Where the blob can be: the section, or the first writable data segment. */
function region(elf: Elf): { offset: number; size: number } | undefined {
  const s = section(elf, '.go.buildinfo');
  if (s) return { offset: s.offset, size: s.size };
  const seg = elf.segments.find((g) => g.type === PT_LOAD && g.flags & PF_W && !(g.flags & PF_X));
  return seg ? { offset: seg.offset, size: seg.filesz } : undefined;
}

/**
 * modinfo: `path`, `mod` and `dep` lines (tab-separated path, version, sum),
 * each `=>` line replacing the line before it. It is framed by two 16-byte
 * sentinels, which are dropped.
 */
export function parseModInfo(text: string): Pick<BuildInfo, 'path' | 'main' | 'deps'> {
  if (text.length >= 33 && text.charAt(text.length - 17) === '\n') text = text.slice(16, -16);
  let path = '';
  let main: GoModule | undefined;
  const deps: GoModule[] = [];
  let last: { set(m: GoModule): void; get(): GoModule } | undefined;
  for (const line of text.split('\n')) {
    const [kind, p = '', version = ''] = line.split('\t');
    if (kind === 'path') path = p;
    else if (kind === 'mod') {
      main = { path: p, version };
      last = { set: (m) => (main = m), get: () => main! };
    } else if (kind === 'dep') {
      const i = deps.push({ path: p, version }) - 1;
      last = { set: (m) => (deps[i] = m), get: () => deps[i]! };
    } else if (kind === '=>' && last) last.set({ ...last.get(), replace: p });
  }
  return { path, main, deps };
}

/** The build info of a Go binary; a non-Go binary or one older than Go 1.18 is an error naming `file`. */
export function readBuildInfo(buf: Uint8Array, elf: Elf, file: string): BuildInfo {
  const r = region(elf);
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = -1;
  if (r) {
    const end = Math.min(r.offset + Math.min(r.size, SEARCH), bytes.length);
    for (let o = r.offset; o + 32 <= end; o = bytes.indexOf(MAGIC, o + 1)) {
      if (o < 0) break;
      if ((o - r.offset) % 16 === 0 && bytes.subarray(o, o + MAGIC.length).equals(MAGIC)) {
        at = o;
        break;
      }
    }
  }
  if (at < 0) throw new GoInputError(`${file}: not a Go program (no Go build information: no "\\xff Go buildinf:" header in .go.buildinfo or the first data segment)`);
  const flags = bytes[at + 15]!;
  if (!(flags & FLAG_INLINE)) throw new GoInputError(`${file}: built by a Go older than 1.18 (its build information is in the pre-1.18 pointer format); tsjail reads Go 1.18 or later`);
  const strings: string[] = [];
  let p = at + 32;
  for (let i = 0; i < 2; i++) {
    const v = uvarint(bytes, p);
    if (!v || v[1] + v[0] > bytes.length) throw new GoInputError(`${file}: malformed Go build information (a string length at offset 0x${p.toString(16)} runs past the end of the file)`);
    strings.push(bytes.toString('latin1', v[1], v[1] + v[0]));
    p = v[1] + v[0];
  }
  const [goVersion = '', modinfo = ''] = strings;
  if (!goVersion) throw new GoInputError(`${file}: not a Go program (its build information names no Go version)`);
  return { goVersion, ...parseModInfo(modinfo) };
}
