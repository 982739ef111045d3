/* test_dup_id.c - tqworker's claim on its --id: a second worker started with
 * the id of a live one exits 2 within seconds, naming the id and the first
 * one's pid, and pops nothing; of two started at the same instant exactly
 * one wins; a worker restarted with the id of one that was kill -9'ed (its
 * heartbeat still there, within the TTL) takes the heartbeat over and
 * works; a worker whose heartbeat is taken by another process while it runs
 * stops with exit code 2 and leaves the other's heartbeat alone.
 *
 * These tests start more than one worker, so the suite is not WT_TEST_SUITE:
 * every pid started here is tracked in `extra` and stopped by pid in the
 * suite's .fini, also after a failed assertion. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tq_keys.h"
#include "worker_harness.h"

#define MAX_EXTRA 4

static struct wt t;
static pid_t extra[MAX_EXTRA];
static char extra_log[MAX_EXTRA][400];

static void dup_init(void) {
    memset(extra, 0, sizeof extra);
    cr_assert_eq(wt_setup(&t), 0, "redis-server did not start");
}

static void dup_fini(void) {
    for (int i = 0; i < MAX_EXTRA; i++)
        if (extra[i] > 0) tq_test_stop_pid(extra[i], 5000);
    wt_teardown(&t);
}

TestSuite(worker_dup_id, .init = dup_init, .fini = dup_fini, .timeout = 60);

/* Starts a tracked tqworker --id id (slot i) with its own log. */
static pid_t start_extra(int i, const char *id, const char *const *args) {
    char bin[512];
    const char *argv[32];
    int n = 0;
    argv[n++] = tq_test_bin("tqworker", bin, sizeof bin);
    argv[n++] = "--redis";
    argv[n++] = t.redis.url;
    argv[n++] = "--id";
    argv[n++] = id;
    for (int k = 0; args && args[k] && n < 31; k++) argv[n++] = args[k];
    argv[n] = NULL;
    snprintf(extra_log[i], sizeof extra_log[i], "%s/worker-%s-%d.log", t.redis.dir, id, i);
    extra[i] = tq_test_spawn(argv, extra_log[i]);
    cr_assert_gt(extra[i], 0, "cannot start tqworker");
    return extra[i];
}

/* Waits up to timeout_ms for the tracked worker i to exit: its exit code
 * (128+N when killed by signal N), or -1 when it still runs. */
static int wait_extra(int i, int timeout_ms) {
    int st = 0;
    if (!tq_test_wait_pid(extra[i], timeout_ms, &st)) return -1;
    extra[i] = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return buf ? buf : strdup("");
}

static void heartbeat_key(const char *id, char *key, size_t n) {
    tq_key_worker(key, n, TQ_DEFAULT_PREFIX, id);
}

/* Polls until HGET key pid equals pid; returns 1, or 0 at the deadline. */
static int wait_beat_pid(const char *key, pid_t pid, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    while (wt_hget(t.c, key, "pid") != pid) {
        if (tq_test_now_ms() >= deadline) return 0;
        tq_test_sleep_ms(20);
    }
    return 1;
}

Test(worker_dup_id, second_worker_with_live_id_exits_2) {
    char key[TQ_KEY_MAX];
    heartbeat_key("dup", key, sizeof key);
    pid_t first = wt_start_worker(&t, "dup", NULL);
    WT_CHECK(first > 0, "cannot start tqworker");
    WT_CHECK(wait_beat_pid(key, first, 5000), "no heartbeat of the first worker within 5 s");

    int64_t t0 = tq_test_now_ms();
    start_extra(0, "dup", NULL);
    int rc = wait_extra(0, 5000);
    char *log = slurp(extra_log[0]);
    cr_assert_eq(rc, 2, "second worker with a live id: exit %d, want 2 within 5 s; log:\n%s", rc,
                 log);
    cr_expect_lt(tq_test_now_ms() - t0, 5000);
    char want[64];
    snprintf(want, sizeof want, "pid %d", (int)first);
    cr_expect(strstr(log, "worker id dup is in use"), "the message does not name the id:\n%s", log);
    cr_expect(strstr(log, want), "the message does not name the first worker's %s:\n%s", want, log);
    cr_expect(strstr(log, "expires in"), "the message does not say when it expires:\n%s", log);
    free(log);

    /* the first one is untouched: its heartbeat, and it still works */
    WT_CHECK(tq_test_pid_alive(first), "the first worker died");
    cr_expect_eq(wt_hget(t.c, key, "pid"), first, "the heartbeat no longer names the first");
    WT_CHECK(wt_push(t.c, "default", "dr", TQ_KIND_NOOP, 0, 1, 50) == 0, "push failed");
    WT_CHECK(wt_wait_done(t.c, "dr", 50, 5000), "the first worker did not drain the tasks");
    int stop = wt_stop_worker(&t, 5000);
    WT_CHECK(stop == 0, "first worker: exit %d", stop);
}

Test(worker_dup_id, simultaneous_start_one_wins) {
    char key[TQ_KEY_MAX];
    heartbeat_key("twin", key, sizeof key);
    /* both connect within a millisecond or two of each other */
    const char *args[] = {"--heartbeat-interval", "0.2", NULL};
    pid_t a = start_extra(0, "twin", args);
    pid_t b = start_extra(1, "twin", args);
    int64_t deadline = tq_test_now_ms() + 5000;
    int ra = -1, rb = -1;
    while (ra < 0 && rb < 0 && tq_test_now_ms() < deadline) {
        ra = wait_extra(0, 50);
        if (ra < 0) rb = wait_extra(1, 50);
    }
    cr_assert((ra == 2) != (rb == 2), "want one of the two to exit 2: exits %d and %d", ra, rb);
    int w = ra == 2 ? 1 : 0;
    pid_t winner = w ? b : a;
    /* the winner keeps its id over several beats, and it was never lost */
    tq_test_sleep_ms(700);
    cr_assert(tq_test_pid_alive(winner), "the winner exited too");
    cr_expect_eq(wt_hget(t.c, key, "pid"), winner);
    kill(winner, SIGTERM);
    int rc = wait_extra(w, 5000);
    cr_expect_eq(rc, 0, "the winner: exit %d", rc);
    cr_expect_eq(tq_test_redis_int(t.c, "EXISTS %s", key), 0, "heartbeat left behind");
}

Test(worker_dup_id, restart_after_kill9_takes_the_heartbeat_over) {
    char key[TQ_KEY_MAX];
    heartbeat_key("phoenix", key, sizeof key);
    /* TTL 15 s: the dead worker's heartbeat is surely still there */
    const char *args[] = {"--heartbeat-interval", "5", NULL};
    pid_t old = start_extra(0, "phoenix", args);
    cr_assert(wait_beat_pid(key, old, 5000), "no heartbeat within 5 s");
    kill(old, SIGKILL);
    cr_assert_eq(wait_extra(0, 5000), 128 + SIGKILL);
    cr_assert_eq(wt_hget(t.c, key, "pid"), old, "the killed worker's heartbeat is gone already");

    pid_t pid = wt_start_worker(&t, "phoenix", args);
    WT_CHECK(pid > 0, "cannot start tqworker");
    WT_CHECK(wait_beat_pid(key, pid, 3000), "the restarted worker did not take the heartbeat");
    WT_CHECK(wt_log_contains(&t, "taking over the heartbeat"), "no line saying it took over");
    long long pttl = tq_test_redis_int(t.c, "PTTL %s", key);
    cr_expect(pttl > 0 && pttl <= 15000, "PTTL %lld", pttl);
    WT_CHECK(wt_push(t.c, "default", "rp", TQ_KIND_NOOP, 0, 1, 50) == 0, "push failed");
    WT_CHECK(wt_wait_done(t.c, "rp", 50, 5000), "the restarted worker did not drain the tasks");
    int rc = wt_stop_worker(&t, 5000);
    WT_CHECK(rc == 0, "exit %d", rc);
    cr_expect_eq(tq_test_redis_int(t.c, "EXISTS %s", key), 0, "heartbeat left behind");
}

Test(worker_dup_id, id_taken_while_running_stops_with_2) {
    char key[TQ_KEY_MAX], reg[TQ_KEY_MAX];
    heartbeat_key("taken", key, sizeof key);
    tq_key_workers(reg, sizeof reg, TQ_DEFAULT_PREFIX);
    const char *args[] = {"--heartbeat-interval", "0.2", NULL};
    pid_t pid = wt_start_worker(&t, "taken", args);
    WT_CHECK(pid > 0, "cannot start tqworker");
    WT_CHECK(wait_beat_pid(key, pid, 5000), "no heartbeat within 5 s");

    /* another process's heartbeat replaces it, as after a Redis restart
     * that lost it and a second worker that claimed the id meanwhile */
    redisReply *r = redisCommand(t.c, "HSET %s pid 999999 host otherhost started_us 1", key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "HSET failed");
    freeReplyObject(r);
    r = redisCommand(t.c, "PEXPIRE %s 30000", key);
    freeReplyObject(r);

    int st = 0;
    WT_CHECK(tq_test_wait_pid(pid, 5000, &st), "the worker did not stop within 5 s");
    t.worker = 0;
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "wait status 0x%x, want exit 2", st);
    WT_CHECK(wt_log_contains(&t, "was taken while this worker ran by pid 999999 on host otherhost"),
             "no error naming the other worker");
    cr_expect_eq(wt_hget(t.c, key, "pid"), 999999, "the other's heartbeat was overwritten");
    cr_expect_eq(tq_test_redis_int(t.c, "SISMEMBER %s taken", reg), 1,
                 "the other's registry entry was removed");
}
