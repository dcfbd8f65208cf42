/**
 * isatty(3) through libc: node:tty would load node:net and the stream modules
 * behind it (~5 ms of a start-up) to answer the same question. Only a
 * character device is asked.
 */
import { fstatSync } from 'node:fs';
import { isatty } from './libc.js';

export function isTty(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice() && isatty(fd);
  } catch {
    return false;
  }
}
