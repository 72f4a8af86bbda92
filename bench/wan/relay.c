/* A WAN between two TUN devices, in user space: this kernel has no
 * sch_netem, and a TCP proxy cannot delay the handshake (the kernel accepts
 * before the proxy sees the connection), so curl's time_connect would not
 * show the round trip.  Every IP packet read from one device is written to
 * the other after RTT/2, paced to a rate as one shared link per direction,
 * with a bounded queue (tail drop, as a router's buffer).
 *
 *   relay CONF DEV_A DEV_B
 *
 * CONF holds "RTT_MS RATE_MBIT"; SIGHUP reads it again, so a bed changes
 * its round trip without restarting.  The devices are persistent TUN
 * devices without packet information (ip tuntap add mode tun); once this
 * prints "ready" the bed may move one into another network namespace, the
 * descriptor stays attached.  SIGTERM ends it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define SLOT 2048   /* the devices' MTU is 1500 */
#define SLOTS 16384 /* per direction: 32 MiB, > 150 ms at 1 Gbit/s */
#define BURST 64    /* packets read per wakeup and direction */

struct pkt {
	int64_t due_ns;
	uint16_t len;
	unsigned char data[SLOT];
};

struct dir {
	int in, out;
	struct pkt *q;
	size_t head, n;
	int64_t link_free_ns; /* when the last queued packet left the wire */
	unsigned long long dropped;
};

static volatile sig_atomic_t reload = 1, stop;
static int64_t half_rtt_ns;
static double ns_per_byte;

static void on_hup(int s)
{
	(void)s;
	reload = 1;
}

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int read_conf(const char *path)
{
	double rtt_ms, mbit;
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%lf %lf", &rtt_ms, &mbit) == 2 && rtt_ms >= 0 &&
	     mbit > 0;
	fclose(f);
	if (!ok)
		return -EINVAL;
	half_rtt_ns = (int64_t)(rtt_ms * 1e6 / 2);
	ns_per_byte = 8e3 / mbit; /* 8 bits at mbit * 1e6 bit/s, in ns */
	fprintf(stderr, "relay: rtt %.1f ms, rate %.0f Mbit/s\n", rtt_ms, mbit);
	return 0;
}

static int tun_open(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Reads what is waiting (up to BURST packets) into the queue. */
static void dir_read(struct dir *d)
{
	int i;

	for (i = 0; i < BURST; i++) {
		unsigned char buf[SLOT];
		ssize_t r = read(d->in, buf, sizeof(buf));
		int64_t t, start;
		struct pkt *p;

		if (r <= 0)
			return;
		if (d->n == SLOTS) {
			d->dropped++;
			continue;
		}
		t = now_ns();
		start = d->link_free_ns > t ? d->link_free_ns : t;
		d->link_free_ns = start + (int64_t)(r * ns_per_byte);
		p = &d->q[(d->head + d->n) % SLOTS];
		p->due_ns = d->link_free_ns + half_rtt_ns;
		p->len = (uint16_t)r;
		memcpy(p->data, buf, (size_t)r);
		d->n++;
	}
}

/* Writes what is due; returns ns until the next packet is, or -1. */
static int64_t dir_write(struct dir *d)
{
	int64_t t = now_ns();

	while (d->n) {
		struct pkt *p = &d->q[d->head];

		if (p->due_ns > t)
			return p->due_ns - t;
		/* a full device queue drops it, as a link would */
		if (write(d->out, p->data, p->len) < 0 && errno != EAGAIN)
			d->dropped++;
		d->head = (d->head + 1) % SLOTS;
		d->n--;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct dir d[2];
	int a, b, i;

	if (argc != 4) {
		fprintf(stderr, "usage: relay CONF DEV_A DEV_B\n");
		return 2;
	}
	a = tun_open(argv[2]);
	b = tun_open(argv[3]);
	if (a < 0 || b < 0) {
		fprintf(stderr, "relay: cannot attach %s/%s: %s\n", argv[2],
			argv[3], strerror(-(a < 0 ? a : b)));
		return 1;
	}
	memset(d, 0, sizeof(d));
	d[0].in = a;
	d[0].out = b;
	d[1].in = b;
	d[1].out = a;
	for (i = 0; i < 2; i++) {
		d[i].q = malloc(sizeof(struct pkt) * SLOTS);
		if (!d[i].q)
			return 1;
	}
	/* wake-ups within microseconds of a packet's due time */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	signal(SIGHUP, on_hup);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd pf[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
		int64_t next = -1, w;
		struct timespec ts, *tp = NULL;

		if (reload) {
			reload = 0;
			if (read_conf(argv[1]) < 0)
				fprintf(stderr, "relay: bad %s, kept\n",
					argv[1]);
		}
		for (i = 0; i < 2; i++) {
			w = dir_write(&d[i]);
			if (w >= 0 && (next < 0 || w < next))
				next = w;
		}
		if (next >= 0) {
			ts.tv_sec = next / 1000000000;
			ts.tv_nsec = next % 1000000000;
			tp = &ts;
		}
		if (ppoll(pf, 2, tp, NULL) < 0 && errno != EINTR)
			break;
		if (pf[0].revents & POLLIN)
			dir_read(&d[0]);
		if (pf[1].revents & POLLIN)
			dir_read(&d[1]);
	}
	fprintf(stderr, "relay: dropped %llu/%llu\n", d[0].dropped,
		d[1].dropped);
	return 0;
}
