/**
 * Any ChildOp as a readable call, for logs and errors:
 * `mount('/usr' -> '/newroot/usr', MS_BIND|MS_REC)`, `execve('/bin/sh')`.
 */
import { flagsToStr, MS_FLAGS, valueToStr } from '../linux/consts.js';
import { formatErrno } from '../linux/errno.js';
import type { Arg, ChildOp } from './ops.js';

/** C++ std::quoted(s, '\'') as nsjail prints paths. */
export function q(s: string): string {
  // Control characters as \xNN, so a described call stays on its line.
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

function argText(a: Arg): string {
  switch (a.t) {
    case 'int':
      if (a.bits) return flagsToStr(a.v, a.bits);
      if (a.names) return valueToStr(a.v, a.names);
      return String(BigInt.asIntN(64, a.v));
    case 'str':
      return q(a.v);
    case 'null':
      return 'NULL';
    case 'bytes':
      return a.label;
    case 'buf':
      return `buf[${a.size}]`;
    case 'strv':
      return `[${a.v.map(q).join(', ')}]`;
    case 'slot':
    case 'load':
      return a.label;
  }
}

export function describeOp(op: ChildOp): string {
  if (op.text) return typeof op.text === 'function' ? op.text() : op.text;
  const a = op.args;
  switch (op.kind) {
    case 'mount': {
      // mount(src -> dst, flags[, type][, data]) as nsjail and the issue tracker print it
      const src = a[0]!.t === 'str' ? q((a[0] as { v: string }).v) : 'none';
      const parts = [`${src} -> ${argText(a[1]!)}`];
      const type = a[2]!;
      if (type.t === 'str' && type.v) parts.push(`type:${q(type.v)}`);
      parts.push(flagsToStr((a[3] as { v: bigint }).v, MS_FLAGS));
      if (a[4]!.t === 'str' && (a[4] as { v: string }).v) parts.push(`data:${argText(a[4]!)}`);
      return `mount(${parts.join(', ')})`;
    }
    case 'execve':
      return `execve(${argText(a[0]!)})`;
    case 'execveat':
      return `execveat(${argText(a[0]!)}, AT_EMPTY_PATH)`;
    default:
      return `${op.kind}(${a.map(argText).join(', ')})`;
  }
}

/** `execve('/x') failed: ENOENT (No such file or directory)` plus a hint when one helps. */
export function describeFailure(op: ChildOp, errno: number): string {
  const name = formatErrno(errno);
  const verb = op.kind === 'execve' || op.kind === 'execveat' ? ' failed:' : ':';
  let msg = `${describeOp(op)}${verb} ${name}`;
  const hint = op.hints?.[name.split(' ')[0]!];
  if (hint) msg += ` (hint: ${hint})`;
  return msg;
}
