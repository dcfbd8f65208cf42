/**
 * Node modules that only some runs use, loaded on first use: node:child_process
 * brings net and dgram with it and node:os its binding, a cost every start-up
 * would pay for pasta, newuidmap, nft or --daemon; node:net and the stream
 * modules behind it (~3 ms) for checking an address (--metrics_addr, the
 * network options) in runs that start no jail (`tsjail seccomp compile`);
 * node:stream only when something asks for process.stdout, stderr or stdin
 * (proc/stdio.ts); node:worker_threads (~5 ms) when the notification worker
 * starts. (node:tty is not used: linux/tty.ts asks libc.)
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const childProcess = (): typeof import('node:child_process') => require('node:child_process');
export const nodeOs = (): typeof import('node:os') => require('node:os');
export const nodeNet = (): typeof import('node:net') => require('node:net');
export const workerThreads = (): typeof import('node:worker_threads') => require('node:worker_threads');
export const nodeStream = (): typeof import('node:stream') => require('node:stream');
