/* test_drain.c - tqworker drains what it is given and counts it exactly:
 * noop backlogs at prefetch 1 and 100 (counters and histograms), sleep and
 * cpu tasks, fail tasks with retries, and malformed payloads of every class
 * (counted failed, the worker stays up and keeps working); noop, sleep and
 * fail tasks mixed in one batch; the batched drain (RPOP key 100) at one
 * and at three processes, exact to the task; --trace writes each task's
 * stamps exactly once, across a flush Redis refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_clock.h"
#include "tq_hist.h"
#include "tq_keys.h"
#include "worker_harness.h"

WT_TEST_SUITE(worker_drain, 90);

/* Lets a late, wrong flush show up before counts are compared exactly. */
#define SETTLE_MS 300

static void expect_histograms(const char *run, const char *id, long long want) {
    const char *suffix[] = {TQ_HIST_FIELD_QUEUE_WAIT, TQ_HIST_FIELD_SERVICE,
                            TQ_HIST_FIELD_END_TO_END};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(wt_hist_count(t.c, run, id, suffix[i]), want, "%s histogram count",
                     suffix[i]);
    char key[TQ_KEY_MAX], f1[200], f2[200], f3[200];
    tq_key_run_hist(key, sizeof key, TQ_DEFAULT_PREFIX, run);
    snprintf(f1, sizeof f1, "%s:%s", id, TQ_HIST_FIELD_FIRST_START);
    snprintf(f2, sizeof f2, "%s:%s", id, TQ_HIST_FIELD_LAST_DONE);
    snprintf(f3, sizeof f3, "%s:%s", id, TQ_HIST_FIELD_FIRST_DONE);
    long long first = wt_hget(t.c, key, f1), last = wt_hget(t.c, key, f2);
    long long first_done = wt_hget(t.c, key, f3);
    cr_expect_gt(first, 0, "first_start_us missing");
    cr_expect_geq(last, first, "last_done_us %lld < first_start_us %lld", last, first);
    /* the first completion: after the first start, not after the last */
    cr_expect_geq(first_done, first, "first_done_us %lld < first_start_us %lld", first_done, first);
    cr_expect_leq(first_done, last, "first_done_us %lld > last_done_us %lld", first_done, last);
}

static void drain_noop(const char *id, const char *prefetch) {
    const long long n = 10000;
    WT_CHECK(wt_push(t.c, "default", "r1", TQ_KIND_NOOP, 0, 1, (int)n) == 0, "push failed");
    const char *extra[] = {"--prefetch", prefetch, NULL};
    WT_CHECK(wt_start_worker(&t, id, extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "r1", n, 30000), "not drained in 30 s: completed %lld",
             wt_stat(t.c, "r1", TQ_STAT_COMPLETED));
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "r1", TQ_STAT_COMPLETED), n);
    cr_expect_eq(wt_stat(t.c, "r1", TQ_STAT_FAILED), 0);
    cr_expect_eq(wt_stat(t.c, "r1", TQ_STAT_RETRIED), 0);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
    expect_histograms("r1", id, n);
    int rc = wt_stop_worker(&t, 5000);
    WT_CHECK(rc == 0, "exit code %d", rc);
    expect_histograms("r1", id, n);
}

Test(worker_drain, noop_10000_exact_counts) {
    drain_noop("w1", "1");
}

Test(worker_drain, noop_10000_prefetch_100_exact_counts) {
    drain_noop("w100", "100");
}

Test(worker_drain, sleep_and_cpu_tasks) {
    WT_CHECK(wt_push(t.c, "default", "rk", TQ_KIND_SLEEP, 50, 1, 8) == 0, "push failed");
    WT_CHECK(wt_push(t.c, "default", "rk", TQ_KIND_CPU, 20000, 1, 8) == 0, "push failed");
    const char *extra[] = {"--concurrency", "4", NULL};
    WT_CHECK(wt_start_worker(&t, "wk", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rk", 16, 20000), "not done: completed %lld",
             wt_stat(t.c, "rk", TQ_STAT_COMPLETED));
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "rk", TQ_STAT_COMPLETED), 16);
    cr_expect_eq(wt_stat(t.c, "rk", TQ_STAT_FAILED), 0);
    /* Service time is at least what each task asked for. */
    char key[TQ_KEY_MAX];
    tq_key_run_hist(key, sizeof key, TQ_DEFAULT_PREFIX, "rk");
    redisReply *r = redisCommand(t.c, "HGET %s wk:service", key);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "no service histogram");
    tq_hist h;
    cr_assert_eq(tq_hist_init(&h), 0);
    cr_assert_eq(tq_hist_parse(&h, r->str, r->len), 0);
    cr_expect_eq(h.total_count, 16);
    cr_expect_geq(tq_hist_min(&h), 20000 - tq_hist_bucket_width(20000), "service min %lld µs",
                  (long long)tq_hist_min(&h));
    tq_hist_free(&h);
    freeReplyObject(r);
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
}

/* One RPOP brings noop, sleep and fail tasks mixed: the noops run from the
 * reply itself, the sleep task and those after it from copies made before
 * the reply is freed (consumer.c, slot_keep_borrowed). The payloads are
 * padded so a batch outgrows the reply arena's kept block and its extra
 * blocks are freed with the reply: a payload read after that is an ASan
 * report, or decodes as garbage and is counted failed. */
Test(worker_drain, mixed_kinds_in_one_batch) {
    static char buf[4096];
    struct tq_task task;
    memset(&task, 0, sizeof task);
    snprintf(task.run, sizeof task.run, "rm");
    task.pad_len = 1500;
    const enum tq_task_kind kinds[] = {TQ_KIND_NOOP, TQ_KIND_SLEEP, TQ_KIND_FAIL};
    const int per_round[] = {30, 3, 2};
    for (int round = 0; round < 6; round++) {
        for (int k = 0; k < 3; k++) {
            task.kind = kinds[k];
            task.arg = kinds[k] == TQ_KIND_SLEEP ? 1 : 0;
            task.max_attempts = kinds[k] == TQ_KIND_FAIL ? 2 : 1;
            for (int i = 0; i < per_round[k]; i++) {
                task.id++;
                task.enqueued_us = tq_clock_wall_us();
                int len = tq_task_encode(&task, buf, sizeof buf);
                WT_CHECK(len > 0 && wt_push_raw(t.c, "default", buf, (size_t)len) == 0,
                         "push failed");
            }
        }
    }
    const char *extra[] = {"--concurrency", "2", "--prefetch", "100", NULL};
    WT_CHECK(wt_start_worker(&t, "wm", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rm", 6 * (30 + 3 + 2), 20000),
             "not done: completed %lld failed %lld", wt_stat(t.c, "rm", TQ_STAT_COMPLETED),
             wt_stat(t.c, "rm", TQ_STAT_FAILED));
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "rm", TQ_STAT_COMPLETED), 6 * (30 + 3));
    cr_expect_eq(wt_stat(t.c, "rm", TQ_STAT_FAILED), 6 * 2);
    cr_expect_eq(wt_stat(t.c, "rm", TQ_STAT_RETRIED), 6 * 2);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
    cr_expect(!wt_log_contains(&t, "malformed"), "a payload was read after its reply was freed");
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
}

Test(worker_drain, fail_tasks_retried_then_failed) {
    WT_CHECK(wt_push(t.c, "default", "rf", TQ_KIND_FAIL, 0, 3, 50) == 0, "push failed");
    const char *extra[] = {"--concurrency", "4", NULL};
    WT_CHECK(wt_start_worker(&t, "wf", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rf", 50, 20000), "not done: failed %lld retried %lld",
             wt_stat(t.c, "rf", TQ_STAT_FAILED), wt_stat(t.c, "rf", TQ_STAT_RETRIED));
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "rf", TQ_STAT_FAILED), 50);
    cr_expect_eq(wt_stat(t.c, "rf", TQ_STAT_RETRIED), 100);
    cr_expect_eq(wt_stat(t.c, "rf", TQ_STAT_COMPLETED), 0);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
}

Test(worker_drain, malformed_payloads_counted_failed_worker_stays_up) {
    /* Unreadable run id: counted in the worker's own `failed` and in the
     * --run fallback run ("standalone"), like any payload without a run id. */
    static const char *const no_run[] = {
        "garbage",
        "",
        "[1,2,3]",
        "null",
        "{\"run\":5,\"id\":1,\"kind\":\"noop\",\"enq\":1}",
        "{\"id\":1,\"run\":\"bad run!\",\"kind\":\"noop\",\"enq\":1}",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"noop\",\"enq\":1",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"noop\",\"enq\":1} trailing",
    };
    /* Readable run id: counted failed in run rm too. */
    static const char *const with_run[] = {
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"explode\",\"enq\":1}",
        "{\"id\":\"x\",\"run\":\"rm\",\"kind\":\"noop\",\"enq\":1}",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"noop\"}",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"noop\",\"enq\":-5}",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"noop\",\"enq\":1,\"attempt\":3,\"max_attempts\":2}",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"sleep\",\"arg\":99999999999,\"enq\":1}",
        "{\"id\":1,\"run\":\"rm\",\"kind\":\"cpu\",\"arg\":1.5,\"enq\":1}",
    };
    const int n_no = (int)(sizeof no_run / sizeof no_run[0]);
    const int n_with = (int)(sizeof with_run / sizeof with_run[0]);
    const char binary[] = {'\xff', '\xfe', '\0', '\x01'};

    WT_CHECK(wt_push(t.c, "default", "rm", TQ_KIND_NOOP, 0, 1, 50) == 0, "push failed");
    for (int i = 0; i < n_no; i++)
        WT_CHECK(wt_push_raw(t.c, "default", no_run[i], strlen(no_run[i])) == 0, "push failed");
    WT_CHECK(wt_push_raw(t.c, "default", binary, sizeof binary) == 0, "push failed");
    for (int i = 0; i < n_with; i++)
        WT_CHECK(wt_push_raw(t.c, "default", with_run[i], strlen(with_run[i])) == 0, "push failed");
    WT_CHECK(wt_push(t.c, "default", "rm", TQ_KIND_NOOP, 0, 1, 50) == 0, "push failed");

    const char *extra[] = {"--concurrency", "3", "--heartbeat-interval", "0.2", NULL};
    WT_CHECK(wt_start_worker(&t, "wm", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rm", 100 + n_with, 20000), "not done: completed %lld failed %lld",
             wt_stat(t.c, "rm", TQ_STAT_COMPLETED), wt_stat(t.c, "rm", TQ_STAT_FAILED));
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "rm", TQ_STAT_COMPLETED), 100);
    cr_expect_eq(wt_stat(t.c, "rm", TQ_STAT_FAILED), n_with);
    char hb[TQ_KEY_MAX];
    tq_key_worker(hb, sizeof hb, TQ_DEFAULT_PREFIX, "wm");
    long long all = n_no + 1 + n_with;
    WT_CHECK(wt_wait_hget(t.c, hb, "failed", all, 3000), "heartbeat failed %lld, want %lld",
             wt_hget(t.c, hb, "failed"), all);
    cr_expect_eq(wt_hget(t.c, hb, "failed"), all);
    cr_expect_eq(wt_stat(t.c, "standalone", TQ_STAT_FAILED), n_no + 1,
                 "payloads without a readable run id are counted in --run");
    cr_expect(wt_log_contains(&t, "malformed task"), "malformed payloads not logged");

    /* Still alive, still working. */
    WT_CHECK(tq_test_pid_alive(t.worker), "tqworker died");
    WT_CHECK(wt_push(t.c, "default", "rm", TQ_KIND_NOOP, 0, 1, 10) == 0, "push failed");
    WT_CHECK(wt_wait_done(t.c, "rm", 110 + n_with, 10000), "good tasks after bad ones not done");
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "rm", TQ_STAT_COMPLETED), 110);
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
}

/* A worker restarted with the same --id continues its histograms for the
 * run (it merges its earlier snapshot) and adds to the counters. */
Test(worker_drain, same_id_restart_continues_the_run) {
    const char *extra[] = {"--concurrency", "2", NULL};
    WT_CHECK(wt_push(t.c, "default", "rc", TQ_KIND_NOOP, 0, 1, 300) == 0, "push failed");
    WT_CHECK(wt_start_worker(&t, "wsame", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rc", 300, 10000), "first batch not drained");
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
    WT_CHECK(wt_push(t.c, "default", "rc", TQ_KIND_NOOP, 0, 1, 200) == 0, "push failed");
    WT_CHECK(wt_start_worker(&t, "wsame", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rc", 500, 10000), "second batch not drained");
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
    cr_expect_eq(wt_stat(t.c, "rc", TQ_STAT_COMPLETED), 500);
    expect_histograms("rc", "wsame", 500);
}

/* Queues are popped highest priority first: with one slot, every task of
 * the first queue is done before any of the second starts. */
Test(worker_drain, queues_popped_in_priority_order) {
    WT_CHECK(wt_push(t.c, "lo", "rlo", TQ_KIND_NOOP, 0, 1, 100) == 0, "push failed");
    WT_CHECK(wt_push(t.c, "hi", "rhi", TQ_KIND_NOOP, 0, 1, 100) == 0, "push failed");
    const char *extra[] = {"--queue", "hi,lo", "--concurrency", "1", NULL};
    WT_CHECK(wt_start_worker(&t, "wq", extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rlo", 100, 10000), "lo not drained");
    WT_CHECK(wt_wait_done(t.c, "rhi", 100, 10000), "hi not drained");
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
    char khi[TQ_KEY_MAX], klo[TQ_KEY_MAX];
    tq_key_run_hist(khi, sizeof khi, TQ_DEFAULT_PREFIX, "rhi");
    tq_key_run_hist(klo, sizeof klo, TQ_DEFAULT_PREFIX, "rlo");
    long long hi_last = wt_hget(t.c, khi, "wq:" TQ_HIST_FIELD_LAST_DONE);
    long long lo_first = wt_hget(t.c, klo, "wq:" TQ_HIST_FIELD_FIRST_START);
    cr_expect_gt(hi_last, 0);
    cr_expect_geq(lo_first, hi_last, "a lo task started (%lld) before hi was done (%lld)",
                  lo_first, hi_last);
}

/* The batched drain (--prefetch 100: RPOP key 100 per round trip) at procs
 * worker processes on one queue: exact counts, every completed task in each
 * of the workers' histograms exactly once, an empty queue and nothing in
 * flight, before and after the workers stop. */
static void drain_batched(int procs) {
    const long long n = 30000;
    WT_CHECK(wt_push(t.c, "default", "rb", TQ_KIND_NOOP, 0, 1, (int)n) == 0, "push failed");
    const char *extra[] = {"--prefetch", "100", "--concurrency", "4", NULL};
    char ids[WT_MORE_MAX + 1][16];
    for (int i = 0; i < procs; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d", i + 1);
        pid_t pid = i == 0 ? wt_start_worker(&t, ids[i], extra) : wt_start_more(&t, ids[i], extra);
        WT_CHECK(pid > 0, "cannot start tqworker %s", ids[i]);
    }
    WT_CHECK(wt_wait_done(t.c, "rb", n, 30000), "not drained in 30 s: completed %lld",
             wt_stat(t.c, "rb", TQ_STAT_COMPLETED));
    tq_test_sleep_ms(SETTLE_MS);
    cr_expect_eq(wt_stat(t.c, "rb", TQ_STAT_COMPLETED), n);
    cr_expect_eq(wt_stat(t.c, "rb", TQ_STAT_FAILED), 0);
    cr_expect_eq(wt_stat(t.c, "rb", TQ_STAT_RETRIED), 0);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
    /* The heartbeats (every second) settle on processed summing to n and
     * nothing in flight anywhere. */
    long long processed = 0, inflight = -1;
    for (int tries = 0; tries < 40 && (processed != n || inflight != 0); tries++) {
        tq_test_sleep_ms(100);
        processed = inflight = 0;
        for (int i = 0; i < procs; i++) {
            char key[TQ_KEY_MAX];
            snprintf(key, sizeof key, "tq:worker:%s", ids[i]);
            processed += wt_hget(t.c, key, "processed");
            inflight += wt_hget(t.c, key, "inflight");
        }
    }
    cr_expect_eq(processed, n, "heartbeats' processed sum to %lld", processed);
    cr_expect_eq(inflight, 0, "heartbeats' inflight sum to %lld", inflight);
    const char *suffix[] = {TQ_HIST_FIELD_QUEUE_WAIT, TQ_HIST_FIELD_SERVICE,
                            TQ_HIST_FIELD_END_TO_END};
    for (int h = 0; h < 3; h++) {
        long long sum = 0;
        for (int i = 0; i < procs; i++) {
            long long c = wt_hist_count(t.c, "rb", ids[i], suffix[h]);
            if (c > 0) sum += c; /* -1: a worker that got no task has no snapshot */
        }
        cr_expect_eq(sum, n, "%s histograms count %lld", suffix[h], sum);
    }
    int rc = wt_stop_worker(&t, 5000);
    WT_CHECK(rc == 0, "exit code %d", rc);
    WT_CHECK(wt_stop_more(&t, 5000) == 0, "a further worker did not exit cleanly");
    cr_expect_eq(wt_stat(t.c, "rb", TQ_STAT_COMPLETED), n);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
}

Test(worker_drain, batched_prefetch_100_one_process_exact) {
    drain_batched(1);
}

Test(worker_drain, batched_prefetch_100_three_processes_exact) {
    drain_batched(3);
}

/* Sets Redis's maxmemory (1: every write refused with OOM; 0: none). */
static void set_maxmemory(const char *bytes) {
    redisReply *r = redisCommand(t.c, "CONFIG SET maxmemory %s", bytes);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET maxmemory %s failed", bytes);
    freeReplyObject(r);
}

Test(worker_drain, trace_stamps_each_task_once_across_a_failed_flush) {
    const char *extra[] = {"--concurrency", "20", "--trace", NULL};
    WT_CHECK(wt_start_worker(&t, "wt", extra) > 0, "cannot start tqworker");
    char key[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, "wt");
    WT_CHECK(wt_wait_exists(t.c, key, 1, 5000), "no heartbeat");
    /* 20 tasks of 1 s: all taken at once, all done while Redis refuses
     * writes, so the flushes carrying their counts and stamps fail */
    WT_CHECK(wt_push(t.c, "default", "rt", TQ_KIND_SLEEP, 1000, 1, 20) == 0, "push failed");
    for (int i = 0; i < 100 && wt_queue_len(t.c, "default") > 0; i++) tq_test_sleep_ms(20);
    WT_CHECK(wt_queue_len(t.c, "default") == 0, "the tasks were not all taken");
    set_maxmemory("1");
    tq_test_sleep_ms(1600);
    long long during = wt_stat(t.c, "rt", TQ_STAT_COMPLETED);
    set_maxmemory("0");
    WT_CHECK(during <= 0, "%lld counted while Redis refused writes", during);
    WT_CHECK(wt_log_contains(&t, "flush to"), "no flush failed");
    WT_CHECK(wt_wait_done(t.c, "rt", 20, 10000), "not done: completed %lld",
             wt_stat(t.c, "rt", TQ_STAT_COMPLETED));
    tq_test_sleep_ms(SETTLE_MS);
    tq_key_run_trace(key, sizeof key, TQ_DEFAULT_PREFIX, "rt");
    redisReply *r = redisCommand(t.c, "LRANGE %s 0 -1", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "no trace list");
    cr_assert_eq(r->elements, 20, "%zu stamps for 20 tasks", r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        long long origin, start, done;
        cr_assert_eq(sscanf(r->element[i]->str, "%lld,%lld,%lld", &origin, &start, &done), 3,
                     "malformed stamp %s", r->element[i]->str);
        /* a 1 s task (libuv's timers count ms) */
        cr_expect(origin > 0 && start >= origin && done - start >= 1000000 - 10000,
                  "stamp %s: a 1 s task", r->element[i]->str);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(r->element[i]->str, r->element[j]->str, "stamp %zu twice", i);
    }
    freeReplyObject(r);
    WT_CHECK(wt_stop_worker(&t, 5000) == 0, "unclean exit");
}
