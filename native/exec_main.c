/*
 * tsjail-exec: the -Me launcher. Node cannot create a user namespace from
 * its multi-threaded process, so tsjail execs this single-threaded program,
 * which keeps tsjail's pid:
 *
 *   tsjail-exec FD     FD holds a struct tsj_exec_hdr, a helper plan and a main plan
 *
 * 1. fork a helper, still privileged in the parent namespaces;
 * 2. unshare(flags) in this process;
 * 3. release the helper, which runs its plan (it writes our id maps) and exits;
 * 4. run the main plan, which ends in execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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
	if (h.magic != TSJ_EXEC_MAGIC || h.abi != TSJ_ABI_VERSION || sizeof h + (size_t)h.helper_size + h.main_size != len)
		return fail("plan header", EINVAL);
	/* Plans are relocated in place: give each its own aligned copy. */
	uint8_t *helper = malloc(h.helper_size + 1), *plan = malloc(h.main_size + 1);
	if (!helper || !plan)
		return fail("malloc", ENOMEM);
	memcpy(helper, buf + sizeof h, h.helper_size);
	memcpy(plan, buf + sizeof h + h.helper_size, h.main_size);
	free(buf);

	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return fail("pipe2()", errno);
	pid_t hp = 0;
	if (h.helper_size) {
		hp = fork();
		if (hp < 0)
			return fail("fork(id-map helper)", errno);
		if (hp == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(255);
			tsj_run_plan(helper, h.helper_size, h.err_fd, h.log_fd);
			_exit(255);
		}
	}
	close(go[0]);
	if (h.unshare_flags && unshare((int)h.unshare_flags) < 0) {
		int e = errno;
		if (hp)
			kill(hp, SIGKILL);
		return fail("unshare()", e);
	}
	if (hp) {
		int st;
		(void)!write(go[1], "G", 1);
		while (waitpid(hp, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 255; /* the helper described its failure */
	}
	close(go[1]);
	tsj_reset_signals();
	tsj_run_plan(plan, h.main_size, h.err_fd, h.log_fd);
	return 255;
}
