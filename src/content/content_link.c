/* The link to storage as the fetches see it, and the window of whole
 * files in flight it calls for.
 *
 * Little's law: files in flight = files a second * time each is in
 * flight.  To deliver R bytes a second in fetches of S bytes that take W
 * each, R * W / S must be in flight.  W is what a fetch takes here (a
 * round trip to its first byte, then its bytes at what one connection's
 * congestion window allows), S the bytes of a fetch, both averaged over
 * the recent fetches, and R the most bytes a second delivered lately.
 * The window is twice that: measured with a window too small, R is what
 * that window allowed, and twice it lets the next measurement find more.
 *
 * A rate needs fetches to end, and on a far link the first take many
 * round trips (handshakes, slow start): until the rate stops growing
 * (by a quarter, LINK_FLAT rounds in a row) the window also opens by one
 * file for every fetch that ends, as TCP's slow start does by segments,
 * doubling each round.  It never goes under CONTENT_WINDOW_FILES (what a
 * fast link needs for the fetch threads' own latency), never over
 * -o prefetch_files, and the bytes in flight stay under -o prefetch_mb
 * (content_bg.c).  After a second with no fetch it starts over. */
#include <math.h>
#include <time.h>

#include "content_internal.h"
#include "log.h"

/* Samples older than this give way to new ones: a link changes. */
#define LINK_MEMORY_MS 10000
/* A rate is measured over a round trip, and at least this long. */
#define LINK_RATE_MS 20
/* Rounds without a quarter more rate that end the start. */
#define LINK_FLAT 3
/* A pause this long and the link is measured afresh. */
#define LINK_IDLE_MS 1000

static unsigned window_of(const struct content *c)
{
	const struct content_link *l = &c->link;
	unsigned max = c->cfg.prefetch_requests;
	unsigned lo = max < CONTENT_WINDOW_FILES ? max : CONTENT_WINDOW_FILES;
	double files = 0;

	if (l->fetch_s > 0 && l->rate > 0 && l->mean_size > 0)
		files = ceil(2.0 * l->rate * l->fetch_s / l->mean_size);
	if (l->starting && files < l->start_window)
		files = l->start_window;
	if (files < lo)
		return lo;
	return files > max ? max : (unsigned)files;
}

static void link_restart(struct content_link *l, int64_t now)
{
	l->starting = true;
	l->start_window = CONTENT_WINDOW_FILES;
	l->flat = 0;
	l->start_rate = 0;
	l->bytes = 0;
	l->mark_ms = now;
}

void content_link_init(struct content *c)
{
	link_restart(&c->link, content_mono_ms());
	c->link.window = window_of(c);
}

/* An average that follows the last few samples. */
static double ewma(double avg, double x)
{
	return avg <= 0 ? x : 0.875 * avg + 0.125 * x;
}

/* A rate over the span since the mark, when it is long enough. */
static void link_rate(struct content_link *l, int64_t now)
{
	int64_t span = now - l->mark_ms;
	double rate;

	if (span < LINK_RATE_MS || span * 1000 < l->rtt_us)
		return;
	rate = (double)l->bytes * 1000.0 / (double)span;
	if (rate > l->rate || now - l->rate_at_ms > LINK_MEMORY_MS) {
		l->rate = rate;
		l->rate_at_ms = now;
	}
	if (l->starting) {
		if (rate >= 1.25 * l->start_rate) {
			l->start_rate = rate;
			l->flat = 0;
		} else if (++l->flat >= LINK_FLAT) {
			l->starting = false;
		}
	}
	l->bytes = 0;
	l->mark_ms = now;
}

void content_link_sample(struct content *c, int64_t ttfb_us, uint64_t bytes,
			 double secs)
{
	struct content_link *l = &c->link;
	int64_t now = content_mono_ms();
	unsigned w;

	if (now - l->last_ms > LINK_IDLE_MS)
		link_restart(l, now - (int64_t)(secs * 1000));
	l->last_ms = now;
	if (ttfb_us >= 0 && (l->rtt_us <= 0 || ttfb_us < l->rtt_us ||
			     now - l->rtt_at_ms > LINK_MEMORY_MS)) {
		l->rtt_us = ttfb_us;
		l->rtt_at_ms = now;
	}
	if (bytes && secs > 0) {
		l->mean_size = ewma(l->mean_size, (double)bytes);
		l->fetch_s = ewma(l->fetch_s, secs);
	}
	if (l->starting && l->start_window < c->cfg.prefetch_requests)
		l->start_window++;
	l->bytes += bytes;
	link_rate(l, now);
	w = window_of(c);
	if (w != l->window)
		log_debug(
		    "content: window %u files (rate %.1f MB/s, fetch %.0f "
		    "ms, %.0f KB a fetch, first byte %lld us%s)",
		    w, l->rate / 1e6, l->fetch_s * 1e3, l->mean_size / 1e3,
		    (long long)l->rtt_us, l->starting ? ", starting" : "");
	/* a wider window: jobs waiting for it may go now (the workers
	 * look after each job, content_bg.c) */
	l->window = w;
}

unsigned content_window(struct content *c)
{
	unsigned w;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	w = c->link.window;
	pthread_mutex_unlock(&c->lock);
	return w;
}

void content_link_get(struct content *c, struct content_link *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->link;
	pthread_mutex_unlock(&c->lock);
}
