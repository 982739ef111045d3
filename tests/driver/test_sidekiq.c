/* test_sidekiq.c - Sidekiq (Debian's ruby-sidekiq) against tqbench, both ways.
 *
 *  - sidekiq_real/small_run: `tqbench run --framework sidekiq` with real
 *    sidekiq workers on a private redis-server (unix socket: the hook's
 *    parsing of tqbench's unix URL form is on the path): exact counts,
 *    Sidekiq's own stat:processed delta equal to what the hook counted
 *    (warm-up included), no cross-check failure, latency present, every
 *    worker pid gone.
 *  - sidekiq_real/counter_mismatch_fails_the_run: stat:processed raised by
 *    another "Sidekiq" mid-run fails the run, naming both figures.
 *  - sidekiq_real/push_bulk_to_tqworker: jobs pushed by Sidekiq's own Ruby
 *    client (Sidekiq::Client.push_bulk, from a small script) are consumed by
 *    `tqworker --protocol sidekiq`, which counts them in stat:processed like
 *    Sidekiq does; two malformed jobs are counted failed in stat:failed too
 *    and logged with an excerpt.
 *
 * Both are skipped, with the reason, when Sidekiq does not load under
 * /usr/bin/ruby (CTest's driver_sidekiq_real then reports SKIPPED). */
#include <criterion/criterion.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

static void require_sidekiq(void) {
    if (system("/usr/bin/ruby -e 'require \"sidekiq\"' >/dev/null 2>&1") != 0)
        cr_skip_test("sidekiq does not load under /usr/bin/ruby (install Debian's ruby-sidekiq: "
                     "scripts/bootstrap)");
}

Test(sidekiq_real, small_run, .timeout = 180, .fini = drv_cleanup) {
    require_sidekiq();
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    redisReply *set = redisCommand(c, "SET stat:processed 7"); /* a baseline not 0 */
    cr_assert(set && set->type == REDIS_REPLY_STATUS, "SET stat:processed failed");
    freeReplyObject(set);
    const char *args[] = {"run", "--framework", "sidekiq", "--redis", r.url, "--tasks", "3000",
                          "--warmup", "200", "--workers", "1", "--concurrency", "5", "--out",
                          d.out, NULL};
    struct drv_expect want = {"sidekiq", 3000, 0, -1};
    char *log;
    cJSON *j = drv_run_checked(&d, args, 150000, &want, &log);
    cr_assert_null(strstr(log, "tqbench's hook counted"), "cross-check warning: %s", log);
    free(log);
    /* Sidekiq's own counter: 3000 jobs and 200 warm-up jobs, flushed at exit */
    cr_assert_eq(tq_test_redis_int(c, "GET stat:processed"), 7 + 3200);
    cr_assert_eq(tq_test_redis_int(c, "GET stat:failed"), 0);
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* The multi-queue scenario (drv_write_mq_scenario: 100 tasks split 1:1:8)
 * with one Sidekiq thread (-q q0 -q q1 -q q2 -c 1): each queue's exact count, Sidekiq's strict
 * order observed, stat:processed agreeing (verify) and the queues gone
 * from Sidekiq's `queues` set afterwards. */
Test(sidekiq_real, multi_queue, .timeout = 180, .fini = drv_cleanup) {
    require_sidekiq();
    struct drv d;
    struct tq_test_redis r;
    char path[400];
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    drv_write_mq_scenario(&d, path, sizeof path);
    const char *args[] = {"run", "--framework", "sidekiq", "--redis", r.url, "--scenario", path,
                          "--out", d.out, NULL};
    struct drv_expect want = {"sidekiq", 100, 0, -1};
    cJSON *j = drv_run_checked(&d, args, 150000, &want, NULL);
    drv_check_mq(drv_first_run(j), "strict order");
    cr_assert_eq(tq_test_redis_int(c, "GET stat:processed"), 100);
    cr_assert_eq(tq_test_redis_int(c, "SCARD queues"), 0, "the run's queues are unlisted");
    drv_assert_no_keys(c, "queue:*");
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* Another Sidekiq on the same Redis (stat:processed raised by 5 while the run
 * runs): Sidekiq's count and the hook's disagree, and the run fails naming
 * both figures (exit 1), never reported ok. */
Test(sidekiq_real, counter_mismatch_fails_the_run, .timeout = 180, .fini = drv_cleanup) {
    require_sidekiq();
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    const char *args[] = {"run", "--framework", "sidekiq", "--redis", r.url, "--tasks", "2000",
                          "--warmup", "0", "--workers", "1", "--concurrency", "5", "--out",
                          d.out, NULL};
    pid_t drv = drv_start(&d, args);
    cr_assert_gt(drv, 0);
    /* the run's stats key exists once its baseline was taken and a job ran */
    int64_t deadline = tq_test_now_ms() + 60000;
    for (;;) {
        redisReply *k = redisCommand(c, "KEYS tq:run:*:stats");
        int found = k && k->type == REDIS_REPLY_ARRAY && k->elements > 0;
        if (k) freeReplyObject(k);
        if (found) break;
        cr_assert_lt(tq_test_now_ms(), deadline, "no job of the run ran within 60 s");
        tq_test_sleep_ms(20);
    }
    cr_assert_eq(tq_test_redis_int(c, "INCRBY stat:processed 5") > 0, 1);
    char *log = drv_wait_expect(&d, drv, 120000, 1);
    cr_assert_not_null(strstr(log, "tqbench's hook counted 2000 finished"),
                       "the failure does not give the hook's figure: %s", log);
    cr_assert_not_null(strstr(log, "rose by 2005"), "nor Sidekiq's: %s", log);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run, "results.json has no run");
    cr_assert_str_eq(drv_str(run, "status"), "failed");
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* Sidekiq's own client, as an application would push: push_bulk of n jobs
 * of a class tqworker has never heard of (a noop for it). */
static const char push_script[] =
    "require 'sidekiq'\n"
    "u = URI(ENV['REDIS_URL'])\n"
    "Sidekiq.configure_client { |c| c.redis = { path: u.path } }\n"
    "jids = Sidekiq::Client.push_bulk('class' => 'HardWorker', 'queue' => 'skq',\n"
    "                                 'args' => Array.new(Integer(ARGV[0])) { |i| [i, 'x'] })\n"
    "exit(jids.size == Integer(ARGV[0]) ? 0 : 1)\n";

Test(sidekiq_real, push_bulk_to_tqworker, .timeout = 120, .fini = drv_cleanup) {
    require_sidekiq();
    struct drv d;
    struct tq_test_redis r;
    char script[512], cmd[2048], log_path[600];
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    drv_write(&d, "push.rb", push_script, script, sizeof script);
    snprintf(cmd, sizeof cmd, "REDIS_URL='%s' /usr/bin/ruby %s 500 >>%s 2>&1", r.url, script,
             d.log);
    cr_assert_eq(system(cmd), 0, "push_bulk failed: %s", drv_read(d.log));
    cr_assert_eq(tq_test_redis_int(c, "LLEN queue:skq"), 500);
    cr_assert_eq(tq_test_redis_int(c, "SISMEMBER queues skq"), 1);
    cr_assert_eq(tq_test_redis_int(c, "LPUSH queue:skq not-json {\"class\":\"NoArgs\"}"), 502);
    snprintf(log_path, sizeof log_path, "%s/tqworker.log", d.dir);
    const char *argv[] = {d.worker, "--protocol", "sidekiq", "--redis", r.url, "--queue", "skq",
                          "--run", "skrun", "--id", "sk-w0", "--concurrency", "4",
                          "--brpop-timeout", "0.2", NULL};
    pid_t pid = drv_spawn(argv, log_path);
    int64_t deadline = tq_test_now_ms() + 30000;
    while (tq_test_redis_int(c, "GET stat:processed") < 502 && tq_test_now_ms() < deadline)
        tq_test_sleep_ms(50);
    drv_stop(pid);
    cr_assert_eq(tq_test_redis_int(c, "GET stat:processed"), 502, "log: %s", drv_read(log_path));
    cr_assert_eq(tq_test_redis_int(c, "GET stat:failed"), 2);
    cr_assert_eq(tq_test_redis_int(c, "HGET tq:run:skrun:stats completed"), 500);
    cr_assert_eq(tq_test_redis_int(c, "HGET tq:run:skrun:stats failed"), 2);
    cr_assert_eq(tq_test_redis_int(c, "LLEN queue:skq"), 0);
    cr_assert(drv_file_has(log_path, "not-json"), "the malformed job's excerpt is logged: %s",
              drv_read(log_path));
    cr_assert(drv_file_has(log_path, "missing field \"args\""), "the reason is logged: %s",
              drv_read(log_path));
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}
