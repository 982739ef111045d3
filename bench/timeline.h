/* timeline.h - the resource samples of a run over time, per role.
 *
 * The monitor (monitor.h) folds its samples into averages and peaks; a
 * report that draws CPU and memory over time needs the samples themselves.
 * A timeline keeps, per sample, the time since the measured phase began and
 * each role's (workers, Redis, driver) CPU% of that sample interval (percent
 * of one CPU) and RSS in kB; NAN where a role was not read in that sample.
 * In results.json it is a run's resources.timeline, column-wise:
 *   {"interval_ms": 500, "t_s": [..], "workers": {"cpu_pct": [..],
 *    "rss_kb": [..]}, "redis": {..}, "driver": {..}, "truncated": false}
 * (null for a value not read). It holds at most TIMELINE_MAX samples (hours
 * at the default 500 ms); later ones are dropped and "truncated" says so.
 *
 * A run's last sample is taken when the run ends, however little of an
 * interval has passed: its CPU% is right for its interval, but over a few
 * ms it is mostly noise (10 ms clock ticks, the sampler's own reads), so the
 * chart would spike at its end. The monitor merges such a final sample into
 * the one before (timeline_merge_last). */
#ifndef TQ_BENCH_TIMELINE_H
#define TQ_BENCH_TIMELINE_H

#include <cjson/cJSON.h>

#define TIMELINE_MAX 100000
enum timeline_role { TIMELINE_WORKERS, TIMELINE_REDIS, TIMELINE_DRIVER, TIMELINE_ROLES };

struct timeline_point {
    double t_s;
    double cpu_pct[TIMELINE_ROLES];
    double rss_kb[TIMELINE_ROLES];
};

struct timeline {
    struct timeline_point *p;
    int n, cap;
    int truncated;
};

/* Sets every value of pt to NAN (not read) at time t_s. */
void timeline_point_init(struct timeline_point *pt, double t_s);
/* Appends one sample. Returns 0, or -1 when it was dropped (out of memory
 * or TIMELINE_MAX reached: "truncated"). */
int timeline_add(struct timeline *tl, const struct timeline_point *pt);
/* Merges the last sample into the one before it: one sample at the last
 * one's t_s whose CPU% is the two's, weighted by their intervals (each from
 * the previous t_s, the first from 0), i.e. the CPU used over the two
 * intervals together; RSS the last one's (the previous one's where the last
 * did not read it); a role read in only one of them keeps that one's CPU%.
 * Returns 0, or -1 (nothing changed) with fewer than two samples. */
int timeline_merge_last(struct timeline *tl);
/* The column-wise JSON above; interval_ms is the sampling period asked for. */
cJSON *timeline_to_json(const struct timeline *tl, int interval_ms);
void timeline_free(struct timeline *tl);

#endif
