#!/usr/bin/env node
// The notification supervisor's cost (run `npm run build` first; needs root or user namespaces, and cc):
//   - per notified syscall: a jailed C program times N openat()+close() itself, with and without
//     --seccomp_unotify (openat is traced, close is not); the difference over N is the cost;
//   - for calls the filter allows: the same loop under a policy (the supervisor runs, openat passes
//     in the kernel) against no filter;
//   - the kernel's floor: the same round trip answered by a C supervisor, no tsjail involved;
//   - one-shot wall time of `tsjail -Mo --chroot / -- /bin/true` with and without the supervisor.
// Usage: node bench/unotify.mjs [N=100000] [runs=5]  (BENCH_NICE=N: the jails' nice level, default 0)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 100_000);
const RUNS = Number(process.argv[3] ?? 5);
const tsjail = join(dirname(fileURLToPath(import.meta.url)), '../dist/bin/tsjail.js');
const dir = join(tmpdir(), 'tsjail-bench-unotify');
mkdirSync(dir, { recursive: true });

function cc(name, source) {
  const out = join(dir, name);
  writeFileSync(`${out}.c`, source);
  execFileSync('cc', ['-O2', '-static', '-o', out, `${out}.c`]);
  return out;
}

const LOOP = cc(
  'openat-loop',
  `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) close(openat(AT_FDCWD, "/etc/hostname", O_RDONLY));
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.4f\\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
  return 0;
}
`,
);

// The kernel's round trip with a supervisor in C: fork, filter openat with a listener, answer CONTINUE.
const FLOOR = cc(
  'notify-floor',
  `#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]), sv[2];
  socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
  if (fork() == 0) {
    struct sock_filter f[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
                              BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog p = {4, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);
    char c[CMSG_SPACE(4)] = {0}, byte = 0;
    struct iovec io = {&byte, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET, h->cmsg_type = SCM_RIGHTS, h->cmsg_len = CMSG_LEN(4);
    memcpy(CMSG_DATA(h), &l, 4);
    sendmsg(sv[1], &m, 0);
    close(l);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) close(openat(AT_FDCWD, "/etc/hostname", O_RDONLY));
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.4f\\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
    fflush(stdout);
    _exit(0);
  }
  char c[CMSG_SPACE(4)], byte;
  struct iovec io = {&byte, 1};
  struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c};
  recvmsg(sv[0], &m, 0);
  int l;
  memcpy(&l, CMSG_DATA(CMSG_FIRSTHDR(&m)), 4);
  ioctl(l, _IOW('!', 4, __u64), 1UL); /* SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, as tsjail sets */
  for (int i = 0; i < n; i++) {
    struct seccomp_notif nt;
    memset(&nt, 0, sizeof nt);
    if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &nt) < 0) break;
    struct seccomp_notif_resp r = {.id = nt.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &r);
  }
  wait(0);
  return 0;
}
`,
);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function jailed(args, cmd) {
  // nice 0: the default 19 would measure how the scheduler treats a niced jail on a busy machine.
  const r = spawnSync(process.execPath, [tsjail, '-q', '-Mo', '--chroot', '/', '--nice_level', process.env.BENCH_NICE ?? '0', ...args, '--', ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsjail ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function perCall(args) {
  return median(Array.from({ length: RUNS }, () => Number(jailed(args, [LOOP, String(N)]))));
}

function wall(args) {
  return median(
    Array.from({ length: RUNS }, () => {
      const t = process.hrtime.bigint();
      jailed(args, ['/bin/true']);
      return Number(process.hrtime.bigint() - t) / 1e6;
    }),
  );
}

const ALLOW_POLICY = ['--seccomp_string', 'ERRNO(1) { newuname } DEFAULT ALLOW'];
const plain = perCall([]);
const traced = perCall(['--seccomp_unotify']);
const allowed = perCall(ALLOW_POLICY);
const floor = median(Array.from({ length: RUNS }, () => Number(execFileSync(FLOOR, [String(N)], { encoding: 'utf8' }))));
console.log(`${N} openat()+close() per run, median of ${RUNS} runs, µs per iteration:
  no filter:                                  ${plain.toFixed(3)}
  --seccomp_unotify (openat notified):        ${traced.toFixed(3)}   => ${(traced - plain).toFixed(2)} µs per notified syscall (goal <= 20)
  policy, supervisor running, openat allowed: ${allowed.toFixed(3)}   => ${(allowed - plain).toFixed(3)} µs per allowed syscall
  kernel floor, a C supervisor answering:     ${floor.toFixed(3)}`);

const w0 = wall([]);
const w1 = wall(['--seccomp_unotify']);
const w2 = wall(ALLOW_POLICY);
const w3 = wall([...ALLOW_POLICY, '--seccomp_no_notify']);
console.log(`one-shot wall time of tsjail -Mo --chroot / -- /bin/true, median of ${RUNS}, ms:
  no seccomp:                          ${w0.toFixed(1)}
  --seccomp_unotify:                   ${w1.toFixed(1)}   (+${(w1 - w0).toFixed(1)})
  a policy, with the supervisor:       ${w2.toFixed(1)}
  the same policy, --seccomp_no_notify: ${w3.toFixed(1)}   (supervisor: +${(w2 - w3).toFixed(1)})`);
