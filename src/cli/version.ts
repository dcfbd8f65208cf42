/**
 * tsjail's version. A build may define __TSJAIL_VERSION__ (esbuild `define`,
 * e.g. for a single binary that carries no package.json); otherwise it is read
 * from the package.json two directories above this module, which is the
 * package's own in every layout: src/cli/ (tests), dist/cli/ (tsc) and
 * dist/bin/ (the bundle, where import.meta.url is the bundle's).
 */
import { readFileSync } from 'node:fs';
import { formatNodeError } from '../linux/errno.js';

declare const __TSJAIL_VERSION__: string | undefined;

export class VersionError extends Error {}

export function readVersion(): string {
  if (typeof __TSJAIL_VERSION__ === 'string') return __TSJAIL_VERSION__;
  const url = new URL('../../package.json', import.meta.url);
  let pkg: { name?: unknown; version?: unknown };
  try {
    pkg = JSON.parse(readFileSync(url, 'utf8')) as typeof pkg;
  } catch (e) {
    throw new VersionError(`--version: reading ${url.pathname} failed: ${e instanceof SyntaxError ? `not JSON (${e.message})` : formatNodeError(e)}`);
  }
  if (pkg.name !== 'tsjail' || typeof pkg.version !== 'string') throw new VersionError(`--version: ${url.pathname} is not tsjail's package.json`);
  return pkg.version;
}
