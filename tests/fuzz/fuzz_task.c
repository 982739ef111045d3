/* fuzz_task.c - tq_task_decode (common/tq_task.c) on arbitrary bytes.
 *
 * The payload is handed over in a buffer of exactly its length (no NUL after
 * it), as the worker gets it from Redis. Invariants:
 *  - decode returns 0 or -1; on -1 err is non-empty, out->run is "" or a valid
 *    run id, and every other field is zero (max_attempts 1);
 *  - tq_task_decode and the cJSON-only tq_task_decode_json agree exactly (rc,
 *    every field, the message): the canonical fast path changes no result;
 *  - on 0 the task is valid for the encoder: encode(decode(x)) succeeds and
 *    decodes to the same task, and encoding that again gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tq_task.h"

static int same_task(const struct tq_task *a, const struct tq_task *b) {
    return a->id == b->id && strcmp(a->run, b->run) == 0 && a->kind == b->kind &&
           a->arg == b->arg && a->enqueued_us == b->enqueued_us &&
           a->scheduled_us == b->scheduled_us && a->attempt == b->attempt &&
           a->max_attempts == b->max_attempts && a->pad_len == b->pad_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1); /* exact size: an over-read is an ASan report */
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    struct tq_task t;
    char err[256];
    int rc = tq_task_decode(buf, size, &t, err, sizeof err);
    /* The fast path for the encoder's own form changes nothing: the cJSON
     * decoder alone gives the same result, task and message. */
    struct tq_task ref;
    char ref_err[256];
    int ref_rc = tq_task_decode_json(buf, size, &ref, ref_err, sizeof ref_err);
    free(buf);
    FUZZ_CHECK(rc == ref_rc, "rc %d, cJSON decoder %d (%s)", rc, ref_rc, ref_err);
    FUZZ_CHECK(same_task(&t, &ref), "task differs from the cJSON decoder's");
    FUZZ_CHECK(strcmp(err, ref_err) == 0, "error \"%s\", cJSON decoder \"%s\"", err, ref_err);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(strlen(err) < sizeof err, "err not terminated");
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0', "failure without a message");
        FUZZ_CHECK(t.run[0] == '\0' || tq_name_valid(t.run), "invalid run kept");
        FUZZ_CHECK(t.id == 0 && t.kind == TQ_KIND_NOOP && t.arg == 0 && t.enqueued_us == 0 &&
                       t.scheduled_us == 0 && t.attempt == 0 && t.max_attempts == 1 &&
                       t.pad_len == 0,
                   "fields not reset after \"%s\"", err);
        return 0;
    }
    FUZZ_CHECK(tq_name_valid(t.run), "accepted run \"%s\"", t.run);
    FUZZ_CHECK(t.max_attempts >= 1 && t.attempt >= 0 && t.attempt < t.max_attempts,
               "attempt %d of %d", t.attempt, t.max_attempts);
    FUZZ_CHECK(t.pad_len <= size, "pad_len %zu > payload %zu", t.pad_len, size);

    size_t cap = 512 + t.pad_len;
    char *enc = malloc(cap), *enc2 = malloc(cap);
    FUZZ_CHECK(enc && enc2, "out of memory");
    int n = tq_task_encode(&t, enc, cap);
    FUZZ_CHECK(n > 0, "decoded task does not encode");
    struct tq_task back;
    rc = tq_task_decode(enc, (size_t)n, &back, err, sizeof err);
    FUZZ_CHECK(rc == 0, "re-encoded task does not decode: %s", err);
    FUZZ_CHECK(same_task(&t, &back), "round trip changed the task");
    int n2 = tq_task_encode(&back, enc2, cap);
    FUZZ_CHECK(n2 == n && memcmp(enc, enc2, (size_t)n) == 0, "encoding is not stable");
    /* The encoder refuses a buffer one byte short instead of truncating. */
    FUZZ_CHECK(tq_task_encode(&t, enc2, (size_t)n - 1) == -1, "short buffer accepted");
    free(enc);
    free(enc2);
    return 0;
}
