/* test_stats.c - `tqbench stats --run ID`: a run's counters and its merged
 * latency percentiles, as scripts/soak reads them. 500 tasks pushed with
 * tqpush and run by a real tqworker on a private redis-server: the text
 * output names completed 500, failed 0, latency-covered 500 and the
 * end-to-end and queue-wait percentiles; --format json carries the same
 * figures; a run that does not exist is exit 1 naming it; an unreachable
 * Redis, an invalid or missing --run and a bad --format are exit 2. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

TestSuite(stats, .fini = drv_cleanup);

#define RUN "stats.run.1"

/* Output of one tqbench invocation alone (the log is appended to). */
static char *stats_expect(const struct drv *d, const char *const *args, int want_rc) {
    unlink(d->log);
    return drv_run_expect(d, args, 20000, want_rc);
}

static long long stats_counted(redisContext *c) {
    redisReply *r = redisCommand(c, "HMGET tq:run:%s:stats completed failed", RUN);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "HMGET");
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING) n += atoll(r->element[i]->str);
    freeReplyObject(r);
    return n;
}

Test(stats, counts_and_percentiles_of_a_real_run, .timeout = 60) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);

    char push[320], plog[400], wlog[400];
    tq_test_bin("tqpush", push, sizeof push);
    snprintf(plog, sizeof plog, "%s/tqpush.log", d.dir);
    snprintf(wlog, sizeof wlog, "%s/worker.log", d.dir);
    const char *pargv[] = {push, "--redis", r.url, "--queue", "st", "--run", RUN,
                           "--tasks", "500", NULL};
    pid_t pp = drv_spawn(pargv, plog);
    cr_assert_gt(pp, 0);
    int status = -1;
    cr_assert_eq(tq_test_wait_pid(pp, 20000, &status), 1, "tqpush did not finish");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tqpush failed");
    const char *wargv[] = {d.worker, "--redis", r.url, "--queue", "st", "--concurrency", "2",
                           "--id", "stats-w1", NULL};
    pid_t w = drv_spawn(wargv, wlog);
    cr_assert_gt(w, 0);
    for (int i = 0; i < 200 && stats_counted(c) < 500; i++) usleep(50000);
    cr_assert_eq(stats_counted(c), 500, "the worker did not count 500 tasks within 10 s");
    usleep(400000); /* the histograms flush with the counters; one more period */

    const char *args[] = {"stats", "--redis", r.url, "--run", RUN, NULL};
    char *out = stats_expect(&d, args, 0);
    cr_assert(strstr(out, "completed 500  failed 0  latency-covered 500"), "%s", out);
    cr_assert(strstr(out, "end_to_end   p50 "), "%s", out);
    cr_assert(strstr(out, "queue_wait   p50 "), "%s", out);
    cr_assert(strstr(out, " p99 ") && strstr(out, " p99.9 ") && strstr(out, " max "), "%s", out);
    cr_assert(strstr(out, "(500 values, 0 out of range)"), "%s", out);
    free(out);

    const char *jargs[] = {"stats", "--redis", r.url, "--run", RUN, "--format", "json", NULL};
    out = stats_expect(&d, jargs, 0);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "not JSON: %s", out);
    cr_assert_eq(drv_num(j, "completed"), 500);
    cr_assert_eq(drv_num(j, "failed"), 0);
    cr_assert_eq(drv_num(j, "latency_covered"), 500);
    const cJSON *e2e = drv_obj(j, "end_to_end_us");
    cr_assert_eq(drv_num(e2e, "count"), 500);
    cr_assert_gt(drv_num(e2e, "p99"), 0);
    cr_assert_geq(drv_num(e2e, "max"), drv_num(e2e, "p99"));
    cr_assert_geq(drv_num(e2e, "p99"), drv_num(e2e, "p50"));
    cr_assert_eq(drv_num(drv_obj(j, "queue_wait_us"), "count"), 500);
    cr_assert_gt(drv_num(j, "window_s"), 0);
    cJSON_Delete(j);
    free(out);

    /* a run id that names nothing: exit 1, naming it */
    const char *nargs[] = {"stats", "--redis", r.url, "--run", "no.such.run", NULL};
    out = stats_expect(&d, nargs, 1);
    cr_assert(strstr(out, "no run \"no.such.run\""), "%s", out);
    free(out);

    drv_stop(w);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(stats, usage_and_unreachable_redis, .timeout = 60) {
    struct drv d;
    drv_init(&d);
    char url[400];
    snprintf(url, sizeof url, "unix://%s/no-redis.sock", d.dir);
    const char *a1[] = {"stats", "--redis", url, "--run", RUN, NULL};
    char *out = stats_expect(&d, a1, 2);
    cr_assert(strstr(out, "cannot connect to Redis"), "%s", out);
    free(out);
    const char *a2[] = {"stats", "--redis", url, NULL};
    out = stats_expect(&d, a2, 2);
    cr_assert(strstr(out, "stats needs --run ID"), "%s", out);
    free(out);
    const char *a3[] = {"stats", "--redis", url, "--run", "bad run", NULL};
    out = stats_expect(&d, a3, 2);
    cr_assert(strstr(out, "--run must be 1..127 characters"), "%s", out);
    free(out);
    const char *a4[] = {"stats", "--run", RUN, "--format", "yaml", NULL};
    out = stats_expect(&d, a4, 2);
    cr_assert(strstr(out, "--format must be text or json"), "%s", out);
    free(out);
    const char *a5[] = {"workers", "--run", RUN, NULL};
    out = stats_expect(&d, a5, 2);
    cr_assert(strstr(out, "--run is not a flag of `tqbench workers`"), "%s", out);
    free(out);
    drv_fini(&d);
}
