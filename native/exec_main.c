/*
 * tsjail-exec: the -Me launcher. Node cannot create a user namespace from
 * its multi-threaded process, so tsjail execs this single-threaded program,
 * which keeps tsjail's pid:
 *
 *   tsjail-exec FD     FD holds a struct tsj_exec_hdr and its plans
 *
 * 1. fork a helper, still privileged in the parent namespaces;
 * 2. unshare(flags) in this process;
 * 3. release the helper, which runs its plan (it writes our id maps) and exits;
 * 4. with CLONE_NEWPID, fork the namespace's PID 1 (the program stays outside
 *    the new pid namespace, as in nsjail; its children are reaped there);
 * 5. run the pre plan here, the mount plan in a CLONE_FS child (a member of
 *    the new pid namespace, so the /proc it mounts is the jail's), then the
 *    main plan here, which ends in execve.
 *
 * Plans other than the main one end without execve: the runner's ENOEXEC at
 * their end is their success. Failures are described on the header's log fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsjail.h"

static int fail(const char *what, int err)
{
	const char *e = strerror(err);
	(void)!write(2, "[E] tsjail-exec: ", 17);
	(void)!write(2, what, strlen(what));
	(void)!write(2, ": ", 2);
	(void)!write(2, e, strlen(e));
	(void)!write(2, "\n", 1);
	return 255;
}

static uint8_t *read_all(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *b = malloc(cap);
	(void)lseek(fd, 0, SEEK_SET); /* a memfd is handed over at its end; a pipe gives ESPIPE */
	for (ssize_t r; b && (r = read(fd, b + n, cap - n)) != 0;) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(b);
			return NULL;
		}
		n += (size_t)r;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	*len = n;
	return b;
}

/* 0 when a plan without execve ran to its end. */
static int run_part(uint8_t *plan, uint32_t size, int log_fd)
{
	return size && tsj_run_plan(plan, size, -1, log_fd) != -ENOEXEC;
}

/* A child running one plan; with a pipe, only after one byte on it (EOF: the launcher died). */
static pid_t fork_part(unsigned long flags, uint8_t *plan, uint32_t size, int log_fd, const int *go)
{
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		char c;
		if (go && (close(go[1]) < 0 || read(go[0], &c, 1) != 1))
			_exit(255);
		_exit(run_part(plan, size, log_fd) ? 255 : 0);
	}
	return pid;
}

static int wait_ok(pid_t pid)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* PID 1 of the new pid namespace: without it the namespace dies with its
 * first process and the program could not fork again. It holds nothing open
 * and dies with the program. */
static void __attribute__((noreturn)) ns_init(void)
{
	struct sigaction nowait = {.sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT};
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	syscall(SYS_close_range, 0U, ~0U, 0U);
	sigaction(SIGCHLD, &nowait, NULL);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return fail("usage: tsjail-exec FD", EINVAL);
	int in = atoi(argv[1]);
	size_t len;
	uint8_t *buf = read_all(in, &len);
	if (!buf)
		return fail("read(plan)", errno);
	close(in);
	struct tsj_exec_hdr h;
	if (len < sizeof h)
		return fail("plan header", EINVAL);
	memcpy(&h, buf, sizeof h);
	uint32_t sizes[4] = {h.helper_size, h.pre_size, h.mnt_size, h.main_size};
	uint8_t *plans[4];
	size_t at = sizeof h;
	for (int i = 0; i < 4; i++) {
		/* Plans are relocated in place: each gets its own aligned copy. */
		if (h.magic != TSJ_EXEC_MAGIC || h.abi != TSJ_ABI_VERSION || at + sizes[i] > len || !(plans[i] = malloc(sizes[i] + 1)))
			return fail("plan header", EINVAL);
		memcpy(plans[i], buf + at, sizes[i]);
		at += sizes[i];
	}
	free(buf);

	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return fail("pipe2(O_CLOEXEC)", errno);
	pid_t hp = h.helper_size ? fork_part(0, plans[0], h.helper_size, h.log_fd, go) : 0;
	if (hp < 0)
		return fail("fork(id-map helper)", errno);
	close(go[0]);
	if (h.unshare_flags && unshare((int)h.unshare_flags) < 0) {
		int e = errno;
		if (hp)
			kill(hp, SIGKILL);
		return fail("unshare()", e);
	}
	if (hp && (write(go[1], "G", 1) != 1 || !wait_ok(hp)))
		return 255; /* the helper described its failure */
	close(go[1]);
	tsj_reset_signals();
	if (h.unshare_flags & CLONE_NEWPID) {
		pid_t init = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		if (init < 0)
			return fail("fork(pid namespace init)", errno);
		if (init == 0)
			ns_init();
	}
	if (run_part(plans[1], h.pre_size, h.log_fd))
		return 255;
	if (h.mnt_size) {
		pid_t mp = fork_part(CLONE_FS, plans[2], h.mnt_size, h.log_fd, NULL);
		if (mp < 0)
			return fail("clone(CLONE_FS) for the mount phase", errno);
		if (!wait_ok(mp))
			return 255;
	}
	tsj_run_plan(plans[3], h.main_size, -1, h.log_fd);
	return 255;
}
