/* tq_clock.c - wall-clock and monotonic time (see tq_clock.h). Wall time is
 * for stamps compared across processes; monotonic time for intervals, since
 * it never jumps when NTP steps the wall clock. */
#include "tq_clock.h"

#include <errno.h>
#include <time.h>

int64_t tq_clock_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tq_clock_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tq_clock_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tq_clock_sleep_until_ns(int64_t deadline_ns) {
    if (deadline_ns <= 0) return;
    struct timespec ts = {(time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000)};
    /* An absolute deadline makes EINTR restarts exact: no drift is added. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}
