/* test_external.c - `tqbench run --external` against standalone tqworkers:
 * the workers' CPU over a short drain comes from a heartbeat window that
 * begins before the run and ends on a beat after its last completion (so
 * it is never 0 for lack of a beat, and never called complete when a fresh
 * beat did not come), only heartbeats with the framework's protocol count
 * toward --workers (a Celery heartbeat on the same queue name is ignored,
 * and the error names it), and the run records and prints the settings the
 * attached workers report (concurrency, prefetch, protocol), not the
 * scenario's. Heartbeats of other protocols are written by hand (HSET +
 * PEXPIRE + SADD), as the Celery hook would. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "driver_harness.h"
#include "tq_testutil.h"

static int boolean(const cJSON *o, const char *key) {
    const cJSON *v = drv_obj(o, key);
    cr_assert(cJSON_IsBool(v), "results.json: \"%s\" is not a boolean", key);
    return cJSON_IsTrue(v);
}

static long long wall_us(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void command_ok(redisContext *c, const char *what, redisReply *x) {
    cr_assert(x && x->type != REDIS_REPLY_ERROR, "%s: %s", what,
              x ? x->str : (c->err ? c->errstr : "no reply"));
    freeReplyObject(x);
}

/* A heartbeat written by hand, as a worker of protocol proto would: the
 * contract's fields, a TTL of ttl_ms and a registry entry. */
static void fake_heartbeat(redisContext *c, const char *id, const char *queue, const char *proto,
                           int ttl_ms) {
    char key[200], beat[32];
    snprintf(key, sizeof key, "tq:worker:%s", id);
    snprintf(beat, sizeof beat, "%lld", wall_us());
    command_ok(c, "HSET",
               redisCommand(c,
                            "HSET %s pid 999999 host fakehost queues %s concurrency 1 prefetch 1 "
                            "protocol %s version fake started_us %s beat_us %s processed 0 "
                            "failed 0 inflight 0 cpu_user_us 1000 cpu_sys_us 1000 rss_kb 1000",
                            key, queue, proto, beat, beat));
    command_ok(c, "PEXPIRE", redisCommand(c, "PEXPIRE %s %d", key, ttl_ms));
    command_ok(c, "SADD", redisCommand(c, "SADD tq:workers %s", id));
}

/* Waits until tq:worker:<id> exists (a standalone worker came up). */
static void wait_heartbeat(redisContext *c, const char *id) {
    int64_t deadline = tq_test_now_ms() + 10000;
    while (tq_test_redis_int(c, "EXISTS tq:worker:%s", id) != 1) {
        cr_assert_lt(tq_test_now_ms(), deadline, "worker %s sent no heartbeat within 10 s", id);
        tq_test_sleep_ms(50);
    }
}

static pid_t start_worker_with(const struct drv *d, const struct tq_test_redis *r, const char *id,
                               const char *queue, const char *concurrency, const char *prefetch) {
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", d->dir, id);
    const char *argv[] = {d->worker, "--redis", r->url, "--queue", queue, "--id", id,
                          "--concurrency", concurrency, "--prefetch", prefetch, NULL};
    pid_t pid = drv_spawn(argv, log);
    cr_assert_gt(pid, 0, "cannot start %s", d->worker);
    return pid;
}

static pid_t start_worker(const struct drv *d, const struct tq_test_redis *r, const char *id,
                          const char *queue) {
    return start_worker_with(d, r, id, queue, "4", "1");
}

/* The start every test here shares: d, a private Redis (*r, *c) and, when id
 * is not NULL, one standalone tqworker id on queue whose heartbeat is up.
 * Returns its pid (0 without id). */
static pid_t ext_up(struct drv *d, struct tq_test_redis *r, redisContext **c, const char *id,
                    const char *queue) {
    drv_init(d);
    *c = drv_redis_start_connected(r);
    if (!id) return 0;
    pid_t w = start_worker(d, r, id, queue);
    wait_heartbeat(*c, id);
    return w;
}

/* Undoes ext_up: the worker stopped and reaped by pid (w > 0), the
 * connection closed, Redis stopped, d's files removed. */
static void ext_down(struct drv *d, struct tq_test_redis *r, redisContext *c, pid_t w) {
    if (w > 0) drv_stop(w);
    redisFree(c);
    drv_redis_stop(r);
    drv_fini(d);
}

static char *output(const struct drv *d) {
    char *log = drv_read(d->log);
    return log ? log : strdup("");
}

static cJSON *results(const struct drv *d) {
    cJSON *j = drv_results(d);
    char *log = output(d);
    cr_assert_not_null(j, "no results.json; output:\n%s", log);
    free(log);
    return j;
}

/* A short drain (well under one heartbeat interval), after a warm-up: the
 * workers' CPU is the difference between two beats around the run. */
static const char short_scenario[] =
    "{\"name\": \"t_ext\", \"tasks\": 5000, \"warmup_tasks\": 200, \"workers\": 1,"
    " \"concurrency\": 4, \"mix\": [{\"kind\": \"noop\"}], \"timeout_s\": 60}";

Test(external, cpu_window_over_short_drain, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    redisContext *c;
    pid_t w = ext_up(&d, &r, &c, "ext-n", "extcpu");
    /* a Celery worker on the same queue name: not one of native's workers */
    fake_heartbeat(c, "fake-celery", "extcpu", "celery", 60000);

    char scen[400];
    drv_write(&d, "t_ext.json", short_scenario, scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--external", "--queue", "extcpu",
                          "--workers", "1", "--framework", "native", "--scenario", scen,
                          "--repeat", "2", "--out", d.out, "--health-timeout", "10", NULL};
    int rc = drv_run(&d, args, 90000);
    char *log = output(&d);
    cr_assert_eq(rc, 0, "exit %d; output:\n%s", rc, log);
    cJSON *j = results(&d);
    const cJSON *runs = drv_obj(j, "runs");
    cr_assert_eq(cJSON_GetArraySize(runs), 2);
    for (int k = 0; k < 2; k++) {
        const cJSON *run = cJSON_GetArrayItem(runs, k);
        cr_assert_str_eq(drv_str(run, "status"), "ok", "run %d: %s", k, log);
        cr_assert_eq(drv_num(run, "completed"), 5000);
        const cJSON *ws = drv_obj(run, "workers");
        cr_assert_eq(cJSON_GetArraySize(ws), 1, "the Celery heartbeat was adopted:\n%s", log);
        cr_assert_str_eq(drv_str(cJSON_GetArrayItem(ws, 0), "id"), "ext-n");

        const cJSON *wk = drv_obj(drv_obj(run, "resources"), "workers");
        cr_assert_str_eq(drv_str(wk, "source"), "heartbeats");
        cr_assert(boolean(wk, "window_complete"), "run %d: window not complete:\n%s", k, log);
        cr_assert_gt(drv_num(wk, "cpu_us_per_task"), 0, "run %d: no worker CPU per task", k);
        cr_assert_gt(drv_num(wk, "cpu_pct_avg"), 0, "run %d: worker CPU%% is 0", k);
        cr_assert_gt(drv_num(wk, "cpu_s"), 0);
        cr_assert_geq(drv_num(wk, "cpu_pct_peak"), drv_num(wk, "cpu_pct_avg") * 0.999);
        cr_assert_gt(drv_num(wk, "rss_kb_peak"), 0);
        /* heartbeats report CPU from the worker's /proc, in clock ticks */
        cr_assert_eq(drv_num(wk, "cpu_resolution_us"), 1e6 / (double)sysconf(_SC_CLK_TCK));
        /* tqworker's heartbeat carries its PSS too */
        cr_assert_gt(drv_num(wk, "pss_kb_peak"), 0);
        cr_assert_leq(drv_num(wk, "pss_kb_peak"), drv_num(wk, "rss_kb_peak"));

        /* the window: one beat before the first start, one after the last
         * completion, both of the same worker */
        const cJSON *win = drv_obj(wk, "window");
        cr_assert_eq(drv_num(win, "workers_complete"), 1);
        cr_assert_gt(drv_num(win, "heartbeat_interval_s"), 0.5);
        cr_assert_lt(drv_num(win, "heartbeat_interval_s"), 2.0);
        const cJSON *ww = cJSON_GetArrayItem(drv_obj(win, "workers"), 0);
        cr_assert_not_null(ww);
        cr_assert_str_eq(drv_str(ww, "id"), "ext-n");
        cr_assert(boolean(ww, "complete"));
        double begin = drv_num(ww, "begin_beat_us"), end = drv_num(ww, "end_beat_us");
        cr_assert_gt(begin, drv_num(win, "begin_after_us"), "the begin beat includes the warm-up");
        cr_assert_leq(begin, drv_num(win, "begin_before_us"), "begin beat after the first start");
        cr_assert_gt(end, drv_num(win, "end_after_us"), "end beat before the last completion");
        cr_assert_gt(drv_num(ww, "cpu_us"), 0);
        cr_assert_eq(drv_num(ww, "cpu_us") / 1e6, drv_num(wk, "cpu_s"));
        cr_assert_gt(drv_num(ww, "seconds"), 0);
        /* the CPU per task is the window's CPU over the tasks */
        double per_task = drv_num(ww, "cpu_us") / 5000.0;
        cr_assert(drv_num(wk, "cpu_us_per_task") > per_task * 0.999 &&
                      drv_num(wk, "cpu_us_per_task") < per_task * 1.001,
                  "cpu_us_per_task %g, window CPU / tasks %g", drv_num(wk, "cpu_us_per_task"),
                  per_task);
    }
    cJSON_Delete(j);
    free(log);

    ext_down(&d, &r, c, w);
}

/* A native heartbeat whose beat never advances (kept alive by the test):
 * the run completes, but no fresh beat of that worker comes, so the window
 * is reported and marked incomplete, never presented as complete. 20,000
 * tasks: the live worker's CPU must span several 10 ms clock ticks to be
 * seen at all. */
Test(external, stale_beat_marks_window_incomplete, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    redisContext *c;
    pid_t w = ext_up(&d, &r, &c, "ext-live", "extstale");
    fake_heartbeat(c, "ext-stuck", "extstale", "native", 3000);

    char scen[400];
    drv_write(&d, "t_stale.json",
              "{\"name\": \"t_stale\", \"tasks\": 20000, \"workers\": 2, \"concurrency\": 4,"
              " \"mix\": [{\"kind\": \"noop\"}], \"timeout_s\": 60}",
              scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--external", "--queue", "extstale",
                          "--workers", "2", "--scenario", scen, "--out", d.out,
                          "--health-timeout", "10", NULL};
    pid_t b = drv_start(&d, args);
    /* keep the stuck heartbeat alive (its TTL, not its beat) until tqbench ends */
    int64_t deadline = tq_test_now_ms() + 60000;
    while (tq_test_pid_alive(b) && tq_test_now_ms() < deadline) {
        command_ok(c, "PEXPIRE", redisCommand(c, "PEXPIRE tq:worker:ext-stuck 3000"));
        tq_test_sleep_ms(200);
    }
    int rc = drv_wait(b, 5000);
    char *log = output(&d);
    cr_assert_eq(rc, 0, "exit %d; output:\n%s", rc, log);
    cJSON *j = results(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok", "%s", log);
    cr_assert_eq(drv_num(run, "completed"), 20000);
    const cJSON *wk = drv_obj(drv_obj(run, "resources"), "workers");
    cr_assert_not(boolean(wk, "window_complete"), "a partial window presented as complete");
    const cJSON *win = drv_obj(wk, "window");
    cr_assert_eq(drv_num(win, "workers_complete"), 1);
    const cJSON *list = drv_obj(win, "workers");
    cr_assert_eq(cJSON_GetArraySize(list), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *ww = cJSON_GetArrayItem(list, i);
        int stuck = strcmp(drv_str(ww, "id"), "ext-stuck") == 0;
        cr_assert_eq(boolean(ww, "complete"), !stuck, "%s: complete is wrong", drv_str(ww, "id"));
        if (!stuck) cr_assert_gt(drv_num(ww, "cpu_us"), 0);
    }
    /* the figures are kept; no PSS, since one heartbeat (an older
     * worker's, written by hand) carries none: a sum of one is no total */
    cr_assert_gt(drv_num(wk, "cpu_us_per_task"), 0);
    cr_assert(cJSON_IsNull(drv_obj(wk, "pss_kb_peak")), "PSS summed over part of the workers");
    cr_assert(strstr(log, "heartbeat window is complete for 1 of 2 worker(s)"),
              "no warning about the incomplete window:\n%s", log);
    cJSON_Delete(j);
    free(log);

    ext_down(&d, &r, c, w);
}

/* A Celery heartbeat on the queue does not count toward --workers for
 * framework native, and the error says how many of each were seen. */
Test(external, protocol_filter, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    redisContext *c;
    pid_t w = ext_up(&d, &r, &c, "ext-p", "pq");
    fake_heartbeat(c, "fake-celery", "pq", "celery", 60000);

    char scen[400];
    drv_write(&d, "t_p.json",
              "{\"name\": \"t_p\", \"tasks\": 100, \"workers\": 1, \"concurrency\": 4,"
              " \"mix\": [{\"kind\": \"noop\"}], \"timeout_s\": 30}",
              scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--external", "--queue", "pq", "--workers", "2",
                          "--framework", "native", "--scenario", scen, "--out", d.out,
                          "--health-timeout", "1.5", NULL};
    int rc = drv_run(&d, args, 30000);
    char *log = output(&d);
    cr_assert_eq(rc, 1, "exit %d; output:\n%s", rc, log);
    const char *want = "1 of 2 worker(s) seen on queue \"pq\" with protocol native";
    cr_assert(strstr(log, want), "no \"%s\" in:\n%s", want, log);
    cr_assert(strstr(log, "(1 more with protocol celery: fake-celery)"),
              "the message does not name the Celery heartbeat:\n%s", log);
    cJSON *j = results(&d);
    const char *err = drv_str(cJSON_GetArrayItem(drv_obj(j, "runs"), 0), "error");
    cr_assert(strstr(err, want) && strstr(err, "1 more with protocol celery"), "error: %s", err);
    cJSON_Delete(j);
    free(log);

    /* the same heartbeats for framework celery: the tqworker is the other one */
    remove(d.log);
    drv_set_out(&d, "out-celery");
    const char *args2[] = {"run", "--redis", r.url, "--external", "--queue", "pq", "--workers",
                           "2", "--framework", "celery", "--scenario", scen, "--out", d.out,
                           "--health-timeout", "1.5", NULL};
    rc = drv_run(&d, args2, 30000);
    log = output(&d);
    cr_assert_eq(rc, 1, "exit %d; output:\n%s", rc, log);
    cr_assert(strstr(log, "1 of 2 worker(s) seen on queue \"pq\" with protocol celery") &&
                  strstr(log, "(1 more with protocol native: ext-p)"),
              "no clear message:\n%s", log);
    free(log);

    ext_down(&d, &r, c, w);
}

/* The entry of settings.per_worker with this id. */
static const cJSON *per_worker(const cJSON *settings, const char *id) {
    const cJSON *e;
    cJSON_ArrayForEach(e, drv_obj(settings, "per_worker")) {
        if (strcmp(drv_str(e, "id"), id) == 0) return e;
    }
    cr_assert_fail("settings.per_worker has no %s", id);
    return NULL;
}

/* The scenario asks for nothing (concurrency 10, prefetch 1 by default);
 * the workers were started with their own settings, and those are what the
 * header prints and results.json records: one worker alone (the common
 * values), then two that differ (null at the top, each one's per worker). */
Test(external, settings_from_heartbeats, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    redisContext *c;
    ext_up(&d, &r, &c, NULL, NULL);
    /* ext-b alone on "setb"; ext-a and ext-b on "seta" */
    pid_t a = start_worker_with(&d, &r, "ext-a", "seta", "2", "3");
    pid_t b = start_worker_with(&d, &r, "ext-b", "seta,setb", "4", "1");
    wait_heartbeat(c, "ext-a");
    wait_heartbeat(c, "ext-b");

    char scen[400];
    drv_write(&d, "t_set.json",
              "{\"name\": \"t_set\", \"tasks\": 500, \"mix\": [{\"kind\": \"noop\"}],"
              " \"timeout_s\": 30}",
              scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--external", "--queue", "setb", "--workers",
                          "1", "--scenario", scen, "--out", d.out, "--health-timeout", "10", NULL};
    char *log = drv_run_expect(&d, args, 60000, 0);
    cr_assert(strstr(log, "attached 1 worker(s) x 4 (prefetch 1, protocol native)"),
              "the header does not say what the worker runs with:\n%s", log);
    cr_assert_null(strstr(log, "x 10"), "the scenario's concurrency was printed:\n%s", log);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "completed"), 500);
    const cJSON *set = drv_obj(run, "settings");
    cr_assert_str_eq(drv_str(set, "worker_settings_from"), "heartbeats (--external)");
    cr_assert_eq(drv_num(set, "workers"), 1);
    cr_assert_eq(drv_num(set, "concurrency"), 4, "settings.concurrency is the scenario's");
    cr_assert_eq(drv_num(set, "prefetch"), 1);
    cr_assert_str_eq(drv_str(set, "protocol"), "native");
    cr_assert(cJSON_IsNull(drv_obj(set, "pool")), "tqworker reports no pool");
    cr_assert_eq(cJSON_GetArraySize(drv_obj(set, "per_worker")), 1);
    cr_assert_eq(drv_num(per_worker(set, "ext-b"), "concurrency"), 4);
    cJSON_Delete(j);

    /* two workers that differ */
    remove(d.log);
    drv_set_out(&d, "out-two");
    const char *args2[] = {"run", "--redis", r.url, "--external", "--queue", "seta", "--workers",
                           "2", "--scenario", scen, "--out", d.out, "--health-timeout", "10",
                           NULL};
    log = drv_run_expect(&d, args2, 60000, 0);
    cr_assert(strstr(log, "attached 2 worker(s):") && strstr(log, "ext-a x 2 (prefetch 3)") &&
                  strstr(log, "ext-b x 4 (prefetch 1)") && strstr(log, "; protocol native"),
              "the header does not give each worker's settings:\n%s", log);
    free(log);
    j = drv_results_required(&d);
    run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "completed"), 500);
    set = drv_obj(run, "settings");
    cr_assert_eq(drv_num(set, "workers"), 2);
    cr_assert(cJSON_IsNull(drv_obj(set, "concurrency")) && cJSON_IsNull(drv_obj(set, "prefetch")),
              "differing settings presented as one value");
    cr_assert_str_eq(drv_str(set, "protocol"), "native");
    const cJSON *pa = per_worker(set, "ext-a"), *pb = per_worker(set, "ext-b");
    cr_assert(drv_num(pa, "concurrency") == 2 && drv_num(pa, "prefetch") == 3, "ext-a's settings");
    cr_assert(drv_num(pb, "concurrency") == 4 && drv_num(pb, "prefetch") == 1, "ext-b's settings");
    cr_assert_str_eq(drv_str(pa, "protocol"), "native");
    cJSON_Delete(j);

    drv_stop(a);
    ext_down(&d, &r, c, b);
}
