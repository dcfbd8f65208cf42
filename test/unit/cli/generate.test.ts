/** The man page and completions are rendered from the flag table: every option is in each, and each is valid for its reader. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderBash, renderFish, renderZsh, shortHelp, valueKind } from '../../../src/cli/completions.js';
import { FLAGS } from '../../../src/cli/flags.js';
import { generate } from '../../../src/cli/generate.js';
import { renderManPage, roffText } from '../../../src/cli/manpage.js';
import { UsageError } from '../../../src/cli/parse.js';

const dir = mkdtempSync(join(tmpdir(), 'tsjail-generate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A program on PATH, or why a test that needs it is skipped (printed). */
function missing(program: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
  if (!found) console.warn(`SKIP (${program}): ${program} is not installed`);
  return found ? undefined : `${program} is not installed`;
}

const page = renderManPage('9.9.9');
const current = FLAGS.filter((f) => !f.legacy);

describe('tsjail.1', () => {
  it('has every option, legacy ones included, with its short letter and value name', () => {
    for (const f of FLAGS) {
      expect(page, f.long).toContain(`\\fB${roffText(`--${f.long}`)}\\fR`);
      if (f.short) expect(page, f.long).toContain(`\\fB\\-${f.short}\\fR, \\fB${roffText(`--${f.long}`)}\\fR`);
      if (f.arg) expect(page, f.long).toContain(`\\fB${roffText(`--${f.long}`)}\\fR \\fI${roffText(f.arg)}\\fR`);
    }
    expect(page).toContain('.TH TSJAIL 1 "" "tsjail 9.9.9" "User Commands"');
  });

  it('escapes for roff: minus signs, quotes, non-ASCII, and leading dots', () => {
    expect(roffText("--a 'b' `c` x\\y")).toBe("\\-\\-a \\(aqb\\(aq \\(gac\\(ga x\\ey");
    expect(roffText('.x\n.y …')).toBe('\\&.x\n\\&.y \\[u2026]');
    expect(page).not.toMatch(/[^\x00-\x7f]/);
    expect(page.split('\n').filter((l) => /^[.']/.test(l) && !/^\.(\\"|TH|SH|SS|TP|PP|RS|RE|EX|EE|br|nh|ad) ?/.test(l))).toEqual([]);
  });

  it.skipIf(!!missing('groff'))('is valid roff: groff -man -ww reports nothing', () => {
    const file = join(dir, 'tsjail.1');
    writeFileSync(file, page);
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.skipIf(!!missing('man'))('reads with man -l, options printed with ASCII hyphens', () => {
    const file = join(dir, 'tsjail.1');
    writeFileSync(file, page);
    const r = spawnSync('man', ['-P', 'cat', '-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', LANG: 'C.UTF-8' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const f of current) expect(r.stdout, f.long).toContain(`--${f.long}`);
  });
});

describe('completions', () => {
  it('offer every current option in bash, zsh and fish', () => {
    const bash = renderBash();
    const zsh = renderZsh();
    const fish = renderFish();
    for (const f of current) {
      expect(bash, f.long).toMatch(new RegExp(`[ "|]--${f.long}[ |"]`));
      expect(zsh, f.long).toMatch(new RegExp(`--${f.long}[=[}]`));
      expect(fish, f.long).toContain(` -l ${f.long} `);
      if (f.short) expect(fish, f.long).toContain(` -s ${f.short} -l ${f.long} `);
    }
  });

  it('know what a value is: directories, files, fixed words, or free text', () => {
    const kind = (long: string) => valueKind(FLAGS.find((f) => f.long === long)!);
    expect([kind('chroot'), kind('config'), kind('mode'), kind('time_limit'), kind('rw')]).toEqual(['dir', 'file', 'words', 'none', 'none']);
    expect(renderBash()).toContain('--mode|-M) _tsjail_words "o e r l"');
    expect(shortHelp(FLAGS.find((f) => f.long === 'cwd')!)).toBe('Working directory of the program, as the jail sees it');
    for (const f of current) expect(shortHelp(f).length, f.long).toBeLessThanOrEqual(72);
  });

  it('bash: the script loads, and completes option names, values and comma lists', () => {
    const file = join(dir, 'tsjail.bash');
    writeFileSync(file, renderBash());
    const complete = (words: string[]) => {
      const script = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _tsjail; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['--norc', '-c', script], { encoding: 'utf8', cwd: dir });
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(complete(['tsjail', '--chro'])).toEqual(['--chroot']);
    expect(complete(['tsjail', '--log_format', ''])).toEqual(['text', 'json']);
    expect(complete(['tsjail', '--seccomp_preset', 'default,deny_e'])).toEqual(['default,deny_emu']);
    expect(complete(['tsjail', '--help', 'land'])).toEqual(['landlock']);
    expect(complete(['tsjail', '-t', ''])).toEqual([]);
    expect(complete(['tsjail', 'doc'])).toContain('doctor');
    expect(complete(['tsjail', '--', '--chro'])).toEqual([]);
  });

  it.skipIf(!!missing('zsh'))('zsh: the script parses', () => {
    const file = join(dir, '_tsjail');
    writeFileSync(file, renderZsh());
    const r = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(!!missing('fish'))('fish: the script parses', () => {
    const file = join(dir, 'tsjail.fish');
    writeFileSync(file, renderFish());
    const r = spawnSync('fish', ['--no-execute', file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('tsjail generate', () => {
  it('renders what it is asked for and refuses the rest', () => {
    expect(generate(['bash'])).toBe(renderBash());
    expect(generate(['man'])).toMatch(/^\.\\" Generated/);
    expect(() => generate([])).toThrow(UsageError);
    expect(() => generate(['man', 'extra'])).toThrow("generate: expected one of man, bash, zsh, fish (got 'man' 'extra')");
  });
});
