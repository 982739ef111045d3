/* sidekiq.c - Sidekiq 6 (Debian's ruby-sidekiq) as a benchmarked framework.
 *
 * The workers are real `sidekiq` processes (Debian's /usr/bin/sidekiq, one
 * process with -c threads) running the job classes of
 * bench/frameworks/sidekiq/tqbench_jobs.rb, loaded with -r. That file
 * installs tqbench's hook (tqbench_hook.rb), a server middleware that
 * counts and times every job into P:run:<run>:stats and :stamps and writes
 * tqbench's heartbeat P:worker:<id> under the id the driver chose, so the
 * driver's health-check, progress, stall detection and latency collection
 * are the same as for tqworker. The Redis URL reaches the worker as
 * REDIS_URL in its environment (argv is world-readable), and its log level
 * is WARN: Sidekiq's INFO default logs two lines per job and halves a noop
 * run's throughput.
 *
 * The producer is the driver: it LPUSHes onto queue:<q> (Sidekiq 6 uses no
 * namespace unless redis-namespace is configured, which Debian's package
 * does not do) the JSON Sidekiq::Client.push writes, field for field
 * (retry false, queue, class, args, jid, created_at, enqueued_at), plus
 * tqbench's own top-level fields (tqbench_run, tqbench_seq, tqbench_enq_us,
 * tqbench_sched_us, tqbench_pad), which Sidekiq carries through untouched.
 * prepare SADDs the queue into Sidekiq's `queues` set once, as push does.
 *
 * Cross-check (verify): Sidekiq's own global counters stat:processed
 * (every finished job, failed included) and stat:failed, read in prepare
 * and again when the measured run is complete; their deltas must equal
 * what the hook counted for the run and its warm-up (the last progress
 * reading of each). Sidekiq adds to them from each process's heartbeat,
 * every 5 s (Launcher::BEAT_PAUSE in 6.x), so verify waits up to two beats
 * for them to catch up; a mismatch after that fails the run, naming both
 * figures (a worker killed before its flush, another Sidekiq on this
 * Redis, or jobs lost).
 *
 * Several queues (multi_queue): `-q q0 -q q1 -q q2` without weights,
 * which Sidekiq's CLI makes strict order (SK_QUEUE_ORDER); each job JSON
 * names its own queue and carries its queue's sub-run id as tqbench_run,
 * so the hook counts it per queue.
 *
 * caps: no retries. Sidekiq retries a failed job after 15 s + count^4 + a
 * random term, seconds to minutes by design; tqbench's retries scenario
 * retries at once, so it is skipped for Sidekiq with the reason. */
#include "framework.h"
#include "fw_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tq_clock.h"
#include "tq_log.h"
#include "tq_redis.h"
#include "tq_spawn.h"

#define SK_RUBY "/usr/bin/ruby"
#define SK_BIN "/usr/bin/sidekiq" /* Debian's ruby-sidekiq */
#define SK_JOBS "tqbench_jobs.rb"
#define SK_HOOK "tqbench_hook.rb"
#define SK_PROBE_TIMEOUT_MS 60000
#define SK_PROCESSED "stat:processed"
#define SK_FAILED "stat:failed"
/* run ids asked about in one run: the run, its warm-up, a multi-queue
 * run's queues' sub-runs */
#define SK_SEEN_MAX (2 + FW_QUEUES_MAX)
/* queue_order: what Sidekiq's CLI does with queues given without weights
 * (cli.rb parse_queue sets :strict; fetch.rb BasicFetch then BRPOPs them
 * in the order given) and what its wiki (Advanced Options, Queues) says */
#define SK_QUEUE_ORDER                                                                          \
    "strict order: queues given without weights (`sidekiq -q q0 -q q1 -q q2`) are checked in "   \
    "that order by each of its threads (one BRPOP over all of them, which Redis serves from the " \
    "first non-empty one): a job of a later queue runs only when the earlier ones are empty "    \
    "(Sidekiq's wiki, Advanced Options; with weights, `-q q0,3`, the order would be random "      \
    "weighted instead, which tqbench does not use)"

/* Per-run state: the baseline of Sidekiq's counters and the hook's last
 * counts of every run id the driver asked about. */
struct sk_state {
    int have_base;
    long long base_processed, base_failed;
    int nseen;
    struct {
        char run[TQ_NAME_MAX];
        long completed, failed;
        long carried_completed, carried_failed; /* earlier rounds of a reused id */
    } seen[SK_SEEN_MAX];
};

static int sk_dir(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "%s/sidekiq", run->frameworks_dir);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

static int sk_available(const struct fw_run *run, char *why, size_t n) {
    char dir[FW_PATH_MAX];
    if (sk_dir(run, dir, sizeof dir) != 0) {
        snprintf(why, n, "frameworks directory path too long");
        return 0;
    }
    const char *const files[] = {SK_JOBS, SK_HOOK, NULL};
    if (fw_files_readable(dir, files, "Sidekiq helper", NULL, why, n) != 0) return 0;
    if (access(SK_BIN, X_OK) != 0) {
        snprintf(why, n, "%s not found (Debian's ruby-sidekiq installs it; run scripts/bootstrap)",
                 SK_BIN);
        return 0;
    }
    const char *const argv[] = {SK_RUBY, "-e", "require \"sidekiq\"", NULL};
    return fw_probe(argv, NULL, SK_PROBE_TIMEOUT_MS, "sidekiq does not load under " SK_RUBY,
                    "install Debian's ruby-sidekiq", why, n) == 0;
}

/* Sidekiq's CLI has no prefetch (said and ignored) and no pool kinds (one
 * process, -c threads; it declares no options). */
static int sk_validate(const struct fw_run *run, char *err, size_t errlen) {
    if (run->concurrency < 1) {
        snprintf(err, errlen, "sidekiq: concurrency %d (1 or more)", run->concurrency);
        return -1;
    }
    return 0;
}

static int sk_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                          struct fw_argv *out, char *err, size_t errlen) {
    char dir[FW_PATH_MAX];
    if (sk_validate(run, err, errlen) != 0) return -1;
    if (sk_dir(run, dir, sizeof dir) != 0) {
        snprintf(err, errlen, "sidekiq: frameworks directory path too long");
        return -1;
    }
    if (index == 0 && run->prefetch > 1)
        tq_warn("sidekiq: prefetch %d ignored: each Sidekiq thread takes one job per BRPOP",
                run->prefetch);
    fw_argv_reset(out);
    if (fw_argv_add(out, err, errlen, SK_BIN) || fw_argv_add(out, err, errlen, "-r") ||
        fw_argv_add(out, err, errlen, "%s/" SK_JOBS, dir))
        return -1;
    /* several queues without weights, in their priority order: Sidekiq's
     * strict order (SK_QUEUE_ORDER) */
    for (int i = 0; i < fw_nqueues(run); i++)
        if (fw_argv_add(out, err, errlen, "-q") ||
            fw_argv_add(out, err, errlen, "%s", fw_queue(run, i)))
            return -1;
    if (fw_argv_add(out, err, errlen, "-c") ||
        fw_argv_add(out, err, errlen, "%d", run->concurrency))
        return -1;
    /* the URL (password included) in the environment only: argv is
     * world-readable in /proc/PID/cmdline */
    if (fw_env_add(out, err, errlen, "REDIS_URL=%s", run->redis_url) ||
        fw_env_add(out, err, errlen, "TQ_SIDEKIQ_PREFIX=%s", run->prefix) ||
        fw_env_add(out, err, errlen, "TQ_SIDEKIQ_RUN=%s", run->run_id) ||
        fw_env_add(out, err, errlen, "TQ_SIDEKIQ_WORKER_ID=%s", worker_id) ||
        fw_env_add(out, err, errlen, "TQ_SIDEKIQ_LOG_LEVEL=WARN") ||
        fw_env_add(out, err, errlen, "TQ_SIDEKIQ_HEARTBEAT_INTERVAL=%d",
                   run->heartbeat_interval_s > 0 ? run->heartbeat_interval_s : 1))
        return -1;
    return 0;
}

static int sk_queue_key(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "queue:%s", run->queue);
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

/* --- encode: the producer's hot path, no allocation, no printf (fw_json.h) ---- */

/* µs as Sidekiq's float Unix seconds ("1764423600.123456"). */
static void put_seconds(struct fw_out *b, int64_t us) {
    if (us < 0) us = 0;
    char frac[7];
    int64_t f = us % 1000000;
    for (int i = 5; i >= 0; i--, f /= 10) frac[i] = (char)('0' + f % 10);
    frac[6] = '.';
    fw_put_u64(b, (uint64_t)(us / 1000000));
    fw_put(b, frac + 6, 1);
    fw_put(b, frac, 6);
}

static void put_hex(struct fw_out *b, uint64_t v, int digits) {
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    for (int i = digits - 1; i >= 0; i--, v >>= 4) tmp[i] = hex[v & 15];
    fw_put(b, tmp, (size_t)digits);
}

/* Sidekiq's jid is 24 hex digits (SecureRandom.hex(12)); tqbench's is a
 * hash of the run id and the task's sequence number: unique in the run,
 * and different across runs. */
static void put_jid(struct fw_out *b, const char *run_id, uint64_t seq) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)run_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    put_hex(b, h, 8);
    put_hex(b, seq, 16);
}

static const char *const sk_classes[TQ_KIND__COUNT] = {
    [TQ_KIND_NOOP] = "Tqbench::Noop",
    [TQ_KIND_SLEEP] = "Tqbench::Sleep",
    [TQ_KIND_CPU] = "Tqbench::Cpu",
    [TQ_KIND_FAIL] = "Tqbench::Fail",
};

static int sk_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    if ((unsigned)t->kind >= TQ_KIND__COUNT || t->arg < 0 || t->enqueued_us < 0) return -1;
    struct fw_out b = {buf, 0, cap, 0};
    FW_PUT_LIT(&b, "{\"retry\":false,\"queue\":\"");
    fw_put_str(&b, run->queue); /* tq_name_valid: nothing to escape */
    FW_PUT_LIT(&b, "\",\"class\":\"");
    fw_put_str(&b, sk_classes[t->kind]);
    FW_PUT_LIT(&b, "\",\"args\":[");
    if (t->kind == TQ_KIND_SLEEP || t->kind == TQ_KIND_CPU) fw_put_u64(&b, (uint64_t)t->arg);
    FW_PUT_LIT(&b, "],\"jid\":\"");
    put_jid(&b, t->run, t->id);
    FW_PUT_LIT(&b, "\",\"created_at\":");
    put_seconds(&b, t->enqueued_us);
    FW_PUT_LIT(&b, ",\"enqueued_at\":");
    put_seconds(&b, t->enqueued_us);
    FW_PUT_LIT(&b, ",");
    fw_json_task_fields(&b, t, FW_JSON_PAD);
    FW_PUT_LIT(&b, "}");
    return b.full || b.len > (size_t)INT32_MAX ? -1 : (int)b.len;
}

/* --- per-run state -------------------------------------------------------------- */

/* GET stat:processed and stat:failed (absent: 0). Returns 0, or -1 with err. */
static int sk_counters(redisContext *c, long long *processed, long long *failed, char *err,
                       size_t errlen) {
    char rerr[256];
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "MGET " SK_PROCESSED " " SK_FAILED);
    if (!r) {
        snprintf(err, errlen, "MGET " SK_PROCESSED " " SK_FAILED ": %s", rerr);
        return -1;
    }
    long long v[2] = {0, 0};
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    for (size_t i = 0; ok && i < 2; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_NIL) continue;
        char *end;
        v[i] = e->type == REDIS_REPLY_STRING ? strtoll(e->str, &end, 10) : 0;
        ok = e->type == REDIS_REPLY_STRING && end != e->str && !*end;
    }
    freeReplyObject(r);
    if (!ok) {
        snprintf(err, errlen, SK_PROCESSED " / " SK_FAILED " do not hold integers");
        return -1;
    }
    *processed = v[0];
    *failed = v[1];
    return 0;
}

static int sk_prepare(const struct fw_run *run, redisContext *c, void **state, char *err,
                      size_t errlen) {
    char rerr[256];
    struct sk_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *state = st;
    /* what Sidekiq::Client.push does before its LPUSH, once per queue;
     * Sidekiq's web UI and API list queues from this set */
    for (int i = 0; i < fw_nqueues(run); i++) {
        const char *q = fw_queue(run, i);
        redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "SADD queues %s", q);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "SADD queues %s: %s", q, r ? r->str : rerr);
            if (r) freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (sk_counters(c, &st->base_processed, &st->base_failed, err, errlen) != 0) return -1;
    st->have_base = 1;
    return 0;
}

/* The hook's counts (the default progress), remembered per run id for the
 * cross-check in verify. */
static int sk_progress(const struct fw_run *run, void *state, redisContext *c, const char *run_id,
                       struct fw_progress *out, char *err, size_t errlen) {
    struct sk_state *st = state;
    if (fw_progress_native(run, state, c, run_id, out, err, errlen) != 0) return -1;
    if (!st) return 0;
    int i = 0;
    while (i < st->nseen && strcmp(st->seen[i].run, run_id) != 0) i++;
    if (i == st->nseen) {
        if (i == SK_SEEN_MAX) return 0;
        snprintf(st->seen[i].run, sizeof st->seen[i].run, "%s", run_id);
        st->nseen++;
    }
    /* a capacity probe drains several rounds under one warm-up id, its
     * counters deleted in between: a reading below the last starts a round */
    if (out->completed + out->failed < st->seen[i].completed + st->seen[i].failed) {
        st->seen[i].carried_completed += st->seen[i].completed;
        st->seen[i].carried_failed += st->seen[i].failed;
    }
    st->seen[i].completed = out->completed;
    st->seen[i].failed = out->failed;
    return 0;
}

/* Sidekiq's heartbeat period (Launcher::BEAT_PAUSE) and how long verify
 * waits for its counters: two beats and a margin. */
#define SK_BEAT_MS 5000
#define SK_VERIFY_WAIT_MS (2 * SK_BEAT_MS + 1000)

/* verify: the deltas of Sidekiq's counters against the hook's counts of
 * every run id asked about (the run and its warm-up), polled every 100 ms
 * until they agree or SK_VERIFY_WAIT_MS passed. A signal ends the wait at
 * once (nanosleep is never restarted), so an interrupt is acted on. */
static int sk_verify(const struct fw_run *run, void *state, redisContext *c,
                     const struct fw_progress *counted, char *err, size_t errlen) {
    struct sk_state *st = state;
    (void)counted; /* the measured run's count is the last entry of st->seen */
    if (!st || !st->have_base) {
        snprintf(err, errlen, "no baseline of Sidekiq's counters for run %s", run->run_id);
        return -1;
    }
    long long hook_done = 0, hook_failed = 0;
    for (int i = 0; i < st->nseen; i++) {
        hook_done += st->seen[i].completed + st->seen[i].failed +
                     st->seen[i].carried_completed + st->seen[i].carried_failed;
        hook_failed += st->seen[i].failed + st->seen[i].carried_failed;
    }
    int64_t deadline = tq_clock_mono_us() + (int64_t)SK_VERIFY_WAIT_MS * 1000;
    long long dp = 0, df = 0;
    for (;;) {
        long long processed, failed;
        if (sk_counters(c, &processed, &failed, err, errlen) != 0) return -1;
        dp = processed - st->base_processed;
        df = failed - st->base_failed;
        if (dp == hook_done && df == hook_failed) {
            tq_info("sidekiq: run %s: " SK_PROCESSED " delta %lld agrees with the hook's count",
                    run->run_id, dp);
            return 0;
        }
        /* past the hook's count it cannot come back: no need to wait */
        if (dp > hook_done || tq_clock_mono_us() >= deadline) break;
        struct timespec slice = {0, 100 * 1000 * 1000};
        if (nanosleep(&slice, NULL) != 0) {
            snprintf(err, errlen, "interrupted while waiting for Sidekiq's heartbeat to add the "
                                  "run to " SK_PROCESSED);
            return -1;
        }
    }
    snprintf(err, errlen,
             "Sidekiq's " SK_PROCESSED " rose by %lld (" SK_FAILED " by %lld) within %d s of "
             "the run's completion but tqbench's hook counted %lld finished (%lld failed), "
             "warm-up included: a worker killed before its flush, another Sidekiq on this "
             "Redis, or jobs lost",
             dp, df, SK_VERIFY_WAIT_MS / 1000, hook_done, hook_failed);
    return -1;
}

static void sk_finish(const struct fw_run *run, redisContext *c, void *state) {
    (void)run;
    (void)c;
    free(state);
}

/* The run's own queues in Sidekiq's `queues` set (their names derive from
 * the run id unless --external named a shared one, which stays listed). */
static void sk_clean(const struct fw_run *run, redisContext *c) {
    char err[256];
    if (!c || strcmp(run->queue, run->run_id) != 0) return;
    for (int i = 0; i < fw_nqueues(run); i++) {
        redisReply *r = tq_redis_command(c, err, sizeof err, "SREM queues %s", fw_queue(run, i));
        if (r) freeReplyObject(r);
    }
}

/* The run id as the job JSON writes it. */
static int sk_run_marker(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "\"tqbench_run\":\"%s\"", run->run_id);
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

const struct tq_framework tq_framework_sidekiq = {
    /* also the `protocol` of its workers' heartbeats (tqbench_hook.rb writes it) */
    .name = "sidekiq",
    .description = "Sidekiq workers (Debian's ruby-sidekiq, log level WARN), job JSON built in C",
    .available = sk_available,
    .worker_argv = sk_worker_argv,
    .queue_key = sk_queue_key,
    .encode = sk_encode,
    .clean = sk_clean,
    .caps = FW_CAP_SLEEP | FW_CAP_CPU | FW_CAP_FAIL | FW_CAP_OPEN_LOOP | FW_CAP_MULTI_QUEUE,
    .queue_order = SK_QUEUE_ORDER,
    .validate = sk_validate,
    .prepare = sk_prepare,
    .finish = sk_finish,
    .verify = sk_verify,
    .progress = sk_progress,
    .run_marker = sk_run_marker,
};
