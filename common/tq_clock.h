/* tq_clock.h - the two clocks tqbench uses.
 * Wall-clock microseconds for stamps that cross processes (enqueue, start,
 * done); the monotonic clock for intervals inside one process. */
#ifndef TQ_CLOCK_H
#define TQ_CLOCK_H

#include <stdint.h>

int64_t tq_clock_wall_us(void);   /* CLOCK_REALTIME, µs since the epoch */
int64_t tq_clock_mono_us(void);   /* CLOCK_MONOTONIC, µs */
int64_t tq_clock_mono_ns(void);   /* CLOCK_MONOTONIC, ns */
/* Sleeps until the monotonic clock reaches deadline_ns (EINTR-safe). */
void tq_clock_sleep_until_ns(int64_t deadline_ns);

#endif
