/* execute.c - running one popped task in its slot.
 *
 * noop finishes inline; sleep waits on the slot's uv timer (I/O-bound work);
 * cpu spins the given µs of thread CPU time on libuv's thread pool, so the
 * loop (heartbeats, other slots) keeps going; fail goes back to its list with
 * attempt+1 while attempts remain (counted `retried`), and the last attempt
 * is counted `failed`. A payload that does not decode is counted `failed` in
 * its run when its run id could be read, always in the worker's own counter,
 * and logged at a bounded rate.
 *
 * Reliable queues (--protocol asynctasq): every finished payload, completed,
 * failed or malformed, is acked in the flush that counts it (requeue_ack),
 * so it leaves the processing list in the same transaction.
 *
 * Latency (wall-clock µs, so it compares with the producer's stamps):
 * origin = scheduled time if the task has one (open-loop runs), else its
 * enqueue time; start = when the worker turns to the task (before decoding
 * it); queue_wait = start - origin, service = done - start, end_to_end =
 * done - origin. Tasks a batch runs back to back share one clock read: the
 * one that ends a task starts the next (a read costs ~25 ns here, about a
 * tenth of a noop task). Only completed tasks enter the histograms, and
 * each of them exactly once per histogram: service count + out_of_range =
 * `completed`, and so is queue_wait's and end_to_end's count + out_of_range
 * + no_origin (tasks without an origin stamp, whose queue wait is unknown).
 *
 * A payload larger than --max-payload-bytes is refused before anything is
 * copied or decoded: counted failed in the run a bounded peek at its first
 * and last bytes names (tqbench's producers write the run id there), else in
 * --run, so a run still reaches completed + failed == pushed. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tq_clock.h"

/* Reliable queues: the running entry's payload leaves the processing list
 * with the flush that counts it. */
static void task_ack(struct slot *s, enum requeue_op op) {
    struct worker *w = s->w;
    if (!w->cfg->protocol->processing_suffix) return;
    const struct entry *e = &s->ents[s->next];
    if (requeue_ack(w, e->key, entry_payload(s, e), e->len, op) != 0)
        worker_fail(w, "out of memory for an ack");
}

static void task_end(struct slot *s) {
    s->next++;
    if (s->w->cfg->reliable) s->acks++; /* trimmed from its list by the flush counting it */
    s->busy = 0;
    s->w->inflight--;
}

static void task_completed(struct slot *s) {
    struct run_state *r = s->task_run;
    int64_t done = tq_clock_wall_us();
    s->stamp_us = done; /* the next task run back to back starts here */
    int64_t origin = s->task.scheduled_us ? s->task.scheduled_us : s->task.enqueued_us;
    /* Out-of-range values (a producer clock ahead of ours, say) are counted
     * by the histogram, never clamped. A task without an enqueue stamp (a
     * Celery message from Celery's own client) has a service time only:
     * its queue wait is unknown, not huge. */
    tq_hist_record(&r->service, done - s->task_start_us);
    if (origin > 0) {
        tq_hist_record(&r->queue_wait, s->task_start_us - origin);
        tq_hist_record(&r->end_to_end, done - origin);
        if (s->w->cfg->trace && run_trace_add(r, origin, s->task_start_us, done) != 0)
            worker_log_limited(s->w, &s->w->rl_reply, TQ_LOG_WARN,
                               "out of memory for a task's --trace stamps: left out");
    } else {
        r->no_origin++;
    }
    if (r->first_start_us == 0 || s->task_start_us < r->first_start_us)
        r->first_start_us = s->task_start_us;
    if (done > r->last_done_us) r->last_done_us = done;
    if (r->first_done_us == 0 || done < r->first_done_us) r->first_done_us = done;
    r->completed++;
    r->hist_dirty = 1;
    s->w->processed++;
    task_ack(s, REQUEUE_ACK_COMPLETED);
    task_end(s);
}

static void task_failed(struct slot *s, struct run_state *r) {
    if (r) r->failed++;
    s->w->failed++;
    s->w->processed++;
    task_ack(s, REQUEUE_ACK_FAILED);
    task_end(s);
}

static void task_malformed(struct slot *s, const char *why) {
    struct worker *w = s->w;
    const struct entry *e = &s->ents[s->next];
    /* Counted in its own run when the run id could be read, else in --run
     * (as for any payload that carries none), so a run still reaches
     * completed + failed == pushed. */
    const char *run_id = s->task.run[0] && tq_name_valid(s->task.run) ? s->task.run : w->cfg->run;
    struct run_state *r = runs_get(w, run_id);
    if (!r) worker_fail(w, "out of memory for a run state");
    int64_t suppressed = 0;
    if (tq_ratelimit_allow(&w->rl_task, &suppressed)) {
        char ex[64], more[64] = "";
        tq_log_excerpt(entry_payload(s, e), e->len, 48, ex, sizeof ex);
        if (suppressed)
            snprintf(more, sizeof more, " (%lld similar messages suppressed)",
                     (long long)suppressed);
        tq_warn("malformed task from %s (%u bytes, \"%s\"): %s; counted failed%s%s%s",
                w->keys[e->key], e->len, ex, why, r ? " in run " : "", r ? r->id : "",
                more);
    }
    task_failed(s, r);
}

#define PEEK_HEAD 1024 /* bytes searched for the run id at each end of a refused payload */
#define PEEK_TAIL 4096

/* Finds "<field>": "<name>" in p[0..len) (JSON spacing either way) and
 * copies a valid run name into run. Returns 1 when found. */
static int peek_in(const char *p, size_t len, const char *field, char run[TQ_NAME_MAX]) {
    char pat[64];
    int plen = snprintf(pat, sizeof pat, "\"%s\"", field);
    if (plen <= 0 || (size_t)plen >= sizeof pat) return 0;
    for (const char *q = p, *end = p + len; (size_t)(end - q) > (size_t)plen;) {
        const char *hit = memmem(q, (size_t)(end - q), pat, (size_t)plen);
        if (!hit) return 0;
        const char *v = hit + plen;
        q = hit + 1;
        while (v < end && *v == ' ') v++;
        if (v >= end || *v++ != ':') continue;
        while (v < end && *v == ' ') v++;
        if (v >= end || *v++ != '"') continue;
        const char *close = memchr(v, '"', (size_t)(end - v));
        if (!close || close - v >= TQ_NAME_MAX) continue;
        memcpy(run, v, (size_t)(close - v));
        run[close - v] = '\0';
        if (tq_name_valid(run)) return 1;
    }
    return 0;
}

/* The run id of a payload too large to decode, from its first PEEK_HEAD and
 * last PEEK_TAIL bytes only (the native task has it second, a Celery
 * envelope in the headers after the body); "" when not found. */
static void peek_run(const struct tq_protocol *proto, const char *p, size_t len,
                     char run[TQ_NAME_MAX]) {
    run[0] = '\0';
    if (!proto->run_field) return;
    size_t head = len < PEEK_HEAD ? len : PEEK_HEAD;
    if (peek_in(p, head, proto->run_field, run)) return;
    size_t tail = len - head < PEEK_TAIL ? len - head : PEEK_TAIL;
    if (tail && peek_in(p + len - tail, tail, proto->run_field, run)) return;
    run[0] = '\0';
}

void task_refuse_oversized(struct slot *s, const char *p, size_t len, int key) {
    struct worker *w = s->w;
    char run_id[TQ_NAME_MAX];
    peek_run(w->cfg->protocol, p, len, run_id);
    struct run_state *r = runs_get(w, run_id[0] ? run_id : w->cfg->run);
    if (!r) worker_fail(w, "out of memory for a run state");
    int64_t suppressed = 0;
    if (tq_ratelimit_allow(&w->rl_task, &suppressed)) {
        char ex[64], more[64] = "";
        tq_log_excerpt(p, len, 48, ex, sizeof ex);
        if (suppressed)
            snprintf(more, sizeof more, " (%lld similar messages suppressed)",
                     (long long)suppressed);
        tq_warn("oversized task from %s (%zu bytes, \"%s\"): larger than --max-payload-bytes "
                "%zu; counted failed%s%s%s",
                w->keys[key], len, ex, w->cfg->max_payload, r ? " in run " : "",
                r ? r->id : "", more);
    }
    if (r) r->failed++;
    w->failed++;
    w->processed++;
    if (w->cfg->reliable) s->refused++; /* trimmed once the tasks taken before it are */
    /* copied whole: on a reliable queue the payload itself is the receipt */
    if (w->cfg->protocol->processing_suffix && requeue_ack(w, key, p, len, REQUEUE_ACK_FAILED) != 0)
        worker_fail(w, "out of memory for an ack");
}

/* A failed attempt: back onto its list with attempt+1 while attempts remain.
 * The payload is re-encoded, so only the native protocol can do it; other
 * protocols count every failure as final. */
static void task_fail(struct slot *s) {
    struct worker *w = s->w;
    struct run_state *r = s->task_run;
    const struct entry *e = &s->ents[s->next];
    if (s->task.attempt + 1 >= s->task.max_attempts || w->cfg->protocol != &tq_protocol_native) {
        task_failed(s, r);
        return;
    }
    struct tq_task t = s->task;
    t.attempt++;
    char stack[4096];
    size_t cap = (size_t)e->len + 64; /* attempt gains at most a few digits */
    char *buf = cap <= sizeof stack ? stack : malloc(cap);
    int n = buf ? tq_task_encode(&t, buf, cap) : -1;
    int rc = n < 0 ? -1 : requeue_add(w, e->key, buf, (size_t)n, 0);
    if (buf != stack) free(buf);
    if (rc != 0) {
        if (buf && n < 0)
            tq_error("task %llu of run %s: cannot re-encode it for attempt %d; counted failed",
                     (unsigned long long)t.id, r->id, t.attempt);
        else
            worker_fail(w, "out of memory for a re-enqueued task");
        task_failed(s, r);
        return;
    }
    r->retried++;
    task_end(s);
}

static void sleep_done(uv_timer_t *t) {
    struct slot *s = t->data;
    if (s->abandoned) return;
    task_completed(s);
    slot_advance(s);
}

/* Runs on a thread-pool thread: burns the task's µs of this thread's CPU. */
static void cpu_spin(uv_work_t *req) {
    const struct slot *s = req->data;
    int64_t want_ns = s->task.arg * 1000;
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    uint64_t sink = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) sink += (uint64_t)i * 2654435761u;
        __asm__ volatile("" : : "r"(sink) : "memory"); /* the work is not optimised away */
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        int64_t spent = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
        if (spent >= want_ns) break;
    }
}

static void cpu_done(uv_work_t *req, int status) {
    struct slot *s = req->data;
    if (s->abandoned) return;
    if (status != 0) {
        tq_error("consumer %d: cpu task could not run: %s", s->index, uv_strerror(status));
        task_failed(s, s->task_run);
    } else {
        task_completed(s);
    }
    slot_advance(s);
}

void task_start(struct slot *s) {
    struct worker *w = s->w;
    const struct entry *e = &s->ents[s->next];
    char err[256];
    /* The task starts when the worker turns to it, before decoding: right
     * after the previous task of the batch ended (that same clock read), or
     * now. */
    int64_t start_us = s->stamp_us ? s->stamp_us : tq_clock_wall_us();
    s->stamp_us = 0;
    if (w->cfg->protocol->decode(entry_payload(s, e), e->len, &s->task, err, sizeof err) != 0) {
        task_malformed(s, err);
        return;
    }
    if ((s->task.kind == TQ_KIND_SLEEP && s->task.arg > TQ_TASK_SLEEP_MS_MAX) ||
        (s->task.kind == TQ_KIND_CPU && s->task.arg > TQ_TASK_CPU_US_MAX)) {
        /* tq_limits.h: a larger value is a malformed task, not a stuck slot */
        snprintf(err, sizeof err, "arg %lld out of range for a %s task (at most one hour)",
                 (long long)s->task.arg, tq_task_kind_name(s->task.kind));
        task_malformed(s, err);
        return;
    }
    struct run_state *r = runs_get(w, s->task.run[0] ? s->task.run : w->cfg->run);
    if (!r) {
        worker_fail(w, "out of memory for a run state");
        task_failed(s, NULL);
        return;
    }
    s->task_run = r;
    s->task_start_us = start_us;
    switch (s->task.kind) {
    case TQ_KIND_NOOP:
        task_completed(s);
        return;
    case TQ_KIND_SLEEP:
        s->busy = 1;
        uv_timer_start(&s->sleep, sleep_done, (uint64_t)s->task.arg, 0);
        return;
    case TQ_KIND_CPU: {
        s->busy = 1;
        s->work.data = s;
        int rc = uv_queue_work(w->loop, &s->work, cpu_spin, cpu_done);
        if (rc != 0) {
            tq_error("consumer %d: cannot queue a cpu task: %s", s->index, uv_strerror(rc));
            task_failed(s, r);
        }
        return;
    }
    case TQ_KIND_FAIL:
        task_fail(s);
        return;
    default:
        snprintf(err, sizeof err, "unknown kind %d", (int)s->task.kind);
        task_malformed(s, err);
        return;
    }
}
