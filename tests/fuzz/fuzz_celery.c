/* fuzz_celery.c - tq_celery_decode (common/tq_celery.c): kombu envelopes
 * holding Celery protocol-2 messages, on arbitrary bytes (base64 body and
 * all), in a buffer of exactly the payload's length. Invariants:
 *  - decode returns 0 or -1; on -1 err is non-empty and out->run is "" or a
 *    valid run id;
 *  - on 0: info's strings are terminated; without the tqbench headers run is
 *    "", id and enqueued_us 0, max_attempts 1; with them run is valid;
 *  - a decoded tqbench message that the encoder can express (attempt <
 *    max_attempts) round trips: decode(encode(t, queue)) gives t back, with
 *    the task name, routing key and has_tqbench the encoder wrote. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tq_celery.h"

static int same_task(const struct tq_task *a, const struct tq_task *b) {
    return a->id == b->id && strcmp(a->run, b->run) == 0 && a->kind == b->kind &&
           a->arg == b->arg && a->enqueued_us == b->enqueued_us &&
           a->scheduled_us == b->scheduled_us && a->attempt == b->attempt &&
           a->max_attempts == b->max_attempts;
}

static int terminated(const char *s, size_t n) { return memchr(s, '\0', n) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    struct tq_task t;
    struct tq_celery_info info;
    char err[256];
    err[0] = '\0';
    int rc = tq_celery_decode(buf, size, &t, &info, err, sizeof err);
    free(buf);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(terminated(err, sizeof err), "err not terminated");
    FUZZ_CHECK(t.run[0] == '\0' || tq_name_valid(t.run), "invalid run \"%s\"", t.run);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0', "failure without a message");
        return 0;
    }
    FUZZ_CHECK(terminated(info.task, sizeof info.task) && terminated(info.id, sizeof info.id) &&
                   terminated(info.delivery_tag, sizeof info.delivery_tag) &&
                   terminated(info.routing_key, sizeof info.routing_key),
               "info string not terminated");
    FUZZ_CHECK((int)t.kind >= 0 && t.kind < TQ_KIND__COUNT, "kind %d", (int)t.kind);
    FUZZ_CHECK(t.attempt >= 0 && t.max_attempts >= 1, "attempt %d of %d", t.attempt,
               t.max_attempts);
    FUZZ_CHECK(t.arg >= 0 && (t.kind == TQ_KIND_SLEEP || t.kind == TQ_KIND_CPU || t.arg == 0),
               "arg %lld for kind %d", (long long)t.arg, (int)t.kind);
    if (!info.has_tqbench) {
        FUZZ_CHECK(t.run[0] == '\0' && t.id == 0 && t.enqueued_us == 0 && t.scheduled_us == 0 &&
                       t.max_attempts == 1,
                   "foreign message with tqbench fields");
        return 0;
    }
    FUZZ_CHECK(tq_name_valid(t.run), "tqbench message without a valid run");
    if (t.attempt >= t.max_attempts) return 0; /* a state the encoder refuses to write */

    const char *queue = tq_name_valid(info.routing_key) ? info.routing_key : "fuzz";
    size_t cap = 4096;
    char *enc = malloc(cap);
    FUZZ_CHECK(enc != NULL, "out of memory");
    int n = tq_celery_encode(&t, queue, enc, cap);
    FUZZ_CHECK(n > 0, "decoded tqbench task does not encode");
    struct tq_task back;
    struct tq_celery_info info2;
    rc = tq_celery_decode(enc, (size_t)n, &back, &info2, err, sizeof err);
    FUZZ_CHECK(rc == 0, "re-encoded message does not decode: %s", err);
    FUZZ_CHECK(same_task(&t, &back), "round trip changed the task");
    FUZZ_CHECK(info2.has_tqbench == 1 && strcmp(info2.routing_key, queue) == 0 &&
                   strncmp(info2.task, TQ_CELERY_TASK_PREFIX, sizeof TQ_CELERY_TASK_PREFIX - 1) ==
                       0 &&
                   strcmp(info2.task + sizeof TQ_CELERY_TASK_PREFIX - 1,
                          tq_task_kind_name(t.kind)) == 0,
                   "round trip changed the envelope");
    FUZZ_CHECK(tq_celery_encode(&t, queue, enc, (size_t)n - 1) == -1, "short buffer accepted");
    free(enc);
    return 0;
}
