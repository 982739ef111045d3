/* collect.h - what a run measured, read back from Redis after the drain.
 *
 * Latency: every worker's histogram snapshots in P:run:<run>:hist are merged
 * (tq_hist_parse merges), and the raw "enqueued_us,started_us,done_us"
 * triples of P:run:<run>:stamps (workers that cannot build histograms) are
 * recorded into the same histograms, so percentiles always come from one
 * exact merge. The first start and last done stamps bound the processing
 * window. Redis cost: INFO commandstats and cpu before and after the
 * measured phase; their difference per task. */
#ifndef TQ_BENCH_COLLECT_H
#define TQ_BENCH_COLLECT_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>
#include "cmdcount.h"
#include "recovery.h"
#include "tq_hist.h"

struct run_latency {
    tq_hist queue_wait, service, end_to_end;
    int64_t first_start_us;   /* min over workers, 0 when unknown */
    int64_t last_done_us;     /* max over workers, 0 when unknown */
    int64_t first_done_us;    /* min over workers, 0 when unknown (older workers) */
    int snapshots;            /* worker histogram snapshots merged */
    long stamps;              /* triples merged */
    long malformed;           /* fields or triples that did not parse */
    long no_origin;           /* completed without an enqueue stamp: in service, in neither
                                 queue_wait nor end_to_end (snapshot field <id>:no_origin) */
};

int latency_init(struct run_latency *l);
void latency_free(struct run_latency *l);
/* Empties l (keeps its buckets), for a fresh collect. */
void latency_reset(struct run_latency *l);
/* Values the histograms account for (recorded or refused as out of range). */
long latency_covered(const struct run_latency *l);
/* Reads and merges the run's hist hash and stamps list. Returns 0, or -1
 * with err when Redis failed (malformed entries are counted, not fatal). */
int latency_collect(redisContext *c, const char *prefix, const char *run_id,
                    struct run_latency *l, char *err, size_t errlen);
/* Every completed task's stamps of the run, from P:run:<run>:stamps
 * (frameworks' hooks) and P:run:<run>:trace (tqworker --trace), as
 * (scheduled time in s from t0_us, end-to-end latency) into *out (malloc'd,
 * *n of them, unsorted; free() it; NULL when none). Malformed triples are
 * left out. Returns 0, or -1 with err when Redis failed or out of memory. */
int latency_task_stamps(redisContext *c, const char *prefix, const char *run_id, int64_t t0_us,
                        struct task_stamp **out, long *n, char *err, size_t errlen);
/* One worker's own first_start_us and first_done_us from the run's hist
 * hash (fields "<worker_id>:..."; 0 when absent: a worker that ran no task,
 * or latency that came as stamps). Returns 0, or -1 with err when Redis
 * failed. */
int latency_worker_firsts(redisContext *c, const char *prefix, const char *run_id,
                          const char *worker_id, int64_t *first_start_us, int64_t *first_done_us,
                          char *err, size_t errlen);
/* {p50, p90, p95, p99, p999, max, mean, min, count, out_of_range} in µs;
 * with nothing recorded (count 0) every figure but the counts is null:
 * nothing measured is never written as 0. Also "percentiles": the
 * distribution for HDR-style charts, [[percentile, µs], ...] at 50, 75, 90,
 * 95, 99, 99.5, 99.9, 99.95, 99.99 and 99.999 ([] when count is 0). */
cJSON *hist_to_json(const tq_hist *h);

#define REDIS_CMDS_MAX 128
struct redis_stats {
    double cpu_s;               /* used_cpu_sys + used_cpu_user */
    int ncmd;
    struct {
        char name[48];
        long long calls;
    } cmd[REDIS_CMDS_MAX];
};

/* INFO commandstats + INFO cpu. Returns 0, or -1 with err. */
int redis_stats_read(redisContext *c, struct redis_stats *s, char *err, size_t errlen);
/* Into run: "redis" {commands_per_task, commands, commands_by_name,
 * driver_commands, driver_commands_by_name, cpu_us_per_task, cpu_s}:
 * after - before, without INFO (the driver measuring) and without the
 * commands the driver sent in the window (driver, counted by name), which
 * are reported apart. tasks = tasks processed; per-task figures are null
 * when it is 0. */
void redis_stats_to_json(const struct redis_stats *before, const struct redis_stats *after,
                         const struct cmd_count *driver, long tasks, cJSON *run);

#endif
