/* monitor.c - resource sampling on a uv timer (see monitor.h).
 *
 * CPU is accumulated as per-sample deltas per process, so a worker that dies
 * mid-run keeps the CPU it used instead of making the total go backwards. */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tq_clock.h"
#include "tq_keys.h"
#include "tq_log.h"
#include "tq_redis.h"

/* "noisy": other load above this many percent of one CPU, plus a share of
 * what was measured (sampling jitter grows with the measured load). */
#define NOISE_FLOOR_PCT 25.0
#define NOISE_SHARE 0.15

static void role_sample(struct role_usage *r, int64_t cpu_delta_us, int64_t interval_us,
                        int64_t rss_kb) {
    if (cpu_delta_us < 0) cpu_delta_us = 0;
    r->cpu_us += cpu_delta_us;
    if (interval_us > 0) {
        double pct = (double)cpu_delta_us * 100.0 / (double)interval_us;
        if (pct > r->cpu_pct_peak) r->cpu_pct_peak = pct;
    }
    r->rss_kb_sum += (double)rss_kb;
    if (rss_kb > r->rss_kb_peak) r->rss_kb_peak = rss_kb;
    r->samples++;
    r->available = 1;
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

/* One worker's CPU and RSS: /proc tree when spawned, heartbeat when not. */
static int worker_usage(struct monitor *m, int i, int64_t *cpu_us, int64_t *rss_kb) {
    struct worker_proc *w = &m->ws->w[i];
    if (!m->ws->external) {
        struct tq_proc_usage u;
        if (!w->running || tq_proc_tree_read(w->pid, &u) != 0) return -1;
        *cpu_us = u.cpu_user_us + u.cpu_sys_us;
        *rss_kb = u.rss_kb;
        return 0;
    }
    char key[TQ_KEY_MAX], err[256];
    tq_key_worker(key, sizeof key, m->prefix, w->id);
    redisReply *r = tq_redis_command(m->c, err, sizeof err, "HMGET %s cpu_user_us cpu_sys_us rss_kb",
                                     key);
    if (!r) return -1;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
    for (size_t k = 0; ok && k < 3; k++) ok = r->element[k]->type == REDIS_REPLY_STRING;
    if (ok) {
        *cpu_us = atoll(r->element[0]->str) + atoll(r->element[1]->str);
        *rss_kb = atoll(r->element[2]->str);
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static void monitor_sample(struct monitor *m, int first) {
    int64_t now = tq_clock_mono_us();
    int64_t interval = now - m->last_mono_us;
    /* workers: sum of per-process deltas; RSS of the processes alive now */
    int64_t cpu_delta = 0, rss = 0;
    int seen = 0;
    for (int i = 0; i < m->ws->n; i++) {
        int64_t cpu, kb;
        if (worker_usage(m, i, &cpu, &kb) != 0) continue;
        seen++;
        if (m->worker_cpu_last[i] >= 0 && cpu > m->worker_cpu_last[i])
            cpu_delta += cpu - m->worker_cpu_last[i];
        m->worker_cpu_last[i] = cpu;
        rss += kb;
    }
    if (!first && seen) role_sample(&m->workers, cpu_delta, interval, rss);

    int64_t cpu = -1, kb = 0;
    if (m->redis_pid > 0) {
        struct tq_proc_usage u;
        if (tq_proc_read(m->redis_pid, &u) == 0) {
            cpu = u.cpu_user_us + u.cpu_sys_us;
            kb = u.rss_kb;
        }
    } else if (m->c && redis_info_usage(m->c, &cpu, &kb) != 0) {
        cpu = -1;
    }
    if (cpu >= 0) {
        if (!first && m->redis_cpu_last >= 0)
            role_sample(&m->redis, cpu - m->redis_cpu_last, interval, kb);
        m->redis_cpu_last = cpu;
    }

    struct tq_proc_usage self;
    if (tq_proc_self(&self) == 0) {
        cpu = self.cpu_user_us + self.cpu_sys_us;
        if (!first && m->driver_cpu_last >= 0)
            role_sample(&m->driver, cpu - m->driver_cpu_last, interval, self.rss_kb);
        m->driver_cpu_last = cpu;
    }

    struct tq_cpu_times t;
    if (tq_cpu_times_read(&t) == 0) {
        if (!first) {
            double pct = tq_cpu_times_busy_pct(&m->mach_last, &t);
            if (pct > m->machine_pct_peak) m->machine_pct_peak = pct;
        } else {
            m->mach_begin = t;
        }
        m->mach_last = t;
    }
    m->last_mono_us = now;
}

static void on_timer(uv_timer_t *t) { monitor_sample(t->data, 0); }

int monitor_begin(struct monitor *m, struct evloop *ev, int sample_ms, struct worker_set *ws,
                  pid_t redis_pid, redisContext *c, const char *prefix) {
    memset(m, 0, sizeof *m);
    m->ev = ev;
    m->sample_ms = sample_ms;
    m->ws = ws;
    m->redis_pid = redis_pid;
    m->c = c;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    m->ncpus = tq_machine_cpus();
    if (m->ncpus < 1) m->ncpus = 1;
    m->worker_cpu_last = malloc((size_t)(ws->n > 0 ? ws->n : 1) * sizeof *m->worker_cpu_last);
    if (!m->worker_cpu_last) return -1;
    for (int i = 0; i < ws->n; i++) m->worker_cpu_last[i] = -1;
    m->redis_cpu_last = m->driver_cpu_last = -1;
    m->begin_mono_us = m->last_mono_us = tq_clock_mono_us();
    monitor_sample(m, 1);
    m->begin_mono_us = m->last_mono_us;
    uv_timer_init(&ev->loop, &m->timer);
    m->timer.data = m;
    uv_timer_start(&m->timer, on_timer, (uint64_t)sample_ms, (uint64_t)sample_ms);
    m->active = 1;
    return 0;
}

void monitor_end(struct monitor *m) {
    if (!m->active) return;
    monitor_sample(m, 0);
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, NULL);
    uv_run(&m->ev->loop, UV_RUN_NOWAIT); /* let the close complete */
    m->active = 0;
}

void monitor_free(struct monitor *m) {
    monitor_end(m);
    free(m->worker_cpu_last);
    m->worker_cpu_last = NULL;
}

double monitor_seconds(const struct monitor *m) {
    return (double)(m->last_mono_us - m->begin_mono_us) / 1e6;
}

double monitor_cpu_pct_avg(const struct monitor *m, const struct role_usage *r) {
    double s = monitor_seconds(m);
    return s > 0 ? (double)r->cpu_us / 1e4 / s : 0;
}

static cJSON *role_json(const struct monitor *m, const struct role_usage *r) {
    cJSON *o = cJSON_CreateObject();
    if (!r->available) {
        cJSON_AddNullToObject(o, "cpu_pct_avg");
        cJSON_AddNullToObject(o, "cpu_pct_peak");
        cJSON_AddNullToObject(o, "rss_kb_avg");
        cJSON_AddNullToObject(o, "rss_kb_peak");
        cJSON_AddNullToObject(o, "cpu_s");
        return o;
    }
    cJSON_AddNumberToObject(o, "cpu_pct_avg", monitor_cpu_pct_avg(m, r));
    cJSON_AddNumberToObject(o, "cpu_pct_peak", r->cpu_pct_peak);
    cJSON_AddNumberToObject(o, "rss_kb_avg", r->samples ? r->rss_kb_sum / r->samples : 0);
    cJSON_AddNumberToObject(o, "rss_kb_peak", (double)r->rss_kb_peak);
    cJSON_AddNumberToObject(o, "cpu_s", (double)r->cpu_us / 1e6);
    cJSON_AddNumberToObject(o, "samples", r->samples);
    return o;
}

void monitor_to_json(const struct monitor *m, cJSON *run) {
    cJSON *res = cJSON_AddObjectToObject(run, "resources");
    cJSON *w = role_json(m, &m->workers);
    cJSON_AddStringToObject(w, "source", m->ws->external ? "heartbeats" : "/proc (process trees)");
    cJSON_AddNumberToObject(w, "processes", m->ws->n);
    cJSON_AddItemToObject(res, "workers", w);
    cJSON *r = role_json(m, &m->redis);
    cJSON_AddStringToObject(r, "source", m->redis_pid > 0 ? "/proc" : "INFO");
    cJSON_AddItemToObject(res, "redis", r);
    cJSON_AddItemToObject(res, "driver", role_json(m, &m->driver));

    double mach = tq_cpu_times_busy_pct(&m->mach_begin, &m->mach_last);
    /* in percent of one CPU, like the roles */
    double measured = monitor_cpu_pct_avg(m, &m->workers) + monitor_cpu_pct_avg(m, &m->redis) +
                      monitor_cpu_pct_avg(m, &m->driver);
    double other = mach * m->ncpus - measured;
    if (other < 0) other = 0;
    cJSON_AddNumberToObject(run, "machine_cpu_pct_avg", mach);
    cJSON_AddNumberToObject(run, "machine_cpu_pct_peak", m->machine_pct_peak);
    cJSON_AddNumberToObject(run, "machine_cpus", m->ncpus);
    cJSON_AddNumberToObject(run, "other_cpu_pct_avg", other);
    cJSON_AddBoolToObject(run, "noisy", other > NOISE_FLOOR_PCT + NOISE_SHARE * measured);
}
