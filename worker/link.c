/* link.c - tqworker's self-reconnecting Redis connection (see link.h).
 *
 * The state a consumer slot and the control connection used to keep each in
 * their own copy: the context, whether it connected, the backoff, the retry
 * timer, and what the watchdog needs (when the connect started, how many
 * replies are awaited and since when). Log lines keep each owner's wording
 * through name and tag, and each owner's rate limiter. */
#include "worker.h"

#include <stdio.h>

#include "redis_uv.h"
#include "tq_clock.h"

/* hiredis's own default: its reader frees an idle buffer larger than this
 * before reading more (set explicitly, as 0 would keep the largest reply's
 * buffer for the life of the connection). */
#define READER_KEEP_MAX (16 * 1024)

static void on_retry(uv_timer_t *t) {
    struct link *l = t->data;
    l->ops->retry(l);
}

void link_init(struct link *l, struct worker *w, const struct link_ops *ops, void *data,
               tq_ratelimit *rl, const char *name, const char *tag) {
    l->w = w;
    l->ops = ops;
    l->data = data;
    l->rl = rl;
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->tag, sizeof l->tag, "%s", tag);
    uv_timer_init(w->loop, &l->retry);
    l->retry.data = l;
}

void link_backoff(struct link *l) {
    int ms = l->backoff_ms ? l->backoff_ms * 2 : WORKER_BACKOFF_MIN_MS;
    l->backoff_ms = ms > WORKER_BACKOFF_MAX_MS ? WORKER_BACKOFF_MAX_MS : ms;
    uv_timer_start(&l->retry, on_retry, (uint64_t)l->backoff_ms, 0);
}

/* After a failure or a loss: try again later, unless the owner is stopping. */
static void retry_later(struct link *l) {
    if (l->ops->wanted(l)) link_backoff(l);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    struct link *l = ac->data;
    struct worker *w = l->w;
    if (l->ac != ac) return; /* we let it go ourselves */
    if (status != REDIS_OK) {
        worker_log_limited(w, l->rl, TQ_LOG_WARN, "%scannot connect to %s: %s; retrying", l->tag,
                           w->cfg->redis_safe, ac->errstr[0] ? ac->errstr : "error");
        l->ac = NULL;
        l->failed = 1;
        /* hiredis frees ac after this returns; the pending commands'
         * callbacks then run with NULL replies and move the owner on. */
        retry_later(l);
        return;
    }
    l->connected = 1;
    if (l->ops->connected) l->ops->connected(l);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    struct link *l = ac->data;
    struct worker *w = l->w;
    (void)status;
    if (l->ac != ac) return; /* we let it go ourselves */
    l->ac = NULL;
    l->connected = 0;
    l->failed = 1;
    l->outstanding = 0;
    int again = l->ops->wanted(l);
    worker_log_limited(w, l->rl, TQ_LOG_WARN, "%slost connection to %s: %s%s", l->tag,
                       w->cfg->redis_safe, ac->errstr[0] ? ac->errstr : "closed",
                       again ? "; reconnecting" : "");
    if (again) link_backoff(l);
    if (l->ops->lost) l->ops->lost(l, again);
}

void link_connect(struct link *l) {
    struct worker *w = l->w;
    char err[1024];
    redisAsyncContext *ac =
        tq_redis_connect_async(&w->cfg->redis, &w->rl_setup, err, sizeof err);
    if (!ac) {
        worker_log_limited(w, l->rl, TQ_LOG_WARN, "%scannot connect to %s; retrying", l->tag,
                           err);
        l->failed = 1;
        retry_later(l);
        return;
    }
    if (redis_uv_attach(ac, &w->ru) != REDIS_OK) {
        redisAsyncFree(ac);
        worker_log_limited(w, l->rl, TQ_LOG_ERROR, "%scannot watch the connection to %s; retrying",
                           l->tag, w->cfg->redis_safe);
        l->failed = 1;
        retry_later(l);
        return;
    }
    ac->data = l;
    ac->c.reader->maxbuf = READER_KEEP_MAX;
    if (l->arena) reply_arena_attach(l->arena, ac->c.reader);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    l->connected = 0;
    l->outstanding = 0;
    l->conn_started_us = tq_clock_mono_us();
    l->ops->opened(l);
}

void link_sent(struct link *l, int64_t limit_us) {
    if (l->outstanding++ == 0) l->since_us = tq_clock_mono_us();
    l->limit_us = limit_us;
}

void link_replied(struct link *l) {
    if (l->outstanding > 0) l->outstanding--;
    l->since_us = tq_clock_mono_us();
}

void link_healthy(struct link *l) {
    l->backoff_ms = 0;
}

void link_drop(struct link *l, const char *why) {
    struct worker *w = l->w;
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->connected = 0;
    l->failed = 1;
    worker_log_limited(w, l->rl, TQ_LOG_WARN, "%s: %s on %s; reconnecting", l->name, why,
                       w->cfg->redis_safe);
    redisAsyncFree(ac); /* the pending callbacks run now, with NULL replies */
    l->outstanding = 0;
    retry_later(l);
}

void link_watchdog(struct link *l, int64_t now_us) {
    if (!l->ac) return;
    char why[96];
    if (l->outstanding > 0 && now_us - l->since_us > l->limit_us) {
        snprintf(why, sizeof why, "no reply%s%s for %lld ms", l->awaits ? " to " : "",
                 l->awaits ? l->awaits : "", (long long)((now_us - l->since_us) / 1000));
        link_drop(l, why);
    } else if (!l->connected &&
               now_us - l->conn_started_us > WORKER_CONNECT_TIMEOUT_MS * 1000LL) {
        snprintf(why, sizeof why, "connect timed out after %d ms", WORKER_CONNECT_TIMEOUT_MS);
        link_drop(l, why);
    }
}

void link_stop(struct link *l) {
    uv_timer_stop(&l->retry);
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        l->connected = 0;
        redisAsyncFree(ac);
    }
}

void link_close(struct link *l) {
    link_stop(l);
    uv_close((uv_handle_t *)&l->retry, NULL);
}
