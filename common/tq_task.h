/* tq_task.h - the native task: what the driver enqueues and tqworker runs.
 *
 * A task is one small JSON object, e.g.
 *   {"id":42,"run":"r1","kind":"sleep","arg":200,"enq":1764423600000000,
 *    "sched":1764423600000000,"attempt":0,"max_attempts":1,"pad":"xxxx"}
 * id: sequence number in the run; run: run id (tq_name_valid); kind: noop,
 * sleep (arg = ms, non-blocking), cpu (arg = µs of CPU work), fail; enq: wall
 * clock µs when the producer pushed it; sched: wall clock µs when it was
 * scheduled to be pushed (open-loop runs; latency counts from here, as wrk2
 * does; equals enq otherwise, and may be absent); attempt / max_attempts: a
 * fail task is re-enqueued with attempt+1 while attempt+1 < max_attempts;
 * pad: filler for the scenario's payload size (ignored by the worker). */
#ifndef TQ_TASK_H
#define TQ_TASK_H

#include <stddef.h>
#include <stdint.h>
#include "tq_keys.h"

enum tq_task_kind { TQ_KIND_NOOP = 0, TQ_KIND_SLEEP, TQ_KIND_CPU, TQ_KIND_FAIL, TQ_KIND__COUNT };

struct tq_task {
    uint64_t id;
    char run[TQ_NAME_MAX];
    enum tq_task_kind kind;
    int64_t arg;             /* sleep: ms; cpu: µs; otherwise 0 */
    int64_t enqueued_us;
    int64_t scheduled_us;    /* 0 when absent: latency then counts from enqueued_us */
    int attempt;
    int max_attempts;        /* >= 1 */
    size_t pad_len;          /* bytes of "pad" to emit when encoding */
};

/* Encodes t into buf (not NUL-terminated unless room remains). Returns the
 * length, or -1 when it does not fit or t is invalid (unknown kind, run not
 * tq_name_valid, a negative number or one above 2^53, max_attempts < 1,
 * attempt >= max_attempts): what it writes, tq_task_decode accepts. Fast path for the
 * producer: no allocation, no printf. */
int tq_task_encode(const struct tq_task *t, char *buf, size_t cap);
/* Decodes a payload of len bytes (no NUL needed). Required: id, run, kind, enq;
 * optional: arg (0), sched (0), attempt (0), max_attempts (1), pad (a string;
 * its length goes to pad_len). Numbers must be non-negative integers a JSON
 * number holds exactly (<= 2^53); keys it does not know are ignored, so newer
 * producers can add fields. Returns 0, or -1 with err naming the problem,
 * one message per class: not JSON (also trailing bytes after the object), not
 * a JSON object, missing field "enq", field "arg" has wrong type, unknown kind
 * "explode", invalid run id "a:b", negative value in "sched", field "id" out
 * of range, field "max_attempts" must be >= 1, attempt >= max_attempts.
 * When the run id could be read even though something else was wrong, out->run
 * holds it (so the failure can be counted in that run), else out->run is "";
 * the other fields are then zero (max_attempts 1). */
int tq_task_decode(const char *buf, size_t len, struct tq_task *out, char *err, size_t errlen);
/* The same decoder without the fast path for tq_task_encode's own byte form:
 * every payload through cJSON. tq_task_decode gives exactly its results (the
 * fuzz harness checks it); exposed for that check and for benchmarks. */
int tq_task_decode_json(const char *buf, size_t len, struct tq_task *out, char *err,
                        size_t errlen);

const char *tq_task_kind_name(enum tq_task_kind kind);
/* Returns the kind, or -1 when name is unknown. */
int tq_task_kind_parse(const char *name);

#endif
