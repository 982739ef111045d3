/* tlist_adapter.c - a framework that exists only in the tests: it uses every
 * hook of the adapter interface's version 2 (bench/framework.h), so a run
 * of it proves the driver leaves all of it to the adapter. Its worker is
 * tests/driver/tlist_worker.py (the key layout is described there):
 *
 *   queue_key      tl:<queue> (not P:queue:<queue>)
 *   enqueue_batch  RPUSH (the worker pops from the head), not the default
 *   prepare        SADD tl:queues <queue>; state: the global counters'
 *                  baselines
 *   progress       deltas of tl:<queue>:done / :failed, global counters
 *                  shared by every run on the queue, from a baseline taken
 *                  the first time the driver asks about a run id (before
 *                  any of its tasks is enqueued: framework.h)
 *   inflight_keys  tl:<queue>:processing, where a task sits while it runs
 *   validate       one task at a time: concurrency > 1 refused
 *   caps           noop and sleep only: cpu, fail, retries and open-loop
 *                  scenarios are skipped
 *   finish         SREM tl:queues <queue>, frees the state
 *
 * Registered only in the tests' tqbench (tlist_registry.c), never in the
 * shipped binary. */
#include "framework.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tq_redis.h"

struct tlist_state {
    char run[TQ_NAME_MAX]; /* the run id the baselines belong to */
    long base_done, base_failed;
};

static int tlist_available(const struct fw_run *run, char *why, size_t n) {
    (void)run;
    if (system("/usr/bin/python3 -c 'import redis' >/dev/null 2>&1") != 0) {
        snprintf(why, n, "/usr/bin/python3 cannot import redis (Debian: python3-redis)");
        return 0;
    }
    return 1;
}

static int tlist_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                             struct fw_argv *out, char *err, size_t errlen) {
    (void)index;
    fw_argv_reset(out);
    if (fw_argv_add(out, err, errlen, "/usr/bin/python3") ||
        fw_argv_add(out, err, errlen, "%s/tlist_worker.py", TLIST_DIR) ||
        fw_argv_add(out, err, errlen, "--queue") ||
        fw_argv_add(out, err, errlen, "%s", run->queue) || fw_argv_add(out, err, errlen, "--id") ||
        fw_argv_add(out, err, errlen, "%s", worker_id) ||
        fw_argv_add(out, err, errlen, "--prefix") ||
        fw_argv_add(out, err, errlen, "%s", run->prefix) ||
        fw_env_add(out, err, errlen, "TQ_REDIS_URL=%s", run->redis_url))
        return -1;
    return 0;
}

static int tlist_key(char *buf, size_t n, const char *queue, const char *suffix) {
    int len = snprintf(buf, n, "tl:%s%s", queue, suffix);
    return len < 0 || (size_t)len >= n ? -1 : len;
}

static int tlist_queue_key(const struct fw_run *run, char *buf, size_t n) {
    return tlist_key(buf, n, run->queue, "");
}

static int tlist_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    (void)run;
    return tq_task_encode(t, buf, cap);
}

static int tlist_validate(const struct fw_run *run, char *err, size_t errlen) {
    if (run->concurrency > 1) {
        snprintf(err, errlen, "tlist workers run one task at a time (concurrency %d asked; 1 is "
                              "the most)",
                 run->concurrency);
        return -1;
    }
    return 0;
}

static long get_long(redisContext *c, const char *key, int *ok) {
    char err[256];
    redisReply *r = tq_redis_command(c, err, sizeof err, "GET %s", key);
    if (!r) {
        *ok = 0;
        return 0;
    }
    long v = r->type == REDIS_REPLY_STRING ? atol(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static int tlist_prepare(const struct fw_run *run, redisContext *c, void **state, char *err,
                         size_t errlen) {
    struct tlist_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *state = st;
    redisReply *r = tq_redis_command(c, err, errlen, "SADD tl:queues %s", run->queue);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

static void tlist_finish(const struct fw_run *run, redisContext *c, void *state) {
    char err[256];
    if (c) {
        redisReply *r = tq_redis_command(c, err, sizeof err, "SREM tl:queues %s", run->queue);
        if (r) freeReplyObject(r);
    }
    free(state);
}

static int tlist_enqueue_batch(const struct fw_run *run, const void *state, redisContext *c,
                               const char *key, const struct tq_task *tasks,
                               const char *const *payloads, const size_t *lens, int n, char *err,
                               size_t errlen) {
    (void)run;
    (void)state;
    (void)tasks;
    /* RPUSH: the worker pops from the head */
    return fw_enqueue_push(c, "RPUSH", key, payloads, lens, n, err, errlen);
}

static int tlist_progress(const struct fw_run *run, void *state, redisContext *c,
                          const char *run_id, struct fw_progress *out, char *err, size_t errlen) {
    struct tlist_state *st = state;
    char done_key[TQ_KEY_MAX], failed_key[TQ_KEY_MAX];
    if (!st) {
        snprintf(err, errlen, "not prepared");
        return -1;
    }
    tlist_key(done_key, sizeof done_key, run->queue, ":done");
    tlist_key(failed_key, sizeof failed_key, run->queue, ":failed");
    int ok = 1;
    long done = get_long(c, done_key, &ok), failed = get_long(c, failed_key, &ok);
    if (!ok) {
        snprintf(err, errlen, "GET %s: %s", done_key, c->errstr);
        return -1;
    }
    if (strcmp(st->run, run_id) != 0) {
        snprintf(st->run, sizeof st->run, "%s", run_id);
        st->base_done = done;
        st->base_failed = failed;
    }
    out->completed = done - st->base_done;
    out->failed = failed - st->base_failed;
    out->retried = 0;
    return 0;
}

static int tlist_inflight_keys(const struct fw_run *run, const void *state,
                               char (*keys)[TQ_KEY_MAX], int max) {
    (void)state;
    if (max < 1 || tlist_key(keys[0], TQ_KEY_MAX, run->queue, ":processing") < 0) return 0;
    return 1;
}

static void tlist_clean(const struct fw_run *run, redisContext *c) {
    char done_key[TQ_KEY_MAX], failed_key[TQ_KEY_MAX], err[256];
    if (!c) return;
    tlist_key(done_key, sizeof done_key, run->queue, ":done");
    tlist_key(failed_key, sizeof failed_key, run->queue, ":failed");
    redisReply *r = tq_redis_command(c, err, sizeof err, "DEL %s %s", done_key, failed_key);
    if (r) freeReplyObject(r);
}

const struct tq_framework tq_framework_tlist = {
    .name = "tlist",
    .description = "test-only framework using every adapter hook (tests/driver/tlist_*)",
    .available = tlist_available,
    .worker_argv = tlist_worker_argv,
    .queue_key = tlist_queue_key,
    .encode = tlist_encode,
    .clean = tlist_clean,
    .caps = FW_CAP_SLEEP,
    .validate = tlist_validate,
    .prepare = tlist_prepare,
    .finish = tlist_finish,
    .enqueue_batch = tlist_enqueue_batch,
    .progress = tlist_progress,
    .inflight_keys = tlist_inflight_keys,
};
