/**
 * User-supplied text inside messages: every error and log line stays one
 * readable line whatever the value holds (a newline, a NUL, escape codes).
 */

/** Control characters escaped as \xNN, and long text shortened. */
export function printable(s: string, limit = 80): string {
  const escaped = s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > limit ? `${escaped.slice(0, limit)}…` : escaped;
}

/** A value as messages quote it: 'value', made printable. */
export function quoted(s: string, limit = 80): string {
  return `'${printable(s, limit)}'`;
}
