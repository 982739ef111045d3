/* test_lifecycle.c - tqworker's heartbeat and shutdown: the heartbeat hash
 * with every field and a TTL while running and gone after SIGTERM; SIGTERM
 * during sleep tasks finishes what was popped (prefetched included) and
 * loses nothing; a second signal hands unfinished tasks back and exits at
 * once; after kill -9 the heartbeat expires within its TTL. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tq_keys.h"
#include "worker_harness.h"

WT_TEST_SUITE(worker_lifecycle, 60);

static const char *const beat_fields[] = {
    "pid",       "host",    "queues",   "concurrency", "prefetch",    "protocol",
    "version",   "started_us", "beat_us", "processed", "failed",      "inflight",
    "cpu_user_us", "cpu_sys_us", "rss_kb", "pss_kb",
};

Test(worker_lifecycle, heartbeat_fields_ttl_and_removal) {
    const char *extra[] = {"--queue", "default,other", "--concurrency", "3", "--prefetch", "7",
                           "--heartbeat-interval", "1", NULL};
    pid_t pid = wt_start_worker(&t, "hb", extra);
    WT_CHECK(pid > 0, "cannot start tqworker");
    char key[TQ_KEY_MAX], reg[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, "hb");
    tq_key_workers(reg, sizeof reg, TQ_DEFAULT_PREFIX);
    WT_CHECK(wt_wait_exists(t.c, key, 1, 5000), "no heartbeat within 5 s");

    long long pttl = tq_test_redis_int(t.c, "PTTL %s", key);
    cr_expect(pttl > 0 && pttl <= 3000, "PTTL %lld, want 1..3000", pttl);
    for (size_t i = 0; i < sizeof beat_fields / sizeof beat_fields[0]; i++) {
        redisReply *r = redisCommand(t.c, "HGET %s %s", key, beat_fields[i]);
        cr_expect(r && r->type == REDIS_REPLY_STRING && r->len > 0, "field %s missing",
                  beat_fields[i]);
        if (r) freeReplyObject(r);
    }
    cr_expect_eq(wt_hget(t.c, key, "pid"), pid);
    cr_expect_eq(wt_hget(t.c, key, "concurrency"), 3);
    cr_expect_eq(wt_hget(t.c, key, "prefetch"), 7);
    cr_expect_gt(wt_hget(t.c, key, "rss_kb"), 0);
    cr_expect_gt(wt_hget(t.c, key, "pss_kb"), 0);
    cr_expect_leq(wt_hget(t.c, key, "pss_kb"), wt_hget(t.c, key, "rss_kb"));
    cr_expect_gt(wt_hget(t.c, key, "started_us"), 0);
    redisReply *r = redisCommand(t.c, "HMGET %s queues protocol version", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    cr_expect_str_eq(r->element[0]->str, "default,other");
    cr_expect_str_eq(r->element[1]->str, "native");
    cr_expect_str_eq(r->element[2]->str, TQ_VERSION);
    freeReplyObject(r);
    cr_expect_eq(tq_test_redis_int(t.c, "SISMEMBER %s hb", reg), 1);

    /* It beats again within an interval (plus slack), refreshing the TTL. */
    long long beat = wt_hget(t.c, key, "beat_us");
    WT_CHECK(wt_wait_hget(t.c, key, "beat_us", beat + 1, 2500), "no second heartbeat");

    int rc = wt_stop_worker(&t, 5000);
    WT_CHECK(rc == 0, "exit code %d", rc);
    cr_expect_eq(tq_test_redis_int(t.c, "EXISTS %s", key), 0, "heartbeat left behind");
    cr_expect_eq(tq_test_redis_int(t.c, "SISMEMBER %s hb", reg), 0, "registry member left");
}

/* Pushes n sleep tasks, waits until `first` have completed (so more are in
 * flight), sends SIGTERM and checks nothing popped was lost. */
static void sigterm_during_sleep(const char *id, const char *const *extra, int n, int ms,
                                 long long first, long long min_done) {
    WT_CHECK(wt_push(t.c, "default", "rs", TQ_KIND_SLEEP, ms, 1, n) == 0, "push failed");
    WT_CHECK(wt_start_worker(&t, id, extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rs", first, 10000), "tasks did not start");
    int64_t t0 = tq_test_now_ms();
    int rc = wt_stop_worker(&t, 10000);
    int64_t took = tq_test_now_ms() - t0;
    WT_CHECK(rc == 0, "exit code %d", rc);
    long long done = wt_stat(t.c, "rs", TQ_STAT_COMPLETED);
    long long left = wt_queue_len(t.c, "default");
    cr_expect_eq(done + left, n, "completed %lld + queued %lld != pushed %d", done, left, n);
    cr_expect_geq(done, min_done, "in-flight tasks not finished: completed %lld", done);
    cr_expect_eq(wt_stat(t.c, "rs", TQ_STAT_FAILED), 0);
    cr_expect_lt(took, 3000, "shutdown took %lld ms", (long long)took);
}

Test(worker_lifecycle, sigterm_finishes_inflight_sleep_tasks) {
    /* 4 slots: the first 4 are done, the next 4 are running at SIGTERM. */
    const char *extra[] = {"--concurrency", "4", NULL};
    sigterm_during_sleep("ws", extra, 40, 200, 4, 8);
}

Test(worker_lifecycle, sigterm_finishes_prefetched_sleep_tasks) {
    /* 2 slots holding up to 5 tasks each: all popped ones run before exit. */
    const char *extra[] = {"--concurrency", "2", "--prefetch", "5", NULL};
    sigterm_during_sleep("wp", extra, 40, 100, 2, 10);
}

Test(worker_lifecycle, second_signal_hands_tasks_back_and_exits) {
    WT_CHECK(wt_push(t.c, "default", "rx", TQ_KIND_SLEEP, 3000, 1, 20) == 0, "push failed");
    const char *extra[] = {"--concurrency", "2", "--prefetch", "3", "--heartbeat-interval",
                           "0.2", NULL};
    pid_t pid = wt_start_worker(&t, "wx", extra);
    WT_CHECK(pid > 0, "cannot start tqworker");
    char key[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, "wx");
    WT_CHECK(wt_wait_hget(t.c, key, "inflight", 6, 5000), "tasks not popped: inflight %lld",
             wt_hget(t.c, key, "inflight"));
    int64_t t0 = tq_test_now_ms();
    kill(pid, SIGTERM);
    tq_test_sleep_ms(200);
    kill(pid, SIGTERM);
    int st = 0;
    WT_CHECK(tq_test_wait_pid(pid, 5000, &st), "no exit after a second SIGTERM");
    t.worker = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM, "status %d, want exit %d", st,
              128 + SIGTERM);
    cr_expect_lt(tq_test_now_ms() - t0, 2500, "forced exit too slow");
    cr_expect_eq(wt_stat(t.c, "rx", TQ_STAT_COMPLETED), 0);
    cr_expect_eq(wt_queue_len(t.c, "default"), 20, "unfinished tasks not handed back");
    cr_expect_eq(tq_test_redis_int(t.c, "EXISTS %s", key), 0, "heartbeat left behind");
}

Test(worker_lifecycle, kill9_heartbeat_expires_within_ttl) {
    const char *extra[] = {"--heartbeat-interval", "1", NULL};
    pid_t pid = wt_start_worker(&t, "wk9", extra);
    WT_CHECK(pid > 0, "cannot start tqworker");
    char key[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, "wk9");
    WT_CHECK(wt_wait_exists(t.c, key, 1, 5000), "no heartbeat within 5 s");
    tq_test_sleep_ms(300);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    t.worker = 0;
    int64_t t0 = tq_test_now_ms();
    long long pttl = tq_test_redis_int(t.c, "PTTL %s", key);
    cr_expect(pttl > 0 && pttl <= 3000, "PTTL %lld right after kill -9, want 1..3000", pttl);
    WT_CHECK(wt_wait_exists(t.c, key, 0, 4000), "heartbeat still there 4 s after kill -9");
    int64_t gone = tq_test_now_ms() - t0;
    /* Gone when its TTL ran out (polling slack allowed), not refreshed. */
    cr_expect_leq(gone, pttl + 500, "heartbeat outlived its TTL (%lld ms): gone after %lld ms",
                  pttl, (long long)gone);
    cr_expect_geq(gone, pttl - 50, "heartbeat gone before its TTL ran out");
}
