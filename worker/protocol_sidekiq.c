/* protocol_sidekiq.c - tqworker consuming Sidekiq's own queues.
 *
 * Sidekiq 6 keeps a queue as the list "queue:<q>" (no tqbench prefix, no
 * namespace unless redis-namespace is configured): Sidekiq::Client.push
 * LPUSHes job JSON ({"class","args","jid","queue","retry","created_at",
 * "enqueued_at",...}; only class and args are required) and every processor
 * thread takes one with BRPOP queue:<q> 2. tqworker pops the same list with
 * BRPOP.
 *
 * Sidekiq counts every finished job in the global counter stat:processed
 * and every failed one also in stat:failed, flushed from its heartbeat.
 * tqworker does the same, INCRBY of both inside the flush's MULTI that
 * counts the jobs in tqbench's run keys (control.c), so Sidekiq's web UI
 * and API see tqworker's work, and a malformed job is counted failed in
 * both (and logged with an excerpt). The per-day keys stat:processed:<date>
 * are not written.
 *
 * Jobs built by tqbench (bench/frameworks/sidekiq.c) carry its top-level
 * fields and run as their class's kind (Tqbench::Noop, ::Sleep(ms),
 * ::Cpu(us), ::Fail, counted failed once: Sidekiq's retries are not
 * re-enacted). Any other job, e.g. pushed by Sidekiq's own client, is a
 * noop counted in --run, timed from its enqueued_at. */
#include "protocol.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SK_RUN_FIELD "tqbench_run"
#define SK_MAX_INT 9007199254740992.0 /* 2^53: what a JSON number holds exactly */

static int sk_queue_keys(const char *prefix, const char *queue, char keys[][TQ_KEY_MAX],
                         int max) {
    (void)prefix; /* Sidekiq's keys are not namespaced by tqbench's prefix */
    if (max < 1) return -1;
    int n = snprintf(keys[0], TQ_KEY_MAX, "queue:%s", queue);
    return (n < 0 || n >= TQ_KEY_MAX) ? -1 : 1;
}

static const struct {
    const char *cls;
    enum tq_task_kind kind;
} sk_kinds[] = {
    {"Tqbench::Noop", TQ_KIND_NOOP},
    {"Tqbench::Sleep", TQ_KIND_SLEEP},
    {"Tqbench::Cpu", TQ_KIND_CPU},
    {"Tqbench::Fail", TQ_KIND_FAIL},
};

/* A non-negative integer field; absent is 0. Returns 0, or -1 when it has
 * the wrong type or range. */
static int sk_uint(const cJSON *o, const char *name, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > SK_MAX_INT ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int sk_decode(const char *buf, size_t len, struct tq_task *out, char *err,
                     size_t errlen) {
    memset(out, 0, sizeof *out);
    out->max_attempts = 1;
    cJSON *job = cJSON_ParseWithLengthOpts(buf, len, NULL, 0);
    int rc = -1;
    if (!job) {
        snprintf(err, errlen, "not JSON");
        return -1;
    }
    if (!cJSON_IsObject(job)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(job, SK_RUN_FIELD);
    if (cJSON_IsString(run) && tq_name_valid(run->valuestring))
        snprintf(out->run, sizeof out->run, "%s", run->valuestring);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(job, "class");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(job, "args");
    if (!cJSON_IsString(cls) || !cls->valuestring[0]) {
        snprintf(err, errlen, "missing field \"class\" (a job needs class and args)");
        goto out;
    }
    if (!cJSON_IsArray(args)) {
        snprintf(err, errlen, "missing field \"args\" (a job needs class and args)");
        goto out;
    }
    if (run && !out->run[0]) {
        snprintf(err, errlen, "invalid run id in \"" SK_RUN_FIELD "\"");
        goto out;
    }
    int64_t seq, enq, sched;
    if (sk_uint(job, "tqbench_seq", &seq) || sk_uint(job, "tqbench_enq_us", &enq) ||
        sk_uint(job, "tqbench_sched_us", &sched)) {
        snprintf(err, errlen, "a tqbench_* field is not a non-negative integer");
        goto out;
    }
    if (!enq) {
        /* Sidekiq's own client: enqueued_at in float Unix seconds */
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(job, "enqueued_at");
        if (cJSON_IsNumber(at) && at->valuedouble > 0 && at->valuedouble < SK_MAX_INT / 1e6)
            enq = (int64_t)llround(at->valuedouble * 1e6);
    }
    out->id = (uint64_t)seq;
    out->enqueued_us = enq;
    out->scheduled_us = sched;
    out->kind = TQ_KIND_NOOP;
    if (out->run[0]) { /* tqbench's own jobs run as their kind */
        for (size_t i = 0; i < sizeof sk_kinds / sizeof sk_kinds[0]; i++)
            if (strcmp(cls->valuestring, sk_kinds[i].cls) == 0) out->kind = sk_kinds[i].kind;
        if (out->kind == TQ_KIND_SLEEP || out->kind == TQ_KIND_CPU) {
            const cJSON *a = cJSON_GetArrayItem(args, 0);
            if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble > SK_MAX_INT ||
                a->valuedouble != floor(a->valuedouble)) {
                snprintf(err, errlen, "%s needs a non-negative integer args[0]",
                         cls->valuestring);
                goto out;
            }
            out->arg = (int64_t)a->valuedouble;
        }
    }
    rc = 0;
out:
    cJSON_Delete(job);
    return rc;
}

const struct tq_protocol tq_protocol_sidekiq = {
    .name = "sidekiq",
    .queue_keys = sk_queue_keys,
    .decode = sk_decode,
    .run_field = SK_RUN_FIELD,
    .processed_counter = "stat:processed",
    .failed_counter = "stat:failed",
};
