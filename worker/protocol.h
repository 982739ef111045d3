/* protocol.h - the wire formats tqworker can consume, as adapters.
 *
 * A protocol says which Redis lists to pop for a queue name and how to turn a
 * popped payload into a struct tq_task. `native` is tqbench's own JSON task
 * (common/tq_task.h); `celery` reads kombu's Redis envelopes (Celery protocol
 * 2) and runs every task as a noop with ignore-result semantics; `asynctasq`
 * consumes AsyncTasQ's reliable queues (common/tq_asynctasq.h). Adding a
 * protocol is one file defining one of these structs, listed in protocol.c. */
#ifndef TQ_WORKER_PROTOCOL_H
#define TQ_WORKER_PROTOCOL_H

#include <stddef.h>
#include "tq_keys.h"
#include "tq_task.h"

struct tq_protocol {
    const char *name;
    /* Writes the list keys to pop for queue into keys[0..max-1], highest
     * priority first; returns how many, or -1 when one does not fit. */
    int (*queue_keys)(const char *prefix, const char *queue, char keys[][TQ_KEY_MAX], int max);
    /* Decodes one payload. Returns 0, or -1 with err naming the problem; on
     * error out->run is the run id when it could still be read, else "". */
    int (*decode)(const char *buf, size_t len, struct tq_task *out, char *err, size_t errlen);
    /* The JSON key whose string value is the run id: a payload too large to
     * decode is counted in the run a bounded peek for it finds (NULL: none). */
    const char *run_field;
    /* Reliable queues (NULL for the BRPOP protocols): a pop is
     * BLMOVE <key> <key><processing_suffix> RIGHT LEFT, one task at a time
     * from one list, and the payload stays in that processing list until the
     * flush that counts the task removes it, in the same MULTI:
     * LREM <key><processing_suffix> 1 <payload> + INCR <key><completed_suffix>
     * (or <failed_suffix> for a failed or malformed task). A forced stop
     * moves unfinished payloads back to <key> (LREM, then RPUSH if it was
     * there, so they are popped first again). */
    const char *processing_suffix;
    const char *completed_suffix;
    const char *failed_suffix;
    /* Global counters the flush that counts tasks also INCRBYs, in the same
     * MULTI (NULL: none): every finished task in processed_counter, every
     * failed one (malformed included) also in failed_counter, as Sidekiq
     * counts stat:processed and stat:failed. */
    const char *processed_counter;
    const char *failed_counter;
};

extern const struct tq_protocol tq_protocol_native;
extern const struct tq_protocol tq_protocol_celery;
extern const struct tq_protocol tq_protocol_asynctasq;
extern const struct tq_protocol tq_protocol_sidekiq;

/* Every protocol this build knows, NULL-terminated (for --help). */
extern const struct tq_protocol *const tq_protocols[];

/* The protocol called name, or NULL. */
const struct tq_protocol *tq_protocol_find(const char *name);

#endif
