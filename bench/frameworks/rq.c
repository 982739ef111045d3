/* rq.c - RQ 1.13 (Debian's python3-rq) as two benchmarked frameworks: "rq",
 * RQ's default Worker (one forked work horse per job), and "rq-simple", its
 * SimpleWorker (jobs run in the worker process). One adapter, two entries in
 * the registry: they differ only in the worker class.
 *
 * The workers are RQ's own command line, `/usr/bin/python3 -m rq.cli worker
 * -w tqbench_rq_hook.<class> -S rq.serializers.JSONSerializer`, running the
 * task module in bench/frameworks/rq (tqbench_rq_tasks.py). The class is
 * RQ's, with tqbench's hook mixed in (tqbench_rq_hook.py): it counts and
 * times every job into P:run:<run>:stats and :stamps and writes tqbench's
 * heartbeat, as Celery's hook does.
 *
 * The producer is the driver. It writes jobs in RQ's own layout, as
 * Queue.enqueue does: per job a hash rq:job:<id> with the fields RQ writes
 * (data, created_at, enqueued_at, status queued, origin, description,
 * timeout, result_ttl 0, meta...), then one RPUSH of the batch's ids onto
 * rq:queue:<q> (enqueue_batch); prepare does the SADD rq:queues RQ does on
 * every enqueue, once. `data` is [func, null, args, kwargs] as JSON, which
 * RQ's JSONSerializer reads, NOT zlib-compressed as RQ writes it: RQ's Job
 * falls back to uncompressed data when zlib refuses it (rq/job.py,
 * restore), and building zlib streams in C buys nothing. tqbench's run id
 * and enqueue time ride in the job's meta.
 *
 * Completion: the hook's P:run:<run>:stats (the default progress, plus a
 * baseline of RQ's own counters taken when the driver first asks about a
 * run). At the end, verify cross-checks RQ's own figures against the hook's
 * count: the workers' successful_job_count and failed_job_count (rq:worker:
 * <name>, every failed attempt counted there, retried or not), the jobs
 * added to the queue's FailedJobRegistry, and an empty StartedJobRegistry.
 *
 * Several queues (multi_queue): `rq worker ... q0 q1 q2`, RQ's strict
 * priority (RQ_QUEUE_ORDER); each job's origin is its queue and its meta
 * names its queue's sub-run, so the hook counts it per queue.
 *
 * Concurrency: an RQ worker runs one job at a time, so concurrency N is N
 * RQ worker processes per worker (FW_LIMIT_SERIAL; rq_validate).
 *
 * Always /usr/bin/python3, as for Celery: the `rq` script runs whatever
 * python3 its shebang names, and Debian's package lives there. */
#include "framework.h"
#include "fw_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tq_log.h"
#include "tq_redis.h"
#include "tq_spawn.h"

#define RQ_PYTHON "/usr/bin/python3"
#define RQ_TASK_MODULE "tqbench_rq_tasks"
#define RQ_HOOK_MODULE "tqbench_rq_hook"
#define RQ_SERIALIZER "rq.serializers.JSONSerializer"
#define RQ_PROBE_TIMEOUT_MS 60000
#define RQ_JOB_TIMEOUT "180"  /* RQ's default job timeout (s), as Queue.enqueue writes it */
#define RQ_ID_MAX (TQ_NAME_MAX + 32)
#define RQ_HSET_ARGS 40       /* HSET key + the fields below, as name/value pairs */
/* RQ worker processes of a run (workers x concurrency: 8 x 10 fits), their
 * keys remembered for finish() */
#define RQ_WORKERS_MAX 128
/* queue_order: what RQ's docs say (python-rq.org, Workers: "the order is
 * important") and rq/queue.py does (Queue.dequeue_any: LPOP of each queue
 * in turn, or one BLPOP over all of them, which Redis serves from the first
 * non-empty key) */
#define RQ_QUEUE_ORDER                                                                        \
    "strict priority: an RQ worker takes its next job from the first non-empty queue in the "  \
    "order given on its command line (`rq worker q0 q1 q2`; RQ's docs: \"the order is "        \
    "important\"; Queue.dequeue_any LPOPs the queues in turn, or BLPOPs them all in that order)"

/* Per-run state: the baselines of RQ's own counters, for the run id they
 * were taken for (the warm-up's, then the measured run's). */
struct rq_state {
    char run[TQ_NAME_MAX];
    long long base_ok, base_failed, base_registry;
    /* the workers' keys rq:worker:<name> seen on rq:workers:<q>: RQ keeps
     * them 60 s after a worker's death, finish() deletes them at once */
    int nworkers;
    char workers[RQ_WORKERS_MAX][TQ_KEY_MAX];
};

/* RQ's own figures, summed over the queue's workers. */
struct rq_counts {
    long long ok, failed;        /* successful_job_count, failed_job_count */
    long long registry, started; /* ZCARD rq:failed:<q>, rq:wip:<q> */
};

static int rq_dir(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "%s/rq", run->frameworks_dir);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

/* rq:<what>:<queue i>, or -1 when it does not fit. */
static int rq_key_of(const struct fw_run *run, int i, const char *what, char *buf, size_t n) {
    int len = snprintf(buf, n, "rq:%s:%s", what, fw_queue(run, i));
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

/* rq:<what>:<queue>, or -1 when it does not fit. */
static int rq_key(const struct fw_run *run, const char *what, char *buf, size_t n) {
    return rq_key_of(run, 0, what, buf, n);
}

/* The worker class of each registration, by the framework's name. */
static int rq_is_simple(const struct fw_run *run, const char *name) {
    (void)run;
    return strcmp(name, "rq-simple") == 0;
}

static int rq_available(const struct fw_run *run, char *why, size_t n) {
    char dir[FW_PATH_MAX];
    if (access(RQ_PYTHON, X_OK) != 0) {
        snprintf(why, n, "%s not found (RQ runs under Debian's python3)", RQ_PYTHON);
        return 0;
    }
    if (rq_dir(run, dir, sizeof dir) != 0) {
        snprintf(why, n, "frameworks directory path too long");
        return 0;
    }
    const char *const files[] = {RQ_TASK_MODULE ".py", RQ_HOOK_MODULE ".py", NULL};
    const char *const argv[] = {RQ_PYTHON, "-c", "import rq, redis", NULL};
    return fw_files_readable(dir, files, "RQ helper", NULL, why, n) == 0 &&
           fw_probe(argv, NULL, RQ_PROBE_TIMEOUT_MS, "python3-rq does not import under " RQ_PYTHON,
                    "install python3-rq, see scripts/bootstrap", why, n) == 0;
}

/* An RQ worker runs one job at a time and pops one at a time (no pool, no
 * prefetch): concurrency N is N RQ worker processes per worker
 * (FW_LIMIT_SERIAL: the driver spawns workers x concurrency of them, as
 * `rq worker-pool -n N` of RQ >= 1.14 would), each heartbeating with
 * concurrency 1. Their worker keys are remembered for finish() up to
 * RQ_WORKERS_MAX. */
static int rq_validate(const struct fw_run *run, char *err, size_t errlen) {
    long procs = (long)run->workers * run->concurrency;
    if (run->concurrency < 1) {
        snprintf(err, errlen, "rq: concurrency %d (1 or more)", run->concurrency);
        return -1;
    }
    if (procs > RQ_WORKERS_MAX) {
        snprintf(err, errlen,
                 "rq: %d worker(s) x concurrency %d would be %ld RQ worker processes (one job "
                 "at a time each); at most %d",
                 run->workers, run->concurrency, procs, RQ_WORKERS_MAX);
        return -1;
    }
    return 0;
}

static int rq_worker_argv_as(const struct fw_run *run, const char *name, int index,
                             const char *worker_id, struct fw_argv *out, char *err,
                             size_t errlen) {
    char dir[FW_PATH_MAX];
    int simple = rq_is_simple(run, name);
    if (rq_validate(run, err, errlen) != 0) return -1;
    if (rq_dir(run, dir, sizeof dir) != 0) {
        snprintf(err, errlen, "%s: frameworks directory path too long", name);
        return -1;
    }
    (void)index; /* every process alike: worker_id tells them apart */
    fw_argv_reset(out);
    /* RQ's defaults but for the log level: INFO writes two lines per job
     * (README.md). The worker's name is tqbench's worker id, so RQ's
     * rq:worker:<name> counters are this process's. */
    if (fw_argv_add(out, err, errlen, RQ_PYTHON) || fw_argv_add(out, err, errlen, "-m") ||
        fw_argv_add(out, err, errlen, "rq.cli") || fw_argv_add(out, err, errlen, "worker") ||
        fw_argv_add(out, err, errlen, "-w") ||
        fw_argv_add(out, err, errlen, RQ_HOOK_MODULE ".%s",
                    simple ? "TqbenchSimpleWorker" : "TqbenchWorker") ||
        fw_argv_add(out, err, errlen, "-S") || fw_argv_add(out, err, errlen, RQ_SERIALIZER) ||
        fw_argv_add(out, err, errlen, "-n") || fw_argv_add(out, err, errlen, "%s", worker_id) ||
        fw_argv_add(out, err, errlen, "--logging_level") ||
        fw_argv_add(out, err, errlen, "WARNING"))
        return -1;
    /* several queues in their priority order: RQ takes from the first
     * non-empty one (queue_order) */
    for (int i = 0; i < fw_nqueues(run); i++)
        if (fw_argv_add(out, err, errlen, "%s", fw_queue(run, i))) return -1;
    /* The URL goes through the environment (RQ_REDIS_URL is rq's --url):
     * argv is world-readable in /proc/PID/cmdline. */
    if (fw_env_add(out, err, errlen, "PYTHONPATH=%s", dir) ||
        fw_env_add(out, err, errlen, "PYTHONDONTWRITEBYTECODE=1") ||
        fw_env_add(out, err, errlen, "RQ_REDIS_URL=%s", run->redis_url) ||
        fw_env_add(out, err, errlen, "TQ_RQ_REDIS_URL=%s", run->redis_url) ||
        fw_env_add(out, err, errlen, "TQ_RQ_PREFIX=%s", run->prefix) ||
        fw_env_add(out, err, errlen, "TQ_RQ_RUN=%s", run->run_id) ||
        fw_env_add(out, err, errlen, "TQ_RQ_WORKER_ID=%s", worker_id) ||
        fw_env_add(out, err, errlen, "TQ_RQ_PROTOCOL=%s", name) ||
        fw_env_add(out, err, errlen, "TQ_RQ_HEARTBEAT_INTERVAL=%d",
                   run->heartbeat_interval_s > 0 ? run->heartbeat_interval_s : 1))
        return -1;
    return 0;
}

static int rq_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                          struct fw_argv *out, char *err, size_t errlen) {
    return rq_worker_argv_as(run, "rq", index, worker_id, out, err, errlen);
}

static int rq_simple_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                                 struct fw_argv *out, char *err, size_t errlen) {
    return rq_worker_argv_as(run, "rq-simple", index, worker_id, out, err, errlen);
}

static int rq_queue_key(const struct fw_run *run, char *buf, size_t n) {
    return rq_key(run, "queue", buf, n);
}

/* ---- the job's fields, built without printf or allocation (fw_json.h) ---- */

/* n digits of v, zero-padded. */
static void put_digits(struct fw_out *o, unsigned v, int n) {
    char tmp[8];
    for (int i = n - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    fw_put(o, tmp, (size_t)n);
}

/* A wall-clock time in µs as RQ writes its dates (rq/utils.py utcformat:
 * "%Y-%m-%dT%H:%M:%S.%fZ", UTC). */
static void put_rq_time(struct fw_out *o, int64_t us) {
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    if (us < 0 || !gmtime_r(&s, &tm)) {
        o->full = 1;
        return;
    }
    put_digits(o, (unsigned)tm.tm_year + 1900, 4);
    fw_put(o, "-", 1);
    put_digits(o, (unsigned)tm.tm_mon + 1, 2);
    fw_put(o, "-", 1);
    put_digits(o, (unsigned)tm.tm_mday, 2);
    fw_put(o, "T", 1);
    put_digits(o, (unsigned)tm.tm_hour, 2);
    fw_put(o, ":", 1);
    put_digits(o, (unsigned)tm.tm_min, 2);
    fw_put(o, ":", 1);
    put_digits(o, (unsigned)tm.tm_sec, 2);
    fw_put(o, ".", 1);
    put_digits(o, (unsigned)(us % 1000000), 6);
    fw_put(o, "Z", 1);
}

/* 1 when the task's kind takes its parameter as args[0]. */
static int kind_has_arg(enum tq_task_kind k) { return k == TQ_KIND_SLEEP || k == TQ_KIND_CPU; }

/* The job id: "tq:<run>:<seq>". The run's own marker on a shared queue is
 * "tq:<run>:", which no other run's ids contain (run ids hold no ':'). */
static int rq_job_id(const struct tq_task *t, char *buf, size_t n) {
    struct fw_out o = {buf, 0, n, 0};
    fw_put_str(&o, "tq:");
    fw_put_str(&o, t->run);
    fw_put(&o, ":", 1);
    fw_put_u64(&o, t->id);
    return o.full ? -1 : (int)o.len;
}

/* data: [func, null, args, kwargs] as JSON (RQ's JSONSerializer), with
 * json.dumps' spacing. */
static int rq_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    struct fw_out o = {buf, 0, cap, 0};
    const char *kind = tq_task_kind_name(t->kind);
    (void)run;
    if (!kind || t->arg < 0) return -1;
    fw_put_str(&o, "[\"" RQ_TASK_MODULE ".");
    fw_put_str(&o, kind);
    fw_put_str(&o, "\", null, [");
    if (kind_has_arg(t->kind)) fw_put_u64(&o, (uint64_t)t->arg);
    fw_put_str(&o, "], {");
    if (t->pad_len > 0) {
        fw_put_str(&o, "\"pad\": \"");
        fw_put_fill(&o, 'x', t->pad_len);
        fw_put_str(&o, "\"");
    }
    fw_put_str(&o, "}]");
    return o.full ? -1 : (int)o.len;
}

/* description: RQ's Job.get_call_string, e.g. "tqbench_rq_tasks.sleep(10,
 * pad='xx')". */
static void put_description(struct fw_out *o, const struct tq_task *t) {
    fw_put_str(o, RQ_TASK_MODULE ".");
    fw_put_str(o, tq_task_kind_name(t->kind));
    fw_put(o, "(", 1);
    if (kind_has_arg(t->kind)) fw_put_u64(o, (uint64_t)t->arg);
    if (t->pad_len > 0) {
        if (kind_has_arg(t->kind)) fw_put_str(o, ", ");
        fw_put_str(o, "pad='");
        fw_put_fill(o, 'x', t->pad_len);
        fw_put(o, "'", 1);
    }
    fw_put(o, ")", 1);
}

/* meta: tqbench's fields, read back by the hook (tqbench_rq_hook.py), with
 * json.dumps' spacing. */
static void put_meta(struct fw_out *o, const struct tq_task *t) {
    fw_put(o, "{", 1);
    fw_json_task_fields(o, t, FW_JSON_SPACED); /* the pad is in kwargs, not here */
    FW_PUT_LIT(o, ", \"tqbench_max_attempts\": ");
    fw_put_u64(o, (uint64_t)t->max_attempts);
    fw_put(o, "}", 1);
}

/* Appends one HSET of job t with the fields Queue.enqueue writes (field
 * names as RQ 1.13's Job.to_dict, empty strings where RQ writes None), its
 * id into ids (advancing *ids_len). scratch holds the built values. */
static int append_job(redisContext *c, const struct fw_run *run, const struct tq_task *t,
                      const char *data, size_t data_len, char *scratch, size_t scratch_cap,
                      char *id, size_t id_cap, size_t *id_len, char *err, size_t errlen) {
    const char *argv[RQ_HSET_ARGS];
    size_t lens[RQ_HSET_ARGS];
    char key[RQ_ID_MAX + 16], retries[24];
    struct fw_out o = {scratch, 0, scratch_cap, 0};
    int idn = rq_job_id(t, id, id_cap);
    int keyn = snprintf(key, sizeof key, "rq:job:%.*s", idn < 0 ? 0 : idn, id);
    if (idn < 0 || keyn < 0 || (size_t)keyn >= sizeof key) {
        snprintf(err, errlen, "rq: job id of task %llu of run %s too long",
                 (unsigned long long)t->id, t->run);
        return -1;
    }
    *id_len = (size_t)idn;
    /* the values built into scratch: time, description, meta */
    size_t time_at = o.len;
    put_rq_time(&o, t->enqueued_us);
    size_t time_len = o.len - time_at, desc_at = o.len;
    put_description(&o, t);
    size_t desc_len = o.len - desc_at, meta_at = o.len;
    put_meta(&o, t);
    size_t meta_len = o.len - meta_at;
    if (o.full) {
        snprintf(err, errlen, "rq: fields of task %llu do not fit in %zu bytes",
                 (unsigned long long)t->id, scratch_cap);
        return -1;
    }
    int n = 0;
#define ARG(s, l) (argv[n] = (s), lens[n] = (l), n++)
#define LIT(s) ARG(s, sizeof(s) - 1)
    LIT("HSET");
    ARG(key, (size_t)keyn);
    LIT("created_at"), ARG(scratch + time_at, time_len);
    LIT("data"), ARG(data, data_len);
    LIT("success_callback_name"), LIT("");
    LIT("failure_callback_name"), LIT("");
    LIT("started_at"), LIT("");
    LIT("ended_at"), LIT("");
    LIT("last_heartbeat"), LIT("");
    LIT("worker_name"), LIT("");
    LIT("origin"), ARG(run->queue, strlen(run->queue));
    LIT("description"), ARG(scratch + desc_at, desc_len);
    LIT("enqueued_at"), ARG(scratch + time_at, time_len);
    LIT("status"), LIT("queued");
    LIT("result_ttl"), LIT("0");
    LIT("timeout"), LIT(RQ_JOB_TIMEOUT);
    LIT("meta"), ARG(scratch + meta_at, meta_len);
    if (t->max_attempts > 1) {
        /* RQ's Retry(max=N-1), no interval: a failed attempt goes straight
         * back onto the queue (Job.retry) */
        int rn = snprintf(retries, sizeof retries, "%d", t->max_attempts - 1 - t->attempt);
        LIT("retries_left"), ARG(retries, (size_t)rn);
        LIT("retry_intervals"), LIT("[0]");
    }
#undef LIT
#undef ARG
    if (redisAppendCommandArgv(c, n, argv, lens) != REDIS_OK) {
        snprintf(err, errlen, "rq: cannot append HSET %s: %s", key,
                 c->errstr[0] ? c->errstr : "out of memory");
        return -1;
    }
    return 0;
}

/* One HSET per job, then one RPUSH of the batch's ids onto key (the
 * queue, or the backlog's staging list: RPUSH keeps RQ's order, oldest on
 * the left where its workers LPOP, and the release RENAMEs a fresh queue).
 * One allocation per batch: the ids and the values' scratch. */
static int rq_enqueue_batch(const struct fw_run *run, const void *state, redisContext *c,
                            const char *key, const struct tq_task *tasks,
                            const char *const *payloads, const size_t *lens, int n, char *err,
                            size_t errlen) {
    (void)state;
    if (n <= 0) return 0;
    size_t max_pad = 0;
    for (int i = 0; i < n; i++)
        if (tasks[i].pad_len > max_pad) max_pad = tasks[i].pad_len;
    size_t scratch_cap = max_pad + 4 * TQ_NAME_MAX + 256;
    size_t nargs = (size_t)n + 2;
    /* the pointer and length arrays first, where malloc's alignment holds
     * for them; the byte arrays after */
    void *mem = malloc(nargs * (sizeof(char *) + sizeof(size_t)) + (size_t)n * RQ_ID_MAX +
                       scratch_cap);
    if (!mem) {
        snprintf(err, errlen, "rq: out of memory for a batch of %d jobs", n);
        return -1;
    }
    const char **argv = mem;
    size_t *argl = (size_t *)(argv + nargs);
    char *ids = (char *)(argl + nargs), *scratch = ids + (size_t)n * RQ_ID_MAX;
    argv[0] = "RPUSH";
    argl[0] = 5;
    argv[1] = key;
    argl[1] = strlen(key);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char *id = ids + (size_t)i * RQ_ID_MAX;
        rc = append_job(c, run, &tasks[i], payloads[i], lens[i], scratch, scratch_cap, id,
                        RQ_ID_MAX, &argl[i + 2], err, errlen);
        argv[i + 2] = id;
    }
    if (rc == 0 && redisAppendCommandArgv(c, (int)nargs, argv, argl) != REDIS_OK) {
        snprintf(err, errlen, "rq: cannot append RPUSH %s: %s", key,
                 c->errstr[0] ? c->errstr : "out of memory");
        rc = -1;
    }
    free(mem);
    /* a failure half-way leaves appended HSETs on the buffer: the producer
     * fails the run on the -1 and drops the connection */
    return rc == 0 ? n + 1 : -1;
}

/* ---- RQ's own figures ---- */

/* Adds a worker key to st's list, once. */
static void remember_worker(struct rq_state *st, const char *key, size_t len) {
    if (len >= TQ_KEY_MAX) return;
    for (int i = 0; i < st->nworkers; i++)
        if (strlen(st->workers[i]) == len && memcmp(st->workers[i], key, len) == 0) return;
    if (st->nworkers >= RQ_WORKERS_MAX) return;
    memcpy(st->workers[st->nworkers], key, len);
    st->workers[st->nworkers][len] = '\0';
    st->nworkers++;
}

/* RQ's counters of the queue's workers (its per-queue worker set
 * rq:workers:<q>, whose members are the workers' keys) and the sizes of its
 * failed and started registries. Returns 0, or -1 with err. */
static int rq_read_counts(const struct fw_run *run, redisContext *c, struct rq_state *st,
                          struct rq_counts *out, char *err, size_t errlen) {
    char workers[TQ_KEY_MAX], rerr[256];
    memset(out, 0, sizeof *out);
    if (rq_key(run, "workers", workers, sizeof workers) < 0) {
        snprintf(err, errlen, "queue name \"%s\" too long for RQ's keys", run->queue);
        return -1;
    }
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "SMEMBERS %s", workers);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "SMEMBERS %s: %s", workers,
                 !r ? rerr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        if (r) freeReplyObject(r);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < r->elements && rc == 0; i++) {
        const redisReply *m = r->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        remember_worker(st, m->str, m->len);
        redisReply *h = tq_redis_command(c, rerr, sizeof rerr,
                                         "HMGET %b successful_job_count failed_job_count",
                                         m->str, m->len);
        long long ok = 0, nf = 0;
        if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != 2 ||
            fw_reply_ll(h->element[0], &ok) != 0 || fw_reply_ll(h->element[1], &nf) != 0) {
            snprintf(err, errlen, "HMGET %s successful_job_count failed_job_count: %s", m->str,
                     !h ? rerr : "not integers");
            rc = -1;
        } else {
            out->ok += ok;
            out->failed += nf;
        }
        if (h) freeReplyObject(h);
    }
    freeReplyObject(r);
    if (rc != 0) return -1;
    /* the registries are per queue: summed over the run's queues */
    static const char *const zsets[] = {"failed", "wip"};
    long long *dst[] = {&out->registry, &out->started};
    for (int q = 0; q < fw_nqueues(run); q++) {
        for (int i = 0; i < 2; i++) {
            char key[TQ_KEY_MAX];
            long long v = 0;
            if (rq_key_of(run, q, zsets[i], key, sizeof key) < 0) {
                snprintf(err, errlen, "queue name \"%s\" too long for RQ's keys", fw_queue(run, q));
                return -1;
            }
            r = tq_redis_command(c, rerr, sizeof rerr, "ZCARD %s", key);
            if (!r || fw_reply_ll(r, &v) != 0) {
                snprintf(err, errlen, "ZCARD %s: %s", key,
                         !r ? rerr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                if (r) freeReplyObject(r);
                return -1;
            }
            freeReplyObject(r);
            *dst[i] += v;
        }
    }
    return 0;
}

static int rq_prepare(const struct fw_run *run, redisContext *c, void **state, char *err,
                      size_t errlen) {
    char queue[TQ_KEY_MAX], rerr[256];
    struct rq_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *state = st;
    for (int i = 0; i < fw_nqueues(run); i++) {
        if (rq_key_of(run, i, "queue", queue, sizeof queue) < 0) {
            snprintf(err, errlen, "queue name \"%s\" too long for RQ's keys", fw_queue(run, i));
            return -1;
        }
        /* what Queue.enqueue does on every job, once per queue: RQ's tools
         * (rq info, Queue.all) find the queue through it */
        redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "SADD rq:queues %s", queue);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "SADD rq:queues %s: %s", queue, r ? r->str : rerr);
            if (r) freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

/* Deletes the keys of the run's workers (they stopped before finish is
 * called) when the queue was the run's own, then frees the state. */
static void rq_finish(const struct fw_run *run, redisContext *c, void *state) {
    struct rq_state *st = state;
    char err[256];
    if (st && c && strcmp(run->queue, run->run_id) == 0) {
        for (int i = 0; i < st->nworkers; i++) {
            redisReply *r = tq_redis_command(c, err, sizeof err, "DEL %s", st->workers[i]);
            if (r) freeReplyObject(r);
        }
    }
    free(state);
}

/* The run id RQ's counters are a baseline for: run_id itself, but the
 * run's own id for the queues' sub-runs of a multi-queue run
 * ("<run>-q<i>": run.c counts each queue's tasks under one), whose tasks
 * RQ's counters add up in one. */
static const char *rq_counted_id(const struct fw_run *run, const char *run_id) {
    size_t n = strlen(run->run_id);
    if (run->nqueues > 1 && strncmp(run_id, run->run_id, n) == 0 && run_id[n] == '-' &&
        run_id[n + 1] == 'q' && run_id[n + 2] >= '0' && run_id[n + 2] <= '9' && !run_id[n + 3])
        return run->run_id;
    return run_id;
}

/* The hook's counts (the default progress); the first time a run id is
 * asked about (before any of its tasks is enqueued; for a multi-queue run,
 * its first queue's), RQ's own counters are taken as that run's baseline
 * for verify. */
static int rq_progress(const struct fw_run *run, void *state, redisContext *c, const char *run_id,
                       struct fw_progress *out, char *err, size_t errlen) {
    struct rq_state *st = state;
    if (!st) {
        snprintf(err, errlen, "rq: progress asked before prepare");
        return -1;
    }
    const char *counted = rq_counted_id(run, run_id);
    if (strcmp(st->run, counted) != 0) {
        struct rq_counts now;
        if (rq_read_counts(run, c, st, &now, err, errlen) != 0) return -1;
        snprintf(st->run, sizeof st->run, "%s", counted);
        st->base_ok = now.ok;
        st->base_failed = now.failed;
        st->base_registry = now.registry;
    }
    return fw_progress_native(run, state, c, run_id, out, err, errlen);
}

static int rq_verify(const struct fw_run *run, void *state, redisContext *c,
                     const struct fw_progress *counted, char *err, size_t errlen) {
    struct rq_state *st = state;
    struct rq_counts now;
    if (!st || strcmp(st->run, run->run_id) != 0) {
        snprintf(err, errlen, "no baseline of RQ's counters for run %s", run->run_id);
        return -1;
    }
    if (rq_read_counts(run, c, st, &now, err, errlen) != 0) return -1;
    long long ok = now.ok - st->base_ok, nf = now.failed - st->base_failed;
    long long registry = now.registry - st->base_registry;
    /* RQ counts every failed attempt in failed_job_count, retried or not */
    if (ok != counted->completed || nf != (long long)counted->failed + counted->retried ||
        registry != counted->failed || now.started != 0) {
        snprintf(err, errlen,
                 "RQ counted %lld successful and %lld failed attempts (workers of rq:workers:%s), "
                 "%lld new in its FailedJobRegistry, %lld in its StartedJobRegistry; the hook "
                 "counted %ld completed, %ld failed, %ld retried",
                 ok, nf, run->queue, registry, now.started, counted->completed, counted->failed,
                 counted->retried);
        return -1;
    }
    return 0;
}

/* RQ's keys of the run's queue i: its registries, its worker set and the
 * keys of workers killed before they could deregister. */
static void rq_clean_queue(const struct fw_run *run, int q, redisContext *c) {
    char workers[TQ_KEY_MAX], err[256];
    if (rq_key_of(run, q, "workers", workers, sizeof workers) < 0) return;
    redisReply *r = tq_redis_command(c, err, sizeof err, "SMEMBERS %s", workers);
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *m = r->element[i];
            if (m->type != REDIS_REPLY_STRING) continue;
            redisReply *d = tq_redis_command(c, err, sizeof err, "DEL %b", m->str, m->len);
            if (d) freeReplyObject(d);
            d = tq_redis_command(c, err, sizeof err, "SREM rq:workers %b", m->str, m->len);
            if (d) freeReplyObject(d);
        }
    }
    if (r) freeReplyObject(r);
    static const char *const kinds[] = {"queue",     "workers",   "failed",   "wip",
                                        "finished",  "deferred",  "scheduled", "canceled",
                                        "clean_registries"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char key[TQ_KEY_MAX];
        if (rq_key_of(run, q, kinds[i], key, sizeof key) < 0) continue;
        redisReply *d = tq_redis_command(c, err, sizeof err, "DEL %s", key);
        if (d) freeReplyObject(d);
        if (i == 0 && (d = tq_redis_command(c, err, sizeof err, "SREM rq:queues %s", key)))
            freeReplyObject(d);
    }
}

/* The run's jobs (its own, its warm-up's and its queues' sub-runs': failed
 * ones stay with their results), and, when the queue is the run's own,
 * RQ's keys of each of its queues (rq_clean_queue). */
static void rq_clean(const struct fw_run *run, redisContext *c) {
    char pattern[TQ_KEY_MAX];
    /* a multi-queue run's job ids are tq:<run>-q<i>:<seq> (rq_job_id) */
    static const char *const job_keys[] = {"rq:job:tq:%s:*",     "rq:job:tq:%s-warmup:*",
                                           "rq:job:tq:%s-q?:*",   "rq:results:tq:%s:*",
                                           "rq:results:tq:%s-warmup:*", "rq:results:tq:%s-q?:*"};
    if (!c) return;
    for (size_t i = 0; i < sizeof job_keys / sizeof job_keys[0]; i++) {
        int len = snprintf(pattern, sizeof pattern, job_keys[i], run->run_id);
        if (len > 0 && (size_t)len < sizeof pattern) fw_unlink_matching(c, pattern, NULL, NULL);
    }
    if (strcmp(run->queue, run->run_id) != 0) return;
    for (int q = 0; q < fw_nqueues(run); q++) rq_clean_queue(run, q, c);
}

/* "tq:<run>:", the prefix of the run's job ids (rq_job_id). */
static int rq_run_marker(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "tq:%s:", run->run_id);
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

/* What both rows share: they differ in name, description and worker class. */
#define RQ_COMMON                                                                      \
    .available = rq_available, .queue_key = rq_queue_key, .encode = rq_encode,         \
    .clean = rq_clean,                                                                 \
    /* retries: RQ's Retry with no interval, so a failed attempt is retried at once */ \
    .caps = FW_CAP_SLEEP | FW_CAP_CPU | FW_CAP_FAIL | FW_CAP_RETRIES | FW_CAP_OPEN_LOOP | \
            FW_CAP_MULTI_QUEUE,                                                        \
    .queue_order = RQ_QUEUE_ORDER,                                                     \
    .limits = FW_LIMIT_SERIAL,                                                         \
    .validate = rq_validate, .prepare = rq_prepare, .finish = rq_finish,                \
    .enqueue_batch = rq_enqueue_batch,                                                 \
    .progress = rq_progress, .run_marker = rq_run_marker, .verify = rq_verify

const struct tq_framework tq_framework_rq = {
    /* also the `protocol` of its workers' heartbeats (TQ_RQ_PROTOCOL) */
    .name = "rq",
    .description = "RQ 1.13 default (forking) Worker (/usr/bin/python3 -m rq.cli worker), jobs "
                   "built in C",
    .worker_argv = rq_worker_argv,
    RQ_COMMON,
};

const struct tq_framework tq_framework_rq_simple = {
    .name = "rq-simple",
    .description = "RQ 1.13 SimpleWorker (no fork per job), jobs built in C",
    .worker_argv = rq_simple_worker_argv,
    RQ_COMMON,
};
