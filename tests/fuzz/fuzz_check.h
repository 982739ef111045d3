/* fuzz_check.h - the invariant check every harness uses: a broken invariant
 * is a crash (abort), so libFuzzer saves the input as crash-<sha1>. */
#ifndef TQ_FUZZ_CHECK_H
#define TQ_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                       \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
            abort();                                                                \
        }                                                                           \
    } while (0)

#endif
