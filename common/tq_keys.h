/* tq_keys.h - the Redis key schema of tqbench's native protocol.
 *
 * Every key is built here, so the worker, the driver, the tests and the
 * Celery hook agree on one schema (WORKER_SETUP.md, "The native protocol and
 * its keys", documents it for people writing workers).
 * P is the configurable prefix (default "tq"):
 *
 *   P:queue:<queue>      list  ready tasks; producer LPUSH, worker BRPOP (FIFO)
 *   P:worker:<id>        hash  heartbeat + self-reported stats, with TTL
 *   P:workers            set   registry of live worker ids
 *   P:run:<run>:stats    hash  counters of one run (TQ_STAT_* fields), HINCRBY
 *   P:run:<run>:hist     hash  per-worker histogram snapshots and stamps
 *                              (fields "<worker-id>:<TQ_HIST_FIELD_*>")
 *   P:processing:<id>:<slot>  list  tqworker --reliable: the tasks slot <slot>
 *                              of worker <id> took and has not counted yet
 *   P:run:<run>:stamps   list  raw "enqueued_us,started_us,done_us" triples for
 *                              workers that cannot build histograms (Celery hook)
 *   P:run:<run>:trace    list  the same triples from workers that also build
 *                              histograms (tqworker --trace, a burst run): read
 *                              per task (burst recovery), never merged into
 *                              the histograms
 *
 * Everything under P:run:<run>:* belongs to one run and is deleted by the
 * driver's teardown. */
#ifndef TQ_KEYS_H
#define TQ_KEYS_H

#include <stddef.h>

#define TQ_DEFAULT_PREFIX "tq"
#define TQ_KEY_MAX 512      /* longest key any tq_key_* function writes */
#define TQ_NAME_MAX 128     /* longest prefix, queue, worker id or run id */

/* Counters in P:run:<run>:stats. */
#define TQ_STAT_COMPLETED "completed"
#define TQ_STAT_FAILED    "failed"
#define TQ_STAT_RETRIED   "retried"

/* Field suffixes in P:run:<run>:hist; the full field is "<worker-id>:<suffix>".
 * Histograms hold tq_hist_serialize() snapshots (the worker's whole histogram
 * for the run, overwritten at each flush); the stamps are wall-clock µs. */
#define TQ_HIST_FIELD_QUEUE_WAIT "queue_wait"  /* start - enqueue (or scheduled) */
#define TQ_HIST_FIELD_SERVICE    "service"     /* done - start */
#define TQ_HIST_FIELD_END_TO_END "end_to_end"  /* done - enqueue (or scheduled) */
#define TQ_HIST_FIELD_FIRST_START "first_start_us"
#define TQ_HIST_FIELD_LAST_DONE   "last_done_us"
/* completed tasks without an origin stamp (absent when none): in service,
 * in neither queue_wait nor end_to_end */
#define TQ_HIST_FIELD_NO_ORIGIN   "no_origin"
/* the earliest completion (cold start: spawn to first task done) */
#define TQ_HIST_FIELD_FIRST_DONE  "first_done_us"

/* Each writes the key into buf (NUL-terminated) and returns its length, or -1
 * when it does not fit in n bytes. */
int tq_key_queue(char *buf, size_t n, const char *prefix, const char *queue);
int tq_key_worker(char *buf, size_t n, const char *prefix, const char *worker_id);
int tq_key_workers(char *buf, size_t n, const char *prefix);
int tq_key_run_stats(char *buf, size_t n, const char *prefix, const char *run_id);
int tq_key_run_hist(char *buf, size_t n, const char *prefix, const char *run_id);
int tq_key_run_stamps(char *buf, size_t n, const char *prefix, const char *run_id);
int tq_key_run_trace(char *buf, size_t n, const char *prefix, const char *run_id);
/* tqworker --reliable's processing list of one consumer slot (0-based):
 * "P:processing:<worker-id>:<slot>". */
int tq_key_processing(char *buf, size_t n, const char *prefix, const char *worker_id, int slot);
/* The glob matching every key of one run: "P:run:<run>:*". */
int tq_key_run_pattern(char *buf, size_t n, const char *prefix, const char *run_id);

/* 1 when s is a valid name for a prefix, queue, worker id or run id:
 * 1..TQ_NAME_MAX-1 bytes of [A-Za-z0-9._@-] (no ':' , no spaces, no globs). */
int tq_name_valid(const char *s);

#endif
