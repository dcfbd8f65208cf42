/** followLinks (src/notify/paths.ts): symlinks followed per component, as the kernel does. */
import { describe, expect, it } from 'vitest';
import { followLinks, type PathLookup } from '../../../src/notify/paths.js';

const tree: Record<string, string> = { '/bin': '->usr/bin', '/usr': 'dir', '/usr/bin': 'dir', '/usr/bin/sh': '->dash', '/usr/bin/dash': 'file', '/loop': '->/loop', '/abs': '->/usr/bin', '/tmp': 'dir' };
const look: PathLookup = {
  kind: (p) => (tree[p] === undefined ? undefined : tree[p]!.startsWith('->') ? 'link' : tree[p] === 'dir' ? 'dir' : 'file'),
  readlink: (p) => tree[p]?.slice(2),
};

describe('followLinks', () => {
  it('relative and absolute links, each one reported', () => {
    const seen: string[] = [];
    expect(followLinks('/bin/sh', look, { onLink: (at, t) => seen.push(`${at} -> ${t}`) })).toBe('/usr/bin/dash');
    expect(seen).toEqual(['/bin -> usr/bin', '/usr/bin/sh -> dash']);
    expect(followLinks('/abs/../bin/./sh', look)).toBe('/usr/bin/dash');
  });

  it('a missing component: undefined, or kept with the rest; a loop: undefined; a stop: left as it is', () => {
    expect(followLinks('/bin/nope/x', look)).toBeUndefined();
    expect(followLinks('/bin/nope/x', look, { keepMissing: true })).toBe('/usr/bin/nope/x');
    expect(followLinks('/loop/x', look)).toBeUndefined();
    expect(followLinks('/tmp/a/b', look, { stop: (p) => p === '/tmp' })).toBe('/tmp/a/b');
    expect(followLinks('/', look)).toBe('/');
  });
});
