/* bullmq.c - BullMQ (npm, pinned by bench/frameworks/bullmq/package-lock.json)
 * as a benchmarked framework.
 *
 * The workers are BullMQ's own Worker class in a Node process each
 * (bench/frameworks/bullmq/tqbench_bullmq_worker.js, run by `node` from PATH,
 * one process with `concurrency` async job slots). The script is tqbench's
 * hook too: it counts and times every job into P:run:<run>:stats and :stamps
 * and writes tqbench's heartbeat P:worker:<id>, as the RQ and Sidekiq hooks
 * do. Jobs carry removeOnComplete / removeOnFail true: nothing finished is
 * kept (results.json settings.framework says so).
 *
 * The producer is the driver. Each job is added by BullMQ's own Lua script
 * addStandardJob, the one Queue.add runs for a job without delay, priority or
 * parent: prepare asks the installed package for its pre-built source
 * (tqbench_bullmq_probe.js prints what BullMQ hands to ioredis's
 * defineCommand, `--- @include` lines resolved) and SCRIPT LOADs it once;
 * enqueue_batch appends one EVALSHA per job, with the 9 keys and 3
 * arguments Queue.add passes, packed byte for byte as BullMQ's msgpackr
 * packs them: [key prefix, "" (no custom id: BullMQ's INCR id), name,
 * timestamp ms as float64, 6 nils], the data JSON (encode), and the options
 * map {attempts, removeOnComplete, removeOnFail}. The job's name is its
 * kind; its data {"args":[...], tqbench_run, tqbench_seq, tqbench_enq_us,
 * tqbench_sched_us, tqbench_pad}. tests/driver/test_bullmq.c checks that a
 * job added this way equals, field for field, one added by Queue.add.
 * prepare also writes what `new Queue()` writes: meta's version, and
 * opts.maxLenEvents (raised, see below).
 *
 * A backlog is staged as for the other frameworks: the script's wait list
 * (KEYS[1]) is then the staging list and its marker (KEYS[9]) a key beside
 * it that no worker watches, so workers are not woken for jobs they cannot
 * see; once the driver moved the staging list onto bull:<q>:wait,
 * backlog_released adds the marker (ZADD bull:<q>:marker 0 0, what the
 * script's addBaseMarkerIfNeeded does), which wakes the workers blocked on
 * it.
 *
 * Cross-check: BullMQ's events stream bull:<q>:events, which the Worker's
 * moveToFinished writes before the hook counts a job: one "completed" or
 * "failed" event per finished job and a "waiting" event with prev "active"
 * per attempt put back on the queue (retryJob; a stalled job moved back
 * would show there too, uncounted by the hook: a mismatch). When the driver first asks about a run id, its
 * last id and entries-added are the baseline; verify counts the events
 * after it and fails the run when they differ from the hook's count, or
 * when the stream lost entries to trimming: BullMQ trims it to
 * opts.maxLenEvents (default 10,000, about 2,500 jobs), so prepare raises
 * that to BQ_MAX_EVENTS for the run's queue.
 *
 * --external (a queue the run does not own) is refused: BullMQ's wait list
 * holds bare job ids, so tqbench could not tell its run's jobs from
 * others'. */
#include "framework.h"
#include "fw_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_log.h"
#include "tq_redis.h"
#include "tq_spawn.h"

#define BQ_NODE "node"
#define BQ_WORKER "tqbench_bullmq_worker.js"
#define BQ_PROBE "tqbench_bullmq_probe.js"
#define BQ_PROBE_TIMEOUT_MS 60000
#define BQ_PREFIX "bull"
#define BQ_NKEYS 9
#define BQ_MAX_EVENTS "10000000" /* opts.maxLenEvents: the stream kept whole */
#define BQ_SCRIPT_MAX (1 << 20)
#define BQ_ARGS_MAX (TQ_KEY_MAX + 64) /* ARGV[1] packed: prefix, name, nils */
#define BQ_PAGE 10000                 /* XRANGE page of the cross-check */

/* addStandardJob's keys, in its KEYS order (BullMQ's addStandardJobArgs). */
static const char *const bq_key_names[BQ_NKEYS] = {
    "wait", "paused", "meta", "id", "completed", "delayed", "active", "events", "marker",
};
enum { K_WAIT, K_PAUSED, K_META, K_ID, K_COMPLETED, K_DELAYED, K_ACTIVE, K_EVENTS, K_MARKER };

/* Per-run state: the script's SHA, the queue's keys, the events baseline. */
struct bq_state {
    char sha[48];
    char version[32];
    char keys[BQ_NKEYS][TQ_KEY_MAX];
    size_t key_lens[BQ_NKEYS];
    char prefix[TQ_KEY_MAX]; /* "bull:<q>:" */
    /* the events stream when the driver first asked about run */
    char run[TQ_NAME_MAX];
    char base_id[64];
    long long base_added;
};

static int bq_dir(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "%s/bullmq", run->frameworks_dir);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

/* "bull:<q>:<what>", or -1 when it does not fit. */
static int bq_key(const struct fw_run *run, const char *what, char *buf, size_t n) {
    int len = snprintf(buf, n, BQ_PREFIX ":%s:%s", run->queue, what);
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

/* Runs the probe (argv extra: "--script" FILE or nothing) under node, with
 * its output in out_path (NULL: discarded). Returns 0, or -1 with why. */
static int bq_probe(const struct fw_run *run, const char *script_out, const char *out_path,
                    char *why, size_t n) {
    char dir[FW_PATH_MAX], probe[FW_PATH_MAX + 64], what[FW_PATH_MAX + 64];
    if (bq_dir(run, dir, sizeof dir) != 0) {
        snprintf(why, n, "frameworks directory path too long");
        return -1;
    }
    snprintf(probe, sizeof probe, "%s/" BQ_PROBE, dir);
    snprintf(what, sizeof what, "bullmq does not load under node from %s", dir);
    const char *argv[] = {BQ_NODE, probe, script_out ? "--script" : NULL, script_out, NULL};
    return fw_probe(argv, out_path, BQ_PROBE_TIMEOUT_MS, what,
                    "scripts/bootstrap installs it with npm ci", why, n);
}

static int bq_available(const struct fw_run *run, char *why, size_t n) {
    char dir[FW_PATH_MAX];
    if (bq_dir(run, dir, sizeof dir) != 0) {
        snprintf(why, n, "frameworks directory path too long");
        return 0;
    }
    const char *const files[] = {BQ_WORKER, BQ_PROBE, NULL};
    const char *const package[] = {"node_modules/bullmq/package.json", NULL};
    return fw_files_readable(dir, files, NULL, NULL, why, n) == 0 &&
           fw_files_readable(dir, package, NULL,
                             " (scripts/bootstrap installs BullMQ there with npm ci)", why,
                             n) == 0 &&
           bq_probe(run, NULL, NULL, why, n) == 0;
}

/* BullMQ's Worker takes any concurrency >= 1; a queue the run does not own
 * cannot be told apart (file comment). */
static int bq_validate(const struct fw_run *run, char *err, size_t errlen) {
    if (run->concurrency < 1) {
        snprintf(err, errlen, "bullmq: concurrency %d (1 or more)", run->concurrency);
        return -1;
    }
    if (strcmp(run->queue, run->run_id) != 0) {
        snprintf(err, errlen,
                 "bullmq: --external is not supported: BullMQ's wait list holds bare job ids, "
                 "so the run's jobs on a shared queue cannot be told from others'");
        return -1;
    }
    return 0;
}

static int bq_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                          struct fw_argv *out, char *err, size_t errlen) {
    char dir[FW_PATH_MAX];
    if (bq_validate(run, err, errlen) != 0) return -1;
    if (bq_dir(run, dir, sizeof dir) != 0) {
        snprintf(err, errlen, "bullmq: frameworks directory path too long");
        return -1;
    }
    if (index == 0 && run->prefetch > 1)
        tq_warn("bullmq: prefetch %d ignored: each BullMQ job slot holds one job", run->prefetch);
    fw_argv_reset(out);
    if (fw_argv_add(out, err, errlen, BQ_NODE) ||
        fw_argv_add(out, err, errlen, "%s/" BQ_WORKER, dir) ||
        fw_argv_add(out, err, errlen, "--queue") ||
        fw_argv_add(out, err, errlen, "%s", run->queue) ||
        fw_argv_add(out, err, errlen, "--concurrency") ||
        fw_argv_add(out, err, errlen, "%d", run->concurrency))
        return -1;
    /* the URL (password included) in the environment only: argv is
     * world-readable in /proc/PID/cmdline */
    if (fw_env_add(out, err, errlen, "TQ_BULLMQ_REDIS_URL=%s", run->redis_url) ||
        fw_env_add(out, err, errlen, "TQ_BULLMQ_PREFIX=%s", run->prefix) ||
        fw_env_add(out, err, errlen, "TQ_BULLMQ_RUN=%s", run->run_id) ||
        fw_env_add(out, err, errlen, "TQ_BULLMQ_WORKER_ID=%s", worker_id) ||
        fw_env_add(out, err, errlen, "TQ_BULLMQ_HEARTBEAT_INTERVAL=%d",
                   run->heartbeat_interval_s > 0 ? run->heartbeat_interval_s : 1))
        return -1;
    return 0;
}

static int bq_queue_key(const struct fw_run *run, char *buf, size_t n) {
    return bq_key(run, "wait", buf, n);
}

/* --- encoding: the producer's hot path, no allocation, no printf (fw_json.h) - */

/* data: what JSON.stringify writes for the job's data object. */
static int bq_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    (void)run;
    if (!tq_task_kind_name(t->kind) || t->arg < 0 || t->enqueued_us < 0) return -1;
    struct fw_out b = {buf, 0, cap, 0};
    FW_PUT_LIT(&b, "{\"args\":[");
    if (t->kind == TQ_KIND_SLEEP || t->kind == TQ_KIND_CPU) fw_put_u64(&b, (uint64_t)t->arg);
    FW_PUT_LIT(&b, "],");
    fw_json_task_fields(&b, t, FW_JSON_PAD);
    FW_PUT_LIT(&b, "}");
    return b.full || b.len > (size_t)INT32_MAX ? -1 : (int)b.len;
}

/* msgpack, as BullMQ's msgpackr Packr({useRecords: false,
 * encodeUndefinedAsNil: true}) writes it: the shortest str header, fixint
 * up to 127, integers beyond 32 bits as float64, objects as map16. */
static void mp_str(struct fw_out *b, const char *s, size_t n) {
    if (n < 32) {
        fw_put_byte(b, (unsigned char)(0xa0 | n));
    } else if (n < 256) {
        fw_put_byte(b, 0xd9);
        fw_put_byte(b, (unsigned char)n);
    } else if (n < 65536) {
        fw_put_byte(b, 0xda);
        fw_put_byte(b, (unsigned char)(n >> 8));
        fw_put_byte(b, (unsigned char)n);
    } else {
        b->full = 1;
        return;
    }
    fw_put(b, s, n);
}

static void mp_uint(struct fw_out *b, uint32_t v) {
    if (v < 128) {
        fw_put_byte(b, (unsigned char)v);
    } else if (v < 256) {
        fw_put_byte(b, 0xcc);
        fw_put_byte(b, (unsigned char)v);
    } else if (v < 65536) {
        fw_put_byte(b, 0xcd);
        fw_put_byte(b, (unsigned char)(v >> 8));
        fw_put_byte(b, (unsigned char)v);
    } else {
        fw_put_byte(b, 0xce);
        for (int s = 24; s >= 0; s -= 8) fw_put_byte(b, (unsigned char)(v >> s));
    }
}

static void mp_double(struct fw_out *b, double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    fw_put_byte(b, 0xcb);
    for (int s = 56; s >= 0; s -= 8) fw_put_byte(b, (unsigned char)(u >> s));
}

/* ARGV[1]: [prefix, custom id "", name, timestamp, parentKey, parent
 * dependencies key, parent, repeat job key, deduplication key, defer parent
 * release] (BullMQ's addJobToTransaction; Date.now() is beyond 32 bits, so
 * msgpackr writes it as a float64). */
static void bq_pack_args(struct fw_out *b, const struct bq_state *st, const struct tq_task *t) {
    const char *name = tq_task_kind_name(t->kind);
    fw_put_byte(b, 0x9a);
    mp_str(b, st->prefix, strlen(st->prefix));
    mp_str(b, "", 0);
    mp_str(b, name, strlen(name));
    mp_double(b, (double)(t->enqueued_us / 1000));
    for (int i = 0; i < 6; i++) fw_put_byte(b, 0xc0);
}

/* ARGV[3]: the job's options as Queue.add packs them (Job's default
 * attempts 0 first, then the caller's). */
static void bq_pack_opts(struct fw_out *b, const struct tq_task *t) {
    fw_put_byte(b, 0xde);
    fw_put_byte(b, 0);
    fw_put_byte(b, 3);
    mp_str(b, "attempts", 8);
    mp_uint(b, t->max_attempts > 1 ? (uint32_t)t->max_attempts : 0);
    mp_str(b, "removeOnComplete", 16);
    fw_put_byte(b, 0xc3);
    mp_str(b, "removeOnFail", 12);
    fw_put_byte(b, 0xc3);
}

/* One EVALSHA addStandardJob per job. key is the wait list, or a backlog's
 * staging list: then the marker is a key beside it no worker watches
 * (file comment). */
static int bq_enqueue_batch(const struct fw_run *run, const void *state, redisContext *c,
                            const char *key, const struct tq_task *tasks,
                            const char *const *payloads, const size_t *lens, int n, char *err,
                            size_t errlen) {
    (void)run;
    const struct bq_state *st = state;
    char staged_marker[TQ_KEY_MAX + 16], args[BQ_ARGS_MAX], opts[64];
    if (!st || !st->sha[0]) {
        snprintf(err, errlen, "bullmq: enqueue before prepare");
        return -1;
    }
    const char *argv[3 + BQ_NKEYS + 3];
    size_t argl[3 + BQ_NKEYS + 3];
    argv[0] = "EVALSHA";
    argl[0] = 7;
    argv[1] = st->sha;
    argl[1] = strlen(st->sha);
    argv[2] = "9";
    argl[2] = 1;
    for (int k = 0; k < BQ_NKEYS; k++) {
        argv[3 + k] = st->keys[k];
        argl[3 + k] = st->key_lens[k];
    }
    if (strcmp(key, st->keys[K_WAIT]) != 0) {
        int ml = snprintf(staged_marker, sizeof staged_marker, "%s-marker", key);
        if (ml < 0 || (size_t)ml >= sizeof staged_marker) {
            snprintf(err, errlen, "bullmq: staging key %.200s too long", key);
            return -1;
        }
        argv[3 + K_WAIT] = key;
        argl[3 + K_WAIT] = strlen(key);
        argv[3 + K_MARKER] = staged_marker;
        argl[3 + K_MARKER] = (size_t)ml;
    }
    for (int i = 0; i < n; i++) {
        struct fw_out a = {args, 0, sizeof args, 0}, o = {opts, 0, sizeof opts, 0};
        bq_pack_args(&a, st, &tasks[i]);
        bq_pack_opts(&o, &tasks[i]);
        if (a.full || o.full) {
            snprintf(err, errlen, "bullmq: arguments of task %llu do not fit",
                     (unsigned long long)tasks[i].id);
            return -1;
        }
        argv[3 + BQ_NKEYS] = args;
        argl[3 + BQ_NKEYS] = a.len;
        argv[4 + BQ_NKEYS] = payloads[i];
        argl[4 + BQ_NKEYS] = lens[i];
        argv[5 + BQ_NKEYS] = opts;
        argl[5 + BQ_NKEYS] = o.len;
        if (redisAppendCommandArgv(c, 6 + BQ_NKEYS, argv, argl) != REDIS_OK) {
            snprintf(err, errlen, "bullmq: cannot append EVALSHA: %s",
                     c->errstr[0] ? c->errstr : "out of memory");
            return -1;
        }
    }
    return n;
}

/* --- per-run state ------------------------------------------------------------ */

/* Reads the probe's file: version line, key count line, the script.
 * Returns a malloc'ed script (NUL-terminated) or NULL with err. */
static char *bq_read_script(const char *path, struct bq_state *st, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "bullmq: cannot read the probe's output %s", path);
        return NULL;
    }
    char *buf = malloc(BQ_SCRIPT_MAX + 1);
    size_t n = buf ? fread(buf, 1, BQ_SCRIPT_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > BQ_SCRIPT_MAX) {
        snprintf(err, errlen, "bullmq: the probe's output %s is %s", path,
                 !buf ? "not readable (out of memory)" : n ? "too large" : "empty");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    char *nl1 = strchr(buf, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl1 || !nl2 || (size_t)(nl1 - buf) >= sizeof st->version ||
        strncmp(nl1 + 1, "9\n", 2) != 0) {
        snprintf(err, errlen,
                 "bullmq: the installed package's addStandardJob does not take the 9 keys "
                 "tqbench passes (probe output %s)",
                 path);
        free(buf);
        return NULL;
    }
    memcpy(st->version, buf, (size_t)(nl1 - buf));
    st->version[nl1 - buf] = '\0';
    memmove(buf, nl2 + 1, n - (size_t)(nl2 + 1 - buf) + 1);
    return buf;
}

/* Runs the probe into a private temporary file and SCRIPT LOADs what it
 * wrote. Returns 0, or -1 with err. */
static int bq_load_script(const struct fw_run *run, redisContext *c, struct bq_state *st,
                          char *err, size_t errlen) {
    const char *tmp = getenv("TMPDIR");
    char path[FW_PATH_MAX], rerr[256];
    snprintf(path, sizeof path, "%s/tqbench-bullmq-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(err, errlen, "bullmq: cannot create a temporary file in %s",
                 tmp && tmp[0] ? tmp : "/tmp");
        return -1;
    }
    close(fd);
    char why[512];
    char *script = NULL;
    if (bq_probe(run, path, NULL, why, sizeof why) != 0)
        snprintf(err, errlen, "bullmq: %s", why);
    else
        script = bq_read_script(path, st, err, errlen);
    unlink(path);
    if (!script) return -1;
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "SCRIPT LOAD %s", script);
    free(script);
    if (!r || r->type != REDIS_REPLY_STRING || r->len >= sizeof st->sha) {
        snprintf(err, errlen, "bullmq: SCRIPT LOAD addStandardJob: %s",
                 !r ? rerr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        if (r) freeReplyObject(r);
        return -1;
    }
    memcpy(st->sha, r->str, r->len);
    st->sha[r->len] = '\0';
    freeReplyObject(r);
    return 0;
}

static int bq_prepare(const struct fw_run *run, redisContext *c, void **state, char *err,
                      size_t errlen) {
    char rerr[256];
    struct bq_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *state = st;
    if (bq_key(run, "", st->prefix, sizeof st->prefix) < 0) {
        snprintf(err, errlen, "queue name \"%s\" too long for BullMQ's keys", run->queue);
        return -1;
    }
    for (int k = 0; k < BQ_NKEYS; k++) {
        int len = bq_key(run, bq_key_names[k], st->keys[k], sizeof st->keys[k]);
        if (len < 0) {
            snprintf(err, errlen, "queue name \"%s\" too long for BullMQ's keys", run->queue);
            return -1;
        }
        st->key_lens[k] = (size_t)len;
    }
    if (bq_load_script(run, c, st, err, errlen) != 0) return -1;
    /* what `new Queue(q, {streams: {events: {maxLen}}})` writes */
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr,
                                     "HSET %s opts.maxLenEvents " BQ_MAX_EVENTS " version bullmq:%s",
                                     st->keys[K_META], st->version);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "HSET %s: %s", st->keys[K_META], r ? r->str : rerr);
        if (r) freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static void bq_finish(const struct fw_run *run, redisContext *c, void *state) {
    (void)run;
    (void)c;
    free(state);
}

/* ZADD marker 0 0: what addBaseMarkerIfNeeded does for a job added to an
 * unpaused queue. */
static int bq_backlog_released(const struct fw_run *run, void *state, redisContext *c, char *err,
                               size_t errlen) {
    (void)run;
    struct bq_state *st = state;
    char rerr[256];
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "ZADD %s 0 0", st->keys[K_MARKER]);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "ZADD %s 0 0: %s", st->keys[K_MARKER], r ? r->str : rerr);
        if (r) freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* The events stream's last-generated-id and entries-added (a missing
 * stream: "0-0", 0). Returns 0, or -1 with err. */
static int bq_stream_info(redisContext *c, const struct bq_state *st, char *last, size_t lastn,
                          long long *added, char *err, size_t errlen) {
    char rerr[256];
    redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "EXISTS %s", st->keys[K_EVENTS]);
    long long exists = 0;
    if (!r || fw_reply_ll(r, &exists) != 0) {
        snprintf(err, errlen, "EXISTS %s: %s", st->keys[K_EVENTS], r ? "unexpected reply" : rerr);
        if (r) freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    if (!exists) {
        snprintf(last, lastn, "0-0");
        *added = 0;
        return 0;
    }
    r = tq_redis_command(c, rerr, sizeof rerr, "XINFO STREAM %s", st->keys[K_EVENTS]);
    int found = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING) continue;
        if (strcmp(k->str, "last-generated-id") == 0 && v->type == REDIS_REPLY_STRING) {
            snprintf(last, lastn, "%s", v->str);
            found |= 1;
        } else if (strcmp(k->str, "entries-added") == 0 && fw_reply_ll(v, added) == 0) {
            found |= 2;
        }
    }
    if (found != 3) {
        snprintf(err, errlen, "XINFO STREAM %s: %s", st->keys[K_EVENTS],
                 !r ? rerr
                    : r->type == REDIS_REPLY_ERROR ? r->str
                                                   : "no last-generated-id / entries-added "
                                                     "(Redis 7 or later needed)");
        if (r) freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* The hook's counts (the default progress); the first time a run id is
 * asked about (before any of its jobs is added), the events stream's
 * position is taken as that run's baseline for verify. */
static int bq_progress(const struct fw_run *run, void *state, redisContext *c, const char *run_id,
                       struct fw_progress *out, char *err, size_t errlen) {
    struct bq_state *st = state;
    if (!st) {
        snprintf(err, errlen, "bullmq: progress asked before prepare");
        return -1;
    }
    if (strcmp(st->run, run_id) != 0) {
        if (bq_stream_info(c, st, st->base_id, sizeof st->base_id, &st->base_added, err,
                           errlen) != 0)
            return -1;
        snprintf(st->run, sizeof st->run, "%s", run_id);
    }
    return fw_progress_native(run, state, c, run_id, out, err, errlen);
}

/* 1 when entry (id, [field, value...]) has field == value. */
static int entry_has(const redisReply *fields, const char *field, const char *value) {
    for (size_t i = 0; fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, field) == 0)
            return strcmp(v->str, value) == 0;
    }
    return 0;
}

static int bq_verify(const struct fw_run *run, void *state, redisContext *c,
                     const struct fw_progress *counted, char *err, size_t errlen) {
    struct bq_state *st = state;
    char last[64], from[80], rerr[256];
    long long added = 0, seen = 0, completed = 0, failed = 0, retried = 0;
    if (!st || strcmp(st->run, run->run_id) != 0) {
        snprintf(err, errlen, "no baseline of BullMQ's events stream for run %s", run->run_id);
        return -1;
    }
    if (bq_stream_info(c, st, last, sizeof last, &added, err, errlen) != 0) return -1;
    snprintf(from, sizeof from, "(%s", st->base_id);
    for (;;) {
        redisReply *r = tq_redis_command(c, rerr, sizeof rerr, "XRANGE %s %s + COUNT %d",
                                         st->keys[K_EVENTS], from, BQ_PAGE);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "XRANGE %s: %s", st->keys[K_EVENTS],
                     !r ? rerr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            if (r) freeReplyObject(r);
            return -1;
        }
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            seen++;
            const redisReply *f = e->element[1];
            if (entry_has(f, "event", "completed")) completed++;
            else if (entry_has(f, "event", "failed")) failed++;
            else if (entry_has(f, "event", "waiting") && entry_has(f, "prev", "active")) retried++;
            if (i == n - 1) snprintf(from, sizeof from, "(%s", e->element[0]->str);
        }
        freeReplyObject(r);
        if (n < BQ_PAGE) break;
    }
    if (seen != added - st->base_added) {
        snprintf(err, errlen,
                 "BullMQ's events stream %s holds %lld of the %lld events added during the run: "
                 "trimmed (opts.maxLenEvents of %s), so it cannot be checked",
                 st->keys[K_EVENTS], seen, added - st->base_added, st->keys[K_META]);
        return -1;
    }
    if (completed != counted->completed || failed != counted->failed ||
        retried != counted->retried) {
        snprintf(err, errlen,
                 "BullMQ's events stream %s has %lld completed, %lld failed and %lld retried "
                 "(waiting, prev active) events; the hook counted %ld completed, %ld failed, "
                 "%ld retried",
                 st->keys[K_EVENTS], completed, failed, retried, counted->completed,
                 counted->failed, counted->retried);
        return -1;
    }
    return 0;
}

/* 1 when key (under "bull:<q>:") is one BullMQ writes for a queue: its
 * fixed keys, or a job's hash bull:<q>:<numeric id> and that job's own keys
 * (":lock", ":logs"...). */
static int bq_own_key(const char *key, size_t len, void *arg) {
    static const char *const fixed[] = {
        "wait", "paused", "meta", "id", "completed", "failed", "delayed", "active", "events",
        "marker", "prioritized", "pc", "stalled", "stalled-check", "limiter", "metrics:completed",
        "metrics:completed:data", "metrics:failed", "metrics:failed:data", "waiting-children",
        "de", "repeat", "drained",
    };
    size_t plen = strlen((const char *)arg);
    if (len <= plen) return 0;
    const char *rest = key + plen;
    size_t rlen = len - plen;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strlen(fixed[i]) == rlen && memcmp(rest, fixed[i], rlen) == 0) return 1;
    size_t d = 0;
    while (d < rlen && rest[d] >= '0' && rest[d] <= '9') d++;
    return d > 0 && (d == rlen || rest[d] == ':');
}

/* The run's own queue (fresh per run: bq_validate refuses others): every
 * key BullMQ wrote for it. */
static void bq_clean(const struct fw_run *run, redisContext *c) {
    char prefix[TQ_KEY_MAX], pattern[TQ_KEY_MAX + 2];
    if (!c || strcmp(run->queue, run->run_id) != 0) return;
    if (bq_key(run, "", prefix, sizeof prefix) < 0) return;
    snprintf(pattern, sizeof pattern, "%s*", prefix); /* run ids hold no glob characters */
    fw_unlink_matching(c, pattern, bq_own_key, prefix);
}

/* BullMQ's active list holds the jobs its workers are running. */
static int bq_inflight_keys(const struct fw_run *run, const void *state, char (*keys)[TQ_KEY_MAX],
                            int max) {
    (void)state;
    if (max < 1 || bq_key(run, "active", keys[0], TQ_KEY_MAX) < 0) return 0;
    return 1;
}

static const char *const bq_settings[] = {
    "removeOnComplete", "true", "removeOnFail", "true", "opts.maxLenEvents", BQ_MAX_EVENTS,
    "processor", "in-process", NULL,
};

const struct tq_framework tq_framework_bullmq = {
    /* also the `protocol` of its workers' heartbeats (tqbench_bullmq_worker.js) */
    .name = "bullmq",
    .description = "BullMQ Worker under node (npm bullmq + ioredis, pinned), jobs added with "
                   "BullMQ's own addStandardJob script from C",
    .available = bq_available,
    .worker_argv = bq_worker_argv,
    .queue_key = bq_queue_key,
    .encode = bq_encode,
    .clean = bq_clean,
    .caps = FW_CAP_ALL,
    .validate = bq_validate,
    .prepare = bq_prepare,
    .finish = bq_finish,
    .enqueue_batch = bq_enqueue_batch,
    .progress = bq_progress,
    .inflight_keys = bq_inflight_keys,
    .verify = bq_verify,
    .backlog_released = bq_backlog_released,
    .settings = bq_settings,
};
