/* schedule.h - an open loop's schedule: when task i is due.
 *
 * A plain open loop offers a constant rate: task i at i / rate. A burst
 * schedule (the burst scenario) offers factor x rate for length_s seconds
 * at at_s into every period of every_s seconds, and rate the rest of the
 * time. Both directions are closed forms, so the producer (which tasks are
 * due now, and each one's scheduled time) and the scenario (how many tasks
 * a duration holds) agree to the task. */
#ifndef TQ_BENCH_SCHEDULE_H
#define TQ_BENCH_SCHEDULE_H

struct schedule {
    double rate;     /* tasks/s outside bursts, > 0 */
    double factor;   /* a burst's rate is factor x rate; <= 1: no bursts */
    double every_s;  /* a burst starts every every_s seconds ... */
    double at_s;     /* ... at_s into the period (at_s + length_s <= every_s) */
    double length_s; /* ... and lasts length_s */
};

/* Tasks due in [0, t_s): the schedule's integral (fractional). */
double schedule_count(const struct schedule *s, double t_s);
/* When task i (0-based) is due, in seconds from the start: the inverse of
 * schedule_count (schedule_count(schedule_time(i)) == i). */
double schedule_time(const struct schedule *s, double i);

#endif
