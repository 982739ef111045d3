/* cleanup.h - deleting tqbench's keys: by exact name or by a glob walked with
 * SCAN (never KEYS, which blocks Redis; never FLUSH, which would take keys
 * that are not ours), and what makes `tqbench clean` safe next to live runs
 * and other producers.
 *
 * A run announces itself while it goes on, so a `tqbench clean` elsewhere
 * can tell it from the leftovers of a driver that died:
 *
 *   P:run:<run>:live   string "host pid started_us", PX at least
 *                      CLEANUP_LIVE_TTL_MS,
 *                      refreshed about every second by the driver
 *   P:run:<run>:meta   hash queue_key, created_queue (1: a queue tqbench
 *                      made for this run; 0: a user's queue, --external),
 *                      host, pid, started_us
 *
 * Both are P:run:<run>:* keys: the run's teardown (cleanup_run) deletes them
 * with the rest. The warm-up's keys (P:run:<run>-warmup:*) and a multi-queue
 * run's per-queue keys (P:run:<run>-q<digit>:*) belong to <run>. */
#ifndef TQ_BENCH_CLEANUP_H
#define TQ_BENCH_CLEANUP_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "tq_keys.h"

/* The live key's TTL: a driver that stops refreshing (killed, hung) lets its
 * run count as dead this long after. The driver refreshes it from its wait
 * loops; the phases without one (the health-check, up to --health-timeout,
 * and the teardown's stop grace) get a TTL that outlasts them
 * (run.c: live_ttl_ms). */
#define CLEANUP_LIVE_TTL_MS 10000

/* Deletes every key matching pattern (SCAN MATCH ... COUNT 1000 + DEL per
 * page). Adds the number deleted to *deleted when not NULL. Returns 0, or -1
 * with err. */
int cleanup_pattern(redisContext *c, const char *pattern, long *deleted, char *err, size_t errlen);
/* Deletes every key of a run: P:run:<run_id>:* and the sub-runs
 * P:run:<run_id>-warmup:* and P:run:<run_id>-q<digit>:* (a multi-queue
 * run's queues). Same returns. */
int cleanup_run(redisContext *c, const char *prefix, const char *run_id, long *deleted, char *err,
                size_t errlen);

/* A run's live key as its driver keeps it (filled by cleanup_run_announce). */
struct cleanup_live {
    char key[TQ_KEY_MAX];          /* "" until announced */
    char value[TQ_NAME_MAX + 64];  /* "host pid started_us" */
    int ttl_ms;
    int64_t refreshed_mono_us;
};

/* Announces a run: SET P:run:<run_id>:live "host pid started_us" PX ttl_ms
 * (<= 0: CLEANUP_LIVE_TTL_MS), then HSET P:run:<run_id>:meta with queue_key
 * and created_queue (1 when tqbench made the queue for this run, so a clean
 * may delete it once the run is dead); fills *lv for the keepalive. Returns
 * 0, or -1 with err. */
int cleanup_run_announce(redisContext *c, struct cleanup_live *lv, const char *prefix,
                         const char *run_id, const char *queue_key, int created_queue, int ttl_ms,
                         char *err, size_t errlen);
/* Keeps an announced run live: SET of its live key (same value and TTL; it
 * comes back if it had expired) at most about once a second, so a wait loop
 * may call it as often as it likes. Returns 1 when it sent the one command
 * (a SET, for the driver's command count), 0 when none was due (or lv was
 * never announced), -1 with err. */
int cleanup_run_keepalive(redisContext *c, struct cleanup_live *lv, char *err, size_t errlen);

/* What cleanup_stale did (or, dry, would do). */
struct cleanup_totals {
    long runs;          /* runs (not live) whose keys were deleted */
    long run_keys;      /* their P:run:* keys */
    long queues;        /* queues tqbench created for those runs, deleted */
    long live_runs;     /* runs skipped because they are live */
    long live_keys;     /* their keys, kept */
    long stale_workers; /* registry entries without a heartbeat, removed */
    long kept_queues;   /* P:queue:* lists left alone (not known as tqbench's) */
    long odd_keys;      /* P:run:* keys not of the form P:run:<run>:<name>, left */
};

/* `tqbench clean`: deletes the keys of every run that is not live (no
 * P:run:<run>:live key; checked atomically with the DEL, in a script), the
 * queue a dead run's meta says tqbench created for it, and P:workers entries
 * without a heartbeat. Never a live run's keys, never any other queue
 * (another producer's, a user's queue of an --external run). Prints what it
 * deletes and skips to out, each key when dry_run (which deletes nothing).
 * Returns 0, or -1 with err (totals then count what was done so far). */
int cleanup_stale(redisContext *c, const char *prefix, int dry_run, FILE *out,
                  struct cleanup_totals *totals, char *err, size_t errlen);

#endif
