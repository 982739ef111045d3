/* worker_harness.c - fixtures for tqworker's integration tests (see
 * worker_harness.h). */
#include "worker_harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tq_clock.h"
#include "tq_hist.h"
#include "tq_keys.h"

int wt_setup(struct wt *t) {
    memset(t, 0, sizeof *t);
    if (tq_test_redis_start(&t->redis, 0, NULL) != 0) return -1;
    t->c = tq_test_redis_connect(&t->redis);
    return t->c ? 0 : -1;
}

int wt_reconnect(struct wt *t) {
    if (t->c) redisFree(t->c);
    t->c = tq_test_redis_connect(&t->redis);
    return t->c ? 0 : -1;
}

void wt_teardown(struct wt *t) {
    if (t->worker > 0) {
        tq_test_stop_pid(t->worker, 5000);
        t->worker = 0;
    }
    for (int i = 0; i < WT_MORE_MAX; i++) {
        if (t->more[i] > 0) tq_test_stop_pid(t->more[i], 5000);
        t->more[i] = 0;
    }
    if (t->c) redisFree(t->c);
    t->c = NULL;
    tq_test_redis_stop(&t->redis, 1);
}

static pid_t spawn_worker(struct wt *t, const char *id, const char *const *extra, char *log,
                          size_t loglen) {
    char bin[512];
    const char *argv[64];
    int n = 0;
    argv[n++] = tq_test_bin("tqworker", bin, sizeof bin);
    argv[n++] = "--redis";
    argv[n++] = t->redis.url;
    argv[n++] = "--id";
    argv[n++] = id;
    for (int i = 0; extra && extra[i] && n < 63; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    snprintf(log, loglen, "%s/worker-%s.log", t->redis.dir, id);
    return tq_test_spawn(argv, log);
}

pid_t wt_start_worker(struct wt *t, const char *id, const char *const *extra) {
    t->worker = spawn_worker(t, id, extra, t->log, sizeof t->log);
    return t->worker;
}

pid_t wt_start_more(struct wt *t, const char *id, const char *const *extra) {
    for (int i = 0; i < WT_MORE_MAX; i++) {
        if (t->more[i] > 0) continue;
        char log[400];
        t->more[i] = spawn_worker(t, id, extra, log, sizeof log);
        return t->more[i];
    }
    return -1;
}

int wt_stop_more(struct wt *t, int timeout_ms) {
    int rc = 0;
    for (int i = 0; i < WT_MORE_MAX; i++)
        if (t->more[i] > 0) kill(t->more[i], SIGTERM);
    for (int i = 0; i < WT_MORE_MAX; i++) {
        if (t->more[i] <= 0) continue;
        int st = 0;
        if (!tq_test_wait_pid(t->more[i], timeout_ms, &st)) {
            kill(t->more[i], SIGKILL);
            waitpid(t->more[i], &st, 0);
            rc = -1;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            rc = -1;
        }
        t->more[i] = 0;
    }
    return rc;
}

int wt_stop_worker(struct wt *t, int timeout_ms) {
    if (t->worker <= 0) return -1;
    kill(t->worker, SIGTERM);
    int st = 0;
    if (!tq_test_wait_pid(t->worker, timeout_ms, &st)) {
        kill(t->worker, SIGKILL);
        waitpid(t->worker, &st, 0);
        t->worker = 0;
        return -1;
    }
    t->worker = 0;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *b = realloc(buf, cap * 2);
            if (!b) break;
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

void wt_print_log(const struct wt *t) {
    char *s = t->log[0] ? read_file(t->log) : NULL;
    fprintf(stderr, "---- %s ----\n%s---- end ----\n", t->log, s ? s : "(no log)\n");
    free(s);
}

int wt_log_contains(const struct wt *t, const char *s) {
    char *text = read_file(t->log);
    int found = text && strstr(text, s) != NULL;
    free(text);
    return found;
}

int wt_push_raw(redisContext *c, const char *queue, const char *payload, size_t len) {
    char key[TQ_KEY_MAX];
    tq_key_queue(key, sizeof key, TQ_DEFAULT_PREFIX, queue);
    redisReply *r = redisCommand(c, "LPUSH %s %b", key, payload, len);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

int wt_push(redisContext *c, const char *queue, const char *run, enum tq_task_kind kind,
            int64_t arg, int max_attempts, int n) {
    char key[TQ_KEY_MAX], buf[512];
    tq_key_queue(key, sizeof key, TQ_DEFAULT_PREFIX, queue);
    struct tq_task t;
    memset(&t, 0, sizeof t);
    snprintf(t.run, sizeof t.run, "%s", run);
    t.kind = kind;
    t.arg = arg;
    t.max_attempts = max_attempts;
    int rc = 0;
    for (int done = 0; done < n && rc == 0;) {
        int chunk = n - done < 1000 ? n - done : 1000;
        for (int i = 0; i < chunk; i++) {
            t.id = (uint64_t)(done + i);
            t.enqueued_us = tq_clock_wall_us();
            int len = tq_task_encode(&t, buf, sizeof buf);
            if (len < 0) return -1;
            redisAppendCommand(c, "LPUSH %s %b", key, buf, (size_t)len);
        }
        for (int i = 0; i < chunk; i++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) return -1;
            if (r->type != REDIS_REPLY_INTEGER) rc = -1;
            freeReplyObject(r);
        }
        done += chunk;
    }
    return rc;
}

long long wt_hget(redisContext *c, const char *key, const char *field) {
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    long long v = 0;
    if (r && r->type == REDIS_REPLY_STRING) v = atoll(r->str);
    if (r) freeReplyObject(r);
    return v;
}

long long wt_stat(redisContext *c, const char *run, const char *field) {
    char key[TQ_KEY_MAX];
    tq_key_run_stats(key, sizeof key, TQ_DEFAULT_PREFIX, run);
    return wt_hget(c, key, field);
}

int wt_wait_done(redisContext *c, const char *run, long long want, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    do {
        if (wt_stat(c, run, TQ_STAT_COMPLETED) + wt_stat(c, run, TQ_STAT_FAILED) >= want) return 1;
        tq_test_sleep_ms(20);
    } while (tq_test_now_ms() < deadline);
    return 0;
}

int wt_wait_exists(redisContext *c, const char *key, int exists, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    do {
        if (tq_test_redis_int(c, "EXISTS %s", key) == exists) return 1;
        tq_test_sleep_ms(10);
    } while (tq_test_now_ms() < deadline);
    return 0;
}

int wt_wait_hget(redisContext *c, const char *key, const char *field, long long want,
                 int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    do {
        if (wt_hget(c, key, field) >= want) return 1;
        tq_test_sleep_ms(20);
    } while (tq_test_now_ms() < deadline);
    return 0;
}

long long wt_queue_len(redisContext *c, const char *queue) {
    char key[TQ_KEY_MAX];
    tq_key_queue(key, sizeof key, TQ_DEFAULT_PREFIX, queue);
    return tq_test_redis_int(c, "LLEN %s", key);
}

long long wt_hist_count(redisContext *c, const char *run, const char *worker_id,
                        const char *suffix) {
    char key[TQ_KEY_MAX];
    tq_key_run_hist(key, sizeof key, TQ_DEFAULT_PREFIX, run);
    redisReply *r = redisCommand(c, "HGET %s %s:%s", key, worker_id, suffix);
    long long count = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        tq_hist h;
        if (tq_hist_init(&h) == 0) {
            if (tq_hist_parse(&h, r->str, r->len) == 0) count = h.total_count;
            tq_hist_free(&h);
        }
    }
    if (r) freeReplyObject(r);
    return count;
}
