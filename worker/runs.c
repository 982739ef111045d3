/* runs.c - per-run state: the counters and the three latency histograms a
 * worker keeps for each run id it has seen. Runs are few (usually one at a
 * time), so a list with a last-used shortcut is all the lookup needs. A run
 * state whose data is all in Redis and that saw nothing for a while is freed;
 * if the run comes back, control.c merges the snapshot from Redis first. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_clock.h"

static void run_destroy(struct run_state *r) {
    free(r->trace.data);
    free(r->trace_sent.data);
    tq_hist_free(&r->queue_wait);
    tq_hist_free(&r->service);
    tq_hist_free(&r->end_to_end);
    free(r);
}

static struct run_state *run_create(struct worker *w, const char *id) {
    struct run_state *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->id, sizeof r->id, "%s", id);
    if (tq_key_run_stats(r->stats_key, sizeof r->stats_key, w->cfg->prefix, id) < 0 ||
        tq_key_run_hist(r->hist_key, sizeof r->hist_key, w->cfg->prefix, id) < 0 ||
        tq_key_run_trace(r->trace_key, sizeof r->trace_key, w->cfg->prefix, id) < 0) {
        free(r);
        return NULL;
    }
    int ok = tq_hist_init(&r->queue_wait) == 0;
    ok = (tq_hist_init(&r->service) == 0) && ok;
    ok = (tq_hist_init(&r->end_to_end) == 0) && ok;
    if (!ok) {
        run_destroy(r);
        return NULL;
    }
    r->active_us = tq_clock_mono_us();
    return r;
}

struct run_state *runs_get(struct worker *w, const char *id) {
    struct run_state *r = w->last_run;
    if (r && strcmp(r->id, id) == 0) return r;
    for (r = w->runs; r; r = r->next)
        if (strcmp(r->id, id) == 0) break;
    if (!r) {
        r = run_create(w, id);
        if (!r) return NULL;
        r->next = w->runs;
        w->runs = r;
        tq_debug("run %s: new run state", id);
    }
    w->last_run = r;
    return r;
}

int run_is_clean(const struct run_state *r) {
    return r->completed == 0 && r->failed == 0 && r->retried == 0 && r->sent_completed == 0 &&
           r->sent_failed == 0 && r->sent_retried == 0 && !r->hist_dirty && !r->hist_sent &&
           r->trace.n == 0 && r->trace_sent.n == 0 && r->load != RUN_LOAD_PENDING;
}

/* Appends len bytes to b. Returns 0, or -1 out of memory. */
static int trace_append(struct trace_buf *b, const char *s, size_t len) {
    if (len == 0) return 0; /* s may be an empty buffer's NULL */
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + len) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    return 0;
}

int run_trace_add(struct run_state *r, int64_t origin_us, int64_t start_us, int64_t done_us) {
    char e[72];
    int len = snprintf(e, sizeof e, "%lld,%lld,%lld", (long long)origin_us, (long long)start_us,
                       (long long)done_us);
    if (trace_append(&r->trace, e, (size_t)len + 1) != 0) return -1; /* with its NUL */
    r->trace.n++;
    return 0;
}

void run_trace_settle(struct run_state *r, int ok) {
    struct trace_buf *sent = &r->trace_sent;
    if (!ok && sent->n > 0) {
        /* the failed flush's stamps first, then what came since */
        if (trace_append(sent, r->trace.data, r->trace.len) == 0) {
            sent->n += r->trace.n;
            struct trace_buf t = r->trace;
            r->trace = *sent;
            *sent = t;
        } else {
            tq_warn("run %s: out of memory re-queueing %ld task stamps: they are lost", r->id,
                    sent->n);
        }
    }
    sent->len = 0;
    sent->n = 0;
}

void runs_reap(struct worker *w, int64_t now_us) {
    struct run_state **pp = &w->runs;
    while (*pp) {
        struct run_state *r = *pp;
        /* A run that never got its snapshot merged (load NONE) with data in
         * its histograms is not clean: hist_dirty stays set until written. */
        if (run_is_clean(r) && now_us - r->active_us >= (int64_t)WORKER_RUN_IDLE_MS * 1000) {
            *pp = r->next;
            if (w->last_run == r) w->last_run = NULL;
            tq_debug("run %s: idle, state freed", r->id);
            run_destroy(r);
        } else {
            pp = &r->next;
        }
    }
}

void runs_free(struct worker *w) {
    while (w->runs) {
        struct run_state *r = w->runs;
        w->runs = r->next;
        run_destroy(r);
    }
    w->last_run = NULL;
}
