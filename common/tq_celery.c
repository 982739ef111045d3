/* tq_celery.c - Celery protocol-2 messages in kombu's Redis envelope (see
 * tq_celery.h).
 *
 * Encoding is the driver's hot path, like tq_task_encode: the envelope is
 * written straight into the caller's buffer and the body is base64-encoded
 * as it is generated, so there is no allocation and no scratch buffer
 * whatever the pad size. The JSON spacing is json.dumps' default, as in
 * what Celery's own client writes. Decoding goes through cJSON and names
 * the first thing that is wrong, because tqworker counts and logs every
 * malformed envelope. */
#include "tq_celery.h"
#include "tq_log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest integer a JSON number (an IEEE double in cJSON) holds exactly. */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53 */

/* Above this, Celery's saferepr truncates kwargsrepr (its limit is 1024). */
#define KWARGSREPR_FULL_PAD 1000

/* ---- bounded writer: every put is a no-op once the buffer is full ---- */

struct out {
    char *p;
    const char *end;
    int full;
};

static void put(struct out *o, const char *s, size_t n) {
    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = 1;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}
#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_str(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void put_fill(struct out *o, char c, size_t n) {
    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = 1;
        return;
    }
    memset(o->p, c, n);
    o->p += n;
}

static void put_u64(struct out *o, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, tmp + sizeof tmp - n, (size_t)n);
}

/* ---- UUIDs derived from the task, formatted as version 4 ---- */

/* splitmix64's finaliser: a bijection on 64 bits with good avalanche, so
 * distinct inputs give distinct outputs. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s, uint64_t h) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void put_uuid(struct out *o, uint64_t hi, uint64_t lo) {
    static const char hex[] = "0123456789abcdef";
    char u[TQ_CELERY_UUID_LEN];
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(hi >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) u[k++] = '-';
        u[k++] = hex[b[i] >> 4];
        u[k++] = hex[b[i] & 0x0f];
    }
    put(o, u, sizeof u);
}

/* ---- base64 as a stream, so the body needs no scratch buffer ---- */

struct b64 {
    struct out *o;
    unsigned char carry[3];
    int n;
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_quad(struct out *o, const unsigned char *in, int n) {
    char q[4];
    q[0] = b64_alphabet[in[0] >> 2];
    q[1] = b64_alphabet[((in[0] & 0x03) << 4) | (n > 1 ? in[1] >> 4 : 0)];
    q[2] = n > 1 ? b64_alphabet[((in[1] & 0x0f) << 2) | (n > 2 ? in[2] >> 6 : 0)] : '=';
    q[3] = n > 2 ? b64_alphabet[in[2] & 0x3f] : '=';
    put(o, q, 4);
}

static void b64_put(struct b64 *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        b->carry[b->n++] = (unsigned char)s[i];
        if (b->n == 3) {
            b64_quad(b->o, b->carry, 3);
            b->n = 0;
        }
    }
}
#define B64_LIT(b, lit) b64_put((b), (lit), sizeof(lit) - 1)

static void b64_put_u64(struct b64 *b, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    b64_put(b, tmp + sizeof tmp - n, (size_t)n);
}

static void b64_put_fill(struct b64 *b, char c, size_t n) {
    /* Whole triples of one byte encode to one repeated quad: write it
     * directly instead of feeding the pad byte by byte. */
    while (n > 0 && b->n != 0) {
        b64_put(b, &c, 1);
        n--;
    }
    if (n >= 3) {
        unsigned char t[3] = {(unsigned char)c, (unsigned char)c, (unsigned char)c};
        char q[4];
        struct out tmp = {q, q + 4, 0};
        b64_quad(&tmp, t, 3);
        for (size_t k = n / 3; k > 0; k--) put(b->o, q, 4);
        n %= 3;
    }
    while (n-- > 0) b64_put(b, &c, 1);
}

static void b64_finish(struct b64 *b) {
    if (b->n) b64_quad(b->o, b->carry, b->n);
    b->n = 0;
}

/* ---- encoder ---- */

static int kind_has_arg(enum tq_task_kind k) { return k == TQ_KIND_SLEEP || k == TQ_KIND_CPU; }

int tq_celery_encode(const struct tq_task *t, const char *queue, char *buf, size_t cap) {
    if (!t || !buf || !queue) return -1;
    if ((int)t->kind < 0 || t->kind >= TQ_KIND__COUNT || !tq_name_valid(t->run) ||
        !tq_name_valid(queue) || t->arg < 0 || t->enqueued_us < 0 || t->scheduled_us < 0 ||
        t->attempt < 0 || t->max_attempts < 1 || t->attempt >= t->max_attempts ||
        (double)t->id > JSON_INT_MAX)
        return -1;

    /* Task id: a bijection of the sequence number under a per-run key, so
     * ids of one run never collide; the delivery tag also covers the attempt
     * and the stamps, so a re-enqueued attempt gets a tag of its own. */
    uint64_t run_key = fnv1a(t->run, 0xcbf29ce484222325ULL);
    uint64_t id_hi = mix64(run_key + t->id * 0x9e3779b97f4a7c15ULL);
    uint64_t id_lo = mix64(id_hi ^ run_key ^ 0x5bd1e9955bd1e995ULL);
    uint64_t tag_hi = mix64(id_lo ^ ((uint64_t)t->attempt * 0xd6e8feb86659fd93ULL) ^
                            (uint64_t)t->enqueued_us);
    uint64_t tag_lo = mix64(tag_hi ^ (uint64_t)t->scheduled_us ^ id_hi);
    uint64_t reply_hi = mix64(run_key ^ 0x2545f4914f6cdd1dULL);
    uint64_t reply_lo = mix64(reply_hi + run_key);
    const char *kind = tq_task_kind_name(t->kind);

    struct out o = {buf, buf + cap, 0};
    PUT_LIT(&o, "{\"body\": \"");
    struct b64 b = {&o, {0, 0, 0}, 0};
    B64_LIT(&b, "[[");
    if (kind_has_arg(t->kind)) b64_put_u64(&b, (uint64_t)t->arg);
    B64_LIT(&b, "], {");
    if (t->pad_len > 0) {
        B64_LIT(&b, "\"pad\": \"");
        b64_put_fill(&b, 'x', t->pad_len);
        B64_LIT(&b, "\"");
    }
    B64_LIT(&b, "}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, \"chord\": null}]");
    b64_finish(&b);
    PUT_LIT(&o, "\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", "
                "\"headers\": {\"lang\": \"py\", \"task\": \"" TQ_CELERY_TASK_PREFIX);
    put_str(&o, kind);
    PUT_LIT(&o, "\", \"id\": \"");
    put_uuid(&o, id_hi, id_lo);
    PUT_LIT(&o, "\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, "
                "\"group_index\": null, \"retries\": ");
    put_u64(&o, (uint64_t)t->attempt);
    PUT_LIT(&o, ", \"timelimit\": [null, null], \"root_id\": \"");
    put_uuid(&o, id_hi, id_lo);
    PUT_LIT(&o, "\", \"parent_id\": null, \"argsrepr\": \"(");
    if (kind_has_arg(t->kind)) {
        put_u64(&o, (uint64_t)t->arg);
        PUT_LIT(&o, ",");
    }
    PUT_LIT(&o, ")\", \"kwargsrepr\": \"{");
    if (t->pad_len > KWARGSREPR_FULL_PAD) {
        /* Celery's saferepr: the repr up to its size limit, then "..." */
        PUT_LIT(&o, "'pad': '");
        put_fill(&o, 'x', KWARGSREPR_FULL_PAD);
        PUT_LIT(&o, "...', ...");
    } else if (t->pad_len > 0) {
        PUT_LIT(&o, "'pad': '");
        put_fill(&o, 'x', t->pad_len);
        PUT_LIT(&o, "'}");
    } else {
        PUT_LIT(&o, "}");
    }
    PUT_LIT(&o, "\", \"origin\": \"tqbench@");
    put_str(&o, t->run); /* tq_name_valid: nothing to escape */
    PUT_LIT(&o, "\", \"ignore_result\": true, \"" TQ_CELERY_H_RUN "\": \"");
    put_str(&o, t->run);
    PUT_LIT(&o, "\", \"" TQ_CELERY_H_SEQ "\": ");
    put_u64(&o, t->id);
    PUT_LIT(&o, ", \"" TQ_CELERY_H_ENQ "\": ");
    put_u64(&o, (uint64_t)t->enqueued_us);
    if (t->scheduled_us != 0) {
        PUT_LIT(&o, ", \"" TQ_CELERY_H_SCHED "\": ");
        put_u64(&o, (uint64_t)t->scheduled_us);
    }
    PUT_LIT(&o, ", \"" TQ_CELERY_H_MAX_ATTEMPTS "\": ");
    put_u64(&o, (uint64_t)t->max_attempts);
    PUT_LIT(&o, "}, \"properties\": {\"correlation_id\": \"");
    put_uuid(&o, id_hi, id_lo);
    PUT_LIT(&o, "\", \"reply_to\": \"");
    put_uuid(&o, reply_hi, reply_lo);
    PUT_LIT(&o, "\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", "
                "\"routing_key\": \"");
    put_str(&o, queue); /* tq_name_valid: nothing to escape */
    PUT_LIT(&o, "\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"");
    put_uuid(&o, tag_hi, tag_lo);
    PUT_LIT(&o, "\"}}");
    if (o.full) return -1;
    size_t len = (size_t)(o.p - buf);
    if (len > (size_t)INT32_MAX) return -1;
    if (len < cap) buf[len] = '\0';
    return (int)len;
}

int tq_celery_list_key(char *buf, size_t n, const char *queue, int i) {
    static const char *const suffix[TQ_CELERY_LISTS] = {
        "", TQ_CELERY_PRIORITY_SEP "3", TQ_CELERY_PRIORITY_SEP "6", TQ_CELERY_PRIORITY_SEP "9"};
    if (!buf || !queue || i < 0 || i >= TQ_CELERY_LISTS) return -1;
    int len = snprintf(buf, n, "%s%s", queue, suffix[i]);
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

/* ---- decoder ---- */

static void copy_str(char *dst, size_t n, const char *src) {
    size_t len = strlen(src);
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict RFC 4648 decoding (padded, standard alphabet), as Python's
 * base64.b64encode writes it. out must hold len/4*3 bytes. Returns the
 * decoded length, or -1. */
static long b64_decode(const char *in, size_t len, unsigned char *out) {
    if (len % 4 != 0) return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad) {
                return -1; /* data after '=' */
            } else if ((v[j] = b64_value(c)) < 0) {
                return -1;
            }
        }
        uint32_t q = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        out[k++] = (unsigned char)(q >> 16);
        if (pad < 2) out[k++] = (unsigned char)(q >> 8);
        if (pad < 1) out[k++] = (unsigned char)q;
    }
    return (long)k;
}

/* A required string member; NULL with err set when absent or not a string. */
static const char *get_str(const cJSON *obj, const char *where, const char *name, char *err,
                           size_t errlen) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it) {
        snprintf(err, errlen, "missing %s%s", where, name);
        return NULL;
    }
    if (!cJSON_IsString(it)) {
        snprintf(err, errlen, "%s%s is not a string", where, name);
        return NULL;
    }
    return it->valuestring;
}

/* An optional non-negative integer member: 1 and *v when present, 0 when
 * absent or null, -1 with err when mistyped or out of range. */
static int get_uint(const cJSON *obj, const char *name, double max, int64_t *v, char *err,
                    size_t errlen) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it || cJSON_IsNull(it)) return 0;
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d < 0 || d > max || d != (double)(int64_t)d) {
        snprintf(err, errlen, "headers.%s is not an integer in 0..%.0f", name, max);
        return -1;
    }
    *v = (int64_t)d;
    return 1;
}

/* Reads the tqbench headers into out (see tq_celery.h). */
static int decode_tqbench_headers(const cJSON *headers, struct tq_task *out, int *present,
                                  char *err, size_t errlen) {
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(headers, TQ_CELERY_H_RUN);
    char q[48];
    *present = 0;
    out->max_attempts = 1;
    if (!run || cJSON_IsNull(run)) return 0;
    if (!cJSON_IsString(run) || !tq_name_valid(run->valuestring)) {
        snprintf(err, errlen, "headers." TQ_CELERY_H_RUN " is not a valid run id (\"%s\")",
                 cJSON_IsString(run) ? tq_log_excerpt(run->valuestring, (size_t)-1, 40, q, sizeof q)
                                     : "not a string");
        return -1;
    }
    copy_str(out->run, sizeof out->run, run->valuestring);
    *present = 1;
    int64_t v = 0;
    int rc = get_uint(headers, TQ_CELERY_H_SEQ, JSON_INT_MAX, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) {
        snprintf(err, errlen, "missing headers." TQ_CELERY_H_SEQ " (run %s)", out->run);
        return -1;
    }
    out->id = (uint64_t)v;
    rc = get_uint(headers, TQ_CELERY_H_ENQ, JSON_INT_MAX, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) {
        snprintf(err, errlen, "missing headers." TQ_CELERY_H_ENQ " (run %s)", out->run);
        return -1;
    }
    out->enqueued_us = v;
    if ((rc = get_uint(headers, TQ_CELERY_H_SCHED, JSON_INT_MAX, &v, err, errlen)) < 0) return -1;
    out->scheduled_us = rc ? v : 0;
    if ((rc = get_uint(headers, TQ_CELERY_H_MAX_ATTEMPTS, 1000000, &v, err, errlen)) < 0)
        return -1;
    if (rc && v < 1) {
        snprintf(err, errlen, "headers." TQ_CELERY_H_MAX_ATTEMPTS " is below 1");
        return -1;
    }
    out->max_attempts = rc ? (int)v : 1;
    return 0;
}

/* Decodes the base64 body and checks it is [args(list), kwargs(object),
 * embed(object or null)]; returns the parsed array (caller deletes) or NULL
 * with err set. */
static cJSON *decode_body(const char *b64, char *err, size_t errlen) {
    size_t len = strlen(b64);
    unsigned char stackbuf[2048];
    unsigned char *raw = stackbuf;
    if (len / 4 * 3 + 1 > sizeof stackbuf) {
        raw = malloc(len / 4 * 3 + 1);
        if (!raw) {
            snprintf(err, errlen, "out of memory decoding a %zu-byte body", len);
            return NULL;
        }
    }
    long n = b64_decode(b64, len, raw);
    cJSON *body = NULL;
    if (n < 0) {
        snprintf(err, errlen, "body is not base64 (%zu bytes)", len);
    } else {
        body = cJSON_ParseWithLength((const char *)raw, (size_t)n);
        if (!body) {
            snprintf(err, errlen, "body is not a JSON list of 3 [args, kwargs, embed]: not JSON");
        } else if (!cJSON_IsArray(body) || cJSON_GetArraySize(body) != 3) {
            snprintf(err, errlen, "body is not a JSON list of 3 [args, kwargs, embed]");
        } else if (!cJSON_IsArray(cJSON_GetArrayItem(body, 0))) {
            snprintf(err, errlen, "body is not a JSON list of 3: args is not a list");
        } else if (!cJSON_IsObject(cJSON_GetArrayItem(body, 1))) {
            snprintf(err, errlen, "body is not a JSON list of 3: kwargs is not an object");
        } else if (!cJSON_IsObject(cJSON_GetArrayItem(body, 2)) &&
                   !cJSON_IsNull(cJSON_GetArrayItem(body, 2))) {
            snprintf(err, errlen, "body is not a JSON list of 3: embed is not an object");
        } else {
            if (raw != stackbuf) free(raw);
            return body;
        }
    }
    cJSON_Delete(body);
    if (raw != stackbuf) free(raw);
    return NULL;
}

static int decode_envelope(const cJSON *env, struct tq_task *out, struct tq_celery_info *info,
                           char *err, size_t errlen) {
    char q[48];
    if (!cJSON_IsObject(env)) {
        snprintf(err, errlen, "envelope is not a JSON object");
        return -1;
    }
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(env, "headers");
    if (!headers) {
        snprintf(err, errlen, "missing headers");
        return -1;
    }
    if (!cJSON_IsObject(headers)) {
        snprintf(err, errlen, "headers is not an object");
        return -1;
    }
    /* The run id first, so any later failure is still counted in its run. */
    int tqbench = 0;
    if (decode_tqbench_headers(headers, out, &tqbench, err, errlen) != 0) return -1;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(env, "properties");
    if (!props) {
        snprintf(err, errlen, "missing properties");
        return -1;
    }
    if (!cJSON_IsObject(props)) {
        snprintf(err, errlen, "properties is not an object");
        return -1;
    }
    const char *body_b64 = get_str(env, "", "body", err, errlen);
    if (!body_b64) return -1;
    const char *ctype = get_str(env, "", "content-type", err, errlen);
    if (!ctype) return -1;
    if (strcmp(ctype, "application/json") != 0) {
        snprintf(err, errlen, "unsupported content-type \"%s\" (only application/json)",
                 tq_log_excerpt(ctype, (size_t)-1, 40, q, sizeof q));
        return -1;
    }
    const char *cenc = get_str(env, "", "content-encoding", err, errlen);
    if (!cenc) return -1;
    if (strcasecmp(cenc, "utf-8") != 0 && strcasecmp(cenc, "utf8") != 0) {
        snprintf(err, errlen, "unsupported content-encoding \"%s\" (only utf-8)",
                 tq_log_excerpt(cenc, (size_t)-1, 40, q, sizeof q));
        return -1;
    }
    const char *benc = get_str(props, "properties.", "body_encoding", err, errlen);
    if (!benc) return -1;
    if (strcmp(benc, "base64") != 0) {
        snprintf(err, errlen, "unsupported properties.body_encoding \"%s\" (only base64)",
                 tq_log_excerpt(benc, (size_t)-1, 40, q, sizeof q));
        return -1;
    }
    const char *tag = get_str(props, "properties.", "delivery_tag", err, errlen);
    if (!tag) return -1;
    const char *task = get_str(headers, "headers.", "task", err, errlen);
    if (!task) return -1;
    const char *id = get_str(headers, "headers.", "id", err, errlen);
    if (!id) return -1;
    int64_t retries = 0;
    if (get_uint(headers, "retries", 1000000, &retries, err, errlen) < 0) return -1;
    out->attempt = (int)retries;

    out->kind = TQ_KIND_NOOP;
    size_t plen = sizeof TQ_CELERY_TASK_PREFIX - 1;
    if (strncmp(task, TQ_CELERY_TASK_PREFIX, plen) == 0) {
        int k = tq_task_kind_parse(task + plen);
        if (k >= 0) out->kind = (enum tq_task_kind)k;
    }

    cJSON *body = decode_body(body_b64, err, errlen);
    if (!body) return -1;
    int rc = 0;
    if (kind_has_arg(out->kind)) {
        const cJSON *arg = cJSON_GetArrayItem(cJSON_GetArrayItem(body, 0), 0);
        double d = arg ? arg->valuedouble : -1;
        if (!cJSON_IsNumber(arg) || d < 0 || d > JSON_INT_MAX || d != (double)(int64_t)d) {
            snprintf(err, errlen, "task %s needs a non-negative integer args[0]",
                     tq_log_excerpt(task, (size_t)-1, 40, q, sizeof q));
            rc = -1;
        } else {
            out->arg = (int64_t)d;
        }
    }
    cJSON_Delete(body);
    if (rc != 0) return -1;

    if (info) {
        copy_str(info->task, sizeof info->task, task);
        copy_str(info->id, sizeof info->id, id);
        copy_str(info->delivery_tag, sizeof info->delivery_tag, tag);
        const cJSON *di = cJSON_GetObjectItemCaseSensitive(props, "delivery_info");
        const cJSON *rk = cJSON_GetObjectItemCaseSensitive(di, "routing_key");
        copy_str(info->routing_key, sizeof info->routing_key,
                 cJSON_IsString(rk) ? rk->valuestring : "");
        const cJSON *pri = cJSON_GetObjectItemCaseSensitive(props, "priority");
        info->priority = cJSON_IsNumber(pri) ? pri->valueint : 0;
        info->has_tqbench = tqbench;
    }
    return 0;
}

int tq_celery_decode(const char *buf, size_t len, struct tq_task *out,
                     struct tq_celery_info *info, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->max_attempts = 1;
    if (info) memset(info, 0, sizeof *info);
    if (!buf) {
        snprintf(err, errlen, "no envelope");
        return -1;
    }
    cJSON *env = cJSON_ParseWithLength(buf, len);
    if (!env) {
        snprintf(err, errlen, "envelope is not JSON (%zu bytes)", len);
        return -1;
    }
    int rc = decode_envelope(env, out, info, err, errlen);
    cJSON_Delete(env);
    return rc;
}
