/* fuzz_asynctasq.c - tq_atq_decode (common/tq_asynctasq.c): AsyncTasQ task
 * payloads (msgpack, both shapes) on arbitrary bytes, in a buffer of exactly
 * the payload's length. Invariants:
 *  - decode returns 0 or -1; on -1 err is non-empty and out->run is "" or a
 *    valid run id;
 *  - on 0: info's strings are terminated; without tqbench's kwargs run is
 *    "", id 0, kind noop, max_attempts 1; with them run is valid and
 *    attempt < max_attempts;
 *  - a decoded tqbench payload re-encodes (tq_atq_info_opts) into bytes that
 *    decode to the same task, shape and queue. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tq_asynctasq.h"

static int same_task(const struct tq_task *a, const struct tq_task *b) {
    return a->id == b->id && strcmp(a->run, b->run) == 0 && a->kind == b->kind &&
           a->arg == b->arg && a->enqueued_us == b->enqueued_us &&
           a->scheduled_us == b->scheduled_us && a->attempt == b->attempt &&
           a->max_attempts == b->max_attempts && a->pad_len == b->pad_len;
}

static int terminated(const char *s, size_t n) { return memchr(s, '\0', n) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    struct tq_task t;
    struct tq_atq_info info;
    char err[256];
    err[0] = '\0';
    int rc = tq_atq_decode(buf, size, &t, &info, err, sizeof err);
    free(buf);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(terminated(err, sizeof err), "err not terminated");
    FUZZ_CHECK(t.run[0] == '\0' || tq_name_valid(t.run), "invalid run \"%s\"", t.run);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0', "failure without a message");
        return 0;
    }
    FUZZ_CHECK(terminated(info.cls, sizeof info.cls) && terminated(info.task_id, sizeof info.task_id) &&
                   terminated(info.dispatched_at, sizeof info.dispatched_at) &&
                   terminated(info.queue, sizeof info.queue) &&
                   terminated(info.func_module, sizeof info.func_module) &&
                   terminated(info.func_name, sizeof info.func_name) &&
                   terminated(info.func_file, sizeof info.func_file) &&
                   terminated(info.class_file, sizeof info.class_file),
               "info string not terminated");
    FUZZ_CHECK((int)t.kind >= 0 && t.kind < TQ_KIND__COUNT, "kind %d", (int)t.kind);
    FUZZ_CHECK(t.attempt >= 0 && t.attempt < t.max_attempts, "attempt %d of %d", t.attempt,
               t.max_attempts);
    if (!info.has_tqbench) {
        FUZZ_CHECK(t.run[0] == '\0' && t.id == 0 && t.kind == TQ_KIND_NOOP && t.max_attempts == 1,
                   "client payload decoded with tqbench fields");
        return 0;
    }
    FUZZ_CHECK(tq_name_valid(t.run), "tqbench payload without a valid run");
    /* Re-encode: what the decoder accepted, the encoder can write, unless the
     * strings were truncated into info, or are empty (the encoder refuses). */
    struct tq_atq_opts o;
    tq_atq_info_opts(&info, &o);
    if (!info.queue[0] || !info.func_module[0] || !info.cls[0]) return 0;
    size_t cap = 4096 + t.pad_len;
    char *out = malloc(cap);
    if (!out) return 0;
    int n = tq_atq_encode(&t, &o, out, cap);
    FUZZ_CHECK(n > 0, "decoded task does not re-encode");
    struct tq_task t2;
    struct tq_atq_info info2;
    FUZZ_CHECK(tq_atq_decode(out, (size_t)n, &t2, &info2, err, sizeof err) == 0,
               "re-encoded payload does not decode: %s", err);
    free(out);
    FUZZ_CHECK(same_task(&t, &t2), "round trip changed the task");
    FUZZ_CHECK(info2.shape == info.shape && strcmp(info2.queue, info.queue) == 0,
               "round trip changed shape or queue");
    return 0;
}
