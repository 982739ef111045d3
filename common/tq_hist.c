/* tq_hist.c - HdrHistogram's log-linear bucketing, fixed to what tqbench
 * needs (see tq_hist.h): lowest discernible value 1 µs, highest one hour,
 * 3 significant digits. The index arithmetic follows HdrHistogram_c's
 * hdr_histogram.c with unit_magnitude 0, so percentiles match what wrk2 and
 * HdrHistogram report for the same data. Unlike HdrHistogram, count, sum,
 * min and max are kept exactly and travel in the serialized form, so a
 * histogram rebuilt from the snapshots of several workers has the exact mean
 * and extremes of all their values. */
#include "tq_hist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 3 significant digits: single-unit resolution up to 2 * 10^3, so a bucket of
 * 2^11 = 2048 sub-buckets, the lower half of which overlaps the bucket below. */
#define SUB_BUCKET_COUNT_MAGNITUDE 11
#define SUB_BUCKET_HALF_COUNT_MAGNITUDE 10
#define SUB_BUCKET_COUNT (1 << SUB_BUCKET_COUNT_MAGNITUDE)           /* 2048 */
#define SUB_BUCKET_HALF_COUNT (1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE) /* 1024 */
#define SUB_BUCKET_MASK ((int64_t)SUB_BUCKET_COUNT - 1)
/* Buckets needed so that 2048 << (n - 1) exceeds TQ_HIST_HIGHEST_US (3.6e9):
 * 2048 << 21 = 4.29e9, so 22 buckets. */
#define BUCKET_COUNT 22
#define COUNTS_LEN ((BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT)    /* 23552 */

_Static_assert(((int64_t)SUB_BUCKET_COUNT << (BUCKET_COUNT - 1)) > TQ_HIST_HIGHEST_US,
               "BUCKET_COUNT too small for TQ_HIST_HIGHEST_US");
_Static_assert(((int64_t)SUB_BUCKET_COUNT << (BUCKET_COUNT - 2)) <= TQ_HIST_HIGHEST_US,
               "BUCKET_COUNT larger than needed for TQ_HIST_HIGHEST_US");

static int bucket_index_of(int64_t value) {
    /* Position of the highest set bit, with every value below 2048 in bucket 0. */
    int pow2ceiling = 64 - __builtin_clzll((uint64_t)(value | SUB_BUCKET_MASK));
    return pow2ceiling - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1);
}

static int sub_bucket_index_of(int64_t value, int bucket_index) {
    return (int)(value >> bucket_index);
}

static int counts_index(int bucket_index, int sub_bucket_index) {
    int bucket_base_index = (bucket_index + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
    int offset_in_bucket = sub_bucket_index - SUB_BUCKET_HALF_COUNT;
    return bucket_base_index + offset_in_bucket;
}

static int counts_index_for(int64_t value) {
    int b = bucket_index_of(value);
    return counts_index(b, sub_bucket_index_of(value, b));
}

/* The lowest value that lands in counts[index]. */
static int64_t value_at_index(int index) {
    int bucket_index = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
    int sub_bucket_index = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if (bucket_index < 0) {
        sub_bucket_index -= SUB_BUCKET_HALF_COUNT;
        bucket_index = 0;
    }
    return (int64_t)sub_bucket_index << bucket_index;
}

int64_t tq_hist_bucket_width(int64_t v) {
    if (v < 0) v = 0;
    int b = bucket_index_of(v);
    int sb = sub_bucket_index_of(v, b);
    int adjusted = sb >= SUB_BUCKET_COUNT ? b + 1 : b;
    return (int64_t)1 << adjusted;
}

static int64_t lowest_equivalent_value(int64_t v) {
    int b = bucket_index_of(v);
    return (int64_t)sub_bucket_index_of(v, b) << b;
}

static int64_t highest_equivalent_value(int64_t v) {
    return lowest_equivalent_value(v) + tq_hist_bucket_width(v) - 1;
}

int tq_hist_init(tq_hist *h) {
    memset(h, 0, sizeof *h);
    h->counts = calloc(COUNTS_LEN, sizeof *h->counts);
    if (!h->counts) return -1;
    h->counts_len = COUNTS_LEN;
    h->min = INT64_MAX;
    return 0;
}

void tq_hist_free(tq_hist *h) {
    free(h->counts);
    memset(h, 0, sizeof *h);
    h->min = INT64_MAX;
}

void tq_hist_reset(tq_hist *h) {
    if (h->counts) memset(h->counts, 0, (size_t)h->counts_len * sizeof *h->counts);
    h->total_count = 0;
    h->out_of_range = 0;
    h->min = INT64_MAX;
    h->max = 0;
    h->sum = 0;
}

int tq_hist_record_n(tq_hist *h, int64_t value_us, int64_t n) {
    if (n < 0) return -1;
    if (n == 0) return 0;
    if (value_us < 0 || value_us > TQ_HIST_HIGHEST_US || !h->counts) {
        h->out_of_range += n;
        return -1;
    }
    h->counts[counts_index_for(value_us)] += n;
    h->total_count += n;
    h->sum += value_us * n;
    if (value_us < h->min) h->min = value_us;
    if (value_us > h->max) h->max = value_us;
    return 0;
}

int tq_hist_record(tq_hist *h, int64_t value_us) {
    return tq_hist_record_n(h, value_us, 1);
}

void tq_hist_merge(tq_hist *dst, const tq_hist *src) {
    if (src->total_count > 0 && dst->counts && src->counts) {
        for (int i = 0; i < src->counts_len && i < dst->counts_len; i++)
            dst->counts[i] += src->counts[i];
        dst->total_count += src->total_count;
        dst->sum += src->sum;
        if (src->min < dst->min) dst->min = src->min;
        if (src->max > dst->max) dst->max = src->max;
    }
    dst->out_of_range += src->out_of_range;
}

int64_t tq_hist_value_at_percentile(const tq_hist *h, double pct) {
    if (h->total_count <= 0 || !h->counts) return 0;
    if (!(pct > 0)) return h->min; /* also NaN */
    if (pct > 100) pct = 100;
    int64_t want = (int64_t)(pct / 100 * (double)h->total_count + 0.5);
    if (want < 1) want = 1;
    int64_t running = 0;
    for (int i = 0; i < h->counts_len; i++) {
        running += h->counts[i];
        if (running >= want) {
            int64_t v = highest_equivalent_value(value_at_index(i));
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

double tq_hist_mean(const tq_hist *h) {
    return h->total_count > 0 ? (double)h->sum / (double)h->total_count : 0.0;
}

int64_t tq_hist_min(const tq_hist *h) {
    return h->total_count > 0 ? h->min : 0;
}

int64_t tq_hist_max(const tq_hist *h) {
    return h->total_count > 0 ? h->max : 0;
}

/* ---- text form ---------------------------------------------------------- */

char *tq_hist_serialize(const tq_hist *h, size_t *len) {
    int nonzero = 0;
    for (int i = 0; h->counts && i < h->counts_len; i++) nonzero += h->counts[i] != 0;
    /* header: "h1" + 5 numbers of at most 20 digits; each bucket: two numbers,
     * ':' and ','. */
    size_t cap = 3 + 5 * 21 + (size_t)nonzero * 42 + 1;
    char *s = malloc(cap);
    if (!s) return NULL;
    int64_t count = h->total_count > 0 ? h->total_count : 0;
    int n = snprintf(s, cap, "h1 %lld %lld %lld %lld %lld", (long long)count,
                     (long long)h->out_of_range, (long long)tq_hist_min(h),
                     (long long)tq_hist_max(h), (long long)(count ? h->sum : 0));
    size_t pos = (size_t)n;
    int prev = -1;
    for (int i = 0; count && i < h->counts_len; i++) {
        if (h->counts[i] == 0) continue;
        n = snprintf(s + pos, cap - pos, "%c%d:%lld", prev < 0 ? ' ' : ',',
                     prev < 0 ? i : i - prev, (long long)h->counts[i]);
        pos += (size_t)n;
        prev = i;
    }
    if (len) *len = pos;
    return s;
}

/* A strict reader over s[0..len): digits only (no sign, no spaces, no
 * leading zeros), values that overflow int64 rejected. */
struct reader {
    const char *p, *end;
};

static int read_u63(struct reader *r, int64_t *out) {
    const char *start = r->p;
    int64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        int d = *r->p - '0';
        if (v > (INT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
        r->p++;
    }
    if (r->p == start) return -1;
    if (*start == '0' && r->p - start > 1) return -1;
    *out = v;
    return 0;
}

static int read_char(struct reader *r, char c) {
    if (r->p >= r->end || *r->p != c) return -1;
    r->p++;
    return 0;
}

/* One pass over the text: with h NULL it only validates, with h set it adds
 * the buckets into h. Validation runs first so a bad string changes nothing. */
static int parse_pass(tq_hist *h, const char *s, size_t len, int64_t hdr[5]) {
    struct reader r = {s, s + len};
    if (read_char(&r, 'h') || read_char(&r, '1')) return -1;
    for (int i = 0; i < 5; i++)
        if (read_char(&r, ' ') || read_u63(&r, &hdr[i])) return -1;
    int64_t count = hdr[0], min = hdr[2], max = hdr[3], sum = hdr[4];
    int64_t seen = 0;
    int index = -1, first = -1;
    if (r.p < r.end) {
        if (read_char(&r, ' ')) return -1;
        for (;;) {
            int64_t delta, n;
            if (read_u63(&r, &delta) || read_char(&r, ':') || read_u63(&r, &n)) return -1;
            if (n <= 0 || (index >= 0 && delta <= 0) || delta >= COUNTS_LEN) return -1;
            index = index < 0 ? (int)delta : index + (int)delta;
            if (index >= COUNTS_LEN || value_at_index(index) > TQ_HIST_HIGHEST_US) return -1;
            if (first < 0) first = index;
            if (__builtin_add_overflow(seen, n, &seen)) return -1;
            if (h) h->counts[index] += n;
            if (r.p == r.end) break;
            if (read_char(&r, ',')) return -1;
        }
    }
    if (h) return 0;
    /* The header must agree with the buckets it describes. */
    if (seen != count) return -1;
    if (count == 0) return (min == 0 && max == 0 && sum == 0) ? 0 : -1;
    if (min > max || max > TQ_HIST_HIGHEST_US) return -1;
    if (counts_index_for(min) != first || counts_index_for(max) != index) return -1;
    int64_t lo, hi;
    if (__builtin_mul_overflow(min, count, &lo) || lo > sum) return -1;
    if (!__builtin_mul_overflow(max, count, &hi) && hi < sum) return -1;
    return 0;
}

int tq_hist_parse(tq_hist *h, const char *s, size_t len) {
    int64_t hdr[5];
    if (!h || !h->counts || !s || parse_pass(NULL, s, len, hdr) != 0) return -1;
    int64_t total, oor, sum;
    if (__builtin_add_overflow(h->total_count, hdr[0], &total) ||
        __builtin_add_overflow(h->out_of_range, hdr[1], &oor) ||
        __builtin_add_overflow(h->sum, hdr[4], &sum))
        return -1;
    for (int i = 0; i < h->counts_len; i++) /* no bucket may overflow either */
        if (h->counts[i] > INT64_MAX - hdr[0]) return -1;
    parse_pass(h, s, len, hdr);
    h->total_count = total;
    h->out_of_range = oor;
    h->sum = sum;
    if (hdr[0] > 0) {
        if (hdr[2] < h->min) h->min = hdr[2];
        if (hdr[3] > h->max) h->max = hdr[3];
    }
    return 0;
}
