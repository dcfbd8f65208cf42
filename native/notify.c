/*
 * Calls of the seccomp notification supervisor (src/notify/) whose arguments
 * are pointer structures koffi would have to build field by field (receiving
 * a listener with its sender's pid, reading a jailed process's memory), and
 * pairs of calls made for every traced call, one koffi crossing instead of two.
 * Mechanism only: what is read, and what is done with it, is TypeScript's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tsjail.h"

/* One message of the notify socket: the descriptor it carries (SCM_RIGHTS,
 * made close-on-exec) and the sending process's pid as tsjail sees it
 * (SCM_CREDENTIALS; the socket has SO_PASSCRED). Returns 1, 0 at EOF or when
 * nothing is queued, or -errno. *fd is -1 when the message carried none. */
int tsj_recv_fd_cred(int sock, int *fd, int *pid)
{
	char byte;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	*fd = -1;
	*pid = 0;
	ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
		else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof u);
			*pid = u.pid;
		}
	}
	return 1;
}

/* process_vm_readv of one range: bytes read (a fault part-way gives a short
 * count), or -errno. */
long tsj_vm_read(int pid, uint64_t addr, void *buf, uint64_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return n < 0 ? -errno : n;
}

/* For the report: lstat of path inside the process's root (/proc/PID/root)
 * and on the host, as st_mode values (0: missing or unreadable). */
void tsj_path_types(int pid, const char *path, uint32_t *modes)
{
	char buf[4096 + 64];
	struct stat st;
	modes[0] = modes[1] = 0;
	int n = snprintf(buf, sizeof buf, "/proc/%d/root%s", pid, path);
	if (n > 0 && (size_t)n < sizeof buf && lstat(buf, &st) == 0)
		modes[0] = st.st_mode;
	if (path[0] == '/' && lstat(path, &st) == 0)
		modes[1] = st.st_mode;
}

/* A notification that is still pending (SECCOMP_IOCTL_NOTIF_ID_VALID) is
 * answered with SECCOMP_USER_NOTIF_FLAG_CONTINUE: 0, or -errno (-ENOENT: the
 * call is gone). */
int tsj_notif_continue(int fd, uint64_t id)
{
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
		return -errno;
	struct seccomp_notif_resp r = {.id = id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0 ? -errno : 0;
}

/*
 * The readiness watcher: until a jail's first notification, tsjail needs no
 * thread of its own answering anything (most jails never trigger one), only
 * to learn that something is ready on the notify socket or a listener. This
 * thread waits in epoll_wait() on epfd and, when something is ready, writes
 * one byte to out (a pipe the event loop reads) and waits for one byte on in:
 * 1 to wait again once the loop has taken what was ready, 0 to end. It reads,
 * answers and closes nothing of tsjail's (its three descriptors it closes when
 * it ends); every signal is blocked in it.
 */
struct watch {
	int epfd, out, in;
};

static void *watch_main(void *arg)
{
	struct watch w = *(struct watch *)arg;
	free(arg);
	/* Its own pipe's hang-up ends the wait too: tsjail closes its end to stop the thread, and
	 * needs no descriptor of the set to stay open until the thread has seen it. */
	struct epoll_event hup = {.events = EPOLLIN, .data.fd = w.in};
	epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.in, &hup);
	for (;;) {
		struct epoll_event ev;
		int n = epoll_wait(w.epfd, &ev, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		char b = n < 0 ? 0 : 1, c = 0;
		if (write(w.out, &b, 1) != 1 || b == 0)
			break;
		while (read(w.in, &c, 1) < 0 && errno == EINTR)
			;
		if (c != 1)
			break;
	}
	/* Its descriptors are its own: nobody else closes them, so no number is reused under it. */
	close(w.epfd);
	close(w.out);
	close(w.in);
	return NULL;
}

/* Starts the watcher, detached: 0 or -errno. */
int tsj_watch_start(int epfd, int out, int in)
{
	struct watch *w = malloc(sizeof *w);
	if (!w)
		return -ENOMEM;
	*w = (struct watch){epfd, out, in};
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_t t;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&t, &a, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (r) {
		free(w);
		return -r;
	}
	return 0;
}

/* epoll_ctl(EPOLL_CTL_ADD or _DEL) of fd for EPOLLIN (hang-ups come anyway): 0 or -errno. */
int tsj_epoll_ctl(int epfd, int del, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	return epoll_ctl(epfd, del ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* What is ready now, without waiting: up to max (fd, events) pairs into out; the count or -errno. */
int tsj_epoll_ready(int epfd, int32_t *out, int max)
{
	struct epoll_event ev[32];
	if (max > 32)
		max = 32;
	int n = epoll_wait(epfd, ev, max, 0);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		out[2 * i] = ev[i].data.fd;
		out[2 * i + 1] = (int32_t)ev[i].events;
	}
	return n;
}

/*
 * The worker's wait, with the traced calls that need nothing of JavaScript
 * answered here: poll() over fds (the notify socket and wake pipe first, then
 * the listeners from index `first`). For a listener with a notification, the
 * call's number indexes `table` (512 entries for AUDIT_ARCH_X86_64): 0 hands
 * the notification to JavaScript; k > 0 means the call's only memory argument
 * is a path in argument k-1. Such a call, when the path reads whole and
 * absolute, is observed here: both lstat()s (tsj_path_types), then the id
 * checked still valid and CONTINUE (tsj_notif_continue), exactly what the
 * worker does, and a record appended to out for the worker's report. Nothing
 * read decides anything: the call continues whatever its path.
 *
 * Records, 8-aligned: u8 kind (1: observed and continued, 2: handed over,
 * not answered), u8 pad, u16 listener index, u16 path length, u16 count of
 * identical calls (kind 1), the
 * struct seccomp_notif (80 bytes), u32 modes[2] (kind 1), the path (kind 1).
 * Returns the bytes used, when something else is ready (its revents left for
 * the caller; those of the listeners served here cleared), after a kind-2
 * record, when out is nearly full, or after 1 ms without a notification once
 * something was recorded. -errno when poll fails and nothing was recorded.
 */
#define SERVE_TABLE 512
#define SERVE_HDR 8
#define NOTIF_SIZE 80
#define AUDIT_ARCH_X86_64_ 0xc000003eu

static int read_path(int pid, uint64_t addr, char *buf, int max)
{
	int have = 0;
	while (have < max) {
		int room = 4096 - (int)((addr + have) & 4095);
		if (room > max - have)
			room = max - have;
		long n = tsj_vm_read(pid, addr + have, buf + have, room);
		if (n <= 0)
			return -1;
		char *nul = memchr(buf + have, 0, n);
		if (nul)
			return (int)(nul - buf);
		have += n;
	}
	return -1;
}

/* Two kind-1 records of the same listener, call and arguments (but the path's address, argument
 * k), path and types. */
static int same_call(const uint8_t *a, const uint8_t *b, int k, int len)
{
	const struct seccomp_notif *x = (const void *)(a + SERVE_HDR), *y = (const void *)(b + SERVE_HDR);
	if (memcmp(a + 2, b + 2, 4) || x->data.nr != y->data.nr || x->data.arch != y->data.arch)
		return 0;
	for (int i = 0; i < 6; i++)
		if (i != k && x->data.args[i] != y->data.args[i])
			return 0;
	return !memcmp(a + SERVE_HDR + NOTIF_SIZE, b + SERVE_HDR + NOTIF_SIZE, 8 + len);
}

int tsj_notify_serve(struct pollfd *fds, int nfds, int first, const uint8_t *table, uint8_t *out, int cap, int timeout)
{
	int used = 0, last = -1;
	for (;;) {
		int r = poll(fds, nfds, used ? 1 : timeout);
		if (r < 0)
			return used ? used : -errno;
		if (r == 0)
			return used;
		for (int i = 0; i < nfds; i++)
			if ((i < first && fds[i].revents) || (fds[i].revents & ~POLLIN))
				return used;
		for (int i = first; i < nfds; i++) {
			if (!(fds[i].revents & POLLIN))
				continue;
			if (cap - used < SERVE_HDR + NOTIF_SIZE + 8 + 4096 + 8)
				return used;
			fds[i].revents = 0;
			uint8_t *rec = out + used;
			struct seccomp_notif *n = (struct seccomp_notif *)(rec + SERVE_HDR);
			memset(n, 0, sizeof *n);
			if (ioctl(fds[i].fd, SECCOMP_IOCTL_NOTIF_RECV, n) < 0)
				continue; /* gone before it was read */
			memset(rec, 0, SERVE_HDR);
			rec[0] = 2;
			memcpy(rec + 2, &(uint16_t){(uint16_t)(i - first)}, 2);
			uint8_t k = n->data.arch == AUDIT_ARCH_X86_64_ && n->data.nr >= 0 && n->data.nr < SERVE_TABLE ? table[n->data.nr] : 0;
			char *path = (char *)(rec + SERVE_HDR + NOTIF_SIZE + 8);
			int len = k && k <= 6 ? read_path((int)n->pid, n->data.args[k - 1], path, 4096) : -1;
			if (len <= 0 || path[0] != '/') {
				used += SERVE_HDR + NOTIF_SIZE;
				return used;
			}
			uint32_t *modes = (uint32_t *)(rec + SERVE_HDR + NOTIF_SIZE);
			tsj_path_types((int)n->pid, path, modes);
			if (tsj_notif_continue(fds[i].fd, n->id) < 0)
				continue; /* gone: nothing to record */
			rec[0] = 1;
			memcpy(rec + 4, &(uint16_t){(uint16_t)len}, 2);
			memcpy(rec + 6, &(uint16_t){1}, 2);
			/* The same call as the last record (all but the path's address, the same path and
			 * types): counted there, so that a loop costs the worker one record. */
			if (last >= 0 && same_call(out + last, rec, k - 1, len)) {
				uint16_t c;
				memcpy(&c, out + last + 6, 2);
				if (c < UINT16_MAX) {
					c++;
					memcpy(out + last + 6, &c, 2);
					continue;
				}
			}
			last = used;
			used += (SERVE_HDR + NOTIF_SIZE + 8 + len + 7) & ~7;
		}
	}
}

/* For Go module confinement: the identity (st_dev, st_ino) of the thread's
 * executable, and the text of /proc/TID/syscall (its registers) once the
 * thread is off its CPU: right after a notification is received the thread
 * may still be on its way to sleep, and the kernel then prints "running";
 * up to `tries` reads, with sched_yield() between them. Returns the length
 * of the text (NUL-terminated in buf), or -errno of the call that failed. */
long tsj_thread_regs(int tid, uint64_t *exe_id, char *buf, long len, int tries)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d/exe", tid);
	if (stat(path, &st) < 0)
		return -errno;
	exe_id[0] = st.st_dev;
	exe_id[1] = st.st_ino;
	snprintf(path, sizeof path, "/proc/%d/syscall", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = 0;
	for (int i = 0; i < tries; i++) {
		n = pread(fd, buf, len - 1, 0);
		if (n < 0 || n < 7 || memcmp(buf, "running", 7) != 0)
			break;
		sched_yield();
	}
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	return n;
}

/* SECCOMP_RET_TRAP as the kernel gives it, for a call tsjail was notified of.
 * The kernel raises its own SIGSYS only from a filter's TRAP, and a TRAP in
 * any filter beats USER_NOTIF, so a trapped call never reaches tsjail; a
 * SIGSYS sent from outside carries SI_TKILL, and only the process itself may
 * queue other codes. So tsjail traces the thread for one signal: it queues
 * SIGSYS, answers the call as TRAP leaves it (not made, its return register
 * holding the call's number, as the kernel's rollback does), and when the
 * thread stops to take the signal rewrites the siginfo into seccomp's
 * (SYS_SECCOMP, the call's address, number and arch, the filter's data as
 * si_errno) and detaches with it. The notification (SECCOMP_FILTER_FLAG_
 * WAIT_KILLABLE_RECV) holds the thread until the answer, so only a fatal
 * signal can come in between. Returns 1 when the handler got seccomp's
 * siginfo, 0 when the call was gone (the thread died), -errno when the thread
 * could not be traced (nothing was done: the caller sends the signal itself),
 * or 2 when the thread took another signal first (SIGSYS stays queued as it
 * was sent). */
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* The thread's state letter in /proc/TID/stat ('?' when it is gone). */
static char thread_state(int tgid, int tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", tgid, tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

int tsj_trap(int fd, uint64_t id, int tgid, int tid, int nr, uint32_t arch, uint64_t ip, uint32_t data, int timeout_ms)
{
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
		return 0;
	if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0)
		return -errno;
	struct seccomp_notif_resp r = {.id = id, .val = nr};
	if (syscall(SYS_tgkill, tgid, tid, SIGSYS) < 0 || ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0)
		return 0; /* gone (the ptrace link ends with the thread) */
	siginfo_t si;
	struct timespec pause = {0, 20000};
	int interrupted = 0;
	for (long waited_us = 0;; waited_us += pause.tv_nsec / 1000) {
		if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0)
			break;
		if (errno == EINVAL) {
			/* Stopped without a signal to deliver (a group stop, or the interrupt below). */
			ptrace(PTRACE_DETACH, tid, 0, 0);
			return 2;
		}
		char st = thread_state(tgid, tid);
		if (st == '?' || st == 'Z' || st == 'X')
			return 0;
		/* Neither stopped nor gone long after the interrupt: give up rather than hold every other jail's calls. */
		if (waited_us > 10L * timeout_ms * 1000)
			return 0;
		/* Not stopped in time (SIGSYS blocked after all): stop it to let go. */
		if (!interrupted && waited_us > (long)timeout_ms * 1000) {
			ptrace(PTRACE_INTERRUPT, tid, 0, 0);
			interrupted = 1;
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 1000000)
			pause.tv_nsec *= 2;
	}
	if (si.si_signo != SIGSYS || si.si_code != SI_TKILL) {
		/* Another signal came first: delivered unchanged. */
		ptrace(PTRACE_DETACH, tid, 0, (void *)(uintptr_t)si.si_signo);
		return 2;
	}
	memset(&si, 0, sizeof si);
	si.si_signo = SIGSYS;
	si.si_code = SYS_SECCOMP;
	si.si_errno = (int)data;
	si.si_call_addr = (void *)(uintptr_t)ip;
	si.si_syscall = nr;
	si.si_arch = arch;
	if (ptrace(PTRACE_SETSIGINFO, tid, 0, &si) < 0 || ptrace(PTRACE_DETACH, tid, 0, (void *)(uintptr_t)SIGSYS) < 0)
		return 0; /* died meanwhile */
	return 1;
}
