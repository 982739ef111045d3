/* test_reconnect.c - tqworker survives Redis going away: restarted mid-run
 * (same socket, empty data) it reconnects, its heartbeat reappears and it
 * drains what is pushed afterwards with exact counts; unreachable at start,
 * it keeps retrying and starts working once Redis is up. */
#include <criterion/criterion.h>
#include <string.h>

#include "tq_keys.h"
#include "worker_harness.h"

WT_TEST_SUITE(worker_reconnect, 60);

Test(worker_reconnect, redis_restart_mid_run) {
    const char *extra[] = {"--concurrency", "4", "--heartbeat-interval", "0.5", NULL};
    WT_CHECK(wt_push(t.c, "default", "rr", TQ_KIND_NOOP, 0, 1, 1000) == 0, "push failed");
    pid_t pid = wt_start_worker(&t, "wr", extra);
    WT_CHECK(pid > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rr", 1000, 15000), "first batch not drained");
    tq_test_sleep_ms(200); /* nothing left in flight to the old server */

    WT_CHECK(tq_test_redis_restart(&t.redis) == 0, "redis-server did not restart");
    WT_CHECK(wt_reconnect(&t) == 0, "cannot reconnect to the new redis-server");
    char key[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, "wr");
    WT_CHECK(wt_wait_exists(t.c, key, 1, 5000), "heartbeat did not reappear within 5 s");
    WT_CHECK(tq_test_pid_alive(pid), "tqworker died with Redis");

    WT_CHECK(wt_push(t.c, "default", "rr", TQ_KIND_NOOP, 0, 1, 2000) == 0, "push failed");
    WT_CHECK(wt_wait_done(t.c, "rr", 2000, 15000), "second batch not drained: completed %lld",
             wt_stat(t.c, "rr", TQ_STAT_COMPLETED));
    tq_test_sleep_ms(300);
    cr_expect_eq(wt_stat(t.c, "rr", TQ_STAT_COMPLETED), 2000, "counts after the restart");
    cr_expect_eq(wt_stat(t.c, "rr", TQ_STAT_FAILED), 0);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
    /* The snapshot is the worker's whole histogram for the run: both batches. */
    cr_expect_eq(wt_hist_count(t.c, "rr", "wr", TQ_HIST_FIELD_END_TO_END), 3000);
    cr_expect(wt_log_contains(&t, "reconnected"), "reconnection not logged");

    int rc = wt_stop_worker(&t, 5000);
    WT_CHECK(rc == 0, "exit code %d", rc);
    cr_expect_eq(tq_test_redis_int(t.c, "EXISTS %s", key), 0, "heartbeat left behind");
}

Test(worker_reconnect, unreachable_at_start_then_up) {
    tq_test_redis_stop(&t.redis, 0); /* keep the dir: same socket path later */
    redisFree(t.c);
    t.c = NULL;
    const char *extra[] = {"--concurrency", "3", NULL};
    pid_t pid = wt_start_worker(&t, "wu", extra);
    WT_CHECK(pid > 0, "cannot start tqworker");
    tq_test_sleep_ms(600);
    WT_CHECK(tq_test_pid_alive(pid), "tqworker gave up while Redis was down");
    cr_expect(wt_log_contains(&t, "cannot connect to unix://"), "connect failure not logged");

    WT_CHECK(tq_test_redis_restart(&t.redis) == 0, "redis-server did not start");
    WT_CHECK(wt_reconnect(&t) == 0, "cannot connect to redis-server");
    WT_CHECK(wt_push(t.c, "default", "ru", TQ_KIND_NOOP, 0, 1, 500) == 0, "push failed");
    WT_CHECK(wt_wait_done(t.c, "ru", 500, 10000), "not drained after Redis came up");
    tq_test_sleep_ms(300);
    cr_expect_eq(wt_stat(t.c, "ru", TQ_STAT_COMPLETED), 500);
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
}
