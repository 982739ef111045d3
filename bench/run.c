/* run.c - one run of one scenario on one framework (see run.h).
 *
 * Every phase that waits pumps the event loop, so the resource monitor keeps
 * sampling and SIGINT/SIGTERM is noticed within ~100 ms anywhere; every
 * failure (or interruption) falls through to the same teardown. */
#include "run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cleanup.h"
#include "coldstart.h"
#include "collect.h"
#include "fw_options.h"
#include "monitor.h"
#include "producer.h"
#include "stats.h"
#include "tq_clock.h"
#include "tq_keys.h"
#include "tq_log.h"
#include "tq_spawn.h"
#include "workers.h"

#define PROBE_MIN_TASKS 1000     /* capacity probe for a rate scenario without a rate */
#define PROBE_FIRST_TASKS 100    /* a growing probe's first backlog (probe_min_s) */
#define PROBE_MAX_TASKS 200000   /* ... and its largest */
#define CHECK_EVERY_US 250000    /* workers' liveness and heartbeats */
#define PLAIN_PROGRESS_US 5000000
/* workers' stop grace: above tqworker's own limit for its final flush
 * (WORKER_SHUTDOWN_FLUSH_MS, 5 s), so a worker that gives up flushing to a
 * hung Redis still exits by itself before it is killed */
#define STOP_GRACE_MS 7000
#define LATENCY_SETTLE_US 3000000 /* histograms trailing the counters by a flush */
/* a multi-queue run's observed order: consecutive queues' windows overlap
 * less than this (strict priority; the tail of a queue still in flight
 * when the next begins) or at least that (drained together) */
#define ORDER_STRICT_OVERLAP 0.25
#define ORDER_TOGETHER_OVERLAP 0.5
/* a burst run's latency over time: the end-to-end histogram of the tasks
 * completed in each window of this long, from snapshots of the workers'
 * histograms (flushed every ~100 ms) */
#define BURST_WINDOW_US 250000
#define BURST_MAX 16              /* bursts whose recovery a run reports */

/* A burst run's latency over time (BURST_WINDOW_US windows by completion,
 * seconds from the producer's start) and, per burst, the histogram of the
 * base-rate part of its period before it (snapshots at the period's start
 * and at the burst's). */
struct burst_window {
    double t_s;        /* the window's end */
    long count;        /* tasks completed in it */
    double p99_us;     /* NAN when none */
};
struct burst_track {
    struct run_latency cur, prev;
    tq_hist win;
    int nb;                              /* bursts within the duration */
    tq_hist at_period[BURST_MAX], at_burst[BURST_MAX];
    int have_period[BURST_MAX], have_burst[BURST_MAX];
    struct burst_window *w;
    int nw, capw;
    int64_t last_us;                     /* the last sample (mono) */
    /* every task's stamps, sorted by scheduled time (recovery.h), read
     * after the run; none when the workers write no per-task stamps */
    struct task_stamp *tasks;
    long ntasks;
};

struct run_ctx {
    struct bench *b;
    const struct scenario *s;
    const struct tq_framework *fw;
    struct fw_run fr;
    struct worker_set ws;
    int settings_read;           /* spawned workers' heartbeat settings were read */
    struct producer prod;
    struct cleanup_live live;    /* P:run:<run>:live, refreshed while the run goes on */
    void *fw_state;              /* the adapter's per-run state (prepare/finish) */
    int prepared;                /* prepare was called: finish is due */
    char queue_key[TQ_KEY_MAX];
    char label[160];             /* "throughput/native #1" for progress lines */
    char err[1024];
    size_t pad_len;
    double rate;                 /* offered rate (rate arrival) */
    double capacity;             /* measured by the probe, 0 when none */
    int probe_rounds;            /* backlogs the probe drained */
    long probe_tasks;            /* ... the last one's size */
    /* Redis's used_memory around the measured backlog's enqueue (backlog,
     * cold): before, and with the whole backlog queued; -1 unknown */
    long long mem_before, mem_queued;
    /* cold start: the first spawn (wall µs); its figures (coldstart.h),
     * read back at the collect, NULL until then */
    int64_t spawn_wall_us;
    cJSON *cold;
    /* several queues (scenario "queues"): queue i's tasks are the sub-run
     * sub[i] = "<run>-q<i>" on qkey[i]; the run's counters and latency are
     * their sums (run_counters, collect_latency); each one's own figures
     * for the record */
    int nsub;
    char sub[FW_QUEUES_MAX][TQ_NAME_MAX];
    char qkey[FW_QUEUES_MAX][TQ_KEY_MAX];
    long sub_tasks[FW_QUEUES_MAX];
    long sub_done[FW_QUEUES_MAX];
    int have_sub_lat;
    struct run_latency sub_lat[FW_QUEUES_MAX];
    /* a burst run (burst.factor > 1): windows of latency over time */
    struct burst_track *bt;
    long warmup_done;
    int64_t warmup_last_done_us; /* the warm-up's last completion (workers' clock), 0 none */
    long enqueued, completed, failed, retried;
    int64_t clock_start_wall_us; /* 0 until the measured phase started */
    int64_t wait_end_wall_us;    /* when completion was seen */
    long tasks;                  /* of the measured phase */
    /* what the measured phase collected */
    int measured;                /* the monitor ran */
    struct monitor mon;
    int have_lat;
    struct run_latency lat;
    int have_stats;
    struct redis_stats rs[2];    /* INFO before and after */
    struct cmd_count cmds_begin; /* the driver's commands when rs[0] was read */
    struct cmd_count cmds_window;/* ... sent between rs[0] and rs[1] */
    long queued_at_end;          /* the run's tasks on its lists after the stop, -1 unknown */
    long in_flight_at_end;       /* ... on the adapter's in-flight lists, -1 unknown */
    int inflight_lists;          /* how many such lists the adapter named */
    long pops_abandoned;         /* workers' pops abandoned in the measured phase, -1 unknown */
    /* an external queue's tasks of others (--shared-queue), -1 unknown */
    long foreign_at_start;       /* on the queue when the measured phase began */
    long foreign_at_end;         /* on the queue after the stop */
    double client_rate;          /* the framework's own client, < 0 when none */
    char client_err[256];
};

static int fail(struct run_ctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct run_ctx *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

static void progress_clear(struct run_ctx *r) {
    if (r->b->tty && !r->b->cfg->quiet) fprintf(stderr, "\r\033[K");
}

static void progress_show(struct run_ctx *r, const char *what, long done, long total,
                          double per_s) {
    if (r->b->cfg->quiet) return;
    double pct = total > 0 ? 100.0 * (double)done / (double)total : 0;
    char eta[32] = "-";
    if (per_s > 0 && done < total) snprintf(eta, sizeof eta, "%.0fs", (double)(total - done) / per_s);
    if (r->b->tty)
        fprintf(stderr, "\r\033[K  %s %s %ld/%ld (%.1f%%) %.0f tasks/s ETA %s", r->label, what, done,
                total, pct, per_s, eta);
    else
        fprintf(stderr, "  %s %s %ld/%ld (%.1f%%) %.0f tasks/s ETA %s\n", r->label, what, done,
                total, pct, per_s, eta);
    fflush(stderr);
}

/* The last progress line, once the run is collected: its rate is the
 * run's end-to-end throughput, exactly as results.json has it. */
static void progress_final(struct run_ctx *r, long done, double per_s) {
    if (r->b->cfg->quiet) return;
    char rate[32] = "-";
    if (!isnan(per_s)) snprintf(rate, sizeof rate, "%.0f", per_s);
    double pct = r->tasks > 0 ? 100.0 * (double)done / (double)r->tasks : 0;
    fprintf(stderr, "%s  %s done %ld/%ld (%.1f%%) %s tasks/s\n", r->b->tty ? "\r\033[K" : "",
            r->label, done, r->tasks, pct, rate);
    fflush(stderr);
}

/* A burst run's tracker (NULL for any other run, or out of memory: its
 * windows are then absent from the record). */
static struct burst_track *burst_track_new(const struct scenario *s) {
    if (s->arrival != ARRIVAL_RATE || !(s->burst.factor > 1)) return NULL;
    struct burst_track *bt = calloc(1, sizeof *bt);
    if (!bt) return NULL;
    int ok = latency_init(&bt->cur) == 0;
    ok = (latency_init(&bt->prev) == 0) && ok;
    ok = (tq_hist_init(&bt->win) == 0) && ok;
    while (bt->nb < BURST_MAX && bt->nb * s->burst.every_s + s->burst.at_s < s->duration_s)
        bt->nb++;
    for (int k = 0; k < bt->nb; k++) {
        ok = (tq_hist_init(&bt->at_period[k]) == 0) && ok;
        ok = (tq_hist_init(&bt->at_burst[k]) == 0) && ok;
    }
    bt->have_period[0] = 1; /* nothing was done at the start */
    if (!ok) {
        tq_warn("out of memory for the burst windows: the run reports no recovery");
        latency_free(&bt->cur);
        latency_free(&bt->prev);
        tq_hist_free(&bt->win);
        for (int k = 0; k < bt->nb; k++) {
            tq_hist_free(&bt->at_period[k]);
            tq_hist_free(&bt->at_burst[k]);
        }
        free(bt);
        return NULL;
    }
    return bt;
}

static void burst_track_free(struct burst_track *bt) {
    if (!bt) return;
    latency_free(&bt->cur);
    latency_free(&bt->prev);
    tq_hist_free(&bt->win);
    for (int k = 0; k < bt->nb; k++) {
        tq_hist_free(&bt->at_period[k]);
        tq_hist_free(&bt->at_burst[k]);
    }
    free(bt->w);
    free(bt->tasks);
    free(bt);
}

/* win = a - b: the values recorded between two snapshots of one stream. */
static void hist_diff(tq_hist *win, const tq_hist *a, const tq_hist *b) {
    tq_hist_reset(win);
    for (int i = 0; i < a->counts_len && i < b->counts_len; i++) {
        int64_t d = a->counts[i] - b->counts[i];
        win->counts[i] = d > 0 ? d : 0;
        win->total_count += win->counts[i];
    }
    win->max = a->max; /* the cap of a percentile; the window's own is not known */
}

static void hist_copy(tq_hist *dst, const tq_hist *src) {
    tq_hist_reset(dst);
    tq_hist_merge(dst, src);
}

/* The progress of run_id as the framework counts it (fw_progress: the
 * native counters P:run:<run>:stats unless the adapter says otherwise). */
static int read_counters(struct run_ctx *r, const char *run_id, long *completed, long *failed,
                         long *retried) {
    char err[256];
    struct fw_progress pr = {0, 0, 0};
    int rc = fw_progress(r->fw, &r->fr, r->fw_state, r->b->c, run_id, &pr, err, sizeof err);
    /* the default's one HMGET (an adapter's own reads are not known here,
     * so Redis's per-task figures include them: bench/README.md) */
    if (!r->fw->progress) cmd_count_add(&r->b->cmds, "hmget", 1);
    if (rc != 0) return fail(r, "progress of run %s on Redis %s: %s", run_id, r->b->url_safe, err);
    *completed = pr.completed;
    *failed = pr.failed;
    *retried = pr.retried;
    return 0;
}

/* read_counters, but the run's own id sums a multi-queue run's queues. */
static int run_counters(struct run_ctx *r, const char *run_id, long *completed, long *failed,
                        long *retried) {
    if (run_id != r->fr.run_id || r->nsub == 0)
        return read_counters(r, run_id, completed, failed, retried);
    *completed = *failed = *retried = 0;
    for (int i = 0; i < r->nsub; i++) {
        long c, f, re;
        if (read_counters(r, r->sub[i], &c, &f, &re) != 0) return -1;
        r->sub_done[i] = c + f;
        *completed += c;
        *failed += f;
        *retried += re;
    }
    return 0;
}

/* Asks the framework about run_id once before any of its tasks is
 * enqueued, so an adapter counting deltas of global counters takes its
 * baseline then (framework.h, progress). */
static int progress_baseline(struct run_ctx *r, const char *run_id) {
    long c, f, re;
    return read_counters(r, run_id, &c, &f, &re);
}

/* The run's counters into r, once more (r->err is kept: a failed run's
 * cause stays its error when this read fails too). */
static void reread_counters(struct run_ctx *r) {
    long c = 0, f = 0, re = 0;
    char keep[sizeof r->err];
    memcpy(keep, r->err, sizeof keep);
    if (run_counters(r, r->fr.run_id, &c, &f, &re) == 0) {
        r->completed = c;
        r->failed = f;
        r->retried = re;
    }
    memcpy(r->err, keep, sizeof keep);
}

static long list_len(struct run_ctx *r, const char *key) {
    char err[256];
    redisReply *rep = tq_redis_command(r->b->c, err, sizeof err, "LLEN %s", key);
    cmd_count_add(&r->b->cmds, "llen", 1);
    long n = rep && rep->type == REDIS_REPLY_INTEGER ? (long)rep->integer : -1;
    if (rep) freeReplyObject(rep);
    return n;
}

static long queue_len(struct run_ctx *r) {
    long n = list_len(r, r->queue_key);
    for (int i = 1; i < r->nsub && n >= 0; i++) {
        long m = list_len(r, r->qkey[i]);
        n = m >= 0 ? n + m : -1;
    }
    return n;
}

/* Redis's used_memory (INFO memory: not counted among the run's commands,
 * as no INFO is), or -1 when unknown. */
static long long used_memory(struct run_ctx *r) {
    char err[256];
    redisReply *rep = tq_redis_command(r->b->c, err, sizeof err, "INFO memory");
    long long v = -1;
    const char *p = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "used_memory:") : NULL;
    if (p) v = atoll(p + strlen("used_memory:"));
    if (rep) freeReplyObject(rep);
    return v;
}

/* P:run:<run>:backlog, the staging list of a backlog (so the run's teardown
 * deletes it with the rest). */
static void backlog_key(struct run_ctx *r, const char *task_run, char *buf, size_t n) {
    int len = tq_key_run_pattern(buf, n, r->fr.prefix, task_run);
    if (len <= 0 || (size_t)len + 7 > n) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf + len - 1, n - (size_t)(len - 1), "backlog");
}

/* Refreshes the run's live key (cleanup.h) when due, so a `tqbench clean`
 * elsewhere keeps skipping it; counted among the driver's commands. */
static void keep_live(struct run_ctx *r) {
    char err[256];
    int ka = cleanup_run_keepalive(r->b->c, &r->live, err, sizeof err);
    if (ka > 0) cmd_count_add(&r->b->cmds, "set", 1);
    else if (ka < 0) tq_warn("run %s: refreshing its live key: %s", r->fr.run_id, err);
}

/* The live key's TTL: longer than the longest phase that does not refresh
 * it (the health-check's --health-timeout; the teardown's stop grace and
 * latency settle), so a clean never takes a live run for a dead one. */
static int live_ttl_ms(const struct run_ctx *r) {
    double ms = r->b->cfg->health_timeout_s * 1000 + STOP_GRACE_MS + LATENCY_SETTLE_US / 1000;
    return ms + 5000 > CLEANUP_LIVE_TTL_MS ? (int)(ms + 5000) : CLEANUP_LIVE_TTL_MS;
}

/* Joins a producer thread (asking it to stop first when stop is set) and
 * counts its connection's handshake among the driver's commands. */
static void producer_finish(struct run_ctx *r, struct producer *p, int stop) {
    producer_join(p, stop);
    if (p->connected) cmd_count_connect(&r->b->cmds, &p->url);
    p->connected = 0;
}

/* One window of a burst run: the workers' histograms now, less the last
 * snapshot; and the snapshots at each period's start and burst's start. */
static void burst_sample(struct run_ctx *r) {
    struct burst_track *bt = r->bt;
    int64_t t0 = atomic_load(&r->prod.clock_wall_us);
    char err[256];
    if (!bt || t0 <= 0) return;
    latency_reset(&bt->cur);
    int rc = latency_collect(r->b->c, r->fr.prefix, r->fr.run_id, &bt->cur, err, sizeof err);
    /* the driver's reads, apart from the workers' commands (cmdcount.h) */
    cmd_count_add(&r->b->cmds, "hgetall", 1);
    cmd_count_add(&r->b->cmds, "lrange", 1 + bt->cur.stamps / 10000);
    if (rc != 0) return;
    double t = (double)(tq_clock_wall_us() - t0) / 1e6;
    const struct schedule *b = &r->s->burst;
    for (int k = 0; k < bt->nb; k++) {
        if (!bt->have_period[k] && t >= k * b->every_s) {
            hist_copy(&bt->at_period[k], &bt->cur.end_to_end);
            bt->have_period[k] = 1;
        }
        if (!bt->have_burst[k] && t >= k * b->every_s + b->at_s) {
            hist_copy(&bt->at_burst[k], &bt->cur.end_to_end);
            bt->have_burst[k] = 1;
        }
    }
    if (bt->nw == bt->capw) {
        int cap = bt->capw ? bt->capw * 2 : 128;
        struct burst_window *w = realloc(bt->w, (size_t)cap * sizeof *w);
        if (!w) return;
        bt->w = w;
        bt->capw = cap;
    }
    hist_diff(&bt->win, &bt->cur.end_to_end, &bt->prev.end_to_end);
    struct burst_window *w = &bt->w[bt->nw++];
    w->t_s = t;
    w->count = (long)bt->win.total_count;
    w->p99_us = w->count > 0 ? (double)tq_hist_value_at_percentile(&bt->win, 99) : NAN;
    struct run_latency tmp = bt->prev;
    bt->prev = bt->cur;
    bt->cur = tmp;
}

/* Every task's stamps of a burst run (recovery.h), before the teardown
 * deletes them; none (windows then) when the workers wrote none. */
static void burst_read_tasks(struct run_ctx *r) {
    struct burst_track *bt = r->bt;
    char err[256];
    if (!bt || r->prod.start_wall_us <= 0) return;
    if (latency_task_stamps(r->b->c, r->fr.prefix, r->fr.run_id, r->prod.start_wall_us,
                            &bt->tasks, &bt->ntasks, err, sizeof err) != 0)
        tq_warn("run %s: reading the per-task stamps: %s; recovery from windows", r->fr.run_id,
                err);
    cmd_count_add(&r->b->cmds, "lrange", 2 + bt->ntasks / 10000);
    recovery_sort(bt->tasks, bt->ntasks);
}

/* Per burst: the p99 of the base rate before it (its period's part before
 * the burst), the worst window from its start to the next burst, and the
 * recovery: with every task's stamps, recovery.h's rule, exact to the task;
 * else from the burst's end to the end of the first window whose p99 is
 * back within RECOVERY_FACTOR x that. Null when it never was before the
 * next burst or the run's end. */
static cJSON *burst_json(struct run_ctx *r) {
    struct burst_track *bt = r->bt;
    const struct schedule *b = &r->s->burst;
    const int per_task = bt->ntasks > 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "window_s", BURST_WINDOW_US / 1e6);
    cJSON_AddNumberToObject(o, "base_rate_per_s", r->rate);
    cJSON_AddNumberToObject(o, "burst_rate_per_s", r->rate * b->factor);
    cJSON_AddNumberToObject(o, "recovered_within", RECOVERY_FACTOR);
    cJSON_AddStringToObject(o, "recovery_from", per_task ? "task stamps" : "windows");
    char rule[512];
    if (per_task)
        snprintf(rule, sizeof rule,
                 "from the burst's end to the scheduled time of the first task scheduled after "
                 "it that starts %d consecutive tasks (in scheduled order; or every task left "
                 "before the next burst) with end-to-end latency within %gx the p99 of the "
                 "tasks scheduled in the period before the burst",
                 RECOVERY_RUN, RECOVERY_FACTOR);
    else
        snprintf(rule, sizeof rule,
                 "no per-task stamps: from the burst's end to the end of the first %g s window "
                 "(by completion) whose p99 is within %gx the pre-burst p99 (resolution: one "
                 "window plus the workers' ~100 ms flush)",
                 BURST_WINDOW_US / 1e6, RECOVERY_FACTOR);
    cJSON_AddStringToObject(o, "recovery_rule", rule);
    cJSON_AddNumberToObject(o, "tasks_stamped", (double)bt->ntasks);
    cJSON *pb = cJSON_AddArrayToObject(o, "per_burst");
    for (int k = 0; k < bt->nb; k++) {
        double start = k * b->every_s + b->at_s, end = start + b->length_s;
        double next = k + 1 < bt->nb ? (k + 1) * b->every_s + b->at_s : INFINITY;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "start_s", start);
        cJSON_AddNumberToObject(e, "end_s", end);
        double pre = NAN, peak = NAN, rec = NAN;
        if (per_task) {
            long count;
            pre = recovery_p99(bt->tasks, bt->ntasks, k * b->every_s, start, &count);
            cJSON_AddNumberToObject(e, "pre_burst_tasks", (double)count);
            rec = recovery_after(bt->tasks, bt->ntasks, end, next, RECOVERY_FACTOR * pre);
        } else if (bt->have_period[k] && bt->have_burst[k]) {
            hist_diff(&bt->win, &bt->at_burst[k], &bt->at_period[k]);
            if (bt->win.total_count > 0) pre = (double)tq_hist_value_at_percentile(&bt->win, 99);
            cJSON_AddNumberToObject(e, "pre_burst_tasks", (double)bt->win.total_count);
        }
        for (int i = 0; i < bt->nw; i++) {
            const struct burst_window *w = &bt->w[i];
            if (w->t_s <= start || isnan(w->p99_us)) continue;
            if (w->t_s > next) break;
            if (isnan(peak) || w->p99_us > peak) peak = w->p99_us;
            if (!per_task && !isnan(pre) && isnan(rec) && w->t_s > end &&
                w->p99_us <= RECOVERY_FACTOR * pre)
                rec = w->t_s - end;
        }
        stats_add_number(e, "pre_burst_p99_us", pre);
        stats_add_number(e, "peak_window_p99_us", peak);
        stats_add_number(e, "recovery_s", rec);
        cJSON_AddItemToArray(pb, e);
    }
    cJSON *ws = cJSON_AddArrayToObject(o, "windows");
    for (int i = 0; i < bt->nw; i++) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "t_s", bt->w[i].t_s);
        cJSON_AddNumberToObject(w, "tasks", (double)bt->w[i].count);
        stats_add_number(w, "p99_us", bt->w[i].p99_us);
        cJSON_AddItemToArray(ws, w);
    }
    return o;
}

/* The recovery of each burst on stderr, after the run's last line. */
static void burst_say(struct run_ctx *r, const cJSON *run) {
    const cJSON *pb = cJSON_GetObjectItem(cJSON_GetObjectItem(run, "bursts"), "per_burst"), *e;
    fprintf(stderr, "  %s recovery after each burst (%s within %gx the pre-burst p99):",
            r->label, r->bt->ntasks > 0 ? "per task: a run of tasks" : "a window's p99",
            RECOVERY_FACTOR);
    cJSON_ArrayForEach(e, pb) {
        const cJSON *rec = cJSON_GetObjectItem(e, "recovery_s");
        const cJSON *pre = cJSON_GetObjectItem(e, "pre_burst_p99_us");
        if (cJSON_IsNumber(rec))
            fprintf(stderr, " %.2f s (pre-burst p99 %.2f ms)", rec->valuedouble,
                    pre->valuedouble / 1e3);
        else fprintf(stderr, " not recovered");
    }
    fprintf(stderr, "\n");
}

/* Waits until run_id counted target tasks (and prod, when given, ended).
 * Fails on a signal, a dead worker or expired heartbeat, no progress for
 * --stall-timeout, the deadline, or a producer error. */
static int wait_done(struct run_ctx *r, const char *run_id, long target, struct producer *prod,
                     int64_t deadline_us, int show) {
    const struct config *cfg = r->b->cfg;
    int64_t now = tq_clock_mono_us();
    int64_t last_change = now, last_check = 0, last_line = 0;
    long last_done = -1;
    double per_s = 0;
    for (;;) {
        int sig = evloop_pump(&r->b->ev, 100);
        if (sig) {
            progress_clear(r);
            return fail(r, "interrupted by %s", evloop_signal_name(sig));
        }
        long c, f, re;
        if (run_counters(r, run_id, &c, &f, &re) != 0) return -1;
        long done = c + f;
        if (prod && atomic_load(&prod->done) && prod->rc != 0) {
            progress_clear(r);
            return fail(r, "producer: %s", prod->err);
        }
        if (run_id == r->fr.run_id) {
            r->completed = c;
            r->failed = f;
            r->retried = re;
        }
        now = tq_clock_mono_us();
        /* the rate since the run's clock started (the backlog's release or
         * the first LPUSH), as results.json's end-to-end throughput */
        int64_t clock0 = r->clock_start_wall_us;
        if (clock0 <= 0 && prod) clock0 = atomic_load(&prod->clock_wall_us);
        int64_t wall = tq_clock_wall_us();
        per_s = clock0 > 0 && wall > clock0 ? (double)done * 1e6 / (double)(wall - clock0) : 0;
        if (done >= target && (!prod || atomic_load(&prod->done))) {
            r->wait_end_wall_us = wall;
            /* the last line comes once the run is collected (progress_final) */
            if (show) progress_clear(r);
            return 0;
        }
        if (done != last_done) {
            last_done = done;
            last_change = now;
        } else if (now - last_change > (int64_t)(cfg->stall_timeout_s * 1e6)) {
            progress_clear(r);
            return fail(r,
                        "stalled: no task finished for %.1f s (--stall-timeout); %ld of %ld "
                        "counted (completed %ld, failed %ld), %ld still on %s",
                        cfg->stall_timeout_s, done, target, c, f, queue_len(r), r->queue_key);
        }
        if (r->bt && prod && run_id == r->fr.run_id && now - r->bt->last_us >= BURST_WINDOW_US) {
            r->bt->last_us = now;
            burst_sample(r);
        }
        if (now - last_check >= CHECK_EVERY_US) {
            last_check = now;
            char werr[768];
            if (workers_check(&r->ws, r->b->c, werr, sizeof werr) != 0) {
                progress_clear(r);
                return fail(r, "%s; %ld of %ld counted", werr, done, target);
            }
            keep_live(r);
        }
        if (now > deadline_us) {
            progress_clear(r);
            return fail(r, "did not complete within timeout_s=%g (scenario %s): %ld of %ld counted",
                        r->s->timeout_s, r->s->name, done, target);
        }
        if (show && (r->b->tty ? now - last_line >= 200000 : now - last_line >= PLAIN_PROGRESS_US)) {
            last_line = now;
            progress_show(r, "", done, target, per_s);
        }
    }
}

/* Waits for a producer thread to end (backlog enqueue), watching workers.
 * The thread is always joined before returning (stopped early on failure). */
static int wait_producer(struct run_ctx *r, struct producer *p, int64_t deadline_us) {
    int64_t last_check = 0;
    while (!atomic_load(&p->done)) {
        int sig = evloop_pump(&r->b->ev, 100);
        int rc = 0;
        if (sig) rc = fail(r, "interrupted by %s during enqueue", evloop_signal_name(sig));
        int64_t now = tq_clock_mono_us();
        if (rc == 0 && now - last_check >= CHECK_EVERY_US) {
            last_check = now;
            char werr[768];
            if (workers_check(&r->ws, r->b->c, werr, sizeof werr) != 0)
                rc = fail(r, "%s (during enqueue)", werr);
            keep_live(r);
        }
        if (rc == 0 && now > deadline_us)
            rc = fail(r, "enqueue did not finish within timeout_s=%g (scenario %s)",
                      r->s->timeout_s, r->s->name);
        if (rc != 0) {
            producer_finish(r, p, 1);
            return rc;
        }
    }
    producer_finish(r, p, 0);
    if (p->rc != 0) return fail(r, "producer: %s", p->err);
    return 0;
}

static void producer_setup(struct run_ctx *r, struct producer *p, const char *task_run,
                           const char *list_key, long tasks, double rate) {
    producer_init(p);
    p->fw = r->fw;
    p->run = &r->fr;
    p->url = r->b->url;
    snprintf(p->list_key, sizeof p->list_key, "%s", list_key);
    snprintf(p->task_run, sizeof p->task_run, "%s", task_run);
    p->tasks = tasks;
    p->rate = rate;
    p->burst = r->s->burst;
    p->pad_len = r->pad_len;
    p->mix = r->s->mix;
    p->mix_len = r->s->mix_len;
    p->ev = &r->b->ev;
    p->embedded = r->b->redis.pid > 0 ? &r->b->redis : NULL;
    p->fw_state = r->fw_state;
}

/* Moves the staging list onto the queue in one atomic step, so the running
 * workers see the whole backlog at once, without replacing what the queue
 * holds (another producer's tasks, another run's): a RENAME when the queue
 * does not exist (O(1)), else RPOP/LPUSH in chunks of 1000 (under Lua's
 * unpack limit), which keeps the queue's own tasks ahead of the backlog and
 * the backlog in its order. Returns {renamed, chunks moved}. */
static const char release_script[] =
    "if redis.call('EXISTS', KEYS[2]) == 0 then\n"
    "  redis.call('RENAME', KEYS[1], KEYS[2])\n"
    "  return {1, 0}\n"
    "end\n"
    "local chunks = 0\n"
    "while true do\n"
    "  local v = redis.call('RPOP', KEYS[1], 1000)\n"
    "  if not v then break end\n"
    "  redis.call('LPUSH', KEYS[2], unpack(v))\n"
    "  chunks = chunks + 1\n"
    "end\n"
    "return {0, chunks}\n";

static int release_backlog(struct run_ctx *r, const char *staging, const char *queue_key) {
    char err[256];
    redisReply *rep = tq_redis_command(r->b->c, err, sizeof err, "EVAL %s 2 %s %s", release_script,
                                       staging, queue_key);
    if (!rep) return fail(r, "releasing the backlog onto %s: %s", queue_key, err);
    long long renamed = 0, chunks = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        renamed = rep->element[0]->integer;
        chunks = rep->element[1]->integer;
    }
    freeReplyObject(rep);
    /* what the script ran, by the names INFO commandstats counts it under */
    cmd_count_add(&r->b->cmds, "eval", 1);
    cmd_count_add(&r->b->cmds, "exists", 1);
    cmd_count_add(&r->b->cmds, "rename", renamed);
    cmd_count_add(&r->b->cmds, "rpop", renamed ? 0 : chunks + 1);
    cmd_count_add(&r->b->cmds, "lpush", chunks);
    /* what makes the moved tasks visible to workers that block on
     * something else than the list (framework.h) */
    if (r->fw->backlog_released &&
        r->fw->backlog_released(&r->fr, r->fw_state, r->b->c, err, sizeof err) != 0)
        return fail(r, "%s: after releasing the backlog: %s", r->fw->name, err);
    return 0;
}

/* LPUSH onto a staging list, then release it onto the queue in one step:
 * the running workers see the whole backlog at once. Returns the release
 * time (wall µs, as it was sent) in *released. */
static int enqueue_backlog(struct run_ctx *r, struct producer *p, const char *task_run, long tasks,
                           int64_t deadline_us, int64_t *released) {
    char staging[TQ_KEY_MAX];
    backlog_key(r, task_run, staging, sizeof staging);
    if (!staging[0]) return fail(r, "run id %s too long for a key", task_run);
    if (progress_baseline(r, task_run) != 0) return -1;
    /* the measured backlog's memory: the whole of it queued, not yet taken */
    int measured = task_run == r->fr.run_id;
    if (measured) r->mem_before = used_memory(r);
    producer_setup(r, p, task_run, staging, tasks, 0);
    if (producer_start(p) != 0) return fail(r, "producer: %s", p->err);
    if (wait_producer(r, p, deadline_us) != 0) return -1;
    if (measured) r->mem_queued = used_memory(r);
    /* the clock starts as the release is sent: the workers may take (and,
     * for a small backlog, finish) tasks before its reply is read */
    *released = tq_clock_wall_us();
    return release_backlog(r, staging, r->queue_key);
}

static int collect_latency(struct run_ctx *r, const char *run_id, long completed,
                           struct run_latency *lat, int complete);

/* Warm-up (and capacity probe): real tasks under <run>-warmup, released as a
 * backlog, drained, then deleted. *per_s: tasks / (last done - release). */
static int warmup(struct run_ctx *r, long n, double *per_s) {
    char sub[TQ_NAME_MAX + 8]; /* run ids are < 80 bytes: "-warmup" fits a valid name */
    snprintf(sub, sizeof sub, "%s-warmup", r->fr.run_id);
    struct producer p;
    int64_t deadline = tq_clock_mono_us() + (int64_t)(r->s->timeout_s * 1e6);
    int64_t released = 0;
    if (enqueue_backlog(r, &p, sub, n, deadline, &released) != 0) return -1;
    if (wait_done(r, sub, n, NULL, deadline, 0) != 0) return -1;
    struct run_latency l;
    char err[256];
    long c = 0, f = 0, re = 0;
    *per_s = 0;
    if (read_counters(r, sub, &c, &f, &re) != 0) return -1;
    if (latency_init(&l) == 0) {
        collect_latency(r, sub, c, &l, 1);
        if (l.last_done_us > released) *per_s = (double)n * 1e6 / (double)(l.last_done_us - released);
        r->warmup_last_done_us = l.last_done_us;
        latency_free(&l);
    }
    if (r->warmup_last_done_us <= 0) r->warmup_last_done_us = r->wait_end_wall_us;
    char pattern[TQ_KEY_MAX];
    tq_key_run_pattern(pattern, sizeof pattern, r->fr.prefix, sub);
    if (cleanup_pattern(r->b->c, pattern, NULL, err, sizeof err) != 0)
        tq_warn("deleting warm-up keys %s: %s", pattern, err);
    r->warmup_done += n;
    return 0;
}

/* The run's latency data. Workers write their histogram snapshots with the
 * counters they cover, but a snapshot can trail the counters by one flush,
 * so when every task was counted we wait (briefly) until the histograms
 * cover every completed task; failed tasks have no latency. Returns 0, or
 * -1 when a complete run's histograms still cover fewer tasks than were
 * completed (two workers sharing an id overwrite each other's snapshot; a
 * worker that could not flush): its latency would describe a sample. */
static int collect_latency(struct run_ctx *r, const char *run_id, long completed,
                           struct run_latency *lat, int complete) {
    char err[256];
    int64_t deadline = tq_clock_mono_us() + LATENCY_SETTLE_US;
    /* a multi-queue run's latency is its queues' merged */
    int nids = run_id == r->fr.run_id && r->nsub > 0 ? r->nsub : 1;
    for (;;) {
        latency_reset(lat);
        for (int i = 0; i < nids; i++) {
            const char *id = nids > 1 ? r->sub[i] : run_id;
            if (latency_collect(r->b->c, r->fr.prefix, id, lat, err, sizeof err) != 0) {
                tq_warn("collecting the latency of run %s: %s", id, err);
                return complete ? -1 : 0;
            }
        }
        if (!complete || latency_covered(lat) >= completed) return 0;
        if (tq_clock_mono_us() >= deadline || evloop_pump(&r->b->ev, 20)) break;
    }
    tq_warn("run %s: latency data covers %ld of %ld completed tasks", run_id,
            latency_covered(lat), completed);
    return -1;
}

/* The scenario's effective settings and where things are, as an adapter
 * sees them (the run's id, queue and URL are the caller's), with fw's
 * options. Returns 0, or -1 with err when an option is one fw does not take. */
static int fw_run_settings(const struct config *cfg, const struct scenario *s,
                           const struct tq_framework *fw, struct fw_run *fr, char *err,
                           size_t errlen) {
    snprintf(fr->prefix, sizeof fr->prefix, "%s", cfg->prefix);
    fr->workers = s->workers;
    fr->concurrency = s->concurrency;
    fr->prefetch = s->prefetch;
    fr->heartbeat_interval_s = 1;
    fr->payload_bytes = s->payload_bytes;
    fr->mix_len = s->mix_len;
    memcpy(fr->mix, s->mix, sizeof fr->mix);
    snprintf(fr->bin_dir, sizeof fr->bin_dir, "%s", cfg->exe_dir);
    snprintf(fr->frameworks_dir, sizeof fr->frameworks_dir, "%s", cfg->frameworks_dir);
    snprintf(fr->worker_bin, sizeof fr->worker_bin, "%s", cfg->worker_bin);
    snprintf(fr->asynctasq_python, sizeof fr->asynctasq_python, "%s", cfg->asynctasq_python);
    fr->force = cfg->force;
    fr->external = cfg->external;
    /* a burst run's recovery is per task (recovery.h) */
    fr->trace = s->arrival == ARRIVAL_RATE && s->burst.factor > 1;
    /* queue i > 0 of a multi-queue run: "<queue>-q<i>" (the run's own) */
    fr->nqueues = s->nqueues > 1 ? s->nqueues : 0;
    snprintf(fr->queues[0], sizeof fr->queues[0], "%s", fr->queue);
    for (int i = 1; i < fr->nqueues; i++)
        snprintf(fr->queues[i], sizeof fr->queues[i], "%.*s-q%c", TQ_NAME_MAX - 8, fr->queue,
                 (char)('0' + i));
    return fw_options_select(fw, s->options, s->noptions, s->path, cfg->options, cfg->noptions,
                             fr, err, errlen);
}

static void fill_fw_run(struct run_ctx *r, int rep) {
    const struct config *cfg = r->b->cfg;
    const struct scenario *s = r->s;
    struct fw_run *fr = &r->fr;
    memset(fr, 0, sizeof *fr);
    unsigned salt = (unsigned)((uint64_t)tq_clock_wall_us() ^ ((uint64_t)getpid() << 20) ^
                               ((uint64_t)r->b->seq << 8)) & 0xffffffu;
    snprintf(fr->run_id, sizeof fr->run_id, "%.40s.%.16s.%d.%06x", s->name, r->fw->name, rep, salt);
    snprintf(fr->queue, sizeof fr->queue, "%s", cfg->external ? cfg->queue : fr->run_id);
    tq_redis_url_format(&r->b->url, fr->redis_url, sizeof fr->redis_url);
    snprintf(fr->redis_url_safe, sizeof fr->redis_url_safe, "%s", r->b->url_safe);
    char err[512];
    /* run_admit refused what it would refuse: nothing to say but the unexpected */
    if (fw_run_settings(cfg, s, r->fw, fr, err, sizeof err) != 0) tq_warn("%s", err);
    snprintf(r->label, sizeof r->label, "%s/%s #%d", s->name, r->fw->name, rep);
}

/* Pad bytes so that a task of the framework's format is payload_bytes long. */
static size_t pad_for(struct run_ctx *r) {
    if (r->s->payload_bytes == 0) return 0;
    struct tq_task t;
    memset(&t, 0, sizeof t);
    snprintf(t.run, sizeof t.run, "%s", r->fr.run_id);
    t.id = (uint64_t)r->s->tasks;
    t.kind = r->s->mix[0].kind;
    t.arg = r->s->mix[0].arg;
    t.max_attempts = r->s->mix[0].max_attempts;
    t.enqueued_us = tq_clock_wall_us();
    char buf[8192];
    int len = r->fw->encode(&r->fr, &t, buf, sizeof buf);
    size_t want = r->s->payload_bytes;
    if (len < 0 || (size_t)len >= want) return 0;
    size_t pad = want - (size_t)len;
    /* A format may carry the pad encoded (Celery's body is base64: 4/3 of
     * it): the largest pad whose encoding still fits, so every framework's
     * payload is payload_bytes long on the wire. */
    size_t cap = 2 * want + sizeof buf;
    char *big = malloc(cap);
    if (!big) return pad;
    t.pad_len = pad;
    len = r->fw->encode(&r->fr, &t, big, cap);
    if (len >= 0 && (size_t)len > want) {
        size_t lo = 0, hi = pad; /* encode(lo) fits, encode(hi) does not */
        while (hi - lo > 1) {
            t.pad_len = lo + (hi - lo) / 2;
            len = r->fw->encode(&r->fr, &t, big, cap);
            if (len >= 0 && (size_t)len <= want) lo = t.pad_len;
            else hi = t.pad_len;
        }
        pad = lo;
    }
    free(big);
    return pad;
}

/* Counts the elements of a list that hold needle (plain find), in pages:
 * {LLEN, matches}. A task names its run in its payload, as the framework's
 * run_marker says (JSON: "run":"<id>" natively, headers.tqbench_run for
 * Celery, so the quoted run id matches this run's tasks and no others,
 * "<id>-warmup" neither). */
static const char count_script[] =
    "local len = redis.call('LLEN', KEYS[1])\n"
    "local n = 0\n"
    "for i = 0, len - 1, 1000 do\n"
    "  for _, v in ipairs(redis.call('LRANGE', KEYS[1], i, i + 999)) do\n"
    "    if string.find(v, ARGV[1], 1, true) then n = n + 1 end\n"
    "  end\n"
    "end\n"
    "return {len, n}\n";

/* The run's own tasks on a list shared with others (an external queue, or
 * a framework's processing list); *len gets its length. -1 when unknown. */
static long list_count_run(struct run_ctx *r, const char *key, long *len) {
    char err[256], needle[TQ_NAME_MAX + 8];
    int nlen = r->fw->run_marker ? r->fw->run_marker(&r->fr, needle, sizeof needle)
                                 : snprintf(needle, sizeof needle, "\"%s\"", r->fr.run_id);
    *len = -1;
    if (nlen <= 0 || (size_t)nlen >= sizeof needle) return -1;
    redisReply *rep = tq_redis_command(r->b->c, err, sizeof err, "EVAL %s 1 %s %b", count_script,
                                       key, needle, (size_t)nlen);
    cmd_count_add(&r->b->cmds, "eval", 1);
    if (!rep) {
        tq_warn("run %s: counting its tasks on %s: %s", r->fr.run_id, key, err);
        return -1;
    }
    long n = -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        *len = (long)rep->element[0]->integer;
        n = (long)rep->element[1]->integer;
    }
    freeReplyObject(rep);
    return n;
}

/* The lists the adapter says hold the run's tasks outside the queue, in
 * *keys (malloc'd, the caller frees it; NULL when there are none).
 * Returns how many. */
static int inflight_keys(struct run_ctx *r, char (**keys)[TQ_KEY_MAX]) {
    *keys = NULL;
    if (!r->fw->inflight_keys) return 0;
    char(*k)[TQ_KEY_MAX] = calloc(FW_INFLIGHT_KEYS_MAX, TQ_KEY_MAX);
    if (!k) return 0;
    int n = r->fw->inflight_keys(&r->fr, r->fw_state, k, FW_INFLIGHT_KEYS_MAX);
    n = n < 0 ? 0 : n > FW_INFLIGHT_KEYS_MAX ? FW_INFLIGHT_KEYS_MAX : n;
    if (n == 0) free(k);
    else *keys = k;
    return n;
}

/* The run's tasks on those lists after the stop: held, not lost (only the
 * run's own on an external queue's lists). 0 when the framework has none,
 * -1 when unknown. Sets r->inflight_lists to how many lists there are. */
static long inflight_now(struct run_ctx *r) {
    char(*keys)[TQ_KEY_MAX];
    int nk = inflight_keys(r, &keys);
    r->inflight_lists = nk;
    long total = 0;
    for (int i = 0; i < nk && total >= 0; i++) {
        long len, c = r->b->cfg->external ? list_count_run(r, keys[i], &len) : list_len(r, keys[i]);
        total = c < 0 ? -1 : total + c;
    }
    free(keys);
    return total;
}

/* What the run's lists still held of its tasks once it stopped: the queue
 * (*on_queue; on a shared external queue only the run's own tasks, the
 * others' in foreign_at_end), plus the staging list of a backlog that was
 * never released. -1 when unknown. */
static long queued_now(struct run_ctx *r, long *on_queue) {
    long n;
    if (r->b->cfg->external) {
        long len;
        n = *on_queue = list_count_run(r, r->queue_key, &len);
        if (n >= 0) r->foreign_at_end = len - n;
    } else {
        n = *on_queue = queue_len(r);
    }
    for (int i = 0; n >= 0 && i < (r->nsub ? r->nsub : 1) && r->s->arrival == ARRIVAL_BACKLOG;
         i++) {
        char staging[TQ_KEY_MAX];
        backlog_key(r, r->nsub ? r->sub[i] : r->fr.run_id, staging, sizeof staging);
        long b = staging[0] ? list_len(r, staging) : -1;
        n = b >= 0 ? n + b : -1;
    }
    return n;
}

static void teardown(struct run_ctx *r) {
    char err[1024];
    if (r->b->ev.signo && !r->b->cfg->quiet) {
        progress_clear(r);
        fprintf(stderr, "  %s: %s received, stopping%s (again to kill at once)\n", r->label,
                evloop_signal_name(r->b->ev.signo), r->ws.external ? "" : " the workers");
    }
    producer_finish(r, &r->prod, 1);
    /* before the stop: a spawned worker's heartbeat goes with it */
    if (r->measured && r->b->c) r->pops_abandoned = workers_abandoned_since_mark(&r->ws, r->b->c);
    workers_stop(&r->ws, STOP_GRACE_MS, &r->b->ev);
    if (bench_connect(r->b, err, sizeof err) != 0) {
        tq_warn("teardown of run %s: its keys are not deleted: %s", r->fr.run_id, err);
        if (r->prepared && r->fw->finish) r->fw->finish(&r->fr, NULL, r->fw_state);
        r->prepared = 0;
        return;
    }
    /* after the stop: spawned workers pop nothing more, and what they
     * finished while stopping is flushed, so these counts are final (a
     * failed run read its counters before the stop) */
    long left = 0;
    r->queued_at_end = queued_now(r, &left);
    r->in_flight_at_end = inflight_now(r);
    if (r->measured) reread_counters(r);
    workers_forget(&r->ws, r->b->c);
    long deleted = 0;
    if (cleanup_run(r->b->c, r->fr.prefix, r->fr.run_id, &deleted, err, sizeof err) != 0)
        tq_warn("teardown of run %s: %s", r->fr.run_id, err);
    if (!r->b->cfg->external) {
        /* the run's own queue (fresh per run) and in-flight lists: tasks a
         * failed run left */
        char(*keys)[TQ_KEY_MAX];
        int nk = inflight_keys(r, &keys);
        redisReply *rep = tq_redis_command(r->b->c, err, sizeof err, "DEL %s", r->queue_key);
        if (rep) freeReplyObject(rep);
        for (int i = 1; i < r->nsub; i++)
            if (r->qkey[i][0] && (rep = tq_redis_command(r->b->c, err, sizeof err, "DEL %s",
                                                         r->qkey[i])))
                freeReplyObject(rep);
        for (int i = 0; i < nk; i++)
            if ((rep = tq_redis_command(r->b->c, err, sizeof err, "DEL %s", keys[i])))
                freeReplyObject(rep);
        free(keys);
    } else {
        /* a shared queue: other users' tasks may be on it, so it is not
         * deleted; say what this run left there */
        if (left > 0)
            tq_warn("run %s left %ld task(s) on the external queue %s", r->fr.run_id, left,
                    r->queue_key);
    }
    if (r->fw->clean) r->fw->clean(&r->fr, r->b->c);
    if (r->prepared && r->fw->finish) r->fw->finish(&r->fr, r->b->c, r->fw_state);
    r->prepared = 0;
}

static cJSON *workers_json(const struct worker_set *ws) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < ws->n; i++) {
        const struct worker_proc *w = &ws->w[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", w->id);
        cJSON_AddNumberToObject(o, "pid", w->pid);
        if (!ws->external) {
            char st[64];
            tq_spawn_status_str(w->status, st, sizeof st);
            cJSON_AddStringToObject(o, "exit", w->running ? "running" : st);
            cJSON_AddStringToObject(o, "log", w->log);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* Workers run with their own settings: external ones with whatever they were
 * started with, spawned ones with what their framework made of the
 * scenario's (Celery keeps its own prefetch window). So the worker fields of
 * the run's settings are what their heartbeats report (null where they
 * differ, or where none reported the field), per_worker lists each one's, and
 * for spawned workers `requested` keeps what the scenario asked. */
static void settings_from_heartbeats(cJSON *set, const struct worker_set *ws) {
    int v;
    cJSON_ReplaceItemInObject(set, "workers", cJSON_CreateNumber(ws->n));
    cJSON_ReplaceItemInObject(set, "concurrency", workers_same_concurrency(ws, &v) && v >= 0
                                                      ? cJSON_CreateNumber(v)
                                                      : cJSON_CreateNull());
    cJSON_ReplaceItemInObject(set, "prefetch", workers_same_prefetch(ws, &v) && v >= 0
                                                   ? cJSON_CreateNumber(v)
                                                   : cJSON_CreateNull());
    const char *pool = workers_same_pool(ws);
    cJSON_ReplaceItemInObject(set, "pool", pool ? cJSON_CreateString(pool) : cJSON_CreateNull());
    /* attach matched every worker on it */
    cJSON_AddStringToObject(set, "protocol", ws->n ? ws->w[0].protocol : "");
    /* the framework and its version as the workers' heartbeats say it
     * ("celery-5.2.6", "rq-1.13.0"; tqworker's own version for native) */
    const char *version = ws->n && ws->w[0].version[0] ? ws->w[0].version : NULL;
    for (int i = 1; version && i < ws->n; i++)
        if (strcmp(ws->w[i].version, version) != 0) version = NULL;
    cJSON_AddItemToObject(set, "framework_version",
                          version ? cJSON_CreateString(version) : cJSON_CreateNull());
    cJSON_AddStringToObject(set, "worker_settings_from",
                            ws->external ? "heartbeats (--external)" : "heartbeats");
    cJSON *a = cJSON_AddArrayToObject(set, "per_worker");
    for (int i = 0; i < ws->n; i++) {
        const struct worker_proc *w = &ws->w[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", w->id);
        stats_add_number(e, "concurrency", w->concurrency >= 0 ? w->concurrency : NAN);
        stats_add_number(e, "prefetch", w->prefetch >= 0 ? w->prefetch : NAN);
        cJSON_AddStringToObject(e, "protocol", w->protocol);
        cJSON_AddStringToObject(e, "version", w->version);
        if (w->pool[0]) cJSON_AddStringToObject(e, "pool", w->pool);
        else cJSON_AddNullToObject(e, "pool");
        cJSON_AddItemToArray(a, e);
    }
}

/* External workers: their heartbeats read when the measured phase begins
 * start its CPU window, so after a warm-up wait (bounded) for a beat of each
 * worker later than the warm-up's last completion: else the warm-up's CPU
 * would be counted. When one does not come, the run goes on and its window
 * is marked incomplete. Returns 0, or -1 when interrupted. */
static int beats_after_warmup(struct run_ctx *r) {
    struct worker_set *ws = &r->ws;
    struct worker_beat *beats = calloc((size_t)(ws->n > 0 ? ws->n : 1), sizeof *beats);
    char err[256];
    if (!beats) return fail(r, "out of memory");
    int fresh = workers_beats_wait(ws, r->b->c, &r->b->ev, r->warmup_last_done_us, beats, err,
                                   sizeof err);
    free(beats);
    if (r->b->ev.signo) return fail(r, "interrupted by %s", evloop_signal_name(r->b->ev.signo));
    if (fresh < 0) tq_warn("run %s: reading the external workers' heartbeats: %s", r->fr.run_id, err);
    else if (fresh < ws->n)
        tq_warn("run %s: %d of %d external worker(s) sent no heartbeat after the warm-up in "
                "time; their CPU windows will be marked incomplete",
                r->fr.run_id, ws->n - fresh, ws->n);
    return 0;
}

/* External workers: ends their CPU window on a heartbeat later than the
 * run's last completion, waited for when the run completed; the begin beats
 * must precede the run's first start. */
static void beats_end(struct run_ctx *r, int rc) {
    if (!r->ws.external) return;
    int64_t after = r->have_lat && r->lat.last_done_us > 0 ? r->lat.last_done_us
                                                            : r->wait_end_wall_us;
    monitor_beats_end(&r->mon, r->b->c, r->have_lat ? r->lat.first_start_us : 0, after,
                      rc == 0 && !r->b->ev.signo);
}

/* The largest backlog a probe drains: PROBE_MAX_TASKS, and no more than
 * SCENARIO_CAPACITY_BYTES_MAX of payloads. */
static long probe_max_tasks(const struct scenario *s) {
    long most = PROBE_MAX_TASKS;
    if (s->payload_bytes > 0 && (long)(SCENARIO_CAPACITY_BYTES_MAX / s->payload_bytes) < most)
        most = (long)(SCENARIO_CAPACITY_BYTES_MAX / s->payload_bytes);
    return most > PROBE_FIRST_TASKS ? most : PROBE_FIRST_TASKS;
}

/* tasks_capacity_s seconds of the probed capacity: at least 1, at most
 * "tasks" and at most SCENARIO_CAPACITY_BYTES_MAX of payloads. */
static long capacity_tasks(const struct scenario *s, double per_s) {
    double n = ceil(per_s * s->tasks_capacity_s);
    if (n > (double)s->tasks) n = (double)s->tasks;
    if (s->payload_bytes > 0 && n > (double)(SCENARIO_CAPACITY_BYTES_MAX / s->payload_bytes))
        n = (double)(SCENARIO_CAPACITY_BYTES_MAX / s->payload_bytes);
    return n < 1 ? 1 : (long)n;
}

/* A multi-queue run's sub-runs and queue keys (fw_run.queues). */
static void queues_setup(struct run_ctx *r) {
    r->nsub = r->fr.nqueues > 1 ? r->fr.nqueues : 0;
    for (int i = 0; i < r->nsub; i++) {
        snprintf(r->sub[i], sizeof r->sub[i], "%.*s-q%c", TQ_NAME_MAX - 8, r->fr.run_id, (char)('0' + i));
        struct fw_run q = r->fr;
        snprintf(q.queue, sizeof q.queue, "%s", r->fr.queues[i]);
        if (r->fw->queue_key(&q, r->qkey[i], sizeof r->qkey[i]) < 0) r->qkey[i][0] = '\0';
    }
}

/* A multi-queue backlog: the run's tasks split among the queues by the
 * scenario's weights, each queue's onto a staging list of its own (the
 * sub-run's), then all released, one queue after the other in as many
 * EVALs (microseconds apart): the workers find every queue full.
 * *released: when the first release was sent. */
static int enqueue_queues(struct run_ctx *r, int64_t deadline_us, int64_t *released) {
    const struct scenario *s = r->s;
    char staging[FW_QUEUES_MAX][TQ_KEY_MAX];
    double sum = 0;
    for (int i = 0; i < r->nsub; i++) sum += s->queue_weights[i];
    long left = r->tasks;
    for (int i = 0; i < r->nsub; i++) {
        long n = i == r->nsub - 1 ? left : (long)llround((double)r->tasks * s->queue_weights[i] / sum);
        r->sub_tasks[i] = n < left ? n : left;
        left -= r->sub_tasks[i];
        backlog_key(r, r->sub[i], staging[i], sizeof staging[i]);
        if (!staging[i][0] || !r->qkey[i][0]) return fail(r, "run id %s too long for a key", r->sub[i]);
        if (progress_baseline(r, r->sub[i]) != 0) return -1;
    }
    r->mem_before = used_memory(r);
    for (int i = 0; i < r->nsub; i++) {
        if (r->sub_tasks[i] == 0) continue;
        struct producer p;
        /* in the queue's own name: a format that carries it (Celery's
         * routing key) says the queue the task is on */
        struct fw_run qrun = r->fr;
        snprintf(qrun.queue, sizeof qrun.queue, "%s", r->fr.queues[i]);
        producer_setup(r, &p, r->sub[i], staging[i], r->sub_tasks[i], 0);
        p.run = &qrun;
        if (producer_start(&p) != 0) return fail(r, "producer: %s", p.err);
        int rc = wait_producer(r, &p, deadline_us);
        /* the run's enqueue figures span every queue's producer */
        if (r->prod.start_mono_us == 0) {
            r->prod.start_mono_us = p.start_mono_us;
            r->prod.start_wall_us = p.start_wall_us;
        }
        r->prod.end_mono_us = p.end_mono_us;
        r->prod.end_wall_us = p.end_wall_us;
        r->prod.sent += p.sent;
        if (rc != 0) return -1;
    }
    r->mem_queued = used_memory(r);
    /* the clock starts as the first release is sent: its workers may take
     * the first task before the reply is read */
    *released = tq_clock_wall_us();
    for (int i = 0; i < r->nsub; i++)
        if (release_backlog(r, staging[i], r->qkey[i]) != 0) return -1;
    return 0;
}

/* Each queue's figures, and whether the queues were drained one after the
 * other (strict priority) or together: the overlap of consecutive queues'
 * windows (first start to last done), as a fraction of the shorter one. */
static cJSON *queues_json(struct run_ctx *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "per_queue");
    double t0 = (double)r->clock_start_wall_us;
    for (int i = 0; i < r->nsub; i++) {
        const struct run_latency *l = &r->sub_lat[i];
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "queue", r->fr.queues[i]);
        cJSON_AddStringToObject(q, "run_id", r->sub[i]);
        cJSON_AddNumberToObject(q, "weight", r->s->queue_weights[i]);
        cJSON_AddNumberToObject(q, "tasks", (double)r->sub_tasks[i]);
        cJSON_AddNumberToObject(q, "counted", (double)r->sub_done[i]);
        int have = r->have_sub_lat && t0 > 0 && l->first_start_us > 0 && l->last_done_us > t0;
        stats_add_number(q, "first_start_ms", have ? ((double)l->first_start_us - t0) / 1e3 : NAN);
        stats_add_number(q, "last_done_ms", have ? ((double)l->last_done_us - t0) / 1e3 : NAN);
        stats_add_number(q, "throughput_per_s",
                         have ? (double)r->sub_done[i] * 1e6 / ((double)l->last_done_us - t0) : NAN);
        if (r->have_sub_lat) {
            cJSON *lj = cJSON_AddObjectToObject(q, "latency_us");
            cJSON_AddItemToObject(lj, "queue_wait", hist_to_json(&l->queue_wait));
            cJSON_AddItemToObject(lj, "end_to_end", hist_to_json(&l->end_to_end));
        }
        cJSON_AddItemToArray(a, q);
    }
    cJSON *ord = cJSON_AddObjectToObject(o, "order");
    if (r->fw->queue_order) cJSON_AddStringToObject(ord, "documented", r->fw->queue_order);
    else cJSON_AddNullToObject(ord, "documented");
    cJSON *ov = cJSON_AddArrayToObject(ord, "overlap");
    int strict = 1, together = 1, known = r->have_sub_lat;
    for (int i = 0; known && i + 1 < r->nsub; i++) {
        const struct run_latency *x = &r->sub_lat[i], *y = &r->sub_lat[i + 1];
        double a0 = (double)x->first_start_us, a1 = (double)x->last_done_us;
        double b0 = (double)y->first_start_us, b1 = (double)y->last_done_us;
        double shorter = fmin(a1 - a0, b1 - b0);
        if (a0 <= 0 || b0 <= 0 || !(shorter > 0)) {
            known = 0;
            break;
        }
        double f = fmax(0, fmin(a1, b1) - fmax(a0, b0)) / shorter;
        cJSON_AddItemToArray(ov, cJSON_CreateNumber(f));
        if (f >= ORDER_STRICT_OVERLAP) strict = 0;
        if (f < ORDER_TOGETHER_OVERLAP) together = 0;
    }
    cJSON_AddStringToObject(ord, "observed",
                            !known     ? "unknown"
                            : strict   ? "strict priority: each queue drained before the next began"
                            : together ? "together: the queues were drained side by side"
                                       : "mixed");
    return o;
}

/* Cold start, before the spawn: INFO before the measured phase, then the
 * whole backlog onto the queue itself (no staging: no worker runs yet). */
static int cold_enqueue(struct run_ctx *r) {
    struct bench *b = r->b;
    char err[512];
    if (redis_stats_read(b->c, &r->rs[0], err, sizeof err) != 0)
        return fail(r, "INFO before the run: %s", err);
    r->cmds_begin = b->cmds;
    if (progress_baseline(r, r->fr.run_id) != 0) return -1;
    r->mem_before = used_memory(r);
    producer_setup(r, &r->prod, r->fr.run_id, r->queue_key, r->tasks, 0);
    if (producer_start(&r->prod) != 0) return fail(r, "producer: %s", r->prod.err);
    int rc = wait_producer(r, &r->prod, tq_clock_mono_us() + (int64_t)(r->s->timeout_s * 1e6));
    r->enqueued = r->prod.sent;
    if (rc != 0) return -1;
    r->mem_queued = used_memory(r);
    return 0;
}

/* Cold start, once every worker's heartbeat was seen: the clock started at
 * the spawn; the queue is drained as in a backlog run. */
static int cold_measure(struct run_ctx *r) {
    struct bench *b = r->b;
    const struct config *cfg = b->cfg;
    /* each worker's spawn and first beat_us were noted by workers_spawn
     * and the health check (workers.h) */
    r->clock_start_wall_us = r->spawn_wall_us;
    workers_abandoned_mark(&r->ws, b->c);
    monitor_begin(&r->mon, &b->ev, cfg->sample_ms, &r->ws, b->redis.pid, b->c, cfg->prefix, 0);
    r->measured = 1;
    int64_t deadline = tq_clock_mono_us() + (int64_t)(r->s->timeout_s * 1e6);
    return wait_done(r, r->fr.run_id, r->tasks, NULL, deadline, 1);
}

/* A cold start's figures (coldstart.h): each worker's spawn and first beat,
 * its own first task started and done from its histogram snapshot. */
static void cold_collect(struct run_ctx *r) {
    struct cold_worker *cw = calloc((size_t)(r->ws.n > 0 ? r->ws.n : 1), sizeof *cw);
    if (!cw) return;
    for (int i = 0; i < r->ws.n; i++) {
        const struct worker_proc *p = &r->ws.w[i];
        char err[256];
        cw[i] = (struct cold_worker){.id = p->id, .spawn_us = p->spawn_wall_us,
                                     .beat_us = p->first_beat_us};
        if (latency_worker_firsts(r->b->c, r->fr.prefix, r->fr.run_id, p->id, &cw[i].start_us,
                                  &cw[i].done_us, err, sizeof err) != 0)
            tq_warn("run %s: worker %s's first task: %s", r->fr.run_id, p->id, err);
        cmd_count_add(&r->b->cmds, "hmget", 1);
    }
    const struct run_latency *lat = &r->lat;
    struct cold_run run = {.spawn_us = r->spawn_wall_us};
    if (r->have_lat) {
        run.first_start_us = lat->first_start_us;
        run.first_done_us = lat->first_done_us;
        run.last_done_us = lat->last_done_us;
    }
    r->cold = coldstart_json(cw, r->ws.n, &run);
    free(cw);
}

/* The phases up to a complete measured phase. Returns 0, or -1 with r->err;
 * whatever was measured stays in r for the record. */
static int run_phases(struct run_ctx *r) {
    struct bench *b = r->b;
    const struct config *cfg = b->cfg;
    const struct scenario *s = r->s;
    char err[512];

    /* prepare */
    if (bench_connect(b, err, sizeof err) != 0) return fail(r, "%s", err);
    if (cleanup_run(b->c, r->fr.prefix, r->fr.run_id, NULL, err, sizeof err) != 0)
        return fail(r, "preparing run %s on %s: %s", r->fr.run_id, b->url_safe, err);
    /* P:run:<run>:live and :meta, so a `tqbench clean` elsewhere skips this
     * run and, were the driver to die, knows which queue was tqbench's */
    if (cleanup_run_announce(b->c, &r->live, r->fr.prefix, r->fr.run_id, r->queue_key,
                             !cfg->external, live_ttl_ms(r), err, sizeof err) != 0)
        return fail(r, "announcing run %s on %s: %s", r->fr.run_id, b->url_safe, err);
    /* the adapter's per-run state (a script loaded, a registry, baselines) */
    if (r->fw->prepare) {
        r->prepared = 1; /* finish() is due even when prepare fails half-way */
        if (r->fw->prepare(&r->fr, b->c, &r->fw_state, err, sizeof err) != 0)
            return fail(r, "%s: preparing run %s: %s", r->fw->name, r->fr.run_id, err);
    }
    /* a cold start: the backlog is queued before any worker starts */
    if (s->arrival == ARRIVAL_COLD && cold_enqueue(r) != 0) return -1;
    /* workers */
    r->spawn_wall_us = tq_clock_wall_us();
    if (cfg->external) {
        /* a framework's workers heartbeat with its name as their protocol */
        if (workers_attach(&r->ws, b->c, r->fr.queue, r->fw->name, s->workers, &b->ev,
                           cfg->health_timeout_s, err, sizeof err) != 0)
            return fail(r, "%s", err);
        if (!cfg->quiet) {
            /* their own settings: the scenario's concurrency and prefetch
             * do not reach workers tqbench did not start */
            char desc[768];
            workers_describe(&r->ws, desc, sizeof desc);
            fprintf(stderr, "  %s attached %s\n", r->label, desc);
        }
    } else if (workers_spawn(&r->ws, r->fw, &r->fr, bench_cpus(b, &cfg->pin_workers), b->log_dir,
                             err, sizeof err) != 0 ||
               workers_health_wait(&r->ws, b->c, &b->ev, cfg->health_timeout_s, err,
                                   sizeof err) != 0) {
        return fail(r, "%s", err);
    } else if (workers_settings_read(&r->ws, b->c, err, sizeof err) != 0) {
        return fail(r, "%s", err);
    } else {
        r->settings_read = 1;
    }
    if (s->arrival == ARRIVAL_COLD) return cold_measure(r);
    /* warm-up, and the capacity probe of a rate scenario without a rate or
     * of a size relative to capacity */
    long wn = s->warmup_tasks;
    int probe_rate = s->arrival == ARRIVAL_RATE && r->rate <= 0;
    if (probe_rate && s->capacity_given > 0) {
        /* the curve's capacity, probed by its first point */
        r->capacity = s->capacity_given;
        r->rate = s->capacity_given * s->rate_fraction;
    }
    int probe = scenario_needs_probe(s);
    if (probe && wn < PROBE_MIN_TASKS)
        wn = s->probe_min_s <= 0 ? PROBE_MIN_TASKS : wn > PROBE_FIRST_TASKS ? wn : PROBE_FIRST_TASKS;
    if (wn > 0) {
        double per_s = 0;
        if (warmup(r, wn, &per_s) != 0) return -1;
        r->probe_rounds = 1;
        r->probe_tasks = wn;
        /* a growing probe: the next backlog lasts probe_min_s x 1.5 at the
         * rate just measured (at most x10), until one drain lasts
         * probe_min_s: a framework at 90 tasks/s and one at 60,000 are
         * probed for about as long */
        long most = probe_max_tasks(s);
        while (probe && s->probe_min_s > 0 && per_s > 0 && (double)wn / per_s < s->probe_min_s &&
               wn < most) {
            double want = ceil(per_s * s->probe_min_s * 1.5);
            long next = want > (double)wn * 10 ? wn * 10 : (long)want;
            if (next > most) next = most;
            if (next <= wn) break;
            wn = next;
            if (warmup(r, wn, &per_s) != 0) return -1;
            r->probe_rounds++;
            r->probe_tasks = wn;
        }
        if (probe) {
            if (per_s <= 0)
                return fail(r, "capacity probe of %ld tasks gave no throughput (no last_done stamps)",
                            wn);
            r->capacity = per_s;
            if (probe_rate) r->rate = per_s * s->rate_fraction;
            if (s->tasks_capacity_s > 0) r->tasks = capacity_tasks(s, per_s);
            if (!cfg->quiet) {
                fprintf(stderr, "  %s capacity probe: %.0f tasks/s", r->label, per_s);
                if (probe_rate) fprintf(stderr, "; offered rate %.0f tasks/s", r->rate);
                if (s->tasks_capacity_s > 0) fprintf(stderr, "; %ld tasks", r->tasks);
                fprintf(stderr, "\n");
            }
        }
    }
    if (s->arrival == ARRIVAL_RATE && s->duration_s > 0) {
        /* a given rate was bounded before the start (scenario_check_total);
         * a probed one only now: such a run fails, naming the figures,
         * rather than run a shorter open loop than the scenario asked for */
        char what[128];
        snprintf(what, sizeof what, "the offered rate (%g x the probed capacity; --rate sets it)",
                 s->rate_fraction);
        long n = scenario_rate_tasks(s, r->rate, probe_rate ? what : "\"rate\"", err, sizeof err);
        if (n < 0) return fail(r, "%s", err);
        r->tasks = n;
    }

    /* measured phase */
    if (cfg->external && r->warmup_done > 0 && beats_after_warmup(r) != 0) return -1;
    if (cfg->external) {
        /* others' tasks: they stay, and run before and among this run's */
        r->foreign_at_start = queue_len(r);
        if (r->foreign_at_start > 0)
            tq_warn("run %s: %ld task(s) of others are on %s; they run among this run's tasks "
                    "(results.json: foreign_at_start)",
                    r->fr.run_id, r->foreign_at_start, r->queue_key);
    }
    if (redis_stats_read(b->c, &r->rs[0], err, sizeof err) != 0)
        return fail(r, "INFO before the run: %s", err);
    r->cmds_begin = b->cmds;
    int64_t deadline = tq_clock_mono_us() + (int64_t)(s->timeout_s * 1e6);
    if (s->arrival == ARRIVAL_BACKLOG) {
        int64_t released;
        int rc = r->nsub ? enqueue_queues(r, deadline, &released)
                         : enqueue_backlog(r, &r->prod, r->fr.run_id, r->tasks, deadline, &released);
        r->enqueued = r->prod.sent;
        if (rc != 0) return -1;
        r->clock_start_wall_us = released;
        workers_abandoned_mark(&r->ws, b->c);
        monitor_begin(&r->mon, &b->ev, cfg->sample_ms, &r->ws, b->redis.pid, b->c, cfg->prefix,
                      r->warmup_done > 0 ? r->warmup_last_done_us : 0);
        r->measured = 1;
        return wait_done(r, r->fr.run_id, r->tasks, NULL, deadline, 1);
    }
    if (progress_baseline(r, r->fr.run_id) != 0) return -1;
    producer_setup(r, &r->prod, r->fr.run_id, r->queue_key, r->tasks, r->rate);
    workers_abandoned_mark(&r->ws, b->c);
    monitor_begin(&r->mon, &b->ev, cfg->sample_ms, &r->ws, b->redis.pid, b->c, cfg->prefix,
                  r->warmup_done > 0 ? r->warmup_last_done_us : 0);
    r->measured = 1;
    if (producer_start(&r->prod) != 0) return fail(r, "producer: %s", r->prod.err);
    int rc = wait_done(r, r->fr.run_id, r->tasks, &r->prod, deadline, 1);
    producer_finish(r, &r->prod, rc != 0);
    r->enqueued = r->prod.sent;
    r->clock_start_wall_us = r->prod.start_wall_us;
    return rc;
}

/* After the measured phase, complete or not: the last readings. Returns rc,
 * or -1 when the readings show the run was not sound after all. */
static int run_collect(struct run_ctx *r, int rc) {
    struct bench *b = r->b;
    char err[512];
    if (r->measured) monitor_end(&r->mon);
    if (r->measured && bench_connect(b, err, sizeof err) == 0) {
        cmd_count_diff(&r->cmds_begin, &b->cmds, &r->cmds_window);
        if (redis_stats_read(b->c, &r->rs[1], err, sizeof err) == 0) r->have_stats = 1;
        /* the counters once more: a failed run reports what did finish */
        reread_counters(r);
        if (r->have_lat && collect_latency(r, r->fr.run_id, r->completed, &r->lat, rc == 0) != 0 &&
            rc == 0 && !b->ev.signo)
            rc = fail(r,
                      "the workers' latency data covers %ld of %ld completed tasks: histograms "
                      "overwritten (two workers with one id?) or not flushed",
                      latency_covered(&r->lat), r->completed);
        if (r->nsub && r->have_lat) {
            r->have_sub_lat = 1;
            for (int i = 0; i < r->nsub; i++)
                if (latency_collect(b->c, r->fr.prefix, r->sub[i], &r->sub_lat[i], err,
                                    sizeof err) != 0)
                    r->have_sub_lat = 0;
        }
        if (r->s->arrival == ARRIVAL_COLD && !r->ws.external) cold_collect(r);
        burst_read_tasks(r);
        beats_end(r, rc);
        if (rc == 0 && r->completed + r->failed > r->tasks)
            rc = fail(r, "counted %ld tasks but %ld were enqueued: duplicates",
                      r->completed + r->failed, r->tasks);
        /* the framework's own count must agree with the hook's (framework.h) */
        if (rc == 0 && r->fw->verify) {
            struct fw_progress counted = {r->completed, r->failed, r->retried};
            if (r->fw->verify(&r->fr, r->fw_state, b->c, &counted, err, sizeof err) != 0)
                rc = fail(r, "%s: its own count disagrees with tqbench's: %s", r->fw->name, err);
        }
        if (rc == 0 && r->fw->client_enqueue_rate &&
            r->fw->client_enqueue_rate(&r->fr, &r->client_rate, r->client_err,
                                       sizeof r->client_err) != 0)
            r->client_rate = -1;
    }
    if (r->measured && !r->mon.beats_ended) monitor_beats_end(&r->mon, NULL, 0, 0, 0);
    if (b->ev.signo && rc == 0) rc = fail(r, "interrupted by %s", evloop_signal_name(b->ev.signo));
    return rc;
}

/* The run's JSON object, and the figures of the table and summaries. */
static cJSON *run_record(struct run_ctx *r, int rc, int rep, struct run_figures *fig) {
    const struct scenario *s = r->s;
    const struct run_latency *lat = &r->lat;
    cJSON *o = cJSON_CreateObject();
    long processed = r->completed + r->failed;
    fig->tput_end_to_end = fig->tput_processing = fig->tput_enqueue = NAN;
    fig->tput_client_enqueue = NAN;
    fig->has_client = r->fw->client_enqueue_rate != NULL;
    fig->client_label = r->fw->client_label;
    if (r->fw->limits & FW_LIMIT_SERIAL) fig->processes_per_worker = r->fr.concurrency;
    fig->p50_us = fig->p99_us = NAN;
    fig->worker_cpu_pct = fig->worker_cpu_us_per_task = NAN;
    fig->worker_rss_kb_peak = fig->worker_pss_kb_peak = NAN;
    fig->redis_cpu_us_per_task = fig->commands_per_task = NAN;
    fig->worker_cpu_precise = 0;
    cJSON_AddStringToObject(o, "scenario", s->name);
    cJSON_AddStringToObject(o, "framework", r->fw->name);
    cJSON_AddNumberToObject(o, "repeat", rep);
    cJSON_AddStringToObject(o, "run_id", r->fr.run_id);
    cJSON_AddStringToObject(o, "status", rc == 0 ? "ok" : "failed");
    if (rc != 0) cJSON_AddStringToObject(o, "error", r->err);
    /* a failed run's figures cover only what happened before it stopped */
    cJSON_AddBoolToObject(o, "partial", rc != 0);
    cJSON_AddStringToObject(o, "arrival", scenario_arrival_name(s->arrival));
    cJSON_AddNumberToObject(o, "tasks", (double)r->tasks);
    cJSON_AddNumberToObject(o, "enqueued", (double)r->enqueued);
    cJSON_AddNumberToObject(o, "completed", (double)r->completed);
    cJSON_AddNumberToObject(o, "failed", (double)r->failed);
    cJSON_AddNumberToObject(o, "retried", (double)r->retried);
    /* Every enqueued task is counted, still queued, in flight, or lost,
     * each after the stop. In flight: on the adapter's in-flight lists (a
     * processing list), where a stopped or killed worker's tasks stay;
     * spawned workers without such lists hold nothing once stopped, so what
     * a killed one held is lost. External workers keep running and their
     * heartbeats count all their tasks, not this run's, so unless their
     * framework keeps in-flight lists, what is neither counted nor queued
     * for a run they did not finish is "unaccounted" (in flight or lost)
     * and lost is null. */
    double queued = r->queued_at_end >= 0 ? (double)r->queued_at_end : NAN;
    double in_flight = NAN;
    if (processed >= r->enqueued) in_flight = 0;
    else if ((!r->ws.external || r->inflight_lists > 0) && r->in_flight_at_end >= 0)
        in_flight = (double)r->in_flight_at_end;
    double rest = (double)(r->enqueued - processed) - queued;
    stats_add_number(o, "queued_at_end", queued);
    stats_add_number(o, "in_flight_at_end", in_flight);
    stats_add_number(o, "lost", rest - in_flight);
    stats_add_number(o, "pops_abandoned", r->pops_abandoned >= 0 ? (double)r->pops_abandoned : NAN);
    stats_add_number(o, "unaccounted", rest);
    if (r->b->cfg->external) {
        /* others' tasks on the shared queue, never touched by tqbench */
        stats_add_number(o, "foreign_at_start",
                         r->foreign_at_start >= 0 ? (double)r->foreign_at_start : NAN);
        stats_add_number(o, "foreign_at_end",
                         r->foreign_at_end >= 0 ? (double)r->foreign_at_end : NAN);
    }
    cJSON_AddNumberToObject(o, "warmup_tasks", (double)r->warmup_done);
    if (s->arrival == ARRIVAL_RATE) {
        cJSON_AddNumberToObject(o, "offered_rate_per_s", r->rate);
        if (r->capacity > 0) cJSON_AddNumberToObject(o, "capacity_probe_per_s", r->capacity);
        else cJSON_AddNullToObject(o, "capacity_probe_per_s");
        cJSON_AddNumberToObject(o, "producer_max_lag_us", (double)r->prod.max_lag_us);
    } else if (s->tasks_capacity_s > 0) {
        stats_add_number(o, "capacity_probe_per_s", r->capacity > 0 ? r->capacity : NAN);
    }
    if (r->capacity > 0 && s->capacity_given > 0) {
        cJSON_AddStringToObject(o, "capacity_from", "the probe of the curve's first point");
    } else if (r->capacity > 0) {
        cJSON_AddStringToObject(o, "capacity_from", "this run's probe");
        cJSON *pr = cJSON_AddObjectToObject(o, "probe");
        cJSON_AddNumberToObject(pr, "rounds", r->probe_rounds);
        cJSON_AddNumberToObject(pr, "last_tasks", (double)r->probe_tasks);
    }
    /* what the queued backlog took in Redis: INFO memory's used_memory
     * with all of it queued and none taken, minus before the enqueue */
    if (r->mem_before >= 0 && r->mem_queued >= 0 && r->enqueued > 0) {
        cJSON *m = cJSON_AddObjectToObject(o, "redis_memory");
        cJSON_AddNumberToObject(m, "used_before_bytes", (double)r->mem_before);
        cJSON_AddNumberToObject(m, "used_with_backlog_bytes", (double)r->mem_queued);
        cJSON_AddNumberToObject(m, "queued_tasks", (double)r->enqueued);
        cJSON_AddNumberToObject(m, "bytes_per_queued_task",
                                (double)(r->mem_queued - r->mem_before) / (double)r->enqueued);
        cJSON_AddNumberToObject(m, "payload_bytes", (double)(s->payload_bytes));
    }
    if (r->nsub) cJSON_AddItemToObject(o, "queues", queues_json(r));
    if (r->bt) cJSON_AddItemToObject(o, "bursts", burst_json(r));
    if (r->cold) {
        /* per worker from its spawn, in ms (the workers' own wall clocks, as latency) */
        cJSON_AddItemToObject(o, "cold_start_ms", r->cold);
        r->cold = NULL;
    }

    /* what was not measured is null (NAN here), never 0 */
    int have_done = r->have_lat && lat->last_done_us > 0;
    double enq_s = NAN, drain_s = NAN, total_s = NAN, proc_s = NAN;
    if (r->prod.start_mono_us > 0 && r->prod.end_mono_us > r->prod.start_mono_us)
        enq_s = (double)(r->prod.end_mono_us - r->prod.start_mono_us) / 1e6;
    if (have_done && r->clock_start_wall_us > 0 && lat->last_done_us > r->clock_start_wall_us)
        drain_s = (double)(lat->last_done_us - r->clock_start_wall_us) / 1e6;
    if (have_done && r->prod.start_wall_us > 0 && lat->last_done_us > r->prod.start_wall_us)
        total_s = (double)(lat->last_done_us - r->prod.start_wall_us) / 1e6;
    if (have_done && lat->first_start_us > 0 && lat->last_done_us > lat->first_start_us)
        proc_s = (double)(lat->last_done_us - lat->first_start_us) / 1e6;
    cJSON *d = cJSON_AddObjectToObject(o, "durations_s");
    stats_add_number(d, "enqueue", enq_s);
    stats_add_number(d, "drain", drain_s);
    stats_add_number(d, "total", total_s);
    stats_add_number(d, "processing", proc_s);
    cJSON *t = cJSON_AddObjectToObject(o, "throughput_per_s");
    /* NAN durations give NAN rates; nothing done gives none either */
    if (processed > 0) {
        fig->tput_end_to_end = (double)processed / drain_s;
        fig->tput_processing = (double)processed / proc_s;
    }
    if (r->enqueued > 0) fig->tput_enqueue = (double)r->enqueued / enq_s;
    stats_add_number(t, "end_to_end", fig->tput_end_to_end);
    stats_add_number(t, "processing", fig->tput_processing);
    stats_add_number(t, "enqueue", fig->tput_enqueue);
    if (r->fw->client_enqueue_rate) {
        if (r->client_rate >= 0) {
            fig->tput_client_enqueue = r->client_rate;
            cJSON_AddNumberToObject(t, "client_enqueue", r->client_rate);
        } else {
            cJSON_AddNullToObject(t, "client_enqueue");
            if (r->client_err[0]) cJSON_AddStringToObject(t, "client_enqueue_error", r->client_err);
        }
    }
    cJSON_AddStringToObject(t, "measured_by",
                            s->arrival == ARRIVAL_BACKLOG ? "draining a backlog"
                            : s->arrival == ARRIVAL_LIVE  ? "live: workers consume while enqueueing"
                            : s->arrival == ARRIVAL_COLD  ? "cold start: from the spawn of the workers "
                                                            "to the drain of a queue already full"
                                                          : "open loop at a fixed offered rate");

    cJSON *l = cJSON_AddObjectToObject(o, "latency_us");
    if (r->have_lat) {
        cJSON_AddItemToObject(l, "queue_wait", hist_to_json(&lat->queue_wait));
        cJSON_AddItemToObject(l, "service", hist_to_json(&lat->service));
        cJSON_AddItemToObject(l, "end_to_end", hist_to_json(&lat->end_to_end));
        cJSON_AddNumberToObject(l, "no_origin", (double)lat->no_origin);
        cJSON_AddStringToObject(l, "origin", s->arrival == ARRIVAL_RATE
                                                 ? "scheduled enqueue time (open loop)"
                                                 : "enqueue time");
        cJSON_AddNumberToObject(l, "worker_snapshots", lat->snapshots);
        cJSON_AddNumberToObject(l, "stamps", (double)lat->stamps);
        cJSON_AddNumberToObject(l, "malformed", (double)lat->malformed);
        if (lat->end_to_end.total_count > 0) {
            fig->p50_us = (double)tq_hist_value_at_percentile(&lat->end_to_end, 50);
            fig->p99_us = (double)tq_hist_value_at_percentile(&lat->end_to_end, 99);
        }
    }
    if (r->measured) {
        const struct monitor *m = &r->mon;
        monitor_to_json(m, o);
        fig->worker_cpu_pct = monitor_cpu_pct_avg(m, &m->workers);
        fig->worker_cpu_precise = monitor_cpu_precise(&m->workers);
        if (processed > 0 && m->workers.available)
            fig->worker_cpu_us_per_task = (double)m->workers.cpu_us / (double)processed;
        if (m->workers.rss_kb_peak > 0) fig->worker_rss_kb_peak = (double)m->workers.rss_kb_peak;
        if (m->workers.pss_kb_peak > 0)
            fig->worker_pss_kb_peak = (double)m->workers.pss_kb_peak;
        cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "resources"), "workers");
        if (w) stats_add_number(w, "cpu_us_per_task", fig->worker_cpu_us_per_task);
    }
    if (r->have_stats) {
        redis_stats_to_json(&r->rs[0], &r->rs[1], &r->cmds_window, processed, o);
        /* the summaries' figures are the run's, under the same names */
        const cJSON *rj = cJSON_GetObjectItem(o, "redis");
        const cJSON *cpt = cJSON_GetObjectItem(rj, "commands_per_task");
        if (cJSON_IsNumber(cpt)) fig->commands_per_task = cpt->valuedouble;
        const cJSON *cpu = cJSON_GetObjectItem(rj, "cpu_us_per_task");
        if (cJSON_IsNumber(cpu)) fig->redis_cpu_us_per_task = cpu->valuedouble;
    }
    cJSON *set = scenario_to_json(s);
    cJSON_ReplaceItemInObject(set, "tasks", cJSON_CreateNumber((double)r->tasks));
    /* the options this framework applied (its own; the scenario's for
     * others are not this run's), and the pool it was asked for as before */
    cJSON_ReplaceItemInObject(set, "options", fw_options_json(r->fw, &r->fr));
    const char *pool = fw_option(&r->fr, "pool");
    cJSON_AddStringToObject(set, "pool", pool ? pool : "");
    cJSON_AddStringToObject(set, "queue", r->fr.queue);
    cJSON_AddStringToObject(set, "queue_key", r->queue_key);
    cJSON_AddNumberToObject(set, "pad_bytes", (double)r->pad_len);
    if (!r->ws.external && r->ws.n > 0 && r->settings_read) {
        cJSON *req = cJSON_AddObjectToObject(set, "requested");
        static const char *const asked[] = {"concurrency", "prefetch", "pool"};
        for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++)
            cJSON_AddItemToObject(req, asked[i],
                                  cJSON_Duplicate(cJSON_GetObjectItem(set, asked[i]), 1));
    }
    if (r->fw->settings) {
        cJSON *fs = cJSON_AddObjectToObject(set, "framework");
        for (int i = 0; r->fw->settings[i] && r->fw->settings[i + 1]; i += 2)
            cJSON_AddStringToObject(fs, r->fw->settings[i], r->fw->settings[i + 1]);
    }
    if (r->ws.external || r->settings_read) settings_from_heartbeats(set, &r->ws);
    else cJSON_AddStringToObject(set, "worker_settings_from", "scenario");
    if (r->fw->limits & FW_LIMIT_SERIAL) {
        /* concurrency N as N processes of one task each (framework.h) */
        cJSON_AddNumberToObject(set, "worker_processes", fw_processes(r->fw, &r->fr));
        cJSON_AddNumberToObject(set, "tasks_per_process", 1);
        cJSON_AddStringToObject(set, "concurrency_as", "processes");
    }
    cJSON_AddItemToObject(o, "settings", set);
    cJSON_AddItemToObject(o, "workers", workers_json(&r->ws));
    fig->ok = rc == 0;
    return o;
}

cJSON *run_one(struct bench *b, const struct scenario *s, const struct tq_framework *fw, int rep,
               struct run_figures *fig) {
    memset(fig, 0, sizeof *fig);
    struct run_ctx *r = calloc(1, sizeof *r);
    if (!r) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "failed");
        cJSON_AddStringToObject(o, "error", "out of memory");
        return o;
    }
    r->b = b;
    r->s = s;
    r->fw = fw;
    r->client_rate = -1;
    r->queued_at_end = -1;
    r->in_flight_at_end = -1;
    r->pops_abandoned = -1;
    r->foreign_at_start = r->foreign_at_end = -1;
    r->mem_before = r->mem_queued = -1;
    b->seq++;
    fill_fw_run(r, rep);
    workers_init(&r->ws, b->cfg->prefix, b->cfg->external);
    r->ws.cmds = &b->cmds;
    producer_init(&r->prod);
    fw->queue_key(&r->fr, r->queue_key, sizeof r->queue_key);
    queues_setup(r);
    r->bt = burst_track_new(s);
    r->pad_len = pad_for(r);
    r->rate = s->arrival == ARRIVAL_RATE ? s->rate : 0;
    r->tasks = s->tasks;
    r->have_lat = latency_init(&r->lat) == 0;
    for (int i = 0; i < r->nsub && r->have_lat; i++)
        if (latency_init(&r->sub_lat[i]) != 0) {
            for (int k = 0; k < i; k++) latency_free(&r->sub_lat[k]);
            latency_free(&r->lat);
            r->have_lat = 0;
        }
    if (!b->cfg->quiet) {
        /* external workers are described once attached (their own settings) */
        char what[128], who[TQ_NAME_MAX + 96];
        if (s->tasks_capacity_s > 0 && s->tasks < SCENARIO_TASKS_MAX)
            snprintf(what, sizeof what, "%s of %g s of the probed capacity, at most %ld tasks",
                     scenario_arrival_name(s->arrival), s->tasks_capacity_s, s->tasks);
        else if (s->tasks_capacity_s > 0)
            snprintf(what, sizeof what, "%s of %g s of the probed capacity",
                     scenario_arrival_name(s->arrival), s->tasks_capacity_s);
        else if (r->tasks > 0)
            snprintf(what, sizeof what, "%ld %s task(s)", r->tasks,
                     scenario_arrival_name(s->arrival));
        else
            snprintf(what, sizeof what, "open loop for %g s", s->duration_s);
        if (b->cfg->external)
            snprintf(who, sizeof who, "external workers on queue %s (at least %d)", r->fr.queue,
                     s->workers);
        else if (r->fw->limits & FW_LIMIT_SERIAL)
            snprintf(who, sizeof who, "%d worker(s) x %d as %d process(es) of one task each",
                     s->workers, s->concurrency, fw_processes(r->fw, &r->fr));
        else
            snprintf(who, sizeof who, "%d worker(s) x %d", s->workers, s->concurrency);
        fprintf(stderr, "run %s: %s, %s, run id %s\n", r->label, what, who, r->fr.run_id);
    }

    int rc = r->have_lat ? run_phases(r) : fail(r, "out of memory for the histograms");
    if (rc != 0) {
        /* a dead embedded server makes every Redis error a "Broken pipe" or
         * "Connection refused": name the cause instead */
        char dead[600];
        if (redis_embed_check(&b->redis, dead, sizeof dead) != 0) {
            char was[sizeof r->err];
            memcpy(was, r->err, sizeof was);
            fail(r, "%s (the run stopped on: %.300s)", dead, was);
        }
    }
    rc = run_collect(r, rc);
    teardown(r);
    progress_clear(r);
    cJSON *o = run_record(r, rc, rep, fig);
    if (rc == 0) progress_final(r, r->completed + r->failed, fig->tput_end_to_end);
    if (rc == 0 && r->bt && !b->cfg->quiet) burst_say(r, o);
    if (rc != 0 && !b->cfg->quiet) fprintf(stderr, "run %s FAILED: %s\n", r->label, r->err);

    if (r->measured) monitor_free(&r->mon);
    if (r->have_lat) latency_free(&r->lat);
    burst_track_free(r->bt);
    cJSON_Delete(r->cold); /* not NULL only when no record took it */
    for (int i = 0; i < r->nsub && r->have_lat; i++) latency_free(&r->sub_lat[i]);
    workers_free(&r->ws);
    free(r);
    return o;
}

int run_check_external_queue(struct bench *b, const struct tq_framework *fw, char *err,
                             size_t errlen) {
    const struct config *cfg = b->cfg;
    if (!cfg->external || cfg->shared_queue) return 0;
    struct fw_run fr;
    memset(&fr, 0, sizeof fr);
    snprintf(fr.prefix, sizeof fr.prefix, "%s", cfg->prefix);
    snprintf(fr.queue, sizeof fr.queue, "%s", cfg->queue);
    char key[TQ_KEY_MAX], rerr[256];
    fw->queue_key(&fr, key, sizeof key);
    redisReply *rep = tq_redis_command(b->c, rerr, sizeof rerr, "LLEN %s", key);
    cmd_count_add(&b->cmds, "llen", 1);
    if (!rep) {
        snprintf(err, errlen, "checking the queue %s on %s: %s", key, b->url_safe, rerr);
        return -1;
    }
    long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    freeReplyObject(rep);
    if (n == 0) return 0;
    snprintf(err, errlen,
             "the queue %s already holds %lld task(s) that this run did not enqueue; tqbench "
             "leaves them alone, and they would run before and among the run's tasks. Let the "
             "workers drain it first, or pass --shared-queue to run beside them (counted in "
             "results.json as foreign_at_start/foreign_at_end)",
             key, n);
    return 1;
}

int run_admit(const struct config *cfg, const struct scenario *s, const struct tq_framework *fw,
              char *why, size_t n) {
    struct fw_run fr;
    memset(&fr, 0, sizeof fr);
    snprintf(fr.run_id, sizeof fr.run_id, "%.40s.%.16s.admit", s->name, fw->name);
    snprintf(fr.queue, sizeof fr.queue, "%s", cfg->external ? cfg->queue : fr.run_id);
    char err[512];
    /* an option fw does not take, or a value it refuses: a configuration
     * error; so is an option of a framework that does not exist (a typo
     * would otherwise be ignored like another framework's option) */
    for (int i = 0; i < s->noptions; i++)
        if (!framework_find(s->options[i].framework)) {
            snprintf(why, n, "%s: \"options\": no framework \"%s\" (see tqbench list)", s->path,
                     s->options[i].framework);
            return -1;
        }
    if (fw_run_settings(cfg, s, fw, &fr, err, sizeof err) != 0) {
        snprintf(why, n, "%s cannot run scenario %s as configured: %s", fw->name, s->name, err);
        return -1;
    }
    if (cfg->external && s->arrival == ARRIVAL_COLD) {
        snprintf(why, n, "scenario %s starts its workers with the queue full: --external workers "
                 "are already running", s->name);
        return 1;
    }
    const char *lacks = fw_caps_missing(fw, &fr, s->arrival == ARRIVAL_RATE);
    if (lacks) {
        snprintf(why, n, "%s workers cannot run %s, which scenario %s needs", fw->name, lacks,
                 s->name);
        return 1;
    }
    if (fw->validate && fw->validate(&fr, err, sizeof err) != 0) {
        snprintf(why, n, "%s cannot run scenario %s as configured: %s", fw->name, s->name, err);
        return -1;
    }
    return 0;
}
