/**
 * The cgroup filesystem as a small interface, so the limit-writing logic runs
 * unchanged against a scratch directory in tests. Every failure names the
 * call, the path and the errno: `write('/sys/fs/cgroup/x/pids.max', '10'): EINVAL (Invalid argument)`.
 */
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync, realpathSync, rmdirSync, mkdirSync, statfsSync, writeSync } from 'node:fs';
import { errnoValue, formatErrno } from '../linux/errno.js';

export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const CGROUP_SUPER_MAGIC = 0x27e0eb;

export class CgroupError extends Error {
  constructor(
    message: string,
    /** The errno name of the failed call, when there was one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface CgroupFs {
  read(path: string): string;
  /** One write(2) of the whole value, without O_CREAT: a missing interface file is an error, as in the kernel. */
  write(path: string, value: string): void;
  /** mkdir(path, 0700); false when it existed already. */
  mkdir(path: string): boolean;
  rmdir(path: string): void;
  /** Names of the child cgroups (directories) of dir. */
  children(dir: string): string[];
  exists(path: string): boolean;
  writable(dir: string): boolean;
}

function fail(call: string, e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  const n = err.code ? errnoValue(err.code) : undefined;
  throw new CgroupError(`${call}: ${n !== undefined ? formatErrno(n) : err.message}`, err.code);
}

export const kernelFs: CgroupFs = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      return fail(`read('${path}')`, e);
    }
  },
  write(path, value) {
    let fd: number | undefined;
    try {
      fd = openSync(path, constants.O_WRONLY) // libuv adds O_CLOEXEC;
      writeSync(fd, value);
    } catch (e) {
      fail(`write('${path}', '${value}')`, e);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  },
  mkdir(path) {
    try {
      mkdirSync(path, 0o700);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      return fail(`mkdir('${path}', 0700)`, e);
    }
  },
  rmdir(path) {
    try {
      rmdirSync(path);
    } catch (e) {
      fail(`rmdir('${path}')`, e);
    }
  },
  children(dir) {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (e) {
      return fail(`opendir('${dir}')`, e);
    }
  },
  exists(path) {
    try {
      accessSync(path);
      return true;
    } catch {
      return false;
    }
  },
  writable(dir) {
    try {
      accessSync(dir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/** statfs(2) f_type of path, or undefined when it cannot be read. */
export function fsType(path: string): number | undefined {
  try {
    return Number(statfsSync(path).type);
  } catch {
    return undefined;
  }
}

/** The mount a path lies on: its mount point, filesystem type and superblock options (a v1 hierarchy's controllers). */
export interface MountOf {
  readonly point: string;
  readonly fstype: string;
  readonly superOptions: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescapeMountinfo = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The mount `path` (resolved) lies on, from a mountinfo text: the deepest mount point above it, the last one listed (the top of a stack). */
export function mountOfIn(mountinfo: string, path: string): MountOf | undefined {
  let best: MountOf | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6 || f.length < dash + 4) continue;
    const point = unescapeMountinfo(f[4]!);
    const under = point === '/' || path === point || path.startsWith(point + '/');
    if (under && (!best || point.length >= best.point.length)) best = { point, fstype: f[dash + 1]!, superOptions: f[dash + 3]!.split(',') };
  }
  return best;
}

/** Everything the cgroup code asks of the host, injectable for scratch-directory tests. */
export interface CgroupHost {
  readonly fs: CgroupFs;
  /** tsjail's own pid (NSJAIL_SELF.<pid>). */
  readonly pid: number;
  isCgroup2(path: string): boolean;
  /** The mount an existing path lies on (/proc/self/mountinfo), undefined when it cannot be told. */
  mountOf(path: string): MountOf | undefined;
  /** /proc/self/cgroup as read now. */
  selfCgroupFile(): string;
  alive(pid: number): boolean;
  kill(pid: number): void;
  sleep(ms: number): void;
}

/** Made on first use: module-level state must not depend on the process (the single binary's heap is a build-time snapshot). */
let sleeper: Int32Array | undefined;

export const kernelHost: CgroupHost = {
  fs: kernelFs,
  get pid() {
    return process.pid;
  },
  isCgroup2: (path) => fsType(path) === CGROUP2_SUPER_MAGIC,
  mountOf(path) {
    try {
      return mountOfIn(readFileSync('/proc/self/mountinfo', 'utf8'), realpathSync(path));
    } catch {
      return undefined;
    }
  },
  selfCgroupFile: () => readFileSync('/proc/self/cgroup', 'utf8'),
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      // EPERM: it exists but is not ours to signal.
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  kill(pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  },
  // Clean-up runs inside synchronous hooks: a short blocking wait, bounded by the callers.
  sleep: (ms) => void Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms),
};

/** Pids listed in a cgroup.procs or tasks file. */
export function parsePids(text: string): number[] {
  return text.split('\n').filter(Boolean).map(Number);
}

/** One `key value` per line (memory.events, cpu.stat, memory.oom_control). */
export function parseKeyed(text: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = BigInt(v);
  }
  return out;
}
