/* recovery.c - a burst's recovery from per-task stamps (see recovery.h). */
#include "recovery.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "tq_hist.h"

static int by_sched(const void *a, const void *b) {
    const struct task_stamp *x = a, *y = b;
    if (x->sched_s != y->sched_s) return x->sched_s < y->sched_s ? -1 : 1;
    return (x->latency_us > y->latency_us) - (x->latency_us < y->latency_us);
}

void recovery_sort(struct task_stamp *t, long n) {
    if (n > 1) qsort(t, (size_t)n, sizeof *t, by_sched);
}

/* The first task of sorted t scheduled at or after at_s. */
static long first_from(const struct task_stamp *t, long n, double at_s) {
    long lo = 0, hi = n;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (t[mid].sched_s < at_s) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

double recovery_p99(const struct task_stamp *t, long n, double from_s, double to_s, long *count) {
    *count = 0;
    tq_hist h;
    if (tq_hist_init(&h) != 0) return NAN;
    for (long i = first_from(t, n, from_s); i < n && t[i].sched_s < to_s; i++) {
        tq_hist_record(&h, (int64_t)t[i].latency_us);
        (*count)++;
    }
    double p99 = h.total_count > 0 ? (double)tq_hist_value_at_percentile(&h, 99) : NAN;
    tq_hist_free(&h);
    return p99;
}

double recovery_after(const struct task_stamp *t, long n, double end_s, double until_s,
                      double bound_us) {
    if (!(bound_us >= 0)) return NAN;
    long streak = -1, len = 0; /* the current run of tasks within the bound */
    for (long i = first_from(t, n, end_s); i < n && t[i].sched_s < until_s; i++) {
        if (t[i].latency_us > bound_us) {
            streak = -1;
            len = 0;
            continue;
        }
        if (streak < 0) streak = i;
        if (++len >= RECOVERY_RUN) break;
    }
    /* a full run, or every task left in the period */
    return streak >= 0 ? t[streak].sched_s - end_s : NAN;
}
