/* protocol_celery.c - tqworker consuming Celery's own queues.
 *
 * Celery's Redis transport (kombu) keeps a queue as a plain list named after
 * the queue, without tqbench's prefix, plus one list per priority step, and
 * its workers pop them with one BRPOP in kombu's priority order:
 *   BRPOP <q> <q>\x06\x163 <q>\x06\x166 <q>\x06\x169 <timeout>
 * Every message is a kombu envelope carrying a protocol-2 task
 * (common/tq_celery.h). tqworker treats every task as a noop with
 * ignore-result semantics, whatever its name and arguments, so a Celery
 * producer can be measured against a consumer at the broker's limit. */
#include "protocol.h"
#include "tq_celery.h"

static int celery_queue_keys(const char *prefix, const char *queue, char keys[][TQ_KEY_MAX],
                             int max) {
    (void)prefix; /* kombu's lists are not namespaced by tqbench's prefix */
    if (max < TQ_CELERY_LISTS) return -1;
    for (int i = 0; i < TQ_CELERY_LISTS; i++)
        if (tq_celery_list_key(keys[i], TQ_KEY_MAX, queue, i) < 0) return -1;
    return TQ_CELERY_LISTS;
}

static int celery_decode(const char *buf, size_t len, struct tq_task *out, char *err,
                         size_t errlen) {
    if (tq_celery_decode(buf, len, out, NULL, err, errlen) != 0) return -1;
    /* Run as a noop, once: the message's own task, arguments and retry
     * budget are Celery's business, not this consumer's. */
    out->kind = TQ_KIND_NOOP;
    out->arg = 0;
    out->attempt = 0;
    out->max_attempts = 1;
    out->pad_len = 0;
    return 0;
}

const struct tq_protocol tq_protocol_celery = {
    .name = "celery",
    .queue_keys = celery_queue_keys,
    .decode = celery_decode,
    .run_field = TQ_CELERY_H_RUN,
};
