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
 * OP_RELAY takes two connected stream sockets (attached to the request, with
 * bytes to write to each first) and relays between them with splice(2)
 * through a pipe per direction, so bulk TCP never passes through user space:
 * EOF becomes shutdown(SHUT_WR) on the other side (half-close), a reset
 * becomes a reset (SO_LINGER 0), and each direction holds at most a pipe's
 * worth of data (backpressure is the kernel's).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTL 3
#define OP_SOCKET 1
#define OP_TUN 2
#define OP_RELAY 3
#define MAX_RELAYS 4096
#define RELAY_PIPE (1 << 20)
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

enum { STEP_NONE, STEP_OPEN_NS, STEP_SETNS_USER, STEP_SETNS_NET, STEP_SOCKET, STEP_OPEN_TUN, STEP_TUNSETIFF, STEP_SOCKETPAIR, STEP_REQUEST, STEP_PIPE, STEP_RELAYS };

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

/* One relayed connection: side 0 and side 1; direction d copies side d to side 1-d. */
struct relay {
	int fd[2];
	int pipe[2][2];
	size_t in_pipe[2], cap[2];
	uint8_t *pending[2]; /* bytes to write to side 1-d before splicing */
	size_t pending_len[2], pending_off[2];
	int eof[2], shut[2];
};
static struct relay *relays[MAX_RELAYS];
static int n_relays;

static void relay_free(struct relay *r, int reset)
{
	for (int i = 0; i < 2; i++) {
		if (reset) {
			struct linger l = { 1, 0 };
			setsockopt(r->fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(r->fd[i]);
		close(r->pipe[i][0]);
		close(r->pipe[i][1]);
		free(r->pending[i]);
	}
	free(r);
}

/* Move what can move without blocking; 1 when the relay is over. */
static int relay_pump(struct relay *r)
{
	for (int d = 0; d < 2; d++) {
		int from = r->fd[d], to = r->fd[1 - d];
		while (r->pending_off[d] < r->pending_len[d]) {
			ssize_t n = send(to, r->pending[d] + r->pending_off[d], r->pending_len[d] - r->pending_off[d], MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN)
					break;
				return 2;
			}
			r->pending_off[d] += (size_t)n;
		}
		if (r->pending_off[d] < r->pending_len[d])
			continue;
		for (;;) {
			int moved = 0;
			if (!r->eof[d] && r->in_pipe[d] < r->cap[d]) {
				ssize_t n = splice(from, NULL, r->pipe[d][1], NULL, r->cap[d] - r->in_pipe[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n > 0)
					r->in_pipe[d] += (size_t)n, moved = 1;
				else if (n == 0) {
					/* splice can read a reset socket as EOF (the kernel sees it done before it looks at
					 * the error); the pending error tells a reset from a FIN, and a reset is passed on. */
					int err = 0;
					socklen_t len = sizeof(err);
					if (getsockopt(from, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
						return 2;
					r->eof[d] = 1;
				} else if (errno != EAGAIN)
					return 2;
			}
			if (r->in_pipe[d]) {
				ssize_t n = splice(r->pipe[d][0], NULL, to, NULL, r->in_pipe[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n > 0)
					r->in_pipe[d] -= (size_t)n, moved = 1;
				else if (n < 0 && errno != EAGAIN)
					return 2;
			}
			if (!moved)
				break;
		}
		if (r->eof[d] && !r->in_pipe[d] && !r->shut[d]) {
			shutdown(to, SHUT_WR);
			r->shut[d] = 1;
		}
	}
	return r->shut[0] && r->shut[1];
}

static short relay_events(struct relay *r, int side)
{
	short ev = 0;
	int d = side; /* reading side `side` is direction d */
	if (!r->eof[d] && r->in_pipe[d] < r->cap[d] && r->pending_off[d] >= r->pending_len[d])
		ev |= POLLIN;
	if (r->in_pipe[1 - side] || r->pending_off[1 - side] < r->pending_len[1 - side])
		ev |= POLLOUT;
	return ev;
}

static void open_relay(const struct request *q, const uint8_t *extra, size_t extra_len, const int *fds)
{
	if (n_relays >= MAX_RELAYS) {
		send_reply(EMFILE, STEP_RELAYS, -1);
		goto fail;
	}
	struct relay *r = calloc(1, sizeof(*r));
	if (!r) {
		send_reply(ENOMEM, STEP_RELAYS, -1);
		goto fail;
	}
	r->fd[0] = fds[0];
	r->fd[1] = fds[1];
	for (int d = 0; d < 2; d++) {
		if (pipe2(r->pipe[d], O_CLOEXEC | O_NONBLOCK) < 0) {
			int e = errno;
			if (d)
				close(r->pipe[0][0]), close(r->pipe[0][1]);
			free(r);
			send_reply(e, STEP_PIPE, -1);
			goto fail;
		}
		fcntl(fds[d], F_SETFL, fcntl(fds[d], F_GETFL) | O_NONBLOCK);
		/* Bigger pipes mean fewer calls per MiB; the default (64 KiB) stays where the system refuses. */
		int got = fcntl(r->pipe[d][0], F_SETPIPE_SZ, RELAY_PIPE);
		r->cap[d] = got > 0 ? (size_t)got : (1u << 16);
	}
	/* a: bytes for side 1 (read earlier from side 0), b: bytes for side 0 */
	size_t lens[2] = { (size_t)q->a, (size_t)q->b };
	if (lens[0] + lens[1] <= extra_len) {
		for (int d = 0; d < 2; d++) {
			if (!lens[d])
				continue;
			r->pending[d] = malloc(lens[d]);
			memcpy(r->pending[d], extra + (d ? lens[0] : 0), lens[d]);
			r->pending_len[d] = lens[d];
		}
	}
	relays[n_relays++] = r;
	send_reply(0, STEP_NONE, -1);
	/* The first pump may already meet the peer's reset (the early bytes were its trigger). */
	int over = relay_pump(r);
	if (over) {
		relays[--n_relays] = NULL;
		relay_free(r, over == 2);
	}
	return;
fail:
	close(fds[0]);
	close(fds[1]);
}

static void serve_request(void)
{
	static uint8_t buf[sizeof(struct request) + (256u << 10)];
	struct request q;
	int fds[2] = { -1, -1 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(CTL, &m, MSG_CMSG_CLOEXEC);
	if (n == 0)
		exit(0);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(2 * sizeof(int)))
			memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
	if (n < (ssize_t)sizeof(q)) {
		send_reply(n < 0 ? errno : EINVAL, STEP_REQUEST, -1);
		return;
	}
	memcpy(&q, buf, sizeof(q));
	if (q.op == OP_RELAY) {
		if (fds[0] < 0 || fds[1] < 0) {
			send_reply(EBADF, STEP_REQUEST, -1);
			return;
		}
		open_relay(&q, buf + sizeof(q), (size_t)n - sizeof(q), fds);
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
	/* Each relay holds two sockets and two pipes. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	static struct pollfd p[3 + 2 * MAX_RELAYS];
	if (send_reply(0, STEP_NONE, -1) < 0)
		return 1;
	for (;;) {
		p[0] = (struct pollfd){ CTL, POLLIN, 0 };
		p[1] = (struct pollfd){ tun, POLLIN, 0 };
		p[2] = (struct pollfd){ relay, POLLIN, 0 };
		if (out_len)
			p[2].events |= POLLOUT;
		if (out_len + 2 + FRAME_MAX > OUT_CAP)
			p[1].fd = -1; /* leave packets in the device's queue until there is room */
		int live = n_relays;
		for (int i = 0; i < live; i++)
			for (int s = 0; s < 2; s++)
			{
				/* A side nothing is wanted from is left out: its hang-up would only wake the loop in vain. */
				short ev = relay_events(relays[i], s);
				p[3 + 2 * i + s] = (struct pollfd){ ev ? relays[i]->fd[s] : -1, ev, 0 };
			}
		if (poll(p, 3 + 2 * (nfds_t)live, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = live - 1; i >= 0; i--) {
			if (!p[3 + 2 * i].revents && !p[4 + 2 * i].revents)
				continue;
			int over = relay_pump(relays[i]);
			if (over) {
				relay_free(relays[i], over == 2);
				relays[i] = relays[--n_relays];
				relays[n_relays] = NULL;
			}
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
