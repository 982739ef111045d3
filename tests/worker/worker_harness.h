/* worker_harness.h - what tqworker's integration tests share: a private
 * redis-server (unix socket), tqworker started from the build's bin/ with
 * its log in the server's temp dir, tasks pushed with tq_task_encode and
 * pipelined LPUSH, and polling helpers with deadlines (never a bare sleep
 * standing in for "done"). */
#ifndef TQ_WORKER_HARNESS_H
#define TQ_WORKER_HARNESS_H

#include <stdint.h>
#include <sys/types.h>
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "tq_task.h"
#include "tq_testutil.h"

#define WT_MORE_MAX 8 /* further workers beside t->worker */

struct wt {
    struct tq_test_redis redis;
    redisContext *c;        /* sync connection to it */
    pid_t worker;           /* 0 when none runs */
    char log[400];          /* the worker's stdout+stderr */
    pid_t more[WT_MORE_MAX];/* further workers (wt_start_more), 0 when none */
};

/* Declares a test file's fixture, `static struct wt t`, and the Criterion
 * suite around it: before each test redis-server starts (the test fails when
 * it does not), after each test the worker and redis-server are stopped by
 * pid. Criterion's .init and .fini take no arguments, hence one fixture per
 * file (each test runs in a process of its own). */
#define WT_TEST_SUITE(suite, timeout_s)                                 \
    static struct wt t;                                                 \
    static void suite##_init(void) {                                    \
        cr_assert_eq(wt_setup(&t), 0, "redis-server did not start");    \
    }                                                                   \
    static void suite##_fini(void) {                                    \
        wt_teardown(&t);                                                \
    }                                                                   \
    TestSuite(suite, .init = suite##_init, .fini = suite##_fini, .timeout = (timeout_s))

/* cr_assert for a WT_TEST_SUITE file, printing the worker's log first when
 * it fails. */
#define WT_CHECK(cond, ...)               \
    do {                                  \
        if (!(cond)) {                    \
            wt_print_log(&t);             \
            cr_assert(cond, __VA_ARGS__); \
        }                                 \
    } while (0)

/* Starts redis-server on a unix socket and connects. Returns 0 or -1. */
int wt_setup(struct wt *t);
/* Stops the worker (if any) and redis-server, by pid; removes the temp dir. */
void wt_teardown(struct wt *t);
/* Reconnects t->c (after a redis-server restart). Returns 0 or -1. */
int wt_reconnect(struct wt *t);

/* Starts tqworker --redis <url> --id <id> [extra...] (extra NULL-terminated,
 * may be NULL). Returns its pid (also in t->worker), or -1. */
pid_t wt_start_worker(struct wt *t, const char *id, const char *const *extra);
/* Starts one more tqworker beside t->worker (its log worker-<id>.log),
 * stopped by wt_stop_more or at teardown. Returns its pid, or -1. */
pid_t wt_start_more(struct wt *t, const char *id, const char *const *extra);
/* SIGTERM to every worker wt_start_more started, then waits up to timeout_ms
 * for each. Returns 0 when all exited with code 0, else -1. */
int wt_stop_more(struct wt *t, int timeout_ms);
/* SIGTERM, then waits up to timeout_ms. Returns the exit code (0..255), 128+N
 * when killed by signal N, or -1 when it did not exit in time (then killed). */
int wt_stop_worker(struct wt *t, int timeout_ms);
/* Prints the worker's log to stderr (for failing tests). */
void wt_print_log(const struct wt *t);
/* 1 when the worker's log contains s. */
int wt_log_contains(const struct wt *t, const char *s);

/* LPUSHes n tasks of kind onto tq:queue:<queue> (pipelined). Returns 0 or -1. */
int wt_push(redisContext *c, const char *queue, const char *run, enum tq_task_kind kind,
            int64_t arg, int max_attempts, int n);
/* LPUSHes one raw payload. Returns 0 or -1. */
int wt_push_raw(redisContext *c, const char *queue, const char *payload, size_t len);

/* HGET key field as an integer; 0 when absent. */
long long wt_hget(redisContext *c, const char *key, const char *field);
/* A run's stats field (completed, failed, retried); 0 when absent. */
long long wt_stat(redisContext *c, const char *run, const char *field);
/* Polls until completed + failed of run reaches want; returns 1, or 0 at the deadline. */
int wt_wait_done(redisContext *c, const char *run, long long want, int timeout_ms);
/* Polls until EXISTS key equals exists (0/1); returns 1, or 0 at the deadline. */
int wt_wait_exists(redisContext *c, const char *key, int exists, int timeout_ms);
/* Polls until HGET key field >= want; returns 1, or 0 at the deadline. */
int wt_wait_hget(redisContext *c, const char *key, const char *field, long long want,
                 int timeout_ms);
/* LLEN of tq:queue:<queue>. */
long long wt_queue_len(redisContext *c, const char *queue);
/* Parses a worker's histogram field of a run into total_count; -1 when absent
 * or malformed. */
long long wt_hist_count(redisContext *c, const char *run, const char *worker_id,
                        const char *suffix);

#endif
