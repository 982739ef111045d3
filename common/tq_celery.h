/* tq_celery.h - Celery task messages (protocol 2) in kombu's Redis envelope.
 *
 * Celery's Redis transport LPUSHes one JSON envelope per task onto the list
 * named after the queue (priorities 3/6/9 onto "<queue>\x06\x163" and so on):
 *
 *   {"body": "<base64 of [args, kwargs, embed]>", "content-encoding": "utf-8",
 *    "content-type": "application/json",
 *    "headers": {"lang": "py", "task": "tqbench.noop", "id": "<uuid>", ...},
 *    "properties": {"correlation_id": "<uuid>", "reply_to": "<uuid>",
 *                   "delivery_mode": 2, "delivery_info": {"exchange": "",
 *                   "routing_key": "<queue>"}, "priority": 0,
 *                   "body_encoding": "base64", "delivery_tag": "<uuid4>"}}
 *
 * This is what Celery 5.2's apply_async writes (tests/celery/data holds one
 * captured message). The encoder lets the driver produce those messages from
 * C at the broker's speed; the decoder lets tqworker consume Celery's queues.
 *
 * tqbench's own data rides in extra message headers, which Celery copies into
 * task.request, so the worker-side hook (bench/frameworks/celery) reads them:
 * TQ_CELERY_H_RUN (run id), TQ_CELERY_H_SEQ (task id sequence),
 * TQ_CELERY_H_ENQ (enqueue wall-clock µs), TQ_CELERY_H_SCHED (scheduled
 * wall-clock µs, open-loop runs only), TQ_CELERY_H_MAX_ATTEMPTS. The attempt
 * number is Celery's own "retries" header. */
#ifndef TQ_CELERY_H
#define TQ_CELERY_H

#include <stddef.h>
#include <stdint.h>
#include "tq_task.h"

/* Task names registered by bench/frameworks/celery/tqbench_tasks.py, one per
 * tq_task kind (TQ_CELERY_TASK_PREFIX + tq_task_kind_name()). */
#define TQ_CELERY_TASK_PREFIX "tqbench."

/* tqbench's message headers (keep in sync with tqbench_tasks.py). */
#define TQ_CELERY_H_RUN          "tqbench_run"
#define TQ_CELERY_H_SEQ          "tqbench_seq"
#define TQ_CELERY_H_ENQ          "tqbench_enq_us"
#define TQ_CELERY_H_SCHED        "tqbench_sched_us"
#define TQ_CELERY_H_MAX_ATTEMPTS "tqbench_max_attempts"

/* kombu's priority separator: "<queue>" + TQ_CELERY_PRIORITY_SEP + "3". */
#define TQ_CELERY_PRIORITY_SEP "\x06\x16"

#define TQ_CELERY_UUID_LEN 36

/* What a decoded message says beyond struct tq_task (for logs and tests). */
struct tq_celery_info {
    char task[128];                        /* headers.task (truncated if longer) */
    char id[64];                           /* headers.id */
    char delivery_tag[64];                 /* properties.delivery_tag */
    char routing_key[128];                 /* properties.delivery_info.routing_key, or "" */
    int priority;                          /* properties.priority (0 when absent) */
    int has_tqbench;                       /* 1 when the tqbench headers were present */
};

/* Encodes t as a kombu envelope for queue (routing key) into buf: task name
 * TQ_CELERY_TASK_PREFIX + kind; args [arg] for sleep (ms) and cpu (µs), []
 * otherwise; kwargs {"pad": "xxx..."} with t->pad_len bytes when pad_len > 0,
 * else {}; retries = t->attempt; origin "tqbench@<run>".
 *
 * The task id, reply_to and delivery_tag are version-4-formatted UUIDs
 * derived from (run, id) and (run, id, attempt, enqueued_us, scheduled_us):
 * distinct for distinct tasks of a run and across runs, without any state or
 * random source, so encoding needs no allocation, no I/O and no lock.
 * Returns the length (NUL-terminated when room remains), or -1 when it does
 * not fit in cap or t or queue is invalid. */
int tq_celery_encode(const struct tq_task *t, const char *queue, char *buf, size_t cap);

/* Decodes a kombu envelope. out->kind is the tqbench kind when headers.task
 * is TQ_CELERY_TASK_PREFIX + a kind name, else TQ_KIND_NOOP (any other
 * Celery task); out->arg is args[0] for sleep and cpu. When the tqbench
 * headers are present, out->run / id / enqueued_us / scheduled_us /
 * max_attempts come from them; otherwise (a message from Celery's own
 * client) out->run is "" (the consumer substitutes its own run id), id 0,
 * enqueued_us 0 (unknown: no latency can be measured) and max_attempts 1.
 * out->attempt is headers.retries.
 *
 * Returns 0, or -1 with err naming the problem: not JSON, not an object,
 * missing or mistyped headers / body / properties / content-type /
 * headers.task / headers.id / properties.delivery_tag, unsupported
 * content-type, content-encoding or body_encoding, body not base64, body not
 * a JSON list of 3 [args, kwargs, embed], bad tqbench header. On error
 * out->run holds the run id when it could be read, else "". info may be
 * NULL. */
int tq_celery_decode(const char *buf, size_t len, struct tq_task *out,
                     struct tq_celery_info *info, char *err, size_t errlen);

/* Writes the key of list number i (0..3) BRPOP pops for queue, in kombu's
 * order (highest priority first): "<queue>", then "<queue>\x06\x16" "3",
 * "6", "9". Returns its length, or -1 when it does not fit in n. */
int tq_celery_list_key(char *buf, size_t n, const char *queue, int i);
#define TQ_CELERY_LISTS 4

#endif
