/* test_scenarios.c - sweeps and the scenarios built on them.
 *
 * sweep: the machinery alone (bench/sweep.c, linked from tqbenchlib): the
 * order of a sweep's runs (interleaved across frameworks, up and down by
 * repeat, a rate curve always up), the stop rule (a failed or saturated
 * point), the knee, what a point changes, the "sweep" key's validation, and
 * every shipped scenario file loading.
 *
 * scen: each new scenario at a small size, run by tqbench against tqworker
 * (native) on its embedded Redis, with exact counts: one row per point
 * tagged {"param", "value"}; a rate curve far above capacity stops at the
 * first saturated point without failing the invocation; Redis memory per
 * queued task of the largest payload within 20% of the payload plus Redis's
 * per-element overhead; cold-start times in order. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "coldstart.h"
#include "driver_harness.h"
#include "recovery.h"
#include "scenario.h"
#include "schedule.h"
#include "sweep.h"

TestSuite(sweep, .fini = drv_cleanup);
TestSuite(scen, .fini = drv_cleanup);

/* --- the machinery -------------------------------------------------------- */

static struct scenario sweep_of(enum sweep_param p, int n) {
    struct scenario s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "t");
    s.sweep_param = p;
    s.sweep_n = n;
    for (int i = 0; i < n; i++) s.sweep_values[i] = i + 1;
    s.workers = s.concurrency = s.prefetch = 1;
    s.rate_fraction = 0.5;
    return s;
}

Test(sweep, plan_interleaves_frameworks_and_alternates_direction) {
    struct scenario s = sweep_of(SWEEP_WORKERS, 3);
    struct sweep_step st[2 * 3 * 2];
    int n = sweep_plan(&s, 2, 2, st);
    cr_assert_eq(n, 12);
    /* repeat 1 up, every framework at a point before the next point */
    int want[12][3] = {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {0, 2, 0}, {0, 2, 1},
                       /* repeat 2 down */
                       {1, 2, 0}, {1, 2, 1}, {1, 1, 0}, {1, 1, 1}, {1, 0, 0}, {1, 0, 1}};
    for (int i = 0; i < n; i++) {
        cr_assert_eq(st[i].rep, want[i][0], "step %d: repeat %d", i, st[i].rep);
        cr_assert_eq(st[i].point, want[i][1], "step %d: point %d", i, st[i].point);
        cr_assert_eq(st[i].fw, want[i][2], "step %d: framework %d", i, st[i].fw);
    }
}

Test(sweep, plan_of_a_rate_curve_always_goes_up) {
    struct scenario s = sweep_of(SWEEP_RATE, 4);
    struct sweep_step st[4 * 3];
    int n = sweep_plan(&s, 1, 3, st);
    cr_assert_eq(n, 12);
    for (int i = 0; i < n; i++) cr_assert_eq(st[i].point, i % 4, "step %d: point %d", i, st[i].point);
}

Test(sweep, apply_sets_only_the_swept_parameter) {
    struct scenario s = sweep_of(SWEEP_CONCURRENCY, 3), pt;
    s.workers = 2;
    sweep_apply(&s, 2, &pt);
    cr_assert_eq(pt.concurrency, 3);
    cr_assert_eq(pt.workers, 2);
    s = sweep_of(SWEEP_RATE, 2);
    s.sweep_values[1] = 0.75;
    s.rate = 123;
    sweep_apply(&s, 1, &pt);
    cr_assert_eq(pt.rate, 0, "a rate point is probed, never a fixed rate");
    cr_assert_eq(pt.rate_fraction, 0.75);
    s = sweep_of(SWEEP_PAYLOAD_BYTES, 2);
    sweep_apply(&s, 1, &pt);
    cr_assert_eq(pt.payload_bytes, 2);
    cJSON *tag = sweep_tag(&s, 1);
    char *text = cJSON_PrintUnformatted(tag);
    cr_assert_str_eq(text, "{\"param\":\"payload_bytes\",\"value\":2}");
    free(text);
    cJSON_Delete(tag);
}

/* A row whose processing rate (first start to last done) is achieved and
 * whose end-to-end rate (which adds the last task's latency) is lower. */
static cJSON *row(const char *status, double offered, double achieved) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    if (strcmp(status, "ok") != 0) cJSON_AddStringToObject(o, "error", "stalled: no task finished");
    if (offered > 0) cJSON_AddNumberToObject(o, "offered_rate_per_s", offered);
    cJSON *t = cJSON_AddObjectToObject(o, "throughput_per_s");
    cJSON_AddNumberToObject(t, "processing", achieved);
    cJSON_AddNumberToObject(t, "end_to_end", achieved * 0.8);
    return o;
}

Test(sweep, a_failed_or_saturated_point_stops_its_curve) {
    struct scenario rate = sweep_of(SWEEP_RATE, 3), workers = sweep_of(SWEEP_WORKERS, 3);
    char why[512];
    cJSON *ok = row("ok", 1000, 995), *sat = row("ok", 1000, 850), *bad = row("failed", 0, 0);
    cr_assert_eq(sweep_point_stops(&rate, ok, why, sizeof why), 0);
    cr_assert_eq(sweep_point_stops(&rate, sat, why, sizeof why), 1);
    cr_assert(strstr(why, "saturated: 850 tasks/s achieved of 1000 offered"), "%s", why);
    /* saturation is a rate curve's notion: elsewhere there is no offered rate */
    cr_assert_eq(sweep_point_stops(&workers, sat, why, sizeof why), 0);
    cr_assert_eq(sweep_point_stops(&workers, bad, why, sizeof why), 1);
    cr_assert(strstr(why, "the point failed: stalled"), "%s", why);
    /* without a processing rate, the end-to-end one decides */
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(ok, "throughput_per_s"), "processing");
    cr_assert_eq(sweep_point_stops(&rate, ok, why, sizeof why), 1);
    cr_assert(strstr(why, "saturated: 796 tasks/s achieved of 1000 offered"), "%s", why);
    cJSON_Delete(ok);
    cJSON_Delete(sat);
    cJSON_Delete(bad);
}

Test(sweep, knee_is_the_last_point_within_ten_times_the_lowest_p99) {
    double a[] = {100, 300, 900, 1001, 50};
    cr_assert_eq(sweep_knee(a, 5), 2, "1001 > 10 x 100 breaks away; later points do not count");
    double b[] = {100, 200, 300};
    cr_assert_eq(sweep_knee(b, 3), 2);
    double c[] = {NAN, 200};
    cr_assert_eq(sweep_knee(c, 2), -1);
    double d[] = {100, NAN, 150};
    cr_assert_eq(sweep_knee(d, 3), 0, "a point without p99 ends the curve");
}

static int load_text(struct drv *d, const char *text, struct scenario *s, char *err, size_t n) {
    char path[400];
    drv_write(d, "s.json", text, path, sizeof path);
    return scenario_load(path, s, err, n);
}

Test(sweep, the_sweep_key_is_validated) {
    struct drv d;
    drv_init(&d);
    struct scenario s;
    char err[512];
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"tasks\": 10, \"sweep\": {\"param\": \"colour\", \"values\": [1]}}", "\"sweep.param\""},
        {"{\"tasks\": 10, \"sweep\": {\"param\": \"workers\", \"values\": []}}", "\"sweep.values\""},
        {"{\"tasks\": 10, \"sweep\": {\"param\": \"workers\", \"values\": [2, 1]}}", "must increase"},
        {"{\"tasks\": 10, \"sweep\": {\"param\": \"workers\", \"values\": [1.5]}}",
         "\"sweep.values[0]\" must be an integer"},
        {"{\"tasks\": 10, \"sweep\": {\"param\": \"workers\", \"values\": [1], \"step\": 1}}",
         "key \"sweep.step\" is unknown"},
        {"{\"tasks\": 10, \"sweep\": {\"param\": \"rate\", \"values\": [0.5]}}",
         "a \"rate\" sweep needs \"arrival\": \"rate\""},
        {"{\"duration_s\": 1, \"arrival\": \"rate\", \"rate\": 10, \"sweep\": {\"param\": \"rate\", "
         "\"values\": [0.5]}}",
         "a \"rate\" sweep needs"},
        {"{\"duration_s\": 1, \"arrival\": \"rate\", \"sweep\": {\"param\": \"rate\", \"values\": "
         "[0]}}",
         "\"sweep.values[0]\" must be a number in (0..100"},
        {"{\"tasks_capacity_s\": 1, \"arrival\": \"cold\"}", "\"tasks_capacity_s\" sizes a backlog"},
        {"{\"tasks\": 10, \"arrival\": \"cold\", \"warmup_tasks\": 5}", "\"warmup_tasks\" must be 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(load_text(&d, bad[i].text, &s, err, sizeof err), -1, "accepted: %s",
                     bad[i].text);
        cr_assert(strstr(err, bad[i].want), "%s: error \"%s\" lacks \"%s\"", bad[i].text, err,
                  bad[i].want);
    }
    cr_assert_eq(load_text(&d, "{\"tasks_capacity_s\": 0.5, \"sweep\": {\"param\": \"concurrency\", "
                               "\"values\": [1, 10]}}",
                           &s, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(s.sweep_param, SWEEP_CONCURRENCY);
    cr_assert_eq(s.sweep_n, 2);
    cr_assert_eq(s.tasks, SCENARIO_TASKS_MAX, "a capacity-relative size is capped by the bound");
    drv_fini(&d);
}

Test(sweep, every_shipped_scenario_loads) {
    char **paths = NULL, err[512];
    int n = scenario_list(TQ_SCENARIO_DIR, &paths, err, sizeof err);
    cr_assert_geq(n, 13, "%s", err);
    const char *want[] = {"latency_curve", "scaling_workers", "scaling_concurrency",
                          "payload_sizes", "cold_start", "multi_queue", "burst"};
    int found[7] = {0};
    for (int i = 0; i < n; i++) {
        struct scenario s;
        cr_assert_eq(scenario_load(paths[i], &s, err, sizeof err), 0, "%s", err);
        for (int k = 0; k < 7; k++)
            if (strcmp(s.name, want[k]) == 0) found[k] = 1;
    }
    for (int k = 0; k < 7; k++) cr_assert(found[k], "no scenario %s", want[k]);
    scenario_paths_free(paths, n);
}

Test(sweep, burst_schedule_counts_and_times_agree) {
    struct schedule s = {.rate = 100, .factor = 50, .every_s = 10, .at_s = 4, .length_s = 1};
    cr_assert_float_eq(schedule_count(&s, 4), 400, 1e-9, "before the burst: the base rate");
    cr_assert_float_eq(schedule_count(&s, 5), 400 + 5000, 1e-9, "the burst: 50 x 100 for 1 s");
    cr_assert_float_eq(schedule_count(&s, 10), 5900, 1e-9);
    cr_assert_float_eq(schedule_count(&s, 14.5), 5900 + 400 + 2500, 1e-9, "the next period");
    for (double i = 0; i < 20000; i += 37) {
        double t = schedule_time(&s, i);
        cr_assert_float_eq(schedule_count(&s, t), i, 1e-6, "task %g due at %g s", i, t);
    }
    cr_assert_float_eq(schedule_time(&s, 400), 4, 1e-9);
    cr_assert_float_eq(schedule_time(&s, 5400), 5, 1e-9);
    struct schedule flat = {.rate = 100};
    cr_assert_float_eq(schedule_count(&flat, 2.5), 250, 1e-9);
    cr_assert_float_eq(schedule_time(&flat, 250), 2.5, 1e-9);
}

/* A figure of a cold start's object: o.<what>.<which>. */
static double cold_fig(const cJSON *o, const char *what, const char *which) {
    const cJSON *v = cJSON_GetObjectItem(drv_obj(o, what), which);
    cr_assert(v, "%s.%s missing", what, which);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

Test(sweep, cold_start_per_worker_from_its_own_spawn) {
    /* three workers spawned 1 ms apart (µs, wall clock); w2 got no task */
    const int64_t t0 = 1700000000000000;
    struct cold_worker w[3] = {
        {"w0", t0, t0 + 5000, t0 + 6000, t0 + 6500},
        {"w1", t0 + 1000, t0 + 4000, t0 + 9000, t0 + 9200},
        {"w2", t0 + 2000, t0 + 12000, 0, 0},
    };
    struct cold_run run = {t0 - 100, t0 + 6000, t0 + 6500, t0 + 20000};
    cJSON *o = coldstart_json(w, 3, &run);
    /* heartbeats 5, 3 and 10 ms after each one's own spawn */
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_heartbeat", "earliest"), 3, 1e-9);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_heartbeat", "median"), 5, 1e-9);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_heartbeat", "latest"), 10, 1e-9, "all up");
    cr_assert_eq(cold_fig(o, "spawn_to_first_heartbeat", "workers"), 3);
    /* tasks: 6 and 8 ms started, 6.5 and 8.2 done; w2 has none */
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_task_started", "earliest"), 6, 1e-9);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_task_started", "median"), 7, 1e-9);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_task_started", "latest"), 8, 1e-9);
    cr_assert_eq(cold_fig(o, "spawn_to_first_task_started", "workers"), 2);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_task_done", "earliest"), 6.5, 1e-9);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_task_done", "latest"), 8.2, 1e-9);
    cr_assert_float_eq(drv_num(o, "spawn_to_drained"), 20.1, 1e-9, "from the first spawn");
    const cJSON *w2 = cJSON_GetArrayItem(drv_obj(o, "per_worker"), 2);
    cr_assert_str_eq(drv_str(w2, "id"), "w2");
    cr_assert_float_eq(drv_num(w2, "first_heartbeat"), 10, 1e-9);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(w2, "first_task_started")));
    cJSON_Delete(o);

    /* stamps without a worker id: the run's first task from the first spawn */
    for (int i = 0; i < 3; i++) w[i].start_us = w[i].done_us = 0;
    o = coldstart_json(w, 3, &run);
    cr_assert_float_eq(cold_fig(o, "spawn_to_first_task_started", "earliest"), 6.1, 1e-9);
    cr_assert(isnan(cold_fig(o, "spawn_to_first_task_started", "median")));
    cr_assert_eq(cold_fig(o, "spawn_to_first_task_done", "workers"), 0);
    cr_assert(strstr(drv_str(drv_obj(o, "spawn_to_first_task_done"), "from"), "name no worker"));
    cJSON_Delete(o);
}

/* A burst run's tasks at 100/s for 10 s, scheduled i / 100 s, listed in a
 * shuffled order: 1 ms before the burst (4..5 s), 50 ms during it and
 * until 5.49 s, then 1.5 ms for 6 tasks, one at 3 ms, and 1.2 ms from 5.57
 * s on but for one outlier of 9 ms at 7 s. */
static long burst_tasks(struct task_stamp *t) {
    long n = 0;
    for (long k = 0; k < 1000; k++) {
        long i = (k * 7) % 1000; /* every index once, out of order */
        double at = (double)i / 100, lat;
        if (at < 4) lat = 1000;
        else if (i < 550) lat = 50000;
        else if (i <= 555) lat = 1500;
        else if (i == 556) lat = 3000;
        else if (i == 700) lat = 9000;
        else lat = 1200;
        t[n++] = (struct task_stamp){at, lat};
    }
    return n;
}

Test(sweep, burst_recovery_from_task_stamps) {
    static struct task_stamp t[1000];
    long n = burst_tasks(t), count = 0;
    recovery_sort(t, n);
    for (long i = 1; i < n; i++) cr_assert_leq(t[i - 1].sched_s, t[i].sched_s);
    double pre = recovery_p99(t, n, 0, 4, &count);
    cr_assert_eq(count, 400, "the tasks scheduled before the burst");
    cr_assert_float_eq(pre, 1000, 1, "pre-burst p99 %g", pre);
    double bound = RECOVERY_FACTOR * pre;
    /* 5.50..5.55 is a run of 6 (< RECOVERY_RUN) broken at 5.56: the first
     * run of 10 within 2 ms starts at 5.57; the outlier at 7 s comes after */
    cr_assert_float_eq(recovery_after(t, n, 5, INFINITY, bound), 0.57, 1e-9);
    /* a period ending at 5.60: the 3 tasks left from 5.57 are all within */
    cr_assert_float_eq(recovery_after(t, n, 5, 5.6, bound), 0.57, 1e-9);
    /* ... ending at 5.56: the 6 from 5.50 are every task left */
    cr_assert_float_eq(recovery_after(t, n, 5, 5.56, bound), 0.50, 1e-9);
    /* within the bound at once: the first task scheduled from the end */
    cr_assert_float_eq(recovery_after(t, n, 6.005, INFINITY, bound), 0.005, 1e-9);
    /* never within the bound before the period ends, or no task at all */
    cr_assert(isnan(recovery_after(t, n, 5, 5.5, bound)));
    cr_assert(isnan(recovery_after(t, n, 10, INFINITY, bound)));
    cr_assert(isnan(recovery_after(t, n, 5, INFINITY, NAN)), "no pre-burst p99, no bound");
}

/* --- the scenarios, small, against tqworker -------------------------------- */

/* The checks of one small run: d for its log, j its results.json. */
typedef void (*scen_checks)(const struct drv *d, const cJSON *j);

/* One small run: tqbench on the scenario text (native, written as
 * <name>.json in a private dir), which must exit 0, say nothing FAILED and
 * write results.json; then check on them. */
static void scen_run(const char *name, const char *text, scen_checks check) {
    struct drv d;
    drv_init(&d);
    char path[400], file[64];
    snprintf(file, sizeof file, "%s.json", name);
    drv_write(&d, file, text, path, sizeof path);
    const char *args[] = {"run", "--scenario", path, "--framework", "native", "--out", d.out, NULL};
    char *out = drv_run_expect(&d, args, 180000, 0);
    /* a run that went well is not said to have failed */
    cr_assert_null(strstr(out, "FAILED"), "output:\n%s", out);
    free(out);
    cJSON *j = drv_results_required(&d);
    check(&d, j);
    cJSON_Delete(j);
    drv_fini(&d);
}

/* The first run of j, which went well. */
static const cJSON *first_run_ok(const cJSON *j) {
    const cJSON *r = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(r, "status"), "ok", "%s",
                     cJSON_GetObjectItem(r, "error") ? drv_str(r, "error") : "");
    return r;
}

/* The rows of results j, each with exact counts; returns how many, their
 * sweep values in values (in run order). */
static int rows_exact(const cJSON *j, const char *param, double *values, int max) {
    const cJSON *runs = drv_obj(j, "runs"), *r;
    int n = 0;
    cJSON_ArrayForEach(r, runs) {
        cr_assert_str_eq(drv_str(r, "status"), "ok", "row %d failed: %s", n,
                         cJSON_GetObjectItem(r, "error") ? drv_str(r, "error") : "");
        cr_assert_gt(drv_num(r, "tasks"), 0);
        cr_assert_eq(drv_num(r, "enqueued"), drv_num(r, "tasks"));
        cr_assert_eq(drv_num(r, "completed"), drv_num(r, "tasks"), "row %d: completed %g of %g",
                     n, drv_num(r, "completed"), drv_num(r, "tasks"));
        cr_assert_eq(drv_num(r, "lost"), 0);
        const cJSON *tag = drv_obj(r, "sweep");
        cr_assert_eq(cJSON_GetArraySize(tag), 2, "the tag is {param, value} only");
        cr_assert_str_eq(drv_str(tag, "param"), param);
        cr_assert_lt(n, max);
        values[n++] = drv_num(tag, "value");
    }
    return n;
}

/* Run r's resource timeline ends on a sample of at least half an interval:
 * a shorter final one was merged into the one before (its CPU% is noise). */
static void timeline_ends_whole(const cJSON *r) {
    const cJSON *tl = drv_obj(drv_obj(r, "resources"), "timeline"), *t = drv_obj(tl, "t_s");
    int n = cJSON_GetArraySize(t);
    cr_assert_geq(n, 2, "a run of seconds has several samples");
    double last = cJSON_GetArrayItem(t, n - 1)->valuedouble;
    double prev = cJSON_GetArrayItem(t, n - 2)->valuedouble;
    cr_assert_geq(last - prev, 0.5 * drv_num(tl, "interval_ms") / 1e3,
                  "the last sample covers %g s of a %g ms interval", last - prev,
                  drv_num(tl, "interval_ms"));
}

static void latency_curve_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    double v[8];
    cr_assert_eq(rows_exact(j, "rate", v, 8), 2);
    cr_assert_eq(v[0], 0.1);
    cr_assert_eq(v[1], 0.3);
    const cJSON *r0 = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    const cJSON *r1 = cJSON_GetArrayItem(drv_obj(j, "runs"), 1);
    double cap = drv_num(r0, "capacity_probe_per_s");
    cr_assert_gt(cap, 0);
    /* one capacity for the whole curve, each point a fraction of it */
    cr_assert_eq(drv_num(r1, "capacity_probe_per_s"), cap);
    cr_assert_float_eq(drv_num(r0, "offered_rate_per_s"), 0.1 * cap, 1e-6 * cap);
    cr_assert_float_eq(drv_num(r1, "offered_rate_per_s"), 0.3 * cap, 1e-6 * cap);
    const cJSON *curve = cJSON_GetArrayItem(drv_obj(j, "curves"), 0);
    cr_assert_str_eq(drv_str(curve, "framework"), "native");
    cr_assert_eq(cJSON_GetArraySize(drv_obj(curve, "points")), 2);
    const cJSON *knee = drv_obj(curve, "knee");
    cr_assert(cJSON_IsObject(knee), "no knee");
    cr_assert_geq(drv_num(knee, "value"), 0.1);
    cr_assert_eq(cJSON_GetArraySize(drv_obj(j, "summaries")), 2, "a summary per point");
    cr_assert_str_eq(drv_str(j, "status"), "ok");
}

Test(scen, latency_curve_one_row_per_point_and_a_knee, .timeout = 200) {
    scen_run("lc",
             "{\"duration_s\": 0.3, \"warmup_tasks\": 50, \"probe_min_s\": 0.05, \"arrival\": "
             "\"rate\", \"sweep\": {\"param\": \"rate\", \"values\": [0.1, 0.3]}}",
             latency_curve_checks);
}

static void curve_over_checks(const struct drv *d, const cJSON *j) {
    double v[8];
    /* 6 x capacity ran (every task counted) and ended the curve: 12 never ran */
    int n = rows_exact(j, "rate", v, 8);
    const cJSON *first = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_eq(n, 2, "%d row(s), the last at %g; the first's curve_stop: %s", n,
                 n > 0 ? v[n - 1] : NAN,
                 cJSON_GetObjectItem(first, "curve_stop") ? drv_str(first, "curve_stop") : "none");
    cr_assert_eq(v[1], 6);
    const cJSON *r1 = cJSON_GetArrayItem(drv_obj(j, "runs"), 1);
    cr_assert(strstr(drv_str(r1, "curve_stop"), "saturated"), "%s", drv_str(r1, "curve_stop"));
    const cJSON *r0 = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_null(cJSON_GetObjectItem(r0, "curve_stop"));
    const cJSON *curve = cJSON_GetArrayItem(drv_obj(j, "curves"), 0);
    const cJSON *stop = cJSON_GetArrayItem(drv_obj(curve, "stopped"), 0);
    cr_assert_eq(drv_num(stop, "value"), 6);
    cr_assert_eq(drv_num(stop, "repeat"), 1);
    cr_assert_str_eq(drv_str(j, "status"), "ok", "a curve's early stop fails nothing");
    cr_assert(drv_file_has(d->log, "curve stopped at 6: saturated"),
              "the table says where it stopped");
}

Test(scen, latency_curve_far_above_capacity_stops_there_without_failing, .timeout = 200) {
    scen_run("lc_over",
             "{\"duration_s\": 0.3, \"probe_min_s\": 0.05, \"arrival\": \"rate\", \"sweep\": "
             "{\"param\": \"rate\", \"values\": [0.2, 6, 12]}}",
             curve_over_checks);
}

static void scaling_workers_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    double v[8];
    cr_assert_eq(rows_exact(j, "workers", v, 8), 2);
    const cJSON *r;
    int i = 0;
    cJSON_ArrayForEach(r, drv_obj(j, "runs")) {
        cr_assert_eq(drv_num(drv_obj(r, "settings"), "workers"), v[i], "row %d ran %g workers", i,
                     drv_num(drv_obj(r, "settings"), "workers"));
        cr_assert_eq(cJSON_GetArraySize(drv_obj(r, "workers")), (int)v[i]);
        cr_assert_gt(drv_num(r, "capacity_probe_per_s"), 0);
        cr_assert_gt(drv_num(drv_obj(drv_obj(r, "resources"), "workers"), "cpu_us_per_task"), 0);
        i++;
    }
}

static void scaling_concurrency_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    double v[8];
    cr_assert_eq(rows_exact(j, "concurrency", v, 8), 2);
    const cJSON *r;
    int i = 0;
    cJSON_ArrayForEach(r, drv_obj(j, "runs")) {
        cr_assert_eq(drv_num(drv_obj(r, "settings"), "concurrency"), v[i]);
        i++;
    }
}

Test(scen, scaling_workers_and_concurrency, .timeout = 200) {
    scen_run("sw",
             "{\"tasks_capacity_s\": 0.05, \"probe_min_s\": 0.02, \"concurrency\": 1, \"sweep\": "
             "{\"param\": \"workers\", \"values\": [1, 2]}}",
             scaling_workers_checks);
    scen_run("sc",
             "{\"tasks_capacity_s\": 0.05, \"probe_min_s\": 0.02, \"sweep\": {\"param\": "
             "\"concurrency\", \"values\": [1, 4]}}",
             scaling_concurrency_checks);
}

/* Redis keeps an element this large in a plain quicklist node of its own:
 * the node (32 bytes) and the element's allocation, rounded up to a
 * jemalloc size class (at most 25% above a request of this size). */
#define REDIS_ELEMENT_OVERHEAD 64.0

static void payload_sizes_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    double v[8];
    cr_assert_eq(rows_exact(j, "payload_bytes", v, 8), 2);
    const cJSON *big = cJSON_GetArrayItem(drv_obj(j, "runs"), 1);
    cr_assert_eq(v[1], 100000);
    const cJSON *m = drv_obj(big, "redis_memory");
    double per = drv_num(m, "bytes_per_queued_task"), want = 100000 + REDIS_ELEMENT_OVERHEAD;
    cr_assert_eq(drv_num(m, "queued_tasks"), drv_num(big, "tasks"));
    cr_assert(fabs(per - want) <= 0.2 * want, "%.0f bytes per queued task, expected %.0f +- 20%%",
              per, want);
}

Test(scen, payload_sizes_redis_memory_per_queued_task, .timeout = 200) {
    scen_run("ps",
             "{\"tasks_capacity_s\": 0.05, \"probe_min_s\": 0.02, \"sweep\": {\"param\": "
             "\"payload_bytes\", \"values\": [100, 100000]}}",
             payload_sizes_checks);
}

static void cold_start_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    double v[8];
    cr_assert_eq(rows_exact(j, "workers", v, 8), 4);
    /* repeat 1 up, repeat 2 down */
    cr_assert(v[0] == 1 && v[1] == 2 && v[2] == 2 && v[3] == 1, "order %g %g %g %g", v[0], v[1],
              v[2], v[3]);
    const cJSON *r;
    int i = 0;
    cJSON_ArrayForEach(r, drv_obj(j, "runs")) {
        const cJSON *c = drv_obj(r, "cold_start_ms");
        const char *what[] = {"spawn_to_first_heartbeat", "spawn_to_first_task_started",
                              "spawn_to_first_task_done"};
        /* every worker heartbeats; a small backlog may all go to the first */
        cr_assert_eq(cold_fig(c, what[0], "workers"), v[i], "row %d: %g workers beat", i,
                     cold_fig(c, what[0], "workers"));
        for (int k = 0; k < 3; k++) {
            double e = cold_fig(c, what[k], "earliest"), m = cold_fig(c, what[k], "median");
            double l = cold_fig(c, what[k], "latest");
            cr_assert(e > 0 && e <= m && m <= l, "%s: %g %g %g", what[k], e, m, l);
            cr_assert_geq(cold_fig(c, what[k], "workers"), 1);
        }
        /* tqworker pops only after its first heartbeat, finishes what it started */
        cr_assert_geq(cold_fig(c, what[1], "earliest"), cold_fig(c, what[0], "earliest"));
        cr_assert_geq(cold_fig(c, what[2], "earliest"), cold_fig(c, what[1], "earliest"));
        cr_assert_geq(drv_num(c, "spawn_to_drained"), cold_fig(c, what[2], "earliest"));
        const cJSON *pw = drv_obj(c, "per_worker");
        cr_assert_eq(cJSON_GetArraySize(pw), (int)v[i]);
        cr_assert_gt(drv_num(cJSON_GetArrayItem(pw, 0), "first_heartbeat"), 0);
        cr_assert_eq(drv_num(r, "warmup_tasks"), 0, "a cold start has no warm-up");
        i++;
    }
    const cJSON *curve = cJSON_GetArrayItem(drv_obj(j, "curves"), 0);
    const cJSON *p0 = cJSON_GetArrayItem(drv_obj(curve, "points"), 0);
    cr_assert_eq(drv_num(drv_obj(p0, "cold_start_first_task_done_earliest_ms"), "n"), 2,
                 "medians of 2 repeats");
    cr_assert_eq(drv_num(drv_obj(p0, "cold_start_first_heartbeat_latest_ms"), "n"), 2);
}

Test(scen, cold_start_times_in_order, .timeout = 200) {
    scen_run("cs",
             "{\"tasks\": 50, \"arrival\": \"cold\", \"repeat\": 2, \"sweep\": {\"param\": "
             "\"workers\", \"values\": [1, 2]}}",
             cold_start_checks);
}

static void multi_queue_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    const cJSON *r = first_run_ok(j);
    cr_assert_eq(drv_num(r, "completed"), 2000);
    const cJSON *qs = drv_obj(r, "queues");
    const cJSON *pq = drv_obj(qs, "per_queue");
    cr_assert_eq(cJSON_GetArraySize(pq), 3);
    double want[3] = {200, 200, 1600}, last_done = 0;
    for (int i = 0; i < 3; i++) {
        const cJSON *q = cJSON_GetArrayItem(pq, i);
        cr_assert_eq(drv_num(q, "tasks"), want[i], "queue %d: %g tasks", i, drv_num(q, "tasks"));
        cr_assert_eq(drv_num(q, "counted"), want[i]);
        cr_assert_eq(drv_num(drv_obj(drv_obj(q, "latency_us"), "end_to_end"), "count"), want[i]);
        /* tqworker's BRPOP takes the queues in --queue order */
        cr_assert_geq(drv_num(q, "last_done_ms"), last_done, "queue %d done before queue %d", i,
                      i - 1);
        last_done = drv_num(q, "last_done_ms");
    }
    const cJSON *ord = drv_obj(qs, "order");
    cr_assert(strstr(drv_str(ord, "observed"), "strict priority"), "%s", drv_str(ord, "observed"));
    cr_assert(strstr(drv_str(ord, "documented"), "strict priority"));
}

Test(scen, multi_queue_per_queue_counts_and_strict_priority, .timeout = 200) {
    scen_run("mq", "{\"tasks\": 2000, \"concurrency\": 2, \"queues\": [1, 1, 8]}",
             multi_queue_checks);
}

static void burst_checks(const struct drv *d, const cJSON *j) {
    (void)d;
    const cJSON *r = first_run_ok(j);
    double base = drv_num(r, "offered_rate_per_s");
    /* the schedule's count: base x (2 s + 19 x 0.3 s of burst) */
    double want = ceil(base * (2 + 19 * 0.3));
    cr_assert(fabs(drv_num(r, "tasks") - want) <= 1, "%g tasks, expected %g", drv_num(r, "tasks"),
              want);
    cr_assert_eq(drv_num(r, "completed"), drv_num(r, "tasks"));
    const cJSON *b = drv_obj(r, "bursts");
    cr_assert_float_eq(drv_num(b, "burst_rate_per_s"), 20 * base, 1e-6 * base);
    const cJSON *pb = drv_obj(b, "per_burst");
    cr_assert_eq(cJSON_GetArraySize(pb), 1);
    const cJSON *e = cJSON_GetArrayItem(pb, 0);
    cr_assert_eq(drv_num(e, "start_s"), 0.8);
    cr_assert_gt(drv_num(e, "pre_burst_tasks"), 0);
    cr_assert_gt(drv_num(e, "pre_burst_p99_us"), 0);
    const cJSON *rec = drv_obj(e, "recovery_s");
    cr_assert(cJSON_IsNull(rec) || (cJSON_IsNumber(rec) && rec->valuedouble >= 0 &&
                                    rec->valuedouble <= 60),
              "recovery_s is neither null nor a time");
    /* per task: tqworker --trace stamped every task exactly once */
    cr_assert_str_eq(drv_str(b, "recovery_from"), "task stamps");
    cr_assert_eq(drv_num(b, "tasks_stamped"), drv_num(r, "tasks"), "%g of %g tasks stamped",
                 drv_num(b, "tasks_stamped"), drv_num(r, "tasks"));
    cr_assert(strstr(drv_str(b, "recovery_rule"), "10 consecutive tasks"), "%s",
              drv_str(b, "recovery_rule"));
    /* the pre-burst p99 of the tasks scheduled in [0, 0.8 s) */
    cr_assert(fabs(drv_num(e, "pre_burst_tasks") - ceil(base * 0.8)) <= 1, "%g pre-burst tasks",
              drv_num(e, "pre_burst_tasks"));
    double in_windows = 0, last = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, drv_obj(b, "windows")) {
        cr_assert_gt(drv_num(w, "t_s"), last, "windows in time order");
        last = drv_num(w, "t_s");
        in_windows += drv_num(w, "tasks");
    }
    cr_assert_gt(in_windows, 0);
    cr_assert_leq(in_windows, drv_num(r, "tasks"), "windows count no task twice");
    timeline_ends_whole(r);
}

Test(scen, burst_windows_and_recovery, .timeout = 200) {
    scen_run("bu",
             "{\"duration_s\": 2, \"rate_fraction\": 0.05, \"probe_min_s\": 0.05, \"arrival\": "
             "\"rate\", \"burst\": {\"factor\": 20, \"every_s\": 2, \"at_s\": 0.8, \"length_s\": "
             "0.3}}",
             burst_checks);
}
