/* monitor.c - resource sampling on a uv timer (see monitor.h).
 *
 * CPU is accumulated as per-sample deltas per process, so a worker that dies
 * mid-run keeps the CPU it used instead of making the total go backwards.
 * External workers' CPU is per heartbeat instead: a delta counts when a new
 * beat arrives, over the time between beats, and the total is recomputed
 * from the window's two beats at the end. */
#include "monitor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stats.h"
#include "tq_clock.h"
#include "tq_cpuset.h"
#include "tq_keys.h"
#include "tq_log.h"
#include "tq_redis.h"

/* "noisy": other load above this many percent of one CPU, plus a share of
 * what was measured (sampling jitter grows with the measured load). */
#define NOISE_FLOOR_PCT 25.0
#define NOISE_SHARE 0.15
/* CPU time counted in clock ticks (10 ms at the usual 100 Hz: heartbeats,
 * or a process whose CPU clock could not be read) is precise to 1% from 100
 * ticks on (1 s); CPU clocks and Redis's INFO are to the microsecond. */
#define CPU_PRECISE_TICKS 100
#define CPU_SRC_CLOCK 1
#define CPU_SRC_TICKS 2

/* pss_kb < 0: PSS not read in this sample. */
static void role_sample(struct role_usage *r, int64_t cpu_delta_us, int64_t interval_us,
                        int64_t rss_kb, int64_t pss_kb) {
    if (cpu_delta_us < 0) cpu_delta_us = 0;
    r->cpu_us += cpu_delta_us;
    if (interval_us > 0) {
        double pct = (double)cpu_delta_us * 100.0 / (double)interval_us;
        if (pct > r->cpu_pct_peak) r->cpu_pct_peak = pct;
    }
    r->rss_kb_sum += (double)rss_kb;
    if (rss_kb > r->rss_kb_peak) r->rss_kb_peak = rss_kb;
    if (pss_kb >= 0) {
        r->pss_kb_sum += (double)pss_kb;
        if (pss_kb > r->pss_kb_peak) r->pss_kb_peak = pss_kb;
        r->pss_samples++;
    }
    r->samples++;
    r->available = 1;
}

/* Adds pid's affinity and the CPUs its processes were seen on (seen) to the
 * role's placement. */
static void role_place(struct role_usage *r, pid_t pid, const cpu_set_t *seen) {
    cpu_set_t allowed;
    if (tq_cpuset_allowed(pid, &allowed) != 0) return; /* gone meanwhile */
    CPU_OR(&r->cpus_allowed, &r->cpus_allowed, &allowed);
    CPU_OR(&r->cpus_seen, &r->cpus_seen, seen);
    r->placed = 1;
}

/* INFO cpu / memory of a Redis we did not start. */
static int redis_info_usage(redisContext *c, int64_t *cpu_us, int64_t *rss_kb) {
    char err[256];
    redisReply *r = tq_redis_command(c, err, sizeof err, "INFO cpu");
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r) freeReplyObject(r);
        return -1;
    }
    double sys = 0, user = 0;
    const char *p = strstr(r->str, "used_cpu_sys:");
    if (p) sys = atof(p + 13);
    p = strstr(r->str, "used_cpu_user:");
    if (p) user = atof(p + 14);
    freeReplyObject(r);
    r = tq_redis_command(c, err, sizeof err, "INFO memory");
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r) freeReplyObject(r);
        return -1;
    }
    p = strstr(r->str, "used_memory_rss:");
    *rss_kb = p ? atoll(p + 16) / 1024 : 0;
    freeReplyObject(r);
    *cpu_us = (int64_t)((sys + user) * 1e6);
    return 0;
}

/* CPU% of one beat interval, 0 when the two beats cannot be compared (the
 * same beat, or a restarted worker whose CPU counter restarted). */
static double beat_pct(const struct worker_beat *from, const struct worker_beat *to) {
    if (from->beat_us <= 0 || to->beat_us <= from->beat_us || to->started_us != from->started_us ||
        to->cpu_us < from->cpu_us)
        return 0;
    return (double)(to->cpu_us - from->cpu_us) * 100.0 / (double)(to->beat_us - from->beat_us);
}

/* External workers: a new beat adds the CPU used since the worker's previous
 * beat in the window and sets its CPU% of that beat interval. Fills the CPU
 * added, the RSS and PSS (-1 unless every beat present has it) of the
 * heartbeats present, and the sum of the workers' latest beat-interval CPU%.
 * Returns the heartbeats present. */
static int beats_sample(struct monitor *m, redisContext *c, int64_t *cpu_delta, int64_t *rss,
                        int64_t *pss, double *pct) {
    char err[256];
    *cpu_delta = *rss = *pss = 0;
    *pct = 0;
    if (workers_beats_read(m->ws, c, m->beat_now, err, sizeof err) != 0) return 0;
    int seen = 0;
    for (int i = 0; i < m->ws->n; i++) {
        const struct worker_beat *now = &m->beat_now[i];
        struct worker_beat *prev = &m->beat_prev[i];
        if (now->beat_us <= 0) continue;
        seen++;
        *rss += now->rss_kb;
        *pss = *pss >= 0 && now->pss_kb >= 0 ? *pss + now->pss_kb : -1;
        if (prev->beat_us <= 0) {
            *prev = *now; /* its heartbeat was missing at the start: its window is incomplete */
        } else if (now->beat_us > prev->beat_us) {
            if (now->started_us == prev->started_us && now->cpu_us >= prev->cpu_us)
                *cpu_delta += now->cpu_us - prev->cpu_us;
            m->beat_pct[i] = beat_pct(prev, now);
            *prev = *now;
        }
        *pct += m->beat_pct[i];
    }
    if (!seen) *pss = -1;
    return seen;
}

/* Reads u's CPU from t's source into t (see struct cpu_track). Returns 1
 * with *delta_us the CPU used since t's previous reading, 0 for the first
 * reading or a skipped one.
 *
 * A tree's total counts the CPU of descendants that exited once a process of
 * the tree reaped them (tq_proc_tree_read), so it only goes down for a
 * moment: a child reaped while /proc was being walked (after its parent's
 * reaped time was read, before its own turn) is in neither, and comes back
 * in the next reading. The highest reading is kept as the base, so that
 * comeback is not counted a second time (nor a child counted in both
 * places by the opposite race). A descendant reaped outside the tree (an
 * orphan: none of the frameworks' workers makes one) would hold the base
 * above the total until the tree used that much again. */
static int cpu_track_read(struct cpu_track *t, const struct tq_proc_usage *u,
                          struct role_usage *r, int64_t *delta_us) {
    int source = u->cpu_ns >= 0 ? CPU_SRC_CLOCK : CPU_SRC_TICKS;
    if (t->source == 0) t->source = source;
    if (t->source == CPU_SRC_TICKS) r->cpu_from_ticks = 1;
    else if (source != CPU_SRC_CLOCK) return 0;
    int64_t us = t->source == CPU_SRC_CLOCK ? u->cpu_ns / 1000 : u->cpu_user_us + u->cpu_sys_us;
    int had = t->last_us >= 0;
    *delta_us = had && us > t->last_us ? us - t->last_us : 0;
    if (!had || us > t->last_us) t->last_us = us;
    return had;
}

/* One worker's usage from /proc and its CPU clocks (the process and its
 * descendants); adds its placement to the workers' role. */
static int worker_usage(struct monitor *m, int i, struct tq_proc_usage *u) {
    struct worker_proc *w = &m->ws->w[i];
    if (!w->running || tq_proc_tree_read(w->pid, u) != 0) return -1;
    role_place(&m->workers, w->pid, &u->cpus_seen);
    return 0;
}

/* CPU% of one CPU for delta_us used over interval_us (NAN: no interval). */
static double interval_pct(int64_t delta_us, int64_t interval_us) {
    return interval_us > 0 ? (double)(delta_us > 0 ? delta_us : 0) * 100.0 / (double)interval_us
                           : NAN;
}

/* A run's final sample shorter than this share of the sampling period is
 * merged into the one before (timeline.h): its CPU% would be mostly noise. */
#define FINAL_SAMPLE_MIN_SHARE 0.5

/* Raises the roles' CPU% peaks to the timeline's last sample. */
static void peaks_from_last(struct monitor *m) {
    const struct timeline_point *pt = &m->timeline.p[m->timeline.n - 1];
    struct role_usage *roles[TIMELINE_ROLES] = {&m->workers, &m->redis, &m->driver};
    for (int r = 0; r < TIMELINE_ROLES; r++)
        if (!isnan(pt->cpu_pct[r]) && pt->cpu_pct[r] > roles[r]->cpu_pct_peak)
            roles[r]->cpu_pct_peak = pt->cpu_pct[r];
}

/* One sample. first: the baseline (nothing recorded); final: the run's
 * end, which merges a short last interval into the sample before, its
 * peaks taken from the merged sample. */
static void monitor_sample(struct monitor *m, int first, int final) {
    int64_t now = tq_clock_mono_us();
    int64_t interval = now - m->last_mono_us;
    int merge = final && m->timeline.n > 0 &&
                (double)interval < FINAL_SAMPLE_MIN_SHARE * m->sample_ms * 1000.0;
    /* the short interval's own CPU% is no peak: the merged sample's is */
    int64_t peak_interval = merge ? 0 : interval;
    /* this sample for the timeline: a role not read stays NAN */
    struct timeline_point pt;
    timeline_point_init(&pt, (double)(now - m->begin_mono_us) / 1e6);
    /* workers: sum of per-process deltas; RSS and PSS of the processes
     * alive now */
    int64_t cpu_delta = 0, rss = 0, pss = 0;
    int seen = 0;
    if (m->ws->external) {
        double pct;
        seen = beats_sample(m, m->c, &cpu_delta, &rss, &pss, &pct);
        if (first) {
            memcpy(m->beat_begin, m->beat_now, (size_t)m->ws->n * sizeof *m->beat_begin);
            if (rss > m->workers.rss_kb_peak) m->workers.rss_kb_peak = rss;
            if (pss > m->workers.pss_kb_peak) m->workers.pss_kb_peak = pss;
        } else if (seen) {
            /* peaks per beat interval: a sample interval shorter than the
             * heartbeat's would see a whole beat's CPU in a fraction of it */
            role_sample(&m->workers, cpu_delta, 0, rss, pss);
            if (pct > m->workers.cpu_pct_peak) m->workers.cpu_pct_peak = pct;
            /* heartbeats: the workers' latest beat intervals, as the peak */
            pt.cpu_pct[TIMELINE_WORKERS] = pct;
            pt.rss_kb[TIMELINE_WORKERS] = (double)rss;
        }
    } else {
        /* pss: -1 once any worker's PSS is unread */
        for (int i = 0; i < m->ws->n; i++) {
            struct tq_proc_usage u;
            int64_t d;
            if (worker_usage(m, i, &u) != 0) continue;
            seen++;
            if (cpu_track_read(&m->worker_cpu[i], &u, &m->workers, &d)) cpu_delta += d;
            rss += u.rss_kb;
            pss = pss >= 0 && u.pss_kb >= 0 ? pss + u.pss_kb : -1;
        }
        if (!first && seen) {
            role_sample(&m->workers, cpu_delta, peak_interval, rss, pss);
            pt.cpu_pct[TIMELINE_WORKERS] = interval_pct(cpu_delta, interval);
            pt.rss_kb[TIMELINE_WORKERS] = (double)rss;
        }
    }

    /* Redis: /proc and its CPU clock when embedded, else INFO (Redis's own
     * getrusage, to the microsecond: a clock-precise source too) */
    struct tq_proc_usage u;
    int have_redis = 0;
    if (m->redis_pid > 0 && tq_proc_read(m->redis_pid, &u) == 0) {
        role_place(&m->redis, m->redis_pid, &u.cpus_seen);
        have_redis = 1;
    } else if (m->redis_pid <= 0 && m->c) {
        int64_t cpu_us = 0, kb = 0;
        if (redis_info_usage(m->c, &cpu_us, &kb) == 0) {
            memset(&u, 0, sizeof u);
            u.cpu_ns = cpu_us * 1000;
            u.rss_kb = kb;
            have_redis = 1;
        }
    }
    int64_t d;
    if (have_redis && cpu_track_read(&m->redis_cpu, &u, &m->redis, &d) && !first) {
        role_sample(&m->redis, d, peak_interval, u.rss_kb, -1);
        pt.cpu_pct[TIMELINE_REDIS] = interval_pct(d, interval);
        pt.rss_kb[TIMELINE_REDIS] = (double)u.rss_kb;
    }

    if (tq_proc_self(&u) == 0) {
        role_place(&m->driver, 0, &u.cpus_seen);
        if (cpu_track_read(&m->driver_cpu, &u, &m->driver, &d) && !first) {
            role_sample(&m->driver, d, peak_interval, u.rss_kb, -1);
            pt.cpu_pct[TIMELINE_DRIVER] = interval_pct(d, interval);
            pt.rss_kb[TIMELINE_DRIVER] = (double)u.rss_kb;
        }
    }
    if (!first && timeline_add(&m->timeline, &pt) == 0 && merge &&
        timeline_merge_last(&m->timeline) == 0)
        peaks_from_last(m);

    struct tq_cpu_times t;
    if (tq_cpu_times_read(&t) == 0) {
        if (!first && !merge) {
            double pct = tq_cpu_times_busy_pct(&m->mach_last, &t);
            if (pct > m->machine_pct_peak) m->machine_pct_peak = pct;
        } else if (first) {
            m->mach_begin = t;
        }
        /* a merged final sample's machine CPU is no peak of its own: the
         * machine's average (begin to last) still counts it */
        m->mach_last = t;
    }
    m->last_mono_us = now;
}

static void on_timer(uv_timer_t *t) { monitor_sample(t->data, 0, 0); }

static struct worker_beat *beats_alloc(int n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(struct worker_beat));
}

int monitor_begin(struct monitor *m, struct evloop *ev, int sample_ms, struct worker_set *ws,
                  pid_t redis_pid, redisContext *c, const char *prefix, int64_t beats_after_us) {
    memset(m, 0, sizeof *m);
    m->ev = ev;
    m->sample_ms = sample_ms;
    m->ws = ws;
    m->redis_pid = redis_pid;
    m->c = c;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    m->ncpus = tq_machine_cpus();
    if (m->ncpus < 1) m->ncpus = 1;
    m->worker_cpu = malloc((size_t)(ws->n > 0 ? ws->n : 1) * sizeof *m->worker_cpu);
    if (!m->worker_cpu) return -1;
    for (int i = 0; i < ws->n; i++) m->worker_cpu[i] = (struct cpu_track){-1, 0};
    /* heartbeats report CPU in clock ticks (the worker's own /proc) */
    if (ws->external) m->workers.cpu_from_ticks = 1;
    if (ws->external) {
        m->beat_begin = beats_alloc(ws->n);
        m->beat_prev = beats_alloc(ws->n);
        m->beat_end = beats_alloc(ws->n);
        m->beat_now = beats_alloc(ws->n);
        m->beat_pct = calloc((size_t)(ws->n > 0 ? ws->n : 1), sizeof *m->beat_pct);
        if (!m->beat_begin || !m->beat_prev || !m->beat_end || !m->beat_now || !m->beat_pct)
            return -1;
        m->beats_begin_after_us = beats_after_us;
    }
    m->redis_cpu = m->driver_cpu = (struct cpu_track){-1, 0};
    m->begin_mono_us = m->last_mono_us = tq_clock_mono_us();
    monitor_sample(m, 1, 0);
    m->begin_mono_us = m->last_mono_us;
    uv_timer_init(&ev->loop, &m->timer);
    m->timer.data = m;
    uv_timer_start(&m->timer, on_timer, (uint64_t)sample_ms, (uint64_t)sample_ms);
    m->active = 1;
    return 0;
}

void monitor_end(struct monitor *m) {
    if (!m->active) return;
    monitor_sample(m, 0, 1);
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, NULL);
    uv_run(&m->ev->loop, UV_RUN_NOWAIT); /* let the close complete */
    m->active = 0;
}

/* 1 when worker i's window is complete: a begin beat later than the
 * warm-up and not later than the first start, an end beat later than the
 * last completion, the same process. */
static int beat_window_complete(const struct monitor *m, int i) {
    const struct worker_beat *b = &m->beat_begin[i], *e = &m->beat_end[i];
    return b->beat_us > 0 && b->beat_us > m->beats_begin_after_us &&
           (m->beats_begin_before_us <= 0 || b->beat_us <= m->beats_begin_before_us) &&
           e->beat_us > m->beats_end_after_us && e->started_us == b->started_us &&
           e->cpu_us >= b->cpu_us;
}

void monitor_beats_end(struct monitor *m, redisContext *c, int64_t first_start_us,
                       int64_t after_us, int wait) {
    if (!m->ws->external || !m->beat_begin || m->beats_ended) return;
    char err[256];
    struct worker_set *ws = m->ws;
    int rc = -1;
    snprintf(err, sizeof err, "no connection to Redis");
    if (c && wait) rc = workers_beats_wait(ws, c, m->ev, after_us, m->beat_end, err, sizeof err);
    else if (c) rc = workers_beats_read(ws, c, m->beat_end, err, sizeof err);
    if (rc < 0) {
        tq_warn("reading the external workers' last heartbeats: %s", err);
        memset(m->beat_end, 0, (size_t)ws->n * sizeof *m->beat_end);
    }
    m->beats_begin_before_us = first_start_us;
    m->beats_end_after_us = after_us;
    m->beat_interval_us = workers_beat_interval_us(ws);
    int64_t cpu = 0, rss = 0, pss = 0;
    double pct = 0, last_pct = 0;
    int complete = 0;
    for (int i = 0; i < ws->n; i++) {
        struct worker_beat *e = &m->beat_end[i];
        const struct worker_beat *p = &m->beat_prev[i];
        /* a gone heartbeat: the latest beat seen stands in (window incomplete) */
        if (e->beat_us <= 0 || e->beat_us < p->beat_us) *e = *p;
        if (e->beat_us > p->beat_us) m->beat_pct[i] = beat_pct(p, e);
        last_pct += m->beat_pct[i];
        rss += e->beat_us > 0 ? e->rss_kb : 0;
        if (e->beat_us > 0) pss = pss >= 0 && e->pss_kb >= 0 ? pss + e->pss_kb : -1;
        const struct worker_beat *b = &m->beat_begin[i];
        if (b->beat_us > 0 && e->beat_us > b->beat_us && e->started_us == b->started_us &&
            e->cpu_us >= b->cpu_us) {
            cpu += e->cpu_us - b->cpu_us;
            pct += beat_pct(b, e);
            m->workers.available = 1;
        }
        complete += beat_window_complete(m, i);
    }
    m->workers.cpu_us = cpu;
    if (last_pct > m->workers.cpu_pct_peak) m->workers.cpu_pct_peak = last_pct;
    if (rss > m->workers.rss_kb_peak) m->workers.rss_kb_peak = rss;
    if (pss > m->workers.pss_kb_peak) m->workers.pss_kb_peak = pss;
    m->beats_cpu_pct = pct;
    m->beats_workers_complete = complete;
    m->beats_complete = ws->n > 0 && complete == ws->n;
    m->beats_ended = 1;
    if (!m->beats_complete)
        tq_warn("external workers: the heartbeat window is complete for %d of %d worker(s); "
                "their CPU figures cover only part of the run",
                complete, ws->n);
}

void monitor_free(struct monitor *m) {
    monitor_end(m);
    free(m->worker_cpu);
    m->worker_cpu = NULL;
    free(m->beat_begin);
    free(m->beat_prev);
    free(m->beat_end);
    free(m->beat_now);
    free(m->beat_pct);
    m->beat_begin = m->beat_prev = m->beat_end = m->beat_now = NULL;
    m->beat_pct = NULL;
    timeline_free(&m->timeline);
}

double monitor_seconds(const struct monitor *m) {
    return (double)(m->last_mono_us - m->begin_mono_us) / 1e6;
}

double monitor_cpu_pct_avg(const struct monitor *m, const struct role_usage *r) {
    if (!r->available) return NAN;
    if (r == &m->workers && m->beats_ended) return m->beats_cpu_pct;
    double s = monitor_seconds(m);
    return s > 0 ? (double)r->cpu_us / 1e4 / s : NAN;
}

/* The resolution of a role's CPU time in µs: a clock tick, or 1. */
static int64_t cpu_resolution_us(const struct role_usage *r) {
    long hz = sysconf(_SC_CLK_TCK);
    return r->cpu_from_ticks ? (hz > 0 ? 1000000 / hz : 10000) : 1;
}

int monitor_cpu_precise(const struct role_usage *r) {
    if (!r->available) return 0;
    return !r->cpu_from_ticks || r->cpu_us >= CPU_PRECISE_TICKS * cpu_resolution_us(r);
}

/* A wall-clock µs stamp, exact: cJSON prints numbers with 15 significant
 * digits, which would round today's 16-digit stamps by a few µs. */
static void add_us(cJSON *o, const char *name, int64_t us) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)us);
    cJSON_AddRawToObject(o, name, buf);
}

/* "window": the heartbeats external workers' figures come from. */
static cJSON *beats_json(const struct monitor *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "from", "each worker's heartbeat read when the measured phase began");
    cJSON_AddStringToObject(o, "to", "each worker's first heartbeat seen later than the run's last "
                                     "completion");
    if (m->beats_begin_after_us > 0)
        add_us(o, "begin_after_us", m->beats_begin_after_us);
    if (m->beats_begin_before_us > 0)
        add_us(o, "begin_before_us", m->beats_begin_before_us);
    add_us(o, "end_after_us", m->beats_end_after_us);
    cJSON_AddNumberToObject(o, "heartbeat_interval_s", (double)m->beat_interval_us / 1e6);
    cJSON_AddNumberToObject(o, "workers_complete", m->beats_workers_complete);
    cJSON *a = cJSON_AddArrayToObject(o, "workers");
    for (int i = 0; i < m->ws->n; i++) {
        const struct worker_beat *b = &m->beat_begin[i], *e = &m->beat_end[i];
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", m->ws->w[i].id);
        add_us(w, "begin_beat_us", b->beat_us);
        add_us(w, "end_beat_us", e->beat_us);
        double secs = b->beat_us > 0 && e->beat_us > b->beat_us
                          ? (double)(e->beat_us - b->beat_us) / 1e6 : 0;
        cJSON_AddNumberToObject(w, "seconds", secs);
        int comparable = secs > 0 && e->started_us == b->started_us && e->cpu_us >= b->cpu_us;
        cJSON_AddNumberToObject(w, "cpu_us", comparable ? (double)(e->cpu_us - b->cpu_us) : 0);
        cJSON_AddNumberToObject(w, "cpu_pct", beat_pct(b, e));
        cJSON_AddBoolToObject(w, "complete", beat_window_complete(m, i));
        cJSON_AddItemToArray(a, w);
    }
    return o;
}

static cJSON *role_json(const struct monitor *m, const struct role_usage *r) {
    cJSON *o = cJSON_CreateObject();
    if (!r->available) {
        cJSON_AddNullToObject(o, "cpu_pct_avg");
        cJSON_AddNullToObject(o, "cpu_pct_peak");
        cJSON_AddNullToObject(o, "rss_kb_avg");
        cJSON_AddNullToObject(o, "rss_kb_peak");
        cJSON_AddNullToObject(o, "pss_kb_avg");
        cJSON_AddNullToObject(o, "pss_kb_peak");
        cJSON_AddNullToObject(o, "cpu_s");
        cJSON_AddNullToObject(o, "cpus_allowed");
        cJSON_AddNullToObject(o, "cpus_seen");
        return o;
    }
    stats_add_number(o, "cpu_pct_avg", monitor_cpu_pct_avg(m, r));
    cJSON_AddNumberToObject(o, "cpu_pct_peak", r->cpu_pct_peak);
    stats_add_number(o, "rss_kb_avg", r->samples ? r->rss_kb_sum / r->samples : NAN);
    cJSON_AddNumberToObject(o, "rss_kb_peak", (double)r->rss_kb_peak);
    /* null when not read: redis, the driver, external workers whose
     * heartbeats carry no pss_kb, or a kernel without smaps_rollup */
    stats_add_number(o, "pss_kb_avg", r->pss_samples ? r->pss_kb_sum / r->pss_samples : NAN);
    stats_add_number(o, "pss_kb_peak", r->pss_kb_peak > 0 ? (double)r->pss_kb_peak : NAN);
    cJSON_AddNumberToObject(o, "cpu_s", (double)r->cpu_us / 1e6);
    if (r->placed) {
        char list[256];
        cJSON_AddStringToObject(o, "cpus_allowed",
                                tq_cpuset_format(&r->cpus_allowed, list, sizeof list));
        cJSON_AddStringToObject(o, "cpus_seen", tq_cpuset_format(&r->cpus_seen, list, sizeof list));
    } else {
        cJSON_AddNullToObject(o, "cpus_allowed");
        cJSON_AddNullToObject(o, "cpus_seen");
    }
    /* CPU time counted in clock ticks: below CPU_PRECISE_TICKS of them its
     * resolution is worse than 1% */
    cJSON_AddNumberToObject(o, "cpu_resolution_us", (double)cpu_resolution_us(r));
    cJSON_AddBoolToObject(o, "cpu_precise", monitor_cpu_precise(r));
    cJSON_AddNumberToObject(o, "samples", r->samples);
    return o;
}

void monitor_to_json(const struct monitor *m, cJSON *run) {
    cJSON *res = cJSON_AddObjectToObject(run, "resources");
    cJSON *w = role_json(m, &m->workers);
    cJSON_AddStringToObject(w, "source", m->ws->external ? "heartbeats" : "/proc (process trees)");
    cJSON_AddNumberToObject(w, "processes", m->ws->n);
    if (m->ws->external && m->beats_ended) {
        /* never a partial window presented as complete */
        cJSON_AddBoolToObject(w, "window_complete", m->beats_complete);
        cJSON_AddItemToObject(w, "window", beats_json(m));
    } else if (m->ws->external) {
        cJSON_AddBoolToObject(w, "window_complete", 0);
    }
    cJSON_AddItemToObject(res, "workers", w);
    cJSON *r = role_json(m, &m->redis);
    cJSON_AddStringToObject(r, "source", m->redis_pid > 0 ? "/proc" : "INFO");
    cJSON_AddItemToObject(res, "redis", r);
    cJSON_AddItemToObject(res, "driver", role_json(m, &m->driver));
    cJSON_AddItemToObject(res, "timeline", timeline_to_json(&m->timeline, m->sample_ms));

    /* an empty window (a run that ended as it began) measured nothing */
    int window = m->last_mono_us > m->begin_mono_us;
    double mach = window ? tq_cpu_times_busy_pct(&m->mach_begin, &m->mach_last) : NAN;
    /* in percent of one CPU, like the roles; a role not read adds nothing */
    double measured = 0;
    const struct role_usage *roles[] = {&m->workers, &m->redis, &m->driver};
    for (int i = 0; i < 3; i++) {
        double pct = monitor_cpu_pct_avg(m, roles[i]);
        if (!isnan(pct)) measured += pct;
    }
    double other = mach * m->ncpus - measured;
    if (other < 0) other = 0;
    /* the unit is in the name: the machine's busy share is of all its CPUs
     * (100 = every CPU busy), the other load is of one CPU like the roles' */
    stats_add_number(run, "machine_cpu_pct_of_all_cpus_avg", mach);
    cJSON_AddNumberToObject(run, "machine_cpu_pct_of_all_cpus_peak", m->machine_pct_peak);
    cJSON_AddNumberToObject(run, "machine_cpus", m->ncpus);
    stats_add_number(run, "other_cpu_pct_of_one_cpu_avg", other);
    cJSON_AddBoolToObject(run, "noisy", window && other > NOISE_FLOOR_PCT + NOISE_SHARE * measured);
}
