/* cleanup.h - deleting tqbench's keys: by exact name or by a glob walked with
 * SCAN (never KEYS, which blocks Redis; never FLUSH, which would take keys
 * that are not ours). */
#ifndef TQ_BENCH_CLEANUP_H
#define TQ_BENCH_CLEANUP_H

#include <stddef.h>
#include <hiredis/hiredis.h>

/* Deletes every key matching pattern (SCAN MATCH ... COUNT 1000 + DEL per
 * page). Adds the number deleted to *deleted when not NULL. Returns 0, or -1
 * with err. */
int cleanup_pattern(redisContext *c, const char *pattern, long *deleted, char *err, size_t errlen);
/* Deletes every key of a run: P:run:<run_id>:* and the sub-runs
 * P:run:<run_id>-warmup:*. Same returns. */
int cleanup_run(redisContext *c, const char *prefix, const char *run_id, long *deleted, char *err,
                size_t errlen);

#endif
