/* tq_task.c - the native task codec (see tq_task.h).
 *
 * Encoding is the producer's hot path (about a million tasks per second), so
 * it writes digits straight into the caller's buffer: no allocation, no
 * printf. Decoding goes through cJSON (then one walk over the object's
 * members) and is strict about every field the worker relies on, but ignores
 * keys it does not know so newer producers can add fields without breaking
 * older workers. */
#include "tq_log.h"
#include "tq_task.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[TQ_KIND__COUNT] = {"noop", "sleep", "cpu", "fail"};

/* Largest integer a JSON number (an IEEE double in cJSON) holds exactly. */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53 */

const char *tq_task_kind_name(enum tq_task_kind kind) {
    if ((int)kind < 0 || kind >= TQ_KIND__COUNT) return "unknown";
    return kind_names[kind];
}

int tq_task_kind_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < TQ_KIND__COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0) return i;
    return -1;
}

/* Appends a literal or a decimal to a bounded buffer; both return the new
 * position, or NULL once the buffer is full (and stay NULL after that). */
static char *put_str(char *p, const char *end, const char *s, size_t n) {
    if (!p || (size_t)(end - p) < n) return NULL;
    memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, end, lit) put_str((p), (end), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, const char *end, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put_str(p, end, tmp + sizeof tmp - n, (size_t)n);
}

int tq_task_encode(const struct tq_task *t, char *buf, size_t cap) {
    if (!t || !buf) return -1;
    const int64_t json_max = (int64_t)1 << 53;
    if ((int)t->kind < 0 || t->kind >= TQ_KIND__COUNT || !tq_name_valid(t->run) ||
        t->id > (uint64_t)json_max || t->arg < 0 || t->arg > json_max || t->enqueued_us < 0 ||
        t->enqueued_us > json_max || t->scheduled_us < 0 || t->scheduled_us > json_max ||
        t->attempt < 0 || t->max_attempts < 1 || t->attempt >= t->max_attempts)
        return -1;
    char *p = buf;
    const char *end = buf + cap;
    const char *kind = kind_names[t->kind];
    p = PUT_LIT(p, end, "{\"id\":");
    p = put_u64(p, end, t->id);
    p = PUT_LIT(p, end, ",\"run\":\"");
    p = put_str(p, end, t->run, strlen(t->run)); /* tq_name_valid: nothing to escape */
    p = PUT_LIT(p, end, "\",\"kind\":\"");
    p = put_str(p, end, kind, strlen(kind));
    p = PUT_LIT(p, end, "\",\"arg\":");
    p = put_u64(p, end, (uint64_t)t->arg);
    p = PUT_LIT(p, end, ",\"enq\":");
    p = put_u64(p, end, (uint64_t)t->enqueued_us);
    if (t->scheduled_us != 0) {
        p = PUT_LIT(p, end, ",\"sched\":");
        p = put_u64(p, end, (uint64_t)t->scheduled_us);
    }
    p = PUT_LIT(p, end, ",\"attempt\":");
    p = put_u64(p, end, (uint64_t)t->attempt);
    p = PUT_LIT(p, end, ",\"max_attempts\":");
    p = put_u64(p, end, (uint64_t)t->max_attempts);
    if (t->pad_len > 0) {
        p = PUT_LIT(p, end, ",\"pad\":\"");
        if (p && (size_t)(end - p) >= t->pad_len) {
            memset(p, 'x', t->pad_len);
            p += t->pad_len;
        } else {
            p = NULL;
        }
        p = PUT_LIT(p, end, "\"");
    }
    p = PUT_LIT(p, end, "}");
    if (!p) return -1;
    size_t len = (size_t)(p - buf);
    if (len > (size_t)INT32_MAX) return -1;
    if (len < cap) buf[len] = '\0';
    return (int)len;
}

enum field_rc { FIELD_OK = 0, FIELD_ABSENT = 1, FIELD_BAD = -1 };

/* Reads the integer field it (NULL when the payload lacks it). Fails (with
 * err) on a wrong type, a fraction, a value beyond what a JSON number holds
 * exactly, or a value below min. */
static enum field_rc get_int(const cJSON *it, const char *name, int required, double min,
                             double max, int64_t *out, char *err, size_t errlen) {
    if (!it) {
        if (required) {
            snprintf(err, errlen, "missing field \"%s\"", name);
            return FIELD_BAD;
        }
        return FIELD_ABSENT;
    }
    if (!cJSON_IsNumber(it)) {
        snprintf(err, errlen, "field \"%s\" has wrong type (want an integer)", name);
        return FIELD_BAD;
    }
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v)) {
        snprintf(err, errlen, "field \"%s\" has wrong type (want an integer, got %g)", name, v);
        return FIELD_BAD;
    }
    if (v < 0) {
        snprintf(err, errlen, "negative value in \"%s\" (%.0f)", name, v);
        return FIELD_BAD;
    }
    if (v < min) {
        snprintf(err, errlen, "field \"%s\" must be >= %.0f (got %.0f)", name, min, v);
        return FIELD_BAD;
    }
    if (v > max) {
        snprintf(err, errlen, "field \"%s\" out of range (%.0f > %.0f)", name, v, max);
        return FIELD_BAD;
    }
    *out = (int64_t)v;
    return FIELD_OK;
}

/* Reads the required string field it (NULL when the payload lacks it).
 * Returns its text, or NULL with err set. */
static const char *get_str(const cJSON *it, const char *name, char *err, size_t errlen) {
    if (!it) {
        snprintf(err, errlen, "missing field \"%s\"", name);
        return NULL;
    }
    if (!cJSON_IsString(it) || !it->valuestring) {
        snprintf(err, errlen, "field \"%s\" has wrong type (want a string)", name);
        return NULL;
    }
    return it->valuestring;
}

/* The fields a task is made of, as found in the object (NULL: absent). */
struct task_fields {
    const cJSON *id, *run, *kind, *arg, *enq, *sched, *attempt, *max_attempts, *pad;
};

/* Sorts the object's members into f in one walk: looking each field up by
 * name walked the member list once per field, the largest cost of decoding
 * after cJSON's own parse. Like cJSON_GetObjectItemCaseSensitive, the first
 * member of a name wins and names compare as C strings; other names are
 * ignored (newer producers may add fields). */
static void collect_fields(const cJSON *obj, struct task_fields *f) {
    *f = (struct task_fields){0};
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *k = it->string;
        const cJSON **slot = NULL;
        if (!k) continue;
        switch (k[0]) {
        case 'i': if (strcmp(k, "id") == 0) slot = &f->id; break;
        case 'r': if (strcmp(k, "run") == 0) slot = &f->run; break;
        case 'k': if (strcmp(k, "kind") == 0) slot = &f->kind; break;
        case 'a':
            if (strcmp(k, "arg") == 0) slot = &f->arg;
            else if (strcmp(k, "attempt") == 0) slot = &f->attempt;
            break;
        case 'e': if (strcmp(k, "enq") == 0) slot = &f->enq; break;
        case 's': if (strcmp(k, "sched") == 0) slot = &f->sched; break;
        case 'm': if (strcmp(k, "max_attempts") == 0) slot = &f->max_attempts; break;
        case 'p': if (strcmp(k, "pad") == 0) slot = &f->pad; break;
        default: break;
        }
        if (slot && !*slot) *slot = it;
    }
}

/* Checks the fields in a fixed order (so a payload with several problems
 * always reports the same one) and fills out. */
static int decode_object(const cJSON *obj, struct tq_task *out, char *err, size_t errlen) {
    char q[48];
    struct task_fields f;
    collect_fields(obj, &f);
    /* The run id first, so a later error can still be counted in its run. */
    const char *run = get_str(f.run, "run", err, errlen);
    if (!run) return -1;
    if (!tq_name_valid(run)) {
        snprintf(err, errlen, "invalid run id \"%s\"",
                 tq_log_excerpt(run, (size_t)-1, 40, q, sizeof q));
        return -1;
    }
    memcpy(out->run, run, strlen(run) + 1);

    int64_t v;
    if (get_int(f.id, "id", 1, 0, JSON_INT_MAX, &v, err, errlen) != FIELD_OK) return -1;
    out->id = (uint64_t)v;

    const char *kind = get_str(f.kind, "kind", err, errlen);
    if (!kind) return -1;
    int k = tq_task_kind_parse(kind);
    if (k < 0) {
        snprintf(err, errlen, "unknown kind \"%s\"",
                 tq_log_excerpt(kind, (size_t)-1, 40, q, sizeof q));
        return -1;
    }
    out->kind = (enum tq_task_kind)k;

    if (get_int(f.arg, "arg", 0, 0, JSON_INT_MAX, &out->arg, err, errlen) == FIELD_BAD) return -1;
    if (get_int(f.enq, "enq", 1, 0, JSON_INT_MAX, &out->enqueued_us, err, errlen) != FIELD_OK)
        return -1;
    if (get_int(f.sched, "sched", 0, 0, JSON_INT_MAX, &out->scheduled_us, err, errlen) ==
        FIELD_BAD)
        return -1;
    v = 0;
    if (get_int(f.attempt, "attempt", 0, 0, 1e9, &v, err, errlen) == FIELD_BAD) return -1;
    out->attempt = (int)v;
    v = 1;
    if (get_int(f.max_attempts, "max_attempts", 0, 1, 1e9, &v, err, errlen) == FIELD_BAD)
        return -1;
    out->max_attempts = (int)v;
    if (out->attempt >= out->max_attempts) {
        snprintf(err, errlen, "attempt >= max_attempts (%d >= %d)", out->attempt,
                 out->max_attempts);
        return -1;
    }
    if (f.pad && cJSON_IsString(f.pad) && f.pad->valuestring)
        out->pad_len = strlen(f.pad->valuestring);
    return 0;
}

/* --- the canonical fast path -------------------------------------------------
 * tqworker decodes a million tasks a second, and cJSON (a node allocated per
 * member, strtod per number) was most of its per-task cost. Nearly every
 * payload is exactly what tq_task_encode writes, so that one byte form is read
 * directly: the members in the encoder's order, no whitespace, integers without
 * sign, fraction, exponent or leading zero, strings without escapes. Whatever
 * differs in any way (another producer's spacing or key order, an unknown
 * key, a value the checks would refuse) falls back to the cJSON decoder, so
 * the fast path changes no result and no error message: it accepts only
 * payloads that decoder accepts, with the same fields (fuzz_task checks both
 * agree on arbitrary bytes). */

struct cursor {
    const char *p, *end;
};

/* Loads n (1, 2, 4 or 8) bytes at p as an integer of that width. */
static inline __attribute__((always_inline)) uint64_t load_n(const char *p, size_t n) {
    uint64_t v8;
    uint32_t v4;
    uint16_t v2;
    switch (n) {
    case 8: memcpy(&v8, p, 8); return v8;
    case 4: memcpy(&v4, p, 4); return v4;
    case 2: memcpy(&v2, p, 2); return v2;
    default: return (unsigned char)*p;
    }
}

/* Non-zero when the n bytes at p differ from lit's: 8-byte words, the last
 * one overlapping, or two overlapping halves below 8 (n is a constant once
 * inlined, so lit's words are constants too; memcmp was a library call for
 * the 16-byte key). */
static inline __attribute__((always_inline)) uint64_t differs(const char *p, const char *lit,
                                                              size_t n) {
    if (n >= 8) {
        uint64_t d = 0;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) d |= load_n(p + i, 8) ^ load_n(lit + i, 8);
        if (i < n) d |= load_n(p + n - 8, 8) ^ load_n(lit + n - 8, 8);
        return d;
    }
    size_t h = n >= 4 ? 4 : n >= 2 ? 2 : 1;
    return (load_n(p, h) ^ load_n(lit, h)) | (load_n(p + n - h, h) ^ load_n(lit + n - h, h));
}

/* Consumes the literal lit when it is next. */
static inline __attribute__((always_inline)) int eat(struct cursor *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || differs(c->p, lit, n)) return 0;
    c->p += n;
    return 1;
}
#define EAT(c, lit) eat((c), (lit), sizeof(lit) - 1)

/* A canonical non-negative integer <= max at start, byte by byte: at most
 * 16 digits (so 2^53 fits), no leading zero. Returns the byte after it, or
 * NULL (pointers in and out, so the callers' cursor stays in registers). */
static const char *uint_bytes(const char *start, const char *end, uint64_t max, int64_t *out) {
    const char *p = start;
    const char *lim = end - p > 17 ? p + 17 : end;
    uint64_t v = 0;
    while (p < lim) {
        unsigned d = (unsigned)(unsigned char)*p - '0';
        if (d > 9) break;
        v = v * 10 + d;
        p++;
    }
    size_t n = (size_t)(p - start);
    if (n == 0 || n > 16 || (n > 1 && start[0] == '0') || v > max) return NULL;
    *out = (int64_t)v;
    return p;
}

static inline int eat_uint_bytes(struct cursor *c, uint64_t max, int64_t *out) {
    const char *p = uint_bytes(c->p, c->end, max, out);
    if (!p) return 0;
    c->p = p;
    return 1;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight bytes at a time (SWAR), the first byte in the word's low byte: the
 * numbers are most of a task's bytes (the 16-digit enqueue stamp alone), and
 * a loop per digit was the largest part of decoding. */

/* x: 8 bytes XOR '0' (a digit byte is then 0..9). Returns a word whose byte
 * is non-zero exactly where the byte is not an ASCII digit. */
static inline uint64_t swar_nondigits(uint64_t x) {
    uint64_t lo = x & 0x0F0F0F0F0F0F0F0FULL;
    return (x & 0xF0F0F0F0F0F0F0F0ULL) | ((lo + 0x0606060606060606ULL) & 0x1010101010101010ULL);
}

/* The value of 8 digit bytes (XOR '0'), the first one most significant;
 * leading zero bytes are leading zero digits. */
static inline uint64_t swar_value8(uint64_t x) {
    x = (x * 2561) >> 8;                                 /* pairs of digits */
    x = ((x & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;    /* groups of four */
    return ((x & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32;
}

static const uint64_t pow10_u64[8] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};

/* eat_uint_bytes's results (up to 16 digits, a 17th refuses the number, no
 * leading zero, v <= max), a single digit at once and longer numbers word by
 * word when 16 bytes are left. */
static inline __attribute__((always_inline)) int eat_uint(struct cursor *c, uint64_t max,
                                                          int64_t *out) {
    const char *p = c->p;
    ptrdiff_t left = c->end - p;
    if (left < 2) return eat_uint_bytes(c, max, out);
    unsigned d0 = (unsigned)(unsigned char)p[0] - '0';
    if (d0 > 9) return 0;
    if ((unsigned)(unsigned char)p[1] - '0' > 9) { /* one digit: attempt, arg, ... */
        if (d0 > max) return 0;
        c->p = p + 1;
        *out = (int64_t)d0;
        return 1;
    }
    if (left < 16) return eat_uint_bytes(c, max, out);
    if (d0 == 0) return 0; /* a leading zero */
    uint64_t x, v;
    size_t n;
    memcpy(&x, p, 8);
    x ^= 0x3030303030303030ULL;
    uint64_t m = swar_nondigits(x);
    if (m) {
        n = (size_t)__builtin_ctzll(m) / 8; /* >= 2 */
        v = swar_value8(x << (64 - 8 * n));
    } else {
        uint64_t y;
        memcpy(&y, p + 8, 8);
        y ^= 0x3030303030303030ULL;
        m = swar_nondigits(y);
        v = swar_value8(x);
        if (m) {
            size_t k = (size_t)__builtin_ctzll(m) / 8;
            n = 8 + k;
            if (k) v = v * pow10_u64[k] + swar_value8(y << (64 - 8 * k));
        } else {
            n = 16;
            if (c->end - p > 16 && (unsigned)(unsigned char)p[16] - '0' <= 9) return 0;
            v = v * 100000000 + swar_value8(y);
        }
    }
    if (v > max) return 0;
    c->p = p + n;
    *out = (int64_t)v;
    return 1;
}
#else
#define eat_uint eat_uint_bytes
#endif

/* A string of plain printable bytes (no quote, backslash or control byte)
 * up to its closing quote; returns its start and length. */
static inline int eat_plain_str(struct cursor *c, const char **s, size_t *n) {
    const char *p = c->p;
    while (p < c->end && *p != '"') {
        if ((unsigned char)*p < 0x20 || *p == '\\') return 0;
        p++;
    }
    if (p >= c->end) return 0;
    *s = c->p;
    *n = (size_t)(p - c->p);
    c->p = p + 1;
    return 1;
}

/* The bytes of tq_name_valid's alphabet: one load per byte, not seven
 * compares. */
static const unsigned char name_byte[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1,
    ['.'] = 1,         ['_'] = 1,         ['@'] = 1,         ['-'] = 1,
};

/* A run id up to its closing quote: 1..TQ_NAME_MAX-1 bytes of tq_name_valid's
 * alphabet, copied into out (scratch when it is not one). */
static inline int eat_name(struct cursor *c, char out[TQ_NAME_MAX]) {
    const unsigned char *p = (const unsigned char *)c->p;
    size_t left = (size_t)(c->end - c->p);
    size_t lim = left > TQ_NAME_MAX ? TQ_NAME_MAX : left;
    size_t n = 0;
    /* eight bytes per test while they fit (a quote ends the name and the
     * chunk's test), then byte by byte */
    while (n + 8 <= lim && (name_byte[p[n]] & name_byte[p[n + 1]] & name_byte[p[n + 2]] &
                            name_byte[p[n + 3]] & name_byte[p[n + 4]] & name_byte[p[n + 5]] &
                            name_byte[p[n + 6]] & name_byte[p[n + 7]])) {
        memcpy(out + n, p + n, 8);
        n += 8;
    }
    while (n < lim && name_byte[p[n]]) {
        out[n] = (char)p[n];
        n++;
    }
    if (n == 0 || n >= lim || p[n] != '"') return 0;
    out[n] = '\0';
    c->p += n + 1;
    return 1;
}

/* A kind name and its closing quote. */
static inline int eat_kind(struct cursor *c, int *kind) {
    if (EAT(c, "noop\"")) *kind = TQ_KIND_NOOP;
    else if (EAT(c, "sleep\"")) *kind = TQ_KIND_SLEEP;
    else if (EAT(c, "cpu\"")) *kind = TQ_KIND_CPU;
    else if (EAT(c, "fail\"")) *kind = TQ_KIND_FAIL;
    else return 0;
    return 1;
}

/* Returns 0 with out filled when buf is canonical, -1 (out untouched but
 * for scratch) when the cJSON decoder must decide. */
static int decode_canonical(const char *buf, size_t len, struct tq_task *out) {
    struct cursor c = {buf, buf + len};
    const uint64_t json_max = (uint64_t)1 << 53;
    int64_t id, arg, enq, sched = 0, attempt, max_attempts;
    const char *s;
    int kind;
    if (!EAT(&c, "{\"id\":") || !eat_uint(&c, json_max, &id) || !EAT(&c, ",\"run\":\"") ||
        !eat_name(&c, out->run) || !EAT(&c, ",\"kind\":\"") || !eat_kind(&c, &kind) ||
        !EAT(&c, ",\"arg\":") || !eat_uint(&c, json_max, &arg) || !EAT(&c, ",\"enq\":") ||
        !eat_uint(&c, json_max, &enq))
        return -1;
    if (EAT(&c, ",\"sched\":") && !eat_uint(&c, json_max, &sched)) return -1;
    if (!EAT(&c, ",\"attempt\":") || !eat_uint(&c, 1000000000, &attempt) ||
        !EAT(&c, ",\"max_attempts\":") || !eat_uint(&c, 1000000000, &max_attempts) ||
        max_attempts < 1 || attempt >= max_attempts)
        return -1;
    size_t pad = 0;
    if (EAT(&c, ",\"pad\":\"") && !eat_plain_str(&c, &s, &pad)) return -1;
    if (!EAT(&c, "}") || c.p != c.end) return -1;
    out->id = (uint64_t)id;
    out->kind = (enum tq_task_kind)kind;
    out->arg = arg;
    out->enqueued_us = enq;
    out->scheduled_us = sched;
    out->attempt = (int)attempt;
    out->max_attempts = (int)max_attempts;
    out->pad_len = pad;
    return 0;
}

int tq_task_decode(const char *buf, size_t len, struct tq_task *out, char *err, size_t errlen) {
    if (buf && decode_canonical(buf, len, out) == 0) {
        if (errlen > 0) err[0] = '\0';
        return 0;
    }
    return tq_task_decode_json(buf, len, out, err, errlen);
}

int tq_task_decode_json(const char *buf, size_t len, struct tq_task *out, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    out->max_attempts = 1;
    if (errlen > 0) err[0] = '\0';
    if (!buf || len == 0) {
        snprintf(err, errlen, "not JSON (empty payload)");
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t at = (end && end >= buf && end <= buf + len) ? (size_t)(end - buf) : 0;
        snprintf(err, errlen, "not JSON (syntax error at byte %zu of %zu)", at, len);
        return -1;
    }
    /* cJSON stops after the first value: anything but whitespace after it is
     * a malformed payload, not a task plus noise. */
    for (const char *p = end; p && p < buf + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            snprintf(err, errlen, "not JSON (trailing bytes at byte %zu of %zu)",
                     (size_t)(p - buf), len);
            cJSON_Delete(root);
            return -1;
        }
    }
    int rc;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "not a JSON object");
        rc = -1;
    } else {
        rc = decode_object(root, out, err, errlen);
    }
    cJSON_Delete(root);
    if (rc != 0) {
        /* Keep only the run id (when it was read) for counting the failure. */
        char run[TQ_NAME_MAX];
        memcpy(run, out->run, sizeof run);
        memset(out, 0, sizeof *out);
        out->max_attempts = 1;
        memcpy(out->run, run, sizeof run);
    }
    return rc;
}
