/* fuzz_hist.c - tq_hist_parse (common/tq_hist.c): the histogram snapshots
 * workers write to P:run:<run>:hist, read by the driver (bench/collect.c)
 * and by tqworker itself (worker/control.c). Invariants:
 *  - the text is strict, so an accepted snapshot is canonical:
 *    serialize(parse(s)) == s byte for byte;
 *  - an accepted snapshot's percentiles lie within [min, max], p100 == max;
 *  - parsing merges: into a histogram that already holds data, s is accepted
 *    or refused as into an empty one (unless a count would overflow), counts
 *    add up, and a refused s leaves the histogram exactly as it was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tq_hist.h"

static tq_hist fresh, base;
static int64_t *base_counts; /* a copy of base's buckets */

/* base: a histogram that already holds a few values (and one out of range). */
static void base_reset(void) {
    tq_hist_reset(&base);
    tq_hist_record_n(&base, 7, 3);
    tq_hist_record(&base, 1500);
    tq_hist_record(&base, 250000);
    tq_hist_record(&base, -1);
    memcpy(base_counts, base.counts, sizeof *base_counts * (size_t)base.counts_len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    FUZZ_CHECK(tq_hist_init(&fresh) == 0 && tq_hist_init(&base) == 0, "init");
    base_counts = malloc(sizeof *base_counts * (size_t)base.counts_len);
    FUZZ_CHECK(base_counts != NULL, "out of memory");
    base_reset();
    return 0;
}

static int base_untouched(void) {
    return base.total_count == 5 && base.out_of_range == 1 && base.min == 7 &&
           base.max == 250000 && base.sum == 7 * 3 + 1500 + 250000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1); /* exact size, no NUL: over-reads are reported */
    if (!s) return 0;
    if (size) memcpy(s, data, size);

    int rc = tq_hist_parse(&fresh, s, size);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc == 0) {
        size_t len;
        char *out = tq_hist_serialize(&fresh, &len);
        FUZZ_CHECK(out != NULL, "serialize");
        FUZZ_CHECK(len == size && memcmp(out, s, size) == 0,
                   "accepted text is not canonical: re-serialized as \"%s\"", out);
        free(out);
        if (fresh.total_count > 0) {
            int64_t lo = tq_hist_min(&fresh), hi = tq_hist_max(&fresh);
            int64_t p50 = tq_hist_value_at_percentile(&fresh, 50);
            int64_t p99 = tq_hist_value_at_percentile(&fresh, 99);
            FUZZ_CHECK(tq_hist_value_at_percentile(&fresh, 100) == hi, "p100 != max");
            FUZZ_CHECK(lo <= p50 && p50 <= p99 && p99 <= hi, "percentiles %lld %lld %lld %lld",
                       (long long)lo, (long long)p50, (long long)p99, (long long)hi);
        }
    } else {
        FUZZ_CHECK(fresh.total_count == 0 && fresh.out_of_range == 0 && fresh.sum == 0,
                   "refused text changed an empty histogram");
    }

    /* The same text merged into base. */
    int rc2 = tq_hist_parse(&base, s, size);
    if (rc2 != 0) {
        FUZZ_CHECK(base_untouched(), "refused text changed the histogram");
        FUZZ_CHECK(rc != 0 || fresh.total_count > INT64_MAX / 2 ||
                       fresh.out_of_range > INT64_MAX / 2 || fresh.sum > INT64_MAX / 2,
                   "valid text refused by a non-empty histogram");
        if (rc == 0) /* refused for overflow only: not one bucket may have changed */
            FUZZ_CHECK(memcmp(base.counts, base_counts,
                              sizeof *base_counts * (size_t)base.counts_len) == 0,
                       "refused text changed a bucket");
    } else {
        FUZZ_CHECK(rc == 0, "text refused when empty accepted when not");
        FUZZ_CHECK(base.total_count == 5 + fresh.total_count &&
                       base.out_of_range == 1 + fresh.out_of_range &&
                       base.sum == 7 * 3 + 1500 + 250000 + fresh.sum,
                   "merge does not add up");
        base_reset(); /* back to the known state */
    }
    if (rc == 0) tq_hist_reset(&fresh);
    free(s);
    return 0;
}
