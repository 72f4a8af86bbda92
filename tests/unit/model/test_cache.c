/* The cache mechanism without a server: fake fetch callbacks count the
 * requests a load would make. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"
#include "log.h"

int main(void);

struct fake {
	pthread_mutex_t lock;
	struct cache cache;
	struct load load;
	int fetches;
	int fail; /* what fetch returns */
	int installs;
	unsigned delay_us;
	int prepare_err;
};

static int fake_prepare(void *arg)
{
	struct fake *f = arg;

	return f->prepare_err;
}

static int fake_fetch(void *arg)
{
	struct fake *f = arg;

	__atomic_add_fetch(&f->fetches, 1, __ATOMIC_SEQ_CST);
	if (f->delay_us)
		usleep(f->delay_us);
	return f->fail;
}

static int fake_install(void *arg, int err)
{
	struct fake *f = arg;

	f->installs++;
	return err;
}

static const struct cache_loader fake_loader = {
    .prepare = fake_prepare,
    .fetch = fake_fetch,
    .install = fake_install,
};

static void fake_init(struct fake *f, double ttl, double max_stale)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	cache_init(&f->cache, &f->lock, ttl, max_stale);
}

static void fake_dispose(struct fake *f)
{
	cache_dispose(&f->cache);
	pthread_mutex_destroy(&f->lock);
}

static int load(struct fake *f)
{
	int ret;

	pthread_mutex_lock(&f->lock);
	ret = cache_load(&f->cache, &f->load, &fake_loader, f);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void *load_thread(void *arg)
{
	return (void *)(intptr_t)load(arg);
}

static void single_flight_makes_one_request(void)
{
	struct fake f;
	pthread_t th[8];

	fake_init(&f, 60, 60);
	f.delay_us = 100000;
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, load_thread, &f);
	for (int i = 0; i < 8; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		CHECK_INT((intptr_t)ret, 0);
	}
	CHECK_INT(f.fetches, 1);
	CHECK_INT(f.cache.misses, 1);
	CHECK_INT(f.cache.hits, 7);
	fake_dispose(&f);
}

static void fresh_within_ttl_then_asks_again(void)
{
	struct fake f;

	fake_init(&f, 0.05, 60);
	CHECK_INT(load(&f), 0);
	CHECK_INT(load(&f), 0);
	CHECK_INT(f.fetches, 1);
	usleep(80000);
	CHECK_INT(load(&f), 0);
	CHECK_INT(f.fetches, 2);
	cache_expire(&f.load);
	CHECK_INT(load(&f), 0);
	CHECK_INT(f.fetches, 3);
	fake_dispose(&f);
}

static void first_failure_is_an_error(void)
{
	struct fake f;

	fake_init(&f, 60, 60);
	f.fail = -ETIMEDOUT;
	CHECK_INT(load(&f), -ETIMEDOUT);
	CHECK_INT(f.installs, 1);
	fake_dispose(&f);
}

static void stale_if_error_serves_the_last_load(void)
{
	struct fake f;

	fake_init(&f, 0.01, 60);
	CHECK_INT(load(&f), 0);
	usleep(20000);
	f.fail = -EIO;
	CHECK_INT(load(&f), 0); /* failed, but the old data stays in use */
	CHECK_INT(f.fetches, 2);
	CHECK(f.cache.stale_served >= 1);
	/* the server just failed: the next access does not wait out another
	 * deadline, it is answered from the cache */
	usleep(20000);
	CHECK_INT(load(&f), 0);
	CHECK_INT(f.fetches, 2);
	fake_dispose(&f);
}

static void stale_data_expires_after_max_stale(void)
{
	struct fake f;

	fake_init(&f, 0.01, 0.02);
	CHECK_INT(load(&f), 0);
	usleep(40000);
	f.fail = -EIO;
	CHECK_INT(load(&f), -EIO);
	fake_dispose(&f);
}

static void prepare_failure_skips_the_request(void)
{
	struct fake f;

	fake_init(&f, 60, 60);
	f.prepare_err = -ENOMEM;
	CHECK_INT(load(&f), -ENOMEM);
	CHECK_INT(f.fetches, 0);
	CHECK_INT(f.installs, 1);
	CHECK(!f.load.busy);
	fake_dispose(&f);
}

static int unlocked_probe(void *arg)
{
	struct fake *f = arg;
	int ret = pthread_mutex_trylock(&f->lock);

	if (!ret)
		pthread_mutex_unlock(&f->lock);
	return ret;
}

static void unlocked_drops_the_lock(void)
{
	struct fake f;

	fake_init(&f, 60, 60);
	pthread_mutex_lock(&f.lock);
	CHECK_INT(cache_unlocked(&f.cache, unlocked_probe, &f), 0);
	CHECK_INT(pthread_mutex_trylock(&f.lock), EBUSY);
	pthread_mutex_unlock(&f.lock);
	fake_dispose(&f);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	single_flight_makes_one_request();
	fresh_within_ttl_then_asks_again();
	first_failure_is_an_error();
	stale_if_error_serves_the_last_load();
	stale_data_expires_after_max_stale();
	prepare_failure_skips_the_request();
	unlocked_drops_the_lock();
	return CHECK_DONE();
}
