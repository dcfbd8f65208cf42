/** Every seccomp_string in the nsjail example configs compiles, and means what nsjail means. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSeccomp } from '../../../src/seccomp/index.js';
import { decode } from '../../../src/seccomp/bpf.js';
import { verify } from '../../../src/seccomp/interp.js';
import { decisions, model } from './helpers.js';

const ROOT = '/work/shared/compat/nsjail-configs';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : /\.(cfg|json)$/.test(d.name) ? [join(dir, d.name)] : []);
}

/** Protobuf text-format string escapes. */
function unescapeProto(s: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', "'": "'", '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v' };
  return s.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) =>
    e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : /^[0-7]/.test(e) ? String.fromCharCode(parseInt(e, 8)) : (simple[e] ?? e));
}

function seccompStrings(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  if (file.endsWith('.json')) {
    const found: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'seccompString' || k === 'seccomp_string') && Array.isArray(x)) found.push(...(x as string[]));
          else walk(x);
        }
      }
    };
    walk(JSON.parse(text));
    return found;
  }
  return [...text.matchAll(/^\s*seccomp_string\s*:\s*"((?:[^"\\]|\\.)*)"/gm)].map((m) => unescapeProto(m[1]!));
}

const configs = existsSync(ROOT) ? files(ROOT).map((f) => [f.slice(ROOT.length + 1), seccompStrings(f)] as const).filter(([, s]) => s.length) : [];

describe.skipIf(!configs.length)('nsjail example configs', () => {
  it('finds the configs that carry policies', () => {
    expect(configs.length).toBeGreaterThanOrEqual(10);
  });

  it.each(configs)('%s compiles to a loadable filter', (_name, policies) => {
    const f = compileSeccomp({ policies: [...policies], allow: [], deny: [], presets: [] })!;
    expect(f.length).toBe(f.program.length / 8);
    expect(verify(decode(f.program))).toEqual([]);
  });

  it('bash-with-fake-geteuid means the same in .cfg and .json', () => {
    const cfg = configs.find(([n]) => n.endsWith('bash-with-fake-geteuid.cfg'))![1];
    const json = configs.find(([n]) => n.endsWith('bash-with-fake-geteuid.json'))![1];
    const bytes = (p: readonly string[]) => compileSeccomp({ policies: [...p], allow: [], deny: [], presets: [] })!.program;
    expect(bytes(json)).toEqual(bytes(cfg));
    const d = decisions(model({ policies: [...cfg] }), [{ nr: 'geteuid' }, { nr: 'ptrace' }, { nr: 'sched_setaffinity' }, { nr: 'syslog' }, { nr: 'read' }, { nr: 0x40000065 }]);
    expect(d.map((x) => x.bpf)).toEqual(['ERRNO(1337)', 'ERRNO(1)', 'ERRNO(1)', 'KILL_PROCESS', 'ALLOW', 'KILL_PROCESS']);
    expect(d.map((x) => x.ref)).toEqual(d.map((x) => x.bpf));
  });

  it('multi-line policies split across entries work (hexchat: a block spans nine strings)', () => {
    const hexchat = configs.find(([n]) => n.endsWith('hexchat-with-net.cfg'))![1];
    expect(hexchat.length).toBeGreaterThan(5);
    const d = decisions(model({ policies: [...hexchat] }), [{ nr: 'process_vm_writev' }, { nr: 'sched_setaffinity' }, { nr: 'openat' }]);
    expect(d.map((x) => x.bpf)).toEqual(['KILL_PROCESS', 'ERRNO(1)', 'ALLOW']);
  });
});
