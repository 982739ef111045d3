/* tq_asynctasq.c - AsyncTasQ task payloads in msgpack (see tq_asynctasq.h).
 *
 * Both directions go through msgpack-c. Encoding is the producer's hot path:
 * a msgpack_packer whose write callback copies into the caller's buffer, so
 * there is no allocation, no sbuffer and no printf, and the pad string is
 * written from a constant block. msgpack-c picks the shortest form of every
 * integer, string and container header, which is what Python's msgpack and
 * msgspec do, so the same map comes out byte-for-byte identical.
 *
 * Decoding unpacks into a msgpack zone, then walks the maps by key. msgpack-c
 * allocates a container's elements as soon as it reads the header, before
 * the elements themselves, so a 5-byte "array of 4 billion" would ask for
 * 64 GB. A short scan over the bytes first checks that every container
 * claims no more elements than there are bytes left (each takes at least
 * one), which bounds what the unpacker allocates by the payload's length and
 * tells a truncated payload from one that is not msgpack at all. */
#include "tq_asynctasq.h"

#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Producers hand us doubles' worth of integers at most, like the native codec. */
#define INT_EXACT_MAX ((int64_t)1 << 53)

/* ---- bounded writer behind a msgpack_packer ---- */

struct out {
    char *p;
    size_t len;
    size_t cap;
    int full;
};

static int out_write(void *data, const char *buf, size_t len) {
    struct out *o = data;
    if (o->full || o->cap - o->len < len) {
        o->full = 1;
        return -1;
    }
    memcpy(o->p + o->len, buf, len);
    o->len += len;
    return 0;
}

/* The packer's return values are ignored: out_write latches o->full, which
 * is checked once at the end. */
static void pack_cstr(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}
#define PACK_LIT(pk, lit)                          \
    do {                                           \
        msgpack_pack_str((pk), sizeof(lit) - 1);   \
        msgpack_pack_str_body((pk), (lit), sizeof(lit) - 1); \
    } while (0)

static void pack_int_or_nil(msgpack_packer *pk, int64_t v) {
    if (v < 0)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_uint64(pk, (uint64_t)v);
}

static void pack_pad(msgpack_packer *pk, size_t n) {
    static const char xs[256] = {[0 ... 255] = 'x'};
    msgpack_pack_str(pk, n);
    while (n > 0) {
        size_t k = n < sizeof xs ? n : sizeof xs;
        msgpack_pack_str_body(pk, xs, k);
        n -= k;
    }
}

/* ---- task ids: UUIDs derived from (run, id), formatted as version 4 ---- */

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

void tq_atq_task_id(char *buf, const char *run, uint64_t id) {
    static const char hex[] = "0123456789abcdef";
    /* Seeded apart from tq_celery's ids, so the same (run, id) in both
     * frameworks does not share a task id. */
    uint64_t run_key = fnv1a(run, fnv1a("asynctasq/", 0xcbf29ce484222325ULL));
    uint64_t hi = mix64(run_key + id * 0x9e3779b97f4a7c15ULL);
    uint64_t lo = mix64(hi ^ run_key ^ 0x5bd1e9955bd1e995ULL);
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(hi >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) buf[k++] = '-';
        buf[k++] = hex[b[i] >> 4];
        buf[k++] = hex[b[i] & 0x0f];
    }
    buf[k] = '\0';
}

/* ---- dispatched_at: datetime.isoformat() of an aware UTC datetime ---- */

static char *put_digits(char *p, int64_t v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm): no
 * gmtime_r, no locale, no time zone file on the hot path. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Writes the timestamp into buf (>= 33 bytes); returns its length. Python
 * leaves the fraction out when the microseconds are 0. */
static size_t format_iso(char *buf, int64_t us) {
    int64_t secs = us / 1000000, frac = us % 1000000;
    int64_t days = secs / 86400, rem = secs % 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    char *p = buf;
    p = put_digits(p, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, rem / 3600, 2);
    *p++ = ':';
    p = put_digits(p, rem / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, rem % 60, 2);
    if (frac) {
        *p++ = '.';
        p = put_digits(p, frac, 6);
    }
    memcpy(p, "+00:00", 6);
    return (size_t)(p + 6 - buf);
}

/* Parses what format_iso writes and what isoformat() writes for any offset
 * ("±HH:MM" or "Z"); returns 0 and the µs since the epoch, or -1. */
static int parse_iso(const char *s, int64_t *us) {
    int Y, M, D, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6) frac = frac * 10 + (*p - '0');
        if (digits == 0) return -1;
        for (; digits < 6; digits++) frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) return -1;
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1; /* naive: no way to tell which clock it was */
    }
    if (*p) return -1;
    /* days_from_civil, the inverse of civil_from_days */
    int64_t y = Y - (M <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (M > 2 ? M - 3 : M + 9) + 2) / 5 + D - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
    if (secs < 0) return -1;
    *us = secs * 1000000 + frac;
    return 0;
}

/* ---- encoding ---- */

void tq_atq_opts_init(struct tq_atq_opts *o) {
    memset(o, 0, sizeof *o);
    o->shape = TQ_ATQ_SHAPE_1X;
    o->queue = "default";
    o->func_module = "tqbench_tasks";
    o->cls = TQ_ATQ_FUNCTION_TASK_CLASS;
    o->retry_delay = 60;
    o->timeout = -1;
    o->visibility_timeout = 3600;
}

static size_t kwargs_count(const struct tq_task *t) {
    return 3 + (t->scheduled_us != 0) + (t->kind == TQ_KIND_SLEEP || t->kind == TQ_KIND_CPU) +
           (t->pad_len > 0);
}

static void pack_kwargs(msgpack_packer *pk, const struct tq_task *t) {
    PACK_LIT(pk, TQ_ATQ_KW_RUN);
    pack_cstr(pk, t->run);
    PACK_LIT(pk, TQ_ATQ_KW_SEQ);
    msgpack_pack_uint64(pk, t->id);
    PACK_LIT(pk, TQ_ATQ_KW_ENQ);
    msgpack_pack_uint64(pk, (uint64_t)t->enqueued_us);
    if (t->scheduled_us != 0) {
        PACK_LIT(pk, TQ_ATQ_KW_SCHED);
        msgpack_pack_uint64(pk, (uint64_t)t->scheduled_us);
    }
    if (t->kind == TQ_KIND_SLEEP) {
        PACK_LIT(pk, TQ_ATQ_KW_SLEEP_MS);
        msgpack_pack_uint64(pk, (uint64_t)t->arg);
    } else if (t->kind == TQ_KIND_CPU) {
        PACK_LIT(pk, TQ_ATQ_KW_CPU_US);
        msgpack_pack_uint64(pk, (uint64_t)t->arg);
    }
    if (t->pad_len > 0) {
        PACK_LIT(pk, TQ_ATQ_KW_PAD);
        pack_pad(pk, t->pad_len);
    }
}

static int opt_str_ok(const char *s) { return s && *s; }

int tq_atq_encode(const struct tq_task *t, const struct tq_atq_opts *o, char *buf, size_t cap) {
    if (!t || !o || !buf) return -1;
    if ((int)t->kind < 0 || t->kind >= TQ_KIND__COUNT || !tq_name_valid(t->run) ||
        t->id > (uint64_t)INT_EXACT_MAX || t->arg < 0 || t->arg > INT_EXACT_MAX ||
        t->enqueued_us < 0 || t->enqueued_us > INT_EXACT_MAX || t->scheduled_us < 0 ||
        t->scheduled_us > INT_EXACT_MAX || t->attempt < 0 || t->max_attempts < 1 ||
        t->attempt >= t->max_attempts)
        return -1;
    if ((o->shape != TQ_ATQ_SHAPE_1X && o->shape != TQ_ATQ_SHAPE_09) ||
        !opt_str_ok(o->queue) || !opt_str_ok(o->func_module) || !opt_str_ok(o->cls) ||
        o->retry_delay < 0)
        return -1;
    int v1 = o->shape == TQ_ATQ_SHAPE_1X;
    int with_func_file = v1 && o->func_file;

    char task_id[TQ_ATQ_UUID_LEN + 1];
    tq_atq_task_id(task_id, t->run, t->id);
    char when[40];
    size_t when_len = format_iso(when, t->enqueued_us);

    struct out w = {buf, 0, cap, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, out_write);
    size_t nkw = kwargs_count(t);

    msgpack_pack_map(&pk, 3 + (o->class_file != NULL));
    PACK_LIT(&pk, "class");
    pack_cstr(&pk, o->cls);

    PACK_LIT(&pk, "params");
    if (v1) {
        msgpack_pack_map(&pk, 2);
    } else {
        /* 0.9 keeps FunctionTask's attributes, the kwargs among them, at the
         * top of params as well */
        msgpack_pack_map(&pk, nkw + 2);
        pack_kwargs(&pk, t);
    }
    PACK_LIT(&pk, "args");
    msgpack_pack_array(&pk, 0);
    PACK_LIT(&pk, "kwargs");
    msgpack_pack_map(&pk, nkw);
    pack_kwargs(&pk, t);

    PACK_LIT(&pk, "metadata");
    msgpack_pack_map(&pk, v1 ? 10 + (size_t)with_func_file : 9);
    PACK_LIT(&pk, "task_id");
    msgpack_pack_str(&pk, TQ_ATQ_UUID_LEN);
    msgpack_pack_str_body(&pk, task_id, TQ_ATQ_UUID_LEN);
    if (v1)
        PACK_LIT(&pk, "current_attempt");
    else
        PACK_LIT(&pk, "attempts");
    msgpack_pack_uint64(&pk, (uint64_t)t->attempt);
    PACK_LIT(&pk, "dispatched_at");
    msgpack_pack_str(&pk, when_len);
    msgpack_pack_str_body(&pk, when, when_len);
    PACK_LIT(&pk, "queue");
    pack_cstr(&pk, o->queue);
    if (v1) {
        PACK_LIT(&pk, "max_attempts");
        msgpack_pack_uint64(&pk, (uint64_t)t->max_attempts);
    } else {
        PACK_LIT(&pk, "max_retries");
        msgpack_pack_uint64(&pk, (uint64_t)t->max_attempts - 1);
    }
    PACK_LIT(&pk, "retry_delay");
    msgpack_pack_uint64(&pk, (uint64_t)o->retry_delay);
    PACK_LIT(&pk, "timeout");
    pack_int_or_nil(&pk, o->timeout);
    if (v1) {
        PACK_LIT(&pk, "visibility_timeout");
        pack_int_or_nil(&pk, o->visibility_timeout);
    }
    PACK_LIT(&pk, "func_module");
    pack_cstr(&pk, o->func_module);
    PACK_LIT(&pk, "func_name");
    pack_cstr(&pk, tq_task_kind_name(t->kind));
    if (with_func_file) {
        PACK_LIT(&pk, "func_file");
        pack_cstr(&pk, o->func_file);
    }
    if (o->class_file) {
        PACK_LIT(&pk, "class_file");
        pack_cstr(&pk, o->class_file);
    }
    if (w.full || w.len > INT_MAX) return -1;
    return (int)w.len;
}

/* ---- pre-scan: structure and sizes, before msgpack-c allocates ---- */

enum scan_result { SCAN_OK, SCAN_TRUNCATED, SCAN_BAD };

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Walks one complete msgpack object from buf. Every object takes at least
 * one byte, so "elements still to read" may never exceed the bytes left:
 * a header claiming more is a truncated (or lying) payload, refused before
 * msgpack-c would allocate room for it. *used gets the object's length. */
static enum scan_result scan(const unsigned char *buf, size_t len, size_t *used) {
    size_t pos = 0;
    uint64_t pending = 1;
    while (pending > 0) {
        if (pos >= len) return SCAN_TRUNCATED;
        unsigned c = buf[pos++];
        uint64_t body = 0, items = 0;
        int hdr = 0; /* bytes of length (or value) after the type byte */
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, false, true */
        } else if (c >= 0x80 && c <= 0x8f) {
            items = 2ULL * (c & 0x0f);
        } else if (c >= 0x90 && c <= 0x9f) {
            items = c & 0x0f;
        } else if (c >= 0xa0 && c <= 0xbf) {
            body = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4: case 0xd9: hdr = 1; break;               /* bin8, str8 */
            case 0xc5: case 0xda: hdr = 2; break;               /* bin16, str16 */
            case 0xc6: case 0xdb: hdr = 4; break;               /* bin32, str32 */
            case 0xc7: hdr = 1; body = 1; break;                /* ext8 (+type) */
            case 0xc8: hdr = 2; body = 1; break;                /* ext16 */
            case 0xc9: hdr = 4; body = 1; break;                /* ext32 */
            case 0xca: body = 4; break;                         /* float32 */
            case 0xcb: body = 8; break;                         /* float64 */
            case 0xcc: case 0xd0: body = 1; break;
            case 0xcd: case 0xd1: body = 2; break;
            case 0xce: case 0xd2: body = 4; break;
            case 0xcf: case 0xd3: body = 8; break;
            case 0xd4: body = 2; break;                         /* fixext1 */
            case 0xd5: body = 3; break;
            case 0xd6: body = 5; break;
            case 0xd7: body = 9; break;
            case 0xd8: body = 17; break;
            case 0xdc: case 0xde: hdr = 2; break;               /* array16, map16 */
            case 0xdd: case 0xdf: hdr = 4; break;               /* array32, map32 */
            default: return SCAN_BAD;                           /* 0xc1: never used */
            }
        }
        if (hdr) {
            if (len - pos < (size_t)hdr) return SCAN_TRUNCATED;
            uint64_t n = be(buf + pos, hdr);
            pos += (size_t)hdr;
            if (c == 0xdc || c == 0xdd)
                items = n;
            else if (c == 0xde || c == 0xdf)
                items = 2 * n;
            else
                body += n;
        }
        if (len - pos < body) return SCAN_TRUNCATED;
        pos += (size_t)body;
        pending = pending - 1 + items;
        if (pending > len - pos) return SCAN_TRUNCATED;
    }
    *used = pos;
    return SCAN_OK;
}

/* ---- decoding ---- */

struct ctx {
    char *err;
    size_t errlen;
};

static int fail(struct ctx *c, const char *fmt, const char *what) {
    if (c->err && c->errlen) snprintf(c->err, c->errlen, fmt, what);
    return -1;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key) {
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

enum field { F_ABSENT, F_OK, F_BAD };

/* Copies the string at map[key] into dst (truncating); name is the field's
 * full path for the error. nil_ok: nil gives "" and F_OK. */
static enum field get_str(struct ctx *c, const msgpack_object *map, const char *key,
                          const char *name, int required, int nil_ok, char *dst, size_t dstlen) {
    const msgpack_object *v = map_get(map, key);
    dst[0] = '\0';
    if (!v) {
        if (required) fail(c, "missing %s", name);
        return required ? F_BAD : F_ABSENT;
    }
    if (nil_ok && v->type == MSGPACK_OBJECT_NIL) return F_OK;
    if (v->type != MSGPACK_OBJECT_STR) {
        fail(c, "%s is not a string", name);
        return F_BAD;
    }
    size_t n = v->via.str.size < dstlen - 1 ? v->via.str.size : dstlen - 1;
    memcpy(dst, v->via.str.ptr, n);
    dst[n] = '\0';
    return F_OK;
}

/* A non-negative integer up to max at map[key]; nil gives -1 when nil_ok. */
static enum field get_int(struct ctx *c, const msgpack_object *map, const char *key,
                          const char *name, int required, int nil_ok, int64_t max, int64_t *out) {
    const msgpack_object *v = map_get(map, key);
    if (!v) {
        if (required) fail(c, "missing %s", name);
        return required ? F_BAD : F_ABSENT;
    }
    if (nil_ok && v->type == MSGPACK_OBJECT_NIL) {
        *out = -1;
        return F_OK;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        fail(c, "%s is not a non-negative integer", name);
        return F_BAD;
    }
    if (v->via.u64 > (uint64_t)max) {
        fail(c, "%s is out of range", name);
        return F_BAD;
    }
    *out = (int64_t)v->via.u64;
    return F_OK;
}

static const msgpack_object *get_map(struct ctx *c, const msgpack_object *map, const char *key,
                                     const char *name) {
    const msgpack_object *v = map_get(map, key);
    if (!v) {
        fail(c, "missing %s", name);
        return NULL;
    }
    if (v->type != MSGPACK_OBJECT_MAP) {
        fail(c, "%s is not a map", name);
        return NULL;
    }
    return v;
}

/* The tqbench kwargs, when present: all three of run, seq and enq, or none. */
static int decode_kwargs(struct ctx *c, const msgpack_object *kw, const char *func_name,
                         struct tq_task *out, int *has_tqbench) {
    char run[TQ_NAME_MAX + 1];
    enum field fr = get_str(c, kw, TQ_ATQ_KW_RUN, "params.kwargs." TQ_ATQ_KW_RUN, 0, 0, run,
                            sizeof run);
    if (fr == F_BAD) return -1;
    if (fr == F_OK) {
        if (!tq_name_valid(run)) return fail(c, "invalid run id in %s", "params.kwargs." TQ_ATQ_KW_RUN);
        memcpy(out->run, run, strlen(run) + 1);
    }
    int64_t seq = 0, enq = 0;
    enum field fs = get_int(c, kw, TQ_ATQ_KW_SEQ, "params.kwargs." TQ_ATQ_KW_SEQ, 0, 0,
                            INT_EXACT_MAX, &seq);
    if (fs == F_BAD) return -1;
    enum field fe = get_int(c, kw, TQ_ATQ_KW_ENQ, "params.kwargs." TQ_ATQ_KW_ENQ, 0, 0,
                            INT_EXACT_MAX, &enq);
    if (fe == F_BAD) return -1;
    int present = (fr == F_OK) + (fs == F_OK) + (fe == F_OK);
    *has_tqbench = present == 3;
    if (present == 0) return 0;
    if (present != 3)
        return fail(c, "missing %s (tqbench kwargs must come together)",
                    fr != F_OK ? "params.kwargs." TQ_ATQ_KW_RUN
                    : fs != F_OK ? "params.kwargs." TQ_ATQ_KW_SEQ
                                 : "params.kwargs." TQ_ATQ_KW_ENQ);
    out->id = (uint64_t)seq;
    out->enqueued_us = enq;
    if (get_int(c, kw, TQ_ATQ_KW_SCHED, "params.kwargs." TQ_ATQ_KW_SCHED, 0, 0, INT_EXACT_MAX,
                &out->scheduled_us) == F_BAD)
        return -1;
    int kind = tq_task_kind_parse(func_name);
    if (kind < 0) return fail(c, "unknown kind \"%s\" in metadata.func_name", func_name);
    out->kind = (enum tq_task_kind)kind;
    if (kind == TQ_KIND_SLEEP || kind == TQ_KIND_CPU) {
        const char *k = kind == TQ_KIND_SLEEP ? TQ_ATQ_KW_SLEEP_MS : TQ_ATQ_KW_CPU_US;
        const char *name = kind == TQ_KIND_SLEEP ? "params.kwargs." TQ_ATQ_KW_SLEEP_MS
                                                 : "params.kwargs." TQ_ATQ_KW_CPU_US;
        if (get_int(c, kw, k, name, 1, 0, INT_EXACT_MAX, &out->arg) != F_OK) return -1;
    }
    const msgpack_object *pad = map_get(kw, TQ_ATQ_KW_PAD);
    if (pad) {
        if (pad->type != MSGPACK_OBJECT_STR)
            return fail(c, "%s is not a string", "params.kwargs." TQ_ATQ_KW_PAD);
        out->pad_len = pad->via.str.size;
    }
    return 0;
}

static int decode_object(struct ctx *c, const msgpack_object *root, struct tq_task *out,
                         struct tq_atq_info *info) {
    if (root->type != MSGPACK_OBJECT_MAP) return fail(c, "%s", "payload is not a map");
    if (get_str(c, root, "class", "class", 1, 0, info->cls, sizeof info->cls) != F_OK) return -1;
    enum field f = get_str(c, root, "class_file", "class_file", 0, 0, info->class_file,
                           sizeof info->class_file);
    if (f == F_BAD) return -1;
    info->has_class_file = f == F_OK;

    const msgpack_object *params = get_map(c, root, "params", "params");
    if (!params) return -1;
    const msgpack_object *args = map_get(params, "args");
    if (!args) return fail(c, "missing %s", "params.args");
    if (args->type != MSGPACK_OBJECT_ARRAY) return fail(c, "%s is not an array", "params.args");
    const msgpack_object *kwargs = get_map(c, params, "kwargs", "params.kwargs");
    if (!kwargs) return -1;

    const msgpack_object *md = get_map(c, root, "metadata", "metadata");
    if (!md) return -1;
    int v1 = map_get(md, "current_attempt") != NULL;
    if (!v1 && !map_get(md, "attempts"))
        return fail(c, "missing %s", "metadata.current_attempt (1.x) or metadata.attempts (0.9)");
    info->shape = v1 ? TQ_ATQ_SHAPE_1X : TQ_ATQ_SHAPE_09;

    if (get_str(c, md, "task_id", "metadata.task_id", 1, 0, info->task_id,
                sizeof info->task_id) != F_OK ||
        get_str(c, md, "dispatched_at", "metadata.dispatched_at", 1, 1, info->dispatched_at,
                sizeof info->dispatched_at) != F_OK ||
        get_str(c, md, "queue", "metadata.queue", 1, 0, info->queue, sizeof info->queue) !=
            F_OK ||
        get_str(c, md, "func_module", "metadata.func_module", 1, 0, info->func_module,
                sizeof info->func_module) != F_OK ||
        get_str(c, md, "func_name", "metadata.func_name", 1, 0, info->func_name,
                sizeof info->func_name) != F_OK)
        return -1;
    f = get_str(c, md, "func_file", "metadata.func_file", 0, 0, info->func_file,
                sizeof info->func_file);
    if (f == F_BAD) return -1;
    info->has_func_file = f == F_OK;

    int64_t attempt, budget;
    if (v1) {
        if (get_int(c, md, "current_attempt", "metadata.current_attempt", 1, 0, INT_MAX - 1,
                    &attempt) != F_OK ||
            get_int(c, md, "max_attempts", "metadata.max_attempts", 1, 0, INT_MAX, &budget) !=
                F_OK)
            return -1;
    } else {
        if (get_int(c, md, "attempts", "metadata.attempts", 1, 0, INT_MAX - 1, &attempt) !=
                F_OK ||
            get_int(c, md, "max_retries", "metadata.max_retries", 1, 0, INT_MAX - 1, &budget) !=
                F_OK)
            return -1;
        budget += 1; /* retries after the first attempt */
    }
    if (get_int(c, md, "retry_delay", "metadata.retry_delay", 1, 0, INT64_MAX,
                &info->retry_delay) != F_OK ||
        get_int(c, md, "timeout", "metadata.timeout", 1, 1, INT64_MAX, &info->timeout) != F_OK)
        return -1;
    info->visibility_timeout = -1;
    if (v1 && get_int(c, md, "visibility_timeout", "metadata.visibility_timeout", 1, 1,
                      INT64_MAX, &info->visibility_timeout) != F_OK)
        return -1;

    if (decode_kwargs(c, kwargs, info->func_name, out, &info->has_tqbench) != 0) return -1;
    if (info->has_tqbench) {
        if (budget < 1) return fail(c, "%s must be >= 1", v1 ? "metadata.max_attempts"
                                                            : "metadata.max_retries + 1");
        if (attempt >= budget) return fail(c, "%s", "attempt >= max_attempts");
        out->attempt = (int)attempt;
        out->max_attempts = (int)budget;
    } else {
        /* AsyncTasQ's own client: its task and retry budget are not ours
         * to run; what can be measured is the time since dispatch. */
        if (info->dispatched_at[0] && parse_iso(info->dispatched_at, &out->enqueued_us) != 0)
            out->enqueued_us = 0;
    }
    return 0;
}

int tq_atq_decode(const char *buf, size_t len, struct tq_task *out, struct tq_atq_info *info,
                  char *err, size_t errlen) {
    struct ctx c = {err, errlen};
    struct tq_atq_info scratch;
    if (!info) info = &scratch;
    memset(out, 0, sizeof *out);
    out->max_attempts = 1;
    memset(info, 0, sizeof *info);
    if (err && errlen) err[0] = '\0';
    if (!buf) return fail(&c, "%s", "not msgpack");

    size_t used = 0;
    switch (scan((const unsigned char *)buf, len, &used)) {
    case SCAN_BAD: return fail(&c, "%s", "not msgpack");
    case SCAN_TRUNCATED: return fail(&c, "%s", len == 0 ? "empty payload" : "truncated");
    case SCAN_OK: break;
    }
    if (used != len) return fail(&c, "%s", "trailing bytes after the payload");

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, buf, len, &off);
    int rc;
    if (r == MSGPACK_UNPACK_SUCCESS)
        rc = decode_object(&c, &u.data, out, info);
    else
        /* The scan bounded the allocation by len, so what msgpack-c calls
         * NOMEM here is its fixed parse stack (32 levels) running out. */
        rc = fail(&c, "%s", r == MSGPACK_UNPACK_NOMEM_ERROR ? "nested too deeply" : "not msgpack");
    msgpack_unpacked_destroy(&u);
    if (rc != 0) {
        /* out->run stays only when it was read and valid (decode_kwargs
         * copies nothing else), so a failure still counts in its run */
        char run[TQ_NAME_MAX];
        memcpy(run, out->run, sizeof run);
        memset(out, 0, sizeof *out);
        out->max_attempts = 1;
        memcpy(out->run, run, sizeof run);
    }
    return rc;
}

void tq_atq_info_opts(const struct tq_atq_info *info, struct tq_atq_opts *o) {
    tq_atq_opts_init(o);
    o->shape = info->shape;
    o->queue = info->queue;
    o->func_module = info->func_module;
    o->cls = info->cls;
    o->func_file = info->has_func_file ? info->func_file : NULL;
    o->class_file = info->has_class_file ? info->class_file : NULL;
    o->retry_delay = info->retry_delay;
    o->timeout = info->timeout;
    o->visibility_timeout = info->visibility_timeout;
}

int tq_atq_key(char *buf, size_t n, const char *queue, const char *suffix) {
    if (!buf || !queue || !*queue) return -1;
    int k = snprintf(buf, n, TQ_ATQ_QUEUE_PREFIX "%s%s", queue, suffix ? suffix : "");
    if (k < 0 || (size_t)k >= n) return -1;
    return k;
}
