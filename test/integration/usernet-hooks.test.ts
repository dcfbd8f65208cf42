/**
 * The hooks a policy layer (--net_allow) plugs into user_net with
 * (src/net/user/policy.ts), driven on a real stack: a network namespace of the
 * test's own (`unshare -n`) stands in for a jail, and python in it is the
 * program. A UDP datagram to the gateway is answered by udpToGateway; a TCP
 * flow is shown to tcpFlow with its first bytes (peek) and is refused or sent
 * elsewhere by its answer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRules } from '../../src/net/user/rules.js';
import { UserNetStack } from '../../src/net/user/stack.js';
import type { UserNetHooks } from '../../src/net/user/policy.js';
import { defaultUserNet } from '../../src/spec.js';
import { missingBinary, missingRoot } from './helpers/require.js';
import { echoServer, type Echo } from './helpers/usernet-servers.js';

const skip = missingRoot() ?? missingBinary('/usr/bin/unshare') ?? missingBinary('/usr/bin/nsenter') ?? missingBinary('/usr/bin/python3') ?? missingBinary('/dev/net/tun');

describe.skipIf(!!skip)('user_net hooks for a policy layer', () => {
  let holder: ChildProcess;
  let echo: Echo;
  let stack: UserNetStack;
  const seen: string[] = [];
  const hooks: UserNetHooks = {
    async udpToGateway(p) {
      seen.push(`udp ${p.src} ${p.dport} ${p.data.toString()}`);
      return Buffer.from(`answer to ${p.data.toString()}`);
    },
    async tcpFlow(f) {
      const first = (await f.peek(5, 2000)).toString();
      seen.push(`tcp ${f.src} -> ${f.dst}:${f.dport} ${first}`);
      if (first === 'deny!') return { allow: false, reason: 'not on the list' };
      return { allow: true, dst: '127.0.0.1', dport: echo.port };
    },
  };

  beforeAll(async () => {
    echo = await echoServer('127.0.0.1');
    holder = spawn('/usr/bin/unshare', ['-n', '/bin/sleep', '60'], { stdio: 'ignore' });
    // The namespace exists once sleep runs in it.
    for (;;) {
      const r = spawnSync('/bin/sh', ['-c', `readlink /proc/${holder.pid}/ns/net`]);
      if (r.stdout.toString().trim() !== spawnSync('/bin/sh', ['-c', 'readlink /proc/self/ns/net']).stdout.toString().trim()) break;
      await new Promise((r) => setImmediate(r));
    }
    const u = defaultUserNet();
    stack = new UserNetStack(holder.pid!, { u, rules: parseRules(u), rootless: false, hooks });
  });
  afterAll(() => {
    stack?.close();
    holder?.kill('SIGKILL');
    echo?.close();
  });

  const inJail = (py: string) =>
    new Promise<string>((resolve) => {
      const c = spawn('/usr/bin/nsenter', ['-t', String(holder.pid), '-n', '/usr/bin/python3', '-c', `import socket\n${py}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('exit', () => resolve(out));
    });

  it('udpToGateway answers a datagram to the gateway, from the gateway', async () => {
    const out = await inJail("u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'q1', ('10.255.255.1', 53)); print(u.recvfrom(100))");
    expect(out).toBe("(b'answer to q1', ('10.255.255.1', 53))\n");
    expect(seen).toContain('udp 10.255.255.2 53 q1');
  });

  it('tcpFlow sees the first bytes, which still reach the destination it chose; a refusal is a reset', async () => {
    const ok = await inJail("s = socket.create_connection(('198.51.100.7', 443)); s.sendall(b'hello world'); s.shutdown(socket.SHUT_WR); print(s.recv(100))");
    expect(ok).toBe("b'hello world'\n");
    expect(seen).toContain('tcp 10.255.255.2 -> 198.51.100.7:443 hello');
    const denied = await inJail("s = socket.create_connection(('198.51.100.7', 443)); s.sendall(b'deny!')\ntry: print(s.recv(100))\nexcept ConnectionResetError: print('reset')");
    expect(denied).toBe('reset\n');
  });
});
