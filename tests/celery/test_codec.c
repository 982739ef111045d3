/* test_codec.c - the Celery protocol-2 / kombu envelope codec (tq_celery.h)
 * and tqworker's celery protocol adapter, without Redis or Python: decoding
 * the message real Celery 5.2.6 wrote (tests/celery/data, captured from
 * noop.apply_async()), encoding the same layout byte for byte where it is
 * deterministic, round trips of every kind, and one test per malformed
 * class the decoder must name. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "tq_celery.h"

#define REF_MESSAGE TQ_CELERY_DATA_DIR "/celery-protocol2-message.json"
#define REF_BODY TQ_CELERY_DATA_DIR "/celery-protocol2-message.decoded-body.json"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static struct tq_task task_of(enum tq_task_kind kind, int64_t arg, uint64_t id) {
    struct tq_task t;
    memset(&t, 0, sizeof t);
    t.id = id;
    snprintf(t.run, sizeof t.run, "run-7");
    t.kind = kind;
    t.arg = arg;
    t.enqueued_us = 1764423600000000 + (int64_t)id;
    t.max_attempts = 1;
    return t;
}

static int encode(const struct tq_task *t, char *buf, size_t cap) {
    int n = tq_celery_encode(t, "bench.q1", buf, cap);
    cr_assert_gt(n, 0, "encode failed");
    return n;
}

static void b64(const char *in, char *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[k++] = a[v >> 18];
        out[k++] = a[(v >> 12) & 63];
        out[k++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[k++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[k] = '\0';
}

Test(codec, decodes_the_message_real_celery_wrote) {
    size_t len;
    char *msg = read_file(REF_MESSAGE, &len);
    struct tq_task t;
    struct tq_celery_info info;
    char err[256] = "";
    cr_assert_eq(tq_celery_decode(msg, len, &t, &info, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(info.task, "tasks.noop");
    cr_assert_str_eq(info.id, "2ce16097-e7d2-44c5-aa94-52cdcc5fa08b");
    cr_assert_str_eq(info.delivery_tag, "39c4b57e-fb27-4a71-a2b0-77f7d63d797b");
    cr_assert_str_eq(info.routing_key, "celery");
    cr_assert_eq(info.priority, 0);
    cr_assert_eq(info.has_tqbench, 0);
    /* no tqbench headers: the consumer's own run id applies, no enqueue time */
    cr_assert_str_eq(t.run, "");
    cr_assert_eq(t.kind, TQ_KIND_NOOP);
    cr_assert_eq(t.enqueued_us, 0);
    cr_assert_eq(t.attempt, 0);
    cr_assert_eq(t.max_attempts, 1);
    free(msg);
}

/* The body of a noop without pad is json.dumps([[], {}, embed]): the same
 * bytes Celery wrote, so the same base64. */
Test(codec, noop_body_is_byte_identical_to_celerys) {
    char *ref = read_file(REF_MESSAGE, NULL);
    cJSON *r = cJSON_Parse(ref);
    cr_assert_not_null(r);
    char buf[4096];
    struct tq_task t = task_of(TQ_KIND_NOOP, 0, 1);
    encode(&t, buf, sizeof buf);
    cJSON *m = cJSON_Parse(buf);
    cr_assert_not_null(m, "our envelope is not JSON: %s", buf);
    cr_assert_str_eq(cJSON_GetObjectItem(m, "body")->valuestring,
                     cJSON_GetObjectItem(r, "body")->valuestring);
    /* and the reference's decoded body says what that base64 holds */
    char *body = read_file(REF_BODY, NULL);
    cJSON *b = cJSON_Parse(body);
    cr_assert(cJSON_IsArray(b) && cJSON_GetArraySize(b) == 3);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetArrayItem(b, 0)), 0);
    cJSON_Delete(b);
    free(body);
    cJSON_Delete(m);
    cJSON_Delete(r);
    free(ref);
}

/* Every key of Celery's envelope, headers, properties and delivery_info, in
 * Celery's order, then tqbench's own headers; constants equal. */
static void assert_same_keys(const cJSON *ref, const cJSON *ours, const char *where,
                             int allow_tqbench_extras) {
    const cJSON *a = ref->child, *b = ours->child;
    for (; a; a = a->next, b = b ? b->next : NULL) {
        cr_assert_not_null(b, "%s: missing key %s", where, a->string);
        cr_assert_str_eq(b->string, a->string, "%s: key order differs", where);
    }
    for (; b; b = b->next)
        cr_assert(allow_tqbench_extras && strncmp(b->string, "tqbench_", 8) == 0,
                  "%s: unexpected key %s", where, b->string);
}

Test(codec, envelope_has_celerys_layout) {
    char *ref = read_file(REF_MESSAGE, NULL);
    cJSON *r = cJSON_Parse(ref);
    char buf[4096];
    struct tq_task t = task_of(TQ_KIND_NOOP, 0, 9);
    t.scheduled_us = t.enqueued_us + 5;
    encode(&t, buf, sizeof buf);
    cJSON *m = cJSON_Parse(buf);
    cr_assert_not_null(m);
    assert_same_keys(r, m, "envelope", 0);
    assert_same_keys(cJSON_GetObjectItem(r, "headers"), cJSON_GetObjectItem(m, "headers"),
                     "headers", 1);
    const cJSON *rp = cJSON_GetObjectItem(r, "properties"), *mp = cJSON_GetObjectItem(m, "properties");
    assert_same_keys(rp, mp, "properties", 0);
    assert_same_keys(cJSON_GetObjectItem(rp, "delivery_info"),
                     cJSON_GetObjectItem(mp, "delivery_info"), "delivery_info", 0);
    const char *same[] = {"content-encoding", "content-type"};
    for (size_t i = 0; i < 2; i++)
        cr_assert_str_eq(cJSON_GetObjectItem(m, same[i])->valuestring,
                         cJSON_GetObjectItem(r, same[i])->valuestring);
    const cJSON *h = cJSON_GetObjectItem(m, "headers");
    cr_assert_str_eq(cJSON_GetObjectItem(h, "lang")->valuestring, "py");
    cr_assert_str_eq(cJSON_GetObjectItem(h, "task")->valuestring, "tqbench.noop");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "ignore_result")));
    cr_assert_str_eq(cJSON_GetObjectItem(h, "id")->valuestring,
                     cJSON_GetObjectItem(h, "root_id")->valuestring);
    cr_assert_str_eq(cJSON_GetObjectItem(h, "id")->valuestring,
                     cJSON_GetObjectItem(mp, "correlation_id")->valuestring);
    cr_assert_str_eq(cJSON_GetObjectItem(h, "argsrepr")->valuestring, "()");
    cr_assert_str_eq(cJSON_GetObjectItem(h, "kwargsrepr")->valuestring, "{}");
    cr_assert_eq(cJSON_GetObjectItem(h, TQ_CELERY_H_SEQ)->valuedouble, 9);
    cr_assert_eq((int64_t)cJSON_GetObjectItem(h, TQ_CELERY_H_SCHED)->valuedouble, t.scheduled_us);
    cr_assert_eq(cJSON_GetObjectItem(mp, "delivery_mode")->valueint, 2);
    cr_assert_str_eq(cJSON_GetObjectItem(mp, "body_encoding")->valuestring, "base64");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(mp, "delivery_info"), "routing_key")->valuestring,
        "bench.q1");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(mp, "delivery_info"), "exchange")->valuestring, "");
    cJSON_Delete(m);
    cJSON_Delete(r);
    free(ref);
}

Test(codec, round_trip_of_every_kind_and_pad) {
    static const size_t pads[] = {0, 1, 2, 3, 4, 100, 999, 1000, 1001, 5000, 20000};
    char *buf = malloc(64 * 1024);
    for (int k = 0; k < TQ_KIND__COUNT; k++) {
        for (size_t p = 0; p < sizeof pads / sizeof pads[0]; p++) {
            struct tq_task t = task_of((enum tq_task_kind)k,
                                       k == TQ_KIND_SLEEP ? 250 : k == TQ_KIND_CPU ? 1500 : 0,
                                       1000 + p);
            t.pad_len = pads[p];
            t.scheduled_us = p % 2 ? t.enqueued_us - 7 : 0;
            t.max_attempts = 3;
            t.attempt = (int)(p % 3);
            int n = encode(&t, buf, 64 * 1024);
            struct tq_task d;
            struct tq_celery_info info;
            char err[256] = "";
            cr_assert_eq(tq_celery_decode(buf, (size_t)n, &d, &info, err, sizeof err), 0,
                         "kind %d pad %zu: %s", k, pads[p], err);
            cr_assert_eq(d.kind, t.kind);
            cr_assert_eq(d.arg, t.arg);
            cr_assert_eq(d.id, t.id);
            cr_assert_str_eq(d.run, t.run);
            cr_assert_eq(d.enqueued_us, t.enqueued_us);
            cr_assert_eq(d.scheduled_us, t.scheduled_us);
            cr_assert_eq(d.attempt, t.attempt);
            cr_assert_eq(d.max_attempts, t.max_attempts);
            cr_assert_eq(info.has_tqbench, 1);
            cr_assert_str_eq(info.routing_key, "bench.q1");
            /* the pad really is in the body, as kwargs {"pad": "x..."} */
            cJSON *m = cJSON_Parse(buf);
            const char *b = cJSON_GetObjectItem(m, "body")->valuestring;
            cr_assert_eq(strlen(b) % 4, 0);
            cr_assert_geq(strlen(b), pads[p] * 4 / 3);
            const cJSON *kr = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "headers"), "kwargsrepr");
            if (pads[p] > 1000)
                cr_assert(strstr(kr->valuestring, "...', ...") != NULL, "%s", kr->valuestring);
            cJSON_Delete(m);
        }
    }
    free(buf);
}

static int is_uuid4(const char *s) {
    if (strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19])) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* Task ids and delivery tags: version 4 UUIDs, all distinct over 20,000
 * tasks of two runs (kombu keys its unacked hash by delivery tag). */
Test(codec, ids_and_delivery_tags_are_distinct_uuid4s) {
    enum { N = 10000 };
    char(*ids)[64] = calloc(2 * N, 64);
    char(*tags)[64] = calloc(2 * N, 64);
    char buf[4096];
    for (int i = 0; i < 2 * N; i++) {
        struct tq_task t = task_of(TQ_KIND_NOOP, 0, (uint64_t)(i % N));
        snprintf(t.run, sizeof t.run, i < N ? "run-a" : "run-b");
        int n = encode(&t, buf, sizeof buf);
        struct tq_task d;
        struct tq_celery_info info;
        char err[256];
        cr_assert_eq(tq_celery_decode(buf, (size_t)n, &d, &info, err, sizeof err), 0, "%s", err);
        cr_assert(is_uuid4(info.id), "%s", info.id);
        cr_assert(is_uuid4(info.delivery_tag), "%s", info.delivery_tag);
        snprintf(ids[i], 64, "%s", info.id);
        snprintf(tags[i], 64, "%s", info.delivery_tag);
    }
    qsort(ids, 2 * N, 64, cmp_str);
    qsort(tags, 2 * N, 64, cmp_str);
    for (int i = 1; i < 2 * N; i++) {
        cr_assert_str_neq(ids[i - 1], ids[i]);
        cr_assert_str_neq(tags[i - 1], tags[i]);
    }
    free(ids);
    free(tags);
}

Test(codec, encode_never_writes_past_cap) {
    char full[4096];
    struct tq_task t = task_of(TQ_KIND_SLEEP, 30, 77);
    t.pad_len = 40;
    int n = encode(&t, full, sizeof full);
    char *buf = malloc((size_t)n + 16);
    for (int cap = 0; cap < n; cap++) {
        memset(buf, '#', (size_t)n + 16);
        cr_assert_eq(tq_celery_encode(&t, "bench.q1", buf, (size_t)cap), -1, "cap %d", cap);
        for (int i = cap; i < n + 16; i++) cr_assert_eq(buf[i], '#', "cap %d: byte %d written", cap, i);
    }
    cr_assert_eq(tq_celery_encode(&t, "bench.q1", buf, (size_t)n), n);
    cr_assert_eq(memcmp(buf, full, (size_t)n), 0);
    free(buf);
}

Test(codec, encode_refuses_invalid_tasks) {
    char buf[4096];
    struct tq_task t = task_of(TQ_KIND_NOOP, 0, 1);
    cr_assert_eq(tq_celery_encode(&t, "bad queue", buf, sizeof buf), -1);
    cr_assert_eq(tq_celery_encode(&t, "", buf, sizeof buf), -1);
    struct tq_task bad = t;
    snprintf(bad.run, sizeof bad.run, "a\"b");
    cr_assert_eq(tq_celery_encode(&bad, "q", buf, sizeof buf), -1);
    bad = t;
    bad.kind = TQ_KIND__COUNT;
    cr_assert_eq(tq_celery_encode(&bad, "q", buf, sizeof buf), -1);
    bad = t;
    bad.arg = -1;
    cr_assert_eq(tq_celery_encode(&bad, "q", buf, sizeof buf), -1);
    bad = t;
    bad.attempt = 1; /* max_attempts 1 */
    cr_assert_eq(tq_celery_encode(&bad, "q", buf, sizeof buf), -1);
    bad = t;
    bad.id = (1ULL << 53) + 2; /* a JSON number would not hold it exactly */
    cr_assert_eq(tq_celery_encode(&bad, "q", buf, sizeof buf), -1);
    cr_assert_eq(tq_celery_encode(NULL, "q", buf, sizeof buf), -1);
}

/* ---- malformed envelopes: one per class, each named in err ---- */

#define GOOD_BODY "[[], {}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, \"chord\": null}]"

/* An envelope with the given pieces; NULL leaves a piece out. */
static void envelope(char *out, size_t cap, const char *body_b64, const char *ctype,
                     const char *cenc, const char *headers, const char *properties) {
    size_t n = 0;
    n += (size_t)snprintf(out + n, cap - n, "{");
    if (body_b64) n += (size_t)snprintf(out + n, cap - n, "\"body\": %s, ", body_b64);
    if (cenc) n += (size_t)snprintf(out + n, cap - n, "\"content-encoding\": %s, ", cenc);
    if (ctype) n += (size_t)snprintf(out + n, cap - n, "\"content-type\": %s, ", ctype);
    if (headers) n += (size_t)snprintf(out + n, cap - n, "\"headers\": %s, ", headers);
    if (properties) n += (size_t)snprintf(out + n, cap - n, "\"properties\": %s, ", properties);
    snprintf(out + n, cap - n, "\"x\": 0}");
}

#define HEADERS_OK                                                                         \
    "{\"lang\": \"py\", \"task\": \"tqbench.noop\", \"id\": \"i1\", \"retries\": 0, "      \
    "\"tqbench_run\": \"r9\", \"tqbench_seq\": 5, \"tqbench_enq_us\": 1764423600000000}"
#define PROPS_OK                                                                           \
    "{\"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"q\"}, \"priority\": 0, "  \
    "\"body_encoding\": \"base64\", \"delivery_tag\": \"t1\"}"

static void expect_error(const char *msg, const char *needle, const char *run) {
    struct tq_task t;
    char err[256] = "";
    cr_assert_eq(tq_celery_decode(msg, strlen(msg), &t, NULL, err, sizeof err), -1,
                 "decoded: %s", msg);
    cr_assert_not_null(strstr(err, needle), "error \"%s\" does not say \"%s\"", err, needle);
    cr_assert_str_eq(t.run, run, "run after \"%s\"", err);
}

static void expect_body_error(const char *body_json, const char *needle) {
    char b[512], q[600], msg[2048];
    b64(body_json, b);
    snprintf(q, sizeof q, "\"%s\"", b);
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", HEADERS_OK, PROPS_OK);
    expect_error(msg, needle, "r9");
}

Test(malformed, a_well_formed_control_decodes) {
    char b[512], q[600], msg[2048];
    b64(GOOD_BODY, b);
    snprintf(q, sizeof q, "\"%s\"", b);
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", HEADERS_OK, PROPS_OK);
    struct tq_task t;
    char err[256] = "";
    cr_assert_eq(tq_celery_decode(msg, strlen(msg), &t, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(t.run, "r9");
    cr_assert_eq(t.id, 5);
}

Test(malformed, not_json) {
    expect_error("{\"body\": \"W10=\", ", "not JSON", "");
    expect_error("", "not JSON", "");
    expect_error("\x01\x02\xff", "not JSON", "");
    struct tq_task t;
    char err[128];
    cr_assert_eq(tq_celery_decode(NULL, 0, &t, NULL, err, sizeof err), -1);
}

Test(malformed, not_an_object) {
    expect_error("[1, 2, 3]", "not a JSON object", "");
    expect_error("\"body\"", "not a JSON object", "");
}

Test(malformed, missing_headers_body_or_properties) {
    char b[512], q[600], msg[2048];
    b64(GOOD_BODY, b);
    snprintf(q, sizeof q, "\"%s\"", b);
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", NULL, PROPS_OK);
    expect_error(msg, "missing headers", "");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", "[]", PROPS_OK);
    expect_error(msg, "headers is not an object", "");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", HEADERS_OK, NULL);
    expect_error(msg, "missing properties", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", HEADERS_OK, "7");
    expect_error(msg, "properties is not an object", "r9");
    envelope(msg, sizeof msg, NULL, "\"application/json\"", "\"utf-8\"", HEADERS_OK, PROPS_OK);
    expect_error(msg, "missing body", "r9");
    envelope(msg, sizeof msg, "[]", "\"application/json\"", "\"utf-8\"", HEADERS_OK, PROPS_OK);
    expect_error(msg, "body is not a string", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"id\": \"i1\", \"tqbench_run\": \"r9\", \"tqbench_seq\": 1, \"tqbench_enq_us\": 2}",
             PROPS_OK);
    expect_error(msg, "missing headers.task", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"task\": \"tqbench.noop\", \"tqbench_run\": \"r9\", \"tqbench_seq\": 1, "
             "\"tqbench_enq_us\": 2}",
             PROPS_OK);
    expect_error(msg, "missing headers.id", "r9");
    /* the field whose absence kills a real Celery worker */
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", HEADERS_OK,
             "{\"body_encoding\": \"base64\"}");
    expect_error(msg, "missing properties.delivery_tag", "r9");
}

Test(malformed, body_not_base64) {
    char msg[2048];
    const char *bodies[] = {"\"W1tdLCB7fSwge30d*\"", "\"W1tdLCB\"", "\"W1=dLCB7\"", "\"====\""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        envelope(msg, sizeof msg, bodies[i], "\"application/json\"", "\"utf-8\"", HEADERS_OK,
                 PROPS_OK);
        expect_error(msg, "body is not base64", "r9");
    }
}

Test(malformed, body_not_a_json_list_of_3) {
    expect_body_error("not json at all", "not a JSON list of 3");
    expect_body_error("{\"args\": []}", "not a JSON list of 3");
    expect_body_error("[[], {}]", "not a JSON list of 3");
    expect_body_error("[[], {}, {}, {}]", "not a JSON list of 3");
    expect_body_error("[{}, {}, {}]", "args is not a list");
    expect_body_error("[[], [], {}]", "kwargs is not an object");
    expect_body_error("[[], {}, 3]", "embed is not an object");
}

Test(malformed, unsupported_content_type_or_encoding) {
    char b[512], q[600], msg[2048];
    b64(GOOD_BODY, b);
    snprintf(q, sizeof q, "\"%s\"", b);
    envelope(msg, sizeof msg, q, "\"application/x-python-serialize\"", "\"binary\"", HEADERS_OK,
             PROPS_OK);
    expect_error(msg, "unsupported content-type \"application/x-python-serialize\"", "r9");
    envelope(msg, sizeof msg, q, "\"application/x-msgpack\"", "\"binary\"", HEADERS_OK, PROPS_OK);
    expect_error(msg, "unsupported content-type", "r9");
    envelope(msg, sizeof msg, q, NULL, "\"utf-8\"", HEADERS_OK, PROPS_OK);
    expect_error(msg, "missing content-type", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"binary\"", HEADERS_OK, PROPS_OK);
    expect_error(msg, "unsupported content-encoding \"binary\"", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"", HEADERS_OK,
             "{\"body_encoding\": \"utf-8\", \"delivery_tag\": \"t\"}");
    expect_error(msg, "unsupported properties.body_encoding \"utf-8\"", "r9");
}

Test(malformed, bad_tqbench_headers) {
    char b[512], q[600], msg[2048];
    b64(GOOD_BODY, b);
    snprintf(q, sizeof q, "\"%s\"", b);
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"task\": \"tqbench.noop\", \"id\": \"i\", \"tqbench_run\": \"a b\"}", PROPS_OK);
    expect_error(msg, "not a valid run id", "");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"task\": \"tqbench.noop\", \"id\": \"i\", \"tqbench_run\": \"r9\", "
             "\"tqbench_enq_us\": 5}",
             PROPS_OK);
    expect_error(msg, "missing headers.tqbench_seq", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"task\": \"tqbench.noop\", \"id\": \"i\", \"tqbench_run\": \"r9\", "
             "\"tqbench_seq\": 1, \"tqbench_enq_us\": -5}",
             PROPS_OK);
    expect_error(msg, "tqbench_enq_us is not an integer", "r9");
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"task\": \"tqbench.noop\", \"id\": \"i\", \"tqbench_run\": \"r9\", "
             "\"tqbench_seq\": 1, \"tqbench_enq_us\": 5, \"retries\": \"x\"}",
             PROPS_OK);
    expect_error(msg, "retries is not an integer", "r9");
}

Test(malformed, sleep_without_a_duration) {
    char b[512], q[600], msg[2048];
    b64(GOOD_BODY, b);
    snprintf(q, sizeof q, "\"%s\"", b);
    envelope(msg, sizeof msg, q, "\"application/json\"", "\"utf-8\"",
             "{\"task\": \"tqbench.sleep\", \"id\": \"i\", \"tqbench_run\": \"r9\", "
             "\"tqbench_seq\": 1, \"tqbench_enq_us\": 5}",
             PROPS_OK);
    expect_error(msg, "needs a non-negative integer args[0]", "r9");
}

Test(codec, list_keys_follow_kombus_brpop_order) {
    char k[TQ_KEY_MAX];
    cr_assert_eq(tq_celery_list_key(k, sizeof k, "celery", 0), 6);
    cr_assert_str_eq(k, "celery");
    cr_assert_eq(tq_celery_list_key(k, sizeof k, "celery", 1), 9);
    cr_assert_eq(memcmp(k, "celery\x06\x16" "3", 9), 0);
    tq_celery_list_key(k, sizeof k, "celery", 2);
    cr_assert_eq(memcmp(k, "celery\x06\x16" "6", 9), 0);
    tq_celery_list_key(k, sizeof k, "celery", 3);
    cr_assert_eq(memcmp(k, "celery\x06\x16" "9", 9), 0);
    cr_assert_eq(tq_celery_list_key(k, sizeof k, "celery", 4), -1);
    cr_assert_eq(tq_celery_list_key(k, 8, "celery", 1), -1);
}

Test(protocol, celery_pops_kombus_lists_and_runs_everything_as_noop) {
    cr_assert_str_eq(tq_protocol_celery.name, "celery");
    char keys[4][TQ_KEY_MAX];
    cr_assert_eq(tq_protocol_celery.queue_keys("tq", "celery", keys, 4), 4);
    cr_assert_str_eq(keys[0], "celery"); /* no tqbench prefix: kombu's own list */
    cr_assert_str_eq(keys[3], "celery\x06\x16" "9");
    cr_assert_eq(tq_protocol_celery.queue_keys("tq", "celery", keys, 3), -1);

    char buf[4096], err[256] = "";
    struct tq_task t = task_of(TQ_KIND_SLEEP, 5000, 3);
    t.max_attempts = 4;
    t.attempt = 2;
    int n = encode(&t, buf, sizeof buf);
    struct tq_task d;
    cr_assert_eq(tq_protocol_celery.decode(buf, (size_t)n, &d, err, sizeof err), 0, "%s", err);
    cr_assert_eq(d.kind, TQ_KIND_NOOP);
    cr_assert_eq(d.arg, 0);
    cr_assert_eq(d.max_attempts, 1);
    cr_assert_str_eq(d.run, "run-7");
    cr_assert_eq(d.enqueued_us, t.enqueued_us);
    cr_assert_eq(tq_protocol_celery.decode("{}", 2, &d, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "missing headers"), "%s", err);
}
