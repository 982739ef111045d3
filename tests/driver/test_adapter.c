/* test_adapter.c - the adapter interface, version 2 (bench/framework.h),
 * through a framework that uses every hook: tlist (tlist_adapter.c, its
 * worker tlist_worker.py), run by tqbench_tlist, the driver with tlist in
 * its registry. Its key layout is its own (tl:<queue>, RPUSHed), its tasks
 * sit in a processing list while they run, its counters are global to the
 * queue (progress is a delta from a baseline; the native P:run:<run>:stats
 * is never written), it keeps per-run state, refuses concurrency > 1
 * (validate) and runs noop and sleep only (caps).
 *
 * A run completes with exact counts (the warm-up's tasks not among them);
 * settings it refuses exit 2 before anything starts; a scenario it lacks a
 * capability for is skipped with the reason; a run whose worker is killed
 * finds its tasks queued or in the processing list (in_flight_at_end), none
 * lost. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

/* d's tqbench becomes tqbench_tlist (built next to this test). */
static void use_tlist_driver(struct drv *d) {
    char *p = strstr(d->bin, "/bin/tqbench");
    cr_assert_not_null(p, "unexpected tqbench path %s", d->bin);
    snprintf(p, sizeof d->bin - (size_t)(p - d->bin), "/tests/driver/tqbench_tlist");
    cr_assert_eq(access(d->bin, X_OK), 0, "%s is not built", d->bin);
}

static void skip_without_python_redis(void) {
    if (system("/usr/bin/python3 -c 'import redis' >/dev/null 2>&1") != 0)
        cr_skip_test("/usr/bin/python3 cannot import redis (python3-redis, scripts/bootstrap)");
}

static const cJSON *first_run(const cJSON *j) {
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run, "results.json has no run");
    return run;
}

static long long keys_matching(redisContext *c, const char *pattern) {
    redisReply *r = redisCommand(c, "KEYS %s", pattern);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    long long n = (long long)r->elements;
    freeReplyObject(r);
    return n;
}

Test(adapter, tlist_run_exact_counts, .timeout = 120, .fini = drv_cleanup) {
    skip_without_python_redis();
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    use_tlist_driver(&d);
    redisContext *c = drv_redis_start_connected(&r);
    const char *args[] = {"run",   "--redis", r.url,    "--framework", "tlist", "--tasks", "400",
                          "--warmup", "50",   "--workers", "2",       "--concurrency", "1",
                          "--out", d.out,     NULL};
    char *log = drv_run_expect(&d, args, 90000, 0);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = first_run(j);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "enqueued"), 400);
    /* deltas of the global counter: the 50 warm-up tasks are not counted */
    cr_assert_eq(drv_num(run, "completed"), 400);
    cr_assert_eq(drv_num(run, "failed"), 0);
    cr_assert_eq(drv_num(run, "lost"), 0);
    cr_assert_eq(drv_num(run, "queued_at_end"), 0);
    cr_assert_eq(drv_num(run, "in_flight_at_end"), 0);
    const cJSON *e2e = drv_obj(drv_obj(run, "latency_us"), "end_to_end");
    cr_assert_eq(drv_num(e2e, "count"), 400, "latency from the worker's stamps");
    cr_assert_str_eq(drv_str(drv_obj(run, "settings"), "protocol"), "tlist");
    cJSON_Delete(j);
    /* finish and clean ran: the registry entry, the queue, the processing
     * list and the counters are gone; the native stats were never written */
    cr_assert_eq(tq_test_redis_int(c, "SCARD tl:queues"), 0);
    cr_assert_eq(keys_matching(c, "tl:*"), 0);
    cr_assert_eq(keys_matching(c, "tq:run:*"), 0);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(adapter, tlist_validate_refuses_before_anything_starts, .timeout = 60,
     .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    use_tlist_driver(&d);
    const char *args[] = {"run", "--framework", "tlist", "--tasks", "100", "--concurrency", "2",
                          "--out", d.out, NULL};
    int64_t t0 = tq_test_now_ms();
    char *log = drv_run_expect(&d, args, 30000, 2);
    cr_assert_lt(tq_test_now_ms() - t0, 5000);
    cr_assert(strstr(log, "tlist workers run one task at a time (concurrency 2 asked"),
              "output:\n%s", log);
    free(log);
    cr_assert(access(d.out, F_OK) != 0, "a refused run created %s", d.out);
    drv_fini(&d);
}

Test(adapter, tlist_caps_skip_what_it_cannot_run, .timeout = 60, .fini = drv_cleanup) {
    skip_without_python_redis();
    struct drv d;
    drv_init(&d);
    use_tlist_driver(&d);
    /* retries: fail tasks, retried: neither is a tlist capability */
    const char *args[] = {"run", "--scenario", "retries", "--framework", "tlist", "--out", d.out,
                          NULL};
    char *log = drv_run_expect(&d, args, 30000, 0);
    cr_assert(strstr(log, "skipped: tlist workers cannot run the fail kind"), "output:\n%s", log);
    free(log);
    cJSON *j = drv_results_required(&d);
    cr_assert_eq(cJSON_GetArraySize(drv_obj(j, "runs")), 0, "a run was started");
    const cJSON *sk = cJSON_GetArrayItem(drv_obj(j, "skipped_runs"), 0);
    cr_assert_not_null(sk, "no skipped_runs entry");
    cr_assert_str_eq(drv_str(sk, "scenario"), "retries");
    cr_assert_str_eq(drv_str(sk, "framework"), "tlist");
    cr_assert(strstr(drv_str(sk, "reason"), "the fail kind"), "%s", drv_str(sk, "reason"));
    cJSON_Delete(j);
    drv_fini(&d);
}

Test(adapter, tlist_killed_worker_tasks_held_not_lost, .timeout = 120, .fini = drv_cleanup) {
    skip_without_python_redis();
    struct drv d;
    struct tq_test_redis r;
    char scen[400];
    drv_init(&d);
    use_tlist_driver(&d);
    redisContext *c = drv_redis_start_connected(&r);
    drv_write(&d, "t_slow.json",
              "{\"name\": \"t_slow\", \"tasks\": 2000, \"workers\": 1, \"concurrency\": 1,"
              " \"warmup_tasks\": 0, \"mix\": [{\"kind\": \"sleep\", \"ms\": 50}],"
              " \"timeout_s\": 120}",
              scen, sizeof scen);
    const char *args[] = {"run",     "--redis",     r.url, "--framework", "tlist",
                          "--scenario", scen,       "--out", d.out,       NULL};
    pid_t drv = drv_start(&d, args);
    pid_t w;
    cr_assert_eq(drv_wait_worker_pids(c, &w, 1, 20000), 1, "the tlist worker never registered");
    /* under way: a few tasks done, one in the processing list */
    int64_t deadline = tq_test_now_ms() + 20000;
    while (tq_test_redis_int(c, "EVAL %s 0", "return #redis.call('KEYS', 'tl:*:done')") < 1) {
        cr_assert_lt(tq_test_now_ms(), deadline, "no task completed within 20 s");
        tq_test_sleep_ms(50);
    }
    tq_test_sleep_ms(300);
    cr_assert_eq(kill(w, SIGKILL), 0);
    char *log = drv_wait_expect(&d, drv, 60000, 1);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = first_run(j);
    cr_assert_str_eq(drv_str(run, "status"), "failed");
    double counted = drv_num(run, "completed") + drv_num(run, "failed");
    double queued = drv_num(run, "queued_at_end");
    double held = drv_num(run, "in_flight_at_end");
    double lost = drv_num(run, "lost");
    cr_assert(counted > 0 && queued > 0, "counted %g, queued %g", counted, queued);
    /* one task at a time: at most the one it was running sits in the
     * processing list; counting and leaving that list are one MULTI, so
     * nothing is lost */
    cr_assert(held == 0 || held == 1, "in_flight_at_end %g", held);
    cr_assert_eq(lost, 0, "lost %g with a processing list", lost);
    cr_assert_eq(counted + queued + held, drv_num(run, "enqueued"));
    cJSON_Delete(j);
    cr_assert_eq(keys_matching(c, "tl:*"), 0, "the run's lists were not deleted");
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* The shipped adapters use validate too: a Celery pool tqbench does not run
 * is refused before anything starts (it used to fail at the worker spawn). */
Test(adapter, celery_pool_validated, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    char scen[400];
    drv_init(&d);
    drv_write(&d, "t_gevent.json",
              "{\"name\": \"t_gevent\", \"tasks\": 100, \"pool\": \"gevent\","
              " \"mix\": [{\"kind\": \"noop\"}]}",
              scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--framework", "celery", "--out", d.out,
                          NULL};
    char *log = drv_run_expect(&d, args, 30000, 2);
    cr_assert(strstr(log, "celery: unsupported pool \"gevent\" (prefork, threads or solo)"),
              "output:\n%s", log);
    free(log);
    cr_assert(access(d.out, F_OK) != 0, "a refused run created %s", d.out);
    drv_fini(&d);
}
