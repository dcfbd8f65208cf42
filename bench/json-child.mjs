/**
 * Shared by the network benchmarks: run a client program and take the JSON
 * object on its last line of output. Asynchronous, because the servers the
 * client talks to live in the calling process's event loop.
 */
import { spawn } from 'node:child_process';

export function runJson(cmd, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code, sig) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${cmd} exited with ${code ?? sig}: ${out}`))));
  });
}
