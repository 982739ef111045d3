/* test_side_by_side.c - tqworker and Celery measured in one invocation:
 * `tqbench run --framework native,celery` on the embedded Redis, a small backlog
 * scenario. Both runs count every task exactly; the table shows a row per
 * framework, the ratio row native/celery (consistent with the two rows and
 * with results.json) and Celery's enqueue line: tqbench's C producer next to
 * Celery's own client (apply_async), the figure results.json records as
 * throughput_per_s.client_enqueue. Also a small Celery run with --option
 * celery.pool=solo, recorded in results.json. Skipped, with the reason, only
 * when python3-celery does not import under /usr/bin/python3. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver_harness.h"
#include "tq_testutil.h"

#define TASKS 300

/* Skips the test unless `/usr/bin/python3 -c "import celery"` succeeds
 * (removing d's dir first: a skipped test runs no .fini). */
static void require_celery(struct drv *d) {
    char log[400];
    snprintf(log, sizeof log, "%s/import-celery.log", d->dir);
    const char *argv[] = {"/usr/bin/python3", "-c", "import celery", NULL};
    pid_t pid = tq_test_spawn(argv, log);
    int st = -1;
    if (pid <= 0 || !tq_test_wait_pid(pid, 30000, &st) || st != 0) {
        if (pid > 0 && st == -1) tq_test_stop_pid(pid, 2000);
        char *out = drv_read(log);
        char last[200] = "";
        if (out) {
            /* the last line says why (ModuleNotFoundError...) */
            size_t len = strlen(out);
            while (len && out[len - 1] == '\n') out[--len] = '\0';
            const char *nl = strrchr(out, '\n');
            snprintf(last, sizeof last, "%s", nl ? nl + 1 : out);
        }
        free(out);
        drv_fini(d);
        cr_skip_test("python3-celery does not import under /usr/bin/python3 "
                     "(`/usr/bin/python3 -c \"import celery\"` failed%s%s)",
                     last[0] ? ": " : "", last);
    }
}

/* The row of the table that starts with "  <name> " (after the table's
 * header, so progress lines never match), into cells; returns how many. */
static int table_row(const char *log, const char *name, char cells[][32], int max) {
    const char *table = strstr(log, "  framework ");
    cr_assert_not_null(table, "no table in the output:\n%s", log);
    char needle[64];
    snprintf(needle, sizeof needle, "\n  %s ", name);
    const char *row = strstr(table, needle);
    cr_assert_not_null(row, "no table row \"%s\":\n%s", name, log);
    row += strlen(needle);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(row, "\n"), row);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < max;
         t = strtok_r(NULL, " ", &save))
        snprintf(cells[n++], 32, "%s", t);
    return n;
}

/* The summary median of figure for framework. */
static double median(const cJSON *j, const char *framework, const char *figure) {
    const cJSON *s;
    cJSON_ArrayForEach(s, drv_obj(j, "summaries")) {
        if (strcmp(drv_str(s, "framework"), framework) == 0) {
            const cJSON *m = drv_obj(drv_obj(s, figure), "median");
            return cJSON_IsNumber(m) ? m->valuedouble : NAN;
        }
    }
    cr_assert_fail("no summary for %s", framework);
    return NAN;
}

/* A ratio cell ("56.7x", or "-") against a / b: printed with 3 significant
 * digits, so within 0.6%; "-" exactly when a figure is 0 or missing. */
static void check_ratio(const char *cell, double a, double b, const char *what) {
    if (!(a > 0) || !(b > 0)) {
        cr_assert_str_eq(cell, "-", "%s ratio of %g / %g shown as %s", what, a, b, cell);
        return;
    }
    char *end;
    double shown = strtod(cell, &end);
    cr_assert(end != cell && strcmp(end, "x") == 0, "%s ratio cell \"%s\"", what, cell);
    double want = a / b;
    cr_assert(fabs(shown - want) <= 0.006 * want, "%s ratio shown %s, native/celery is %g", what,
              cell, want);
}

/* A row cell printed as value / scale with the row's format, against v. */
static void check_cell(const char *cell, double v, double scale, double tolerance,
                       const char *what) {
    char *end;
    double shown = strtod(cell, &end);
    cr_assert(end != cell, "%s cell \"%s\" is not a number (results.json: %g)", what, cell, v);
    cr_assert(fabs(shown - v / scale) <= tolerance, "%s shown %s, results.json %g", what, cell,
              v / scale);
}

Test(celery, side_by_side, .timeout = 120, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    require_celery(&d);
    char scen[400];
    drv_write(&d, "t_sbs.json",
              "{\"name\": \"t_sbs\", \"description\": \"throughput, small\", \"tasks\": 20000,"
              " \"workers\": 1, \"concurrency\": 4, \"mix\": [{\"kind\": \"noop\"}],"
              " \"arrival\": \"backlog\", \"timeout_s\": 60}",
              scen, sizeof scen);
    /* the two frameworks CI always has: `all` would add asynctasq where it
     * imports (skipped here: Debian 12's Python cannot install it) */
    const char *args[] = {"run", "--scenario", scen, "--framework", "native,celery", "--tasks",
                          "300", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 90000, 0);
    cr_assert_null(strstr(log, "skipping"), "a framework was skipped:\n%s", log);

    cJSON *j = drv_results_required(&d);
    cr_assert_str_eq(drv_str(j, "status"), "ok");
    const cJSON *runs = drv_obj(j, "runs");
    cr_assert_eq(cJSON_GetArraySize(runs), 2, "one run per framework expected:\n%s", log);
    const cJSON *by[2] = {NULL, NULL}; /* native, celery */
    const cJSON *run;
    cJSON_ArrayForEach(run, runs) {
        const char *fw = drv_str(run, "framework");
        int k = strcmp(fw, "native") == 0 ? 0 : strcmp(fw, "celery") == 0 ? 1 : -1;
        cr_assert_geq(k, 0, "unexpected framework %s", fw);
        cr_assert_null(by[k], "two runs of %s", fw);
        by[k] = run;
        cr_assert_str_eq(drv_str(run, "status"), "ok", "%s: %s", fw, log);
        cr_assert_eq(drv_num(run, "tasks"), TASKS, "%s: --tasks not applied", fw);
        cr_assert_eq(drv_num(run, "enqueued"), TASKS, "%s", fw);
        cr_assert_eq(drv_num(run, "completed"), TASKS, "%s: not every task counted", fw);
        cr_assert_eq(drv_num(run, "failed"), 0, "%s", fw);
        cr_assert_eq(drv_num(run, "lost"), 0, "%s", fw);
        cr_assert_eq(drv_num(drv_obj(drv_obj(run, "latency_us"), "end_to_end"), "count"), TASKS,
                     "%s: latency of every task", fw);
    }
    /* The settings the workers report, not only what the scenario asked:
     * Celery runs its default pool (prefork) when the scenario names none */
    const cJSON *sc = drv_obj(by[1], "settings"), *sn = drv_obj(by[0], "settings");
    cr_assert_str_eq(drv_str(sc, "worker_settings_from"), "heartbeats");
    cr_assert_str_eq(drv_str(sc, "pool"), "prefork", "celery's pool not reported");
    cr_assert_str_eq(drv_str(sc, "protocol"), "celery");
    cr_assert_not_null(cJSON_GetObjectItem(sc, "requested"), "what the scenario asked is kept");
    cr_assert_str_eq(drv_str(sn, "protocol"), "native");
    cr_assert_eq(drv_num(sn, "concurrency"), drv_num(drv_obj(sn, "requested"), "concurrency"),
                 "tqworker runs the concurrency it was asked for");
    /* Celery's own client, measured next to the C producer; none for tqworker */
    const cJSON *tn = drv_obj(by[0], "throughput_per_s"), *tc = drv_obj(by[1], "throughput_per_s");
    cr_assert_null(cJSON_GetObjectItem(tn, "client_enqueue"), "native has no client of its own");
    double client = drv_num(tc, "client_enqueue");
    cr_assert_gt(client, 0, "no client_enqueue for celery");
    cr_assert_gt(drv_num(tc, "enqueue"), 0);
    cr_assert_eq(median(j, "celery", "throughput_client_enqueue_per_s"), client,
                 "the summary does not carry client_enqueue");

    /* the rows: tasks/s as results.json has it */
    char nat[12][32], cel[12][32], ratio[12][32];
    cr_assert_geq(table_row(log, "native", nat, 12), 9, "short native row:\n%s", log);
    cr_assert_geq(table_row(log, "celery", cel, 12), 9, "short celery row:\n%s", log);
    cr_assert_str_eq(nat[0], "1/1");
    cr_assert_str_eq(cel[0], "1/1");
    check_cell(nat[1], drv_num(tn, "end_to_end"), 1, 0.5 + 1e-9, "native tasks/s");
    check_cell(cel[1], drv_num(tc, "end_to_end"), 1, 0.5 + 1e-9, "celery tasks/s");
    /* the ratio row: tasks/s, p99, CPU us/task, Redis CPU us/task, peak RSS
     * and PSS of native over celery, as results.json's medians and as the
     * two rows shown */
    cr_assert_eq(table_row(log, "native/celery", ratio, 12), 6, "ratio row:\n%s", log);
    check_ratio(ratio[0], median(j, "native", "throughput_end_to_end_per_s"),
                median(j, "celery", "throughput_end_to_end_per_s"), "tasks/s");
    check_ratio(ratio[1], median(j, "native", "latency_end_to_end_p99_us"),
                median(j, "celery", "latency_end_to_end_p99_us"), "p99");
    check_ratio(ratio[2], median(j, "native", "worker_cpu_us_per_task"),
                median(j, "celery", "worker_cpu_us_per_task"), "CPU us/task");
    check_ratio(ratio[3], median(j, "native", "redis_cpu_us_per_task"),
                median(j, "celery", "redis_cpu_us_per_task"), "Redis us/task");
    check_ratio(ratio[4], median(j, "native", "worker_rss_kb_peak"),
                median(j, "celery", "worker_rss_kb_peak"), "peak RSS");
    check_ratio(ratio[5], median(j, "native", "worker_pss_kb_peak"),
                median(j, "celery", "worker_pss_kb_peak"), "peak PSS");
    /* Celery's prefork pool shares its interpreter's pages among its
     * processes: RSS summed over the pool counts them once per process,
     * PSS once */
    const cJSON *cw = drv_obj(drv_obj(by[1], "resources"), "workers");
    cr_assert_lt(drv_num(cw, "pss_kb_peak"), drv_num(cw, "rss_kb_peak") * 0.8,
                 "celery's pool: PSS %g kB not clearly below summed RSS %g kB",
                 drv_num(cw, "pss_kb_peak"), drv_num(cw, "rss_kb_peak"));
    double rows = strtod(nat[1], NULL) / strtod(cel[1], NULL);
    cr_assert(fabs(strtod(ratio[0], NULL) - rows) <= 0.01 * rows,
              "tasks/s ratio %s, the rows give %s / %s", ratio[0], nat[1], cel[1]);
    rows = strtod(nat[4], NULL) / strtod(cel[4], NULL);
    cr_assert(fabs(strtod(ratio[1], NULL) - rows) <= 0.02 * rows,
              "p99 ratio %s, the rows give %s / %s ms", ratio[1], nat[4], cel[4]);

    /* Celery's enqueue line: both producers, as results.json has them */
    const char *line = strstr(log, "\n  celery enqueue: ");
    cr_assert_not_null(line, "no enqueue line for celery:\n%s", log);
    double c_prod = 0, c_client = 0;
    cr_assert_eq(sscanf(line, "\n  celery enqueue: %lf/s by tqbench's C producer, %lf/s by",
                        &c_prod, &c_client),
                 2, "enqueue line: %.*s", (int)strcspn(line + 1, "\n"), line + 1);
    cr_assert(fabs(c_prod - drv_num(tc, "enqueue")) <= 0.5 + 1e-9, "C producer %g, results.json %g",
              c_prod, drv_num(tc, "enqueue"));
    cr_assert(fabs(c_client - client) <= 0.5 + 1e-9, "own client %g, results.json %g", c_client,
              client);
    cr_assert_null(strstr(log, "\n  native enqueue: "), "native has no client of its own");

    /* nothing the driver started outlives it */
    pid_t pids[16];
    int n = drv_result_pids(j, pids, 16);
    cr_assert_eq(n, 3, "expected the redis pid and one worker per framework, got %d", n);
    for (int i = 0; i < n; i++) cr_assert(!tq_test_pid_alive(pids[i]), "pid %d still alive", pids[i]);
    cJSON_Delete(j);
    free(log);
    drv_fini(&d);
}

/* Issue 9: Celery's pool is its adapter's option. --option celery.pool=solo
 * overrides the scenario's (here the deprecated top-level "pool", read as
 * options.celery.pool); results.json records the option applied
 * (settings.options) and the pool the worker reports it runs. */
Test(celery, option_pool_solo, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    require_celery(&d);
    char scen[400];
    drv_write(&d, "t_solo.json",
              "{\"name\": \"t_solo\", \"tasks\": 50, \"warmup_tasks\": 0, \"pool\": \"threads\","
              " \"concurrency\": 2, \"timeout_s\": 30}",
              scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--framework", "celery", "--option",
                          "celery.pool=solo", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 45000, 0);
    cr_assert(strstr(log, "\"pool\" is deprecated"), "no deprecation warning:\n%s", log);
    free(log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq(drv_num(run, "completed"), 50);
    const cJSON *set = drv_obj(run, "settings");
    cr_assert_str_eq(drv_str(drv_obj(set, "options"), "pool"), "solo", "option not recorded");
    cr_assert_str_eq(drv_str(drv_obj(set, "requested"), "pool"), "solo");
    cr_assert_str_eq(drv_str(set, "pool"), "solo", "the worker does not report the solo pool");
    cr_assert_eq(drv_num(set, "concurrency"), 1, "solo runs one task at a time");
    cJSON_Delete(j);
    drv_fini(&d);
}
