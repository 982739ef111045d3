/* cleanup.c - deleting tqbench's keys (see cleanup.h): SCAN-and-DEL of a
 * run's keys at prepare and teardown, the live/meta announcement of a run
 * that goes on, and `tqbench clean`, which deletes only what belongs to runs
 * that are over. Every command goes through tq_redis_command_argv: keys come
 * from SCAN and may hold any byte, so nothing is formatted into a command
 * string. */
#include "cleanup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tq_clock.h"
#include "tq_keys.h"
#include "tq_redis.h"

#define SCAN_COUNT "1000"
#define DEL_BATCH 500            /* keys per DEL / EVAL: bounded argv and Lua stack */
#define KEEPALIVE_EVERY_US 1000000
#define KEPT_QUEUES_LISTED 10    /* kept queues named in the output; the rest counted */
#define WARMUP_SUFFIX "-warmup"
/* a multi-queue run's per-queue sub-runs: "<run>-q0".."<run>-q9" */
#define QUEUE_SUFFIX "-q"

/* Deletes KEYS[2..] only while the run's live key KEYS[1] does not exist, in
 * one step: a run that announced itself after the clean looked is never
 * touched. -1 when it is live, else what DEL returned. */
static const char del_if_dead_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end "
    "if #KEYS < 2 then return 0 end "
    "return redis.call('DEL', unpack(KEYS, 2))";

/* argv with lengths from strlen, for arguments that are C strings. */
static redisReply *command_strs(redisContext *c, char *err, size_t errlen, int argc,
                                const char **argv) {
    size_t lens[16];
    if (argc > (int)(sizeof lens / sizeof lens[0])) {
        snprintf(err, errlen, "internal: %d arguments to %s", argc, argv[0]);
        return NULL;
    }
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    return tq_redis_command_argv(c, err, errlen, argc, argv, lens);
}

/* "P:run:<run_id>:<name>", or -1 when it does not fit. */
static int run_key(char *buf, size_t n, const char *prefix, const char *run_id, const char *name) {
    int len = tq_key_run_pattern(buf, n, prefix, run_id); /* "P:run:<run_id>:*" */
    if (len <= 0 || (size_t)len - 1 + strlen(name) + 1 > n) return -1;
    snprintf(buf + len - 1, n - (size_t)(len - 1), "%s", name);
    return 0;
}

/* SCAN MATCH pattern, calling fn for every page of keys. */
typedef int (*scan_page_fn)(redisContext *c, const redisReply *keys, void *arg, char *err,
                            size_t errlen);

static int scan_pages(redisContext *c, const char *pattern, scan_page_fn fn, void *arg, char *err,
                      size_t errlen) {
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
        redisReply *r = command_strs(c, err, errlen, 6, argv);
        if (!r) return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "SCAN %s: unexpected reply", pattern);
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        int rc = r->element[1]->elements > 0 ? fn(c, r->element[1], arg, err, errlen) : 0;
        freeReplyObject(r);
        if (rc != 0) return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int del_page(redisContext *c, const redisReply *keys, void *arg, char *err,
                    size_t errlen) {
    long *deleted = arg;
    const char **argv = malloc((keys->elements + 1) * sizeof *argv);
    size_t *lens = malloc((keys->elements + 1) * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        snprintf(err, errlen, "out of memory for a DEL of %zu keys", keys->elements);
        return -1;
    }
    argv[0] = "DEL";
    lens[0] = 3;
    for (size_t i = 0; i < keys->elements; i++) {
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    redisReply *d = tq_redis_command_argv(c, err, errlen, (int)keys->elements + 1, argv, lens);
    free(argv);
    free(lens);
    if (!d) return -1;
    if (deleted && d->type == REDIS_REPLY_INTEGER) *deleted += (long)d->integer;
    freeReplyObject(d);
    return 0;
}

int cleanup_pattern(redisContext *c, const char *pattern, long *deleted, char *err, size_t errlen) {
    return scan_pages(c, pattern, del_page, deleted, err, errlen);
}

int cleanup_run(redisContext *c, const char *prefix, const char *run_id, long *deleted, char *err,
                size_t errlen) {
    char pattern[TQ_KEY_MAX], sub[TQ_NAME_MAX + 16];
    if (tq_key_run_pattern(pattern, sizeof pattern, prefix, run_id) < 0) {
        snprintf(err, errlen, "run id %s too long for a key", run_id);
        return -1;
    }
    if (cleanup_pattern(c, pattern, deleted, err, errlen) != 0) return -1;
    snprintf(sub, sizeof sub, "%s" WARMUP_SUFFIX, run_id);
    if (tq_key_run_pattern(pattern, sizeof pattern, prefix, sub) < 0) return 0;
    if (cleanup_pattern(c, pattern, deleted, err, errlen) != 0) return -1;
    /* run ids hold no glob character: '?' is the queue's digit */
    snprintf(sub, sizeof sub, "%s" QUEUE_SUFFIX "?", run_id);
    if (tq_key_run_pattern(pattern, sizeof pattern, prefix, sub) < 0) return 0;
    return cleanup_pattern(c, pattern, deleted, err, errlen);
}

/* --- announcing a run ---------------------------------------------------- */

static void live_value(char *buf, size_t n, int64_t started_us) {
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    host[strcspn(host, " ")] = '\0'; /* the value is space-separated */
    snprintf(buf, n, "%.64s %ld %lld", host, (long)getpid(), (long long)started_us);
}

static int set_live(redisContext *c, const char *key, const char *value, int ttl_ms, char *err,
                    size_t errlen) {
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", ttl_ms > 0 ? ttl_ms : CLEANUP_LIVE_TTL_MS);
    const char *argv[] = {"SET", key, value, "PX", ttl};
    redisReply *r = command_strs(c, err, errlen, 5, argv);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int cleanup_run_announce(redisContext *c, struct cleanup_live *lv, const char *prefix,
                         const char *run_id, const char *queue_key, int created_queue, int ttl_ms,
                         char *err, size_t errlen) {
    char meta[TQ_KEY_MAX];
    memset(lv, 0, sizeof *lv);
    if (run_key(lv->key, sizeof lv->key, prefix, run_id, "live") != 0 ||
        run_key(meta, sizeof meta, prefix, run_id, "meta") != 0) {
        snprintf(err, errlen, "run id %s too long for a key", run_id);
        return -1;
    }
    lv->ttl_ms = ttl_ms > 0 ? ttl_ms : CLEANUP_LIVE_TTL_MS;
    live_value(lv->value, sizeof lv->value, tq_clock_wall_us());
    lv->refreshed_mono_us = tq_clock_mono_us();
    /* live first: a clean that finds the meta finds the run live too */
    if (set_live(c, lv->key, lv->value, lv->ttl_ms, err, errlen) != 0) return -1;
    char host[256] = "", pid[24] = "", started_s[24] = "";
    sscanf(lv->value, "%255s %23s %23s", host, pid, started_s);
    const char *argv[] = {"HSET",  meta,        "queue_key", queue_key,
                          "created_queue", created_queue ? "1" : "0",
                          "host",  host,        "pid",       pid,
                          "started_us", started_s};
    redisReply *r = command_strs(c, err, errlen, 12, argv);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int cleanup_run_keepalive(redisContext *c, struct cleanup_live *lv, char *err, size_t errlen) {
    if (!lv->key[0]) return 0; /* not announced */
    int64_t now = tq_clock_mono_us();
    if (now - lv->refreshed_mono_us < KEEPALIVE_EVERY_US) return 0;
    /* a failed refresh waits its turn too: no command storm on a sick Redis */
    lv->refreshed_mono_us = now;
    /* SET rather than PEXPIRE: a key that expired (a phase longer than the
     * TTL without a refresh) comes back */
    return set_live(c, lv->key, lv->value, lv->ttl_ms, err, errlen) == 0 ? 1 : -1;
}

/* --- tqbench clean ------------------------------------------------------- */

/* One P:run:<run>:<name> key, grouped by its run: base is the run's id in
 * key (a warm-up's "<run>-warmup" counts as <run>). */
struct run_keyref {
    char *key;
    size_t len;
    size_t base_off, base_len;
};

struct key_list {
    struct run_keyref *v;
    size_t n, cap;
    size_t prefix_len; /* strlen("P:run:") */
    long odd;          /* P:run:* keys without a run id and a name */
};

static void key_list_free(struct key_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].key);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int collect_page(redisContext *c, const redisReply *keys, void *arg, char *err,
                        size_t errlen) {
    (void)c;
    struct key_list *l = arg;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= l->prefix_len) continue;
        const char *id = k->str + l->prefix_len;
        size_t idlen = k->len - l->prefix_len;
        const char *colon = memchr(id, ':', idlen);
        size_t run_len = colon ? (size_t)(colon - id) : 0;
        /* "P:run:x" or "P:run::x" or "P:run:x:": not a run's key, and no
         * run id a live key could be checked under */
        if (run_len == 0 || run_len >= TQ_NAME_MAX || run_len + 1 == idlen) {
            l->odd++;
            continue;
        }
        size_t base_len = run_len;
        size_t sl = strlen(WARMUP_SUFFIX);
        if (run_len > sl && memcmp(id + run_len - sl, WARMUP_SUFFIX, sl) == 0) base_len -= sl;
        else if (run_len > 3 && memcmp(id + run_len - 3, QUEUE_SUFFIX, 2) == 0 &&
                 id[run_len - 1] >= '0' && id[run_len - 1] <= '9')
            base_len -= 3;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            struct run_keyref *v = realloc(l->v, cap * sizeof *v);
            if (!v) goto oom;
            l->v = v;
            l->cap = cap;
        }
        char *copy = malloc(k->len + 1);
        if (!copy) goto oom;
        memcpy(copy, k->str, k->len);
        copy[k->len] = '\0';
        l->v[l->n++] = (struct run_keyref){copy, k->len, l->prefix_len, base_len};
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory for the list of run keys");
    return -1;
}

static int keyref_cmp(const void *a, const void *b) {
    const struct run_keyref *x = a, *y = b;
    size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
    int c = memcmp(x->key + x->base_off, y->key + y->base_off, n);
    if (c != 0) return c;
    if (x->base_len != y->base_len) return x->base_len < y->base_len ? -1 : 1;
    n = x->len < y->len ? x->len : y->len;
    c = memcmp(x->key, y->key, n);
    if (c != 0) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Queues deleted (or, dry, to be deleted): not reported among the kept ones. */
struct name_set {
    char **v;
    size_t n, cap;
};

static int name_set_add(struct name_set *s, const char *name) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(name))) return -1;
    s->n++;
    return 0;
}

static int name_set_has(const struct name_set *s, const char *name, size_t len) {
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], name, len) == 0) return 1;
    return 0;
}

static void name_set_free(struct name_set *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

struct clean_ctx {
    redisContext *c;
    const char *prefix;
    int dry;
    FILE *out;
    struct cleanup_totals *t;
    struct name_set queues; /* deleted, or would be */
    long kept_listed;
    char kept[KEPT_QUEUES_LISTED * 96];
};

/* 1 when c's connection failed (the error is not about one key). */
static int link_lost(const redisContext *c) { return c->err != 0; }

/* "(driver pid N on host H, started S s ago)" from "host pid started_us". */
static void driver_desc(char *buf, size_t n, const char *host, const char *pid,
                        const char *started_us) {
    if (!host[0] && !pid[0]) {
        snprintf(buf, n, "(no record of its driver)");
        return;
    }
    long long st = atoll(started_us);
    long long age = st > 0 ? (tq_clock_wall_us() - st) / 1000000 : -1;
    if (age >= 0)
        snprintf(buf, n, "(driver pid %s on host %s, started %llds ago)", pid[0] ? pid : "?",
                 host[0] ? host : "?", age);
    else
        snprintf(buf, n, "(driver pid %s on host %s)", pid[0] ? pid : "?", host[0] ? host : "?");
}

/* The queue a dead run's meta says tqbench created for it, in queue (""
 * when none may be deleted): created_queue 1 and a key that is the run's own
 * (P:queue:<run>, or the bare <run> of a framework with its own list names),
 * so a meta that names any other key (a shared queue) never deletes it. */
static void created_queue(const struct clean_ctx *x, const char *run, const redisReply *meta,
                          char *queue, size_t n) {
    queue[0] = '\0';
    if (!meta || meta->type != REDIS_REPLY_ARRAY || meta->elements < 2) return;
    const redisReply *qk = meta->element[0], *cq = meta->element[1];
    if (qk->type != REDIS_REPLY_STRING || cq->type != REDIS_REPLY_STRING ||
        strcmp(cq->str, "1") != 0)
        return;
    char own[TQ_KEY_MAX];
    if (tq_key_queue(own, sizeof own, x->prefix, run) < 0) return;
    if (strcmp(qk->str, own) == 0 || strcmp(qk->str, run) == 0) snprintf(queue, n, "%s", qk->str);
}

static const char *meta_str(const redisReply *meta, size_t i) {
    if (!meta || meta->type != REDIS_REPLY_ARRAY || i >= meta->elements ||
        meta->element[i]->type != REDIS_REPLY_STRING)
        return "";
    return meta->element[i]->str;
}

/* EVAL del_if_dead_lua over keys (at most DEL_BATCH): DEL's count, or -2
 * when the run is live, -1 with err. */
static long del_if_dead(redisContext *c, const char *live, const char **keys, const size_t *lens,
                        size_t nkeys, char *err, size_t errlen) {
    const char *argv[DEL_BATCH + 4];
    size_t alens[DEL_BATCH + 4];
    char numkeys[24];
    snprintf(numkeys, sizeof numkeys, "%zu", nkeys + 1);
    argv[0] = "EVAL";
    argv[1] = del_if_dead_lua;
    argv[2] = numkeys;
    argv[3] = live;
    for (int i = 0; i < 4; i++) alens[i] = strlen(argv[i]);
    for (size_t i = 0; i < nkeys; i++) {
        argv[4 + i] = keys[i];
        alens[4 + i] = lens[i];
    }
    redisReply *r = tq_redis_command_argv(c, err, errlen, (int)nkeys + 4, argv, alens);
    if (!r) return -1;
    long v = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
    freeReplyObject(r);
    return v < 0 ? -2 : v;
}

/* One run's keys, v[0..n): skipped when live, else deleted (or listed). */
static int clean_run(struct clean_ctx *x, const struct run_keyref *v, size_t n, char *err,
                     size_t errlen) {
    char run[TQ_NAME_MAX], live[TQ_KEY_MAX], meta_key[TQ_KEY_MAX], desc[384];
    snprintf(run, sizeof run, "%.*s", (int)v[0].base_len, v[0].key + v[0].base_off);
    if (run_key(live, sizeof live, x->prefix, run, "live") != 0 ||
        run_key(meta_key, sizeof meta_key, x->prefix, run, "meta") != 0) {
        x->t->odd_keys += (long)n;
        return 0;
    }
    const char *get[] = {"GET", live};
    redisReply *lv = command_strs(x->c, err, errlen, 2, get);
    if (!lv && link_lost(x->c)) return -1;
    if (!lv || lv->type == REDIS_REPLY_STRING) {
        /* live (or a live key of the wrong type: not ours to judge) */
        char host[128] = "", pid[32] = "", st[32] = "";
        if (lv) sscanf(lv->str, "%127s %31s %31s", host, pid, st);
        driver_desc(desc, sizeof desc, host, pid, st);
        fprintf(x->out, "skipping live run %s %s: %zu key(s) kept\n", run, desc, n);
        if (lv) freeReplyObject(lv);
        x->t->live_runs++;
        x->t->live_keys += (long)n;
        return 0;
    }
    freeReplyObject(lv);

    const char *hm[] = {"HMGET", meta_key, "queue_key", "created_queue", "host", "pid",
                        "started_us"};
    redisReply *meta = command_strs(x->c, err, errlen, 7, hm);
    if (!meta && link_lost(x->c)) return -1;
    driver_desc(desc, sizeof desc, meta_str(meta, 2), meta_str(meta, 3), meta_str(meta, 4));
    char queue[TQ_KEY_MAX], qdesc[TQ_KEY_MAX + 64] = "";
    created_queue(x, run, meta, queue, sizeof queue);
    if (meta) freeReplyObject(meta);
    if (queue[0]) {
        const char *ty[] = {"TYPE", queue};
        redisReply *t = command_strs(x->c, err, errlen, 2, ty);
        if (!t) return -1;
        if (t->type == REDIS_REPLY_STATUS && strcmp(t->str, "list") == 0) {
            freeReplyObject(t);
            const char *ll[] = {"LLEN", queue};
            redisReply *l = command_strs(x->c, err, errlen, 2, ll);
            if (!l) return -1;
            snprintf(qdesc, sizeof qdesc, " and its queue %s (%lld task(s) left on it)", queue,
                     l->type == REDIS_REPLY_INTEGER ? l->integer : 0);
            freeReplyObject(l);
        } else {
            if (t->type == REDIS_REPLY_STATUS && strcmp(t->str, "none") != 0)
                fprintf(x->out, "not deleting %s (named by run %s as its queue): a %s, not a list\n",
                        queue, run, t->str);
            freeReplyObject(t);
            queue[0] = '\0';
        }
    }

    if (x->dry) {
        fprintf(x->out, "would delete run %s %s: %zu key(s)%s\n", run, desc, n, qdesc);
        if (queue[0]) fprintf(x->out, "  %s\n", queue);
        for (size_t i = 0; i < n; i++) fprintf(x->out, "  %s\n", v[i].key);
        if (queue[0] && name_set_add(&x->queues, queue) != 0) goto oom;
        x->t->runs++;
        x->t->run_keys += (long)n;
        if (queue[0]) x->t->queues++;
        return 0;
    }

    /* the queue first: if the clean stops half-way, the meta that names it
     * is still there for the next one */
    long deleted = 0;
    int was_live = 0;
    if (queue[0]) {
        const char *qk[] = {queue};
        size_t ql = strlen(queue);
        long d = del_if_dead(x->c, live, qk, &ql, 1, err, errlen);
        if (d == -1) return -1;
        if (d == -2) was_live = 1;
        else if (d > 0 && name_set_add(&x->queues, queue) != 0) goto oom;
        if (d > 0) x->t->queues++;
    }
    for (size_t i = 0; i < n && !was_live; i += DEL_BATCH) {
        size_t m = n - i < DEL_BATCH ? n - i : DEL_BATCH;
        const char *keys[DEL_BATCH];
        size_t lens[DEL_BATCH];
        for (size_t j = 0; j < m; j++) {
            keys[j] = v[i + j].key;
            lens[j] = v[i + j].len;
        }
        long d = del_if_dead(x->c, live, keys, lens, m, err, errlen);
        if (d == -1) return -1;
        if (d == -2) was_live = 1;
        else deleted += d;
    }
    if (was_live) {
        fprintf(x->out, "skipping run %s: it became live while cleaning (%ld key(s) deleted "
                        "before)\n", run, deleted);
        x->t->live_runs++;
        x->t->run_keys += deleted;
        return 0;
    }
    fprintf(x->out, "deleted run %s %s: %ld key(s)%s\n", run, desc, deleted, qdesc);
    x->t->runs++;
    x->t->run_keys += deleted;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int clean_runs(struct clean_ctx *x, char *err, size_t errlen) {
    char pattern[TQ_KEY_MAX];
    struct key_list l = {0};
    snprintf(pattern, sizeof pattern, "%s:run:", x->prefix);
    l.prefix_len = strlen(pattern);
    snprintf(pattern, sizeof pattern, "%s:run:*", x->prefix);
    int rc = scan_pages(x->c, pattern, collect_page, &l, err, errlen);
    if (rc == 0 && l.n > 0) {
        qsort(l.v, l.n, sizeof *l.v, keyref_cmp);
        /* SCAN may return a key twice (a rehash during the walk) */
        size_t w = 1;
        for (size_t i = 1; i < l.n; i++) {
            if (l.v[i].len == l.v[w - 1].len && memcmp(l.v[i].key, l.v[w - 1].key, l.v[i].len) == 0)
                free(l.v[i].key);
            else
                l.v[w++] = l.v[i];
        }
        l.n = w;
        for (size_t i = 0; rc == 0 && i < l.n;) {
            size_t j = i + 1;
            while (j < l.n && l.v[j].base_len == l.v[i].base_len &&
                   memcmp(l.v[j].key + l.v[j].base_off, l.v[i].key + l.v[i].base_off,
                          l.v[i].base_len) == 0)
                j++;
            rc = clean_run(x, l.v + i, j - i, err, errlen);
            i = j;
        }
    }
    x->t->odd_keys += l.odd;
    if (l.odd > 0)
        fprintf(x->out, "left %ld key(s) under %s:run: that are no run's (not %s:run:<run>:<name>)\n",
                l.odd, x->prefix, x->prefix);
    key_list_free(&l);
    return rc;
}

/* Registry entries whose heartbeat expired (live workers keep theirs). */
static int clean_workers(struct clean_ctx *x, char *err, size_t errlen) {
    char key[TQ_KEY_MAX];
    tq_key_workers(key, sizeof key, x->prefix);
    const char *sm[] = {"SMEMBERS", key};
    redisReply *m = command_strs(x->c, err, errlen, 2, sm);
    if (!m) return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && m->type == REDIS_REPLY_ARRAY && i < m->elements; i++) {
        const redisReply *id = m->element[i];
        char hb[TQ_KEY_MAX];
        if (id->type != REDIS_REPLY_STRING) continue;
        if (tq_key_worker(hb, sizeof hb, x->prefix, id->str) < 0) continue;
        const char *ex[] = {"EXISTS", hb};
        redisReply *e = command_strs(x->c, err, errlen, 2, ex);
        if (!e) {
            rc = -1;
            break;
        }
        int stale = e->type == REDIS_REPLY_INTEGER && e->integer == 0;
        freeReplyObject(e);
        if (!stale) continue;
        if (x->dry) {
            fprintf(x->out, "would remove stale worker registration %s (no heartbeat)\n", id->str);
        } else {
            const char *argv[] = {"SREM", key, id->str};
            size_t lens[] = {4, strlen(key), id->len};
            redisReply *d = tq_redis_command_argv(x->c, err, errlen, 3, argv, lens);
            if (!d) {
                rc = -1;
                break;
            }
            freeReplyObject(d);
            fprintf(x->out, "removed stale worker registration %s (no heartbeat)\n", id->str);
        }
        x->t->stale_workers++;
    }
    freeReplyObject(m);
    return rc;
}

static int kept_page(redisContext *c, const redisReply *keys, void *arg, char *err,
                     size_t errlen) {
    struct clean_ctx *x = arg;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || name_set_has(&x->queues, k->str, k->len)) continue;
        x->t->kept_queues++;
        if (x->kept_listed >= KEPT_QUEUES_LISTED) continue;
        const char *argv[] = {"LLEN", k->str};
        size_t lens[] = {4, k->len};
        redisReply *l = tq_redis_command_argv(c, err, errlen, 2, argv, lens);
        if (!l && link_lost(c)) return -1;
        size_t used = strlen(x->kept);
        char one[96];
        if (l && l->type == REDIS_REPLY_INTEGER)
            snprintf(one, sizeof one, "%s%.60s (%lld task(s))", used ? ", " : "", k->str,
                     l->integer);
        else
            snprintf(one, sizeof one, "%s%.60s", used ? ", " : "", k->str);
        if (l) freeReplyObject(l);
        snprintf(x->kept + used, sizeof x->kept - used, "%s", one);
        x->kept_listed++;
    }
    return 0;
}

int cleanup_stale(redisContext *c, const char *prefix, int dry_run, FILE *out,
                  struct cleanup_totals *totals, char *err, size_t errlen) {
    struct clean_ctx x = {.c = c, .prefix = prefix, .dry = dry_run, .out = out, .t = totals};
    memset(totals, 0, sizeof *totals);
    int rc = clean_runs(&x, err, errlen);
    if (rc == 0) rc = clean_workers(&x, err, errlen);
    if (rc == 0) {
        /* queues are never swept by pattern: say which ones stay */
        char pattern[TQ_KEY_MAX];
        snprintf(pattern, sizeof pattern, "%s:queue:*", prefix);
        rc = scan_pages(c, pattern, kept_page, &x, err, errlen);
        if (rc == 0 && totals->kept_queues > 0)
            fprintf(out, "kept %ld queue(s) that no finished tqbench run created: %s%s\n",
                    totals->kept_queues, x.kept,
                    totals->kept_queues > x.kept_listed ? ", ..." : "");
    }
    name_set_free(&x.queues);
    return rc;
}
