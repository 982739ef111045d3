/* test_clock.c - the wall and monotonic clocks and sleeping to a deadline. */
#include <criterion/criterion.h>
#include <sys/time.h>
#include <time.h>

#include "tq_clock.h"

/* gettimeofday is the reference, not time(): glibc serves time() from the
 * coarse clock, which lags CLOCK_REALTIME by up to a tick, so just after a
 * second boundary time() still names the previous second. */
static int64_t reference_wall_us(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

Test(clock, wall_is_epoch_microseconds) {
    int64_t before = reference_wall_us();
    int64_t us = tq_clock_wall_us();
    int64_t after = reference_wall_us();
    cr_assert_geq(us, before, "wall %lld us is before the reference %lld", (long long)us,
                  (long long)before);
    cr_assert_leq(us, after, "wall %lld us is after the reference %lld", (long long)us,
                  (long long)after);
    /* epoch microseconds, not milliseconds or seconds: after 2020-01-01 */
    cr_assert_gt(us, INT64_C(1577836800) * 1000000);
}

Test(clock, monotonic_units_agree_and_never_go_back) {
    int64_t ns = tq_clock_mono_ns();
    int64_t us = tq_clock_mono_us();
    cr_assert_geq(us, ns / 1000);
    cr_assert_lt(us - ns / 1000, 1000000);
    int64_t prev = tq_clock_mono_ns();
    for (int i = 0; i < 100000; i++) {
        int64_t now = tq_clock_mono_ns();
        cr_assert_geq(now, prev);
        prev = now;
    }
}

Test(clock, sleep_until_deadline) {
    int64_t start = tq_clock_mono_ns();
    tq_clock_sleep_until_ns(start + 30000000);
    int64_t slept = tq_clock_mono_ns() - start;
    cr_assert_geq(slept, 30000000);
    cr_assert_lt(slept, 500000000, "slept %lld ns", (long long)slept);
    /* A deadline in the past returns at once. */
    start = tq_clock_mono_ns();
    tq_clock_sleep_until_ns(start - 1000000000);
    tq_clock_sleep_until_ns(0);
    cr_assert_lt(tq_clock_mono_ns() - start, 50000000);
}
