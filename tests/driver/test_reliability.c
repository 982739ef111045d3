/* test_reliability.c - tqbench never destroys tasks it did not enqueue and
 * stops promptly on a hung Redis (issue "Reliability", defects 1 and 2).
 *
 * Shared queues: an --external run on a queue that already holds others'
 * tasks is refused (exit 2, naming the queue and its length, the tasks left
 * as they were) unless --shared-queue, and then every one of those tasks is
 * still run: the backlog is released beside them, never over them (the
 * release used to RENAME onto the queue, which replaced it). Hung Redis: the
 * embedded redis-server is stopped (SIGSTOP) mid-run and tqbench gets
 * SIGINT: it says so within 2 s, names the cause, and exits with every
 * child reaped (it used to sit out 10 s socket timeouts, 40 s in all).
 * Leftovers of a tqbench killed with SIGKILL (its embedded Redis's
 * directory, a results.json saying "running") are tidied by the next
 * invocation, never those of a live one. A Redis stall that makes a
 * standalone worker abandon its pops is reported in results.json
 * (pops_abandoned) with nothing lost. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

static void command_ok(redisContext *c, const char *what, redisReply *x) {
    cr_assert(x && x->type != REDIS_REPLY_ERROR, "%s: %s", what,
              x ? x->str : (c->err ? c->errstr : "no reply"));
    freeReplyObject(x);
}

static const cJSON *first_run(const cJSON *j) {
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run, "results.json has no run");
    return run;
}

Test(reliability, external_queue_with_foreign_tasks_refused, .timeout = 60,
     .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    for (int i = 0; i < 5; i++)
        command_ok(c, "LPUSH", redisCommand(c, "LPUSH tq:queue:qx foreign-%d", i));
    const char *args[] = {"run",     "--redis", r.url, "--external", "--queue", "qx",
                          "--workers", "1",     "--tasks", "100",    "--warmup", "0",
                          "--out",   d.out,     NULL};
    int64_t t0 = tq_test_now_ms();
    char *log = drv_run_expect(&d, args, 30000, 2);
    cr_assert_lt(tq_test_now_ms() - t0, 10000, "the refusal took longer than 10 s");
    cr_assert(strstr(log, "tq:queue:qx") && strstr(log, "5 task(s)") &&
                  strstr(log, "--shared-queue"),
              "the refusal does not name the queue, its length and the way out:\n%s", log);
    free(log);
    /* untouched, in order */
    cr_assert_eq(tq_test_redis_int(c, "LLEN tq:queue:qx"), 5);
    for (int i = 0; i < 5; i++) {
        redisReply *x = redisCommand(c, "LINDEX tq:queue:qx %d", 4 - i);
        char want[32];
        snprintf(want, sizeof want, "foreign-%d", i);
        cr_assert(x && x->type == REDIS_REPLY_STRING && strcmp(x->str, want) == 0,
                  "element %d is not %s", 4 - i, want);
        freeReplyObject(x);
    }
    /* nothing was created: no results folder either */
    cr_assert(access(d.out, F_OK) != 0, "a refused run created %s", d.out);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* Waits until run `victim` counted want tasks (completed + failed). */
static long long wait_counted(redisContext *c, long long want, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    long long n = 0;
    while (tq_test_now_ms() < deadline) {
        long long done = tq_test_redis_int(c, "HGET tq:run:victim:stats completed");
        long long failed = tq_test_redis_int(c, "HGET tq:run:victim:stats failed");
        n = (done > 0 ? done : 0) + (failed > 0 ? failed : 0);
        if (n >= want) break;
        tq_test_sleep_ms(100);
    }
    return n;
}

Test(reliability, shared_queue_keeps_foreign_tasks, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    char wlog[400], push[320];
    snprintf(wlog, sizeof wlog, "%s/worker.log", d.dir);
    const char *wargv[] = {d.worker, "--redis", r.url, "--queue", "qx", "--id", "wx",
                           "--concurrency", "1", NULL};
    pid_t w = drv_spawn(wargv, wlog);
    cr_assert_gt(w, 0);
    int64_t deadline = tq_test_now_ms() + 10000;
    while (tq_test_redis_int(c, "EXISTS tq:worker:wx") != 1) {
        cr_assert_lt(tq_test_now_ms(), deadline, "the worker sent no heartbeat within 10 s");
        tq_test_sleep_ms(50);
    }
    /* others' tasks: 300 of 5 ms on one slot, so most are still queued when
     * the run releases its backlog */
    tq_test_bin("tqpush", push, sizeof push);
    const char *pargv[] = {push,    "--redis", r.url, "--queue", "qx",  "--run", "victim",
                           "--tasks", "300",   "--kind", "sleep", "--arg", "5", NULL};
    pid_t p = drv_spawn(pargv, wlog);
    int st = 0;
    cr_assert_eq(tq_test_wait_pid(p, 20000, &st), 1, "tqpush did not finish");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tqpush failed");
    const char *args[] = {"run",       "--redis", r.url, "--external", "--shared-queue",
                          "--queue",   "qx",      "--workers", "1",    "--tasks",
                          "2000",      "--warmup", "0",  "--out",      d.out,
                          NULL};
    char *log = drv_run_expect(&d, args, 90000, 0);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = first_run(j);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "completed"), 2000);
    cr_assert_eq(drv_num(run, "lost"), 0);
    cr_assert_eq(drv_num(run, "queued_at_end"), 0);
    double at_start = drv_num(run, "foreign_at_start");
    cr_assert_gt(at_start, 0, "no foreign task was on the queue when the run began: the test "
                              "did not test anything");
    cr_assert_leq(at_start, 300);
    cr_assert_geq(drv_num(run, "foreign_at_end"), 0);
    cr_assert(cJSON_IsTrue(drv_obj(drv_obj(j, "config"), "shared_queue")));
    cJSON_Delete(j);
    /* every one of the others' tasks is still run */
    long long n = wait_counted(c, 300, 30000);
    cr_assert_eq(n, 300, "the others' run counted %lld of its 300 tasks: the rest vanished", n);
    cr_assert_eq(tq_test_redis_int(c, "LLEN tq:queue:qx"), 0);
    drv_stop(w);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* The embedded redis-server among tqbench's children (by /proc's comm of
 * each child pid; nothing is signalled by name). */
static pid_t embedded_redis(pid_t drv) {
    pid_t kids[16];
    for (int tries = 0; tries < 200; tries++) {
        int n = drv_children(drv, kids, 16);
        for (int i = 0; i < n; i++) {
            char path[64], comm[64] = "";
            snprintf(path, sizeof path, "/proc/%d/comm", (int)kids[i]);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
            if (strcmp(comm, "redis-server") == 0) return kids[i];
        }
        tq_test_sleep_ms(50);
    }
    return 0;
}

/* Starts a run of 20,000 tasks of 20 ms on `workers` worker(s) x 10 (and
 * `extra`, more scenario keys) on the embedded Redis, and returns tqbench's
 * pid once the run is under way (its workers up and polling); *redis gets
 * the embedded redis-server's pid. */
static pid_t start_sleepy_run(struct drv *d, int workers, const char *extra, pid_t *redis) {
    char scen[400], text[512];
    snprintf(text, sizeof text,
             "{\"name\": \"t_sleepy\", \"tasks\": 20000, \"workers\": %d, \"concurrency\": 10,"
             " %s\"mix\": [{\"kind\": \"sleep\", \"ms\": 20}], \"timeout_s\": 120}",
             workers, extra);
    drv_write(d, "t_sleepy.json", text, scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--out", d->out, NULL};
    pid_t drv = drv_start(d, args);
    *redis = embedded_redis(drv);
    cr_assert_gt(*redis, 0, "no embedded redis-server among tqbench's children");
    int64_t deadline = tq_test_now_ms() + 20000;
    while (!drv_file_has(d->log, "tasks/s")) {
        cr_assert_lt(tq_test_now_ms(), deadline, "the run did not start within 20 s");
        tq_test_sleep_ms(100);
    }
    return drv;
}

Test(reliability, sigint_with_hung_redis, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    pid_t redis;
    pid_t drv = start_sleepy_run(&d, 2, "", &redis);
    pid_t kids[16];
    int nkids = drv_children(drv, kids, 16);
    cr_assert_eq(kill(redis, SIGSTOP), 0);
    tq_test_sleep_ms(1500); /* tqbench is now waiting on a Redis call */
    int64_t t0 = tq_test_now_ms();
    cr_assert_eq(kill(drv, SIGINT), 0);
    while (!drv_file_has(d.log, "SIGINT received")) {
        cr_assert_lt(tq_test_now_ms() - t0, 2000, "tqbench did not act on SIGINT within 2 s");
        tq_test_sleep_ms(20);
    }
    char *log = drv_wait_expect(&d, drv, 30000, 1);
    int64_t took = tq_test_now_ms() - t0;
    /* the workers' stop grace (7 s) plus a second per Redis call after it */
    cr_assert_lt(took, 15000, "tqbench took %lld ms to exit after SIGINT:\n%s", (long long)took,
                 log);
    cr_assert(strstr(log, "gave up waiting for Redis at unix://") ||
                  strstr(log, "did not answer within"),
              "the error does not name the unresponsive Redis:\n%s", log);
    free(log);
    cr_assert(!tq_test_pid_alive(redis), "the stopped embedded redis-server outlived tqbench");
    for (int i = 0; i < nkids; i++)
        cr_assert(!tq_test_pid_alive(kids[i]), "child pid %d outlived tqbench", kids[i]);
    drv_fini(&d);
}

/* The first directory under dir whose name starts with prefix, into out. */
static int find_entry(const char *dir, const char *prefix, char *out, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(out, n, "%s/%s", dir, e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

/* kill -9 of tqbench leaves its embedded Redis's directory and a
 * results.json saying "running"; the next invocation removes the one and
 * marks the other "abandoned". A live tqbench's are never touched. */
Test(reliability, sigkill_leftovers_swept, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char tmp[400], root[400], scen[400], first[800], redis_dir[800], path[900];
    snprintf(tmp, sizeof tmp, "%s/tmp", d.dir);
    snprintf(root, sizeof root, "%s/results", d.dir);
    cr_assert_eq(mkdir(tmp, 0700), 0);
    setenv("TMPDIR", tmp, 1); /* inherited by the tqbench this test starts */
    drv_write(&d, "t_sleepy.json",
              "{\"name\": \"t_sleepy\", \"tasks\": 20000, \"workers\": 1, \"concurrency\": 10,"
              " \"mix\": [{\"kind\": \"sleep\", \"ms\": 20}], \"timeout_s\": 120}",
              scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--results-root", root, NULL};
    pid_t victim = drv_start(&d, args);
    int64_t deadline = tq_test_now_ms() + 20000;
    while (!drv_file_has(d.log, "tasks/s")) {
        cr_assert_lt(tq_test_now_ms(), deadline, "the run did not start within 20 s");
        tq_test_sleep_ms(100);
    }
    /* a live driver's leftovers-to-be are left alone by another invocation */
    cr_assert(find_entry(tmp, "tqbench-redis-", redis_dir, sizeof redis_dir));
    DIR *rd = opendir(root);
    cr_assert_not_null(rd);
    struct dirent *e;
    first[0] = '\0';
    while ((e = readdir(rd)) != NULL)
        if (e->d_name[0] != '.') snprintf(first, sizeof first, "%s/%s", root, e->d_name);
    closedir(rd);
    cr_assert(first[0], "no results folder under %s", root);
    const char *list[] = {"list", NULL};
    cr_assert_eq(drv_run(&d, list, 20000), 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert_eq(drv_wait(victim, 10000), 128 + SIGKILL);
    snprintf(path, sizeof path, "%s/results.json", first);
    cr_assert(drv_file_has(path, "\"running\""), "results.json does not say running");
    /* the embedded redis-server dies with its driver (a death signal) */
    struct stat st;
    cr_assert_eq(stat(redis_dir, &st), 0, "the embedded Redis directory is already gone");
    /* the next invocation (a short run) sweeps */
    const char *again[] = {"run", "--tasks", "200", "--warmup", "0", "--results-root", root, NULL};
    char *log = drv_run_expect(&d, again, 60000, 0);
    cr_assert(strstr(log, "marked \"abandoned\"") && strstr(log, "embedded Redis directory"),
              "the sweep was not reported:\n%s", log);
    free(log);
    cr_assert_neq(stat(redis_dir, &st), 0, "%s was not removed", redis_dir);
    cJSON *j = NULL;
    char *text = drv_read(path);
    cr_assert_not_null(text);
    j = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(j, "%s is not JSON after the sweep", path);
    cr_assert_str_eq(drv_str(j, "status"), "abandoned");
    cJSON_Delete(j);
    unsetenv("TMPDIR");
    drv_fini(&d);
}

/* The embedded redis-server killed mid-run: the error names it (not "Broken
 * pipe"), and no further run is started on the dead server (--repeat 3
 * records one run). */
Test(reliability, embedded_redis_death_named, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    pid_t redis;
    pid_t drv = start_sleepy_run(&d, 1, "\"repeat\": 3, ", &redis);
    cr_assert_eq(kill(redis, SIGKILL), 0);
    char *log = drv_wait_expect(&d, drv, 30000, 1);
    char expect[96];
    snprintf(expect, sizeof expect, "the embedded redis-server (pid %d) killed by SIGKILL",
             (int)redis);
    cr_assert(strstr(log, expect) && strstr(log, "no further run started"),
              "output does not name the dead server (%s):\n%s", expect, log);
    free(log);
    cJSON *j = drv_results_required(&d);
    cr_assert_eq(cJSON_GetArraySize(drv_obj(j, "runs")), 1, "a run was started on a dead server");
    cr_assert(strstr(drv_str(first_run(j), "error"), expect), "run error: %s",
              drv_str(first_run(j), "error"));
    cr_assert_str_eq(drv_str(j, "status"), "failed");
    cJSON_Delete(j);
    drv_fini(&d);
}

/* A Redis that stalls mid-run (SIGSTOP for 6.5 s) leaves every pop of a
 * standalone worker without a reply: its watchdog drops them after
 * --brpop-timeout + 5 s and counts them in its heartbeat (pops_abandoned).
 * The run's results.json gives them (the difference of the heartbeats
 * read when the measured phase began and before the stop) next to `lost`.
 * When Redis resumes it may still serve a dropped pop before it sees the
 * socket closed, so up to one task per abandoned pop (prefetch 1) can be
 * lost, as WORKER_SETUP.md says: then the run stalls and fails naming it,
 * and `lost` is at most pops_abandoned; else it completes exactly. */
Test(reliability, pops_abandoned_in_results, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    char wlog[400];
    snprintf(wlog, sizeof wlog, "%s/worker.log", d.dir);
    const char *wargv[] = {d.worker, "--redis", r.url, "--queue", "qs", "--id", "ws",
                           "--concurrency", "3", "--brpop-timeout", "0.1",
                           "--heartbeat-interval", "0.5", NULL};
    pid_t w = drv_spawn(wargv, wlog);
    cr_assert_gt(w, 0);
    int64_t deadline = tq_test_now_ms() + 10000;
    while (tq_test_redis_int(c, "EXISTS tq:worker:ws") != 1) {
        cr_assert_lt(tq_test_now_ms(), deadline, "the worker sent no heartbeat within 10 s");
        tq_test_sleep_ms(50);
    }
    /* open loop at 100 tasks/s for 16 s: the stall falls inside it */
    const char *args[] = {"run",     "--redis", r.url,   "--external", "--queue", "qs",
                          "--workers", "1",     "--scenario", "latency", "--rate", "100",
                          "--tasks", "1600",    "--warmup", "0",        "--stall-timeout",
                          "15",      "--out",   d.out,     NULL};
    pid_t drv = drv_start(&d, args);
    cr_assert_gt(drv, 0);
    deadline = tq_test_now_ms() + 20000;
    while (tq_test_redis_int(c, "HGET tq:worker:ws processed") < 100) {
        cr_assert_lt(tq_test_now_ms(), deadline, "the worker ran no 100 tasks of the run");
        tq_test_sleep_ms(50);
    }
    tq_test_sleep_ms(2000);
    cr_assert_eq(kill(r.pid, SIGSTOP), 0, "cannot stop redis-server");
    tq_test_sleep_ms(6500);
    kill(r.pid, SIGCONT);
    int rc = drv_wait(drv, 90000);
    cr_assert(rc == 0 || rc == 1, "tqbench exited %d", rc);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = first_run(j);
    double abandoned = drv_num(run, "pops_abandoned");
    cr_assert_geq(abandoned, 3, "pops_abandoned %.0f in results.json after a 6.5 s stall of "
                                "a worker with 3 slots, want >= 3", abandoned);
    double counted = drv_num(run, "completed") + drv_num(run, "failed");
    double lost = drv_num(run, "lost");
    cr_assert_eq(counted + drv_num(run, "queued_at_end") + lost, 1600,
                 "counted %g + queued + lost %g != 1600", counted, lost);
    if (rc == 0) {
        cr_assert_str_eq(drv_str(run, "status"), "ok");
        cr_assert_eq(drv_num(run, "completed"), 1600);
        cr_assert_eq(lost, 0);
    } else {
        cr_assert_str_eq(drv_str(run, "status"), "failed");
        cr_assert(strstr(drv_str(run, "error"), "stalled"), "error: %s", drv_str(run, "error"));
        cr_assert(lost > 0 && lost <= abandoned, "lost %g with %g abandoned pops of one task",
                  lost, abandoned);
    }
    cJSON_Delete(j);
    cr_assert(drv_file_has(wlog, "a pop was in flight on the lost link"), "not logged");
    drv_stop(w);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}
