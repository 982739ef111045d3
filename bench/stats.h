/* stats.h - summaries of repeated runs: median, min, max, mean and the
 * coefficient of variation (sample standard deviation / mean), which says
 * how much to trust a figure (a CV of 10% means differences below that are
 * noise). A figure that was not measured in a repeat is NAN there and is
 * left out; a summary of nothing is null in JSON, never 0. */
#ifndef TQ_BENCH_STATS_H
#define TQ_BENCH_STATS_H

#include <cjson/cJSON.h>

struct stat_summary {
    int n;                              /* values summarized (NANs left out) */
    double median, min, max, mean, cv;  /* NAN when n is 0 (cv: when n < 2 or mean 0) */
};

/* Summarizes the values of v[0..n-1] that are not NAN. v is not modified. */
void stats_summarize(const double *v, int n, struct stat_summary *out);
/* {median, min, max, mean, cv, n}; NAN figures as null. */
cJSON *stats_to_json(const struct stat_summary *s);
/* Adds name: v to o, or name: null when v is NAN (not measured). */
void stats_add_number(cJSON *o, const char *name, double v);

#endif
