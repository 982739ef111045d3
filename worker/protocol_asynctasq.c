/* protocol_asynctasq.c - tqworker consuming AsyncTasQ's own queues.
 *
 * AsyncTasQ's Redis driver keeps a queue as the list "queue:<q>" (no tqbench
 * prefix): producers LPUSH msgpack payloads (common/tq_asynctasq.h), workers
 * take them with BLMOVE queue:<q> queue:<q>:processing RIGHT LEFT and ack
 * with one MULTI of LREM queue:<q>:processing 1 <payload> and INCR
 * queue:<q>:stats:completed (stats:failed for a permanent failure). tqworker
 * does the same (consumer.c pops, control.c acks in the flush that counts the
 * task), so AsyncTasQ's counters and monitoring stay right while tqworker
 * measures a consumer at the broker's limit.
 *
 * Tasks carrying tqbench's kwargs run as their kind (noop, sleep, cpu; fail
 * is counted failed once: AsyncTasQ's retry budget is not re-enacted, the
 * payload being the receipt); any other task, from AsyncTasQ's own client,
 * is a noop with ignore-result semantics, counted in --run. */
#include "protocol.h"
#include "tq_asynctasq.h"

static int atq_queue_keys(const char *prefix, const char *queue, char keys[][TQ_KEY_MAX],
                          int max) {
    (void)prefix; /* AsyncTasQ's keys are not namespaced by tqbench's prefix */
    /* room for the longest suffix, so every side key fits too */
    if (max < 1 || tq_atq_key(keys[0], TQ_KEY_MAX - sizeof TQ_ATQ_COMPLETED_SUFFIX, queue, "") < 0)
        return -1;
    return 1;
}

static int atq_decode(const char *buf, size_t len, struct tq_task *out, char *err,
                      size_t errlen) {
    if (tq_atq_decode(buf, len, out, NULL, err, errlen) != 0) return -1;
    /* Once, whatever the budget: a retry would be a new payload, and only
     * AsyncTasQ's own worker writes those. */
    out->attempt = 0;
    out->max_attempts = 1;
    return 0;
}

const struct tq_protocol tq_protocol_asynctasq = {
    .name = "asynctasq",
    .queue_keys = atq_queue_keys,
    .decode = atq_decode,
    /* msgpack, not JSON: an oversized payload is counted in --run */
    .run_field = NULL,
    .processing_suffix = TQ_ATQ_PROCESSING_SUFFIX,
    .completed_suffix = TQ_ATQ_COMPLETED_SUFFIX,
    .failed_suffix = TQ_ATQ_FAILED_SUFFIX,
};
