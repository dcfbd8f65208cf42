/**
 * isatty(3) without loading node:tty (and the stream modules behind it, a few
 * milliseconds of every start-up) for descriptors that cannot be terminals:
 * only a character device is asked.
 */
import { fstatSync } from 'node:fs';
import { nodeTty } from '../lazy.js';

export function isTty(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return nodeTty().isatty(fd);
}
