/* tq_parse.h - strict numbers from command-line text.
 *
 * tqworker and tqbench read counts, sizes and durations from flags; "10x",
 * "", "1e3" for a count, or a value out of range must be refused, not read
 * as a prefix or wrapped around. These functions only decide: callers word
 * the error, naming the flag, in their own program's style. */
#ifndef TQ_PARSE_H
#define TQ_PARSE_H

/* Parses all of s as a base-10 integer within [min, max]. The syntax is
 * strtoll's (leading whitespace and a sign are accepted); nothing may follow
 * the digits. Returns 0 with *out set, or -1 (*out untouched) when s is NULL
 * or empty, is not an integer, overflows, or falls outside [min, max]. */
int tq_parse_int(const char *s, long long min, long long max, long long *out);

/* Parses all of s as a finite number within [min, max]. The syntax is
 * strtod's (decimals and exponents: "0.5", "1e3"); nothing may follow it.
 * Returns 0 with *out set, or -1 (*out untouched) when s is NULL or empty,
 * is not a number, is infinite or NaN, overflows or underflows (ERANGE), or
 * falls outside [min, max]. */
int tq_parse_double(const char *s, double min, double max, double *out);

#endif
