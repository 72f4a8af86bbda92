/* Unit tests of http.c's retry loop (deadline, backoff, Retry-After, what is
 * sent again and what is not), its counters and HTTP_PROXY, and of api.c's
 * retry decisions for DELETE and the creating POST.  The server is a thread
 * in this process answering canned steps on 127.0.0.1; time bounds have
 * wide margins, since test machines are noisy (and valgrind is slow). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "check.h"
#include "http.h"
#include "log.h"

#define DS "5f0000000000000000000001"
#define TAG "5f00000000000000000000aa"
#define TAG2 "5f00000000000000000000bb"
#define NEW_TAG "5f00000000000000000000cc"
#define TOKEN "s3cr3t-t0ken"

/* --- the canned server --- */

enum srv_act {
	SRV_RESPOND, /* answer status, headers, body */
	SRV_CLOSE,   /* read the request, close without a byte */
	SRV_HANG,    /* read the request, never answer */
};

struct srv_step {
	enum srv_act act;
	int status;
	const char *headers; /* extra header lines, each ending in \r\n */
	const char *body;
};

#define SRV_MAX_CONN 16
#define SRV_MAX_LOG 32
#define SRV_BUF 16384

struct srv_conn {
	int fd; /* -1: free */
	bool hung;
	size_t len;
	char buf[SRV_BUF];
};

struct srv {
	int lfd;
	int port;
	int stop[2];
	pthread_t thread;
	pthread_mutex_t lock; /* guards the fields below */
	const struct srv_step *steps;
	size_t nsteps, next;
	char log[SRV_MAX_LOG][512]; /* "METHOD target" of each request */
	size_t nlog;
	int accepted;
	struct srv_conn conn[SRV_MAX_CONN];
};

static void srv_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static const char *srv_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 404:
		return "Not Found";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Whatever";
	}
}

static void srv_close(struct srv_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->hung = false;
}

/* Handles every complete request in c's buffer. */
static void srv_serve(struct srv *s, struct srv_conn *c)
{
	for (;;) {
		char *end, *cl, *sp, line[512], out[SRV_BUF];
		size_t head, body_len = 0, total, n;
		struct srv_step step = {.act = SRV_RESPOND, .status = 599};

		if (c->fd < 0 || c->hung)
			return;
		c->buf[c->len] = '\0';
		end = strstr(c->buf, "\r\n\r\n");
		if (!end)
			return;
		head = (size_t)(end - c->buf) + 4;
		cl = strcasestr(c->buf, "\r\nContent-Length:");
		if (cl && cl < end)
			body_len = strtoul(cl + 17, NULL, 10);
		total = head + body_len;
		if (c->len < total)
			return;
		n = strcspn(c->buf, "\r");
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, c->buf, n);
		line[n] = '\0';
		/* "GET /x HTTP/1.1" -> "GET /x" */
		sp = strrchr(line, ' ');
		if (sp && sp != strchr(line, ' '))
			*sp = '\0';

		pthread_mutex_lock(&s->lock);
		if (s->nlog < SRV_MAX_LOG)
			snprintf(s->log[s->nlog++], sizeof(s->log[0]), "%s",
				 line);
		if (s->next < s->nsteps)
			step = s->steps[s->next++];
		pthread_mutex_unlock(&s->lock);

		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
		switch (step.act) {
		case SRV_CLOSE:
			srv_close(c);
			return;
		case SRV_HANG:
			c->hung = true;
			return;
		case SRV_RESPOND:
			n = (size_t)snprintf(
			    out, sizeof(out),
			    "HTTP/1.1 %d %s\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: %zu\r\n%s\r\n%s",
			    step.status, srv_reason(step.status),
			    step.body ? strlen(step.body) : 0,
			    step.headers ? step.headers : "",
			    step.body ? step.body : "");
			srv_write_all(c->fd, out, n < sizeof(out) ? n : 0);
			break;
		}
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[SRV_MAX_CONN + 2];
		int map[SRV_MAX_CONN + 2];
		nfds_t np = 0;
		int i;

		p[np].fd = s->stop[0];
		p[np++].events = POLLIN;
		p[np].fd = s->lfd;
		p[np++].events = POLLIN;
		for (i = 0; i < SRV_MAX_CONN; i++) {
			if (s->conn[i].fd < 0 || s->conn[i].hung)
				continue;
			map[np] = i;
			p[np].fd = s->conn[i].fd;
			p[np++].events = POLLIN;
		}
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN) {
			int fd = accept(s->lfd, NULL, NULL);

			for (i = 0; fd >= 0 && i < SRV_MAX_CONN; i++) {
				if (s->conn[i].fd < 0) {
					s->conn[i].fd = fd;
					fd = -1;
				}
			}
			if (fd >= 0)
				close(fd);
			pthread_mutex_lock(&s->lock);
			s->accepted++;
			pthread_mutex_unlock(&s->lock);
		}
		for (i = 2; i < (int)np; i++) {
			struct srv_conn *c = &s->conn[map[i]];
			ssize_t r;

			if (!p[i].revents)
				continue;
			r = recv(c->fd, c->buf + c->len, SRV_BUF - 1 - c->len,
				 0);
			if (r <= 0) {
				srv_close(c);
				continue;
			}
			c->len += (size_t)r;
			srv_serve(s, c);
			if (c->fd >= 0 && c->len >= SRV_BUF - 1)
				srv_close(c);
		}
	}
	return NULL;
}

static int srv_start(struct srv *s, const struct srv_step *steps, size_t nsteps)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < SRV_MAX_CONN; i++)
		s->conn[i].fd = -1;
	s->steps = steps;
	s->nsteps = nsteps;
	pthread_mutex_init(&s->lock, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s->lfd, 16) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen) || pipe(s->stop))
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, srv_main, s) ? -1 : 0;
}

static void srv_stop(struct srv *s)
{
	int i;

	if (write(s->stop[1], "x", 1) != 1)
		abort();
	pthread_join(s->thread, NULL);
	for (i = 0; i < SRV_MAX_CONN; i++)
		if (s->conn[i].fd >= 0)
			close(s->conn[i].fd);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
	pthread_mutex_destroy(&s->lock);
}

static size_t srv_nlog(struct srv *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->nlog;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* A free port nobody listens on: bound, then closed. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 9;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &alen))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* --- log capture: counts, and the token must never show --- */

struct captured {
	pthread_mutex_t lock;
	int warns;
	int retries; /* DEBUG lines announcing another attempt */
	int token_seen;
	char last_warn[1024];
};

static struct captured cap = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void capture_sink(enum log_level level, const char *line, void *arg)
{
	struct captured *c = arg;

	pthread_mutex_lock(&c->lock);
	if (strstr(line, TOKEN))
		c->token_seen++;
	if (level == LOG_WARN) {
		c->warns++;
		snprintf(c->last_warn, sizeof(c->last_warn), "%s", line);
	}
	if (level == LOG_DEBUG && strstr(line, ", attempt "))
		c->retries++;
	pthread_mutex_unlock(&c->lock);
}

static void capture_reset(void)
{
	pthread_mutex_lock(&cap.lock);
	cap.warns = 0;
	cap.retries = 0;
	cap.last_warn[0] = '\0';
	pthread_mutex_unlock(&cap.lock);
}

/* --- helpers --- */

static struct http *client(int port, long timeout_ms)
{
	struct http_config cfg = {0};
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	cfg.base_url = url;
	cfg.token = TOKEN;
	cfg.timeout_ms = timeout_ms;
	return http_new(&cfg);
}

static long elapsed_ms(int64_t t0)
{
	return (long)(http_now_ms() - t0);
}

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

static void report(const char *name, long ms)
{
	fprintf(stderr, "%-40s %6ld ms\n", name, ms);
}

/* --- http_send --- */

static void test_503_twice_then_200(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 503, NULL, "{\"code\":\"BUSY\"}"},
	    {SRV_RESPOND, 503, NULL, "{\"code\":\"BUSY\"}"},
	    {SRV_RESPOND, 200, NULL, "[1,2,3]"},
	};
	struct http_response resp;
	struct http_stats st;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	capture_reset();
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets?pageSize=1", NULL,
				      0, &resp),
		  0);
	ms = elapsed_ms(t0);
	CHECK_INT(resp.status, 200);
	CHECK_STR(resp.body, "[1,2,3]");
	CHECK_INT(resp.attempts, 3);
	CHECK(resp.resent);
	CHECK_INT(srv_nlog(&s), 3);
	/* the token is the last query parameter of every attempt */
	CHECK_STR(s.log[2], "GET /v1/datasets?pageSize=1&token=" TOKEN);
	/* backoff: at most 100 + 200 ms of sleep */
	CHECK(ms < 3000);
	CHECK_INT(cap.retries, 2);
	CHECK_INT(cap.warns, 0);
	http_get_stats(h, &st);
	CHECK_INT(st.requests, 1);
	CHECK_INT(st.retries, 2);
	CHECK_INT(st.failures, 0);
	CHECK_INT(st.bytes_received, 2 * 15 + 7);
	CHECK_STR(st.last_error, "");
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("503 twice then 200", ms);
}

static void test_429_retry_after(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 429, "Retry-After: 1\r\n", "{\"code\":\"TOO_MANY\"}"},
	    {SRV_RESPOND, 200, NULL, "[]"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  0);
	ms = elapsed_ms(t0);
	CHECK_INT(resp.attempts, 2);
	/* a 429 was not acted on: the second copy is no "resend" */
	CHECK(!resp.resent);
	CHECK(ms >= 950);
	CHECK(ms < 5000);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("429 with Retry-After: 1", ms);
}

/* A Retry-After beyond the deadline: no point waiting, -EAGAIN now. */
static void test_429_retry_after_past_deadline(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 429, "Retry-After: 30\r\n", "{}"},
	    {SRV_RESPOND, 200, NULL, "[]"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 2000);
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  -EAGAIN);
	ms = elapsed_ms(t0);
	CHECK_INT(resp.status, 429);
	CHECK_INT(resp.attempts, 1);
	CHECK(ms < 1500);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("429 with Retry-After past the deadline", ms);
}

static void test_closed_without_answer(void)
{
	static const struct srv_step steps[] = {
	    {SRV_CLOSE, 0, NULL, NULL},
	    {SRV_RESPOND, 200, NULL, "[]"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  0);
	ms = elapsed_ms(t0);
	CHECK_INT(resp.attempts, 2);
	CHECK(resp.resent);
	CHECK_INT(srv_nlog(&s), 2);
	CHECK(ms < 3000);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("connection closed without an answer", ms);
}

static void test_deadline_no_answer(void)
{
	static const struct srv_step steps[] = {
	    {SRV_HANG, 0, NULL, NULL},
	    {SRV_HANG, 0, NULL, NULL},
	};
	struct http_response resp;
	struct http_stats st;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 1000);
	capture_reset();
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  -ETIMEDOUT);
	ms = elapsed_ms(t0);
	CHECK_INT(resp.status, 0);
	/* the one attempt had the whole budget */
	CHECK_INT(resp.attempts, 1);
	CHECK(ms >= 900);
	CHECK(ms < 4000);
	/* a final transport failure is logged once, by http.c */
	CHECK_INT(cap.warns, 1);
	CHECK(strstr(cap.last_warn, "GET /v1/datasets failed: status=- "
				    "code=- request_id=- ms=") != NULL);
	CHECK(strstr(cap.last_warn, " attempts=1: ") != NULL);
	CHECK(resp.elapsed_ms >= 900);
	http_get_stats(h, &st);
	CHECK_INT(st.failures, 1);
	CHECK(strncmp(st.last_error, "GET /v1/datasets: ", 18) == 0);
	CHECK(strstr(st.last_error, TOKEN) == NULL);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("server never answers (deadline 1 s)", ms);
}

static void test_503_until_attempts_run_out(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 503, NULL, ""},   {SRV_RESPOND, 503, NULL, ""},
	    {SRV_RESPOND, 503, NULL, ""},   {SRV_RESPOND, 503, NULL, ""},
	    {SRV_RESPOND, 503, NULL, ""},   {SRV_RESPOND, 503, NULL, ""},
	    {SRV_RESPOND, 200, NULL, "[]"},
	};
	struct http_response resp;
	struct http_stats st;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 30000);
	capture_reset();
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  -EIO);
	ms = elapsed_ms(t0);
	CHECK_INT(resp.status, 503);
	CHECK_INT(resp.attempts, HTTP_RETRY_MAX_ATTEMPTS);
	CHECK_INT(srv_nlog(&s), HTTP_RETRY_MAX_ATTEMPTS);
	/* sleeps of at most 100 + 200 + 400 + 800 + 1600 ms */
	CHECK(ms < 8000);
	/* a final status is the caller's to log (with the error body) */
	CHECK_INT(cap.warns, 0);
	http_get_stats(h, &st);
	CHECK_INT(st.retries, HTTP_RETRY_MAX_ATTEMPTS - 1);
	CHECK_STR(st.last_error, "GET /v1/datasets: HTTP 503");
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("503 until the attempts run out", ms);
}

static void test_503_until_deadline(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 503, "Retry-After: 1\r\n", ""},
	    {SRV_RESPOND, 503, "Retry-After: 1\r\n", ""},
	    {SRV_RESPOND, 503, "Retry-After: 1\r\n", ""},
	    {SRV_RESPOND, 503, "Retry-After: 1\r\n", ""},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;
	int64_t t0;
	long ms;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 1500);
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  -EIO);
	ms = elapsed_ms(t0);
	/* at 0 s and 1 s; 2 s would be past the deadline, so the 503 of
	 * the second attempt is the answer, at once */
	CHECK_INT(resp.attempts, 2);
	CHECK_INT(resp.status, 503);
	CHECK(ms >= 950);
	CHECK(ms < 1500 + 1500);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("503 with Retry-After until the deadline", ms);
}

static void test_refused(void)
{
	struct http_response resp;
	struct http *h;
	int64_t t0;
	long ms;

	/* a server that refuses may be restarting: it is tried until the
	 * deadline, not only HTTP_RETRY_MAX_ATTEMPTS times */
	h = client(closed_port(), 3000);
	capture_reset();
	t0 = http_now_ms();
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  -ECONNREFUSED);
	ms = elapsed_ms(t0);
	CHECK(resp.attempts > 1);
	/* nothing reached a server */
	CHECK(!resp.resent);
	CHECK(ms >= 2500);
	CHECK(ms < 3000 + 2000);
	CHECK_INT(cap.warns, 1);
	CHECK_INT(cap.retries, (int)resp.attempts - 1);
	http_response_dispose(&resp);
	http_free(h);
	report("connection refused", ms);
}

static void test_not_retried_statuses(void)
{
	static const int statuses[] = {400, 401, 403, 404, 409, 501};
	size_t i;

	for (i = 0; i < NSTEPS(statuses); i++) {
		struct srv_step steps[] = {
		    {SRV_RESPOND, statuses[i], NULL, "{}"},
		    {SRV_RESPOND, 200, NULL, "[]"},
		};
		struct http_response resp;
		struct srv s;
		struct http *h;

		CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
		h = client(s.port, 20000);
		CHECK_INT(
		    http_request_simple(h, "GET", "/v1/x", NULL, 0, &resp),
		    http_errno(statuses[i], NULL));
		CHECK_INT(resp.attempts, 1);
		CHECK_INT(srv_nlog(&s), 1);
		http_response_dispose(&resp);
		http_free(h);
		srv_stop(&s);
	}
}

/* http_request_simple: a POST is not idempotent. */
static void test_post_not_resent_after_5xx(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 503, NULL, "{}"},
	    {SRV_RESPOND, 201, NULL, "{\"id\":\"" TAG "\"}"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	CHECK_INT(http_request_simple(h, "POST", "/v1/x", "{}", 2, &resp),
		  -EIO);
	CHECK_INT(resp.attempts, 1);
	CHECK_INT(srv_nlog(&s), 1);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
}

static void test_post_resent_after_429(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 429, NULL, "{}"},
	    {SRV_RESPOND, 201, NULL, "{\"id\":\"" TAG "\"}"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	CHECK_INT(http_request_simple(h, "POST", "/v1/x", "{}", 2, &resp), 0);
	CHECK_INT(resp.status, 201);
	CHECK_INT(resp.attempts, 2);
	CHECK(!resp.resent);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
}

struct verify {
	int answer;
	int calls;
	long failed_status;
};

static int verify_cb(const struct http_response *failed, void *arg)
{
	struct verify *v = arg;

	v->calls++;
	v->failed_status = failed->status;
	return v->answer;
}

static void test_post_verify(void)
{
	static const struct {
		const char *name;
		int answer;
		int rc;
		unsigned attempts;
		size_t requests;
	} cases[] = {
	    {"not applied: sent again", 0, 0, 2, 2},
	    {"applied: done", 1, 0, 1, 1},
	    {"cannot tell: the failure stands", -EIO, -EIO, 1, 1},
	};
	size_t i;

	for (i = 0; i < NSTEPS(cases); i++) {
		static const struct srv_step steps[] = {
		    {SRV_CLOSE, 0, NULL, NULL},
		    {SRV_RESPOND, 201, NULL, "{\"id\":\"" TAG "\"}"},
		};
		struct verify v = {.answer = cases[i].answer};
		struct http_req req = {
		    .method = "POST",
		    .path_query = "/v1/x",
		    .body = "{}",
		    .body_len = 2,
		    .verify_cb = verify_cb,
		    .verify_arg = &v,
		};
		struct http_response resp;
		struct srv s;
		struct http *h;
		int rc;

		CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
		h = client(s.port, 20000);
		rc = http_send(h, &req, &resp);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		CHECK_INT(v.calls, 1);
		CHECK_INT(v.failed_status, 0);
		CHECK_INT(resp.attempts, cases[i].attempts);
		CHECK_INT(srv_nlog(&s), cases[i].requests);
		if (cases[i].answer == 1)
			CHECK(resp.status == 0 && resp.body == NULL);
		/* a POST gets a connection of its own, so curl never
		 * resends it on a reused one that died */
		http_response_dispose(&resp);
		http_free(h);
		srv_stop(&s);
	}
}

/* Not idempotent, no verify_cb: a cut answer is final. */
static void test_post_closed_not_resent(void)
{
	static const struct srv_step steps[] = {
	    {SRV_CLOSE, 0, NULL, NULL},
	    {SRV_RESPOND, 201, NULL, "{\"id\":\"" TAG "\"}"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	CHECK_INT(http_request_simple(h, "POST", "/v1/x", "{}", 2, &resp),
		  -EIO);
	CHECK_INT(resp.attempts, 1);
	CHECK_INT(srv_nlog(&s), 1);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
}

/* A POST on a pool whose connection the server keeps alive still opens a
 * connection of its own. */
static void test_post_fresh_connection(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 200, NULL, "[]"},
	    {SRV_RESPOND, 200, NULL, "[]"},
	    {SRV_RESPOND, 201, NULL, "{}"},
	};
	struct http_response resp;
	struct srv s;
	struct http *h;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	CHECK_INT(http_request_simple(h, "GET", "/v1/a", NULL, 0, &resp), 0);
	http_response_dispose(&resp);
	CHECK_INT(http_request_simple(h, "GET", "/v1/b", NULL, 0, &resp), 0);
	http_response_dispose(&resp);
	pthread_mutex_lock(&s.lock);
	CHECK_INT(s.accepted, 1);
	pthread_mutex_unlock(&s.lock);
	CHECK_INT(http_request_simple(h, "POST", "/v1/c", "{}", 2, &resp), 0);
	http_response_dispose(&resp);
	pthread_mutex_lock(&s.lock);
	CHECK_INT(s.accepted, 2);
	pthread_mutex_unlock(&s.lock);
	http_free(h);
	srv_stop(&s);
}

/* A caller-given deadline already gone: nothing is sent. */
static void test_deadline_given(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 200, NULL, "[]"},
	};
	struct http_req req = {
	    .method = "GET",
	    .path_query = "/v1/x",
	    .idempotent = true,
	};
	struct http_response resp;
	struct srv s;
	struct http *h;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	h = client(s.port, 20000);
	req.deadline_ms = http_now_ms() - 1;
	CHECK_INT(http_send(h, &req, &resp), -ETIMEDOUT);
	CHECK_INT(resp.attempts, 0);
	CHECK_INT(srv_nlog(&s), 0);
	http_response_dispose(&resp);
	req.deadline_ms = http_deadline(h);
	CHECK_INT(http_send(h, &req, &resp), 0);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
}

/* --- HTTP_PROXY --- */

static void test_http_proxy(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 200, NULL, "[]"},
	};
	struct http_config cfg = {0};
	struct http_response resp;
	struct srv s;
	struct http *h;
	char proxy[64];

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", s.port);
	setenv("HTTP_PROXY", proxy, 1);
	cfg.base_url = "http://api.lightly.invalid";
	cfg.token = TOKEN;
	cfg.timeout_ms = 5000;

	/* upper case alone: used for an http:// server */
	h = http_new(&cfg);
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  0);
	CHECK_INT(srv_nlog(&s), 1);
	CHECK_STR(s.log[0], "GET http://api.lightly.invalid/v1/datasets"
			    "?token=" TOKEN);
	http_response_dispose(&resp);
	http_free(h);

	/* the lower-case one wins when set (here: to a closed port) */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", closed_port());
	setenv("http_proxy", proxy, 1);
	cfg.timeout_ms = 300;
	h = http_new(&cfg);
	CHECK_INT(http_request_simple(h, "GET", "/v1/datasets", NULL, 0, &resp),
		  -ECONNREFUSED);
	CHECK_INT(srv_nlog(&s), 1);
	http_response_dispose(&resp);
	http_free(h);

	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	srv_stop(&s);
}

/* --- api.c --- */

static struct api *api_client(int port, long timeout_ms, struct http **h)
{
	*h = client(port, timeout_ms);
	return api_new(*h);
}

static void test_api_delete_resent(void)
{
	static const struct {
		const char *name;
		struct srv_step first;
		const char *second_body;
		int rc;
	} cases[] = {
	    {"cut answer, then TAG_UNKNOWN: deleted",
	     {SRV_CLOSE, 0, NULL, NULL},
	     "{\"code\":\"TAG_UNKNOWN\",\"error\":\"no tag\"}",
	     0},
	    {"503, then TAG_UNKNOWN: deleted",
	     {SRV_RESPOND, 503, NULL, "{}"},
	     "{\"code\":\"TAG_UNKNOWN\",\"error\":\"no tag\"}",
	     0},
	    {"429, then TAG_UNKNOWN: never was",
	     {SRV_RESPOND, 429, NULL, "{}"},
	     "{\"code\":\"TAG_UNKNOWN\",\"error\":\"no tag\"}",
	     -ENOENT},
	    {"cut answer, then DATASET_UNKNOWN",
	     {SRV_CLOSE, 0, NULL, NULL},
	     "{\"code\":\"DATASET_UNKNOWN\",\"error\":\"no ds\"}",
	     -ENOENT},
	    {"TAG_UNKNOWN at once",
	     {SRV_RESPOND, 404, NULL,
	      "{\"code\":\"TAG_UNKNOWN\",\"error\":\"no tag\"}"},
	     "{}",
	     -ENOENT},
	};
	size_t i;

	for (i = 0; i < NSTEPS(cases); i++) {
		struct srv_step steps[] = {
		    cases[i].first,
		    {SRV_RESPOND, 404, NULL, cases[i].second_body},
		};
		struct srv s;
		struct http *h;
		struct api *a;
		int rc;

		CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
		a = api_client(s.port, 20000, &h);
		capture_reset();
		rc = api_delete_tag(a, DS, TAG);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		CHECK_STR(s.log[0], "DELETE /v1/datasets/" DS "/tags/" TAG
				    "?token=" TOKEN);
		/* a failure is logged once; a success not at all */
		CHECK_INT(cap.warns, rc ? 1 : 0);
		/* method, route, status, code, request id, ms: no token */
		if (rc == -ENOENT && cases[i].first.status == 404)
			CHECK(strstr(cap.last_warn,
				     "DELETE /v1/datasets/" DS "/tags/" TAG
				     " failed: status=404 code=TAG_UNKNOWN "
				     "request_id=- ms=") != NULL);
		CHECK(strstr(cap.last_warn, TOKEN) == NULL);
		api_free(a);
		http_free(h);
		srv_stop(&s);
	}
}

#define TAG_JSON(id, name, prev, mask)                                         \
	"{\"id\":\"" id "\",\"prevTagId\":" prev ",\"name\":\"" name "\","     \
	"\"bitMaskData\":\"" mask "\",\"totSize\":7,\"createdAt\":1}"

static void test_api_create_checked(void)
{
	static const struct {
		const char *name;
		size_t nsteps;
		struct srv_step steps[3];
		int rc;
		const char *id;
		size_t requests;
		const char *third; /* request line, or NULL */
	} cases[] = {
	    {"502, the tag is there: its id",
	     2,
	     {{SRV_RESPOND, 502, NULL, "bad gateway"},
	      {SRV_RESPOND, 200, NULL,
	       "[" TAG_JSON(TAG, "initial-tag", "null", "0x7f") "," TAG_JSON(
		   NEW_TAG, "night", "\"" TAG "\"", "0x59") "]"}},
	     0,
	     NEW_TAG,
	     2,
	     NULL},
	    {"cut answer, no such tag: POST again",
	     3,
	     {{SRV_CLOSE, 0, NULL, NULL},
	      {SRV_RESPOND, 200, NULL,
	       "[" TAG_JSON(TAG, "initial-tag", "null", "0x7f") "]"},
	      {SRV_RESPOND, 201, NULL, "{\"id\":\"" NEW_TAG "\"}"}},
	     0,
	     NEW_TAG,
	     3,
	     "POST /v1/datasets/" DS "/tags?token=" TOKEN},
	    {"503, a tag of that name but another mask: POST again",
	     3,
	     {{SRV_RESPOND, 503, NULL, "{}"},
	      {SRV_RESPOND, 200, NULL,
	       "[" TAG_JSON(TAG2, "night", "\"" TAG "\"", "0x1") "]"},
	      {SRV_RESPOND, 409, NULL,
	       "{\"code\":\"TAG_NAME_EXISTS\",\"error\":\"taken\"}"}},
	     -EEXIST,
	     "",
	     3,
	     "POST /v1/datasets/" DS "/tags?token=" TOKEN},
	    {"503, the check fails: the 503 stands",
	     2,
	     {{SRV_RESPOND, 503, NULL, "{}"},
	      {SRV_RESPOND, 404, NULL,
	       "{\"code\":\"DATASET_UNKNOWN\",\"error\":\"gone\"}"}},
	     -EIO,
	     "",
	     2,
	     NULL},
	    {"400: no check, no retry",
	     1,
	     {{SRV_RESPOND, 400, NULL,
	       "{\"code\":\"BAD_REQUEST\",\"error\":\"no\"}"}},
	     -EINVAL,
	     "",
	     1,
	     NULL},
	    {"429: POST again without a check",
	     2,
	     {{SRV_RESPOND, 429, NULL, "{}"},
	      {SRV_RESPOND, 201, NULL, "{\"id\":\"" NEW_TAG "\"}"}},
	     0,
	     NEW_TAG,
	     2,
	     NULL},
	};
	size_t i;

	for (i = 0; i < NSTEPS(cases); i++) {
		char id[API_ID_LEN + 1] = "x";
		struct srv s;
		struct http *h;
		struct api *a;
		int rc;

		CHECK_INT(srv_start(&s, cases[i].steps, cases[i].nsteps), 0);
		a = api_client(s.port, 20000, &h);
		rc = api_create_tag(a, DS, "night", TAG, "0x59", 7, id);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		CHECK_STR(id, cases[i].id);
		CHECK_INT(srv_nlog(&s), cases[i].requests);
		if (cases[i].requests >= 2 && cases[i].steps[0].status != 429)
			CHECK_STR(s.log[1],
				  "GET /v1/datasets/" DS "/tags?token=" TOKEN);
		if (cases[i].third)
			CHECK_STR(s.log[2], cases[i].third);
		api_free(a);
		http_free(h);
		srv_stop(&s);
	}
}

static void test_api_create_initial_checked(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 500, NULL, "{}"},
	    {SRV_RESPOND, 200, NULL,
	     "[" TAG_JSON(TAG, "initial-tag", "null", "0x7f") "]"},
	};
	char id[API_ID_LEN + 1];
	struct srv s;
	struct http *h;
	struct api *a;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	a = api_client(s.port, 20000, &h);
	CHECK_INT(api_create_initial_tag(a, DS, NULL, NULL, id), 0);
	CHECK_STR(id, TAG);
	CHECK_INT(srv_nlog(&s), 2);
	api_free(a);
	http_free(h);
	srv_stop(&s);
}

static void test_api_stats_json(void)
{
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 503, NULL, "{}"},
	    {SRV_RESPOND, 200, NULL, "[]"},
	    {SRV_RESPOND, 200, NULL,
	     "[" TAG_JSON(TAG, "initial-tag", "null", "0x7f") "]"},
	    {SRV_RESPOND, 404, NULL,
	     "{\"code\":\"TAG_UNKNOWN\",\"error\":\"x\"}"},
	};
	struct api_dataset *v = NULL;
	struct api_tag *t = NULL;
	size_t n = 0, nt = 0, len = 0;
	char *json = NULL;
	struct srv s;
	struct http *h;
	struct api *a;

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	a = api_client(s.port, 20000, &h);
	CHECK_INT(api_list_datasets(a, &v, &n), 0);
	CHECK_INT(api_list_tags(a, DS, &t, &nt), 0);
	CHECK_INT(api_delete_tag(a, DS, TAG), -ENOENT);
	CHECK_INT(api_stats_json(a, &json, &len), 0);
	CHECK(json != NULL && len == strlen(json));
	if (json) {
		fprintf(stderr, "stats: %s\n", json);
		CHECK(strstr(json,
			     "\"requests\":{\"list_datasets\":1,"
			     "\"get_dataset\":0,\"list_tags\":1,") == json + 1);
		CHECK(strstr(json, "\"delete_tag\":1,") != NULL);
		CHECK(strstr(json, "\"retries\":1,\"failures\":1,") != NULL);
		CHECK(strstr(json, "\"bytesReceived\":") != NULL);
		CHECK(strstr(json, "\"lastError\":\"DELETE /v1/datasets/" DS
				   "/tags/" TAG ": HTTP 404\"") != NULL);
		CHECK(strstr(json, TOKEN) == NULL);
	}
	free(json);
	api_datasets_free(v, n);
	api_tags_free(t, nt);
	api_free(a);
	http_free(h);
	srv_stop(&s);
}

/* Counters from many threads at once add up (and, under a sanitizer or
 * valgrind's helgrind, race on nothing). */
#define THREADS 4
#define PER_THREAD 5

static void *hammer(void *arg)
{
	struct api *a = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		struct api_tag *t = NULL;
		size_t n = 0;

		if (api_list_tags(a, DS, &t, &n) == 0)
			api_tags_free(t, n);
	}
	return NULL;
}

static void test_stats_threads(void)
{
	static struct srv_step steps[THREADS * PER_THREAD];
	pthread_t th[THREADS];
	struct http_stats st;
	struct srv s;
	struct http *h;
	struct api *a;
	char *json = NULL;
	size_t i;

	for (i = 0; i < NSTEPS(steps); i++)
		steps[i] = (struct srv_step){SRV_RESPOND, 200, NULL, "[]"};
	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	a = api_client(s.port, 20000, &h);
	for (i = 0; i < THREADS; i++)
		CHECK_INT(pthread_create(&th[i], NULL, hammer, a), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	http_get_stats(h, &st);
	CHECK_INT(st.requests, THREADS * PER_THREAD);
	CHECK_INT(st.failures, 0);
	CHECK_INT(st.bytes_received, THREADS * PER_THREAD * 2);
	CHECK_INT(api_stats_json(a, &json, NULL), 0);
	CHECK(json && strstr(json, "\"list_tags\":20,"));
	free(json);
	api_free(a);
	http_free(h);
	srv_stop(&s);
}

/* http_errno_transient: what a caller may try again later (a flush of tag
 * edits), by status through http_errno and by transport errno. */
static void test_errno_transient(void)
{
	static const struct {
		long status; /* 0: err is a transport errno */
		const char *code;
		int err;
		bool transient;
	} cases[] = {
	    {408, NULL, -ETIMEDOUT, true},
	    {429, NULL, -EAGAIN, true},
	    {500, NULL, -EIO, true},
	    {502, NULL, -EIO, true},
	    {503, NULL, -EIO, true},
	    {504, NULL, -EIO, true},
	    {599, NULL, -EIO, true},
	    {400, NULL, -EINVAL, false},
	    {401, NULL, -EACCES, false},
	    {403, NULL, -EACCES, false},
	    {404, NULL, -ENOENT, false},
	    {409, NULL, -EEXIST, false},
	    /* 4xx the table does not know: refused, never -EIO */
	    {413, NULL, -EFBIG, false},
	    {405, NULL, -EPROTO, false},
	    {418, NULL, -EPROTO, false},
	    {422, NULL, -EPROTO, false},
	    {499, NULL, -EPROTO, false},
	    /* a Lightly code is about the request, even on a 5xx */
	    {500, "TAG_UNKNOWN", -ENOENT, false},
	    {400, "TAG_UNDELETABLE_NOT_A_LEAF", -EBUSY, false},
	    {503, "SOMETHING_NEW", -EIO, true},
	    /* transport failures (http_send) */
	    {0, NULL, -ETIMEDOUT, true},
	    {0, NULL, -ECONNREFUSED, true},
	    {0, NULL, -ECONNRESET, true},
	    {0, NULL, -EHOSTUNREACH, true},
	    {0, NULL, -ENXIO, true}, /* a name that did not resolve */
	    {0, NULL, -EIO, true},
	    {0, NULL, -ENOMEM, true},
	    {0, NULL, -EINVAL, false},
	    {0, NULL, -ENAMETOOLONG, false},
	    {0, NULL, 0, false},
	};
	size_t i;

	for (i = 0; i < NSTEPS(cases); i++) {
		int err = cases[i].err;

		if (cases[i].status) {
			err = http_errno(cases[i].status, cases[i].code);
			if (err != cases[i].err)
				fprintf(stderr, "case %ld %s\n",
					cases[i].status,
					cases[i].code ? cases[i].code : "-");
			CHECK_INT(err, cases[i].err);
		}
		if (http_errno_transient(err) != cases[i].transient)
			fprintf(stderr, "case %ld %d\n", cases[i].status, err);
		CHECK_INT(http_errno_transient(err), cases[i].transient);
	}
}

/* What a body sink was given: the bytes in order, each at its offset. */
struct sunk {
	char buf[256];
	size_t len;
	int calls;
	int fail; /* returned by every call when set */
};

static int sink_take(const char *data, size_t len, uint64_t off, void *arg)
{
	struct sunk *k = arg;

	k->calls++;
	if (k->fail)
		return k->fail;
	if (off != k->len || k->len + len > sizeof(k->buf))
		return -EPROTO;
	memcpy(k->buf + k->len, data, len);
	k->len += len;
	return 0;
}

/* A streamed 2xx body goes to the sink, past max_body, and after a 503
 * (whose body is not streamed); an error's body still lands in resp; a
 * sink's error ends the request with it, unretried. */
static void test_body_sink(void)
{
	static const char big[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	static const struct srv_step steps[] = {
	    {SRV_RESPOND, 503, NULL, "{\"code\":\"BUSY\"}"},
	    {SRV_RESPOND, 200, NULL, big},
	    {SRV_RESPOND, 404, NULL, "{\"code\":\"NOPE\"}"},
	    {SRV_RESPOND, 200, NULL, big},
	};
	struct http_config cfg = {.token = TOKEN, .max_body = 16};
	struct sunk k = {0};
	struct http_req req = {.method = "GET",
			       .path_query = "/zip",
			       .idempotent = true,
			       .body_cb = sink_take,
			       .body_arg = &k};
	struct http_response resp;
	struct srv s;
	struct http *h;
	char url[64];

	CHECK_INT(srv_start(&s, steps, NSTEPS(steps)), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	cfg.base_url = url;
	cfg.timeout_ms = 20000;
	h = http_new(&cfg);
	CHECK_INT(http_send(h, &req, &resp), 0);
	CHECK_INT(resp.status, 200);
	CHECK_INT(resp.attempts, 2);
	CHECK_INT(k.len, sizeof(big) - 1);
	CHECK(!memcmp(k.buf, big, sizeof(big) - 1));
	CHECK_INT(resp.len, 0);
	http_response_dispose(&resp);

	k.len = 0;
	k.calls = 0;
	CHECK_INT(http_send(h, &req, &resp), -ENOENT);
	CHECK_INT(k.calls, 0);
	CHECK_STR(resp.body, "{\"code\":\"NOPE\"}");
	http_response_dispose(&resp);

	k.fail = -ENOSPC;
	CHECK_INT(http_send(h, &req, &resp), -ENOSPC);
	CHECK_INT(k.calls, 1);
	CHECK_INT(resp.attempts, 1);
	http_response_dispose(&resp);
	http_free(h);
	srv_stop(&s);
	report("body sink", 0);
}

int main(void)
{
	static const char *const proxies[] = {
	    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
	    "all_proxy",  "ALL_PROXY",	"no_proxy",    "NO_PROXY",
	};
	size_t i;

	/* The machine's proxy settings must not reroute 127.0.0.1. */
	for (i = 0; i < NSTEPS(proxies); i++)
		unsetenv(proxies[i]);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 2;
	log_set_sink(capture_sink, &cap);
	log_set_level(LOG_DEBUG);

	test_503_twice_then_200();
	test_429_retry_after();
	test_429_retry_after_past_deadline();
	test_closed_without_answer();
	test_deadline_no_answer();
	test_503_until_attempts_run_out();
	test_503_until_deadline();
	test_refused();
	test_not_retried_statuses();
	test_errno_transient();
	test_post_not_resent_after_5xx();
	test_post_resent_after_429();
	test_post_verify();
	test_post_closed_not_resent();
	test_post_fresh_connection();
	test_deadline_given();
	test_http_proxy();
	test_api_delete_resent();
	test_api_create_checked();
	test_api_create_initial_checked();
	test_api_stats_json();
	test_stats_threads();
	test_body_sink();

	/* the token never reached a log line, at any level */
	CHECK_INT(cap.token_seen, 0);
	log_set_sink(NULL, NULL);
	curl_global_cleanup();
	return CHECK_DONE();
}
