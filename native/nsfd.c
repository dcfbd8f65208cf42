/*
 * tsjail-nsfd: makes descriptors inside a jail's network namespace and hands
 * them to tsjail. It holds no policy: tsjail asks, this program answers.
 *
 *   tsjail-nsfd PID PPID USERNS
 *
 * fd 3 is an AF_UNIX SOCK_SEQPACKET socket to tsjail. At start it enters
 * /proc/PID/ns/user (when USERNS is 1: a rootless tsjail needs the jail's
 * user namespace to act on its network namespace; setns into a user namespace
 * needs a single-threaded process, hence a program of its own) and
 * /proc/PID/ns/net, then sends a hello (struct reply) and serves requests
 * (struct request) until tsjail closes fd 3. Each reply carries the new fd
 * (SCM_RIGHTS) when err is 0.
 *
 * OP_TUN opens /dev/net/tun as a TUN device named `name` and keeps it: its
 * packets are relayed over a new AF_UNIX SOCK_STREAM socket (tsjail gets the
 * other end) as frames of a 2-byte big-endian length and the packet, both
 * ways. Node cannot poll a character device without tying up a libuv pool
 * thread, it can poll a socket. When tsjail reads too slowly, packets from the
 * jail are dropped (as a full NIC queue would) instead of blocking requests.
 *
 * It dies with tsjail (PR_SET_PDEATHSIG) and when fd 3 or the relay socket
 * reaches EOF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTL 3
#define OP_SOCKET 1
#define OP_TUN 2
/* Bytes queued toward tsjail before packets from the jail are dropped. */
#define OUT_CAP (4u << 20)
#define FRAME_MAX 65535u

struct request {
	uint32_t op;
	int32_t a, b, c;
	char name[16];
};

struct reply {
	int32_t err;  /* 0, or the errno of the failed step */
	int32_t step; /* which call failed (STEP_*) */
};

enum { STEP_NONE, STEP_OPEN_NS, STEP_SETNS_USER, STEP_SETNS_NET, STEP_SOCKET, STEP_OPEN_TUN, STEP_TUNSETIFF, STEP_SOCKETPAIR, STEP_REQUEST };

static int send_reply(int err, int step, int fd)
{
	struct reply r = { err, step };
	struct iovec iov = { &r, sizeof(r) };
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(ctl, 0, sizeof(ctl));
		m.msg_control = ctl;
		m.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(CTL, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int enter(const char *pid, const char *ns, int type)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return send_reply(errno, STEP_OPEN_NS, -1), -1;
	if (setns(fd, type) < 0)
		return send_reply(errno, type == CLONE_NEWUSER ? STEP_SETNS_USER : STEP_SETNS_NET, -1), -1;
	close(fd);
	return 0;
}

/* The TUN relay's state: at most one device per factory. */
static int tun = -1, relay = -1;
static uint8_t *out, *in;
static size_t out_len, in_len;

static void open_tun(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		send_reply(errno, STEP_OPEN_TUN, -1);
		return;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		send_reply(errno, STEP_TUNSETIFF, -1);
		close(fd);
		return;
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
		send_reply(errno, STEP_SOCKETPAIR, -1);
		close(fd);
		return;
	}
	if (!out)
		out = malloc(OUT_CAP), in = malloc(FRAME_MAX + 2);
	tun = fd;
	relay = sp[0];
	send_reply(0, STEP_NONE, sp[1]);
	close(sp[1]);
}

static void serve_request(void)
{
	struct request q;
	ssize_t n = recv(CTL, &q, sizeof(q), 0);
	if (n == 0)
		exit(0);
	if (n != (ssize_t)sizeof(q)) {
		send_reply(n < 0 ? errno : EINVAL, STEP_REQUEST, -1);
		return;
	}
	if (q.op == OP_SOCKET) {
		int fd = socket(q.a, q.b | SOCK_CLOEXEC, q.c);
		if (fd < 0) {
			send_reply(errno, STEP_SOCKET, -1);
			return;
		}
		send_reply(0, STEP_NONE, fd);
		close(fd);
	} else if (q.op == OP_TUN && tun < 0) {
		q.name[15] = 0;
		open_tun(q.name);
	} else {
		send_reply(EINVAL, STEP_REQUEST, -1);
	}
}

/* A packet from the jail: queued as a frame for tsjail, or dropped when the queue is full. */
static void from_tun(void)
{
	static uint8_t pkt[FRAME_MAX];
	for (int i = 0; i < 64; i++) {
		ssize_t n = read(tun, pkt, sizeof(pkt));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			exit(0); /* the namespace is gone */
		if (out_len + 2 + (size_t)n > OUT_CAP)
			continue;
		out[out_len] = (uint8_t)(n >> 8);
		out[out_len + 1] = (uint8_t)n;
		memcpy(out + out_len + 2, pkt, (size_t)n);
		out_len += 2 + (size_t)n;
	}
}

static void flush_out(void)
{
	while (out_len) {
		ssize_t n = send(relay, out, out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			exit(0);
		}
		memmove(out, out + n, out_len - (size_t)n);
		out_len -= (size_t)n;
	}
}

/* Frames from tsjail: each complete one is written to the device as one packet. */
static void to_tun(void)
{
	for (;;) {
		size_t want = in_len < 2 ? 2 : 2 + (((size_t)in[0] << 8) | in[1]);
		ssize_t n = recv(relay, in + in_len, want - in_len, MSG_DONTWAIT);
		if (n == 0)
			exit(0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			exit(0);
		}
		in_len += (size_t)n;
		if (in_len >= 2 && in_len == 2 + (((size_t)in[0] << 8) | in[1])) {
			if (in_len > 2 && write(tun, in + 2, in_len - 2) < 0) {
				/* a packet the device refuses is lost, as on a wire */
			}
			in_len = 0;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != atoi(argv[2]))
		return 1; /* tsjail is already gone */
	signal(SIGPIPE, SIG_IGN);
	if (argv[3][0] == '1' && enter(argv[1], "user", CLONE_NEWUSER) < 0)
		return 1;
	if (enter(argv[1], "net", CLONE_NEWNET) < 0)
		return 1;
	if (send_reply(0, STEP_NONE, -1) < 0)
		return 1;
	for (;;) {
		struct pollfd p[3] = { { CTL, POLLIN, 0 }, { tun, POLLIN, 0 }, { relay, POLLIN, 0 } };
		if (out_len)
			p[2].events |= POLLOUT;
		if (out_len + 2 + FRAME_MAX > OUT_CAP)
			p[1].fd = -1; /* leave packets in the device's queue until there is room */
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents)
			serve_request();
		if (p[1].revents & (POLLIN | POLLERR | POLLHUP))
			from_tun();
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
			to_tun();
		if (p[2].revents & POLLOUT)
			flush_out();
		else if (out_len)
			flush_out();
	}
}
