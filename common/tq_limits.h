/* tq_limits.h - the bounds of every setting tqworker accepts, and of the run
 * settings tqbench checks, in one place.
 *
 * tqworker refuses a value outside its bounds (worker/config.c, exit 2).
 * tqbench passes a run's concurrency and prefetch to the native workers as
 * they are, so its flags (bench/config.c) and scenario keys
 * (bench/scenario.c) are bounded by the same numbers: a value the driver
 * accepts is one tqworker accepts, and one it would refuse is a
 * configuration error (exit 2, naming the flag or key and the range) before
 * Redis, a results folder or any worker exists, rather than a run that fails
 * at the health check. A framework whose own workers accept less checks that
 * in its adapter (bench/framework.h); the bounds here are the native and
 * generic ones.
 *
 * Header only: constants, and compile-time checks of how they relate. */
#ifndef TQ_LIMITS_H
#define TQ_LIMITS_H

/* --- tqworker's command line ------------------------------------------------ */

/* --queue: lists consumed, highest priority first */
#define TQ_WORKER_QUEUES_MAX 16
/* --concurrency: one Redis connection (and descriptor) per task in flight */
#define TQ_WORKER_CONCURRENCY_MAX 1024
/* --prefetch: tasks taken per round trip (BRPOP, then RPOP key count) */
#define TQ_WORKER_PREFETCH_MAX 10000
/* --heartbeat-interval, seconds (the heartbeat's TTL is three of them) */
#define TQ_WORKER_HEARTBEAT_S_MIN 0.1
#define TQ_WORKER_HEARTBEAT_S_MAX 3600
/* --brpop-timeout, seconds: also how long a graceful stop waits for pops */
#define TQ_WORKER_BRPOP_TIMEOUT_S_MIN 0.01
#define TQ_WORKER_BRPOP_TIMEOUT_S_MAX 3600
/* --max-payload-bytes: the default, and the most (Redis's own
 * proto-max-bulk-len default); the least is 1 */
#define TQ_WORKER_PAYLOAD_DEFAULT (4u << 20)
#define TQ_WORKER_PAYLOAD_MAX (512u << 20)

/* --- what one task may ask for ----------------------------------------------- */

/* The longest sleep (ms) and cpu (µs) task tqworker runs: one hour, the
 * histograms' range. A larger value is a malformed task, counted failed. */
#define TQ_TASK_SLEEP_MS_MAX (3600LL * 1000)
#define TQ_TASK_CPU_US_MAX (3600LL * 1000000)

/* --- a run's settings (tqbench flags and scenario keys alike) ---------------- */

/* tasks one run may enqueue however they are given: "tasks", --tasks, or
 * rate x duration_s (bench/scenario.h) */
#define TQ_RUN_TASKS_MAX 1000000000L
#define TQ_RUN_WARMUP_MAX 100000000L
/* worker processes one run starts (or waits for, with --external) */
#define TQ_RUN_WORKERS_MAX 1024
#define TQ_RUN_REPEAT_MAX 1000
/* offered rate of an open-loop run, tasks/s */
#define TQ_RUN_RATE_MAX 1e8
/* --payload-bytes, "payload_bytes": one task's size, its pad included */
#define TQ_RUN_PAYLOAD_BYTES_MAX (1 << 20)
/* a scenario's "mix": sleep "ms" up to TQ_TASK_SLEEP_MS_MAX; cpu "us" up to a
 * minute, as a benchmark's CPU-bound task need not be longer */
#define TQ_RUN_CPU_US_MAX 60000000LL
/* --concurrency, --prefetch, "concurrency", "prefetch": per worker process,
 * tqworker's TQ_WORKER_CONCURRENCY_MAX and TQ_WORKER_PREFETCH_MAX. */

/* The native framework starts tqworker without --max-payload-bytes: every
 * payload a run writes must fit under the worker's default cap, or its tasks
 * would be counted failed unread. */
_Static_assert(TQ_RUN_PAYLOAD_BYTES_MAX < TQ_WORKER_PAYLOAD_DEFAULT,
               "a run's largest payload must fit tqworker's default --max-payload-bytes");
_Static_assert(TQ_RUN_CPU_US_MAX <= TQ_TASK_CPU_US_MAX,
               "a scenario's cpu task must be one tqworker runs");
_Static_assert(TQ_WORKER_PAYLOAD_DEFAULT <= TQ_WORKER_PAYLOAD_MAX,
               "tqworker's default payload cap must be one it accepts");

#endif
