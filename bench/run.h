/* run.h - one run: one scenario on one framework, once.
 *
 * prepare (delete the run's keys) -> spawn workers (or attach with
 * --external) -> health-check -> warm-up (and, for a rate scenario without a
 * rate, a capacity probe) -> measured phase (enqueue per the arrival mode,
 * wait for completion with stall detection, resource monitor, INFO deltas)
 * -> collect -> teardown, on every path: stop the producer, SIGTERM/SIGKILL
 * and reap every worker, delete the run's keys and the framework's.
 *
 * Throughput figures (tasks = completed + failed, each task counted once
 * whatever its retries):
 *   end_to_end = tasks / (last done - clock start), where the clock starts
 *                when the backlog is released to the already running workers
 *                (backlog) or at the first LPUSH (live, rate);
 *   processing = tasks / (last done - first start), the workers' own window;
 *   enqueue    = tasks / (last LPUSH reply - first LPUSH), the producer.
 * Durations: enqueue as above; drain = last done - clock start; total =
 * last done - first LPUSH. */
#ifndef TQ_BENCH_RUN_H
#define TQ_BENCH_RUN_H

#include <cjson/cJSON.h>
#include "bench.h"
#include "framework.h"
#include "scenario.h"

/* The figures the terminal table and the repeat summaries use; NAN for
 * what the run did not measure (null in results.json, "-" in the table). */
struct run_figures {
    int ok;
    int skipped;                       /* not run: the framework cannot run the scenario */
    int worker_cpu_precise;            /* the workers' CPU time spans >= 100 clock ticks */
    double tput_end_to_end, tput_processing, tput_enqueue;
    /* the framework's own client (throughput_per_s.client_enqueue), for
     * frameworks that have one (has_client; client_label as the table
     * names it) */
    int has_client;
    const char *client_label;
    double tput_client_enqueue;
    double p50_us, p99_us;             /* end_to_end latency */
    double worker_cpu_pct;             /* average, percent of one CPU */
    double worker_cpu_us_per_task;
    double worker_rss_kb_peak;         /* RSS summed over each worker's process tree */
    double worker_pss_kb_peak;         /* PSS likewise: shared pages counted once */
    double redis_cpu_us_per_task;      /* redis.cpu_us_per_task: INFO cpu delta / tasks */
    double commands_per_task;          /* redis.commands_per_task */
    /* > 0: concurrency run as this many processes of one task each per
     * worker (FW_LIMIT_SERIAL), which the table notes when above 1 */
    int processes_per_worker;
};

/* Runs s (effective settings) on fw, repeat number rep (1-based). Returns
 * the run's JSON object (status "ok" or "failed" with "error"; a failed run
 * keeps what it measured) and fills fig. Never NULL. */
cJSON *run_one(struct bench *b, const struct scenario *s, const struct tq_framework *fw, int rep,
               struct run_figures *fig);

/* Whether fw can run s as configured (cfg's overrides applied): 0 yes; 1
 * no, because its workers lack a capability s needs (fw->caps: the pair is
 * skipped, with why); -1 no, because the adapter refuses the settings
 * (fw->validate: a configuration error, exit 2 before anything starts). */
int run_admit(const struct config *cfg, const struct scenario *s, const struct tq_framework *fw,
              char *why, size_t n);

/* --external without --shared-queue: the queue fw's workers serve must be
 * empty, since tqbench never deletes tasks it did not enqueue and tasks
 * already there would run before and among the run's own. Returns 0 when it
 * is (or --shared-queue was given), 1 when it is not (err names the queue
 * and how many tasks it holds), -1 with err when Redis did not answer. */
int run_check_external_queue(struct bench *b, const struct tq_framework *fw, char *err,
                             size_t errlen);

#endif
