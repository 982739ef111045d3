/* fw_json.c - the out-of-line half of the peer adapters' appender and
 * tqbench's job fields (see fw_json.h). */
#include "fw_json.h"

void fw_put_u64(struct fw_out *o, uint64_t v) {
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fw_put(o, tmp + i, sizeof tmp - (size_t)i);
}

/* The literal text between the values, in both spacings: what comes
 * before each value (and the run id's closing quote with the next key). */
struct fields_style {
    const char *run, *seq, *enq, *sched, *pad;
    size_t run_len, seq_len, enq_len, sched_len, pad_len;
};

#define STYLE(colon, comma)                                                                    \
    {                                                                                          \
        .run = "\"tqbench_run\"" colon "\"", .seq = "\"" comma "\"tqbench_seq\"" colon,        \
        .enq = comma "\"tqbench_enq_us\"" colon, .sched = comma "\"tqbench_sched_us\"" colon,  \
        .pad = comma "\"tqbench_pad\"" colon "\"",                                             \
        .run_len = sizeof("\"tqbench_run\"" colon "\"") - 1,                                   \
        .seq_len = sizeof("\"" comma "\"tqbench_seq\"" colon) - 1,                             \
        .enq_len = sizeof(comma "\"tqbench_enq_us\"" colon) - 1,                               \
        .sched_len = sizeof(comma "\"tqbench_sched_us\"" colon) - 1,                           \
        .pad_len = sizeof(comma "\"tqbench_pad\"" colon "\"") - 1,                             \
    }

static const struct fields_style styles[2] = {STYLE(":", ","), STYLE(": ", ", ")};

void fw_json_task_fields(struct fw_out *o, const struct tq_task *t, unsigned flags) {
    const struct fields_style *s = &styles[(flags & FW_JSON_SPACED) ? 1 : 0];
    fw_put(o, s->run, s->run_len);
    fw_put_str(o, t->run);
    fw_put(o, s->seq, s->seq_len);
    fw_put_u64(o, t->id);
    fw_put(o, s->enq, s->enq_len);
    fw_put_u64(o, (uint64_t)t->enqueued_us);
    if (t->scheduled_us > 0) {
        fw_put(o, s->sched, s->sched_len);
        fw_put_u64(o, (uint64_t)t->scheduled_us);
    }
    if ((flags & FW_JSON_PAD) && t->pad_len > 0) {
        fw_put(o, s->pad, s->pad_len);
        fw_put_fill(o, 'x', t->pad_len);
        fw_put(o, "\"", 1);
    }
}
