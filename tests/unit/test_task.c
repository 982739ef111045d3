/* test_task.c - the native task codec: round trips of every kind and option,
 * encode limits, which of a duplicated key counts, and one test per class of
 * malformed payload, each checking the error names the problem. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_task.h"

static struct tq_task sample(enum tq_task_kind kind) {
    struct tq_task t;
    memset(&t, 0, sizeof t);
    t.id = 42;
    snprintf(t.run, sizeof t.run, "run-1.a_b@c");
    t.kind = kind;
    t.arg = kind == TQ_KIND_SLEEP ? 200 : kind == TQ_KIND_CPU ? 1500 : 0;
    t.enqueued_us = 1764423600123456LL;
    t.scheduled_us = 0;
    t.attempt = 0;
    t.max_attempts = 1;
    return t;
}

/* Decodes from an exactly-sized heap copy (no NUL after it), so a read past
 * the payload shows up under ASan. */
static int decode_exact(const char *payload, size_t len, struct tq_task *out, char *err,
                        size_t errlen) {
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, payload, len);
    int rc = tq_task_decode(copy, len, out, err, errlen);
    free(copy);
    return rc;
}

static void assert_same(const struct tq_task *a, const struct tq_task *b) {
    cr_assert_eq(a->id, b->id);
    cr_assert_str_eq(a->run, b->run);
    cr_assert_eq(a->kind, b->kind);
    cr_assert_eq(a->arg, b->arg);
    cr_assert_eq(a->enqueued_us, b->enqueued_us);
    cr_assert_eq(a->scheduled_us, b->scheduled_us);
    cr_assert_eq(a->attempt, b->attempt);
    cr_assert_eq(a->max_attempts, b->max_attempts);
    cr_assert_eq(a->pad_len, b->pad_len);
}

static void round_trip(const struct tq_task *t) {
    char buf[8192], err[256];
    int n = tq_task_encode(t, buf, sizeof buf);
    cr_assert_gt(n, 0, "encode failed");
    struct tq_task back;
    cr_assert_eq(decode_exact(buf, (size_t)n, &back, err, sizeof err), 0, "decode: %s (%.*s)", err,
                 n, buf);
    assert_same(t, &back);
}

Test(task, round_trip_every_kind) {
    for (int k = 0; k < TQ_KIND__COUNT; k++) {
        struct tq_task t = sample((enum tq_task_kind)k);
        round_trip(&t);
        cr_assert_eq(tq_task_kind_parse(tq_task_kind_name((enum tq_task_kind)k)), k);
    }
}

Test(task, round_trip_options) {
    struct tq_task t = sample(TQ_KIND_FAIL);
    t.id = 9007199254740992ULL; /* 2^53: the largest id a JSON number holds exactly */
    t.scheduled_us = t.enqueued_us - 1000;
    t.attempt = 2;
    t.max_attempts = 3;
    t.pad_len = 1000;
    round_trip(&t);
    t.id = 0;
    t.enqueued_us = 0;
    t.pad_len = 1;
    round_trip(&t);
}

Test(task, encode_format) {
    struct tq_task t = sample(TQ_KIND_SLEEP);
    char buf[512];
    int n = tq_task_encode(&t, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_str_eq(buf, "{\"id\":42,\"run\":\"run-1.a_b@c\",\"kind\":\"sleep\",\"arg\":200,"
                          "\"enq\":1764423600123456,\"attempt\":0,\"max_attempts\":1}");
    cr_assert_eq((size_t)n, strlen(buf));
    cr_assert_null(strstr(buf, "sched"), "sched emitted though 0");
    cr_assert_null(strstr(buf, "pad"), "pad emitted though 0");
    t.scheduled_us = 5;
    t.pad_len = 3;
    n = tq_task_encode(&t, buf, sizeof buf);
    cr_assert_not_null(strstr(buf, ",\"sched\":5,"));
    cr_assert_not_null(strstr(buf, ",\"pad\":\"xxx\"}"));
}

Test(task, encode_exact_capacity) {
    struct tq_task t = sample(TQ_KIND_CPU);
    t.pad_len = 17;
    t.scheduled_us = 77;
    char buf[512];
    int n = tq_task_encode(&t, buf, sizeof buf);
    cr_assert_gt(n, 0);
    for (size_t cap = 0; cap < (size_t)n; cap++) {
        char *small = malloc(cap ? cap : 1);
        cr_assert_eq(tq_task_encode(&t, small, cap), -1, "cap %zu accepted for length %d", cap, n);
        free(small);
    }
    char *exact = malloc((size_t)n);
    cr_assert_eq(tq_task_encode(&t, exact, (size_t)n), n);
    cr_assert_eq(memcmp(exact, buf, (size_t)n), 0);
    free(exact);
}

Test(task, encode_rejects_invalid) {
    char buf[512];
    struct tq_task t = sample(TQ_KIND_NOOP);
    t.kind = TQ_KIND__COUNT;
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    snprintf(t.run, sizeof t.run, "bad run");
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.run[0] = '\0';
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.arg = -1;
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.max_attempts = 0;
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.attempt = 1;
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.id = 9007199254740993ULL; /* 2^53 + 1: decode could not read it back exactly */
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
    t = sample(TQ_KIND_NOOP);
    t.scheduled_us = -1;
    cr_assert_eq(tq_task_encode(&t, buf, sizeof buf), -1);
}

Test(task, decode_defaults_and_unknown_keys) {
    const char *p = "{\"future\":{\"x\":[1,2]},\"id\":7,\"run\":\"r\",\"kind\":\"noop\","
                    "\"enq\":100,\"pad\":\"abcd\",\"also\":null}";
    struct tq_task t;
    char err[256];
    cr_assert_eq(decode_exact(p, strlen(p), &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.id, 7);
    cr_assert_eq(t.arg, 0);
    cr_assert_eq(t.scheduled_us, 0);
    cr_assert_eq(t.attempt, 0);
    cr_assert_eq(t.max_attempts, 1);
    cr_assert_eq(t.pad_len, 4);
    /* Whitespace around the object is fine. */
    const char *q = " \n{\"id\":1,\"run\":\"r\",\"kind\":\"cpu\",\"arg\":5,\"enq\":1}\r\n ";
    cr_assert_eq(decode_exact(q, strlen(q), &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.kind, TQ_KIND_CPU);
    cr_assert_eq(t.arg, 5);
}

Test(task, decode_first_of_duplicate_keys_wins) {
    /* A key given twice: the first one counts (cJSON's lookup rule), whatever
     * the second holds, and a bad first one is not rescued by a good second. */
    const char *p = "{\"run\":\"a\",\"run\":\"b\",\"id\":2,\"id\":\"x\",\"kind\":\"sleep\","
                    "\"kind\":5,\"arg\":3,\"arg\":-1,\"enq\":1,\"pad\":\"xx\",\"pad\":\"xxxx\"}";
    struct tq_task t;
    char err[256];
    cr_assert_eq(decode_exact(p, strlen(p), &t, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(t.run, "a");
    cr_assert_eq(t.id, 2);
    cr_assert_eq(t.kind, TQ_KIND_SLEEP);
    cr_assert_eq(t.arg, 3);
    cr_assert_eq(t.pad_len, 2);
    const char *q = "{\"id\":\"x\",\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}";
    cr_assert_eq(decode_exact(q, strlen(q), &t, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "field \"id\" has wrong type"), "err \"%s\"", err);
}

struct bad_case {
    const char *payload;
    const char *err_part;  /* substring the error must contain */
    const char *run;       /* run id expected in out->run ("" when unreadable) */
};

static const struct bad_case bad_cases[] = {
    /* not JSON */
    {"", "not JSON", ""},
    {"{\"id\":1,", "not JSON", ""},
    {"hello", "not JSON", ""},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1} trailing", "not JSON", ""},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}{}", "not JSON", ""},
    /* not an object */
    {"[1,2,3]", "not a JSON object", ""},
    {"42", "not a JSON object", ""},
    {"\"noop\"", "not a JSON object", ""},
    {"null", "not a JSON object", ""},
    /* missing fields */
    {"{\"id\":1,\"kind\":\"noop\",\"enq\":1}", "missing field \"run\"", ""},
    {"{\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}", "missing field \"id\"", "r"},
    {"{\"id\":1,\"run\":\"r\",\"enq\":1}", "missing field \"kind\"", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\"}", "missing field \"enq\"", "r"},
    /* wrong types */
    {"{\"id\":\"1\",\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}", "field \"id\" has wrong type", "r"},
    {"{\"id\":1.5,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}", "field \"id\" has wrong type", "r"},
    {"{\"id\":1,\"run\":7,\"kind\":\"noop\",\"enq\":1}", "field \"run\" has wrong type", ""},
    {"{\"id\":1,\"run\":\"r\",\"kind\":3,\"enq\":1}", "field \"kind\" has wrong type", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":true}", "field \"enq\" has wrong type", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"sleep\",\"arg\":\"5\",\"enq\":1}",
     "field \"arg\" has wrong type", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1,\"sched\":[]}",
     "field \"sched\" has wrong type", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1,\"attempt\":null}",
     "field \"attempt\" has wrong type", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1,\"max_attempts\":2.5}",
     "field \"max_attempts\" has wrong type", "r"},
    /* unknown kind */
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"explode\",\"enq\":1}", "unknown kind \"explode\"", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"NOOP\",\"enq\":1}", "unknown kind \"NOOP\"", "r"},
    /* invalid run id */
    {"{\"id\":1,\"run\":\"\",\"kind\":\"noop\",\"enq\":1}", "invalid run id", ""},
    {"{\"id\":1,\"run\":\"a:b\",\"kind\":\"noop\",\"enq\":1}", "invalid run id", ""},
    {"{\"id\":1,\"run\":\"a b\",\"kind\":\"noop\",\"enq\":1}", "invalid run id", ""},
    {"{\"id\":1,\"run\":\"r*\",\"kind\":\"noop\",\"enq\":1}", "invalid run id", ""},
    /* negative values */
    {"{\"id\":-1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}", "negative value in \"id\"", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"sleep\",\"arg\":-5,\"enq\":1}", "negative value in \"arg\"",
     "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":-1}", "negative value in \"enq\"", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1,\"sched\":-3}",
     "negative value in \"sched\"", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1,\"attempt\":-1}",
     "negative value in \"attempt\"", "r"},
    /* out of range */
    {"{\"id\":1e300,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}", "field \"id\" out of range", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1,\"max_attempts\":0}",
     "field \"max_attempts\" must be >= 1", "r"},
    /* attempts */
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"fail\",\"enq\":1,\"attempt\":3,\"max_attempts\":3}",
     "attempt >= max_attempts", "r"},
    {"{\"id\":1,\"run\":\"r\",\"kind\":\"fail\",\"enq\":1,\"attempt\":1}", "attempt >= max_attempts",
     "r"},
};

Test(task, decode_rejects_every_malformed_class) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        struct tq_task t;
        char err[256] = "";
        memset(&t, 0x5a, sizeof t);
        int rc = decode_exact(c->payload, strlen(c->payload), &t, err, sizeof err);
        cr_assert_eq(rc, -1, "accepted: %s", c->payload);
        cr_assert_not_null(strstr(err, c->err_part), "payload %s: err \"%s\" lacks \"%s\"",
                           c->payload, err, c->err_part);
        cr_assert_str_eq(t.run, c->run, "payload %s: run \"%s\", want \"%s\"", c->payload, t.run,
                         c->run);
    }
}

Test(task, decode_rejects_binary_garbage) {
    /* Random bytes, and every prefix of a valid payload: never accepted as a
     * different task, never a crash. */
    struct tq_task src = sample(TQ_KIND_SLEEP), t;
    char buf[512], err[256];
    int n = tq_task_encode(&src, buf, sizeof buf);
    for (int len = 0; len < n; len++)
        cr_assert_eq(decode_exact(buf, (size_t)len, &t, err, sizeof err), -1, "prefix %d", len);
    unsigned seed = 12345;
    for (int i = 0; i < 2000; i++) {
        char junk[64];
        size_t len = 1 + (size_t)(rand_r(&seed) % (int)sizeof junk);
        for (size_t j = 0; j < len; j++) junk[j] = (char)rand_r(&seed);
        cr_assert_eq(decode_exact(junk, len, &t, err, sizeof err), -1);
        cr_assert_gt(strlen(err), 0);
    }
    const char nul[] = "{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"enq\":1}\0xx";
    cr_assert_eq(decode_exact(nul, sizeof nul - 1, &t, err, sizeof err), -1);
}

Test(task, kind_names) {
    cr_assert_str_eq(tq_task_kind_name(TQ_KIND_NOOP), "noop");
    cr_assert_str_eq(tq_task_kind_name(TQ_KIND_SLEEP), "sleep");
    cr_assert_str_eq(tq_task_kind_name(TQ_KIND_CPU), "cpu");
    cr_assert_str_eq(tq_task_kind_name(TQ_KIND_FAIL), "fail");
    cr_assert_eq(tq_task_kind_parse("bogus"), -1);
    cr_assert_eq(tq_task_kind_parse(NULL), -1);
    cr_assert_eq(tq_task_kind_parse(""), -1);
}

/* Decodes len bytes of p with both decoders and requires the same verdict,
 * fields and message: the fast path for the encoder's own form only ever
 * shortcuts what cJSON would conclude. */
static void same_as_json(const char *p, size_t len) {
    struct tq_task a, b;
    char ea[256], eb[256];
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, p, len);
    int ra = tq_task_decode(copy, len, &a, ea, sizeof ea);
    int rb = tq_task_decode_json(copy, len, &b, eb, sizeof eb);
    free(copy);
    cr_assert_eq(ra, rb, "%.*s: rc %d, cJSON %d (%s)", (int)len, p, ra, rb, eb);
    cr_assert_str_eq(ea, eb, "%.*s", (int)len, p);
    assert_same(&a, &b);
}

Test(task, fast_path_agrees_with_cjson_on_mutations) {
    /* Every canonical form (each kind, with and without sched and pad, at the
     * limits), then each of them with every byte replaced by characters that
     * matter to the parser, every byte deleted, and every prefix. */
    struct tq_task ts[8];
    for (int k = 0; k < TQ_KIND__COUNT; k++) ts[k] = sample((enum tq_task_kind)k);
    ts[4] = sample(TQ_KIND_FAIL);
    ts[4].scheduled_us = 1764423600000001LL;
    ts[4].attempt = 2;
    ts[4].max_attempts = 3;
    ts[4].pad_len = 5;
    ts[5] = sample(TQ_KIND_NOOP);
    ts[5].id = 9007199254740992ULL; /* 2^53 */
    ts[5].enqueued_us = 0;
    ts[6] = sample(TQ_KIND_CPU);
    ts[6].max_attempts = 1000000000;
    ts[6].attempt = 999999999;
    ts[7] = sample(TQ_KIND_NOOP);
    memset(ts[7].run, 'r', TQ_NAME_MAX - 1);
    ts[7].run[TQ_NAME_MAX - 1] = '\0';
    const char subst[] = "0912 -.e\"\\\x01\x7f\xc3}{,:xa";
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        char buf[512], mut[512];
        int n = tq_task_encode(&ts[i], buf, sizeof buf);
        cr_assert_gt(n, 0, "sample %zu does not encode", i);
        same_as_json(buf, (size_t)n);
        for (int len = 0; len < n; len++) same_as_json(buf, (size_t)len);
        for (int at = 0; at < n; at++) {
            for (size_t s = 0; s < sizeof subst - 1; s++) {
                memcpy(mut, buf, (size_t)n);
                mut[at] = subst[s];
                same_as_json(mut, (size_t)n);
            }
            memcpy(mut, buf, (size_t)at);
            memcpy(mut + at, buf + at + 1, (size_t)(n - at - 1));
            same_as_json(mut, (size_t)n - 1);
        }
        /* trailing whitespace and an appended byte */
        memcpy(mut, buf, (size_t)n);
        mut[n] = ' ';
        same_as_json(mut, (size_t)n + 1);
        mut[n] = 'x';
        same_as_json(mut, (size_t)n + 1);
    }
}

Test(task, fast_path_numbers_of_every_length) {
    /* The fast path reads numbers eight digits at a time (a single digit at
     * once): every length from 1 to 17 digits, with and without a leading
     * zero, in each integer field, ending the buffer or not, agrees with
     * cJSON (2^53 and 1e9 bounds included). */
    const char *fmt[] = {
        "{\"id\":%s,\"run\":\"r\",\"kind\":\"noop\",\"arg\":0,\"enq\":1,\"attempt\":0,\"max_attempts\":1}",
        "{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"arg\":%s,\"enq\":1,\"attempt\":0,\"max_attempts\":1}",
        "{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"arg\":0,\"enq\":%s,\"attempt\":0,\"max_attempts\":1}",
        "{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"arg\":0,\"enq\":1,\"sched\":%s,\"attempt\":0,"
        "\"max_attempts\":1}",
        "{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"arg\":0,\"enq\":1,\"attempt\":%s,"
        "\"max_attempts\":2000000000}",
        "{\"id\":1,\"run\":\"r\",\"kind\":\"noop\",\"arg\":0,\"enq\":1,\"attempt\":0,\"max_attempts\":%s}",
    };
    const char *edges[] = {"9007199254740992", "9007199254740993", "1000000000", "1000000001",
                           "999999999", "0"};
    for (size_t f = 0; f < sizeof fmt / sizeof fmt[0]; f++) {
        for (int digits = 1; digits <= 17 + 1; digits++) {
            for (int lead0 = 0; lead0 < 2; lead0++) {
                char num[32], buf[256];
                for (int i = 0; i < digits; i++) num[i] = (char)('0' + (i * 7 + 3) % 10);
                num[0] = lead0 ? '0' : '1';
                num[digits] = '\0';
                int n = snprintf(buf, sizeof buf, fmt[f], num);
                same_as_json(buf, (size_t)n);
                for (int len = n - 20; len < n; len++) same_as_json(buf, (size_t)len);
            }
        }
        for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++) {
            char buf[256];
            int n = snprintf(buf, sizeof buf, fmt[f], edges[e]);
            same_as_json(buf, (size_t)n);
        }
    }
    /* and the values come out right */
    struct tq_task t;
    char err[256];
    const char ok[] = "{\"id\":123456789,\"run\":\"throughput.native.1.a3f2c1\",\"kind\":\"sleep\","
                      "\"arg\":12,\"enq\":1764658372000123,\"sched\":9007199254740992,"
                      "\"attempt\":7,\"max_attempts\":1000000000}";
    cr_assert_eq(tq_task_decode(ok, sizeof ok - 1, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.id, 123456789);
    cr_expect_str_eq(t.run, "throughput.native.1.a3f2c1");
    cr_expect_eq(t.kind, TQ_KIND_SLEEP);
    cr_expect_eq(t.arg, 12);
    cr_expect_eq(t.enqueued_us, 1764658372000123LL);
    cr_expect_eq(t.scheduled_us, 9007199254740992LL);
    cr_expect_eq(t.attempt, 7);
    cr_expect_eq(t.max_attempts, 1000000000);
}
