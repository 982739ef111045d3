/* tq_asynctasq.h - AsyncTasQ task payloads (msgpack), both wire shapes.
 *
 * AsyncTasQ's Redis driver LPUSHes one msgpack map per task onto
 * "queue:<q>"; its workers BLMOVE it into "queue:<q>:processing" and the
 * payload bytes themselves are the receipt (LREM on ack). A function task
 * dispatched from module M, function F, looks like this once decoded:
 *
 * 0.9.x (keys in this order; the kwargs are repeated at the top of params):
 *   {"class": "asynctasq.tasks.types.function_task.FunctionTask",
 *    "params": {<kwargs...>, "args": [], "kwargs": {<kwargs...>}},
 *    "metadata": {"task_id": "<uuid4>", "attempts": 0,
 *                 "dispatched_at": "2026-11-29T12:58:10.204635+00:00",
 *                 "queue": "default", "max_retries": 3, "retry_delay": 60,
 *                 "timeout": null, "func_module": "M", "func_name": "F"}}
 *
 * 1.x (kwargs only inside params.kwargs; class_file is optional):
 *   {"class": "...FunctionTask", "params": {"args": [], "kwargs": {...}},
 *    "metadata": {"task_id", "current_attempt", "dispatched_at", "queue",
 *                 "max_attempts", "retry_delay", "timeout",
 *                 "visibility_timeout", "func_module", "func_name",
 *                 "func_file" (optional)},
 *    "class_file": "/path/to/function_task.py" (optional)}
 *
 * dispatched_at is Python's datetime.isoformat() of an aware UTC time: the
 * ".ffffff" part is absent when the microseconds are 0, as Python writes it.
 * Integers use msgpack's shortest form, strings str8/16/32 and arrays and
 * maps their shortest headers: byte-for-byte what Python's msgpack and
 * msgspec write for the same map.
 *
 * tqbench's own fields travel as keyword arguments of the task function
 * (func_name is the kind's name: noop, sleep, cpu or fail), so the Python
 * task module run by AsyncTasQ's worker reads them as ordinary kwargs. In
 * this order, the optional ones only when they apply:
 *
 *   TQ_ATQ_KW_RUN      "tqbench_run"       str  run id
 *   TQ_ATQ_KW_SEQ      "tqbench_seq"       int  t->id, the task's sequence number
 *   TQ_ATQ_KW_ENQ      "tqbench_enq_us"    int  wall-clock µs when pushed
 *   TQ_ATQ_KW_SCHED    "tqbench_sched_us"  int  scheduled µs (only when != 0)
 *   TQ_ATQ_KW_SLEEP_MS "ms"                int  sleep kind: milliseconds
 *   TQ_ATQ_KW_CPU_US   "us"                int  cpu kind: µs of CPU work
 *   TQ_ATQ_KW_PAD      "tqbench_pad"       str  t->pad_len 'x' (only when > 0)
 *
 * The attempt number and the retry budget are AsyncTasQ's own metadata:
 * attempts (0.9) / current_attempt (1.x) = t->attempt; max_attempts (1.x) =
 * t->max_attempts; max_retries (0.9) = t->max_attempts - 1 (retries after
 * the first attempt).
 *
 * The task id is a version-4-formatted UUID derived from (run, id): distinct
 * for distinct tasks of a run and across runs, without state or a random
 * source, like tq_celery_encode's ids. */
#ifndef TQ_ASYNCTASQ_H
#define TQ_ASYNCTASQ_H

#include <stddef.h>
#include <stdint.h>
#include "tq_keys.h"
#include "tq_task.h"

enum tq_atq_shape {
    TQ_ATQ_SHAPE_1X = 0, /* current_attempt, max_attempts, visibility_timeout, func_file */
    TQ_ATQ_SHAPE_09,     /* attempts, max_retries; kwargs repeated at the top of params */
};

/* tqbench's kwargs (keep in sync with bench/frameworks/asynctasq's task module). */
#define TQ_ATQ_KW_RUN      "tqbench_run"
#define TQ_ATQ_KW_SEQ      "tqbench_seq"
#define TQ_ATQ_KW_ENQ      "tqbench_enq_us"
#define TQ_ATQ_KW_SCHED    "tqbench_sched_us"
#define TQ_ATQ_KW_SLEEP_MS "ms"
#define TQ_ATQ_KW_CPU_US   "us"
#define TQ_ATQ_KW_PAD      "tqbench_pad"

/* The class of every function task (decorated with @task). */
#define TQ_ATQ_FUNCTION_TASK_CLASS "asynctasq.tasks.types.function_task.FunctionTask"

/* AsyncTasQ's Redis keys for queue q (its layout, not tqbench's: no prefix). */
#define TQ_ATQ_QUEUE_PREFIX       "queue:"
#define TQ_ATQ_PROCESSING_SUFFIX  ":processing"
#define TQ_ATQ_COMPLETED_SUFFIX   ":stats:completed"
#define TQ_ATQ_FAILED_SUFFIX      ":stats:failed"

#define TQ_ATQ_UUID_LEN 36

/* What the encoder writes besides the task itself. Strings are NUL-terminated
 * and borrowed; tq_atq_opts_init sets the defaults noted. */
struct tq_atq_opts {
    enum tq_atq_shape shape;      /* TQ_ATQ_SHAPE_1X */
    const char *queue;            /* metadata.queue: "default" */
    const char *func_module;      /* metadata.func_module: "tqbench_tasks" */
    const char *cls;              /* top-level "class": TQ_ATQ_FUNCTION_TASK_CLASS */
    const char *func_file;        /* 1.x metadata.func_file; NULL: absent (NULL) */
    const char *class_file;       /* 1.x top-level "class_file"; NULL: absent (NULL) */
    int64_t retry_delay;          /* seconds: 60 */
    int64_t timeout;              /* seconds; < 0 writes nil: -1 */
    int64_t visibility_timeout;   /* 1.x, seconds; < 0 writes nil: 3600 */
};

void tq_atq_opts_init(struct tq_atq_opts *o);

/* Encodes t as an AsyncTasQ payload of o->shape into buf. func_name is the
 * kind's name; the kwargs are as listed above. Returns the length (buf is
 * binary: not NUL-terminated), or -1 when it does not fit in cap or t or o is
 * invalid (what tq_task_encode refuses, a NULL or empty queue / func_module /
 * cls). No allocation, no I/O, no lock: the producer's hot path. */
int tq_atq_encode(const struct tq_task *t, const struct tq_atq_opts *o, char *buf, size_t cap);

/* What a decoded payload says beyond struct tq_task (for logs, tests and
 * re-encoding: tq_atq_info_opts). Strings are NUL-terminated copies,
 * truncated when longer (then re-encoding differs; tests use short ones). */
struct tq_atq_info {
    enum tq_atq_shape shape;
    int has_tqbench;              /* 1 when tqbench_run / seq / enq_us were present */
    char cls[128];
    char class_file[256];         /* "" when absent */
    int has_class_file;
    char task_id[64];
    char dispatched_at[48];       /* "" when nil */
    char queue[TQ_NAME_MAX];
    char func_module[128];
    char func_name[64];
    char func_file[256];          /* "" when absent */
    int has_func_file;
    int64_t retry_delay;
    int64_t timeout;              /* -1 when nil */
    int64_t visibility_timeout;   /* -1 when nil or 0.9 */
};

/* Fills o so that tq_atq_encode(t, o, ...) writes the payload info was decoded
 * from again (for payloads tq_atq_encode could have written: a task id
 * derived from (run, id), dispatched_at from t->enqueued_us). o points into
 * info, which must outlive it. */
void tq_atq_info_opts(const struct tq_atq_info *info, struct tq_atq_opts *o);

/* Decodes a payload of either shape (told apart by metadata.current_attempt
 * vs metadata.attempts). Required: class (str), params (map) with args
 * (array) and kwargs (map), metadata (map) with task_id, dispatched_at (str
 * or nil), queue, func_module, func_name (str), the attempt and retry-budget
 * fields (non-negative int), retry_delay (int), timeout (int or nil); 1.x
 * also visibility_timeout (int or nil); func_file and class_file are
 * optional strings. Keys it does not know are ignored.
 *
 * With tqbench's kwargs (all of tqbench_run, tqbench_seq, tqbench_enq_us),
 * out gets them: kind from func_name (a tqbench kind name, else refused),
 * arg from "ms" / "us", attempt / max_attempts from the metadata, pad_len
 * from tqbench_pad. Without them (a payload from AsyncTasQ's own client)
 * out->run is "" (the consumer substitutes its own run id), id 0, kind noop,
 * enqueued_us parsed from dispatched_at (0 when nil or not ISO 8601 with an
 * offset), attempt 0 and max_attempts 1: AsyncTasQ's own retry budget is not
 * the consumer's business.
 *
 * Returns 0, or -1 with err naming the problem, one message per class: "not
 * msgpack", "empty payload", "truncated" (also a container claiming more
 * elements than bytes remain, refused before msgpack-c allocates for them),
 * "trailing bytes after the payload", "nested too deeply" (msgpack-c's
 * 32 levels), "payload is not
 * a map", "missing metadata", "metadata is not a map", "metadata.queue is not
 * a string", "missing metadata.task_id", "params.kwargs.tqbench_seq is not a
 * non-negative integer", "unknown kind \"explode\" in metadata.func_name", "invalid run id in
 * params.kwargs.tqbench_run", "attempt >= max_attempts", ...
 * On error out->run holds the run id when it could be read, else "". info
 * may be NULL. */
int tq_atq_decode(const char *buf, size_t len, struct tq_task *out, struct tq_atq_info *info,
                  char *err, size_t errlen);

/* Writes "queue:<queue>" + suffix ("" for the ready list, or one of the
 * TQ_ATQ_*_SUFFIX) into buf. Returns its length, or -1 when it does not fit
 * in n or queue is empty. */
int tq_atq_key(char *buf, size_t n, const char *queue, const char *suffix);

/* Writes the task id tq_atq_encode gives (run, id): 36 characters + NUL.
 * buf must hold TQ_ATQ_UUID_LEN + 1 bytes. */
void tq_atq_task_id(char *buf, const char *run, uint64_t id);

#endif
