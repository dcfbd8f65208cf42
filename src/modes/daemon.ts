/**
 * --daemon: nsjail calls daemon(3); Node cannot fork, so tsjail starts a
 * detached copy of its own command line (a new session, stdio on /dev/null,
 * the same working directory) and the first process returns 0. The copy
 * knows itself by an environment marker that it removes before the jail's
 * environment is built.
 */
import { embedded } from '../embedded.js';
import type { Prepared } from '../prepare.js';
import { childProcess } from '../lazy.js';

const MARKER = 'TSJAIL_DAEMONIZED';

/** True in the detached copy. */
export function takeDaemonMarker(): boolean {
  const is = process.env[MARKER] === '1';
  delete process.env[MARKER];
  return is;
}

export function daemonize(p: Prepared): number {
  // Descriptors the jail or tsjail itself will use keep their numbers.
  const logFd = p.spec.cli.log_fd ?? p.cfg.log_fd;
  const keep = [...p.passFds, p.cfg.ext.status_fd, logFd].filter((fd): fd is number => fd !== undefined && fd > 2);
  const stdio: Array<'ignore' | number> = ['ignore', 'ignore', 'ignore'];
  for (const fd of keep) {
    while (stdio.length < fd) stdio.push('ignore');
    stdio[fd] = fd;
  }
  // The single binary is its own program: its argv[1] is argv[0] again, its arguments follow.
  const args = embedded ? process.argv.slice(2) : [...process.execArgv, ...process.argv.slice(1)];
  const child = childProcess().spawn(process.execPath, args, {
    detached: true,
    stdio,
    env: { ...process.env, [MARKER]: '1' },
  });
  child.unref();
  return 0;
}
