/* fw_json.h - the bounded appender the peer adapters (rq.c, sidekiq.c,
 * bullmq.c) build their wire formats with, and tqbench's own fields of a
 * job's JSON, which all three carry (tqbench_run, tqbench_seq,
 * tqbench_enq_us, tqbench_sched_us, tqbench_pad) for their hooks to read.
 *
 * Encoding is the producer's hot path: no allocation, no printf. An
 * appender that overflows stays full (every later put is a no-op), so an
 * encoder writes everything and checks `full` once at the end. The small
 * puts are inline: they run a dozen times per task. */
#ifndef TQ_BENCH_FW_JSON_H
#define TQ_BENCH_FW_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tq_task.h"

/* buf[0..len) written of cap bytes; full once something did not fit. */
struct fw_out {
    char *buf;
    size_t len, cap;
    int full;
};

/* Appends n bytes of s. */
static inline void fw_put(struct fw_out *o, const void *s, size_t n) {
    if (o->full || n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/* Appends a string literal (its length known at compile time). */
#define FW_PUT_LIT(o, lit) fw_put((o), (lit), sizeof(lit) - 1)

static inline void fw_put_str(struct fw_out *o, const char *s) { fw_put(o, s, strlen(s)); }

static inline void fw_put_byte(struct fw_out *o, unsigned char c) { fw_put(o, &c, 1); }

/* Appends n copies of c (a pad). */
static inline void fw_put_fill(struct fw_out *o, char c, size_t n) {
    if (o->full || n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    memset(o->buf + o->len, c, n);
    o->len += n;
}

/* Appends v in decimal. */
void fw_put_u64(struct fw_out *o, uint64_t v);

/* fw_json_task_fields' flags. */
enum {
    FW_JSON_SPACED = 1u << 0, /* json.dumps' separators ", " and ": " (RQ's meta); else none */
    FW_JSON_PAD = 1u << 1,    /* "tqbench_pad": pad_len 'x's, when pad_len > 0 */
};

/* Appends tqbench's fields of task t as JSON object members, without braces
 * or a leading comma: "tqbench_run":"<run>","tqbench_seq":<id>,
 * "tqbench_enq_us":<enqueued_us>, then "tqbench_sched_us" when scheduled_us
 * > 0 and "tqbench_pad" (FW_JSON_PAD) when pad_len > 0. The run id is a
 * tq_name_valid name: nothing to escape. */
void fw_json_task_fields(struct fw_out *o, const struct tq_task *t, unsigned flags);

#endif
