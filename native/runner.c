/*
 * The plan runner: clone the child and, in it, execute the plan op by op.
 * Everything after clone() is in this file and uses raw syscalls only: the
 * child of a multi-threaded process (Node) may not take locks or allocate,
 * and with CLONE_VM it shares Node's memory, so it must not even write errno
 * (glibc's syscall() does): it touches only its own stack and plan copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tsjail.h"

#ifndef __x86_64__
#error "the raw syscall and clone trampolines are written for x86_64"
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#define CHILD_STACK (64 * 1024)

/* The kernel's struct sigaction (rt_sigaction takes this, not glibc's). */
struct k_sigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	uint64_t mask;
};

int tsj_abi_version(void) { return TSJ_ABI_VERSION; }

/* A syscall returning -errno, without touching errno. */
static long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define raw3(n, a, b, c) raw6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static long sys6(long nr, const int64_t a[6]) { return raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]); }

/* Every disposition back to SIG_DFL (Node ignores SIGPIPE and SIGXFSZ, and
 * CLONE_CLEAR_SIGHAND leaves ignored signals ignored), then an empty mask. */
void tsj_reset_signals(void)
{
	struct k_sigaction dfl = {0};
	uint64_t none = 0;
	for (int s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP)
			raw6(SYS_rt_sigaction, s, (long)&dfl, 0, sizeof(uint64_t), 0, 0);
	raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, sizeof(uint64_t), 0, 0);
}

static void report(int fd, uint32_t idx, long ret, int soft)
{
	struct tsj_report r = {.op_index = idx, .err = ret < 0 ? (int32_t)-ret : 0, .ret = ret, .soft = (uint32_t)soft};
	if (fd >= 0)
		raw3(SYS_write, fd, &r, sizeof r);
}

static void describe(int log_fd, const uint8_t *blob, const struct tsj_plan_hdr *h, uint32_t idx, long ret)
{
	if (log_fd < 0 || !h->desc_off)
		return;
	const uint32_t *descs = (const uint32_t *)(blob + h->desc_off);
	const char *d = (const char *)blob + descs[idx];
	const char *e = strerror((int)-ret); /* static table lookup in glibc */
	struct iovec {
		const void *b;
		size_t l;
	} v[3] = {{d, strlen(d)}, {": ", 2}, {e, strlen(e)}};
	(void)!syscall(SYS_writev, log_fd, v, 3);
	(void)!write(log_fd, "\n", 1);
}

static int errno_ok(const struct tsj_op *op, long ret)
{
	for (int i = 0; i < 4 && op->ok_errno[i]; i++)
		if (ret == -(long)op->ok_errno[i])
			return 1;
	return 0;
}

/* A malformed plan: nothing of it runs. ret carries the first bad op, or -1 for the header. */
static int reject(int fd, int err, int64_t at)
{
	struct tsj_report r = {.op_index = TSJ_BAD_PLAN_INDEX, .err = err, .ret = at};
	if (fd >= 0)
		raw3(SYS_write, fd, &r, sizeof r);
	return -err;
}

static int slot_ok(int64_t s) { return s >= 0 && s < TSJ_MAX_SLOTS; }
static int span_ok(uint64_t off, uint64_t len, uint32_t size) { return off <= size && len <= size - off; }

/* Every slot index and blob offset an op uses, checked before anything runs:
 * a malformed plan is rejected whole, never wrapped or read out of bounds. */
static int op_ok(const struct tsj_op *op, uint32_t size)
{
	if ((op->flags & TSJ_F_SAVE) && !slot_ok(op->save_slot))
		return 0;
	if ((op->flags & TSJ_F_COND) && !slot_ok(op->cond_slot))
		return 0;
	if ((op->flags & TSJ_F_PATCH) && (!slot_ok(op->patch_slot) || !span_ok(op->patch_off, (op->flags & TSJ_F_PATCH64) ? 8 : 4, size)))
		return 0;
	/* The hand-off ops dereference their struct and stack: both must lie in the blob. */
	if (op->nr == TSJ_OP_HANDOFF_THREAD || op->nr == TSJ_OP_HANDOFF_WAIT) {
		if (!(op->flags & TSJ_ARG_PTR(0)) || !span_ok((uint64_t)op->args[0], sizeof(struct tsj_handoff), size))
			return 0;
		if (op->nr == TSJ_OP_HANDOFF_THREAD &&
		    (!(op->flags & TSJ_ARG_PTR(1)) || op->args[2] < 4096 || !span_ok((uint64_t)op->args[1], (uint64_t)op->args[2], size)))
			return 0;
	}
	for (int k = 0; k < TSJ_ARGS; k++) {
		if ((op->flags & TSJ_ARG_PTR(k)) && !span_ok((uint64_t)op->args[k], 0, size))
			return 0;
		if ((op->flags & TSJ_ARG_LOAD(k)) && !span_ok((uint64_t)op->args[k], 4, size))
			return 0;
		if ((op->flags & TSJ_ARG_SLOT(k)) && !slot_ok(op->args[k]))
			return 0;
	}
	return 1;
}

/* The hand-off thread: it shares the plan's fd table but not its seccomp filter
 * (filters belong to threads, and it was created before the filter), so it may
 * make the calls the filter would refuse or notify while nobody listens yet. */
static void __attribute__((noreturn)) handoff_thread(struct tsj_handoff *h)
{
	while (!__atomic_load_n(&h->go, __ATOMIC_ACQUIRE))
		raw3(SYS_sched_yield, 0, 0, 0);
	char byte = 'L';
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &h->fd, sizeof h->fd);
	long r = raw3(SYS_sendmsg, h->sock, &m, MSG_NOSIGNAL);
	__atomic_store_n(&h->done, r < 0 ? (int32_t)r : 1, __ATOMIC_RELEASE);
	raw3(SYS_exit, 0, 0, 0);
	__builtin_unreachable();
}

static long clone3_on_stack(struct clone_args *ca, void (*fn)(void *), void *arg);

static long handoff_start(struct tsj_handoff *h, uint8_t *stack, uint64_t size)
{
	/* The top must be 16-byte aligned: clone3_on_stack calls fn from it. */
	uint64_t top = ((uint64_t)(uintptr_t)stack + size) & ~(uint64_t)15;
	struct clone_args ca = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
		.stack = (uint64_t)(uintptr_t)stack,
		.stack_size = top - (uint64_t)(uintptr_t)stack,
	};
	return clone3_on_stack(&ca, (void (*)(void *))handoff_thread, h);
}

static long handoff_wait(struct tsj_handoff *h, int64_t fd)
{
	h->fd = (int32_t)fd;
	__atomic_store_n(&h->go, 1, __ATOMIC_RELEASE);
	int32_t d;
	while (!(d = __atomic_load_n(&h->done, __ATOMIC_ACQUIRE)))
		__builtin_ia32_pause();
	return d < 0 ? d : 0;
}

/* A fork's segment (the ops only one of the two processes runs) ends within the plan. */
static int segment_ok(const struct tsj_op *op, uint32_t i, uint32_t n_ops)
{
	int64_t n = op->nr == TSJ_OP_INIT_FORK ? op->args[0] : op->nr == TSJ_OP_SPAWN ? op->args[1] : 0;
	return n >= 0 && (uint64_t)n <= (uint64_t)n_ops - i - 1;
}

/* The wait status of a child, waited for until it has ended. */
static long join(long pid)
{
	int st = 0;
	long r;
	while ((r = raw6(SYS_wait4, pid, (long)&st, 0, 0, 0, 0)) == -EINTR)
		;
	return r < 0 ? r : st;
}

/* Runs the plan; returns only on a fatal failure (after reporting it) or when
 * the plan ends without execve. A malformed plan is reported with op index
 * TSJ_BAD_PLAN_INDEX (see reject()). A child made by TSJ_OP_SPAWN exits 0
 * after its segment instead. */
int tsj_run_plan(uint8_t *blob, uint32_t size, int err_fd, int log_fd)
{
	const struct tsj_plan_hdr *h = (const struct tsj_plan_hdr *)blob;
	if (size < sizeof *h || h->magic != TSJ_PLAN_MAGIC || h->abi != TSJ_ABI_VERSION || h->size != size ||
	    !span_ok(h->ops_off, (uint64_t)h->n_ops * sizeof(struct tsj_op), size) || !span_ok(h->relocs_off, (uint64_t)h->n_relocs * 4, size))
		return reject(err_fd, EINVAL, -1);
	const uint32_t *relocs = (const uint32_t *)(blob + h->relocs_off);
	for (uint32_t i = 0; i < h->n_relocs; i++)
		if (!span_ok(relocs[i], 8, size) || !span_ok(*(const uint64_t *)(blob + relocs[i]), 0, size))
			return reject(err_fd, ERANGE, -1);
	const struct tsj_op *ops = (const struct tsj_op *)(blob + h->ops_off);
	for (uint32_t i = 0; i < h->n_ops; i++)
		if (!op_ok(&ops[i], size) || !segment_ok(&ops[i], i, h->n_ops))
			return reject(err_fd, ERANGE, i);
	for (uint32_t i = 0; i < h->n_relocs; i++) {
		uint64_t *w = (uint64_t *)(blob + relocs[i]);
		*w = (uint64_t)(uintptr_t)(blob + *w);
	}
	int64_t slots[TSJ_MAX_SLOTS] = {0};
	uint64_t seg_end = UINT64_MAX; /* in a TSJ_OP_SPAWN child: its segment's end */
	for (uint32_t i = 0; i < h->n_ops; i++) {
		const struct tsj_op *op = &ops[i];
		if (i == seg_end)
			raw3(SYS_exit_group, 0, 0, 0);
		if ((op->flags & TSJ_F_COND) && slots[op->cond_slot] < 0)
			continue;
		if (op->flags & TSJ_F_PATCH) {
			int64_t v = slots[op->patch_slot];
			if (op->flags & TSJ_F_PATCH64)
				memcpy(blob + op->patch_off, &v, 8);
			else {
				int32_t v32 = (int32_t)v;
				memcpy(blob + op->patch_off, &v32, 4);
			}
		}
		int64_t a[TSJ_ARGS];
		for (int k = 0; k < TSJ_ARGS; k++) {
			a[k] = op->args[k];
			if (op->flags & TSJ_ARG_PTR(k))
				a[k] = (int64_t)(uintptr_t)(blob + a[k]);
			else if (op->flags & TSJ_ARG_LOAD(k)) {
				int32_t v;
				memcpy(&v, blob + a[k], 4);
				a[k] = v;
			}
			else if (op->flags & TSJ_ARG_SLOT(k))
				a[k] = slots[a[k]];
		}
		long ret;
		if (op->nr == TSJ_OP_INIT_FORK) {
			/* Only planned without CLONE_VM. The child skips the next a[0] ops
			 * (PID 1's, which end in its execve) and goes on with the program's. */
			ret = raw6(SYS_clone, SIGCHLD, 0, 0, 0, 0, 0);
			if (ret == 0) {
				i += (uint32_t)a[0];
				continue;
			}
		} else if (op->nr == TSJ_OP_HANDOFF_THREAD) {
			ret = handoff_start((struct tsj_handoff *)(uintptr_t)a[0], (uint8_t *)(uintptr_t)a[1], (uint64_t)a[2]);
		} else if (op->nr == TSJ_OP_HANDOFF_WAIT) {
			ret = handoff_wait((struct tsj_handoff *)(uintptr_t)a[0], a[1]);
		} else if (op->nr == TSJ_OP_SPAWN) {
			/* Only planned in the single-threaded -Me launcher, never with CLONE_VM. */
			ret = raw6(SYS_clone, (a[0] & ~0xffL) | SIGCHLD, 0, 0, 0, 0, 0);
			if (ret == 0) {
				seg_end = (uint64_t)i + 1 + (uint64_t)a[1];
				continue;
			}
			if (ret > 0)
				i += (uint32_t)a[1];
		} else if (op->nr == TSJ_OP_JOIN) {
			ret = join(a[0]);
		} else {
			ret = sys6(op->nr, a);
		}
		int failed = (op->flags & TSJ_F_EXPECT) ? ret != op->expect : ret < 0;
		if (failed && errno_ok(op, ret))
			failed = 0;
		if (op->flags & TSJ_F_SAVE)
			slots[op->save_slot] = ret;
		if (!failed)
			continue;
		if (ret >= 0)
			ret = -EPROTO; /* an unexpected result, not an errno */
		if (op->flags & TSJ_F_SOFT) {
			report(err_fd, i, ret, 1);
			continue;
		}
		report(err_fd, i, ret, 0);
		if (!(op->flags & TSJ_F_QUIET))
			describe(log_fd, blob, h, i, ret);
		return (int)ret;
	}
	if (seg_end == h->n_ops)
		raw3(SYS_exit_group, 0, 0, 0);
	report(err_fd, h->n_ops, -ENOEXEC, 0); /* the plan must end in execve */
	return -ENOEXEC;
}

/* Memory of a CLONE_VM child: a header, the plan copy, then its stack. It
 * stays mapped until the parent knows the child exec'd or died (EOF on the
 * error pipe: the kernel drops the old memory before closing CLOEXEC fds). */
struct vm_region {
	uint64_t total;
	uint32_t plan_size;
	int32_t err_fd;
	uint64_t pad[6];
};

static void __attribute__((noreturn)) vm_child(struct vm_region *r)
{
	tsj_reset_signals();
	tsj_run_plan((uint8_t *)(r + 1), r->plan_size, r->err_fd, -1);
	raw3(SYS_exit_group, 127, 0, 0);
	__builtin_unreachable();
}

/* clone3 onto a new stack: the child starts with nothing of the parent's
 * frame, so it calls fn(arg) straight from registers that survive syscall. */
static long clone3_on_stack(struct clone_args *ca, void (*fn)(void *), void *arg)
{
	register long r12 __asm__("r12") = (long)fn;
	register long r13 __asm__("r13") = (long)arg;
	long ret;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "ud2\n"
			 "1:"
			 : "=a"(ret)
			 : "0"((long)SYS_clone3), "D"(ca), "S"(sizeof *ca), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Like tsj_spawn, sharing the parent's memory until execve (as posix_spawn
 * does): no page tables to copy. *region receives what tsj_release frees. */
long tsj_spawn_vm(const void *plan, uint32_t size, uint64_t clone_flags, int err_fd, uint64_t *region)
{
	size_t plan_room = (sizeof(struct vm_region) + size + 15) & ~(size_t)15;
	size_t total = plan_room + CHILD_STACK;
	struct vm_region *r = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	*r = (struct vm_region){.total = total, .plan_size = size, .err_fd = err_fd};
	memcpy(r + 1, plan, size);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	struct clone_args ca = {
		.flags = clone_flags | CLONE_VM | CLONE_CLEAR_SIGHAND,
		.exit_signal = SIGCHLD,
		.stack = (uint64_t)(uintptr_t)r + plan_room,
		.stack_size = CHILD_STACK,
	};
	long pid = clone3_on_stack(&ca, (void (*)(void *))vm_child, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		munmap(r, total);
	else
		*region = (uint64_t)(uintptr_t)r;
	return pid;
}

/* Release a waiting child: one byte, with fd as SCM_RIGHTS unless fd < 0. */
int tsj_send_fd(int sock, int fd)
{
	char byte = 'C';
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = {0};
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	if (fd < 0) {
		m.msg_control = NULL;
		m.msg_controllen = 0;
		return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

void tsj_release(uint64_t region)
{
	struct vm_region *r = (struct vm_region *)(uintptr_t)region;
	munmap(r, r->total);
}

/* Clone a child that runs a private copy of the plan. Returns the pid or
 * -errno. Signals are blocked across clone so that none of Node's handlers
 * can run in the child before it resets them. */
long tsj_spawn(const void *plan, uint32_t size, uint64_t clone_flags, int err_fd)
{
	uint8_t *copy = malloc(size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, plan, size);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);

	struct clone_args ca = {.flags = clone_flags | CLONE_CLEAR_SIGHAND, .exit_signal = SIGCHLD};
	long pid = syscall(SYS_clone3, &ca, sizeof ca);
	if (pid == -1 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL)) {
		/* Older kernels: no clone3 or no CLONE_CLEAR_SIGHAND; the child
		 * resets the handlers itself anyway. */
		ca.flags = clone_flags;
		pid = syscall(SYS_clone3, &ca, sizeof ca);
		if (pid == -1 && errno == ENOSYS)
			pid = syscall(SYS_clone, (unsigned long)clone_flags | SIGCHLD, 0, 0, 0, 0);
	}
	if (pid == 0) {
		tsj_reset_signals();
		tsj_run_plan(copy, size, err_fd, -1);
		_exit(127);
	}
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(copy);
	return pid < 0 ? -e : pid;
}
