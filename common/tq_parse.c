/* tq_parse.c - strict numbers from command-line text (see tq_parse.h).
 *
 * strtoll and strtod alone accept a valid prefix ("10x" reads as 10) and
 * report overflow only through errno; every flag parser needs the same three
 * checks around them, so they live here once. */
#include "tq_parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int tq_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int tq_parse_double(const char *s, double min, double max, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) return -1;
    *out = v;
    return 0;
}
