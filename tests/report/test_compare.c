/* test_compare.c - `tqbench compare` on the committed fixtures: a real
 * change beyond the noise is flagged (exit 1), a change within the noise of
 * the repeats is not (exit 0), and input that cannot be compared exits 2
 * with the reason. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tq_testutil.h"

/* Runs tqbench compare with args; returns its exit code, its output (stdout
 * and stderr) in *out (free it). */
static int compare(char **out, const char *base, const char *new_, const char *extra1,
                   const char *extra2) {
    char bin[1024], b[1024], n[1024], log[] = "/tmp/tq-compare-XXXXXX";
    int fd = mkstemp(log);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(b, sizeof b, "%s/%s", TQ_REPORT_FIXTURES, base);
    snprintf(n, sizeof n, "%s/%s", TQ_REPORT_FIXTURES, new_);
    const char *argv[] = {tq_test_bin("tqbench", bin, sizeof bin), "compare", b, n, extra1,
                          extra2, NULL};
    pid_t pid = tq_test_spawn(argv, log);
    cr_assert_gt(pid, 0);
    int status = 0;
    cr_assert_eq(tq_test_wait_pid(pid, 30000, &status), 1, "compare did not finish");
    FILE *f = fopen(log, "r");
    cr_assert(f);
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    buf[len] = 0;
    fclose(f);
    unlink(log);
    *out = strdup(buf);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The output line of framework's figure. */
static const char *line_of(const char *out, const char *framework, const char *figure,
                           char *buf, size_t n) {
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t len = strcspn(l, "\n");
        snprintf(buf, n, "%.*s", (int)len, l);
        char fw[64];
        snprintf(fw, sizeof fw, " %s ", framework);
        if (strstr(buf, fw) && strstr(buf, figure)) return buf;
    }
    cr_assert_fail("no line for %s %s in:\n%s", framework, figure, out);
    return NULL;
}

Test(compare, same_results_no_change) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "repeats.json", NULL, NULL), 0, "%s", out);
    cr_assert(strstr(out, "OK: "), "%s", out);
    cr_assert(strstr(out, " 0 regression(s)"), "%s", out);
    free(out);
}

Test(compare, change_within_noise_not_flagged) {
    /* native 2% slower: beyond a 1% threshold but inside its repeats'
     * 50000..52000 range */
    char *out, l[512];
    cr_assert_eq(compare(&out, "repeats.json", "repeats_noise.json", "--threshold", "1"), 0,
                 "%s", out);
    line_of(out, "native", "throughput_end_to_end_per_s", l, sizeof l);
    cr_assert(strstr(l, "no change (noise)"), "%s", l);
    cr_assert(strstr(l, "-2.0%"), "%s", l);
    cr_assert_null(strstr(out, "| regression"));
    free(out);
}

Test(compare, real_change_flagged) {
    char *out, l[512];
    cr_assert_eq(compare(&out, "repeats.json", "repeats_regressed.json", NULL, NULL), 1, "%s",
                 out);
    line_of(out, "native", "throughput_end_to_end_per_s", l, sizeof l);
    cr_assert(strstr(l, "regression") && strstr(l, "51000.0") && strstr(l, "35700.0") &&
              strstr(l, "-30.0%"), "%s", l);
    line_of(out, "native", "latency_end_to_end_p99_us", l, sizeof l);
    cr_assert(strstr(l, "regression"), "%s", l);
    line_of(out, "rq", "throughput_end_to_end_per_s", l, sizeof l);
    cr_assert(strstr(l, "no change"), "%s", l);
    cr_assert(strstr(out, "REGRESSED: "), "%s", out);
    free(out);
    /* the other way round it is an improvement, and exit 0 */
    cr_assert_eq(compare(&out, "repeats_regressed.json", "repeats.json", NULL, NULL), 0, "%s",
                 out);
    line_of(out, "native", "throughput_end_to_end_per_s", l, sizeof l);
    cr_assert(strstr(l, "improvement"), "%s", l);
    free(out);
}

Test(compare, threshold_above_the_change) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "repeats_regressed.json", "--threshold", "50"), 0,
                 "%s", out);
    free(out);
}

Test(compare, markdown_for_ci) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "repeats_regressed.json", "--format", "md"), 1);
    cr_assert(strstr(out, "| scenario | framework | point | figure |"), "%s", out);
    cr_assert(strstr(out, "**regression**"), "%s", out);
    cr_assert(strstr(out, "**REGRESSED: "), "%s", out);
    free(out);
}

Test(compare, sweep_points_compared) {
    char *out, l[512];
    cr_assert_eq(compare(&out, "sweep.json", "sweep.json", NULL, NULL), 0, "%s", out);
    line_of(out, "rq", "rate=0.25", l, sizeof l);
    cr_assert(strstr(out, "of 6 pair(s)"), "%s", out);
    free(out);
}

Test(compare, failed_repeat_left_out) {
    /* failed.json: native's repeat 2 (52000) failed; the median of the
     * other two is 50500: inside the noise of the three */
    char *out, l[512];
    cr_assert_eq(compare(&out, "repeats.json", "failed.json", NULL, NULL), 0, "%s", out);
    line_of(out, "native", "throughput_end_to_end_per_s", l, sizeof l);
    cr_assert(strstr(l, "50500.0"), "%s", l);
    free(out);
}

Test(compare, skipped_framework_is_unusable) {
    /* BASE has rq, NEW skipped it: its figures are missing */
    char *out;
    cr_assert_eq(compare(&out, "single.json", "skipped.json", NULL, NULL), 2, "%s", out);
    cr_assert(strstr(out, "throughput/rq: in BASE, not in NEW (skipped there: python3 cannot "
                          "import rq)"), "%s", out);
    free(out);
    /* a framework only NEW has is not compared, and not an error */
    cr_assert_eq(compare(&out, "skipped.json", "single.json", NULL, NULL), 0, "%s", out);
    cr_assert(strstr(out, "of 1 pair(s)"), "%s", out);
    free(out);
}

Test(compare, incompatible_schema_exits_2) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "schema99.json", NULL, NULL), 2, "%s", out);
    cr_assert(strstr(out, "incompatible schema_version: BASE has 1, NEW has 99"), "%s", out);
    free(out);
}

Test(compare, different_scenarios_exit_2) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "sweep.json", NULL, NULL), 2, "%s", out);
    cr_assert(strstr(out, "different scenarios: only in BASE: throughput; only in NEW: latency"),
              "%s", out);
    free(out);
}

Test(compare, missing_file_exits_2) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "nothing-here.json", NULL, NULL), 2, "%s", out);
    cr_assert(strstr(out, "nothing-here.json: No such file or directory"), "%s", out);
    free(out);
}

Test(compare, bad_threshold_exits_2) {
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "repeats.json", "--threshold", "-3"), 2);
    cr_assert(strstr(out, "--threshold must be a percentage"), "%s", out);
    free(out);
}

Test(compare, figure_base_has_and_new_lacks_exits_2_naming_it) {
    /* repeats_lacking.json: repeats.json without rq's end-to-end p99 */
    char *out;
    cr_assert_eq(compare(&out, "repeats.json", "repeats_lacking.json", NULL, NULL), 2, "%s", out);
    cr_assert(strstr(out, "figure(s) BASE has and NEW lacks: throughput/rq: "
                          "latency_end_to_end_p99_us"), "%s", out);
    /* one clear line before any row: no table cut short */
    cr_assert_null(strstr(out, "throughput_end_to_end_per_s"), "%s", out);
    cr_assert_null(strstr(out, "OK: "), "%s", out);
    free(out);
    /* the other way round a figure only NEW has is not compared, and not an error */
    cr_assert_eq(compare(&out, "repeats_lacking.json", "repeats.json", NULL, NULL), 0, "%s", out);
    cr_assert(strstr(out, "OK: 21 figure(s) of 2 pair(s)"), "%s", out);
    free(out);
}
