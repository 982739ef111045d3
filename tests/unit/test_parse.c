/* test_parse.c - strict numbers from flag text: what is accepted (bounds
 * included, strtoll/strtod syntax), and that every kind of bad text, out of
 * range value or overflow is refused with the output left untouched. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stddef.h>

#include "tq_parse.h"

#define UNTOUCHED_INT 777LL
#define UNTOUCHED_DBL 777.5

static void int_ok(const char *s, long long min, long long max, long long want) {
    long long v = UNTOUCHED_INT;
    cr_assert_eq(tq_parse_int(s, min, max, &v), 0, "\"%s\" in %lld..%lld refused", s, min, max);
    cr_assert_eq(v, want, "\"%s\" read as %lld, want %lld", s, v, want);
}

static void int_bad(const char *s, long long min, long long max) {
    long long v = UNTOUCHED_INT;
    cr_assert_eq(tq_parse_int(s, min, max, &v), -1, "\"%s\" in %lld..%lld accepted as %lld",
                 s ? s : "(null)", min, max, v);
    cr_assert_eq(v, UNTOUCHED_INT, "output written on failure for \"%s\"", s ? s : "(null)");
}

static void dbl_ok(const char *s, double min, double max, double want) {
    double v = UNTOUCHED_DBL;
    cr_assert_eq(tq_parse_double(s, min, max, &v), 0, "\"%s\" in %g..%g refused", s, min, max);
    cr_assert_float_eq(v, want, 1e-12 * (want < 0 ? -want : want), "\"%s\" read as %g", s, v);
}

static void dbl_bad(const char *s, double min, double max) {
    double v = UNTOUCHED_DBL;
    cr_assert_eq(tq_parse_double(s, min, max, &v), -1, "\"%s\" in %g..%g accepted as %g",
                 s ? s : "(null)", min, max, v);
    cr_assert_eq(v, UNTOUCHED_DBL, "output written on failure for \"%s\"", s ? s : "(null)");
}

Test(parse, int_accepts_the_range_inclusive) {
    int_ok("1", 1, 10, 1);
    int_ok("10", 1, 10, 10);
    int_ok("0", 0, 0, 0);
    int_ok("-5", -10, 10, -5);
    int_ok("+7", 0, 10, 7);
    int_ok("007", 0, 10, 7); /* base 10 always: not octal */
    int_ok(" 42", 0, 100, 42); /* strtoll's leading whitespace */
    int_ok("9223372036854775807", 0, LLONG_MAX, LLONG_MAX);
    int_ok("-9223372036854775808", LLONG_MIN, 0, LLONG_MIN);
}

Test(parse, int_refuses_bad_text) {
    const char *bad[] = {NULL, "", " ", "abc", "10x", "1e3", "1.5", "0x10", "1 ", "--1", "+",
                         "-", "1,000", "½"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) int_bad(bad[i], LLONG_MIN, LLONG_MAX);
}

Test(parse, int_refuses_out_of_range_and_overflow) {
    int_bad("0", 1, 10);
    int_bad("11", 1, 10);
    int_bad("-1", 0, 10);
    int_bad("9223372036854775808", LLONG_MIN, LLONG_MAX);  /* LLONG_MAX + 1: ERANGE */
    int_bad("-9223372036854775809", LLONG_MIN, LLONG_MAX); /* LLONG_MIN - 1 */
    int_bad("99999999999999999999999", LLONG_MIN, LLONG_MAX);
}

Test(parse, double_accepts_decimals_and_exponents) {
    dbl_ok("1", 0.1, 3600, 1);
    dbl_ok("0.1", 0.1, 3600, 0.1); /* the same double as the bound: inclusive */
    dbl_ok("3600", 0.1, 3600, 3600);
    dbl_ok("2.5", 0, 10, 2.5);
    dbl_ok(".5", 0, 10, 0.5);
    dbl_ok("1e3", 0, 1e8, 1000);
    dbl_ok("-0.25", -1, 1, -0.25);
}

Test(parse, double_refuses_bad_text_non_finite_and_out_of_range) {
    const char *bad[] = {NULL, "", " ", "abc", "1.5s", "1..2", "e3", "1e", "1 ", "nan", "NaN",
                         "inf", "-inf", "infinity", "1e999", "1e-999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) dbl_bad(bad[i], -1e300, 1e300);
    dbl_bad("0.09", 0.1, 3600);
    dbl_bad("3600.001", 0.1, 3600);
    dbl_bad("-1", 0, 10);
}
