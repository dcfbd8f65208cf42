/** tsjail learn's profile (src/learn/profile.ts, command.ts) on a fake host. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { interpreterOf, learntNetwork, learntPolicy, parseLearnArgs } from '../../../src/learn/command.js';
import { learnProfile, type HostView, type TracedPath } from '../../../src/learn/profile.js';

/** A merged-/usr host: /bin and /lib are links into /usr. */
function host(extra: Record<string, string> = {}): HostView {
  const tree: Record<string, string> = {
    '/bin': '->usr/bin',
    '/lib': '->usr/lib',
    '/usr': 'dir',
    '/usr/bin': 'dir',
    '/usr/bin/sh': '->dash',
    '/usr/bin/dash': 'file:/lib64/ld.so',
    '/lib64': '->usr/lib64',
    '/usr/lib64': 'dir',
    '/usr/lib64/ld.so': 'file',
    '/usr/lib': 'dir',
    '/usr/lib/libc.so': 'file',
    '/usr/share': 'dir',
    '/usr/share/a': 'file',
    '/usr/share/b': 'file',
    '/etc': 'dir',
    '/etc/conf': 'file',
    '/var': 'dir',
    '/var/data': 'file',
    ...extra,
  };
  return {
    kind: (p) => (tree[p] === undefined ? undefined : tree[p]!.startsWith('->') ? 'link' : tree[p] === 'dir' ? 'dir' : 'file'),
    readlink: (p) => (tree[p]?.startsWith('->') ? tree[p]!.slice(2) : undefined),
    interpreter: (p) => (tree[p]?.startsWith('file:') ? tree[p]!.slice(5) : undefined),
  };
}

const t = (path: string, names: string[], o: Partial<TracedPath> = {}): TracedPath => ({ path, jailType: 'REGULAR', modeExtra: '', syscalls: names.map((name) => ({ name })), ...o });
const learnt = (paths: TracedPath[], extra?: Record<string, string>, others: string[] = ['/proc', '/dev']) => learnProfile({ root: '/', otherMounts: others, pseudo: ['/proc'], paths }, host(extra));
const dsts = (p: ReturnType<typeof learnt>) => p.mounts.map((m) => `${m.is_symlink ? 'link' : m.rw ? 'rw' : 'ro'} ${m.dst}${m.is_symlink ? ` -> ${m.src}` : ''}`);

describe('learnProfile', () => {
  it('an executed file through symlinks: the links recreated, the file bound at its real place, its interpreter too', () => {
    const p = learnt([t('/bin/sh', ['execve'], { jailType: 'LINK' }), t('/lib/libc.so', ['openat'], { mode: 'RDONLY' })]);
    expect(dsts(p)).toEqual(['ro /usr/bin/dash', 'ro /usr/lib/libc.so', 'ro /usr/lib64/ld.so', 'link /bin -> usr/bin', 'link /lib -> usr/lib', 'link /lib64 -> usr/lib64', 'link /usr/bin/sh -> dash']);
    expect(p.landlock).toEqual({ ro: ['/usr/lib/libc.so'], rw: [], rx: ['/usr/bin/dash', '/usr/lib64/ld.so'] });
  });

  it('a listed directory is bound whole; the files read in it need no bind of their own, and their rules fold into its', () => {
    const p = learnt([t('/usr/share', ['openat'], { jailType: 'DIR', modeExtra: 'O_DIRECTORY' }), t('/usr/share/a', ['openat'], { mode: 'RDONLY' })]);
    expect(dsts(p)).toEqual(['ro /usr/share']);
    expect(p.landlock.ro).toEqual(['/usr/share']);
    expect(p.notes).toContain('Landlock read rules on listed directories allow every file below them');
  });

  it('writes: a file written is bound read-write; a file created makes its directory read-write', () => {
    const p = learnt([t('/var/data', ['openat'], { mode: 'WRONLY' }), t('/etc/new', ['openat'], { jailType: 'NONEXISTENT', mode: 'WRONLY', modeExtra: 'O_CREAT|O_TRUNC' }), t('/etc/conf', ['unlink'])]);
    expect(dsts(p)).toEqual(['rw /etc', 'rw /var/data']);
    expect(p.landlock).toEqual({ ro: [], rw: ['/etc', '/var/data'], rx: [] });
  });

  it('paths of other mounts keep them: Landlock rules only, procfs as a whole', () => {
    const p = learnt([t('/proc/self/status', ['openat'], { mode: 'RDONLY' }), t('/dev/null', ['openat'], { jailType: 'CHR', mode: 'WRONLY' }), t('/tmp/f', ['openat'], { jailType: 'NONEXISTENT', mode: 'WRONLY', modeExtra: 'O_CREAT' })], {}, ['/proc', '/dev', '/tmp']);
    expect(p.mounts).toEqual([]);
    expect(p.landlock).toEqual({ ro: ['/proc'], rw: ['/dev/null', '/tmp'], rx: [] });
  });

  it('what did not exist, stat-only directories, relative and empty paths', () => {
    const p = learnt([t('/nowhere', ['openat'], { jailType: 'NONEXISTENT', mode: 'RDONLY' }), t('/etc', ['newfstatat'], { jailType: 'DIR' }), t('rel', ['openat']), t('', ['newfstatat'], { jailType: 'LINK' })]);
    // /etc was only looked at and nothing below it is used: bound for it to exist (read-only, no Landlock rule).
    expect(dsts(p)).toEqual(['ro /etc']);
    expect(p.landlock).toEqual({ ro: [], rw: [], rx: [] });
  });
});

describe('learn helpers', () => {
  it('interpreterOf: an ELF PT_INTERP, a #! line', () => {
    expect(interpreterOf(readFileSync('/bin/ls').subarray(0, 4096))).toMatch(/^\/lib.*ld-linux.*\.so\.\d$/);
    expect(interpreterOf(Buffer.from('#!/bin/sh -e\necho'))).toBe('/bin/sh');
    expect(interpreterOf(Buffer.from('plain text'))).toBeUndefined();
  });

  it('learntPolicy: the calls sorted, fallbacks added, DEFAULT KILL or ERRNO', () => {
    expect(learntPolicy(['write', 'copy_file_range', 'execve'])).toBe('POLICY learnt {\n  ALLOW {\n    copy_file_range, execve, read, write\n  }\n}\nUSE learnt DEFAULT KILL');
    expect(learntPolicy(['exit_group'], 1)).toContain('USE learnt DEFAULT ERRNO(1)');
  });

  it('parseLearnArgs: -o and --errno in their forms, the rest left for the jail', () => {
    expect(parseLearnArgs(['-o', 'a.cfg', '--chroot', '/', '--', '/bin/true', '-o', 'x'])).toEqual({ output: 'a.cfg', errno: undefined, rest: ['--chroot', '/', '--', '/bin/true', '-o', 'x'] });
    expect(parseLearnArgs(['-ob.cfg', '--errno=13'])).toMatchObject({ output: 'b.cfg', errno: 13 });
    expect(() => parseLearnArgs(['--errno', 'x', '-o', 'c'])).toThrow("--errno 'x' is not an errno number");
    expect(() => parseLearnArgs(['--chroot', '/'])).toThrow('-o FILE.cfg is required');
  });
});

describe('learntNetwork', () => {
  const calls = (...names: string[]) => new Map(names.map((n) => [n, { name: n, args: [], count: 1 }]));
  it('TCP ports it connected to and bound, socket files it used, and every endpoint in the note', () => {
    const n = learntNetwork(
      [
        { type: 'IPV4', endpoint: '127.0.0.1', port: 8080, count: 1, syscalls: calls('connect') },
        { type: 'IPV6', endpoint: '::', port: 0, count: 1, syscalls: calls('bind') },
        { type: 'IPV4', endpoint: '10.0.0.1', port: 53, count: 2, syscalls: calls('sendto') },
        { type: 'UNIX', endpoint: '/run/a.sock', socketPath: { path: '/run/a.sock', jailType: 'SOCK', mainType: 'SOCK' }, count: 1, syscalls: calls('connect') },
        { type: 'UNIX', endpoint: '/tmp/b.sock', socketPath: { path: '/tmp/b.sock', jailType: 'NONEXISTENT', mainType: 'NONEXISTENT' }, count: 1, syscalls: calls('bind') },
        { type: 'UNIX', endpoint: '@abstract', count: 1, syscalls: calls('connect') },
      ],
      true,
    );
    expect(n.connectTcp).toEqual([8080]);
    expect(n.bindTcp).toEqual([0]);
    expect(n.socketPaths).toEqual([
      { path: '/run/a.sock', jailType: 'SOCK', mode: 'RDONLY', modeExtra: '', syscalls: [{ name: 'openat' }] },
      { path: '/tmp/b.sock', jailType: 'NONEXISTENT', mode: undefined, modeExtra: '', syscalls: [{ name: 'mknod' }] },
    ]);
    expect(n.notes).toEqual([
      'network: it ran in a network namespace of its own (loopback only), kept as it was; it reached bind IPV6 [::]:0, bind UNIX /tmp/b.sock, connect IPV4 127.0.0.1:8080, connect UNIX /run/a.sock, connect UNIX @abstract, sendto IPV4 10.0.0.1:53',
    ]);
  });

  it('nothing reached: no rule, no note', () => {
    expect(learntNetwork([], false)).toEqual({ connectTcp: [], bindTcp: [], socketPaths: [], notes: [] });
  });
});
