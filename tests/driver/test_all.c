/* test_all.c - every installed framework side by side in one invocation
 * (issue "RQ, Sidekiq and BullMQ side by side"): `tqbench run --framework
 * all` on the throughput scenario gives one ok run and one table row per
 * framework that is not skipped, every registered framework is either run
 * or skipped with a reason, each run names its framework's version (from
 * the heartbeats), and each native/<framework> ratio row's tasks/s equals
 * the ratio of the two runs' figures in results.json. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "driver_harness.h"
#include "tq_testutil.h"

/* The first cell after the label of the table line "  <label> ...". */
static int first_cell(const char *log, const char *label, char *out, size_t n) {
    char needle[96];
    snprintf(needle, sizeof needle, "\n  %s ", label);
    const char *p = strstr(log, needle);
    if (!p) return -1;
    p += strlen(needle);
    while (*p == ' ') p++;
    size_t len = strcspn(p, " \n");
    snprintf(out, n, "%.*s", (int)len, p);
    return 0;
}

static const char *const registered[] = {"native",  "celery",  "asynctasq", "rq",
                                         "rq-simple", "sidekiq", "bullmq"};

Test(all, side_by_side_rows_and_ratios, .timeout = 400, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run", "--framework", "all", "--scenario", "throughput", "--tasks",
                          "300", "--warmup", "30", "--out", d.out, NULL};
    char *log = drv_run_expect(&d, args, 380000, 0);
    cJSON *j = drv_results_required(&d);
    double native_tput = NAN;
    const cJSON *run;
    cJSON_ArrayForEach(run, drv_obj(j, "runs")) {
        if (strcmp(drv_str(run, "framework"), "native") == 0)
            native_tput = drv_num(drv_obj(run, "throughput_per_s"), "end_to_end");
    }
    cr_assert(native_tput > 0, "no native run");
    for (size_t i = 0; i < sizeof registered / sizeof registered[0]; i++) {
        const char *fw = registered[i];
        const cJSON *mine = NULL, *e;
        cJSON_ArrayForEach(e, drv_obj(j, "runs")) {
            if (strcmp(drv_str(e, "framework"), fw) == 0) mine = e;
        }
        const cJSON *skip = NULL;
        cJSON_ArrayForEach(e, drv_obj(j, "skipped_frameworks")) {
            if (strcmp(drv_str(e, "framework"), fw) == 0) skip = e;
        }
        cr_assert((mine != NULL) != (skip != NULL), "%s: neither run nor skipped, or both", fw);
        if (skip) {
            cr_assert_gt(strlen(drv_str(skip, "reason")), 0, "%s skipped without a reason", fw);
            continue;
        }
        cr_assert_str_eq(drv_str(mine, "status"), "ok", "%s: %s", fw,
                         cJSON_IsString(cJSON_GetObjectItem(mine, "error"))
                             ? drv_str(mine, "error") : "");
        cr_assert_eq(drv_num(mine, "completed"), 300, "%s: exact count", fw);
        /* the version its workers' heartbeats report ("celery-5.2.6";
         * tqworker's own for native), for the report's facts */
        const char *version = drv_str(drv_obj(mine, "settings"), "framework_version");
        size_t family = strcspn(fw, "-");
        if (strcmp(fw, "native") != 0)
            cr_assert(strncmp(version, fw, family) == 0 && version[family] == '-',
                      "%s: framework_version \"%s\"", fw, version);
        else
            cr_assert_gt(strlen(version), 0, "native: no framework_version");
        char cell[64];
        cr_assert_eq(first_cell(log, fw, cell, sizeof cell), 0, "no %s row:\n%s", fw, log);
        cr_assert_str_eq(cell, "1/1", "%s row: %s", fw, cell);
        if (strcmp(fw, "native") == 0) continue;
        char label[64];
        snprintf(label, sizeof label, "native/%s", fw);
        cr_assert_eq(first_cell(log, label, cell, sizeof cell), 0, "no %s row:\n%s", label, log);
        double shown = strtod(cell, NULL);
        double want = native_tput / drv_num(drv_obj(mine, "throughput_per_s"), "end_to_end");
        /* printed with 3 significant digits */
        cr_assert(fabs(shown - want) <= 0.005 * want + 1e-9, "%s: %s shown, results.json "
                                                              "gives %.4g", label, cell, want);
    }
    free(log);
    cJSON_Delete(j);
    drv_fini(&d);
}
