/*
 * tsjail-init: PID 1 of a jail started with --init. The runner forks the
 * program (which gets pid 2 in the new pid namespace: the runner checks it)
 * and execs this file in PID 1 with argv ["init"], an empty environment, no
 * capabilities, no_new_privs and a seccomp filter that allows only the calls
 * below (see src/phases/init.ts). So PID 1 is not a copy of tsjail: nothing
 * of tsjail's command line, environment or memory is left in it.
 *
 * It forwards every signal it gets to the program, reaps every child, and
 * exits with the program's status (a signal becomes 128+n: PID 1 cannot
 * re-raise it on itself). Freestanding: no libc, so it runs in any jail root.
 */
#include <stdint.h>

#define SYS_rt_sigprocmask 14
#define SYS_exit_group 231
#define SYS_wait4 61
#define SYS_kill 62
#define SYS_rt_sigtimedwait 128
#define SIG_SETMASK 2
#define SIGCHLD 17
#define WNOHANG 1
#define PROGRAM 2

static long sys4(long nr, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

static void __attribute__((noreturn)) quit(int code)
{
	for (;;)
		sys4(SYS_exit_group, code, 0, 0, 0);
}

/* Reap every waiting child; the program's end is PID 1's. */
static void reap(void)
{
	int st;
	long p;
	while ((p = sys4(SYS_wait4, -1, (long)&st, WNOHANG, 0)) > 0) {
		if (p != PROGRAM)
			continue;
		if ((st & 0x7f) == 0)
			quit((st >> 8) & 0xff);
		quit(128 + (st & 0x7f));
	}
}

/* Entered with no return address on the stack: realign for the compiler's assumptions. */
void __attribute__((noreturn, force_align_arg_pointer)) _start(void)
{
	uint64_t all = ~0ULL;
	uint8_t info[128]; /* siginfo_t */
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, sizeof all);
	for (;;) {
		/* Before waiting: the program may have ended before the signals were blocked. */
		reap();
		long s = sys4(SYS_rt_sigtimedwait, (long)&all, (long)info, 0, sizeof all);
		if (s > 0 && s != SIGCHLD)
			sys4(SYS_kill, PROGRAM, s, 0, 0);
	}
}
