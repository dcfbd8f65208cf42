/**
 * The socket factory of one jail: native/tsjail-nsfd running in the jail's
 * network namespace (and, for a rootless tsjail, its user namespace), asked
 * over a SOCK_SEQPACKET pair for sockets and for the TUN device. Requests are
 * synchronous: the factory answers each at once from its poll loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeFd, nativePath, seqpacketPair, SyscallError } from '../../linux/libc.js';
import { recvWithFd, sendMsg, sendWithFds } from '../../linux/sock.js';

const OP_SOCKET = 1;
const OP_TUN = 2;
const OP_RELAY = 3;
const STEPS = ['', 'open(/proc/PID/ns/…)', 'setns(CLONE_NEWUSER)', 'setns(CLONE_NEWNET)', 'socket', "open('/dev/net/tun')", 'ioctl(TUNSETIFF)', 'socketpair(AF_UNIX, SOCK_STREAM)', 'request', 'pipe2', 'relay'];

export class FactoryError extends Error {}

export class Factory {
  private constructor(
    private readonly ctl: number,
    readonly child: ChildProcess,
    private readonly pid: number,
  ) {}

  /** Start the factory for jail `pid` and wait for it to be in the namespaces. */
  static start(pid: number, rootless: boolean): Factory {
    const [mine, theirs] = seqpacketPair();
    let child: ChildProcess;
    try {
      child = spawn(nativePath('tsjail-nsfd'), [String(pid), String(process.pid), rootless ? '1' : '0'], { stdio: ['ignore', 'ignore', 'inherit', theirs] });
    } finally {
      closeFd(theirs);
    }
    child.on('error', () => {});
    const f = new Factory(mine, child, pid);
    try {
      f.answer(`start tsjail-nsfd for pid ${pid}`);
    } catch (e) {
      f.close();
      throw e;
    }
    return f;
  }

  private answer(what: string): number {
    const buf = Buffer.alloc(8);
    const r = recvWithFd(this.ctl, buf, `socket factory of pid ${this.pid}`);
    if (r.n === 0) throw new FactoryError(`${what}: the socket factory (tsjail-nsfd) exited`);
    const err = buf.readInt32LE(0);
    const step = buf.readInt32LE(4);
    if (err !== 0) {
      if (r.fd >= 0) closeFd(r.fd);
      const call = (STEPS[step] ?? 'request').replace('PID', String(this.pid));
      throw new SyscallError(`${call} in the jail's network namespace (pid=${this.pid}; ${what})`, err, err === 13 && step === 5 ? 'rootless user_net needs /dev/net/tun openable by tsjail\'s user (mode 0666)' : undefined);
    }
    return r.fd;
  }

  private request(op: number, a: number, b: number, c: number, name: string, what: string): number {
    const q = Buffer.alloc(32);
    q.writeUInt32LE(op, 0);
    q.writeInt32LE(a, 4);
    q.writeInt32LE(b, 8);
    q.writeInt32LE(c, 12);
    q.write(name, 16, 15);
    sendMsg(this.ctl, q, `socket factory of pid ${this.pid}`);
    const fd = this.answer(what);
    if (fd < 0) throw new FactoryError(`${what}: the socket factory answered without a descriptor`);
    return fd;
  }

  /** A socket in the jail's network namespace (CLOEXEC). */
  socket(domain: number, type: number, proto: number, what: string): number {
    return this.request(OP_SOCKET, domain, type, proto, '', what);
  }

  /** Create the TUN device `name`; returns tsjail's end of the framed packet relay. */
  tun(name: string): number {
    return this.request(OP_TUN, 0, 0, 0, name, `TUN device '${name}'`);
  }

  /**
   * Hand two connected stream sockets to the factory, which relays between
   * them in the kernel (splice) until both directions are closed: toB is
   * written to b first, toA to a. The caller then closes its own copies.
   */
  relay(a: number, b: number, toB: Buffer, toA: Buffer, what: string): void {
    const q = Buffer.alloc(32);
    q.writeUInt32LE(OP_RELAY, 0);
    q.writeInt32LE(toB.length, 4);
    q.writeInt32LE(toA.length, 8);
    sendWithFds(this.ctl, Buffer.concat([q, toB, toA]), [a, b], `socket factory of pid ${this.pid}`);
    const fd = this.answer(what);
    if (fd >= 0) closeFd(fd);
  }

  close(): void {
    closeFd(this.ctl);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

