/* test_run.c - whole tqbench runs that should succeed: on the embedded Redis
 * (exact counts, every results.json field present and sane, repeats
 * summarized, no process left), in external mode against a standalone
 * tqworker (and the clear error when fewer workers are there), against a
 * Redis with requirepass given through the URL (the password nowhere), and
 * with each role pinned to CPUs (and recorded there). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_cpuset.h"
#include "tq_testutil.h"

/* The first run of results j, asserted "ok" with all its tasks completed. */
static const cJSON *first_run_ok(const cJSON *j, double tasks) {
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "completed"), tasks);
    return run;
}

static void check_hist(const cJSON *lat, const char *name, double count, int positive) {
    const cJSON *h = drv_obj(lat, name);
    const char *order[] = {"p50", "p90", "p95", "p99", "p999", "max"};
    double prev = 0;
    for (int i = 0; i < 6; i++) {
        double v = drv_num(h, order[i]);
        cr_assert_geq(v, prev, "%s.%s = %g is below the previous percentile %g", name, order[i], v,
                      prev);
        prev = v;
    }
    cr_assert_eq(drv_num(h, "count"), count, "%s.count = %g, expected %g", name, drv_num(h, "count"), count);
    cr_assert_geq(drv_num(h, "mean"), 0);
    if (positive) {
        cr_assert_gt(drv_num(h, "p50"), 0, "%s.p50 is 0", name);
        cr_assert_gt(drv_num(h, "mean"), 0, "%s.mean is 0", name);
    }
}

static int boolean(const cJSON *o, const char *key) {
    const cJSON *v = drv_obj(o, key);
    cr_assert(cJSON_IsBool(v), "results.json: \"%s\" is not a boolean", key);
    return cJSON_IsTrue(v);
}

/* The role's placement: cpus_allowed and cpus_seen are CPU lists of this
 * machine, seen within allowed; allowed is `want` when not NULL. */
static void check_placement(const cJSON *r, const char *role, const char *want) {
    cpu_set_t allowed, seen, outside;
    char err[256];
    const char *a = drv_str(r, "cpus_allowed"), *s = drv_str(r, "cpus_seen");
    cr_assert_eq(tq_cpuset_parse(a, &allowed, err, sizeof err), 0, "%s.cpus_allowed: %s", role,
                 err);
    cr_assert_eq(tq_cpuset_parse(s, &seen, err, sizeof err), 0, "%s.cpus_seen: %s", role, err);
    CPU_XOR(&outside, &seen, &allowed);
    CPU_AND(&outside, &outside, &seen);
    cr_assert_eq(CPU_COUNT(&outside), 0, "%s seen on %s, allowed only %s", role, s, a);
    if (want) cr_assert_str_eq(a, want, "%s.cpus_allowed", role);
}

/* Returns the role's cpu_precise: always with CPU clocks (resolution 1 µs),
 * else (clock ticks) from 1 s of cpu_s on (100 ticks of 10 ms: 1%). */
static int check_role(const cJSON *res, const char *role, int busy) {
    const cJSON *r = drv_obj(res, role);
    const char *f[] = {"cpu_pct_avg", "cpu_pct_peak", "rss_kb_avg", "rss_kb_peak"};
    for (int i = 0; i < 4; i++) cr_assert_geq(drv_num(r, f[i]), 0, "%s.%s < 0", role, f[i]);
    cr_assert_gt(drv_num(r, "rss_kb_peak"), 0, "%s.rss_kb_peak is 0", role);
    if (strcmp(role, "workers") == 0) {
        /* spawned workers: PSS read from /proc too, never above RSS */
        cr_assert_gt(drv_num(r, "pss_kb_peak"), 0, "%s.pss_kb_peak is 0", role);
        cr_assert_leq(drv_num(r, "pss_kb_peak"), drv_num(r, "rss_kb_peak"));
        cr_assert_gt(drv_num(r, "pss_kb_avg"), 0);
    } else {
        cr_assert(cJSON_IsNull(drv_obj(r, "pss_kb_peak")), "%s.pss_kb_peak is not null", role);
    }
    if (busy) cr_assert_gt(drv_num(r, "cpu_pct_avg"), 0, "%s.cpu_pct_avg is 0", role);
    cr_assert_geq(drv_num(r, "cpu_pct_peak"), drv_num(r, "cpu_pct_avg") * 0.5);
    int precise = boolean(r, "cpu_precise");
    double resolution = drv_num(r, "cpu_resolution_us");
    cr_assert(resolution == 1 || resolution == 1e6 / (double)sysconf(_SC_CLK_TCK),
              "%s: cpu_resolution_us %g is neither 1 nor a clock tick", role, resolution);
    if (resolution == 1)
        cr_assert(precise, "%s: CPU to the µs marked imprecise", role);
    else
        cr_assert_eq(precise, drv_num(r, "cpu_s") >= 1.0, "%s: cpu_precise %d with cpu_s %g", role, precise,
                 drv_num(r, "cpu_s"));
    return precise;
}

/* INFO commandstats less the driver's own commands: its polling (HMGET of
 * the counters, EXISTS of the heartbeats) is reported apart, not charged to
 * the tasks; tqworkers send no EXISTS at all. */
static void check_redis_commands(const cJSON *run, double tasks) {
    const cJSON *rd = drv_obj(run, "redis");
    const cJSON *by = drv_obj(rd, "commands_by_name"), *drv = drv_obj(rd, "driver_commands_by_name");
    cr_assert_null(cJSON_GetObjectItem(by, "exists"),
                   "the driver's EXISTS polling is charged to the tasks");
    cr_assert_gt(drv_num(drv, "exists"), 0, "the driver's EXISTS polling is not counted");
    cr_assert_gt(drv_num(drv, "hmget"), 0, "the driver's HMGET polling is not counted");
    double sum = 0, total = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, drv) sum += e->valuedouble;
    cr_assert_eq(drv_num(rd, "driver_commands"), sum);
    cJSON_ArrayForEach(e, by) total += e->valuedouble;
    cr_assert_eq(drv_num(rd, "commands"), total);
    cr_assert_float_eq(drv_num(rd, "commands_per_task"), total / tasks, 1e-9);
}

/* Checks a complete run; returns its workers' cpu_precise. */
static int check_run(const cJSON *run, double tasks) {
    cr_assert_str_eq(drv_str(run, "status"), "ok", "run failed: %s",
                     cJSON_GetObjectItem(run, "error") ? drv_str(run, "error") : "");
    cr_assert_str_eq(drv_str(run, "scenario"), "t_whole");
    cr_assert_str_eq(drv_str(run, "framework"), "native");
    cr_assert_eq(drv_num(run, "tasks"), tasks);
    cr_assert_eq(drv_num(run, "enqueued"), tasks);
    cr_assert_eq(drv_num(run, "completed"), tasks);
    cr_assert_eq(drv_num(run, "failed"), 0);
    cr_assert_eq(drv_num(run, "lost"), 0);
    cr_assert_not(boolean(run, "partial"), "a complete run marked partial");
    cr_assert_eq(drv_num(run, "queued_at_end"), 0);
    const cJSON *d = drv_obj(run, "durations_s");
    cr_assert_gt(drv_num(d, "enqueue"), 0);
    cr_assert_gt(drv_num(d, "drain"), 0);
    cr_assert_geq(drv_num(d, "total"), drv_num(d, "drain"));
    const cJSON *t = drv_obj(run, "throughput_per_s");
    cr_assert_gt(drv_num(t, "end_to_end"), 0);
    cr_assert_gt(drv_num(t, "processing"), 0);
    cr_assert_gt(drv_num(t, "enqueue"), 0);
    cr_assert_geq(drv_num(t, "processing"), drv_num(t, "end_to_end") * 0.99,
                  "processing throughput below end-to-end");
    const cJSON *l = drv_obj(run, "latency_us");
    check_hist(l, "queue_wait", tasks, 1);
    check_hist(l, "service", tasks, 1); /* cpu tasks of 20 µs: service is never 0 */
    check_hist(l, "end_to_end", tasks, 1);
    cr_assert_geq(drv_num(drv_obj(l, "end_to_end"), "p50"), drv_num(drv_obj(l, "queue_wait"), "p50"));
    const cJSON *res = drv_obj(run, "resources");
    int precise = check_role(res, "workers", 1);
    check_role(res, "redis", 0);
    check_role(res, "driver", 0);
    /* unpinned, every role may use what the driver started with: this
     * test's CPUs */
    cpu_set_t mine;
    char mine_list[256];
    cr_assert_eq(tq_cpuset_allowed(0, &mine), 0);
    tq_cpuset_format(&mine, mine_list, sizeof mine_list);
    const char *roles[] = {"workers", "redis", "driver"};
    for (int i = 0; i < 3; i++) check_placement(drv_obj(res, roles[i]), roles[i], mine_list);
    cr_assert_gt(drv_num(drv_obj(res, "workers"), "cpu_us_per_task"), 0);
    /* units in the names: the machine's share of all its CPUs, the other
     * load in percent of one CPU (it cannot exceed what the machine did) */
    double mach = drv_num(run, "machine_cpu_pct_of_all_cpus_avg");
    cr_assert(mach >= 0 && mach <= 100, "machine_cpu_pct_of_all_cpus_avg %g", mach);
    double other = drv_num(run, "other_cpu_pct_of_one_cpu_avg");
    cr_assert(other >= 0 && other <= mach * drv_num(run, "machine_cpus") + 1e-6,
              "other_cpu_pct_of_one_cpu_avg %g beyond the machine's %g%% of %g CPUs", other, mach,
              drv_num(run, "machine_cpus"));
    cr_assert(cJSON_IsBool(drv_obj(run, "noisy")));
    cr_assert_gt(drv_num(drv_obj(run, "redis"), "commands_per_task"), 0);
    cr_assert_gt(drv_num(drv_obj(drv_obj(run, "redis"), "commands_by_name"), "brpop"), 0);
    check_redis_commands(run, tasks);
    return precise;
}

/* The rate of the last progress line of label ("t_whole/native #1 done
 * 3000/3000 (100.0%) 12345 tasks/s"), or -1 when there is none. */
static double final_rate(const char *log, const char *label) {
    char needle[128];
    snprintf(needle, sizeof needle, "%s done ", label);
    const char *p = strstr(log, needle), *last = NULL;
    for (; p; p = strstr(p + 1, needle)) last = p;
    const char *paren = last ? strstr(last, "%) ") : NULL;
    return paren ? atof(paren + 3) : -1;
}

Test(driver, whole_run_embedded, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char scen[400];
    drv_write(&d, "t_whole.json",
              "{\"name\": \"t_whole\", \"description\": \"test\", \"tasks\": 3000,"
              " \"warmup_tasks\": 100, \"workers\": 2, \"concurrency\": 4,"
              " \"mix\": [{\"kind\": \"cpu\", \"us\": 20}], \"arrival\": \"backlog\","
              " \"timeout_s\": 60}",
              scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--repeat", "2", "--out", d.out,
                          "--sample-ms", "50", NULL};
    char *log = drv_run_expect(&d, args, 80000, 0);
    cr_assert(strstr(log, "t_whole") && strstr(log, "results.json"),
              "no table / results path in the output:\n%s", log);

    cJSON *j = drv_results_required(&d);
    cr_assert_str_eq(drv_str(j, "tool"), "tqbench");
    cr_assert_gt(strlen(drv_str(j, "version")), 0);
    cr_assert_gt(strlen(drv_str(j, "started_at")), 0);
    cr_assert_str_eq(drv_str(j, "status"), "ok");
    const cJSON *m = drv_obj(j, "machine");
    cr_assert_geq(drv_num(m, "cpus"), 1);
    cr_assert_gt(strlen(drv_str(m, "model")), 0);
    cr_assert_gt(strlen(drv_str(m, "kernel")), 0);
    cr_assert_str_eq(drv_str(drv_obj(j, "config"), "redis"), "embedded");
    cr_assert(cJSON_IsTrue(drv_obj(drv_obj(j, "redis"), "embedded")));
    const cJSON *cfg = drv_obj(j, "config");
    const char *wbin = drv_str(cfg, "worker_bin");
    size_t wl = strlen(wbin);
    cr_assert(wl > 9 && strcmp(wbin + wl - 9, "/tqworker") == 0 && access(wbin, X_OK) == 0,
              "config.worker_bin is not the resolved tqworker: %s", wbin);
    cr_assert_not(boolean(cfg, "quiet"));
    cr_assert_str_eq(drv_str(cfg, "log_level"), "warn");
    const cJSON *runs = drv_obj(j, "runs");
    cr_assert_eq(cJSON_GetArraySize(runs), 2);
    const cJSON *run;
    int imprecise = 0, rep = 0;
    cJSON_ArrayForEach(run, runs) {
        imprecise += !check_run(run, 3000);
        /* the last progress line's rate is the run's end-to-end throughput */
        char label[64];
        snprintf(label, sizeof label, "t_whole/native #%d", ++rep);
        double shown = final_rate(log, label);
        double tput = drv_num(drv_obj(run, "throughput_per_s"), "end_to_end");
        cr_assert(fabs(shown - tput) <= 0.5 + 1e-9 * tput,
                  "%s: progress says %g tasks/s, results.json %g:\n%s", label, shown, tput, log);
    }
    /* 3,000 tasks of 20 µs: well under 1 s of worker CPU, yet precise: the
     * spawned workers' CPU comes from their CPU clocks, not 10 ms ticks */
    cr_assert_eq(imprecise, 0, "worker CPU of spawned workers marked imprecise");
    cr_assert_null(strstr(log, "note: worker CPU under 1 s in"), "an imprecision note:\n%s", log);
    const char *roles[] = {"workers", "redis", "driver"};
    for (int i = 0; i < 3; i++) {
        const cJSON *r = drv_obj(drv_obj(cJSON_GetArrayItem(runs, 0), "resources"), roles[i]);
        cr_assert_eq(drv_num(r, "cpu_resolution_us"), 1, "%s: CPU not from the CPU clocks",
                     roles[i]);
    }
    free(log);
    const cJSON *sum = cJSON_GetArrayItem(drv_obj(j, "summaries"), 0);
    cr_assert_not_null(sum, "no summary of the repeats");
    cr_assert_eq(drv_num(sum, "repeats"), 2);
    const cJSON *tp = drv_obj(sum, "throughput_end_to_end_per_s");
    cr_assert(drv_num(tp, "min") <= drv_num(tp, "median") && drv_num(tp, "median") <= drv_num(tp, "max"));
    cr_assert_geq(drv_num(tp, "cv"), 0);
    /* a summary's figure is the runs' figure of the same name: the Redis
     * CPU per task is redis.cpu_us_per_task (INFO), not another reading */
    double rc[2];
    for (int i = 0; i < 2; i++)
        rc[i] = drv_num(drv_obj(cJSON_GetArrayItem(runs, i), "redis"), "cpu_us_per_task");
    const cJSON *rs = drv_obj(sum, "redis_cpu_us_per_task");
    cr_assert_eq(drv_num(rs, "n"), 2);
    cr_assert(fabs(drv_num(rs, "min") - fmin(rc[0], rc[1])) < 1e-9 &&
                  fabs(drv_num(rs, "max") - fmax(rc[0], rc[1])) < 1e-9,
              "summary redis_cpu_us_per_task [%g, %g], runs' redis.cpu_us_per_task %g and %g",
              drv_num(rs, "min"), drv_num(rs, "max"), rc[0], rc[1]);
    cr_assert(!cJSON_GetObjectItem(sum, "throughput_client_enqueue_per_s"),
              "native has no client of its own to summarize");

    /* nothing the driver started outlives it */
    pid_t pids[16];
    int n = drv_result_pids(j, pids, 16);
    cr_assert_eq(n, 5, "expected the redis pid and 2 x 2 worker pids, got %d", n);
    for (int i = 0; i < n; i++) cr_assert(!tq_test_pid_alive(pids[i]), "pid %d still alive", pids[i]);
    cJSON_Delete(j);
    drv_fini(&d);
}

static long long scan_count(redisContext *c, const char *pattern) {
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN failed");
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static const char small_scenario[] =
    "{\"name\": \"t_small\", \"tasks\": 500, \"workers\": 1, \"concurrency\": 4,"
    " \"mix\": [{\"kind\": \"noop\"}], \"timeout_s\": 60}";

Test(driver, external_mode, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    cr_assert_eq(drv_redis_start(&r, 0, NULL), 0);
    char scen[400], wlog[400];
    drv_write(&d, "t_small.json", small_scenario, scen, sizeof scen);
    snprintf(wlog, sizeof wlog, "%s/worker.log", d.dir);
    const char *wargv[] = {d.worker, "--redis", r.url, "--queue", "extq", "--id", "ext-a",
                           "--concurrency", "4", NULL};
    pid_t w = drv_spawn(wargv, wlog);
    cr_assert_gt(w, 0);

    const char *args[] = {"run", "--redis", r.url, "--external", "--queue", "extq", "--workers",
                          "1", "--scenario", scen, "--out", d.out, "--health-timeout", "10",
                          NULL};
    free(drv_run_expect(&d, args, 60000, 0));
    cJSON *j = drv_results_required(&d);
    const cJSON *run = first_run_ok(j, 500);
    cr_assert_eq(drv_num(run, "lost"), 0);
    const cJSON *wk = drv_obj(drv_obj(run, "resources"), "workers");
    cr_assert_str_eq(drv_str(wk, "source"), "heartbeats");
    cr_assert_gt(drv_num(wk, "rss_kb_peak"), 0);
    cr_assert_gt(drv_num(wk, "pss_kb_peak"), 0, "tqworker's heartbeat carries its PSS");
    cr_assert_str_eq(drv_str(cJSON_GetArrayItem(drv_obj(run, "workers"), 0), "id"), "ext-a");
    cJSON_Delete(j);

    redisContext *c = drv_redis_connect(&r);
    cr_assert_eq(scan_count(c, "tq:run:*"), 0, "the run's keys were not deleted");
    cr_assert_eq(tq_test_redis_int(c, "EXISTS tq:worker:ext-a"), 1,
                 "an external worker's heartbeat must be left alone");

    /* `tqbench workers` lists it */
    remove(d.log);
    const char *wa[] = {"workers", "--redis", r.url, NULL};
    cr_assert_eq(drv_run(&d, wa, 10000), 0);
    cr_assert(drv_file_has(d.log, "ext-a"), "tqbench workers does not list ext-a");
    {
        /* its row ends with the PSS tqworker's heartbeat reports, in MB */
        char *out = drv_read(d.log);
        cr_assert(out && strstr(out, "pss MB"), "tqbench workers shows no PSS column");
        const char *row = strstr(out, "\next-a ");
        cr_assert_not_null(row, "no row for ext-a:\n%s", out);
        size_t len = strcspn(row + 1, "\n");
        const char *last = row + 1 + len;
        while (last > row + 1 && last[-1] != ' ') last--;
        int cell = (int)(row + 1 + len - last);
        cr_assert_gt(strtod(last, NULL), 0, "ext-a's PSS cell \"%.*s\"", cell, last);
        free(out);
    }

    /* fewer workers than --workers: a clear error with the count seen */
    remove(d.log);
    drv_set_out(&d, "out-too-few");
    const char *args2[] = {"run", "--redis", r.url, "--external", "--queue", "extq", "--workers",
                           "2", "--scenario", scen, "--out", d.out, "--health-timeout", "1.5",
                           NULL};
    char *log = drv_run_expect(&d, args2, 30000, 1);
    cr_assert(strstr(log, "1 of 2 worker(s) seen on queue \"extq\""), "no clear message:\n%s",
              log);
    free(log);

    /* `tqbench clean`: tqbench's keys go, a live heartbeat and others' keys stay */
    redisReply *x = redisCommand(c, "MSET tq:run:old:stats 1 tq:queue:old 1 other:key 1");
    freeReplyObject(x);
    x = redisCommand(c, "SADD tq:workers gone-worker");
    freeReplyObject(x);
    remove(d.log);
    const char *ca[] = {"clean", "--redis", r.url, NULL};
    cr_assert_eq(drv_run(&d, ca, 10000), 0);
    cr_assert_eq(tq_test_redis_int(c, "EXISTS tq:run:old:stats"), 0);
    /* no record of a run says tqbench made it: not clean's to delete */
    cr_assert_eq(tq_test_redis_int(c, "EXISTS tq:queue:old"), 1);
    cr_assert_eq(tq_test_redis_int(c, "SISMEMBER tq:workers gone-worker"), 0);
    cr_assert_eq(tq_test_redis_int(c, "SISMEMBER tq:workers ext-a"), 1);
    cr_assert_eq(tq_test_redis_int(c, "EXISTS tq:worker:ext-a"), 1);
    cr_assert_eq(tq_test_redis_int(c, "EXISTS other:key"), 1, "clean deleted a key not its own");

    drv_stop(w);
    cr_assert_eq(tq_test_redis_int(c, "EXISTS tq:worker:ext-a"), 0);
    remove(d.log);
    cr_assert_eq(drv_run(&d, wa, 10000), 1, "tqbench workers must exit 1 when none is live");
    /* a Redis that cannot be reached is a configuration error, not "none live" */
    drv_redis_stop(&r);
    remove(d.log);
    cr_assert_eq(drv_run(&d, wa, 10000), 2, "tqbench workers: exit 2 without Redis");
    const char *ca2[] = {"clean", "--redis", r.url, NULL};
    cr_assert_eq(drv_run(&d, ca2, 10000), 2, "tqbench clean: exit 2 without Redis");
    redisFree(c);
    drv_fini(&d);
}

Test(driver, requirepass_url, .timeout = 90, .fini = drv_cleanup) {
    static const char pw[] = "Zq8-not-a-real-secret-5521";
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    cr_assert_eq(drv_redis_start(&r, -1, pw), 0);
    cr_assert(strstr(r.url, pw), "fixture URL carries the password");
    char scen[400];
    drv_write(&d, "t_small.json", small_scenario, scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--scenario", scen, "--out", d.out,
                          "--log-level", "debug", NULL};
    free(drv_run_expect(&d, args, 60000, 0));
    cJSON *j = drv_results_required(&d);
    first_run_ok(j, 500);
    cr_assert(strstr(drv_str(drv_obj(j, "config"), "redis"), "***"), "safe URL form expected");
    cJSON_Delete(j);
    /* the output, results.json and the workers' logs */
    cr_assert_eq(drv_dir_grep(d.dir, pw), 0, "the password appears in a file or the output");

    /* a wrong password is a configuration error (exit 2, before anything
     * runs) that does not echo it either */
    char bad[600];
    snprintf(bad, sizeof bad, "redis://:wrong-%s@127.0.0.1:%d/0", pw, r.port);
    remove(d.log);
    drv_set_out(&d, "out-bad-auth");
    const char *args2[] = {"run", "--redis", bad, "--scenario", scen, "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args2, 30000, 2);
    cr_assert(strstr(log, "AUTH failed"), "no clear message:\n%s", log);
    free(log);
    cr_assert_null(drv_results(&d), "a configuration error wrote results");
    cr_assert_eq(drv_dir_grep(d.dir, pw), 0, "the password appears after a failed AUTH");
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(driver, rate_and_live_arrival, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char fixed[400], probed[400], live[400];
    /* fixed offered rate: 1,000 tasks at 2,000/s = 0.5 s of sending */
    drv_write(&d, "t_rate.json",
              "{\"name\": \"t_rate\", \"tasks\": 1000, \"arrival\": \"rate\", \"rate\": 2000,"
              " \"workers\": 1, \"concurrency\": 4}",
              fixed, sizeof fixed);
    /* no rate: half of a capacity probe measured in the run */
    drv_write(&d, "t_probe.json",
              "{\"name\": \"t_probe\", \"duration_s\": 0.5, \"arrival\": \"rate\", \"workers\": 1}",
              probed, sizeof probed);
    drv_write(&d, "t_live.json",
              "{\"name\": \"t_live\", \"tasks\": 2000, \"arrival\": \"live\", \"workers\": 1,"
              " \"mix\": [{\"kind\": \"noop\", \"weight\": 3}, {\"kind\": \"fail\", \"weight\": 1,"
              " \"max_attempts\": 2}]}",
              live, sizeof live);
    const char *args[] = {"run", "--scenario", fixed, "--scenario", probed, "--scenario", live,
                          "--out", d.out, "--quiet", NULL};
    free(drv_run_expect(&d, args, 80000, 0));
    cJSON *j = drv_results_required(&d);
    const cJSON *runs = drv_obj(j, "runs");
    cr_assert_eq(cJSON_GetArraySize(runs), 3);

    const cJSON *r0 = cJSON_GetArrayItem(runs, 0);
    cr_assert_str_eq(drv_str(r0, "status"), "ok");
    cr_assert_eq(drv_num(r0, "offered_rate_per_s"), 2000);
    cr_assert_eq(drv_num(r0, "completed"), 1000);
    cr_assert_geq(drv_num(r0, "producer_max_lag_us"), 0);
    cr_assert(strstr(drv_str(drv_obj(r0, "latency_us"), "origin"), "scheduled"));
    /* an open loop at 2,000/s cannot push 1,000 tasks much faster than 0.5 s */
    cr_assert_geq(drv_num(drv_obj(r0, "durations_s"), "enqueue"), 0.45);
    cr_assert_lt(drv_num(drv_obj(r0, "throughput_per_s"), "enqueue"), 2300);

    const cJSON *r1 = cJSON_GetArrayItem(runs, 1);
    cr_assert_str_eq(drv_str(r1, "status"), "ok");
    double cap = drv_num(r1, "capacity_probe_per_s");
    cr_assert_gt(cap, 0);
    cr_assert_float_eq(drv_num(r1, "offered_rate_per_s"), cap / 2, cap * 1e-9);
    double tasks = drv_num(r1, "tasks");
    cr_assert_geq(tasks, cap / 4 - 1, "tasks %g should be rate x 0.5 s (capacity %g)", tasks, cap);
    cr_assert_eq(drv_num(r1, "completed"), tasks);
    cr_assert_eq(drv_num(r1, "warmup_tasks"), 1000); /* the probe is the warm-up */

    /* live, with failures: every task counted once, failed ones retried */
    const cJSON *r2 = cJSON_GetArrayItem(runs, 2);
    cr_assert_str_eq(drv_str(r2, "status"), "ok");
    double failed = drv_num(r2, "failed");
    cr_assert_gt(failed, 300, "about a quarter of 2,000 should fail, got %g", failed);
    cr_assert_lt(failed, 700);
    cr_assert_eq(drv_num(r2, "completed") + failed, 2000);
    cr_assert_eq(drv_num(r2, "retried"), failed, "each fail task is retried once (max_attempts 2)");
    cr_assert_eq(drv_num(r2, "lost"), 0);
    cJSON_Delete(j);
    drv_fini(&d);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Results folders are never shared or overwritten: the default
 * results/<UTC timestamp> is made exclusively (a folder of the same second
 * gets a -2 suffix), --results-root DIR does the same under DIR, and --out
 * DIR over an earlier results.json is refused (exit 2, the file intact). */
Test(driver, results_folders_never_overwritten, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char tiny[400];
    drv_write(&d, "t_tiny.json",
              "{\"name\": \"t_tiny\", \"tasks\": 50, \"workers\": 1, \"concurrency\": 2,"
              " \"timeout_s\": 30}",
              tiny, sizeof tiny);
    /* the default root is ./results: run in the test's dir */
    cr_assert_eq(chdir(d.dir), 0);
    char root[400], taken[4][480];
    snprintf(root, sizeof root, "%s/roots", d.dir);
    const char *roots[] = {"results", root};
    for (int k = 0; k < 2; k++) {
        /* an earlier run's folders for this second and the next few */
        char base[400];
        snprintf(base, sizeof base, "%s", k == 0 ? "results" : root);
        cr_assert_eq(mkdir(base, 0755), 0);
        time_t now = time(NULL);
        for (int i = 0; i < 4; i++) {
            time_t t = now + i;
            struct tm tm;
            char stamp[32];
            gmtime_r(&t, &tm);
            strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
            snprintf(taken[i], sizeof taken[i], "%s/%s", base, stamp);
            cr_assert_eq(mkdir(taken[i], 0755), 0);
        }
        remove(d.log);
        const char *args_default[] = {"run", "--scenario", tiny, "--warmup", "0", NULL};
        const char *args_root[] = {"run", "--scenario", tiny, "--warmup", "0", "--results-root",
                                   roots[k], NULL};
        char *log = drv_run_expect(&d, k == 0 ? args_default : args_root, 60000, 0);
        /* the earlier folders are untouched; a -2 one holds this run */
        char path[sizeof taken + 32], mine[sizeof path] = "";
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s/results.json", taken[i]);
            cr_assert_not(is_file(path), "%s was written into an existing folder", path);
            snprintf(path, sizeof path, "%s-2/results.json", taken[i]);
            if (is_file(path)) snprintf(mine, sizeof mine, "%s", path);
        }
        cr_assert(mine[0], "no <stamp>-2/results.json under %s; output:\n%s", base, log);
        cr_assert(strstr(log, mine), "the output does not say where the results went (%s):\n%s",
                  mine, log);
        free(log);
    }

    /* --out over an earlier results.json: refused, nothing lost */
    cr_assert_eq(mkdir(d.out, 0755), 0);
    char prev[400];
    snprintf(prev, sizeof prev, "%s/results.json", d.out);
    FILE *f = fopen(prev, "w");
    cr_assert_not_null(f);
    fputs("{\"earlier\": true}\n", f);
    fclose(f);
    remove(d.log);
    const char *args_out[] = {"run", "--scenario", tiny, "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args_out, 30000, 2);
    cr_assert(strstr(log, prev) && strstr(log, "already exists"), "no clear refusal:\n%s", log);
    free(log);
    char *kept = drv_read(prev);
    cr_assert(kept && strcmp(kept, "{\"earlier\": true}\n") == 0, "results.json was overwritten");
    free(kept);
    cr_assert_not(is_dir(d.out) && drv_dir_grep(d.out, "t_tiny"), "the refused run wrote there");
    drv_fini(&d);
}

/* A run that completes with nothing to time: every task fails (failed tasks
 * have no latency and no done stamp), so the latency and drain figures are
 * null, never 0, and the table shows "-" for them. */
Test(driver, nothing_measured_is_null, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char scen[400];
    drv_write(&d, "t_fail.json",
              "{\"name\": \"t_fail\", \"tasks\": 200, \"workers\": 1, \"concurrency\": 4,"
              " \"mix\": [{\"kind\": \"fail\"}], \"timeout_s\": 30}",
              scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--warmup", "0", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 40000, 0);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "failed"), 200);
    const char *hists[] = {"queue_wait", "service", "end_to_end"};
    const char *figs[] = {"p50", "p90", "p99", "p999", "max", "mean", "min"};
    for (int h = 0; h < 3; h++) {
        const cJSON *hj = drv_obj(drv_obj(run, "latency_us"), hists[h]);
        cr_assert_eq(drv_num(hj, "count"), 0);
        for (int i = 0; i < 7; i++)
            cr_assert(cJSON_IsNull(drv_obj(hj, figs[i])), "latency_us.%s.%s is not null", hists[h],
                      figs[i]);
    }
    /* failed tasks carry no done stamp either: no drain was timed, so the
     * throughputs are null too; the producer's was measured */
    const cJSON *tp = drv_obj(run, "throughput_per_s");
    cr_assert(cJSON_IsNull(drv_obj(tp, "end_to_end")) && cJSON_IsNull(drv_obj(tp, "processing")),
              "a throughput over no timed drain is not null");
    cr_assert_gt(drv_num(tp, "enqueue"), 0);
    const cJSON *sum = cJSON_GetArrayItem(drv_obj(j, "summaries"), 0);
    const cJSON *p99 = drv_obj(sum, "latency_end_to_end_p99_us");
    cr_assert_eq(drv_num(p99, "n"), 0);
    cr_assert(cJSON_IsNull(drv_obj(p99, "median")), "a summary of no value is not null");
    /* table row: "t_fail ... <tasks/s> <processing/s> - - <cpu>..." */
    const char *row = strstr(log, "  native ");
    cr_assert_not_null(row, "no table row:\n%s", log);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(row, "\n"), row);
    char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32];
    cr_assert_eq(sscanf(line, " native %31s %31s %31s %31s %31s %31s", c1, c2, c3, c4, c5, c6), 6,
                 "row: %s", line);
    cr_assert(strcmp(c2, "-") == 0 && strcmp(c3, "-") == 0 && strcmp(c4, "-") == 0 &&
                  strcmp(c5, "-") == 0,
              "tasks/s, processing/s, p50, p99 not shown as -: %s", line);
    free(log);
    cJSON_Delete(j);
    drv_fini(&d);
}

/* Each role pinned to CPUs: workers on the highest CPU this test may use,
 * Redis and the driver on the lowest (the same CPU on a one-CPU machine).
 * The run completes, and results.json records each role allowed and seen
 * exactly there, and the pins in the config echo. */
Test(driver, pinned_roles_run_there, .timeout = 90, .fini = drv_cleanup) {
    cpu_set_t mine;
    cr_assert_eq(tq_cpuset_allowed(0, &mine), 0);
    int lo = -1, hi = -1;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &mine)) continue;
        if (lo < 0) lo = c;
        hi = c;
    }
    char los[16], his[16];
    snprintf(los, sizeof los, "%d", lo);
    snprintf(his, sizeof his, "%d", hi);
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run",          "--tasks",     "5000", "--pin-workers", his,
                          "--pin-redis",  los,           "--pin-driver", los, "--out", d.out,
                          "--sample-ms",  "50",          NULL};
    char *log = drv_run_expect(&d, args, 60000, 0);
    char line[128];
    snprintf(line, sizeof line, "pinned: workers on CPU %s, redis on CPU %s, driver on CPU %s", his,
             los, los);
    cr_assert(strstr(log, line), "no \"%s\" under the table:\n%s", line, log);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = first_run_ok(j, 5000);
    const cJSON *res = drv_obj(run, "resources");
    const char *roles[] = {"workers", "redis", "driver"};
    const char *want[] = {his, los, los};
    for (int i = 0; i < 3; i++) {
        const cJSON *r = drv_obj(res, roles[i]);
        check_placement(r, roles[i], want[i]);
        cr_assert_str_eq(drv_str(r, "cpus_seen"), want[i], "%s ran outside its pin",
                         roles[i]);
    }
    const cJSON *cfg = drv_obj(j, "config");
    cr_assert_str_eq(drv_str(cfg, "pin_workers"), his);
    cr_assert_str_eq(drv_str(cfg, "pin_redis"), los);
    cr_assert_str_eq(drv_str(cfg, "pin_driver"), los);
    cJSON_Delete(j);
    drv_fini(&d);
}
