/* test_asynctasq.c - the asynctasq framework (bench/frameworks/asynctasq.c)
 * without AsyncTasQ: CI's Debian 12 has Python 3.11 and AsyncTasQ needs
 * 3.12 and PyPI packages, so what needs the real worker is a separate test
 * (asynctasq_real, CTest driver_asynctasq_real) that is SKIPPED, with the
 * reason, unless TQ_ASYNCTASQ_PYTHON names a Python that imports asynctasq.
 *
 * Here:
 *  - availability: a stand-in --asynctasq-python that is a Python without
 *    asynctasq (/usr/bin/python3) makes `--framework all` skip asynctasq with
 *    the exact reason in results.json, and `--framework asynctasq` exit 2
 *    with it; a path that does not exist likewise;
 *  - the refusal to start on a non-empty queue or processing list (before
 *    any worker, so --external shows it without AsyncTasQ), naming both
 *    keys, and --force getting past it;
 *  - the producer's payloads: the adapter's encode (linked from tqbenchlib)
 *    decodes with tq_atq_decode into the same task, with tqbench's fields. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "driver_harness.h"
#include "framework.h"
#include "tq_asynctasq.h"
#include "tq_testutil.h"

#define STANDIN "/usr/bin/python3"
#define STANDIN_REASON                                                                            \
    "asynctasq does not import under " STANDIN " (exited 1; AsyncTasQ needs Python >= 3.12: "    \
    "pass --asynctasq-python with the python of a virtualenv that has it)"

/* The stand-in must really lack asynctasq, or the expected reason is wrong. */
static void require_standin(void) {
    if (access(STANDIN, X_OK) != 0) cr_skip_test(STANDIN " not found");
    if (system(STANDIN " -c 'import asynctasq' >/dev/null 2>&1") == 0)
        cr_skip_test(STANDIN " imports asynctasq: it is no stand-in here");
}

Test(asynctasq, standin_skipped_for_all_with_reason, .timeout = 120, .fini = drv_cleanup) {
    require_standin();
    struct drv d;
    drv_init(&d);
    /* native alone keeps it short: all = native, celery, asynctasq; celery
     * may be skipped too on a machine without it */
    const char *args[] = {"run", "--framework", "all", "--asynctasq-python", STANDIN, "--tasks",
                          "200", "--warmup", "0", "--out", d.out, "--quiet", NULL};
    char *log = drv_run_expect(&d, args, 100000, 0);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *skipped = drv_obj(j, "skipped_frameworks");
    const cJSON *e, *mine = NULL;
    cJSON_ArrayForEach(e, skipped) {
        if (strcmp(drv_str(e, "framework"), "asynctasq") == 0) mine = e;
    }
    cr_assert_not_null(mine, "asynctasq not in skipped_frameworks");
    cr_assert_str_eq(drv_str(mine, "reason"), STANDIN_REASON);
    const cJSON *run;
    cJSON_ArrayForEach(run, drv_obj(j, "runs")) {
        cr_assert_str_neq(drv_str(run, "framework"), "asynctasq", "a skipped framework ran");
    }
    cJSON_Delete(j);
    drv_fini(&d);
}

Test(asynctasq, standin_named_is_exit_2, .timeout = 60, .fini = drv_cleanup) {
    require_standin();
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run", "--framework", "asynctasq", "--asynctasq-python", STANDIN,
                          "--tasks", "10", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 30000, 2);
    cr_assert(strstr(log, "--framework asynctasq is not available: " STANDIN_REASON),
              "output: %s", log);
    free(log);
    cr_assert_null(drv_results(&d), "nothing may start: no results.json");
    drv_fini(&d);
}

Test(asynctasq, missing_python_is_exit_2, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no-such-python", d.dir);
    const char *args[] = {"run", "--framework", "asynctasq", "--asynctasq-python", missing,
                          "--tasks", "10", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 30000, 2);
    cr_assert(strstr(log, "--framework asynctasq is not available: cannot run "), "output: %s",
              log);
    cr_assert(strstr(log, missing), "the path is named: %s", log);
    free(log);
    drv_fini(&d);
}

/* The run's error in results.json. */
static char *run_error(const struct drv *d) {
    cJSON *j = drv_results_required(d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run, "results.json has no run");
    cr_assert_str_eq(drv_str(run, "status"), "failed");
    char *err = strdup(drv_str(run, "error"));
    cJSON_Delete(j);
    return err;
}

/* --external: prepare runs before the driver looks for workers, so the
 * refusal needs no AsyncTasQ. --shared-queue gets past the driver's own
 * refusal of a non-empty external queue; AsyncTasQ's per-queue counters
 * still need --force. */
Test(asynctasq, nonempty_queue_refused_naming_both_lists, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    cr_assert_eq(tq_test_redis_int(c, "RPUSH queue:atq1 a b"), 2);
    cr_assert_eq(tq_test_redis_int(c, "RPUSH queue:atq1:processing p"), 1);
    drv_set_out(&d, "refused");
    const char *args[] = {"run", "--external", "--shared-queue", "--queue", "atq1", "--framework",
                          "asynctasq", "--redis", r.url, "--workers", "1", "--health-timeout", "1",
                          "--tasks", "10", "--warmup", "0", "--out", d.out, "--quiet", NULL};
    char *log = drv_run_expect(&d, args, 30000, 1);
    free(log);
    char *err = run_error(&d);
    cr_assert(strstr(err, "queue:atq1 holds 2 task(s) and queue:atq1:processing holds 1"),
              "error: %s", err);
    cr_assert(strstr(err, "--force"), "the way out is named: %s", err);
    free(err);
    /* the processing list alone is reason enough */
    cr_assert_eq(tq_test_redis_int(c, "DEL queue:atq1"), 1);
    drv_set_out(&d, "processing-only");
    const char *args2[] = {"run", "--external", "--queue", "atq1", "--framework", "asynctasq",
                           "--redis", r.url, "--workers", "1", "--health-timeout", "1", "--tasks",
                           "10", "--warmup", "0", "--out", d.out, "--quiet", NULL};
    log = drv_run_expect(&d, args2, 30000, 1);
    free(log);
    err = run_error(&d);
    cr_assert(strstr(err, "queue:atq1 holds 0 task(s) and queue:atq1:processing holds 1"),
              "error: %s", err);
    free(err);
    /* refusing deletes nothing: the tasks are someone else's */
    cr_assert_eq(tq_test_redis_int(c, "LLEN queue:atq1:processing"), 1);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(asynctasq, force_gets_past_the_refusal, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    cr_assert_eq(tq_test_redis_int(c, "RPUSH queue:atq2:processing p"), 1);
    const char *args[] = {"run", "--external", "--force", "--queue", "atq2", "--framework",
                          "asynctasq", "--redis", r.url, "--workers", "1", "--health-timeout",
                          "1", "--tasks", "10", "--warmup", "0", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 30000, 1);
    cr_assert(strstr(log, "asynctasq: --force: queue:atq2 holds 0 task(s) and "
                          "queue:atq2:processing holds 1"),
              "the warning names both: %s", log);
    free(log);
    /* it got as far as looking for workers (there are none here) */
    char *err = run_error(&d);
    cr_assert(strstr(err, "with protocol asynctasq"), "error: %s", err);
    cr_assert_null(strstr(err, "pass --force"), "error: %s", err);
    free(err);
    cr_assert_eq(tq_test_redis_int(c, "LLEN queue:atq2:processing"), 1);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* A fw_run as the driver fills it for a spawned run. */
static void fill_run(struct fw_run *fr) {
    memset(fr, 0, sizeof *fr);
    snprintf(fr->run_id, sizeof fr->run_id, "throughput.asynctasq.1.abc123");
    snprintf(fr->queue, sizeof fr->queue, "%s", fr->run_id);
    snprintf(fr->prefix, sizeof fr->prefix, "tq");
    snprintf(fr->redis_url, sizeof fr->redis_url, "redis://:s3cret@127.0.0.1:6390/2");
    snprintf(fr->redis_url_safe, sizeof fr->redis_url_safe, "redis://:***@127.0.0.1:6390/2");
    snprintf(fr->frameworks_dir, sizeof fr->frameworks_dir, "/opt/tqbench/frameworks");
    fr->workers = 1;
    fr->concurrency = 4;
    fr->heartbeat_interval_s = 1;
}

Test(asynctasq, producer_payloads_decode) {
    const struct tq_framework *fw = framework_find("asynctasq");
    cr_assert_not_null(fw, "asynctasq is not registered");
    struct fw_run fr;
    fill_run(&fr);
    char key[TQ_KEY_MAX];
    cr_assert_gt(fw->queue_key(&fr, key, sizeof key), 0);
    cr_assert_str_eq(key, "queue:throughput.asynctasq.1.abc123");
    const struct {
        enum tq_task_kind kind;
        int64_t arg;
        int64_t sched;
        size_t pad;
    } cases[] = {
        {TQ_KIND_NOOP, 0, 0, 0},
        {TQ_KIND_SLEEP, 25, 0, 0},
        {TQ_KIND_CPU, 500, 1764423600500000, 0},
        {TQ_KIND_FAIL, 0, 0, 64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tq_task t, back;
        struct tq_atq_info info;
        char buf[4096], err[256];
        memset(&t, 0, sizeof t);
        snprintf(t.run, sizeof t.run, "%s", fr.run_id);
        t.id = 1000 + i;
        t.kind = cases[i].kind;
        t.arg = cases[i].arg;
        t.enqueued_us = 1764423600000000 + (int64_t)i;
        t.scheduled_us = cases[i].sched;
        t.max_attempts = 1;
        t.pad_len = cases[i].pad;
        int len = fw->encode(&fr, &t, buf, sizeof buf);
        cr_assert_gt(len, 0, "case %zu: encode failed", i);
        cr_assert_eq(tq_atq_decode(buf, (size_t)len, &back, &info, err, sizeof err), 0,
                     "case %zu: %s", i, err);
        cr_assert_str_eq(back.run, t.run);
        cr_assert_eq(back.id, t.id);
        cr_assert_eq(back.kind, t.kind, "case %zu", i);
        cr_assert_eq(back.arg, t.arg, "case %zu", i);
        cr_assert_eq(back.enqueued_us, t.enqueued_us);
        cr_assert_eq(back.scheduled_us, t.scheduled_us, "case %zu", i);
        cr_assert_eq(back.max_attempts, 1);
        cr_assert_eq(back.pad_len, t.pad_len, "case %zu", i);
        cr_assert_eq(info.shape, TQ_ATQ_SHAPE_1X);
        cr_assert(info.has_tqbench);
        cr_assert_str_eq(info.cls, TQ_ATQ_FUNCTION_TASK_CLASS);
        cr_assert_str_eq(info.func_module, "tqbench_tasks");
        cr_assert_str_eq(info.queue, fr.queue, "metadata.queue is the run's queue");
        cr_assert_str_eq(info.func_name, tq_task_kind_name(t.kind));
        /* the run id is in the payload as a msgpack string, exactly the
         * run_marker the driver searches shared lists for */
        char marker[TQ_NAME_MAX + 8];
        cr_assert_not_null(fw->run_marker, "asynctasq has no run_marker");
        int mlen = fw->run_marker(&fr, marker, sizeof marker);
        cr_assert_eq(mlen, (int)strlen(fr.run_id) + 1, "a fixstr header and the id");
        cr_assert_not_null(memmem(buf, (size_t)len, marker, (size_t)mlen));
    }
}

/* argv never carries a password; the worker id and queue reach the hook. */
static int env_has(const struct fw_argv *a, const char *entry) {
    for (int i = 0; i < a->envc; i++)
        if (strcmp(a->envs[i], entry) == 0) return 1;
    return 0;
}

Test(asynctasq, worker_argv_keeps_password_out_of_argv) {
    const struct tq_framework *fw = framework_find("asynctasq");
    cr_assert_not_null(fw);
    struct fw_run fr;
    struct fw_argv a;
    char err[256];
    fill_run(&fr);
    snprintf(fr.asynctasq_python, sizeof fr.asynctasq_python, "/venv/bin/python");
    cr_assert_eq(fw->worker_argv(&fr, 0, "w-7", &a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.argv[0], "/venv/bin/python");
    for (int i = 0; i < a.argc; i++)
        cr_assert_null(strstr(a.argv[i], "s3cret"), "password in argv[%d]: %s", i, a.argv[i]);
    cr_assert(env_has(&a, "ASYNCTASQ_REDIS_URL=redis://:s3cret@127.0.0.1:6390/2"));
    cr_assert(env_has(&a, "TQ_ATQ_WORKER_ID=w-7"));
    cr_assert(env_has(&a, "TQ_ATQ_QUEUES=throughput.asynctasq.1.abc123"));
    cr_assert(env_has(&a, "TQ_ATQ_RUN=throughput.asynctasq.1.abc123"));
    /* without a password the URL is AsyncTasQ's documented --redis-url */
    snprintf(fr.redis_url, sizeof fr.redis_url, "unix:///tmp/r.sock?db=0");
    snprintf(fr.redis_url_safe, sizeof fr.redis_url_safe, "unix:///tmp/r.sock?db=0");
    cr_assert_eq(fw->worker_argv(&fr, 0, "w-7", &a, err, sizeof err), 0, "%s", err);
    int seen = 0;
    for (int i = 0; i + 1 < a.argc; i++)
        if (strcmp(a.argv[i], "--redis-url") == 0 &&
            strcmp(a.argv[i + 1], "unix:///tmp/r.sock?db=0") == 0)
            seen = 1;
    cr_assert(seen, "--redis-url URL in argv");
    cr_assert_not(env_has(&a, "ASYNCTASQ_REDIS_URL=unix:///tmp/r.sock?db=0"));
}

/* What only AsyncTasQ itself can show: a whole run drained by its worker
 * with exact counts, stamps from the hook and an empty processing list.
 * Its own CTest entry (driver_asynctasq_real) reports SKIPPED unless
 * TQ_ASYNCTASQ_PYTHON names a Python that imports asynctasq. */
Test(asynctasq_real, run_exact_counts, .timeout = 180, .fini = drv_cleanup) {
    const char *py = getenv("TQ_ASYNCTASQ_PYTHON");
    char cmd[1200];
    if (!py || !py[0])
        cr_skip_test("needs AsyncTasQ (Python >= 3.12, PyPI): set TQ_ASYNCTASQ_PYTHON to the "
                     "python of a virtualenv that has it");
    snprintf(cmd, sizeof cmd, "'%s' -c 'import asynctasq' >/dev/null 2>&1", py);
    if (system(cmd) != 0) cr_skip_test("TQ_ASYNCTASQ_PYTHON=%s does not import asynctasq", py);
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run", "--framework", "asynctasq", "--asynctasq-python", py, "--tasks",
                          "2000", "--warmup", "100", "--workers", "2", "--concurrency", "10",
                          "--out", d.out, "--quiet", NULL};
    char *log = drv_run_expect(&d, args, 170000, 0);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "completed"), 2000);
    cr_assert_eq(drv_num(run, "failed"), 0);
    cr_assert_eq(drv_num(run, "in_flight_at_end"), 0);
    cr_assert_eq(drv_num(drv_obj(drv_obj(run, "latency_us"), "end_to_end"), "count"), 2000);
    cJSON_Delete(j);
    drv_fini(&d);
}
