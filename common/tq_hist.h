/* tq_hist.h - log-linear latency histogram in microseconds (HDR style).
 *
 * Values 0..TQ_HIST_HIGHEST_US are recorded with 3 significant digits: every
 * value lands in a bucket whose width is at most 1/1000 of the value (exact
 * below 2048 µs), as in HdrHistogram with lowest=1, sigfigs=3. Nothing is
 * clamped: a value below 0 or above the range is not recorded but counted in
 * out_of_range. count, sum, min and max are exact, so the mean is exact.
 * Histograms merge exactly (counts add), so percentiles come from the merge,
 * never from averaging percentiles. */
#ifndef TQ_HIST_H
#define TQ_HIST_H

#include <stddef.h>
#include <stdint.h>

#define TQ_HIST_HIGHEST_US (3600LL * 1000000LL) /* one hour */
#define TQ_HIST_SIGFIGS 3

typedef struct tq_hist {
    int64_t *counts;        /* counts_len buckets */
    int32_t counts_len;
    int64_t total_count;    /* values recorded (in range) */
    int64_t out_of_range;   /* values refused: < 0 or > TQ_HIST_HIGHEST_US */
    int64_t min, max;       /* exact; min = INT64_MAX, max = 0 when empty */
    int64_t sum;            /* exact sum of recorded values */
} tq_hist;

/* Allocates the buckets. Returns 0, or -1 when out of memory. */
int tq_hist_init(tq_hist *h);
/* Frees the buckets; h may be re-initialised afterwards. */
void tq_hist_free(tq_hist *h);
/* Empties h, keeping its buckets. */
void tq_hist_reset(tq_hist *h);

/* Records one value. Returns 0, or -1 when out of range (then counted). */
int tq_hist_record(tq_hist *h, int64_t value_us);
/* Records a value n times. Same return as tq_hist_record. */
int tq_hist_record_n(tq_hist *h, int64_t value_us, int64_t n);
/* Adds every count of src into dst (exact). */
void tq_hist_merge(tq_hist *dst, const tq_hist *src);

/* The value at percentile pct (0..100] as HdrHistogram_c computes it: the
 * highest value equivalent to the bucket where the running count reaches
 * max(1, (int64)(pct/100 * total_count + 0.5)), capped at the exact max (so
 * p100 == max). pct <= 0 gives the exact min, pct > 100 is taken as 100.
 * 0 when empty. */
int64_t tq_hist_value_at_percentile(const tq_hist *h, double pct);
double tq_hist_mean(const tq_hist *h);            /* 0 when empty */
int64_t tq_hist_min(const tq_hist *h);            /* 0 when empty */
int64_t tq_hist_max(const tq_hist *h);            /* 0 when empty */
/* Width of the bucket that holds value v: the resolution at v. */
int64_t tq_hist_bucket_width(int64_t v);

/* Compact text form, "h1 <count> <oor> <min> <max> <sum> <idx>:<n>,<dIdx>:<n>,..."
 * (only non-empty buckets, the first index absolute and the others as the
 * difference from the previous one; min, max and sum are 0 and the bucket
 * list with its leading space is absent when count is 0, e.g. "h1 0 3 0 0 0").
 * Returns a malloc'd, NUL-terminated string (length in *len when len !=
 * NULL), NULL on OOM. */
char *tq_hist_serialize(const tq_hist *h, size_t *len);
/* Parses a tq_hist_serialize() string of exactly len bytes and MERGES it
 * into h (so parsing the snapshots of several workers into one histogram
 * merges them). Strict: plain decimals only, single spaces, no trailing
 * bytes, and the header must agree with the buckets (count = sum of counts,
 * min in the first bucket, max in the last, min*count <= sum <= max*count).
 * Returns 0, or -1 when s is malformed or a count would overflow (h is then
 * unchanged: the string is validated in full before anything is added). */
int tq_hist_parse(tq_hist *h, const char *s, size_t len);

#endif
