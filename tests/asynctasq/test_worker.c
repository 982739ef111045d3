/* test_worker.c - tqworker --protocol asynctasq against a private
 * redis-server, fed payloads built by the independent Python producer
 * (atq_payloads.py stream, Debian's python3-msgpack). Checks AsyncTasQ's
 * reliable-queue contract from the outside: every payload moves
 * queue:<q> -> queue:<q>:processing -> gone, with queue:<q>:stats:completed
 * (or :failed) counting it exactly once; a forced stop hands taken tasks
 * back to queue:<q> (none lost, none doubled); kill -9 leaves them in the
 * processing list; malformed payloads are counted failed and removed. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tq_asynctasq.h"
#include "worker_harness.h"

WT_TEST_SUITE(asynctasq_worker, 180);

#define Q "bench"
#define QKEY "queue:" Q
#define PROCESSING QKEY ":processing"
#define COMPLETED QKEY ":stats:completed"
#define FAILED QKEY ":stats:failed"

/* Runs atq_payloads.py stream and LPUSHes what it wrote (pipelined).
 * Returns the number pushed. */
static int push_python(const char *run, const char *kind, int arg, int count) {
    char file[400], cmd[1400];
    snprintf(file, sizeof file, "%s/payloads-%s.bin", t.redis.dir, run);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/atq_payloads.py stream %s --count %d --run %s --queue " Q
             " --kind %s --arg %d",
             TQ_ATQ_TEST_DIR, file, count, run, kind, arg);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f);
    int n = 0;
    unsigned char hdr[4];
    static char buf[1 << 16];
    while (fread(hdr, 1, 4, f) == 4) {
        uint32_t len;
        memcpy(&len, hdr, 4);
        len = ntohl(len);
        cr_assert_lt(len, sizeof buf);
        cr_assert_eq(fread(buf, 1, len, f), len);
        redisAppendCommand(t.c, "LPUSH %s %b", QKEY, buf, (size_t)len);
        n++;
    }
    fclose(f);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(t.c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    return n;
}

static long long llen(const char *key) { return tq_test_redis_int(t.c, "LLEN %s", key); }
static long long get_int(const char *key) {
    long long v = tq_test_redis_int(t.c, "GET %s", key);
    return v < 0 ? 0 : v;
}

static int wait_eq(const char *what, long long (*f)(const char *), const char *key, long long want,
                   int timeout_ms) {
    int64_t end = tq_test_now_ms() + timeout_ms;
    while (tq_test_now_ms() < end) {
        if (f(key) == want) return 1;
        tq_test_sleep_ms(20);
    }
    fprintf(stderr, "%s: %s is %lld, want %lld\n", what, key, f(key), want);
    return 0;
}

/* The task ids of the payloads in list key, each checked to decode; returns
 * how many, and whether any id appears twice. */
static int list_task_ids(const char *key, int *dups, uint64_t *seen, int max) {
    redisReply *r = redisCommand(t.c, "LRANGE %s 0 -1", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    int n = 0;
    *dups = 0;
    for (size_t i = 0; i < r->elements; i++) {
        struct tq_task task;
        struct tq_atq_info info;
        char err[128];
        cr_assert_eq(tq_atq_decode(r->element[i]->str, r->element[i]->len, &task, &info, err,
                                   sizeof err), 0, "%s", err);
        for (int j = 0; j < n; j++) *dups += seen[j] == task.id;
        if (n < max) seen[n++] = task.id;
    }
    freeReplyObject(r);
    return n;
}

Test(asynctasq_worker, drains_python_payloads_exactly) {
    const int N = 10000;
    redisReply *r = redisCommand(t.c, "SET %s 1234", COMPLETED);
    freeReplyObject(r);
    cr_assert_eq(push_python("atq1", "noop", 0, N), N);
    const char *extra[] = {"--protocol", "asynctasq", "--queue", Q, "--concurrency", "4",
                           "--run", "fallback", NULL};
    cr_assert_gt(wt_start_worker(&t, "atq-drain", extra), 0);
    WT_CHECK(wt_wait_done(t.c, "atq1", N, 60000), "run atq1 did not complete");
    WT_CHECK(wait_eq("completed", get_int, COMPLETED, 1234 + N, 5000),
             "AsyncTasQ's completed counter is off");
    WT_CHECK(llen(PROCESSING) == 0, "processing list not empty: %lld", llen(PROCESSING));
    WT_CHECK(llen(QKEY) == 0, "queue not empty");
    WT_CHECK(get_int(FAILED) == 0, "failed counter %lld", get_int(FAILED));
    WT_CHECK(wt_stat(t.c, "atq1", "completed") == N, "run completed");
    WT_CHECK(wt_stat(t.c, "atq1", "failed") == 0, "run failed");
    /* the heartbeat catches up within an interval */
    int64_t end = tq_test_now_ms() + 5000;
    while (wt_hget(t.c, "tq:worker:atq-drain", "processed") != N && tq_test_now_ms() < end)
        tq_test_sleep_ms(50);
    WT_CHECK(wt_hget(t.c, "tq:worker:atq-drain", "processed") == N, "heartbeat processed %lld",
             wt_hget(t.c, "tq:worker:atq-drain", "processed"));
    WT_CHECK(wt_stop_worker(&t, 10000) == 0, "clean exit");
    WT_CHECK(get_int(COMPLETED) == 1234 + N, "completed moved after exit");
}

Test(asynctasq_worker, graceful_stop_finishes_taken_tasks) {
    cr_assert_eq(push_python("atq2", "sleep", 300, 8), 8);
    const char *extra[] = {"--protocol", "asynctasq", "--queue", Q, "--concurrency", "4", NULL};
    cr_assert_gt(wt_start_worker(&t, "atq-graceful", extra), 0);
    WT_CHECK(wait_eq("taken", llen, PROCESSING, 4, 10000), "4 tasks not taken");
    WT_CHECK(wt_stop_worker(&t, 10000) == 0, "clean exit");
    /* the 4 taken ran to the end and were acked; the rest were never taken */
    WT_CHECK(llen(PROCESSING) == 0, "processing %lld", llen(PROCESSING));
    WT_CHECK(get_int(COMPLETED) == 4, "completed %lld", get_int(COMPLETED));
    WT_CHECK(llen(QKEY) == 4, "queue %lld", llen(QKEY));
}

Test(asynctasq_worker, forced_stop_hands_taken_tasks_back) {
    cr_assert_eq(push_python("atq3", "sleep", 60000, 8), 8);
    const char *extra[] = {"--protocol", "asynctasq", "--queue", Q, "--concurrency", "4", NULL};
    cr_assert_gt(wt_start_worker(&t, "atq-forced", extra), 0);
    WT_CHECK(wait_eq("taken", llen, PROCESSING, 4, 10000), "4 tasks not taken");
    kill(t.worker, SIGTERM);
    tq_test_sleep_ms(200);
    kill(t.worker, SIGTERM);
    int st = 0;
    WT_CHECK(tq_test_wait_pid(t.worker, 10000, &st), "worker did not exit");
    t.worker = 0;
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM, "exit status %d", st);
    WT_CHECK(llen(PROCESSING) == 0, "processing %lld", llen(PROCESSING));
    WT_CHECK(get_int(COMPLETED) == 0 && get_int(FAILED) == 0, "counted");
    uint64_t ids[16];
    int dups;
    int n = list_task_ids(QKEY, &dups, ids, 16);
    WT_CHECK(n == 8 && dups == 0, "queue holds %d payloads, %d doubled", n, dups);
    /* handed back to the popping end: the next BLMOVE takes a task that was taken before */
    redisReply *r = redisCommand(t.c, "LINDEX %s -1", QKEY);
    struct tq_task task;
    char err[128];
    cr_assert_eq(tq_atq_decode(r->str, r->len, &task, NULL, err, sizeof err), 0);
    freeReplyObject(r);
    WT_CHECK(task.id < 4, "the tail is task %llu, not one of the taken 0..3",
             (unsigned long long)task.id);
}

Test(asynctasq_worker, kill9_leaves_taken_tasks_in_processing) {
    cr_assert_eq(push_python("atq4", "sleep", 60000, 6), 6);
    const char *extra[] = {"--protocol", "asynctasq", "--queue", Q, "--concurrency", "4", NULL};
    cr_assert_gt(wt_start_worker(&t, "atq-kill", extra), 0);
    WT_CHECK(wait_eq("taken", llen, PROCESSING, 4, 10000), "4 tasks not taken");
    kill(t.worker, SIGKILL);
    int st;
    tq_test_wait_pid(t.worker, 5000, &st);
    t.worker = 0;
    uint64_t ids[16];
    int dups;
    WT_CHECK(list_task_ids(PROCESSING, &dups, ids, 16) == 4 && dups == 0, "processing list");
    WT_CHECK(llen(QKEY) == 2, "queue %lld", llen(QKEY));
}

Test(asynctasq_worker, malformed_payloads_counted_failed_and_removed) {
    cr_assert_eq(push_python("atq5", "noop", 0, 5), 5);
    redisReply *r = redisCommand(t.c, "LPUSH %s %s", QKEY, "{\"not\": \"msgpack\"}");
    freeReplyObject(r);
    r = redisCommand(t.c, "LPUSH %s %b", QKEY, "\x81\xa5" "class" "\xa1x", (size_t)9);
    freeReplyObject(r);
    r = redisCommand(t.c, "LPUSH %s %b", QKEY, "\xc1", (size_t)1);
    freeReplyObject(r);
    const char *extra[] = {"--protocol", "asynctasq", "--queue", Q, "--concurrency", "2",
                           "--run", "atq5", NULL};
    cr_assert_gt(wt_start_worker(&t, "atq-bad", extra), 0);
    WT_CHECK(wt_wait_done(t.c, "atq5", 8, 20000), "8 payloads not counted");
    WT_CHECK(wait_eq("failed", get_int, FAILED, 3, 5000), "failed counter");
    WT_CHECK(get_int(COMPLETED) == 5, "completed %lld", get_int(COMPLETED));
    WT_CHECK(wt_stat(t.c, "atq5", "failed") == 3, "run failed");
    WT_CHECK(llen(PROCESSING) == 0 && llen(QKEY) == 0, "lists not empty");
    WT_CHECK(wt_log_contains(&t, "malformed task from queue:bench"), "not logged");
    WT_CHECK(wt_log_contains(&t, "missing params; counted failed in run atq5"), "reason not logged");
    WT_CHECK(wt_stop_worker(&t, 10000) == 0, "clean exit");
}

Test(asynctasq_worker, refuses_several_queues_or_prefetch) {
    const char *extra[] = {"--protocol", "asynctasq", "--queue", "a,b", NULL};
    cr_assert_gt(wt_start_worker(&t, "atq-two", extra), 0);
    int st = 0;
    WT_CHECK(tq_test_wait_pid(t.worker, 10000, &st), "worker did not exit");
    t.worker = 0;
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0, "accepted two queues");
    WT_CHECK(wt_log_contains(&t, "one queue"), "reason not logged");
}
