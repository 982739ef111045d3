/* test_dup_id.c - an external run whose worker id turns out to be shared by
 * two workers fails, with an error naming the id and both processes (pid
 * and host). A second tqworker cannot take a live worker's id any more, so
 * the second worker is simulated: once tqbench has attached to the
 * standalone tqworker "dup", the test writes the heartbeat tq:worker:dup as
 * another process would (pid 999999 on host fakehost), as an older worker, a
 * framework's hook or a worker that claimed the id while Redis had lost it
 * would. Before the fix the run ended "ok" (the real worker's next beat
 * wrote its own fields back, and only the heartbeat's existence was
 * checked). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "driver_harness.h"
#include "tq_testutil.h"

static long long wall_us(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Long enough (200 x 50 ms over 4 slots: ~2.5 s) that the run is still
 * draining when the second writer appears. */
static const char scenario[] =
    "{\"name\": \"t_dup\", \"tasks\": 200, \"warmup_tasks\": 0, \"workers\": 1,"
    " \"concurrency\": 4, \"mix\": [{\"kind\": \"sleep\", \"ms\": 50}], \"timeout_s\": 60}";

Test(dup_id, external_run_fails_when_two_workers_share_an_id, .timeout = 90,
     .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    char wlog[400];
    snprintf(wlog, sizeof wlog, "%s/dup.log", d.dir);
    const char *wargv[] = {d.worker, "--redis", r.url, "--queue", "dupq", "--id", "dup",
                           "--concurrency", "4", NULL};
    pid_t w = drv_spawn(wargv, wlog);
    cr_assert_gt(w, 0, "cannot start %s", d.worker);
    int64_t deadline = tq_test_now_ms() + 10000;
    while (tq_test_redis_int(c, "HGET tq:worker:dup pid") != w) {
        cr_assert_lt(tq_test_now_ms(), deadline, "worker dup sent no heartbeat within 10 s");
        tq_test_sleep_ms(50);
    }

    char scen[400];
    drv_write(&d, "t_dup.json", scenario, scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--external", "--queue", "dupq",
                          "--workers", "1", "--scenario", scen, "--out", d.out,
                          "--health-timeout", "10", NULL};
    pid_t b = drv_start(&d, args);
    deadline = tq_test_now_ms() + 20000;
    while (!drv_file_has(d.log, " attached ")) {
        char *log = drv_read(d.log);
        cr_assert_lt(tq_test_now_ms(), deadline, "tqbench did not attach within 20 s:\n%s",
                     log ? log : "");
        free(log);
        cr_assert(tq_test_pid_alive(b), "tqbench exited before attaching");
        tq_test_sleep_ms(20);
    }
    /* the second worker with the id writes its heartbeat */
    redisReply *x = redisCommand(c,
                                 "HSET tq:worker:dup pid 999999 host fakehost started_us %lld "
                                 "beat_us %lld",
                                 wall_us(), wall_us());
    cr_assert(x && x->type == REDIS_REPLY_INTEGER, "HSET of the second heartbeat failed");
    freeReplyObject(x);
    x = redisCommand(c, "PEXPIRE tq:worker:dup 30000");
    freeReplyObject(x);

    char *log = drv_wait_expect(&d, b, 60000, 1);
    char first[64];
    snprintf(first, sizeof first, "pid %d on host ", (int)w);
    cr_assert(strstr(log, "worker id dup is used by two workers"), "no conflict error:\n%s", log);
    cr_assert(strstr(log, first), "the error does not name the first worker (%s):\n%s", first, log);
    cr_assert(strstr(log, "pid 999999 on host fakehost"),
              "the error does not name the second worker:\n%s", log);
    free(log);

    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run, "results.json has no run");
    cr_assert_str_eq(drv_str(run, "status"), "failed");
    cr_assert(strstr(drv_str(run, "error"), "pid 999999 on host fakehost"), "error: %s",
              drv_str(run, "error"));
    cJSON_Delete(j);

    drv_stop(w);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}
