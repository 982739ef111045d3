/* test_rq.c - the rq and rq-simple frameworks (bench/frameworks/rq.c) with
 * Debian's python3-rq, which scripts/bootstrap installs. The suite rq_real
 * (CTest driver_rq_real) is SKIPPED, with the reason, when /usr/bin/python3
 * cannot import rq; the suite rq (driver_rq) needs nothing.
 *
 *  - encode / queue key / run marker, without RQ;
 *  - runs: rq-simple drains 2,000 noop jobs, rq (one fork per job, ~90
 *    jobs/s per process) 200, each with the scenario's concurrency 10 as ten
 *    RQ worker processes, with exact counts, one stamp per completed job,
 *    RQ's own counters agreeing (the adapter's verify; a mismatch fails the
 *    run) and no process left, checked by pid; concurrency 3 as three
 *    processes with three heartbeats; the retries scenario on rq-simple
 *    with RQ's Retry; the multi-queue scenario on both, exact per queue;
 *  - fidelity: a job written by the adapter's enqueue_batch has the same
 *    field names as one enqueued by RQ's own Queue.enqueue, reads back
 *    through RQ's Job.fetch as the same call, and is accepted and run by
 *    RQ's own worker command line (the adapter's argv, --burst). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "driver_harness.h"
#include "framework.h"
#include "tq_testutil.h"

#define RQ_PY "/usr/bin/python3"

/* Without RQ: the adapter's data and marker, as RQ's JSONSerializer reads
 * them and as its registry entries are named. */
Test(rq, encode_and_marker) {
    struct fw_run fr;
    memset(&fr, 0, sizeof fr);
    snprintf(fr.run_id, sizeof fr.run_id, "r1");
    snprintf(fr.queue, sizeof fr.queue, "r1");
    struct tq_task t = {.id = 3, .kind = TQ_KIND_CPU, .arg = 250, .max_attempts = 1};
    snprintf(t.run, sizeof t.run, "r1");
    char buf[256];
    int n = tq_framework_rq.encode(&fr, &t, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_eq(strncmp(buf, "[\"tqbench_rq_tasks.cpu\", null, [250], {}]", (size_t)n), 0,
                 "%.*s", n, buf);
    t.kind = TQ_KIND_NOOP;
    t.pad_len = 3;
    n = tq_framework_rq_simple.encode(&fr, &t, buf, sizeof buf);
    cr_assert_eq(strncmp(buf, "[\"tqbench_rq_tasks.noop\", null, [], {\"pad\": \"xxx\"}]",
                         (size_t)n), 0, "%.*s", n, buf);
    cr_assert_eq(tq_framework_rq.encode(&fr, &t, buf, 20), -1, "too small a buffer");
    n = tq_framework_rq.queue_key(&fr, buf, sizeof buf);
    cr_assert_str_eq(buf, "rq:queue:r1");
    n = tq_framework_rq.run_marker(&fr, buf, sizeof buf);
    cr_assert_eq(strncmp(buf, "tq:r1:", (size_t)n), 0);
    cr_assert_eq(fw_caps(&tq_framework_rq), fw_caps(&tq_framework_rq_simple));
}

static void require_rq(void) {
    if (access(RQ_PY, X_OK) != 0) cr_skip_test(RQ_PY " not found: rq cannot run");
    if (system(RQ_PY " -c 'import rq, redis' >/dev/null 2>&1") != 0)
        cr_skip_test("python3-rq does not import under " RQ_PY
                     " (scripts/bootstrap installs it)");
}

/* One run of fw on n tasks of scenario; asserts exact counts, latency and
 * no process left (drv_run_checked). */
static void run_exact(const char *fw, const char *scenario, long n, long want_failed,
                      long want_retried) {
    struct drv d;
    char tasks[32];
    drv_init(&d);
    snprintf(tasks, sizeof tasks, "%ld", n);
    const char *args[] = {"run", "--framework", fw, "--scenario", scenario, "--tasks", tasks,
                          "--warmup", "20", "--out", d.out, "--quiet", NULL};
    struct drv_expect want = {fw, n - want_failed, want_failed, want_retried};
    cJSON *j = drv_run_checked(&d, args, 200000, &want, NULL);
    /* the scenarios' concurrency 10: ten RQ worker processes */
    pid_t pids[16];
    int np = drv_result_pids(j, pids, 16);
    cr_assert_eq(np, 11, "expected the redis pid and 10 worker pids, got %d", np);
    cJSON_Delete(j);
    drv_fini(&d);
}

/* Concurrency 3 on one worker: three RQ worker processes (one job at a
 * time each), each with its own heartbeat (the per-worker settings come
 * from them), all counted, none left running (by pid). */
Test(rq_real, concurrency_as_processes, .timeout = 200, .fini = drv_cleanup) {
    require_rq();
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run", "--framework", "rq", "--tasks", "150", "--warmup", "0",
                          "--workers", "1", "--concurrency", "3", "--out", d.out, "--quiet", NULL};
    struct drv_expect want = {"rq", 150, 0, 0};
    cJSON *j = drv_run_checked(&d, args, 200000, &want, NULL);
    const cJSON *run = drv_first_run(j), *set = drv_obj(run, "settings");
    cr_assert_eq(drv_num(set, "worker_processes"), 3);
    cr_assert_eq(drv_num(set, "tasks_per_process"), 1);
    cr_assert_str_eq(drv_str(set, "concurrency_as"), "processes");
    cr_assert_eq(drv_num(set, "workers"), 3, "three heartbeats read");
    cr_assert_eq(drv_num(set, "concurrency"), 1, "each heartbeat says one job at a time");
    cr_assert_eq(drv_num(drv_obj(set, "requested"), "concurrency"), 3);
    const cJSON *per = drv_obj(set, "per_worker"), *w;
    cr_assert_eq(cJSON_GetArraySize(per), 3);
    cJSON_ArrayForEach(w, per) {
        cr_assert_str_eq(drv_str(w, "protocol"), "rq");
        cr_assert_eq(drv_num(w, "concurrency"), 1);
        cr_assert(strncmp(drv_str(w, "version"), "rq-", 3) == 0, "%s", drv_str(w, "version"));
    }
    pid_t pids[8];
    int np = drv_result_pids(j, pids, 8);
    cr_assert_eq(np, 4, "expected the redis pid and 3 worker pids, got %d", np);
    for (int a = 1; a < np; a++)
        for (int b = a + 1; b < np; b++) cr_assert_neq(pids[a], pids[b], "two workers, one pid");
    cJSON_Delete(j);
    drv_fini(&d);
}

Test(rq_real, simple_exact_counts, .timeout = 200, .fini = drv_cleanup) {
    require_rq();
    run_exact("rq-simple", "throughput", 2000, 0, 0);
}

Test(rq_real, forking_exact_counts, .timeout = 200, .fini = drv_cleanup) {
    require_rq();
    run_exact("rq", "throughput", 200, 0, 0);
}

/* The multi-queue scenario (drv_write_mq_scenario: 100 tasks split 1:1:8,
 * one job at a time) for fw: each queue's exact count and RQ's strict
 * priority observed. */
static void multi_queue_exact(const char *fw) {
    struct drv d;
    char path[400];
    drv_init(&d);
    drv_write_mq_scenario(&d, path, sizeof path);
    const char *args[] = {"run", "--framework", fw, "--scenario", path, "--out", d.out, "--quiet",
                          NULL};
    struct drv_expect want = {fw, 100, 0, 0};
    cJSON *j = drv_run_checked(&d, args, 200000, &want, NULL);
    drv_check_mq(drv_first_run(j), "strict priority");
    cJSON_Delete(j);
    drv_fini(&d);
}

Test(rq_real, simple_multi_queue, .timeout = 200, .fini = drv_cleanup) {
    require_rq();
    multi_queue_exact("rq-simple");
}

Test(rq_real, forking_multi_queue, .timeout = 200, .fini = drv_cleanup) {
    require_rq();
    multi_queue_exact("rq");
}

/* retries.json: 20% fail tasks with 3 attempts; the mix is drawn per task,
 * so the figures are checked for consistency, not fixed values. */
Test(rq_real, simple_retries, .timeout = 200, .fini = drv_cleanup) {
    require_rq();
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run", "--framework", "rq-simple", "--scenario", "retries", "--tasks",
                          "300", "--warmup", "0", "--out", d.out, "--quiet", NULL};
    char *log = drv_run_expect(&d, args, 200000, 0);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    long c = (long)drv_num(run, "completed"), f = (long)drv_num(run, "failed");
    long r = (long)drv_num(run, "retried");
    cr_assert_eq(c + f, 300);
    cr_assert(f > 0, "some fail tasks expected");
    cr_assert_eq(r, 2 * f, "each failed job was retried twice (RQ's Retry) before failing");
    cJSON_Delete(j);
    drv_fini(&d);
}

/* Runs argv with env entries added, waits up to timeout_s; returns the
 * exit status (or -1 on a timeout, the process killed). */
static int run_with_env(const char *const *argv, const char *const *env, const char *out_path,
                        int timeout_s) {
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork");
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
        FILE *f = freopen(out_path, "w", stdout);
        if (f) dup2(fileno(stdout), 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < timeout_s * 10; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

Test(rq_real, fidelity_and_accepted_by_rq_worker, .timeout = 120, .fini = drv_cleanup) {
    require_rq();
    struct tq_test_redis redis;
    redisContext *c = drv_redis_start_connected(&redis);
    struct drv d;
    drv_init(&d);
    char err[256];

    /* the adapter's own enqueue: one sleep 1 task, 2-byte pad, 3 attempts */
    struct fw_run fr;
    memset(&fr, 0, sizeof fr);
    snprintf(fr.run_id, sizeof fr.run_id, "fid");
    snprintf(fr.prefix, sizeof fr.prefix, "tq");
    snprintf(fr.queue, sizeof fr.queue, "fid");
    snprintf(fr.redis_url, sizeof fr.redis_url, "%s", redis.url);
    snprintf(fr.redis_url_safe, sizeof fr.redis_url_safe, "%s", redis.url);
    drv_frameworks_dir(fr.frameworks_dir, sizeof fr.frameworks_dir);
    fr.workers = fr.concurrency = fr.prefetch = 1;
    fr.heartbeat_interval_s = 1;
    const struct tq_framework *fw = &tq_framework_rq_simple;
    struct tq_task t = {.id = 7, .kind = TQ_KIND_SLEEP, .arg = 1, .max_attempts = 3,
                        .pad_len = 2};
    snprintf(t.run, sizeof t.run, "fid");
    t.enqueued_us = t.scheduled_us = 0;
    t.enqueued_us = 1764423600123456;
    char payload[512], qkey[TQ_KEY_MAX];
    int plen = fw->encode(&fr, &t, payload, sizeof payload);
    cr_assert_gt(plen, 0);
    cr_assert_gt(fw->queue_key(&fr, qkey, sizeof qkey), 0);
    void *state = NULL;
    cr_assert_eq(fw->prepare(&fr, c, &state, err, sizeof err), 0, "prepare: %s", err);
    const char *slots[3] = {NULL, NULL, payload};
    size_t lens[3] = {0, 0, (size_t)plen};
    int ncmd = fw->enqueue_batch(&fr, state, c, qkey, &t, slots + 2, lens + 2, 1, err, sizeof err);
    cr_assert_eq(ncmd, 2, "enqueue_batch: %s", err);
    for (int i = 0; i < ncmd; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s", r->str);
        freeReplyObject(r);
    }

    /* RQ's own client, next to it */
    char script[FW_PATH_MAX + 64], out_path[400];
    snprintf(script, sizeof script, "%s/rq/fidelity.py", fr.frameworks_dir);
    snprintf(out_path, sizeof out_path, "%s/fidelity.out", d.dir);
    const char *pargv[] = {RQ_PY, script, redis.url, "fid", "tq:fid:7", NULL};
    cr_assert_eq(run_with_env(pargv, NULL, out_path, 60), 0, "fidelity.py: %s",
                 drv_read(out_path));
    char *out = drv_read(out_path);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "fidelity.py output: %s", out);
    const cJSON *rq = drv_obj(j, "rq"), *tq = drv_obj(j, "tq");
    /* same field names, both ways */
    const cJSON *e;
    cJSON_ArrayForEach(e, rq) cr_assert(cJSON_GetObjectItemCaseSensitive(tq, e->string),
                                        "RQ writes field %s, tqbench does not", e->string);
    cJSON_ArrayForEach(e, tq) cr_assert(cJSON_GetObjectItemCaseSensitive(rq, e->string),
                                        "tqbench writes field %s, RQ does not", e->string);
    /* the same values where they do not depend on time or id */
    const char *same[] = {"data", "description", "origin", "status", "result_ttl", "timeout",
                          "retries_left", "retry_intervals", "success_callback_name",
                          "failure_callback_name", "started_at", "ended_at", "worker_name"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        cr_assert_str_eq(drv_str(tq, same[i]), drv_str(rq, same[i]), "field %s", same[i]);
    cr_assert_eq(strlen(drv_str(tq, "created_at")), strlen(drv_str(rq, "created_at")));
    cr_assert_str_eq(drv_str(tq, "created_at"), "2025-11-29T13:40:00.123456Z");
    /* read back through RQ's Job the same, but for meta (tqbench's fields) */
    const cJSON *rj = drv_obj(j, "rq_job"), *tj = drv_obj(j, "tq_job");
    cJSON_ArrayForEach(e, rj) {
        if (strcmp(e->string, "meta") == 0) continue;
        cr_assert(cJSON_Compare(e, cJSON_GetObjectItemCaseSensitive(tj, e->string), 1),
                  "Job.%s differs: RQ %s, tqbench %s", e->string, cJSON_PrintUnformatted(e),
                  cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(tj, e->string)));
    }
    cr_assert_eq(drv_num(drv_obj(tj, "meta"), "tqbench_enq_us"), 1764423600123456.0);
    cJSON_Delete(j);
    free(out);

    /* RQ's own worker (the adapter's argv, --burst) runs both jobs */
    struct fw_argv wa;
    cr_assert_eq(fw->worker_argv(&fr, 0, "fid.w0", &wa, err, sizeof err), 0, "%s", err);
    const char *bargv[FW_ARGV_MAX + 2];
    int k = 0;
    for (int i = 0; i < wa.argc; i++) {
        bargv[k++] = wa.argv[i];
        if (strcmp(wa.argv[i], "worker") == 0) bargv[k++] = "--burst";
    }
    bargv[k] = NULL;
    snprintf(out_path, sizeof out_path, "%s/worker.out", d.dir);
    cr_assert_eq(run_with_env(bargv, wa.env, out_path, 60), 0, "rq worker --burst: %s",
                 drv_read(out_path));
    cJSON *stats = drv_hash_json(c, "tq:run:fid:stats");
    cr_assert_str_eq(drv_str(stats, "completed"), "1", "the hook counted tqbench's job");
    cJSON_Delete(stats);
    cJSON *stats2 = drv_hash_json(c, "tq:run:fidelity:stats");
    cr_assert_str_eq(drv_str(stats2, "completed"), "1", "and RQ's own (its meta's run)");
    cJSON_Delete(stats2);
    cJSON *wk = drv_hash_json(c, "rq:worker:fid.w0");
    cr_assert_str_eq(drv_str(wk, "successful_job_count"), "2", "RQ ran both jobs");
    cJSON_Delete(wk);
    redisReply *r = redisCommand(c, "EXISTS rq:job:tq:fid:7");
    cr_assert_eq(r->integer, 0, "result_ttl 0: RQ deleted the finished job");
    freeReplyObject(r);
    r = redisCommand(c, "LLEN tq:run:fid:stamps");
    cr_assert_eq(r->integer, 1, "one stamp");
    freeReplyObject(r);

    fw->finish(&fr, c, state);
    redisFree(c);
    drv_redis_stop(&redis);
    drv_fini(&d);
}
