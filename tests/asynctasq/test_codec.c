/* test_codec.c - the AsyncTasQ codec (common/tq_asynctasq.c) against golden
 * vectors written by an independent Python producer (atq_payloads.py, with
 * Debian's python3-msgpack; golden/manifest.json says what each decodes to):
 * each decodes to the manifest's fields and, when tqbench wrote it, encodes
 * back byte-for-byte. Then round trips over both shapes and every kind, and
 * malformed payloads of every class: not msgpack, wrong types, missing
 * fields, truncated at every length, trailing bytes, oversized headers. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_asynctasq.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jint(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1; /* null: -1, as the codec */
}

Test(asynctasq_codec, golden_vectors) {
    size_t mlen;
    char *mtext = slurp(TQ_ATQ_GOLDEN_DIR "/manifest.json", &mlen);
    cJSON *manifest = cJSON_Parse(mtext);
    cr_assert(cJSON_IsArray(manifest));
    int n = 0, reencoded = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, manifest) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", TQ_ATQ_GOLDEN_DIR, jstr(c, "file"));
        size_t len;
        char *buf = slurp(path, &len);
        struct tq_task t;
        struct tq_atq_info info;
        char err[256];
        cr_assert_eq(tq_atq_decode(buf, len, &t, &info, err, sizeof err), 0, "%s: %s", path, err);
        cr_expect_eq(info.shape, strcmp(jstr(c, "shape"), "1x") == 0 ? TQ_ATQ_SHAPE_1X
                                                                    : TQ_ATQ_SHAPE_09, "%s", path);
        cr_expect_eq(info.has_tqbench, cJSON_IsTrue(cJSON_GetObjectItem(c, "has_tqbench")));
        cr_expect_str_eq(t.run, jstr(c, "run"), "%s", path);
        cr_expect_eq(t.id, (uint64_t)jint(c, "id"), "%s", path);
        cr_expect_str_eq(tq_task_kind_name(t.kind), jstr(c, "kind"), "%s", path);
        cr_expect_eq(t.arg, jint(c, "arg"), "%s", path);
        cr_expect_eq(t.enqueued_us, jint(c, "enq"), "%s: %lld", path, (long long)t.enqueued_us);
        cr_expect_eq(t.scheduled_us, jint(c, "sched"), "%s", path);
        cr_expect_eq(t.attempt, jint(c, "attempt"), "%s", path);
        cr_expect_eq(t.max_attempts, jint(c, "max_attempts"), "%s", path);
        cr_expect_eq((int64_t)t.pad_len, jint(c, "pad_len"), "%s", path);
        cr_expect_str_eq(info.task_id, jstr(c, "task_id"), "%s", path);
        cr_expect_str_eq(info.dispatched_at, jstr(c, "dispatched_at"), "%s", path);
        cr_expect_str_eq(info.queue, jstr(c, "queue"), "%s", path);
        cr_expect_str_eq(info.func_module, jstr(c, "func_module"), "%s", path);
        cr_expect_str_eq(info.func_name, jstr(c, "func_name"), "%s", path);
        cr_expect_str_eq(info.cls, TQ_ATQ_FUNCTION_TASK_CLASS);
        cr_expect_eq(info.has_func_file, jstr(c, "func_file") != NULL, "%s", path);
        if (jstr(c, "func_file")) cr_expect_str_eq(info.func_file, jstr(c, "func_file"));
        cr_expect_eq(info.has_class_file, jstr(c, "class_file") != NULL, "%s", path);
        if (jstr(c, "class_file")) cr_expect_str_eq(info.class_file, jstr(c, "class_file"));
        cr_expect_eq(info.retry_delay, jint(c, "retry_delay"), "%s", path);
        cr_expect_eq(info.timeout, jint(c, "timeout"), "%s", path);
        cr_expect_eq(info.visibility_timeout, jint(c, "visibility_timeout"), "%s", path);
        if (cJSON_IsTrue(cJSON_GetObjectItem(c, "reencode"))) {
            char task_id[TQ_ATQ_UUID_LEN + 1];
            tq_atq_task_id(task_id, t.run, t.id);
            cr_expect_str_eq(task_id, info.task_id, "%s: task id derivation", path);
            struct tq_atq_opts o;
            tq_atq_info_opts(&info, &o);
            char *out = malloc(len + 16);
            int k = tq_atq_encode(&t, &o, out, len + 16);
            cr_assert_eq(k, (int)len, "%s: re-encoded %d bytes, golden %zu", path, k, len);
            cr_expect(memcmp(out, buf, len) == 0, "%s: re-encoding differs", path);
            /* one byte short does not fit */
            cr_expect_eq(tq_atq_encode(&t, &o, out, len - 1), -1, "%s", path);
            free(out);
            reencoded++;
        }
        free(buf);
        n++;
    }
    cr_expect_geq(n, 9);
    cr_expect_geq(reencoded, 7);
    cJSON_Delete(manifest);
    free(mtext);
}

static struct tq_task sample(enum tq_task_kind kind) {
    struct tq_task t = {0};
    t.id = 123456789;
    snprintf(t.run, sizeof t.run, "run-1");
    t.kind = kind;
    t.arg = kind == TQ_KIND_SLEEP ? 25 : kind == TQ_KIND_CPU ? 700 : 0;
    t.enqueued_us = 1764423600123456;
    t.scheduled_us = kind == TQ_KIND_CPU ? 1764423600000001 : 0;
    t.attempt = kind == TQ_KIND_FAIL ? 1 : 0;
    t.max_attempts = kind == TQ_KIND_FAIL ? 5 : 1;
    t.pad_len = kind == TQ_KIND_NOOP ? 0 : 1000;
    return t;
}

Test(asynctasq_codec, round_trip_both_shapes_every_kind) {
    char buf[4096];
    for (int shape = 0; shape < 2; shape++) {
        for (int kind = 0; kind < TQ_KIND__COUNT; kind++) {
            struct tq_task t = sample((enum tq_task_kind)kind), d;
            struct tq_atq_opts o;
            tq_atq_opts_init(&o);
            o.shape = (enum tq_atq_shape)shape;
            o.queue = "bench";
            o.func_file = "/x/tasks.py";
            int n = tq_atq_encode(&t, &o, buf, sizeof buf);
            cr_assert_gt(n, 0);
            struct tq_atq_info info;
            char err[256];
            cr_assert_eq(tq_atq_decode(buf, (size_t)n, &d, &info, err, sizeof err), 0, "%s", err);
            cr_expect_eq(info.shape, (enum tq_atq_shape)shape);
            cr_expect(info.has_tqbench);
            cr_expect_eq(d.id, t.id);
            cr_expect_str_eq(d.run, t.run);
            cr_expect_eq(d.kind, t.kind);
            cr_expect_eq(d.arg, t.arg);
            cr_expect_eq(d.enqueued_us, t.enqueued_us);
            cr_expect_eq(d.scheduled_us, t.scheduled_us);
            cr_expect_eq(d.attempt, t.attempt);
            cr_expect_eq(d.max_attempts, t.max_attempts);
            cr_expect_eq(d.pad_len, t.pad_len);
            cr_expect_str_eq(info.queue, "bench");
            cr_expect_str_eq(info.func_name, tq_task_kind_name(t.kind));
            cr_expect_str_eq(info.dispatched_at, "2025-11-29T13:40:00.123456+00:00");
            cr_expect_eq(info.has_func_file, shape == TQ_ATQ_SHAPE_1X);
            /* and encodes the same bytes again */
            struct tq_atq_opts o2;
            char buf2[4096];
            tq_atq_info_opts(&info, &o2);
            cr_expect_eq(tq_atq_encode(&d, &o2, buf2, sizeof buf2), n);
            cr_expect(memcmp(buf, buf2, (size_t)n) == 0);
        }
    }
}

Test(asynctasq_codec, task_ids_are_distinct_and_uuid4) {
    char a[TQ_ATQ_UUID_LEN + 1], b[TQ_ATQ_UUID_LEN + 1];
    tq_atq_task_id(a, "r1", 1);
    tq_atq_task_id(b, "r1", 2);
    cr_expect_str_neq(a, b);
    tq_atq_task_id(b, "r2", 1);
    cr_expect_str_neq(a, b);
    cr_expect_eq(strlen(a), TQ_ATQ_UUID_LEN);
    cr_expect_eq(a[14], '4');
    cr_expect(strchr("89ab", a[19]) != NULL);
}

Test(asynctasq_codec, encoder_refuses_invalid) {
    char buf[1024];
    struct tq_atq_opts o;
    tq_atq_opts_init(&o);
    struct tq_task t = sample(TQ_KIND_NOOP);
    snprintf(t.run, sizeof t.run, "bad run");
    cr_expect_eq(tq_atq_encode(&t, &o, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.attempt = 1;
    cr_expect_eq(tq_atq_encode(&t, &o, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.kind = TQ_KIND__COUNT;
    cr_expect_eq(tq_atq_encode(&t, &o, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    o.queue = "";
    cr_expect_eq(tq_atq_encode(&t, &o, buf, sizeof buf), -1);
    tq_atq_opts_init(&o);
    for (size_t cap = 0; cap < 64; cap++) cr_expect_eq(tq_atq_encode(&t, &o, buf, cap), -1);
}

Test(asynctasq_codec, truncated_at_every_length) {
    char buf[4096];
    for (int shape = 0; shape < 2; shape++) {
        struct tq_task t = sample(TQ_KIND_SLEEP), d;
        struct tq_atq_opts o;
        tq_atq_opts_init(&o);
        o.shape = (enum tq_atq_shape)shape;
        int n = tq_atq_encode(&t, &o, buf, sizeof buf);
        cr_assert_gt(n, 0);
        for (int k = 0; k < n; k++) {
            char err[128];
            cr_expect_eq(tq_atq_decode(buf, (size_t)k, &d, NULL, err, sizeof err), -1);
            cr_expect(strcmp(err, k == 0 ? "empty payload" : "truncated") == 0,
                      "length %d: \"%s\"", k, err);
            cr_expect_str_eq(d.run, "");
        }
        char err[128];
        buf[n] = '\0';
        cr_expect_eq(tq_atq_decode(buf, (size_t)n + 1, &d, NULL, err, sizeof err), -1);
        cr_expect_str_eq(err, "trailing bytes after the payload");
    }
}

static void expect_error(const void *buf, size_t len, const char *want) {
    struct tq_task t;
    char err[256];
    cr_expect_eq(tq_atq_decode(buf, len, &t, NULL, err, sizeof err), -1, "want \"%s\"", want);
    cr_expect_str_eq(err, want);
}

Test(asynctasq_codec, not_msgpack_and_not_a_map) {
    expect_error("\xc1", 1, "not msgpack");
    expect_error("\x92\x01\xc1", 3, "not msgpack");
    expect_error("{\"class\": 1}", 12, "trailing bytes after the payload"); /* '{' is fixint 123 */
    expect_error("\x7b", 1, "payload is not a map");
    expect_error("\x90", 1, "payload is not a map");
    /* headers claiming more than the bytes left: refused before msgpack-c
     * would allocate for them */
    expect_error("\xdd\xff\xff\xff\xff", 5, "truncated");
    expect_error("\xdf\x7f\xff\xff\xff\x01", 6, "truncated");
    expect_error("\xdb\xff\xff\xff\xff" "abc", 8, "truncated");
    /* nested deeper than msgpack-c's stack */
    char deep[64];
    memset(deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0x00;
    expect_error(deep, sizeof deep, "nested too deeply");
}

/* A 1.x payload as an editable msgpack_object tree is overkill: build the
 * malformed ones with msgpack-c's packer from a few knobs. */
#include <msgpack.h>

struct knobs {
    const char *drop;          /* a metadata key to leave out */
    const char *wrong_type;    /* a metadata key to write as an array */
    int params_not_map, kwargs_not_map, args_not_array, metadata_missing, metadata_not_map;
    int seq_negative, seq_string, bad_run, unknown_kind, only_run, sleep_without_ms;
    int attempt_over;
};

static void pk_str(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static msgpack_sbuffer build(const struct knobs *k) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, k->metadata_missing ? 2 : 3);
    pk_str(&pk, "class");
    pk_str(&pk, TQ_ATQ_FUNCTION_TASK_CLASS);
    pk_str(&pk, "params");
    if (k->params_not_map) {
        msgpack_pack_int(&pk, 7);
    } else {
        msgpack_pack_map(&pk, 2);
        pk_str(&pk, "args");
        if (k->args_not_array) msgpack_pack_nil(&pk); else msgpack_pack_array(&pk, 0);
        pk_str(&pk, "kwargs");
        if (k->kwargs_not_map) {
            msgpack_pack_array(&pk, 0);
        } else {
            msgpack_pack_map(&pk, k->only_run ? 1 : 3);
            pk_str(&pk, TQ_ATQ_KW_RUN);
            pk_str(&pk, k->bad_run ? "a:b" : "r1");
            if (!k->only_run) {
                pk_str(&pk, TQ_ATQ_KW_SEQ);
                if (k->seq_string) pk_str(&pk, "5");
                else msgpack_pack_int64(&pk, k->seq_negative ? -5 : 5);
                pk_str(&pk, TQ_ATQ_KW_ENQ);
                msgpack_pack_int64(&pk, 1764423600123456);
            }
        }
    }
    if (!k->metadata_missing) {
        pk_str(&pk, "metadata");
        if (k->metadata_not_map) {
            pk_str(&pk, "metadata");
        } else {
            static const char *keys[] = {"task_id", "current_attempt", "dispatched_at", "queue",
                                         "max_attempts", "retry_delay", "timeout",
                                         "visibility_timeout", "func_module", "func_name"};
            size_t n = 0;
            for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
                n += !(k->drop && strcmp(k->drop, keys[i]) == 0);
            msgpack_pack_map(&pk, n);
            for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
                const char *key = keys[i];
                if (k->drop && strcmp(k->drop, key) == 0) continue;
                pk_str(&pk, key);
                if (k->wrong_type && strcmp(k->wrong_type, key) == 0) {
                    msgpack_pack_array(&pk, 0);
                } else if (!strcmp(key, "current_attempt")) {
                    msgpack_pack_int(&pk, k->attempt_over ? 3 : 0);
                } else if (!strcmp(key, "max_attempts")) {
                    msgpack_pack_int(&pk, 3);
                } else if (!strcmp(key, "retry_delay")) {
                    msgpack_pack_int(&pk, 60);
                } else if (!strcmp(key, "timeout") || !strcmp(key, "visibility_timeout")) {
                    msgpack_pack_nil(&pk);
                } else if (!strcmp(key, "func_name")) {
                    pk_str(&pk, k->unknown_kind ? "explode" : k->sleep_without_ms ? "sleep" : "noop");
                } else {
                    pk_str(&pk, key);
                }
            }
        }
    }
    return sb;
}

static void expect_knobs(struct knobs k, const char *want, const char *want_run) {
    msgpack_sbuffer sb = build(&k);
    struct tq_task t;
    char err[256];
    cr_expect_eq(tq_atq_decode(sb.data, sb.size, &t, NULL, err, sizeof err), -1, "want %s", want);
    cr_expect_str_eq(err, want);
    cr_expect_str_eq(t.run, want_run, "for \"%s\"", want);
    msgpack_sbuffer_destroy(&sb);
}

Test(asynctasq_codec, malformed_fields) {
    struct knobs ok = {0};
    msgpack_sbuffer sb = build(&ok);
    struct tq_task t;
    char err[256];
    cr_assert_eq(tq_atq_decode(sb.data, sb.size, &t, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(t.run, "r1");
    cr_expect_eq(t.id, 5);
    cr_expect_eq(t.max_attempts, 3);
    msgpack_sbuffer_destroy(&sb);

    expect_knobs((struct knobs){.metadata_missing = 1}, "missing metadata", "");
    expect_knobs((struct knobs){.metadata_not_map = 1}, "metadata is not a map", "");
    expect_knobs((struct knobs){.params_not_map = 1}, "params is not a map", "");
    expect_knobs((struct knobs){.kwargs_not_map = 1}, "params.kwargs is not a map", "");
    expect_knobs((struct knobs){.args_not_array = 1}, "params.args is not an array", "");
    expect_knobs((struct knobs){.wrong_type = "queue"}, "metadata.queue is not a string", "");
    expect_knobs((struct knobs){.wrong_type = "task_id"}, "metadata.task_id is not a string", "");
    expect_knobs((struct knobs){.wrong_type = "func_name"}, "metadata.func_name is not a string", "");
    expect_knobs((struct knobs){.wrong_type = "max_attempts"},
                 "metadata.max_attempts is not a non-negative integer", "");
    expect_knobs((struct knobs){.wrong_type = "timeout"},
                 "metadata.timeout is not a non-negative integer", "");
    expect_knobs((struct knobs){.drop = "task_id"}, "missing metadata.task_id", "");
    expect_knobs((struct knobs){.drop = "queue"}, "missing metadata.queue", "");
    expect_knobs((struct knobs){.drop = "visibility_timeout"},
                 "missing metadata.visibility_timeout", "");
    expect_knobs((struct knobs){.drop = "current_attempt"},
                 "missing metadata.current_attempt (1.x) or metadata.attempts (0.9)", "");
    expect_knobs((struct knobs){.seq_negative = 1},
                 "params.kwargs.tqbench_seq is not a non-negative integer", "r1");
    expect_knobs((struct knobs){.seq_string = 1},
                 "params.kwargs.tqbench_seq is not a non-negative integer", "r1");
    expect_knobs((struct knobs){.bad_run = 1}, "invalid run id in params.kwargs.tqbench_run", "");
    expect_knobs((struct knobs){.unknown_kind = 1},
                 "unknown kind \"explode\" in metadata.func_name", "r1");
    expect_knobs((struct knobs){.only_run = 1},
                 "missing params.kwargs.tqbench_seq (tqbench kwargs must come together)", "r1");
    expect_knobs((struct knobs){.sleep_without_ms = 1}, "missing params.kwargs.ms", "r1");
    expect_knobs((struct knobs){.attempt_over = 1}, "attempt >= max_attempts", "r1");
}
