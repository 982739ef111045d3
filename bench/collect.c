/* collect.c - merging the workers' latency data and reading Redis's own
 * counters (see collect.h). */
#include "collect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tq_keys.h"
#include "tq_redis.h"

#define STAMPS_CHUNK 10000  /* LRANGE page: bounded memory whatever the run's size */

int latency_init(struct run_latency *l) {
    memset(l, 0, sizeof *l);
    if (tq_hist_init(&l->queue_wait) || tq_hist_init(&l->service) || tq_hist_init(&l->end_to_end)) {
        latency_free(l);
        return -1;
    }
    return 0;
}

void latency_free(struct run_latency *l) {
    tq_hist_free(&l->queue_wait);
    tq_hist_free(&l->service);
    tq_hist_free(&l->end_to_end);
}

void latency_reset(struct run_latency *l) {
    tq_hist_reset(&l->queue_wait);
    tq_hist_reset(&l->service);
    tq_hist_reset(&l->end_to_end);
    l->first_start_us = l->last_done_us = l->first_done_us = 0;
    l->snapshots = 0;
    l->stamps = l->malformed = l->no_origin = 0;
}

long latency_covered(const struct run_latency *l) {
    /* Every completed task has a service time; queue wait and end-to-end
     * need an enqueue stamp, which tasks from foreign producers may lack. */
    return (long)(l->service.total_count + l->service.out_of_range);
}

static void stamp_bounds(struct run_latency *l, int64_t start, int64_t done) {
    if (start > 0 && (l->first_start_us == 0 || start < l->first_start_us)) l->first_start_us = start;
    if (done > l->last_done_us) l->last_done_us = done;
}

static void stamp_first_done(struct run_latency *l, int64_t done) {
    if (done > 0 && (l->first_done_us == 0 || done < l->first_done_us)) l->first_done_us = done;
}

/* One hist hash field "<worker-id>:<suffix>". */
static void merge_field(struct run_latency *l, const char *field, const char *val, size_t len) {
    const char *colon = strrchr(field, ':');
    if (!colon) {
        l->malformed++;
        return;
    }
    const char *suffix = colon + 1;
    tq_hist *h = NULL;
    if (strcmp(suffix, TQ_HIST_FIELD_QUEUE_WAIT) == 0) h = &l->queue_wait;
    else if (strcmp(suffix, TQ_HIST_FIELD_SERVICE) == 0) h = &l->service;
    else if (strcmp(suffix, TQ_HIST_FIELD_END_TO_END) == 0) h = &l->end_to_end;
    if (h) {
        if (tq_hist_parse(h, val, len) != 0) l->malformed++;
        else if (h == &l->end_to_end) l->snapshots++;
        return;
    }
    char *end;
    long long v = strtoll(val, &end, 10);
    if (strcmp(suffix, TQ_HIST_FIELD_NO_ORIGIN) == 0 && end != val && *end == '\0' && v >= 0) {
        l->no_origin += (long)v; /* absent from older workers' snapshots: 0 */
        return;
    }
    if (end == val || v <= 0) {
        l->malformed++;
        return;
    }
    if (strcmp(suffix, TQ_HIST_FIELD_FIRST_START) == 0) stamp_bounds(l, v, 0);
    else if (strcmp(suffix, TQ_HIST_FIELD_LAST_DONE) == 0) stamp_bounds(l, 0, v);
    else if (strcmp(suffix, TQ_HIST_FIELD_FIRST_DONE) == 0) stamp_first_done(l, v);
    /* other fields: a newer worker's extras, ignored */
}

/* Parses one "enqueued_us,started_us,done_us" triple, each > 0. Returns 0,
 * or -1 when malformed. */
static int parse_triple(const char *s, long long *enq, long long *start, long long *done) {
    char tail;
    return sscanf(s, "%lld,%lld,%lld%c", enq, start, done, &tail) == 3 && *enq > 0 && *start > 0 &&
                   *done > 0
               ? 0
               : -1;
}

/* One "enqueued_us,started_us,done_us" triple. */
static void merge_stamp(struct run_latency *l, const char *s) {
    long long enq, start, done;
    if (parse_triple(s, &enq, &start, &done) != 0) {
        l->malformed++;
        return;
    }
    /* negative differences (clock steps, skew between hosts) are refused and
     * counted by tq_hist as out of range: never clamped */
    tq_hist_record(&l->queue_wait, start - enq);
    tq_hist_record(&l->service, done - start);
    tq_hist_record(&l->end_to_end, done - enq);
    stamp_bounds(l, start, done);
    stamp_first_done(l, done);
    l->stamps++;
}

int latency_collect(redisContext *c, const char *prefix, const char *run_id,
                    struct run_latency *l, char *err, size_t errlen) {
    char key[TQ_KEY_MAX];
    tq_key_run_hist(key, sizeof key, prefix, run_id);
    redisReply *r = tq_redis_command(c, err, errlen, "HGETALL %s", key);
    if (!r) return -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            l->malformed++;
            continue;
        }
        merge_field(l, f->str, v->str, v->len);
    }
    freeReplyObject(r);

    tq_key_run_stamps(key, sizeof key, prefix, run_id);
    for (long from = 0;; from += STAMPS_CHUNK) {
        r = tq_redis_command(c, err, errlen, "LRANGE %s %ld %ld", key, from,
                             from + STAMPS_CHUNK - 1);
        if (!r) return -1;
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n; i++) {
            if (r->element[i]->type == REDIS_REPLY_STRING) merge_stamp(l, r->element[i]->str);
            else l->malformed++;
        }
        freeReplyObject(r);
        if (n < STAMPS_CHUNK) break;
    }
    return 0;
}

/* Appends the triples of list key to *out (see latency_task_stamps). */
static int task_stamps_of(redisContext *c, const char *key, int64_t t0_us, struct task_stamp **out,
                          long *n, long *cap, char *err, size_t errlen) {
    for (long from = 0;; from += STAMPS_CHUNK) {
        redisReply *r = tq_redis_command(c, err, errlen, "LRANGE %s %ld %ld", key, from,
                                         from + STAMPS_CHUNK - 1);
        if (!r) return -1;
        size_t got = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < got; i++) {
            long long origin, start, done;
            if (r->element[i]->type != REDIS_REPLY_STRING ||
                parse_triple(r->element[i]->str, &origin, &start, &done) != 0)
                continue;
            if (*n == *cap) {
                long nc = *cap ? *cap * 2 : 4096;
                struct task_stamp *t = realloc(*out, (size_t)nc * sizeof *t);
                if (!t) {
                    freeReplyObject(r);
                    snprintf(err, errlen, "out of memory for %ld task stamps", nc);
                    return -1;
                }
                *out = t;
                *cap = nc;
            }
            (*out)[(*n)++] = (struct task_stamp){(double)(origin - t0_us) / 1e6,
                                                 (double)(done - origin)};
        }
        freeReplyObject(r);
        if (got < STAMPS_CHUNK) return 0;
    }
}

int latency_task_stamps(redisContext *c, const char *prefix, const char *run_id, int64_t t0_us,
                        struct task_stamp **out, long *n, char *err, size_t errlen) {
    char key[TQ_KEY_MAX];
    long cap = 0;
    *out = NULL;
    *n = 0;
    tq_key_run_stamps(key, sizeof key, prefix, run_id);
    int rc = task_stamps_of(c, key, t0_us, out, n, &cap, err, errlen);
    tq_key_run_trace(key, sizeof key, prefix, run_id);
    if (rc == 0) rc = task_stamps_of(c, key, t0_us, out, n, &cap, err, errlen);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int latency_worker_firsts(redisContext *c, const char *prefix, const char *run_id,
                          const char *worker_id, int64_t *first_start_us, int64_t *first_done_us,
                          char *err, size_t errlen) {
    char key[TQ_KEY_MAX], fs[TQ_NAME_MAX + 32], fd[TQ_NAME_MAX + 32];
    tq_key_run_hist(key, sizeof key, prefix, run_id);
    snprintf(fs, sizeof fs, "%s:%s", worker_id, TQ_HIST_FIELD_FIRST_START);
    snprintf(fd, sizeof fd, "%s:%s", worker_id, TQ_HIST_FIELD_FIRST_DONE);
    *first_start_us = *first_done_us = 0;
    redisReply *r = tq_redis_command(c, err, errlen, "HMGET %s %s %s", key, fs, fd);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        int64_t *out[2] = {first_start_us, first_done_us};
        for (int i = 0; i < 2; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING && atoll(r->element[i]->str) > 0)
                *out[i] = atoll(r->element[i]->str);
    }
    freeReplyObject(r);
    return 0;
}

cJSON *hist_to_json(const tq_hist *h) {
    cJSON *o = cJSON_CreateObject();
    static const struct {
        const char *name;
        double pct;
    } pcts[] = {{"p50", 50}, {"p90", 90}, {"p95", 95}, {"p99", 99}, {"p999", 99.9}};
    int any = h->total_count > 0;
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        if (any)
            cJSON_AddNumberToObject(o, pcts[i].name,
                                    (double)tq_hist_value_at_percentile(h, pcts[i].pct));
        else
            cJSON_AddNullToObject(o, pcts[i].name);
    }
    if (any) {
        cJSON_AddNumberToObject(o, "max", (double)tq_hist_max(h));
        cJSON_AddNumberToObject(o, "mean", tq_hist_mean(h));
        cJSON_AddNumberToObject(o, "min", (double)tq_hist_min(h));
    } else {
        cJSON_AddNullToObject(o, "max");
        cJSON_AddNullToObject(o, "mean");
        cJSON_AddNullToObject(o, "min");
    }
    cJSON_AddNumberToObject(o, "count", (double)h->total_count);
    cJSON_AddNumberToObject(o, "out_of_range", (double)h->out_of_range);
    /* the tail in detail: a log axis of 1/(1-p) spreads these evenly */
    static const double dist[] = {50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999};
    cJSON *a = cJSON_AddArrayToObject(o, "percentiles");
    for (size_t i = 0; any && i < sizeof dist / sizeof dist[0]; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(dist[i]));
        cJSON_AddItemToArray(pair,
                             cJSON_CreateNumber((double)tq_hist_value_at_percentile(h, dist[i])));
        cJSON_AddItemToArray(a, pair);
    }
    return o;
}

int redis_stats_read(redisContext *c, struct redis_stats *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    redisReply *r = tq_redis_command(c, err, errlen, "INFO commandstats");
    if (!r) return -1;
    if (r->type == REDIS_REPLY_STRING) {
        /* cmdstat_lpush:calls=10,usec=52,usec_per_call=5.20,... */
        for (char *line = r->str; line && *line;) {
            char *next = strchr(line, '\n');
            if (strncmp(line, "cmdstat_", 8) == 0 && s->ncmd < REDIS_CMDS_MAX) {
                char *colon = strchr(line, ':');
                char *calls = colon ? strstr(colon, "calls=") : NULL;
                if (colon && calls && (!next || calls < next)) {
                    size_t n = (size_t)(colon - line - 8);
                    if (n >= sizeof s->cmd[0].name) n = sizeof s->cmd[0].name - 1;
                    memcpy(s->cmd[s->ncmd].name, line + 8, n);
                    s->cmd[s->ncmd].name[n] = '\0';
                    s->cmd[s->ncmd].calls = atoll(calls + 6);
                    s->ncmd++;
                }
            }
            line = next ? next + 1 : NULL;
        }
    }
    freeReplyObject(r);
    r = tq_redis_command(c, err, errlen, "INFO cpu");
    if (!r) return -1;
    if (r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_cpu_sys:");
        if (p) s->cpu_s += atof(p + 13);
        p = strstr(r->str, "used_cpu_user:");
        if (p) s->cpu_s += atof(p + 14);
    }
    freeReplyObject(r);
    return 0;
}

static long long calls_of(const struct redis_stats *s, const char *name) {
    for (int i = 0; i < s->ncmd; i++)
        if (strcmp(s->cmd[i].name, name) == 0) return s->cmd[i].calls;
    return 0;
}

void redis_stats_to_json(const struct redis_stats *before, const struct redis_stats *after,
                         const struct cmd_count *driver, long tasks, cJSON *run) {
    cJSON *o = cJSON_AddObjectToObject(run, "redis");
    cJSON *by = cJSON_CreateObject();
    cJSON *drv = cJSON_CreateObject();
    long long total = 0, total_driver = 0;
    for (int i = 0; i < after->ncmd; i++) {
        const char *name = after->cmd[i].name;
        if (strcmp(name, "info") == 0) continue; /* the driver measuring */
        long long d = after->cmd[i].calls - calls_of(before, name);
        if (d <= 0) continue;
        long long mine = driver ? cmd_count_of(driver, name) : 0;
        if (mine > d) mine = d; /* never below what Redis counted */
        if (mine > 0) cJSON_AddNumberToObject(drv, name, (double)mine);
        total_driver += mine;
        d -= mine;
        if (d <= 0) continue;
        total += d;
        cJSON_AddNumberToObject(by, name, (double)d);
    }
    double cpu_us = (after->cpu_s - before->cpu_s) * 1e6;
    if (tasks > 0) {
        cJSON_AddNumberToObject(o, "commands_per_task", (double)total / (double)tasks);
        cJSON_AddNumberToObject(o, "cpu_us_per_task", cpu_us / (double)tasks);
    } else {
        cJSON_AddNullToObject(o, "commands_per_task");
        cJSON_AddNullToObject(o, "cpu_us_per_task");
    }
    cJSON_AddNumberToObject(o, "commands", (double)total);
    cJSON_AddNumberToObject(o, "driver_commands", (double)total_driver);
    cJSON_AddNumberToObject(o, "cpu_s", cpu_us / 1e6);
    cJSON_AddItemToObject(o, "commands_by_name", by);
    cJSON_AddItemToObject(o, "driver_commands_by_name", drv);
}
