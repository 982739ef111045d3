/* test_timeline.c - a run's resource timeline (bench/timeline.c): a final
 * sample over a sliver of an interval is merged into the one before, with
 * the CPU% of the two intervals together, so the CPU chart of report.html
 * does not spike at a run's end. */
#include <criterion/criterion.h>
#include <math.h>
#include "timeline.h"

static void add(struct timeline *tl, double t_s, double w_cpu, double r_cpu, double rss) {
    struct timeline_point pt;
    timeline_point_init(&pt, t_s);
    pt.cpu_pct[TIMELINE_WORKERS] = w_cpu;
    pt.cpu_pct[TIMELINE_REDIS] = r_cpu;
    pt.rss_kb[TIMELINE_WORKERS] = rss;
    cr_assert_eq(timeline_add(tl, &pt), 0);
}

Test(timeline, a_short_last_sample_merges_into_the_one_before) {
    struct timeline tl = {0};
    add(&tl, 0.5, 40, 10, 1000);
    add(&tl, 1.0, 20, NAN, 1100);
    /* 50 ms at 100%: a spike of its own */
    add(&tl, 1.05, 100, 30, NAN);
    cr_assert_eq(timeline_merge_last(&tl), 0);
    cr_assert_eq(tl.n, 2);
    const struct timeline_point *p = &tl.p[1];
    cr_assert_float_eq(p->t_s, 1.05, 1e-12, "the merged sample ends where the last did");
    /* 20% over 0.5 s and 100% over 0.05 s: 15 ms of CPU in 0.55 s */
    cr_assert_float_eq(p->cpu_pct[TIMELINE_WORKERS], (20 * 0.5 + 100 * 0.05) / 0.55, 1e-9);
    cr_assert_float_eq(p->cpu_pct[TIMELINE_REDIS], 30, 1e-12, "read only in the last: its own");
    cr_assert(isnan(p->cpu_pct[TIMELINE_DRIVER]), "read in neither: still not read");
    cr_assert_float_eq(p->rss_kb[TIMELINE_WORKERS], 1100, 1e-12, "RSS not read last: the one before");
    cr_assert_float_eq(tl.p[0].cpu_pct[TIMELINE_WORKERS], 40, 1e-12, "earlier samples untouched");
    timeline_free(&tl);
}

Test(timeline, the_first_interval_counts_from_zero) {
    struct timeline tl = {0};
    add(&tl, 0.4, 50, NAN, 1);
    add(&tl, 0.5, 0, NAN, 2);
    cr_assert_eq(timeline_merge_last(&tl), 0);
    cr_assert_eq(tl.n, 1);
    cr_assert_float_eq(tl.p[0].cpu_pct[TIMELINE_WORKERS], 40, 1e-9, "50%% x 0.4 s + 0 x 0.1 s");
    cr_assert_float_eq(tl.p[0].rss_kb[TIMELINE_WORKERS], 2, 1e-12);
    timeline_free(&tl);
}

Test(timeline, a_single_sample_is_left_alone) {
    struct timeline tl = {0};
    cr_assert_eq(timeline_merge_last(&tl), -1);
    add(&tl, 0.01, 90, NAN, 1);
    cr_assert_eq(timeline_merge_last(&tl), -1);
    cr_assert_eq(tl.n, 1);
    cr_assert_float_eq(tl.p[0].cpu_pct[TIMELINE_WORKERS], 90, 1e-12);
    timeline_free(&tl);
}
