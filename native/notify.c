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
#include <sched.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
