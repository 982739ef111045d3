/* test_reliable.c - tqworker --reliable: after kill -9 the tasks the worker
 * held are in its processing lists (P:processing:<id>:<slot>), never lost:
 * at that instant completed + queued + held == pushed; a worker restarted
 * with the same --id puts them back (heartbeat field requeued) and the run
 * ends with every task counted exactly once, unbatched (BLMOVE) and batched
 * (the take script). Only what was held re-runs: killed while its first
 * tasks run, the lists hold exactly concurrency x prefetch. A graceful stop
 * and a forced one (second SIGTERM) leave the lists empty and the unstarted
 * tasks on the queue; a restart with fewer slots also empties the lists of
 * the slots it no longer has. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "tq_keys.h"
#include "worker_harness.h"

WT_TEST_SUITE(worker_reliable, 90);

/* LLEN summed over the id's processing lists of slots 0..slots-1. */
static long long held(const char *id, int slots) {
    long long n = 0;
    for (int i = 0; i < slots; i++) {
        char key[TQ_KEY_MAX];
        tq_key_processing(key, sizeof key, TQ_DEFAULT_PREFIX, id, i);
        n += tq_test_redis_int(t.c, "LLEN %s", key);
    }
    return n;
}

static void kill9(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    t.worker = 0;
}

/* Pushes n tasks, kills the worker mid-drain, checks nothing is missing at
 * that instant, restarts it with the same id and checks the run completes
 * with each task counted once and the lists empty at the end. */
static void kill9_mid_drain(const char *id, const char *prefetch, enum tq_task_kind kind,
                            int arg, int n, long long kill_after) {
    const int slots = 3;
    WT_CHECK(wt_push(t.c, "default", "rk", kind, arg, 1, n) == 0, "push failed");
    const char *extra[] = {"--reliable", "--concurrency", "3", "--prefetch", prefetch,
                           "--heartbeat-interval", "0.2", NULL};
    pid_t pid = wt_start_worker(&t, id, extra);
    WT_CHECK(pid > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rk", kill_after, 20000), "tasks did not run");
    kill9(pid);

    long long done = wt_stat(t.c, "rk", TQ_STAT_COMPLETED);
    long long queued = wt_queue_len(t.c, "default");
    long long h = held(id, slots);
    /* A task's count and its trim from the list are one MULTI: a task is
     * counted, queued or held, never two of them, never none. */
    cr_expect_eq(done + queued + h, n, "completed %lld + queued %lld + held %lld != pushed %d",
                 done, queued, h, n);
    cr_expect_gt(h, 0, "kill -9 mid-drain left nothing held");
    cr_expect_gt(queued, 0, "the drain was over before the kill");

    char key[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, id);
    pid = wt_start_worker(&t, id, extra);
    WT_CHECK(pid > 0, "cannot restart tqworker");
    WT_CHECK(wt_wait_exists(t.c, key, 1, 5000), "no heartbeat after the restart");
    WT_CHECK(wt_wait_done(t.c, "rk", n, 30000), "run not completed: %lld of %d",
             wt_stat(t.c, "rk", TQ_STAT_COMPLETED), n);
    WT_CHECK(wt_wait_hget(t.c, key, "requeued", h, 5000), "requeued %lld, want %lld",
             wt_hget(t.c, key, "requeued"), h);
    cr_expect_eq(wt_hget(t.c, key, "requeued"), h, "put back more than was held");
    int rc = wt_stop_worker(&t, 10000);
    WT_CHECK(rc == 0, "exit code %d", rc);
    cr_expect_eq(wt_stat(t.c, "rk", TQ_STAT_COMPLETED), n, "each task counted once");
    cr_expect_eq(wt_stat(t.c, "rk", TQ_STAT_FAILED), 0);
    cr_expect_eq(wt_queue_len(t.c, "default"), 0);
    cr_expect_eq(held(id, slots), 0, "processing lists not empty after a graceful stop");
}

Test(worker_reliable, kill9_unbatched_requeued_on_restart) {
    kill9_mid_drain("r1", "1", TQ_KIND_SLEEP, 100, 45, 6);
}

Test(worker_reliable, kill9_batched_requeued_on_restart) {
    kill9_mid_drain("r5", "5", TQ_KIND_SLEEP, 50, 90, 10);
}

Test(worker_reliable, kill9_batched_noop_drain) {
    kill9_mid_drain("r100", "100", TQ_KIND_NOOP, 0, 300000, 2000);
}

/* Killed while its first tasks run: exactly what it took is held (so only
 * those can run twice); a restart with one slot puts back those of all four
 * (the sweep of slots it no longer has); its forced exit (second SIGTERM)
 * puts its own back, and the lists end empty. */
Test(worker_reliable, only_taken_tasks_held_and_forced_exit_empties) {
    const int n = 20;
    WT_CHECK(wt_push(t.c, "default", "rh", TQ_KIND_SLEEP, 3000, 1, n) == 0, "push failed");
    const char *four[] = {"--reliable", "--concurrency", "4", "--prefetch", "2",
                          "--heartbeat-interval", "0.2", NULL};
    pid_t pid = wt_start_worker(&t, "rh", four);
    WT_CHECK(pid > 0, "cannot start tqworker");
    char key[TQ_KEY_MAX];
    tq_key_worker(key, sizeof key, TQ_DEFAULT_PREFIX, "rh");
    WT_CHECK(wt_wait_hget(t.c, key, "inflight", 8, 5000), "tasks not taken: inflight %lld",
             wt_hget(t.c, key, "inflight"));
    kill9(pid);
    cr_expect_eq(wt_stat(t.c, "rh", TQ_STAT_COMPLETED), 0);
    cr_expect_eq(held("rh", 4), 8, "held %lld, want concurrency x prefetch = 8", held("rh", 4));
    cr_expect_eq(wt_queue_len(t.c, "default"), n - 8);

    const char *one[] = {"--reliable", "--concurrency", "1", "--prefetch", "2",
                         "--heartbeat-interval", "0.2", NULL};
    pid = wt_start_worker(&t, "rh", one);
    WT_CHECK(pid > 0, "cannot restart tqworker");
    WT_CHECK(wt_wait_hget(t.c, key, "requeued", 8, 5000), "requeued %lld, want 8",
             wt_hget(t.c, key, "requeued"));
    WT_CHECK(wt_wait_hget(t.c, key, "inflight", 2, 5000), "tasks not taken again");
    cr_expect_eq(held("rh", 4), 2, "held %lld after the restart, want 2", held("rh", 4));
    kill(pid, SIGTERM);
    tq_test_sleep_ms(200);
    kill(pid, SIGTERM);
    int st = 0;
    WT_CHECK(tq_test_wait_pid(pid, 5000, &st), "no exit after a second SIGTERM");
    t.worker = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM, "status %d", st);
    cr_expect_eq(held("rh", 4), 0, "forced exit left tasks in the processing lists");
    cr_expect_eq(wt_stat(t.c, "rh", TQ_STAT_COMPLETED) + wt_queue_len(t.c, "default"), n,
                 "tasks lost at the forced exit");
}

/* One SIGTERM mid-drain: what was taken runs, the lists end empty. */
static void graceful(const char *id, const char *prefetch) {
    const int n = 60;
    WT_CHECK(wt_push(t.c, "default", "rg", TQ_KIND_SLEEP, 50, 1, n) == 0, "push failed");
    const char *extra[] = {"--reliable", "--concurrency", "2", "--prefetch", prefetch, NULL};
    WT_CHECK(wt_start_worker(&t, id, extra) > 0, "cannot start tqworker");
    WT_CHECK(wt_wait_done(t.c, "rg", 4, 10000), "tasks did not run");
    int rc = wt_stop_worker(&t, 10000);
    WT_CHECK(rc == 0, "exit code %d", rc);
    long long done = wt_stat(t.c, "rg", TQ_STAT_COMPLETED);
    cr_expect_eq(done + wt_queue_len(t.c, "default"), n, "completed %lld + queued != %d", done, n);
    cr_expect_eq(held(id, 2), 0, "processing lists not empty after a graceful stop");
}

Test(worker_reliable, graceful_stop_unbatched_empties_lists) {
    graceful("g1", "1");
}

Test(worker_reliable, graceful_stop_batched_empties_lists) {
    graceful("g4", "4");
}

Test(worker_reliable, refuses_several_queues) {
    const char *extra[] = {"--reliable", "--queue", "a,b", NULL};
    WT_CHECK(wt_start_worker(&t, "rq", extra) > 0, "cannot start tqworker");
    int st = 0;
    WT_CHECK(tq_test_wait_pid(t.worker, 5000, &st), "did not exit");
    t.worker = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d, want exit 2", st);
    cr_expect(wt_log_contains(&t, "--reliable"), "the message does not name --reliable");
}
