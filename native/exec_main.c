/*
 * tsjail-exec: the -Me launcher. Node cannot create a user namespace from
 * its multi-threaded process, so tsjail execs this single-threaded program,
 * which keeps tsjail's pid:
 *
 *   tsjail-exec FD     FD holds a struct tsj_exec_hdr and one plan
 *
 * It resets the signal state Node left (as a cloned child does) and runs the
 * plan, which ends in the program's execve. Everything else is the plan's:
 * the id-map helper forked before unshare, unshare itself, the pid
 * namespace's PID 1, the mount phase in a CLONE_FS child (buildChildProgram
 * in src/plan/program.ts places them, with TSJ_OP_SPAWN and TSJ_OP_JOIN).
 * Failures are described on the header's log fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
	if (h.magic != TSJ_EXEC_MAGIC || h.abi != TSJ_ABI_VERSION || h.plan_size != len - sizeof h)
		return fail("plan header", EINVAL);
	/* The plan is relocated in place: it gets its own aligned copy. */
	uint8_t *plan = malloc(h.plan_size + 1);
	if (!plan)
		return fail("malloc(plan)", ENOMEM);
	memcpy(plan, buf + sizeof h, h.plan_size);
	free(buf);
	tsj_reset_signals();
	tsj_run_plan(plan, h.plan_size, -1, h.log_fd);
	return 255; /* the plan described its failure */
}
