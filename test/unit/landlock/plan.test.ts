/** planLandlock: the exact child ops for a downgraded request, and where they sit in the program. */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { downgrade } from '../../../src/landlock/abi.js';
import { requestOf } from '../../../src/landlock/index.js';
import { newContext } from '../../../src/phases/context.js';
import { planLandlock } from '../../../src/phases/landlock.js';
import { describeOp } from '../../../src/plan/describe.js';
import { encodePlan } from '../../../src/plan/encode.js';
import { buildChildProgram } from '../../../src/plan/program.js';
import { prepare } from '../../../src/prepare.js';
import { FAKE_HOST } from '../helpers/host.js';

const host = FAKE_HOST;

async function landlockOps(args: string[], abi = 7, noNewPrivs = true) {
  const { spec } = await parseCommandLine([...args, '--', '/bin/true']);
  const d = downgrade(requestOf(spec.cfg.ext.landlock), abi);
  const ops = planLandlock({ ruleset: d.ruleset!, paths: d.paths, ports: d.ports, noNewPrivs }, newContext({ errFd: 12 }));
  return { ops, texts: ops.map(describeOp) };
}

describe('planLandlock', () => {
  it('opens each path O_PATH, adds a file rule and a directory rule, then restricts', async () => {
    const { ops, texts } = await landlockOps(['--landlock_rx', '/usr', '--landlock_connect_tcp', '443']);
    expect(texts).toEqual([
      'prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)',
      'landlock_create_ruleset({handled_access_fs=EXECUTE|WRITE_FILE|READ_FILE|READ_DIR|REMOVE_DIR|REMOVE_FILE|MAKE_CHAR|MAKE_DIR|MAKE_REG|MAKE_SOCK|MAKE_FIFO|MAKE_BLOCK|MAKE_SYM|REFER|TRUNCATE|IOCTL_DEV, handled_access_net=CONNECT_TCP})',
      "openat('/usr', O_PATH|O_CLOEXEC) for --landlock_rx",
      "openat(fd('/usr'), '.', O_PATH|O_DIRECTORY|O_CLOEXEC)",
      "landlock_add_rule('/usr', EXECUTE|READ_FILE)",
      "landlock_add_rule('/usr', EXECUTE|READ_FILE|READ_DIR)",
      "close(fd('/usr'))",
      "close(fd('/usr'))",
      'landlock_add_rule(tcp port 443, CONNECT_TCP)',
      'landlock_restrict_self(ruleset, 0)',
      'close(ruleset)',
    ]);
    const [, create, open, isDir, fileRule, dirRule, closeDir, closeFile] = ops;
    // The kernel-side sizes: ruleset attr with the net field, packed path_beneath_attr.
    expect(create!.args[1]).toMatchObject({ t: 'int', v: 16n });
    expect(fileRule!.args[2]).toMatchObject({ t: 'bytes' });
    expect((fileRule!.args[2] as { v: Uint8Array }).v.length).toBe(12);
    // parent_fd is patched from the O_PATH slot; the directory rule only when '.' opened as a directory.
    expect(fileRule!.patch).toEqual({ slot: open!.save, arg: 2, offset: 8, width: 4 });
    expect(fileRule!.cond).toBe(open!.save);
    expect(dirRule!.patch).toEqual({ slot: isDir!.save, arg: 2, offset: 8, width: 4 });
    expect(dirRule!.cond).toBe(isDir!.save);
    expect(isDir!.okErrno).toEqual(['ENOTDIR', 'EBADF']);
    expect(isDir!.cond).toBeUndefined();
    expect([closeDir!.cond, closeFile!.cond]).toEqual([isDir!.save, open!.save]);
    expect(open!.soft).toBeUndefined();
    expect(ops.every((o) => o.phase === 'landlock')).toBe(true);
    expect(() => encodePlan(ops)).not.toThrow();
  });

  it('a _try path is soft; a mandatory one fails naming the path', async () => {
    const { ops } = await landlockOps(['--landlock_ro_try', '/opt/x', '--landlock_rw', '/tmp']);
    const opens = ops.filter((o) => o.kind === 'openat' && o.args[0]!.t === 'int');
    expect(opens.map((o) => [describeOp(o), !!o.soft])).toEqual([
      ["openat('/tmp', O_PATH|O_CLOEXEC) for --landlock_rw", false],
      ["openat('/opt/x', O_PATH|O_CLOEXEC) for --landlock_ro_try", true],
    ]);
    expect(opens[0]!.hints?.ENOENT).toBe('a Landlock path must exist inside the jail; --landlock_rw_try skips a missing one');
  });

  it('reuses three slots however many paths', async () => {
    const { ops } = await landlockOps(['--landlock_ro', '/a', '--landlock_ro', '/b', '--landlock_rx', '/c']);
    expect(new Set(ops.flatMap((o) => (o.save !== undefined ? [o.save] : []))).size).toBe(3);
  });

  it('leaves no_new_privs to the user when disabled', async () => {
    const { texts } = await landlockOps(['--landlock_ro', '/a'], 7, false);
    expect(texts[0]).toMatch(/^landlock_create_ruleset/);
  });

  it('sends scopes with the 24-byte ruleset attr', async () => {
    const { ops } = await landlockOps(['--landlock_scope', 'abstract_unix,signal']);
    expect(describeOp(ops[1]!)).toBe('landlock_create_ruleset({scoped=ABSTRACT_UNIX_SOCKET|SIGNAL})');
    expect(ops[1]!.args[1]).toMatchObject({ v: 24n });
  });
});

describe('in the child program', () => {
  it('runs after the last mount and before capabilities are dropped', async () => {
    const { spec } = await parseCommandLine(['--chroot', '/', '-H', 'box', '--landlock_ro', '/etc', '--', '/bin/true']);
    const p = prepare(spec, host);
    const d = downgrade(requestOf(spec.cfg.ext.landlock), 7);
    const ops = buildChildProgram(p, newContext({ syncFd: 10, syncParentFd: 11, errFd: 12 }), {
      root_final: [(_p, ctx) => planLandlock({ ruleset: d.ruleset!, paths: d.paths, ports: d.ports, noNewPrivs: true }, ctx)],
    });
    const kinds = ops.map((o) => o.kind);
    const restrict = kinds.indexOf('landlock_restrict_self');
    expect(kinds.indexOf('landlock_create_ruleset')).toBeGreaterThan(kinds.lastIndexOf('mount_setattr'));
    expect(kinds.indexOf('landlock_create_ruleset')).toBeGreaterThan(kinds.lastIndexOf('sethostname'));
    expect(restrict).toBeLessThan(kinds.indexOf('capset'));
  });
});

describe('requestOf', () => {
  it('refuses relative paths and out-of-range ports', async () => {
    const { spec } = await parseCommandLine(['--landlock_ro', 'etc', '--', '/bin/true']);
    expect(() => requestOf(spec.cfg.ext.landlock)).toThrow("Landlock path 'etc' is not absolute (paths are as seen inside the jail)");
    spec.cfg.ext.landlock.ro = [];
    spec.cfg.ext.landlock.bind_tcp = [70000];
    expect(() => requestOf(spec.cfg.ext.landlock)).toThrow('Landlock TCP port 70000 is outside 0..65535');
  });
});
