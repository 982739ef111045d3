/* test_clean.c - `tqbench clean` next to data that is not its to delete: other
 * producers' queues (tq:queue:pending filled by LPUSH, the user's queue of an
 * --external run, a queue a run's record names without tqbench having made
 * it) stay whole; a live run (a real `tqbench run` mid-drain, and a run
 * announced by hand with its live key) is skipped by name and with its
 * driver, and the real one still completes ok; the keys of a dead run (its
 * meta, counters, warm-up counters and the queue tqbench made for it, no
 * live key) are deleted; --dry-run lists every key it would delete and
 * deletes nothing, and is refused by other subcommands (exit 2).
 *
 * Dead and live runs are written by hand in the schema a driver announces
 * (P:run:<run>:live "host pid started_us" with a TTL, P:run:<run>:meta with
 * queue_key and created_queue), as test_external writes heartbeats. Every
 * test has its own redis-server, reaped by pid. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

#define DEAD "dead.native.1.d00d01"
#define LIVE "held.native.1.11fe01"
#define EXT "ext.native.1.e77e01"

static void command_ok(redisContext *c, const char *what, redisReply *x) {
    cr_assert(x && x->type != REDIS_REPLY_ERROR, "%s: %s", what,
              x ? x->str : (c->err ? c->errstr : "no reply"));
    freeReplyObject(x);
}

/* LPUSHes n small tasks onto key, 100 per command. */
static void fill(redisContext *c, const char *key, int n) {
    for (int done = 0; done < n;) {
        const char *argv[102];
        size_t lens[102];
        char vals[100][32];
        int k = n - done < 100 ? n - done : 100;
        argv[0] = "LPUSH";
        argv[1] = key;
        for (int i = 0; i < k; i++) {
            snprintf(vals[i], sizeof vals[i], "{\"id\":%d,\"kind\":\"noop\"}", done + i);
            argv[2 + i] = vals[i];
        }
        for (int i = 0; i < k + 2; i++) lens[i] = strlen(argv[i]);
        command_ok(c, "LPUSH", redisCommandArgv(c, k + 2, argv, lens));
        done += k;
    }
}

/* A run's record as its driver writes it at prepare: the meta hash, and the
 * live key when live (driver pid 4242 on host cleanhost). */
static void announce(redisContext *c, const char *run, const char *queue_key, int created,
                     int live) {
    if (live)
        command_ok(c, "SET live",
                   redisCommand(c, "SET tq:run:%s:live %s PX 60000", run,
                                "cleanhost 4242 1764423600000000"));
    command_ok(c, "HSET meta",
               redisCommand(c,
                            "HSET tq:run:%s:meta queue_key %s created_queue %d host cleanhost "
                            "pid 4242 started_us 1764423600000000",
                            run, queue_key, created));
}

/* What a run leaves besides its record: counters, histograms, a warm-up's
 * counters, a multi-queue run's counters of one queue. */
static void run_data(redisContext *c, const char *run) {
    command_ok(c, "HSET stats",
               redisCommand(c, "HSET tq:run:%s:stats completed 10 failed 0", run));
    command_ok(c, "HSET hist", redisCommand(c, "HSET tq:run:%s:hist w0:last_done_us 1", run));
    command_ok(c, "HSET warmup",
               redisCommand(c, "HSET tq:run:%s-warmup:stats completed 5", run));
    command_ok(c, "HSET queue sub-run",
               redisCommand(c, "HSET tq:run:%s-q1:stats completed 3", run));
}

static long long exists(redisContext *c, const char *key) {
    return tq_test_redis_int(c, "EXISTS %s", key);
}

static long long llen(redisContext *c, const char *key) {
    return tq_test_redis_int(c, "LLEN %s", key);
}

/* `tqbench clean` (extra: "--dry-run" or NULL) with its own log; asserts
 * exit 0 and returns the output. */
static char *clean(const struct drv *d, const struct tq_test_redis *r, const char *extra,
                   const char *log_name) {
    struct drv dc = *d;
    snprintf(dc.log, sizeof dc.log, "%s/%s", d->dir, log_name);
    const char *args[] = {"clean", "--redis", r->url, extra, NULL};
    return drv_run_expect(&dc, args, 30000, 0);
}

/* The fixture of the dead/live tests: a dead run with the queue tqbench made
 * for it (20 tasks left), a live run with its own queue (30 tasks), a
 * registry entry without a heartbeat and one with. */
static void dead_and_live(redisContext *c) {
    announce(c, DEAD, "tq:queue:" DEAD, 1, 0);
    run_data(c, DEAD);
    fill(c, "tq:queue:" DEAD, 20);
    announce(c, LIVE, "tq:queue:" LIVE, 1, 1);
    run_data(c, LIVE);
    fill(c, "tq:queue:" LIVE, 30);
    command_ok(c, "SADD", redisCommand(c, "SADD tq:workers ghost beating"));
    command_ok(c, "HSET beat", redisCommand(c, "HSET tq:worker:beating pid 1 host h"));
    command_ok(c, "PEXPIRE", redisCommand(c, "PEXPIRE tq:worker:beating 60000"));
}

/* (each literal in parentheses: one key, not two joined by mistake) */
static const char *const dead_keys[] = {
    ("tq:run:" DEAD ":meta"), ("tq:run:" DEAD ":stats"), ("tq:run:" DEAD ":hist"),
    ("tq:run:" DEAD "-warmup:stats"), ("tq:run:" DEAD "-q1:stats"), ("tq:queue:" DEAD)};
static const char *const live_keys[] = {
    ("tq:run:" LIVE ":live"), ("tq:run:" LIVE ":meta"), ("tq:run:" LIVE ":stats"),
    ("tq:run:" LIVE ":hist"), ("tq:run:" LIVE "-warmup:stats"), ("tq:run:" LIVE "-q1:stats"),
    ("tq:queue:" LIVE)};

Test(clean, foreign_queues_kept, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    /* tqpush's queue; the user's queue of an --external run that is over
     * (its record says created_queue 0); a record that names the shared
     * queue as created (an older or foreign writer): still not tqbench's */
    fill(c, "tq:queue:pending", 1000);
    fill(c, "tq:queue:userq", 50);
    announce(c, EXT, "tq:queue:userq", 0, 0);
    run_data(c, EXT);
    announce(c, "liar.native.1.0bad01", "tq:queue:pending", 1, 0);

    char *out = clean(&d, &r, NULL, "clean.log");
    cr_assert_eq(llen(c, "tq:queue:pending"), 1000, "tq:queue:pending lost tasks; output:\n%s",
                 out);
    cr_assert_eq(llen(c, "tq:queue:userq"), 50, "the external run's queue lost tasks; output:\n%s",
                 out);
    /* the external run's own keys are tqbench's and it is over */
    cr_assert_eq(exists(c, "tq:run:" EXT ":meta"), 0, "output:\n%s", out);
    cr_assert_eq(exists(c, "tq:run:" EXT ":stats"), 0, "output:\n%s", out);
    cr_assert_eq(exists(c, "tq:run:" EXT "-warmup:stats"), 0, "output:\n%s", out);
    cr_assert(strstr(out, "kept 2 queue(s)") && strstr(out, "tq:queue:pending (1000 task(s))"),
              "the kept queues are not reported; output:\n%s", out);
    free(out);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(clean, dead_run_deleted_live_run_kept, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    dead_and_live(c);

    char *out = clean(&d, &r, NULL, "clean.log");
    for (size_t i = 0; i < sizeof dead_keys / sizeof dead_keys[0]; i++)
        cr_assert_eq(exists(c, dead_keys[i]), 0, "%s of the dead run is left; output:\n%s",
                     dead_keys[i], out);
    for (size_t i = 0; i < sizeof live_keys / sizeof live_keys[0]; i++)
        cr_assert_eq(exists(c, live_keys[i]), 1, "%s of the live run was deleted; output:\n%s",
                     live_keys[i], out);
    cr_assert_eq(llen(c, "tq:queue:" LIVE), 30, "output:\n%s", out);
    cr_assert_eq(tq_test_redis_int(c, "SISMEMBER tq:workers ghost"), 0, "output:\n%s", out);
    cr_assert_eq(tq_test_redis_int(c, "SISMEMBER tq:workers beating"), 1, "output:\n%s", out);
    cr_assert(strstr(out, "deleted run " DEAD " (driver pid 4242 on host cleanhost"),
              "output:\n%s", out);
    cr_assert(strstr(out, "and its queue tq:queue:" DEAD " (20 task(s) left on it)"),
              "output:\n%s", out);
    cr_assert(strstr(out, "skipping live run " LIVE " (driver pid 4242 on host cleanhost"),
              "output:\n%s", out);
    cr_assert(strstr(out, "deleted 5 run key(s) of 1 run(s) and 1 queue(s), removed 1 stale "
                          "worker registration(s), skipped 1 live run(s)"),
              "output:\n%s", out);
    free(out);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(clean, dry_run_lists_deletes_nothing, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    dead_and_live(c);
    fill(c, "tq:queue:pending", 100);
    long long before = tq_test_redis_int(c, "DBSIZE");

    char *out = clean(&d, &r, "--dry-run", "dry.log");
    cr_assert_eq(tq_test_redis_int(c, "DBSIZE"), before, "--dry-run deleted keys; output:\n%s",
                 out);
    cr_assert_eq(llen(c, "tq:queue:" DEAD), 20, "output:\n%s", out);
    cr_assert_eq(tq_test_redis_int(c, "SISMEMBER tq:workers ghost"), 1, "output:\n%s", out);
    /* every key it would delete, one a line; none of the live run's */
    for (size_t i = 0; i < sizeof dead_keys / sizeof dead_keys[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "\n  %s\n", dead_keys[i]);
        cr_assert(strstr(out, line), "%s not listed; output:\n%s", dead_keys[i], out);
    }
    for (size_t i = 0; i < sizeof live_keys / sizeof live_keys[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "\n  %s\n", live_keys[i]);
        cr_assert_null(strstr(out, line), "%s of the live run listed; output:\n%s", live_keys[i],
                       out);
    }
    cr_assert(strstr(out, "would delete run " DEAD), "output:\n%s", out);
    cr_assert(strstr(out, "would remove stale worker registration ghost"), "output:\n%s", out);
    cr_assert(strstr(out, "skipping live run " LIVE), "output:\n%s", out);
    cr_assert(strstr(out, "nothing deleted"), "output:\n%s", out);
    free(out);

    /* a flag of clean only */
    struct drv dw = d;
    snprintf(dw.log, sizeof dw.log, "%s/workers.log", d.dir);
    const char *wargs[] = {"workers", "--redis", r.url, "--dry-run", NULL};
    out = drv_run_expect(&dw, wargs, 30000, 2);
    cr_assert(strstr(out, "--dry-run is not a flag of `tqbench workers`"), "output:\n%s", out);
    free(out);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* 600 tasks of 20 ms, 10 at a time: a drain of ~1.2 s with a deep backlog,
 * which a clean lands in the middle of. */
static const char slow_scenario[] =
    "{\"name\": \"t_clean\", \"tasks\": 600, \"warmup_tasks\": 0, \"workers\": 1,"
    " \"concurrency\": 10, \"prefetch\": 1, \"mix\": [{\"kind\": \"sleep\", \"ms\": 20}],"
    " \"arrival\": \"backlog\", \"timeout_s\": 60}";

/* The run's queue once its backlog is out: "tq:queue:t_clean.native.*"
 * holding more than min tasks. */
static int wait_backlog(redisContext *c, long long min, char *queue, size_t n, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    while (tq_test_now_ms() < deadline) {
        redisReply *k = redisCommand(c, "KEYS tq:queue:t_clean.native.*");
        if (k && k->type == REDIS_REPLY_ARRAY && k->elements == 1 &&
            llen(c, k->element[0]->str) > min) {
            snprintf(queue, n, "%s", k->element[0]->str);
            freeReplyObject(k);
            return 0;
        }
        if (k) freeReplyObject(k);
        tq_test_sleep_ms(5);
    }
    return -1;
}

Test(clean, live_run_skipped_and_completes, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    fill(c, "tq:queue:pending", 1000);
    char scen[400];
    drv_write(&d, "t_clean.json", slow_scenario, scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--scenario", scen, "--out", d.out,
                          "--quiet", "--stall-timeout", "5", NULL};
    pid_t pid = drv_start(&d, args);
    char queue[256];
    if (wait_backlog(c, 300, queue, sizeof queue, 30000) != 0) {
        int rc = drv_wait(pid, 30000);
        char *log = drv_read(d.log);
        cr_assert_fail("no backlog of the run seen (tqbench exit %d); output:\n%s", rc,
                       log ? log : "");
    }
    char *out = clean(&d, &r, NULL, "clean.log");
    char *run = queue + strlen("tq:queue:"), want[400];
    snprintf(want, sizeof want, "skipping live run %s (driver pid %d on host ", run, (int)pid);
    cr_assert(strstr(out, want), "no \"%s...\"; output:\n%s", want, out);
    cr_assert_gt(llen(c, queue), 0, "the live run's queue was deleted; output:\n%s", out);
    cr_assert_eq(llen(c, "tq:queue:pending"), 1000, "output:\n%s", out);
    free(out);

    out = drv_wait_expect(&d, pid, 60000, 0);
    free(out);
    cJSON *j = drv_results_required(&d);
    const cJSON *r0 = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(r0, "status"), "ok");
    cr_assert_eq(drv_num(r0, "completed"), 600);
    cJSON_Delete(j);
    /* its teardown took its record with the rest */
    redisReply *k = redisCommand(c, "KEYS tq:run:*");
    cr_assert(k && k->type == REDIS_REPLY_ARRAY && k->elements == 0,
              "keys of the finished run are left (%zu)", k ? k->elements : 0);
    freeReplyObject(k);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}
