/* stats.h - summaries of repeated runs: median, min, max, mean and the
 * coefficient of variation (sample standard deviation / mean), which says
 * how much to trust a figure (a CV of 10% means differences below that are
 * noise). */
#ifndef TQ_BENCH_STATS_H
#define TQ_BENCH_STATS_H

#include <cjson/cJSON.h>

struct stat_summary {
    int n;
    double median, min, max, mean, cv;
};

/* Summarizes v[0..n-1] (n may be 0: everything 0). v is not modified. */
void stats_summarize(const double *v, int n, struct stat_summary *out);
/* {median, min, max, mean, cv, n}. */
cJSON *stats_to_json(const struct stat_summary *s);

#endif
