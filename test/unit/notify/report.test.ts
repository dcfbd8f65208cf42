/** The --seccomp_unotify report (src/notify/report.ts): grouping, counts, order and text format. */
import { describe, expect, it } from 'vitest';
import type { TraceRecord } from '../../../src/notify/decode.js';
import { cEscape, Stats } from '../../../src/notify/report.js';

const open = (path: string, mode: 'RDONLY' | 'WRONLY', extra?: string): TraceRecord => ({
  name: 'openat',
  args: ['dirfd=AT_FDCWD', ...(extra ? [`mode_extra=${extra}`] : [])],
  paths: [{ path, jailType: 'REGULAR', mainType: 'NONEXISTENT', mode }],
});

describe('Stats', () => {
  it('a record made n times counts as n (the native path folds repeated calls into one record)', () => {
    const once = new Stats();
    for (let i = 0; i < 3; i++) once.add(open('/a', 'RDONLY'));
    const folded = new Stats();
    folded.add(open('/a', 'RDONLY'), 3);
    expect(folded.text()).toBe(once.text());
    expect(folded.text()).toContain('count: 3');
  });

  it('nothing recorded: no text', () => {
    expect(new Stats().text()).toBe('');
  });

  it('groups by path, type, mode and extra flags; counts calls; sorts paths by bytes and syscalls by name and args', () => {
    const s = new Stats();
    s.add(open('/b', 'RDONLY'));
    s.add(open('/a', 'RDONLY'));
    s.add(open('/a', 'RDONLY'));
    s.add(open('/a', 'WRONLY', 'O_CREAT'));
    s.add({ name: 'access', args: ['mode=R_OK'], paths: [{ path: '/a', jailType: 'REGULAR', mainType: 'NONEXISTENT' }] });
    expect(s.text()).toBe(
      [
        'fs_access {', '  path: "/a"', '  jail_type: REGULAR', '  main_type: NONEXISTENT', '  count: 1',
        '  syscall {', '    name: "access"', '    args: "mode=R_OK"', '    count: 1', '  }', '  exists_in_jail: true', '  exists_in_main: false', '}',
        'fs_access {', '  path: "/a"', '  jail_type: REGULAR', '  main_type: NONEXISTENT', '  mode: RDONLY', '  count: 2',
        '  syscall {', '    name: "openat"', '    args: "dirfd=AT_FDCWD"', '    count: 2', '  }', '  exists_in_jail: true', '  exists_in_main: false', '}',
        'fs_access {', '  path: "/a"', '  jail_type: REGULAR', '  main_type: NONEXISTENT', '  mode: WRONLY', '  count: 1',
        '  syscall {', '    name: "openat"', '    args: "dirfd=AT_FDCWD"', '    args: "mode_extra=O_CREAT"', '    count: 1', '  }', '  exists_in_jail: true', '  exists_in_main: false', '}',
        'fs_access {', '  path: "/b"', '  jail_type: REGULAR', '  main_type: NONEXISTENT', '  mode: RDONLY', '  count: 1',
        '  syscall {', '    name: "openat"', '    args: "dirfd=AT_FDCWD"', '    count: 1', '  }', '  exists_in_jail: true', '  exists_in_main: false', '}',
        '',
      ].join('\n'),
    );
  });

  it('network resources: type order, socket_path for unix sockets, the port last', () => {
    const s = new Stats();
    const conn = (net: TraceRecord['net']): TraceRecord => ({ name: 'connect', args: ['fd=3'], paths: [], net });
    s.add(conn({ type: 'UNIX', endpoint: '/run/x', socketPath: { path: '/run/x', jailType: 'SOCK', mainType: 'SOCK' } }));
    s.add(conn({ type: 'IPV4', endpoint: '127.0.0.1', port: 80 }));
    expect(s.text()).toBe(
      [
        'net_access {', '  type: IPV4', '  endpoint: "127.0.0.1"', '  count: 1', '  syscall {', '    name: "connect"', '    args: "fd=3"', '    count: 1', '  }', '  port: 80', '}',
        'net_access {', '  type: UNIX', '  endpoint: "/run/x"', '  socket_path {', '    path: "/run/x"', '    jail_type: SOCK', '    main_type: SOCK', '    exists_in_jail: true', '    exists_in_main: true', '  }',
        '  count: 1', '  syscall {', '    name: "connect"', '    args: "fd=3"', '    count: 1', '  }', '}', '',
      ].join('\n'),
    );
  });

  it('a two-path call counts toward both; merging jails adds their counts', () => {
    const a = new Stats();
    a.add({ name: 'rename', args: [], paths: [{ path: '/x', jailType: 'REGULAR', mainType: 'REGULAR' }, { path: '/y', jailType: 'NONEXISTENT', mainType: 'NONEXISTENT' }] });
    const b = new Stats();
    b.merge(a.data());
    b.merge(a.data());
    expect(b.text().match(/count: 2/g)).toHaveLength(4);
    expect(b.paths().map((p) => p.path)).toEqual(['/x', '/y']);
  });

  it('strings escaped as protobuf text format (C escapes, octal for other bytes)', () => {
    expect(cEscape('a"b\\c\n\t\'')).toBe('"a\\"b\\\\c\\n\\t\\\'"');
    expect(cEscape(Buffer.from('é\x01', 'utf8').toString('latin1'))).toBe('"\\303\\251\\001"');
  });
});
