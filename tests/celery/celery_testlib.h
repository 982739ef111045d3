/* celery_testlib.h - what the Celery integration tests share: the celery
 * adapter's run description for a test Redis, starting a real Celery worker
 * through the adapter's own argv, the process tree read from /proc (to reap
 * the pool children by pid), and polling Redis counters. */
#ifndef TQ_CELERY_TESTLIB_H
#define TQ_CELERY_TESTLIB_H

#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

#include "framework.h"
#include "tq_testutil.h"

extern const struct tq_framework tq_framework_celery;

#define CT_PYTHON "/usr/bin/python3"
#define CT_FRAMEWORKS_DIR TQ_SOURCE_DIR "/bench/frameworks"
#define CT_MAX_PIDS 64

/* Skips the calling test (cr_skip_test, with the adapter's reason) when
 * python3-celery does not import under /usr/bin/python3. */
void ct_require_celery(void);

/* A run of the celery framework on redis r (pool NULL or "": Celery's
 * default, as a run without the option). */
void ct_run_init(struct fw_run *run, const struct tq_test_redis *r, const char *run_id,
                 const char *queue, const char *pool, int concurrency);
/* Sets the run's option celery.pool, as the driver does for --option. */
void ct_run_set_pool(struct fw_run *run, const char *pool);

/* Starts worker index of run through the adapter's argv and environment, in
 * its own process group, output appended to log_path. */
pid_t ct_worker_start(const struct fw_run *run, int index, const char *worker_id,
                      const char *log_path);

/* Descendants of pid (children, grandchildren...) from /proc; returns how
 * many were written to pids (at most max). */
int ct_descendants(pid_t pid, pid_t *pids, int max);

/* Polls HGET key field until it reaches at least want (or timeout_ms
 * passes); returns the last value read (-1 when absent). */
long long ct_wait_hash_at_least(redisContext *c, const char *key, const char *field,
                                long long want, int timeout_ms);
/* Polls until EXISTS key is 1; returns 1, or 0 on timeout. */
int ct_wait_key(redisContext *c, const char *key, int timeout_ms);
/* HGET key field as a string into buf ("" when absent). */
void ct_hget(redisContext *c, const char *key, const char *field, char *buf, size_t n);

/* Wall-clock µs. */
int64_t ct_wall_us(void);

/* A private redis-server on a unix socket and a connection to it, for a
 * test's .init (fails the test when either fails); ct_redis_down frees the
 * connection and stops the server by pid, for .fini. */
void ct_redis_up(struct tq_test_redis *r, redisContext **c);
void ct_redis_down(struct tq_test_redis *r, redisContext **c);

#endif
