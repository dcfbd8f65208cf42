/**
 * A scratch cgroup tree in a tmp dir that keeps the kernel rules the cgroup
 * code depends on: interface files appear per the parent's subtree_control,
 * writes need an existing file, +controller needs it in cgroup.controllers
 * and no processes (outside the root), cgroup.procs moves a pid, cgroup.kill
 * empties, rmdir refuses a populated cgroup.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CgroupError, type CgroupFs, type CgroupHost } from '../../../src/cgroup/files.js';

const CONTROLLER_FILES: Record<string, Record<string, string>> = {
  memory: { 'memory.max': 'max\n', 'memory.swap.max': 'max\n', 'memory.peak': '0\n', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' },
  pids: { 'pids.max': 'max\n' },
  cpu: { 'cpu.max': 'max 100000\n' },
};

/** v1 hierarchies by mount name: the files each new cgroup gets. */
const V1_FILES: Record<string, Record<string, string>> = {
  memory: { 'memory.limit_in_bytes': '9223372036854771712\n', 'memory.memsw.limit_in_bytes': '9223372036854771712\n', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n', 'memory.max_usage_in_bytes': '0\n' },
  pids: { 'pids.max': 'max\n' },
  cpu: { 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n' },
  net_cls: { 'net_cls.classid': '0\n' },
};

const err = (call: string, code: string) => new CgroupError(`${call}: ${code}`, code);
const words = (s: string) => s.split(/\s+/).filter(Boolean);

export class FakeTree {
  readonly root: string;
  readonly writes: Array<[string, string]> = [];
  readonly killed: number[] = [];
  readonly unwritable = new Set<string>();
  readonly alivePids = new Set<number>();

  constructor(controllers: string[] = ['memory', 'pids', 'cpu']) {
    this.root = mkdtempSync(join(tmpdir(), 'tsjail-cgroup-'));
    this.files(this.root, { 'cgroup.controllers': controllers.join(' ') + '\n', 'cgroup.subtree_control': '\n', 'cgroup.procs': '', 'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n' });
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private files(dir: string, files: Record<string, string>): void {
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
  }

  private read(p: string): string {
    return readFileSync(p, 'utf8');
  }

  procs(dir: string): number[] {
    return words(this.read(join(dir, 'cgroup.procs'))).map(Number);
  }

  /** A child cgroup as the kernel would make it (test set-up, no checks). */
  /** A v1 hierarchy root at <root>/<name> (memory, pids, cpu, net_cls). */
  v1Mount(name: string): string {
    const dir = join(this.root, name);
    mkdirSync(dir);
    this.files(dir, { 'cgroup.procs': '', tasks: '' });
    this.v1Mounts.set(dir, name);
    return dir;
  }

  /** The v1 hierarchies made by v1Mount; anything else lies on a plain tmpfs. */
  private readonly v1Mounts = new Map<string, string>();

  cgroup(rel: string, procs: number[] = []): string {
    const dir = join(this.root, rel);
    this.fs.mkdir(dir);
    writeFileSync(join(dir, 'cgroup.procs'), procs.map((p) => `${p}\n`).join(''));
    procs.forEach((p) => this.alivePids.add(p));
    return dir;
  }

  enable(rel: string, ...controllers: string[]): void {
    writeFileSync(join(this.root, rel, 'cgroup.subtree_control'), controllers.join(' ') + '\n');
  }

  private cgroupDirs(dir = this.root): string[] {
    return [dir, ...readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => this.cgroupDirs(join(dir, d.name)))];
  }

  /** The hierarchy a cgroup belongs to: its v1 mount name, or 'v2'. */
  private hierarchy(dir: string): string {
    const top = dir.slice(this.root.length + 1).split('/')[0]!;
    return V1_FILES[top] ? top : 'v2';
  }

  private movePid(pid: number, to: string): void {
    for (const d of this.cgroupDirs().filter((d) => this.hierarchy(d) === this.hierarchy(to))) writeFileSync(join(d, 'cgroup.procs'), this.procs(d).filter((p) => p !== pid).map((p) => `${p}\n`).join(''));
    writeFileSync(join(to, 'cgroup.procs'), [...this.procs(to), pid].map((p) => `${p}\n`).join(''));
  }

  readonly fs: CgroupFs = {
    read: (p) => {
      if (!existsSync(p)) throw err(`read('${p}')`, 'ENOENT');
      return this.read(p);
    },
    write: (p, value) => {
      if (!existsSync(p)) throw err(`write('${p}', '${value}')`, 'ENOENT');
      this.writes.push([p.slice(this.root.length), value]);
      const dir = dirname(p);
      const file = p.slice(dir.length + 1);
      if (file === 'cgroup.subtree_control') {
        const c = value.slice(1);
        if (!words(this.read(join(dir, 'cgroup.controllers'))).includes(c)) throw err(`write('${p}', '${value}')`, 'ENOENT');
        if (dir !== this.root && this.procs(dir).length) throw err(`write('${p}', '${value}')`, 'EBUSY');
        writeFileSync(p, [...new Set([...words(this.read(p)), c])].join(' ') + '\n');
      } else if (file === 'cgroup.procs') {
        if (dir !== this.root && words(this.read(join(dir, 'cgroup.subtree_control'))).length) throw err(`write('${p}', '${value}')`, 'EBUSY');
        this.movePid(value === '0' ? this.host.pid : Number(value), dir);
      } else if (file === 'tasks') {
        this.movePid(Number(value), dir);
      } else if (file === 'cgroup.kill') {
        for (const pid of this.procs(dir)) this.host.kill(pid);
      } else writeFileSync(p, value);
    },
    mkdir: (p) => {
      if (existsSync(p)) return false;
      if (!existsSync(dirname(p))) throw err(`mkdir('${p}', 0700)`, 'ENOENT');
      mkdirSync(p);
      const v1 = V1_FILES[p.slice(this.root.length + 1).split('/')[0]!];
      if (v1) return this.files(p, { 'cgroup.procs': '', tasks: '', ...v1 }), true;
      const enabled = words(this.read(join(dirname(p), 'cgroup.subtree_control')));
      this.files(p, {
        'cgroup.procs': '',
        'cgroup.kill': '',
        'cgroup.controllers': enabled.join(' ') + '\n',
        'cgroup.subtree_control': '\n',
        'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
        ...Object.assign({}, ...enabled.map((c) => CONTROLLER_FILES[c] ?? {})),
      });
      return true;
    },
    rmdir: (p) => {
      if (!existsSync(p)) throw err(`rmdir('${p}')`, 'ENOENT');
      if (this.procs(p).length || readdirSync(p, { withFileTypes: true }).some((d) => d.isDirectory())) throw err(`rmdir('${p}')`, 'EBUSY');
      rmSync(p, { recursive: true });
    },
    children: (d) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name),
    exists: (p) => existsSync(p),
    writable: (d) => !this.unwritable.has(d),
  };

  selfCgroup = '0::/\n';

  readonly host: CgroupHost = {
    fs: this.fs,
    pid: 4242,
    isCgroup2: (p) => p === this.root,
    mountOf: (p) => {
      const hit = [...this.v1Mounts].find(([dir]) => p === dir || p.startsWith(dir + '/'));
      return hit ? { point: hit[0], fstype: 'cgroup', superOptions: ['rw', hit[1]] } : { point: this.root, fstype: 'tmpfs', superOptions: ['rw'] };
    },
    selfCgroupFile: () => this.selfCgroup,
    alive: (pid) => this.alivePids.has(pid),
    kill: (pid) => {
      this.killed.push(pid);
      this.alivePids.delete(pid);
      for (const d of this.cgroupDirs()) {
        const left = this.procs(d).filter((p) => p !== pid);
        writeFileSync(join(d, 'cgroup.procs'), left.map((p) => `${p}\n`).join(''));
      }
    },
    sleep: () => {},
  };
}
