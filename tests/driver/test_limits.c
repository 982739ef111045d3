/* test_limits.c - the embedded redis-server's memory limit (issue 8,
 * defect 5): it runs with --maxmemory sized from the machine and
 * noeviction, recorded in results.json; a backlog bigger than the limit
 * fails the run (exit 1) with a message naming the limit and how to change
 * it, leaving no process behind; TQBENCH_EMBEDDED_MAXMEMORY_MB sets the
 * limit and a bad value is a configuration error (exit 2). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver_harness.h"
#include "tq_testutil.h"

/* A 100,000-task backlog of 1 KB payloads (~100 MB) against a 2 MB limit:
 * refused by Redis within the first batches, so the run fails fast. */
Test(limits, backlog_over_maxmemory, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char path[400];
    drv_write(&d, "big.json",
              "{\"tasks\": 100000, \"payload_bytes\": 1000, \"warmup_tasks\": 0, \"timeout_s\": 60}",
              path, sizeof path);
    cr_assert_eq(setenv("TQBENCH_EMBEDDED_MAXMEMORY_MB", "2", 1), 0);
    const char *args[] = {"run", "--scenario", path, "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 90000, 1);
    unsetenv("TQBENCH_EMBEDDED_MAXMEMORY_MB");
    const char *needles[] = {"the embedded Redis hit its memory limit of 2 MB",
                             "TQBENCH_EMBEDDED_MAXMEMORY_MB=MB", "--redis URL", NULL};
    for (int i = 0; needles[i]; i++)
        cr_assert(strstr(log, needles[i]), "output lacks \"%s\":\n%s", needles[i], log);
    free(log);

    cJSON *j = drv_results_required(&d);
    const cJSON *redis = drv_obj(j, "redis");
    cr_assert_eq(drv_num(redis, "maxmemory_mb"), 2);
    cr_assert_str_eq(drv_str(redis, "maxmemory_from"), "TQBENCH_EMBEDDED_MAXMEMORY_MB");
    cr_assert_str_eq(drv_str(redis, "maxmemory_policy"), "noeviction");
    cr_assert_str_eq(drv_str(j, "status"), "failed");
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_not_null(run);
    cr_assert_str_eq(drv_str(run, "status"), "failed");
    cr_assert(strstr(drv_str(run, "error"), "hit its memory limit of 2 MB"),
              "the run's error does not name the limit: %s", drv_str(run, "error"));
    /* the embedded redis-server and the workers were all stopped */
    pid_t pids[64];
    int n = drv_result_pids(j, pids, 64);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++) cr_assert(!tq_test_pid_alive(pids[i]), "pid %d outlived the run", pids[i]);
    cJSON_Delete(j);
    drv_fini(&d);
}

/* Without the variable the limit comes from the machine's free memory, half
 * of it and at least the floor, and is recorded; the run is unaffected. */
Test(limits, default_limit_recorded, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    unsetenv("TQBENCH_EMBEDDED_MAXMEMORY_MB");
    const char *args[] = {"run", "--tasks", "200", "--warmup", "0", "--quiet", "--out", d.out, NULL};
    free(drv_run_expect(&d, args, 90000, 0));
    cJSON *j = drv_results_required(&d);
    const cJSON *redis = drv_obj(j, "redis");
    cr_assert_geq(drv_num(redis, "maxmemory_mb"), 128, "below the floor");
    const char *from = drv_str(redis, "maxmemory_from");
    cr_assert(strstr(from, "MemAvailable") || strstr(from, "cgroup") || strstr(from, "floor"),
              "maxmemory_from says \"%s\"", from);
    cr_assert_str_eq(drv_str(redis, "maxmemory_policy"), "noeviction");
    cJSON_Delete(j);
    drv_fini(&d);
}

/* A limit that is not a number of MB is a configuration error found before
 * anything starts. */
Test(limits, bad_limit_refused, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    const char *bad[] = {"0", "2MB", "-5", "1e3"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(setenv("TQBENCH_EMBEDDED_MAXMEMORY_MB", bad[i], 1), 0);
        const char *args[] = {"run", "--tasks", "10", "--out", d.out, NULL};
        remove(d.log);
        char *log = drv_run_expect(&d, args, 20000, 2);
        cr_assert(strstr(log, "TQBENCH_EMBEDDED_MAXMEMORY_MB must be an integer in 1..") &&
                      strstr(log, bad[i]),
                  "for \"%s\":\n%s", bad[i], log);
        free(log);
        cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    }
    unsetenv("TQBENCH_EMBEDDED_MAXMEMORY_MB");
    drv_fini(&d);
}
