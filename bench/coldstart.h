/* coldstart.h - a cold start's figures (arrival "cold", scenario cold_start).
 *
 * The backlog is queued before any worker is spawned. Per worker, from its
 * own spawn (the driver's wall clock just before its fork) to its own first
 * heartbeat (the beat_us that heartbeat carries: the worker's stamp, not
 * when the driver polled it), to its own first task started and first task
 * done (its histogram snapshot's first_start_us / first_done_us). Each of
 * the three is reported over the workers as the earliest, the median and
 * the latest (the latest heartbeat: all workers up), with how many workers
 * it covers: a worker that got no task of a small backlog has no task
 * figures. Workers whose latency comes as stamps without a worker id
 * (frameworks' hooks) have no per-worker task figures: then the earliest is
 * the run's first task, from the first spawn, and median and latest are
 * null. In results.json, a run's cold_start_ms (milliseconds):
 *   {"spawn_to_first_heartbeat": {"earliest", "median", "latest", "workers"},
 *    "spawn_to_first_task_started": {...}, "spawn_to_first_task_done": {...},
 *    "spawn_to_drained", "per_worker": [{"id", "first_heartbeat",
 *    "first_task_started", "first_task_done"}], "measures"}. */
#ifndef TQ_BENCH_COLDSTART_H
#define TQ_BENCH_COLDSTART_H

#include <stdint.h>
#include <cjson/cJSON.h>

/* One worker's instants (wall-clock µs; 0: unknown). */
struct cold_worker {
    const char *id;
    int64_t spawn_us, beat_us, start_us, done_us;
};

/* The run's own bounds (wall-clock µs; 0: unknown): the first spawn, and
 * the merged latency's first start, first done and last done. */
struct cold_run {
    int64_t spawn_us, first_start_us, first_done_us, last_done_us;
};

/* The cold_start_ms object above for n workers. */
cJSON *coldstart_json(const struct cold_worker *w, int n, const struct cold_run *run);

#endif
