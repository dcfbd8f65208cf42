/**
 * Kafel lexer (kafel-spec.md §1): whitespace is space/tab/LF only, `//` and
 * non-nesting `/* *\/` comments with Kafel's odd-run-of-`*` quirk, numbers in
 * hex/decimal/octal-prefix/binary as unsigned 64-bit, and `#include`, which
 * always fails because nsjail registers no include path.
 */
import { SeccompCompileError } from './errors.js';

export interface Pos {
  readonly line: number;
  readonly col: number;
}

export type Keyword =
  | 'SYSCALL' | 'ALLOW' | 'LOG' | 'USER_NOTIF' | 'ERRNO' | 'KILL_PROCESS' | 'KILL_THREAD' | 'KILL'
  | 'DENY' | 'TRAP' | 'TRACE' | 'USE' | 'POLICY' | 'DEFAULT' | 'ON' | 'define';
export type Punct = '==' | '!=' | '<=' | '<' | '>=' | '>' | '||' | '&&' | '|' | '&' | '!' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | '#';

export type Token =
  | { kind: 'ident'; text: string; pos: Pos }
  | { kind: 'number'; text: string; value: bigint; pos: Pos }
  | { kind: Keyword | Punct; text: string; pos: Pos }
  | { kind: 'eof'; text: ''; pos: Pos };

const KEYWORDS: ReadonlySet<string> = new Set<Keyword>([
  'SYSCALL', 'ALLOW', 'LOG', 'USER_NOTIF', 'ERRNO', 'KILL_PROCESS', 'KILL_THREAD', 'KILL',
  'DENY', 'TRAP', 'TRACE', 'USE', 'POLICY', 'DEFAULT', 'ON', 'define',
]);
// Longest first, so `==` wins over `=`-less prefixes and `||` over `|`.
const PUNCT: readonly Punct[] = ['==', '!=', '<=', '>=', '||', '&&', '<', '>', '|', '&', '!', '(', ')', '[', ']', '{', '}', ',', '#'];

const U64_MAX = (1n << 64n) - 1n;
const isDigit = (c: string) => c >= '0' && c <= '9';
const isAlpha = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isIdent = (c: string) => isAlpha(c) || isDigit(c) || c === '_';
const isHex = (c: string) => isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  if (code >= 0x21 && code < 0x7f) return `'${c}'`;
  const named: Record<string, string> = { '\r': '\\r', '\f': '\\f', '\v': '\\v', '\0': '\\0' };
  return named[c] ? `'${named[c]}'` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (at: number): Pos => ({ line, col: at - lineStart + 1 });
  const fail = (msg: string, at: Pos): never => {
    throw new SeccompCompileError(`lexical error, ${msg}`, at);
  };
  const newline = (at: number) => {
    line++;
    lineStart = at + 1;
  };

  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '\n') {
      newline(i);
      i++;
      continue;
    }
    const start = pos(i);
    if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (src.startsWith('/*', i)) {
      i += 2;
      for (;;) {
        if (i >= src.length) fail('unterminated comment', start);
        const d = src[i]!;
        if (d === '*') {
          // Kafel's flex rule `"*"[^/]` eats a `*` together with the next byte, so
          // only an odd-length run of `*` before `/` closes the comment.
          if (src[i + 1] === '/') {
            i += 2;
            break;
          }
          if (i + 1 >= src.length) fail('unterminated comment', start);
          if (src[i + 1] === '\n') newline(i + 1);
          i += 2;
          continue;
        }
        if (d === '\n') newline(i);
        i++;
      }
      continue;
    }
    if (src.startsWith('#include', i)) {
      i = lexInclude(src, i + '#include'.length, start, fail);
      continue;
    }
    if (isDigit(c) || (c === '-' && src[i + 1] !== undefined && src[i + 1]! >= '1' && src[i + 1]! <= '9')) {
      const [text, value] = lexNumber(src, i);
      if (value < 0n || value > U64_MAX) {
        if (!text.startsWith('-') || -value > U64_MAX) fail(`number \`${text}' out of range`, start);
      }
      tokens.push({ kind: 'number', text, value: BigInt.asUintN(64, value), pos: start });
      i += text.length;
      continue;
    }
    if (isAlpha(c)) {
      let j = i + 1;
      while (j < src.length && isIdent(src[j]!)) j++;
      const text = src.slice(i, j);
      tokens.push(KEYWORDS.has(text) ? { kind: text as Keyword, text, pos: start } : { kind: 'ident', text, pos: start });
      i = j;
      continue;
    }
    const p = PUNCT.find((op) => src.startsWith(op, i));
    if (p) {
      tokens.push({ kind: p, text: p, pos: start });
      i += p.length;
      continue;
    }
    fail(`unexpected character ${describeChar(String.fromCodePoint(src.codePointAt(i)!))}`, start);
  }
  tokens.push({ kind: 'eof', text: '', pos: pos(i) });
  return tokens;
}

/** Returns the number's source text and its unwrapped value (negative for `-N`). */
function lexNumber(src: string, i: number): [string, bigint] {
  const digitsFrom = (j: number, ok: (c: string) => boolean) => {
    let k = j;
    while (k < src.length && ok(src[k]!)) k++;
    return k;
  };
  if (src[i] === '0') {
    if (src[i + 1] === 'x' && isHex(src[i + 2] ?? '')) {
      const end = digitsFrom(i + 2, isHex);
      return [src.slice(i, end), BigInt(src.slice(i, end))];
    }
    if (src[i + 1] === 'b' && (src[i + 2] === '0' || src[i + 2] === '1')) {
      const end = digitsFrom(i + 2, (c) => c === '0' || c === '1');
      return [src.slice(i, end), BigInt(`0b${src.slice(i + 2, end)}`)];
    }
    if (isDigit(src[i + 1] ?? '')) {
      // `0[0-9]+` is octal via strtoull: the value is the longest octal prefix,
      // so `08` is 0 and `0778` is 63.
      const end = digitsFrom(i + 1, isDigit);
      const octal = /^[0-7]*/.exec(src.slice(i + 1, end))![0];
      return [src.slice(i, end), octal ? BigInt(`0o${octal}`) : 0n];
    }
    return ['0', 0n];
  }
  const neg = src[i] === '-';
  const end = digitsFrom(neg ? i + 1 : i, isDigit);
  const text = src.slice(i, end);
  return [text, BigInt(text)];
}

/** `#include "a" "b";`: checked for syntax, then rejected (no include search path). */
function lexInclude(src: string, i: number, at: Pos, fail: (msg: string, at: Pos) => never): number {
  const names: string[] = [];
  for (;;) {
    let j = i;
    while (src[j] === ' ' || src[j] === '\t') j++;
    if (j >= src.length) fail('unterminated include statement', at);
    if (src[j] === ';' || src[j] === '\n') {
      if (names.length > 0) fail(`could not include file \`${names[0]}': #include is not supported (nsjail registers no include path)`, at);
      return src[j] === ';' ? j + 1 : j;
    }
    if (src[j] !== '"' || j === i) fail('malformed #include: expected whitespace then "filename"', at);
    const close = src.indexOf('"', j + 1);
    if (close < 0) fail('unterminated include statement', at);
    if (close === j + 1) fail('malformed #include: empty filename', at);
    names.push(src.slice(j + 1, close));
    i = close + 1;
  }
}
