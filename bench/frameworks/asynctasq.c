/* asynctasq.c - AsyncTasQ (PyPI asynctasq, Redis driver) as a benchmarked
 * framework.
 *
 * The workers are AsyncTasQ's own worker (its CLI, `python -m asynctasq
 * worker --driver redis ...`, started through tqbench_atq_worker.py so that
 * tqbench's hook heartbeats from process start; see there why) running the
 * task module in bench/frameworks/asynctasq (tqbench_tasks.py). The producer
 * is the driver: it LPUSHes msgpack payloads built in C by
 * common/tq_asynctasq.c onto AsyncTasQ's ready list queue:<q>, as its
 * dispatch() does.
 *
 * AsyncTasQ's layout differs from the LPUSH-and-count shape, so the adapter
 * uses the interface's version 2 hooks:
 *
 *   progress       deltas of queue:<q>:stats:completed / :failed, AsyncTasQ's
 *                  own counters: per queue, never expiring, so a baseline is
 *                  taken the first time the driver asks about a run id
 *                  (before any of its tasks is enqueued: framework.h)
 *   inflight_keys  queue:<q>:processing, where a task sits from BLMOVE/LMOVE
 *                  to its ack
 *   prepare        refuses to start while queue:<q> or its processing list
 *                  holds tasks (they would be counted as this run's), naming
 *                  both, unless --force
 *   caps           no retries: AsyncTasQ acks a retried attempt with INCR
 *                  stats:completed, so completions would count retries
 *
 * Latency and health come from the hook in the task module
 * (tqbench_atq_hook.py): stamps into P:run:<run>:stamps and tqbench's
 * heartbeat P:worker:<id>, as Celery's hook does.
 *
 * The Python is --asynctasq-python (default python3 on PATH): AsyncTasQ
 * needs Python >= 3.12 and PyPI packages, so it lives in a virtualenv. */
#include "framework.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_asynctasq.h"
#include "tq_log.h"
#include "tq_redis.h"
#include "tq_spawn.h"

#define ATQ_DEFAULT_PYTHON "python3"
#define ATQ_TASK_MODULE "tqbench_tasks"
#define ATQ_LAUNCHER "tqbench_atq_worker"
#define ATQ_PROBE_TIMEOUT_MS 60000

/* Per-run state: the counters' baselines for the run id they belong to. */
struct atq_state {
    char run[TQ_NAME_MAX];
    long base_completed, base_failed;
};

static const char *atq_python(const struct fw_run *run) {
    return run->asynctasq_python[0] ? run->asynctasq_python : ATQ_DEFAULT_PYTHON;
}

static int atq_dir(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "%s/asynctasq", run->frameworks_dir);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

/* queue:<q> + suffix, or -1 when it does not fit. */
static int atq_key(const struct fw_run *run, const char *suffix, char *buf, size_t n) {
    return tq_atq_key(buf, n, run->queue, suffix);
}

static int atq_available(const struct fw_run *run, char *why, size_t n) {
    char dir[FW_PATH_MAX], what[FW_PATH_MAX + 64];
    const char *python = atq_python(run);
    if (atq_dir(run, dir, sizeof dir) != 0) {
        snprintf(why, n, "frameworks directory path too long");
        return 0;
    }
    const char *const files[] = {ATQ_TASK_MODULE ".py", ATQ_LAUNCHER ".py", "tqbench_atq_hook.py",
                                 NULL};
    if (fw_files_readable(dir, files, "AsyncTasQ helper", NULL, why, n) != 0) return 0;
    const char *const argv[] = {python, "-c", "import asynctasq", NULL};
    snprintf(what, sizeof what, "asynctasq does not import under %s", python);
    return fw_probe(argv, NULL, ATQ_PROBE_TIMEOUT_MS, what,
                    "AsyncTasQ needs Python >= 3.12: pass --asynctasq-python with the python of "
                    "a virtualenv that has it",
                    why, n) == 0;
}

/* Settings AsyncTasQ's worker cannot take, refused before anything starts.
 * Its CLI has no --prefetch: that is said (worker 0's warning) and ignored.
 * It has no pool kinds either, and declares no options: a scenario's
 * options for Celery's pool never reach it. */
static int atq_validate(const struct fw_run *run, char *err, size_t errlen) {
    if (run->concurrency < 1) {
        snprintf(err, errlen, "asynctasq: concurrency %d (1 or more)", run->concurrency);
        return -1;
    }
    return 0;
}

/* 1 when the URL carries a password (the driver gives the password-free
 * form for logs: they differ exactly then). */
static int url_has_password(const struct fw_run *run) {
    return strcmp(run->redis_url, run->redis_url_safe) != 0;
}

static int atq_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                           struct fw_argv *out, char *err, size_t errlen) {
    char dir[FW_PATH_MAX];
    (void)index;
    if (atq_validate(run, err, errlen) != 0) return -1;
    if (atq_dir(run, dir, sizeof dir) != 0) {
        snprintf(err, errlen, "asynctasq: frameworks directory path too long");
        return -1;
    }
    if (index == 0 && run->prefetch > 1)
        tq_warn("asynctasq: prefetch %d is not passed to AsyncTasQ; its worker takes one task "
                "per LMOVE (bench/frameworks/asynctasq/README.md)",
                run->prefetch);
    /* the user's PYTHONPATH stays (AsyncTasQ may come from a source tree) */
    const char *pp = getenv("PYTHONPATH");
    fw_argv_reset(out);
    if (fw_argv_add(out, err, errlen, "%s", atq_python(run)) ||
        fw_argv_add(out, err, errlen, "-m") || fw_argv_add(out, err, errlen, ATQ_LAUNCHER) ||
        fw_argv_add(out, err, errlen, "worker") || fw_argv_add(out, err, errlen, "--driver") ||
        fw_argv_add(out, err, errlen, "redis") || fw_argv_add(out, err, errlen, "--queues") ||
        fw_argv_add(out, err, errlen, "%s", run->queue) ||
        fw_argv_add(out, err, errlen, "--concurrency") ||
        fw_argv_add(out, err, errlen, "%d", run->concurrency))
        return -1;
    /* argv is world-readable in /proc/PID/cmdline: a URL with a password
     * goes through ASYNCTASQ_REDIS_URL, which AsyncTasQ's settings read
     * when --redis-url is absent */
    if (!url_has_password(run) && (fw_argv_add(out, err, errlen, "--redis-url") ||
                                   fw_argv_add(out, err, errlen, "%s", run->redis_url)))
        return -1;
    if ((pp && pp[0] ? fw_env_add(out, err, errlen, "PYTHONPATH=%s:%s", dir, pp)
                     : fw_env_add(out, err, errlen, "PYTHONPATH=%s", dir)) ||
        fw_env_add(out, err, errlen, "PYTHONDONTWRITEBYTECODE=1") ||
        fw_env_add(out, err, errlen, "ASYNCTASQ_DRIVER=redis") ||
        (url_has_password(run) &&
         fw_env_add(out, err, errlen, "ASYNCTASQ_REDIS_URL=%s", run->redis_url)) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_REDIS_URL=%s", run->redis_url) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_PREFIX=%s", run->prefix) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_RUN=%s", run->run_id) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_WORKER_ID=%s", worker_id) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_QUEUES=%s", run->queue) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_CONCURRENCY=%d", run->concurrency) ||
        fw_env_add(out, err, errlen, "TQ_ATQ_HEARTBEAT_INTERVAL=%d",
                   run->heartbeat_interval_s > 0 ? run->heartbeat_interval_s : 1))
        return -1;
    return 0;
}

static int atq_queue_key(const struct fw_run *run, char *buf, size_t n) {
    return atq_key(run, "", buf, n);
}

static int atq_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    struct tq_atq_opts o;
    tq_atq_opts_init(&o);
    o.shape = TQ_ATQ_SHAPE_1X; /* what AsyncTasQ 1.x reads (0.9 payloads lack current_attempt) */
    o.queue = run->queue;
    o.func_module = ATQ_TASK_MODULE;
    return tq_atq_encode(t, &o, buf, cap);
}

/* LLEN key into *len. Returns 0, or -1 with err. */
static int list_len(redisContext *c, const char *key, long long *len, char *err,
                    size_t errlen) {
    char rerr[256];
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "LLEN %s", key);
    if (!r) {
        snprintf(err, errlen, "LLEN %s: %s", key, rerr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_INTEGER) {
        *len = r->integer;
    } else {
        snprintf(err, errlen, "LLEN %s: %s", key,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

static int atq_prepare(const struct fw_run *run, redisContext *c, void **state, char *err,
                       size_t errlen) {
    char queue[TQ_KEY_MAX], processing[TQ_KEY_MAX];
    long long nq = 0, np = 0;
    struct atq_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *state = st;
    if (atq_key(run, "", queue, sizeof queue) < 0 ||
        atq_key(run, TQ_ATQ_PROCESSING_SUFFIX, processing, sizeof processing) < 0) {
        snprintf(err, errlen, "queue name \"%s\" too long for AsyncTasQ's keys", run->queue);
        return -1;
    }
    if (list_len(c, queue, &nq, err, errlen) != 0 || list_len(c, processing, &np, err, errlen) != 0)
        return -1;
    if (nq == 0 && np == 0) return 0;
    if (!run->force) {
        snprintf(err, errlen,
                 "%s holds %lld task(s) and %s holds %lld: AsyncTasQ's counters "
                 "queue:%s:stats:completed/:failed are per queue, so those tasks would be counted "
                 "as this run's. Let the workers drain them, or pass --force",
                 queue, nq, processing, np, run->queue);
        return -1;
    }
    tq_warn("asynctasq: --force: %s holds %lld task(s) and %s holds %lld; the run's counts "
            "include whatever of them finishes during the run",
            queue, nq, processing, np);
    return 0;
}

static void atq_finish(const struct fw_run *run, redisContext *c, void *state) {
    (void)run;
    (void)c;
    free(state);
}

/* The integer value of a GET-like reply element: nil is 0. */
static int reply_long(const redisReply *e, long *out) {
    if (e->type == REDIS_REPLY_NIL) {
        *out = 0;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING) return -1;
    char *end;
    *out = strtol(e->str, &end, 10);
    return (end == e->str || *end) ? -1 : 0;
}

static int atq_progress(const struct fw_run *run, void *state, redisContext *c,
                        const char *run_id, struct fw_progress *out, char *err, size_t errlen) {
    struct atq_state *st = state;
    char done_key[TQ_KEY_MAX], failed_key[TQ_KEY_MAX], rerr[256];
    if (!st) {
        snprintf(err, errlen, "asynctasq: progress asked before prepare");
        return -1;
    }
    if (atq_key(run, TQ_ATQ_COMPLETED_SUFFIX, done_key, sizeof done_key) < 0 ||
        atq_key(run, TQ_ATQ_FAILED_SUFFIX, failed_key, sizeof failed_key) < 0) {
        snprintf(err, errlen, "queue name \"%s\" too long for AsyncTasQ's keys", run->queue);
        return -1;
    }
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "MGET %s %s", done_key, failed_key);
    if (!r) {
        snprintf(err, errlen, "MGET %s %s: %s", done_key, failed_key, rerr);
        return -1;
    }
    long done = 0, failed = 0;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             reply_long(r->element[0], &done) == 0 && reply_long(r->element[1], &failed) == 0;
    freeReplyObject(r);
    if (!ok) {
        snprintf(err, errlen, "%s / %s do not hold integers", done_key, failed_key);
        return -1;
    }
    if (strcmp(st->run, run_id) != 0) {
        snprintf(st->run, sizeof st->run, "%s", run_id);
        st->base_completed = done;
        st->base_failed = failed;
    }
    out->completed = done - st->base_completed;
    out->failed = failed - st->base_failed;
    out->retried = 0;
    return 0;
}

static int atq_inflight_keys(const struct fw_run *run, const void *state,
                             char (*keys)[TQ_KEY_MAX], int max) {
    (void)state;
    if (max < 1 || atq_key(run, TQ_ATQ_PROCESSING_SUFFIX, keys[0], TQ_KEY_MAX) < 0) return 0;
    return 1;
}

/* The counters and delayed set of the run's own queue (its name is the run
 * id unless --external named a shared one, whose counters are its users'). */
static void atq_clean(const struct fw_run *run, redisContext *c) {
    char done_key[TQ_KEY_MAX], failed_key[TQ_KEY_MAX], delayed[TQ_KEY_MAX], err[256];
    if (!c || strcmp(run->queue, run->run_id) != 0) return;
    if (atq_key(run, TQ_ATQ_COMPLETED_SUFFIX, done_key, sizeof done_key) < 0 ||
        atq_key(run, TQ_ATQ_FAILED_SUFFIX, failed_key, sizeof failed_key) < 0 ||
        atq_key(run, ":delayed", delayed, sizeof delayed) < 0)
        return;
    redisReply *r = tq_redis_command(c, err, sizeof err, "DEL %s %s %s", done_key, failed_key,
                                     delayed);
    if (r) freeReplyObject(r);
}

/* The run id as msgpack writes the string (fixstr below 32 bytes, else
 * str8: run ids are shorter than 256), so a shared queue's payloads of this
 * run are found by a plain search (framework.h, run_marker). */
static int atq_run_marker(const struct fw_run *run, char *buf, size_t n) {
    size_t len = strlen(run->run_id), head = len < 32 ? 1 : 2;
    if (len > 255 || head + len > n) return -1;
    if (len < 32) {
        buf[0] = (char)(0xa0 | len);
    } else {
        buf[0] = (char)0xd9;
        buf[1] = (char)len;
    }
    memcpy(buf + head, run->run_id, len);
    return (int)(head + len);
}

const struct tq_framework tq_framework_asynctasq = {
    /* also the `protocol` of its workers' heartbeats (tqbench_atq_hook.py writes it) */
    .name = "asynctasq",
    .description = "AsyncTasQ workers (--asynctasq-python -m asynctasq worker), msgpack tasks "
                   "built in C",
    .available = atq_available,
    .worker_argv = atq_worker_argv,
    .queue_key = atq_queue_key,
    .encode = atq_encode,
    .clean = atq_clean,
    .caps = FW_CAP_SLEEP | FW_CAP_CPU | FW_CAP_FAIL | FW_CAP_OPEN_LOOP,
    .validate = atq_validate,
    .prepare = atq_prepare,
    .finish = atq_finish,
    .progress = atq_progress,
    .inflight_keys = atq_inflight_keys,
    .run_marker = atq_run_marker,
};
