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

/* Consumes the literal lit when it is next (inlined: the lengths are
 * constants, so the compare is a few word loads). */
static inline __attribute__((always_inline)) int eat(struct cursor *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return 0;
    c->p += n;
    return 1;
}
#define EAT(c, lit) eat((c), (lit), sizeof(lit) - 1)

/* A canonical non-negative integer <= max (at most 16 digits, so 2^53 fits). */
static inline int eat_uint(struct cursor *c, int64_t max, int64_t *out) {
    const char *p = c->p;
    const char *lim = c->end - p > 17 ? p + 17 : c->end;
    uint64_t v = 0;
    while (p < lim) {
        unsigned d = (unsigned)(unsigned char)*p - '0';
        if (d > 9) break;
        v = v * 10 + d;
        p++;
    }
    size_t n = (size_t)(p - c->p);
    if (n == 0 || n > 16 || (n > 1 && c->p[0] == '0') || v > (uint64_t)max) return 0;
    c->p = p;
    *out = (int64_t)v;
    return 1;
}

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

/* A run id up to its closing quote: 1..TQ_NAME_MAX-1 bytes of tq_name_valid's
 * alphabet, copied into out. */
static inline int eat_name(struct cursor *c, char out[TQ_NAME_MAX]) {
    const char *p = c->p;
    const char *lim = c->end - p > TQ_NAME_MAX ? p + TQ_NAME_MAX : c->end;
    while (p < lim && *p != '"') {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '@' || ch == '-'))
            return 0;
        p++;
    }
    size_t n = (size_t)(p - c->p);
    if (p >= lim || n == 0 || n >= TQ_NAME_MAX) return 0;
    memcpy(out, c->p, n);
    out[n] = '\0';
    c->p = p + 1;
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
    const int64_t json_max = (int64_t)1 << 53;
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
