/* test_hist.c - the HDR-style histogram: percentiles against exact ones on
 * random data of several shapes, merge, the text form and its strict parser,
 * out-of-range values, and the empty histogram. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_hist.h"

#define N 100000

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static double rng_unit(void) { /* [0, 1) */
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}

enum dist { UNIFORM_SMALL, UNIFORM_WIDE, EXPONENTIAL, LOG_UNIFORM, BIMODAL, CONSTANT, DIST__COUNT };
static const char *const dist_names[] = {"uniform 0..10k", "uniform 0..1h", "exponential",
                                         "log-uniform 1..1h", "bimodal", "constant"};

static int64_t draw(enum dist d) {
    switch (d) {
    case UNIFORM_SMALL: return (int64_t)(rng_unit() * 10000);
    case UNIFORM_WIDE: return (int64_t)(rng_unit() * (double)TQ_HIST_HIGHEST_US);
    case EXPONENTIAL: return (int64_t)(-log(1 - rng_unit()) * 500);
    case LOG_UNIFORM: return (int64_t)exp(rng_unit() * log((double)TQ_HIST_HIGHEST_US));
    case BIMODAL: return rng_unit() < 0.9 ? 80 + (int64_t)(rng_unit() * 40)
                                          : 250000 + (int64_t)(rng_unit() * 50000);
    default: return 12345;
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void fill(tq_hist *h, int64_t *values, enum dist d, uint64_t seed) {
    rng_state = seed;
    for (int i = 0; i < N; i++) {
        values[i] = draw(d);
        cr_assert_eq(tq_hist_record(h, values[i]), 0, "value %lld refused", (long long)values[i]);
    }
}

static void assert_same_hist(const tq_hist *a, const tq_hist *b) {
    cr_assert_eq(a->counts_len, b->counts_len);
    cr_assert_eq(memcmp(a->counts, b->counts, (size_t)a->counts_len * sizeof *a->counts), 0,
                 "bucket counts differ");
    cr_assert_eq(a->total_count, b->total_count);
    cr_assert_eq(a->out_of_range, b->out_of_range);
    cr_assert_eq(a->sum, b->sum);
    cr_assert_eq(tq_hist_min(a), tq_hist_min(b));
    cr_assert_eq(tq_hist_max(a), tq_hist_max(b));
}

Test(hist, percentiles_within_one_bucket_of_exact) {
    static const double pcts[] = {0.001, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
    int64_t *values = malloc(N * sizeof *values);
    cr_assert_not_null(values);
    for (int d = 0; d < DIST__COUNT; d++) {
        tq_hist h;
        cr_assert_eq(tq_hist_init(&h), 0);
        fill(&h, values, (enum dist)d, 0x9e3779b97f4a7c15ULL + (uint64_t)d);
        qsort(values, N, sizeof *values, cmp_i64);
        cr_assert_eq(h.total_count, N);
        cr_assert_eq(tq_hist_min(&h), values[0], "%s: min", dist_names[d]);
        cr_assert_eq(tq_hist_max(&h), values[N - 1], "%s: max", dist_names[d]);
        long double sum = 0;
        for (int i = 0; i < N; i++) sum += values[i];
        cr_assert_eq((long double)h.sum, sum, "%s: sum", dist_names[d]);
        cr_assert_float_eq(tq_hist_mean(&h), (double)(sum / N), 1e-9 * (double)(sum / N) + 1e-9);
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
            /* The exact percentile as HdrHistogram counts it: the value of
             * rank max(1, round(pct/100 * N)). */
            int64_t rank = (int64_t)(pcts[i] / 100 * N + 0.5);
            if (rank < 1) rank = 1;
            int64_t exact = values[rank - 1];
            int64_t got = tq_hist_value_at_percentile(&h, pcts[i]);
            int64_t width = tq_hist_bucket_width(exact);
            cr_assert(got >= exact && got - exact < width,
                      "%s p%g: got %lld, exact %lld, bucket width %lld", dist_names[d], pcts[i],
                      (long long)got, (long long)exact, (long long)width);
            /* One bucket is at most 1/1000 of the value: 3 significant digits. */
            cr_assert(width == 1 || width * 1000 <= exact, "width %lld at %lld", (long long)width,
                      (long long)exact);
        }
        cr_assert_eq(tq_hist_value_at_percentile(&h, 100), values[N - 1], "%s: p100 != max",
                     dist_names[d]);
        tq_hist_free(&h);
    }
    free(values);
}

Test(hist, exact_below_2048) {
    tq_hist h;
    cr_assert_eq(tq_hist_init(&h), 0);
    for (int v = 0; v < 1000; v++) tq_hist_record(&h, v);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 50), 499);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 99.9), 998);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 100), 999);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 0.01), 0);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 0), 0);
    cr_assert_float_eq(tq_hist_mean(&h), 499.5, 1e-12);
    /* HdrHistogram rounds the rank to nearest (not up): with 3 values,
     * p40 is rank round(1.2) = 1 and p84 is rank round(2.52) = 3. */
    tq_hist_reset(&h);
    tq_hist_record(&h, 10);
    tq_hist_record(&h, 20);
    tq_hist_record(&h, 30);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 40), 10);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 50), 20);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 83), 20);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 84), 30);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 150), 30);
    tq_hist_free(&h);
}

Test(hist, bucket_widths) {
    cr_assert_eq(tq_hist_bucket_width(0), 1);
    cr_assert_eq(tq_hist_bucket_width(2047), 1);
    cr_assert_eq(tq_hist_bucket_width(2048), 2);
    cr_assert_eq(tq_hist_bucket_width(4095), 2);
    cr_assert_eq(tq_hist_bucket_width(4096), 4);
    cr_assert_eq(tq_hist_bucket_width(1000000), 512);
    cr_assert_eq(tq_hist_bucket_width(TQ_HIST_HIGHEST_US), 2097152);
    /* Values sharing a bucket report the same percentile; the next one does not. */
    tq_hist h;
    cr_assert_eq(tq_hist_init(&h), 0);
    tq_hist_record(&h, 1000000);
    tq_hist_record(&h, 2000000);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 50), 1000000 / 512 * 512 + 512 - 1);
    tq_hist_free(&h);
}

Test(hist, merge_equals_recording_everything_in_one) {
    tq_hist a, b, all;
    cr_assert_eq(tq_hist_init(&a), 0);
    cr_assert_eq(tq_hist_init(&b), 0);
    cr_assert_eq(tq_hist_init(&all), 0);
    rng_state = 77;
    for (int i = 0; i < N; i++) {
        int64_t v = draw(i % 2 ? LOG_UNIFORM : EXPONENTIAL);
        tq_hist_record(i % 3 ? &a : &b, v);
        tq_hist_record(&all, v);
    }
    tq_hist_record(&a, -5);
    tq_hist_record(&all, -5);
    tq_hist_record(&b, TQ_HIST_HIGHEST_US + 1);
    tq_hist_record(&all, TQ_HIST_HIGHEST_US + 1);
    tq_hist_merge(&a, &b);
    assert_same_hist(&a, &all);
    for (double p = 1; p <= 100; p += 1)
        cr_assert_eq(tq_hist_value_at_percentile(&a, p), tq_hist_value_at_percentile(&all, p));
    /* Merging an empty histogram changes nothing; into an empty one copies. */
    tq_hist empty, copy;
    cr_assert_eq(tq_hist_init(&empty), 0);
    cr_assert_eq(tq_hist_init(&copy), 0);
    tq_hist_merge(&a, &empty);
    assert_same_hist(&a, &all);
    tq_hist_merge(&copy, &all);
    assert_same_hist(&copy, &all);
    tq_hist_free(&a);
    tq_hist_free(&b);
    tq_hist_free(&all);
    tq_hist_free(&empty);
    tq_hist_free(&copy);
}

Test(hist, serialize_parse_round_trip) {
    for (int d = 0; d < DIST__COUNT; d++) {
        tq_hist h, back;
        int64_t *values = malloc(N * sizeof *values);
        cr_assert_eq(tq_hist_init(&h), 0);
        cr_assert_eq(tq_hist_init(&back), 0);
        fill(&h, values, (enum dist)d, 1000 + (uint64_t)d);
        tq_hist_record(&h, -1);
        tq_hist_record(&h, INT64_MAX);
        size_t len = 0;
        char *s = tq_hist_serialize(&h, &len);
        cr_assert_not_null(s);
        cr_assert_eq(strlen(s), len);
        cr_assert_eq(strncmp(s, "h1 ", 3), 0);
        cr_assert_eq(tq_hist_parse(&back, s, len), 0, "%s: own output refused", dist_names[d]);
        assert_same_hist(&h, &back);
        cr_assert_eq(back.out_of_range, 2);
        /* Parsing again merges: every count doubles. */
        cr_assert_eq(tq_hist_parse(&back, s, len), 0);
        cr_assert_eq(back.total_count, 2 * h.total_count);
        cr_assert_eq(back.sum, 2 * h.sum);
        cr_assert_eq(back.out_of_range, 4);
        cr_assert_eq(tq_hist_min(&back), tq_hist_min(&h));
        cr_assert_eq(tq_hist_max(&back), tq_hist_max(&h));
        free(s);
        free(values);
        tq_hist_free(&h);
        tq_hist_free(&back);
    }
}

Test(hist, serialize_is_compact) {
    tq_hist h;
    cr_assert_eq(tq_hist_init(&h), 0);
    tq_hist_record_n(&h, 100, 3);
    tq_hist_record(&h, 101);
    tq_hist_record(&h, 5000);
    size_t len;
    char *s = tq_hist_serialize(&h, &len);
    /* 5000 is in bucket 2 (width 4): index 3*1024 + 5000/4 - 1024 = 3298. */
    cr_assert_str_eq(s, "h1 5 0 100 5000 5401 100:3,1:1,3197:1");
    free(s);
    tq_hist_free(&h);
}

static const char *const garbage[] = {
    "",
    "h1",
    "h2 0 0 0 0 0",
    "H1 0 0 0 0 0",
    "h1 0 0 0 0",
    "h1 0 0 0 0 0 ",
    "h1  0 0 0 0 0",
    "h1 0 0 0 0 0\n",
    "h1 0 0 0 0 0 0:1",           /* count 0 but a bucket */
    "h1 1 0 5 5 5",               /* count 1 but no bucket */
    "h1 1 0 5 5 5 5:1,",          /* trailing comma */
    "h1 1 0 5 5 5 5:0",           /* empty bucket listed */
    "h1 1 0 5 5 5 5:2",           /* buckets hold 2, header says 1 */
    "h1 2 0 5 6 11 5:1,0:1",      /* delta 0 */
    "h1 1 0 5 5 5 +5:1",
    "h1 1 0 5 5 5 -5:1",
    "h1 1 0 5 5 5 05:1",
    "h1 1 0 5 5 5 5:1:1",
    "h1 1 0 5 5 5 5;1",
    "h1 1 0 5 5 5 x:1",
    "h1 1 0 6 6 6 5:1",           /* min/max not in the first/last bucket */
    "h1 1 0 5 5 4 5:1",           /* sum below min * count */
    "h1 1 0 5 5 6 5:1",           /* sum above max * count */
    "h1 2 0 6 5 11 5:1,1:1",      /* min > max */
    "h1 1 0 5 5 5 23552:1",       /* index past the last bucket */
    "h1 1 0 5 5 5 5:99999999999999999999",
    "h1 99999999999999999999 0 5 5 5 5:1",
    "h1 0 -1 0 0 0",
    "h1 0 0 1 0 0",               /* empty but min set */
    "h1 1 0 3600000001 3600000001 3600000001 23220:1",
    "garbage",
    "h1 1 0 5 5 5 5:1 trailing",
};

Test(hist, parse_rejects_garbage_and_leaves_h_unchanged) {
    tq_hist h, before;
    cr_assert_eq(tq_hist_init(&h), 0);
    cr_assert_eq(tq_hist_init(&before), 0);
    for (int v = 0; v < 5000; v += 7) tq_hist_record(&h, v);
    tq_hist_record(&h, -3);
    tq_hist_merge(&before, &h);
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        cr_assert_eq(tq_hist_parse(&h, garbage[i], strlen(garbage[i])), -1, "accepted \"%s\"",
                     garbage[i]);
        assert_same_hist(&h, &before);
    }
    /* A valid string cut short, or with a NUL inside its length. */
    char *s = tq_hist_serialize(&before, NULL);
    size_t len = strlen(s);
    for (size_t cut = 0; cut < len; cut++) {
        int rc = tq_hist_parse(&h, s, cut);
        cr_assert_eq(rc, -1, "prefix of length %zu accepted", cut);
        assert_same_hist(&h, &before);
    }
    char *with_nul = strdup(s);
    with_nul[len / 2] = '\0';
    cr_assert_eq(tq_hist_parse(&h, with_nul, len), -1);
    assert_same_hist(&h, &before);
    cr_assert_eq(tq_hist_parse(&h, NULL, 0), -1);
    free(with_nul);
    free(s);
    tq_hist_free(&h);
    tq_hist_free(&before);
}

Test(hist, parse_accepts_hand_written_input) {
    tq_hist h;
    cr_assert_eq(tq_hist_init(&h), 0);
    const char *s = "h1 3 1 7 9 23 7:2,2:1";
    cr_assert_eq(tq_hist_parse(&h, s, strlen(s)), 0);
    cr_assert_eq(h.total_count, 3);
    cr_assert_eq(h.out_of_range, 1);
    cr_assert_eq(tq_hist_min(&h), 7);
    cr_assert_eq(tq_hist_max(&h), 9);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 50), 7);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 100), 9);
    /* Only the given length is read. */
    cr_assert_eq(tq_hist_parse(&h, "h1 0 0 0 0 0XYZ", 12), 0);
    tq_hist_free(&h);
}

Test(hist, out_of_range_is_counted_not_recorded) {
    tq_hist h;
    cr_assert_eq(tq_hist_init(&h), 0);
    cr_assert_eq(tq_hist_record(&h, -1), -1);
    cr_assert_eq(tq_hist_record(&h, TQ_HIST_HIGHEST_US + 1), -1);
    cr_assert_eq(tq_hist_record(&h, INT64_MAX), -1);
    cr_assert_eq(tq_hist_record(&h, INT64_MIN), -1);
    cr_assert_eq(tq_hist_record_n(&h, -7, 10), -1);
    cr_assert_eq(h.out_of_range, 14);
    cr_assert_eq(h.total_count, 0);
    cr_assert_eq(tq_hist_max(&h), 0);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 99), 0);
    for (int i = 0; i < h.counts_len; i++) cr_assert_eq(h.counts[i], 0);
    cr_assert_eq(tq_hist_record(&h, TQ_HIST_HIGHEST_US), 0);
    cr_assert_eq(tq_hist_record(&h, 0), 0);
    cr_assert_eq(h.total_count, 2);
    cr_assert_eq(tq_hist_max(&h), TQ_HIST_HIGHEST_US);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 100), TQ_HIST_HIGHEST_US);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 50), 0);
    cr_assert_eq(h.out_of_range, 14);
    /* record_n with n < 0 changes nothing; n == 0 records nothing. */
    cr_assert_eq(tq_hist_record_n(&h, 5, -1), -1);
    cr_assert_eq(tq_hist_record_n(&h, 5, 0), 0);
    cr_assert_eq(h.total_count, 2);
    cr_assert_eq(h.out_of_range, 14);
    tq_hist_free(&h);
}

Test(hist, empty_histogram) {
    tq_hist h, back;
    cr_assert_eq(tq_hist_init(&h), 0);
    cr_assert_eq(tq_hist_init(&back), 0);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 50), 0);
    cr_assert_eq(tq_hist_value_at_percentile(&h, 100), 0);
    cr_assert_eq(tq_hist_mean(&h), 0.0);
    cr_assert_eq(tq_hist_min(&h), 0);
    cr_assert_eq(tq_hist_max(&h), 0);
    size_t len;
    char *s = tq_hist_serialize(&h, &len);
    cr_assert_str_eq(s, "h1 0 0 0 0 0");
    cr_assert_eq(tq_hist_parse(&back, s, len), 0);
    assert_same_hist(&h, &back);
    cr_assert_eq(back.min, INT64_MAX, "an empty parse must not set min");
    free(s);
    /* reset empties a used histogram; free then init again works. */
    tq_hist_record(&h, 42);
    tq_hist_record(&h, -42);
    tq_hist_reset(&h);
    assert_same_hist(&h, &back);
    tq_hist_free(&h);
    cr_assert_eq(tq_hist_init(&h), 0);
    cr_assert_eq(tq_hist_record(&h, 1), 0);
    tq_hist_free(&h);
    tq_hist_free(&back);
}
