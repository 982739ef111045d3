/* recovery.h - a burst's recovery from per-task stamps (scenario burst).
 *
 * Each completed task of a burst run is (its scheduled time, seconds from
 * the producer's start; its end-to-end latency, done - scheduled, µs), from
 * the workers' per-task stamps. The rule, exact to the task:
 *
 *   the pre-burst p99 is the p99 of the tasks scheduled in the burst's
 *   period before it ([period start, burst start)); the bound is
 *   RECOVERY_FACTOR x that. Among the tasks scheduled from the burst's end
 *   until the next burst's start (or the end of the run), in scheduled
 *   order, the recovery point is the first task that starts RECOVERY_RUN
 *   consecutive tasks all within the bound (or, nearer the period's end,
 *   every task left in it). recovery = that task's scheduled time - the
 *   burst's end (>= 0); none (NAN) when no task qualifies.
 *
 * Tasks arriving after the burst wait behind its backlog, so their
 * latencies fall smoothly as it drains: the first of a run of tasks within
 * the bound is when an arriving task is again served as before the burst.
 * A run (rather than every later task) keeps one late outlier afterwards
 * from moving the recovery by seconds. */
#ifndef TQ_BENCH_RECOVERY_H
#define TQ_BENCH_RECOVERY_H

#define RECOVERY_FACTOR 2.0 /* back within this x the pre-burst p99 */
#define RECOVERY_RUN 10     /* consecutive tasks within the bound */

struct task_stamp {
    double sched_s;    /* scheduled time, s from the producer's start */
    double latency_us; /* end to end: done - scheduled */
};

/* Sorts t[0..n-1] by scheduled time (stable for equal times: by latency). */
void recovery_sort(struct task_stamp *t, long n);
/* The p99 (tq_hist, as every latency figure) of the tasks of sorted t
 * scheduled in [from_s, to_s), their count in *count; NAN when none. */
double recovery_p99(const struct task_stamp *t, long n, double from_s, double to_s, long *count);
/* The recovery (seconds, see above) of sorted t after a burst ending at
 * end_s, among the tasks scheduled in [end_s, until_s), bound in µs;
 * NAN when none qualifies. */
double recovery_after(const struct task_stamp *t, long n, double end_s, double until_s,
                      double bound_us);

#endif
