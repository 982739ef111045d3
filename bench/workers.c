/* workers.c - spawning, health-checking, watching and stopping the worker
 * processes of a run (see workers.h). Everything is by pid or by the id the
 * driver chose; nothing is ever looked up or killed by name. */
#include "workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "tq_clock.h"
#include "tq_keys.h"
#include "tq_log.h"
#include "tq_redis.h"
#include "tq_spawn.h"

void workers_init(struct worker_set *ws, const char *prefix, int external) {
    memset(ws, 0, sizeof *ws);
    ws->external = external;
    snprintf(ws->prefix, sizeof ws->prefix, "%s", prefix);
}

void workers_free(struct worker_set *ws) {
    free(ws->w);
    ws->w = NULL;
    ws->n = ws->cap = 0;
}

static struct worker_proc *workers_add(struct worker_set *ws) {
    if (ws->n == ws->cap) {
        int cap = ws->cap ? ws->cap * 2 : 8;
        struct worker_proc *w = realloc(ws->w, (size_t)cap * sizeof *w);
        if (!w) return NULL;
        ws->w = w;
        ws->cap = cap;
    }
    struct worker_proc *p = &ws->w[ws->n++];
    memset(p, 0, sizeof *p);
    return p;
}

/* The last non-empty line of a worker's log, for error messages. */
static void log_tail(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) snprintf(buf, n, "%.200s", line);
    }
    fclose(f);
}

static void describe_exit(const struct worker_proc *p, const char *when, char *err,
                          size_t errlen) {
    char st[64], tail[300];
    tq_spawn_status_str(p->status, st, sizeof st);
    log_tail(p->log, tail, sizeof tail);
    snprintf(err, errlen, "worker %s (pid %d) %s %s%s%s%s%s", p->id, (int)p->pid, st, when,
             tail[0] ? "; last log line: " : "", tail, p->log[0] ? "; log: " : "", p->log);
}

int workers_spawn(struct worker_set *ws, const struct tq_framework *fw, const struct fw_run *run,
                  const cpu_set_t *cpus, const char *log_dir, char *err, size_t errlen) {
    struct fw_argv *av = malloc(sizeof *av);
    if (!av) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    /* a framework that runs one task per process gets concurrency of them
     * per worker, each an id and a heartbeat of its own (framework.h) */
    int n = fw_processes(fw, run);
    for (int i = 0; i < n && rc == 0; i++) {
        struct worker_proc *p = workers_add(ws);
        if (!p) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        int len = snprintf(p->id, sizeof p->id, "%s.w%d", run->run_id, i);
        if (len < 0 || (size_t)len >= sizeof p->id || !tq_name_valid(p->id)) {
            snprintf(err, errlen, "worker id for run %s is too long", run->run_id);
            ws->n--;
            rc = -1;
            break;
        }
        snprintf(p->log, sizeof p->log, "%s/%s.log", log_dir, p->id);
        char ferr[256];
        if (fw->worker_argv(run, i, p->id, av, ferr, sizeof ferr) != 0) {
            snprintf(err, errlen, "%s: worker argv: %s", fw->name, ferr);
            ws->n--;
            rc = -1;
            break;
        }
        struct tq_spawn_opts opts = {.env_extra = av->env,
                                     .stdout_path = p->log,
                                     .stderr_path = p->log,
                                     .new_process_group = 1,
                                     .die_with_parent = 1,
                                     .cpus = cpus};
        char serr[256];
        p->spawn_wall_us = tq_clock_wall_us();
        if (tq_spawn(av->argv, &opts, &p->pid, serr, sizeof serr) != 0) {
            snprintf(err, errlen, "cannot start worker %s of %s: %s", p->id, fw->name, serr);
            ws->n--;
            rc = -1;
            break;
        }
        p->running = 1;
        tq_info("spawned worker %s (pid %d): %s", p->id, (int)p->pid, av->argv[0]);
    }
    free(av);
    return rc;
}

/* Reaps spawned workers that exited; returns the first one that did since
 * the last call (or already had), or NULL. */
static struct worker_proc *reap_exited(struct worker_set *ws) {
    struct worker_proc *first = NULL;
    for (int i = 0; i < ws->n; i++) {
        struct worker_proc *p = &ws->w[i];
        if (ws->external || p->pid <= 0) continue;
        if (p->running) {
            int status;
            if (tq_spawn_poll(p->pid, &status) == 1) {
                p->running = 0;
                p->status = status;
            }
        }
        if (!p->running && !first) first = p;
    }
    return first;
}

/* Which heartbeats exist (EXISTS: a heartbeat without beat_us counts too),
 * filling alive[i], and the beat_us of each the first time it is seen (HGET),
 * all pipelined. Returns 0, or -1 with err when Redis did not answer. */
static int heartbeats_exist(struct worker_set *ws, redisContext *c, int *alive, char *err,
                            size_t errlen) {
    char key[TQ_KEY_MAX];
    for (int i = 0; i < ws->n; i++) {
        tq_key_worker(key, sizeof key, ws->prefix, ws->w[i].id);
        redisAppendCommand(c, "EXISTS %s", key);
        redisAppendCommand(c, "HGET %s beat_us", key);
    }
    cmd_count_add(ws->cmds, "exists", ws->n);
    cmd_count_add(ws->cmds, "hget", ws->n);
    int rc = 0, first_seen = 0;
    for (int i = 0; i < 2 * ws->n; i++) {
        struct worker_proc *p = &ws->w[i / 2];
        redisReply *r = NULL;
        if (tq_redis_get_reply(c, (void **)&r) != REDIS_OK || !r) {
            snprintf(err, errlen, "Redis: %s", c->err ? c->errstr : "no reply to EXISTS");
            return -1; /* the connection is unusable now */
        }
        if (i % 2 == 1) {
            /* only at the poll that first saw it: a later beat_us is no
             * first beat */
            if (first_seen && r->type == REDIS_REPLY_STRING && atoll(r->str) > 0)
                p->first_beat_us = atoll(r->str);
        } else if (r->type == REDIS_REPLY_INTEGER) {
            first_seen = !alive[i / 2] && r->integer > 0;
            alive[i / 2] = r->integer > 0;
        } else {
            snprintf(err, errlen, "EXISTS: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            first_seen = 0;
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

int workers_health_wait(struct worker_set *ws, redisContext *c, struct evloop *ev,
                        double timeout_s, char *err, size_t errlen) {
    int64_t start = tq_clock_mono_us();
    int64_t deadline = start + (int64_t)(timeout_s * 1e6);
    int *alive = calloc((size_t)(ws->n > 0 ? ws->n : 1), sizeof *alive);
    if (!alive) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    for (;;) {
        struct worker_proc *dead = reap_exited(ws);
        if (dead) {
            describe_exit(dead, "before its first heartbeat", err, errlen);
            break;
        }
        if (heartbeats_exist(ws, c, alive, err, errlen) != 0) break;
        int missing = 0;
        for (int i = 0; i < ws->n; i++) missing += !alive[i];
        if (missing == 0) {
            tq_info("%d worker(s) healthy after %.2f s", ws->n,
                    (double)(tq_clock_mono_us() - start) / 1e6);
            rc = 0;
            break;
        }
        if (tq_clock_mono_us() >= deadline) {
            int len = snprintf(err, errlen,
                               "health-check: %d of %d worker(s) sent no heartbeat within %.1f s "
                               "(--health-timeout):",
                               missing, ws->n, timeout_s);
            for (int i = 0; i < ws->n && len > 0 && (size_t)len < errlen; i++)
                if (!alive[i])
                    len += snprintf(err + len, errlen - (size_t)len, " %s (pid %d, log %s)",
                                    ws->w[i].id, (int)ws->w[i].pid, ws->w[i].log);
            break;
        }
        if (evloop_pump(ev, 50)) {
            snprintf(err, errlen, "interrupted by %s during the health-check",
                     evloop_signal_name(ev->signo));
            break;
        }
    }
    free(alive);
    return rc;
}

/* 1 when the comma list has queue as one element. */
static int list_has(const char *list, const char *queue) {
    size_t ql = strlen(queue);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == ql && strncmp(p, queue, ql) == 0) return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Heartbeats on the queue with another protocol: how many, and a text
 * naming them for the error message. */
struct others {
    int n;
    int mixed;                 /* more than one other protocol */
    char protocol[64];         /* the first one's */
    char ids[256];             /* " id" each */
    char tagged[384];          /* " id (protocol)" each */
};

static void others_add(struct others *o, const char *id, const char *protocol) {
    if (o->n == 0) snprintf(o->protocol, sizeof o->protocol, "%s", protocol);
    else if (strcmp(o->protocol, protocol) != 0) o->mixed = 1;
    size_t len = strlen(o->ids);
    if (len + 1 < sizeof o->ids) snprintf(o->ids + len, sizeof o->ids - len, " %s", id);
    len = strlen(o->tagged);
    if (len + 1 < sizeof o->tagged)
        snprintf(o->tagged + len, sizeof o->tagged - len, " %s (%s)", id,
                 protocol[0] ? protocol : "none");
    o->n++;
}

/* A heartbeat's count field (concurrency, prefetch): its value, or -1 when
 * absent or not a whole number >= 0. */
static int field_count(const redisReply *r) {
    if (r->type != REDIS_REPLY_STRING || !r->str[0]) return -1;
    char *end;
    errno = 0;
    long v = strtol(r->str, &end, 10);
    return *end || errno || v < 0 || v > 1000000000 ? -1 : (int)v;
}

int workers_same_concurrency(const struct worker_set *ws, int *v) {
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].concurrency != ws->w[0].concurrency) return 0;
    *v = ws->n ? ws->w[0].concurrency : -1;
    return ws->n > 0;
}

int workers_same_prefetch(const struct worker_set *ws, int *v) {
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].prefetch != ws->w[0].prefetch) return 0;
    *v = ws->n ? ws->w[0].prefetch : -1;
    return ws->n > 0;
}

const char *workers_same_pool(const struct worker_set *ws) {
    if (ws->n == 0 || !ws->w[0].pool[0]) return NULL;
    for (int i = 1; i < ws->n; i++)
        if (strcmp(ws->w[i].pool, ws->w[0].pool) != 0) return NULL;
    return ws->w[0].pool;
}

/* "x 4 (prefetch 1, pool prefork" of one worker (the caller closes it);
 * "?" for what its heartbeat did not report. */
static void describe_one(const struct worker_proc *p, char *buf, size_t n) {
    char c[16] = "?", f[16] = "?";
    if (p->concurrency >= 0) snprintf(c, sizeof c, "%d", p->concurrency);
    if (p->prefetch >= 0) snprintf(f, sizeof f, "%d", p->prefetch);
    snprintf(buf, n, "x %s (prefetch %s%s%s", c, f, p->pool[0] ? ", pool " : "", p->pool);
}

void workers_describe(const struct worker_set *ws, char *buf, size_t n) {
    char one[128];
    int cv, fv;
    const char *proto = ws->n ? ws->w[0].protocol : "";
    int same = ws->n > 0 && workers_same_concurrency(ws, &cv) && workers_same_prefetch(ws, &fv);
    for (int i = 1; same && i < ws->n; i++) same = strcmp(ws->w[i].pool, ws->w[0].pool) == 0;
    if (ws->n == 0) {
        snprintf(buf, n, "0 worker(s)");
        return;
    }
    if (same) {
        describe_one(&ws->w[0], one, sizeof one);
        snprintf(buf, n, "%d worker(s) %s, protocol %s)", ws->n, one, proto);
        return;
    }
    int len = snprintf(buf, n, "%d worker(s):", ws->n);
    for (int i = 0; i < ws->n && len > 0 && (size_t)len < n; i++) {
        describe_one(&ws->w[i], one, sizeof one);
        len += snprintf(buf + len, n - (size_t)len, "%s %s %s)", i ? "," : "", ws->w[i].id, one);
    }
    if (len > 0 && (size_t)len < n) snprintf(buf + len, n - (size_t)len, "; protocol %s", proto);
}

/* What a worker runs with, not what the scenario asked, from the heartbeat
 * fields protocol, concurrency, prefetch, pool, version (f[0..4] of an
 * HMGET). */
static void settings_from_reply(struct worker_proc *p, redisReply *const *f) {
    snprintf(p->protocol, sizeof p->protocol, "%s",
             f[0]->type == REDIS_REPLY_STRING ? f[0]->str : "");
    p->concurrency = field_count(f[1]);
    p->prefetch = field_count(f[2]);
    snprintf(p->pool, sizeof p->pool, "%s", f[3]->type == REDIS_REPLY_STRING ? f[3]->str : "");
    snprintf(p->version, sizeof p->version, "%s",
             f[4]->type == REDIS_REPLY_STRING ? f[4]->str : "");
}

int workers_settings_read(struct worker_set *ws, redisContext *c, char *err, size_t errlen) {
    for (int i = 0; i < ws->n; i++) {
        char key[TQ_KEY_MAX];
        tq_key_worker(key, sizeof key, ws->prefix, ws->w[i].id);
        redisReply *h =
            tq_redis_command(c, err, errlen, "HMGET %s protocol concurrency prefetch pool version",
                             key);
        cmd_count_add(ws->cmds, "hmget", 1);
        if (!h) return -1;
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 5)
            settings_from_reply(&ws->w[i], h->element);
        freeReplyObject(h);
    }
    return 0;
}

/* A heartbeat field as text ("" when absent), into buf. */
static void field_str(const redisReply *r, char *buf, size_t n) {
    snprintf(buf, n, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
}

/* Records the process a heartbeat names (its pid, host, started_us). */
static void inst_from_reply(struct worker_proc *p, const redisReply *pid, const redisReply *host,
                            const redisReply *started) {
    field_str(pid, p->inst_pid, sizeof p->inst_pid);
    field_str(host, p->inst_host, sizeof p->inst_host);
    field_str(started, p->inst_started, sizeof p->inst_started);
    p->inst_seen = 1;
}

/* Live heartbeats whose queues list queue: the ones with protocol into ws
 * (replacing it), the others counted in *o. */
static int scan_external(struct worker_set *ws, redisContext *c, const char *queue,
                         const char *protocol, struct others *o, char *err, size_t errlen) {
    char key[TQ_KEY_MAX];
    tq_key_workers(key, sizeof key, ws->prefix);
    redisReply *m = tq_redis_command(c, err, errlen, "SMEMBERS %s", key);
    cmd_count_add(ws->cmds, "smembers", 1);
    if (!m) return -1;
    ws->n = 0;
    memset(o, 0, sizeof *o);
    for (size_t i = 0; m->type == REDIS_REPLY_ARRAY && i < m->elements; i++) {
        const redisReply *id = m->element[i];
        if (id->type != REDIS_REPLY_STRING || !tq_name_valid(id->str)) continue;
        tq_key_worker(key, sizeof key, ws->prefix, id->str);
        redisReply *h = tq_redis_command(c, err, errlen,
                                         "HMGET %s queues pid protocol concurrency prefetch pool "
                                         "version host started_us",
                                         key);
        cmd_count_add(ws->cmds, "hmget", 1);
        if (!h) {
            freeReplyObject(m);
            return -1;
        }
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 9 &&
            h->element[0]->type == REDIS_REPLY_STRING && list_has(h->element[0]->str, queue)) {
            /* a heartbeat without the field is not taken for any protocol */
            const char *proto = h->element[2]->type == REDIS_REPLY_STRING ? h->element[2]->str : "";
            if (strcmp(proto, protocol) != 0) {
                others_add(o, id->str, proto);
            } else {
                struct worker_proc *p = workers_add(ws);
                if (p) {
                    snprintf(p->id, sizeof p->id, "%s", id->str);
                    p->pid =
                        h->element[1]->type == REDIS_REPLY_STRING ? atoi(h->element[1]->str) : 0;
                    settings_from_reply(p, h->element + 2);
                    /* the process attached: workers_check fails the run
                     * when the heartbeat later names another one */
                    inst_from_reply(p, h->element[1], h->element[7], h->element[8]);
                }
            }
        }
        freeReplyObject(h);
    }
    freeReplyObject(m);
    return 0;
}

int workers_attach(struct worker_set *ws, redisContext *c, const char *queue,
                   const char *protocol, int want, struct evloop *ev, double timeout_s,
                   char *err, size_t errlen) {
    int64_t deadline = tq_clock_mono_us() + (int64_t)(timeout_s * 1e6);
    struct others o;
    for (;;) {
        if (scan_external(ws, c, queue, protocol, &o, err, errlen) != 0) return -1;
        if (ws->n >= want) {
            tq_info("attached to %d external %s worker(s) on queue %s", ws->n, protocol, queue);
            if (o.n)
                tq_info("ignored %d heartbeat(s) on queue %s with another protocol:%s", o.n, queue,
                        o.tagged);
            return 0;
        }
        if (tq_clock_mono_us() >= deadline) {
            /* "1 of 2 worker(s) seen on queue" stays the message's stem:
             * scripts and tests match on it */
            int len = snprintf(err, errlen,
                               "--external: %d of %d worker(s) seen on queue \"%s\" with protocol "
                               "%s within %.1f s (--health-timeout)%s",
                               ws->n, want, queue, protocol, timeout_s, ws->n ? ":" : "");
            for (int i = 0; i < ws->n && len > 0 && (size_t)len < errlen; i++)
                len += snprintf(err + len, errlen - (size_t)len, " %s", ws->w[i].id);
            if (o.n && len > 0 && (size_t)len < errlen) {
                if (o.mixed)
                    snprintf(err + len, errlen - (size_t)len,
                             " (%d more with other protocols:%s)", o.n, o.tagged);
                else
                    snprintf(err + len, errlen - (size_t)len, " (%d more with protocol %s:%s)",
                             o.n, o.protocol[0] ? o.protocol : "none", o.ids);
            }
            return -1;
        }
        if (evloop_pump(ev, 100)) {
            snprintf(err, errlen, "interrupted by %s while waiting for external workers",
                     evloop_signal_name(ev->signo));
            return -1;
        }
    }
}

/* --- heartbeat readings ------------------------------------------------------ */

/* pss_kb last: the only optional one */
#define BEAT_FIELDS "beat_us started_us cpu_user_us cpu_sys_us rss_kb pss_kb"
#define BEAT_FIELDS_REQUIRED 5
#define BEAT_WAIT_MARGIN_US 500000   /* flush and scheduling delays past two intervals */
#define BEAT_POLL_MS 50
#define BEAT_INTERVAL_DEFAULT_US 1000000  /* the contract's default --heartbeat-interval */
#define BEAT_INTERVAL_MIN_US 10000

static int64_t reply_ll(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
}

int workers_beats_read(struct worker_set *ws, redisContext *c, struct worker_beat *beats,
                       char *err, size_t errlen) {
    char key[TQ_KEY_MAX];
    for (int i = 0; i < ws->n; i++) {
        tq_key_worker(key, sizeof key, ws->prefix, ws->w[i].id);
        redisAppendCommand(c, "HMGET %s " BEAT_FIELDS, key);
        redisAppendCommand(c, "PTTL %s", key);
    }
    cmd_count_add(ws->cmds, "hmget", ws->n);
    cmd_count_add(ws->cmds, "pttl", ws->n);
    int rc = 0;
    for (int i = 0; i < ws->n; i++) {
        struct worker_proc *p = &ws->w[i];
        struct worker_beat *b = &beats[i];
        memset(b, 0, sizeof *b);
        redisReply *h = NULL, *t = NULL;
        if (tq_redis_get_reply(c, (void **)&h) != REDIS_OK || !h ||
            tq_redis_get_reply(c, (void **)&t) != REDIS_OK || !t) {
            snprintf(err, errlen, "Redis: %s", c->err ? c->errstr : "no reply to HMGET/PTTL");
            if (h) freeReplyObject(h);
            return -1; /* the connection is unusable now */
        }
        if (h->type == REDIS_REPLY_ARRAY && h->elements == BEAT_FIELDS_REQUIRED + 1) {
            int ok = 1;
            for (size_t k = 0; k < BEAT_FIELDS_REQUIRED; k++)
                ok = ok && h->element[k]->type == REDIS_REPLY_STRING;
            b->beat_us = ok ? reply_ll(h->element[0]) : 0;
            if (b->beat_us > 0) {
                const redisReply *pss = h->element[BEAT_FIELDS_REQUIRED];
                b->started_us = reply_ll(h->element[1]);
                b->cpu_us = reply_ll(h->element[2]) + reply_ll(h->element[3]);
                b->rss_kb = reply_ll(h->element[4]);
                b->pss_kb = pss->type == REDIS_REPLY_STRING && pss->str[0] ? reply_ll(pss) : -1;
            } else {
                b->beat_us = 0;
            }
        } else if (h->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "HMGET heartbeat of %s: %s", p->id, h->str);
            rc = -1;
        }
        if (b->beat_us > 0) {
            if (p->beat_last_us > 0 && b->beat_us > p->beat_last_us) {
                int64_t gap = b->beat_us - p->beat_last_us;
                if (p->beat_gap_us == 0 || gap < p->beat_gap_us) p->beat_gap_us = gap;
            }
            if (b->beat_us > p->beat_last_us) p->beat_last_us = b->beat_us;
            if (t->type == REDIS_REPLY_INTEGER && t->integer > p->pttl_max_ms)
                p->pttl_max_ms = t->integer;
        }
        freeReplyObject(h);
        freeReplyObject(t);
    }
    return rc;
}

int64_t workers_beat_interval_us(const struct worker_set *ws) {
    int64_t iv = 0;
    for (int i = 0; i < ws->n; i++) {
        const struct worker_proc *p = &ws->w[i];
        int64_t w = p->beat_gap_us > 0 ? p->beat_gap_us : p->pttl_max_ms * 1000 / 3;
        if (w > iv) iv = w;
    }
    if (iv <= 0) return BEAT_INTERVAL_DEFAULT_US;
    return iv < BEAT_INTERVAL_MIN_US ? BEAT_INTERVAL_MIN_US : iv;
}

int workers_beats_wait(struct worker_set *ws, redisContext *c, struct evloop *ev, int64_t after_us,
                       struct worker_beat *beats, char *err, size_t errlen) {
    int64_t deadline =
        tq_clock_mono_us() + 2 * workers_beat_interval_us(ws) + BEAT_WAIT_MARGIN_US;
    for (;;) {
        if (workers_beats_read(ws, c, beats, err, errlen) != 0) return -1;
        int fresh = 0, pending = 0;
        for (int i = 0; i < ws->n; i++) {
            if (beats[i].beat_us > after_us) fresh++;
            else if (beats[i].beat_us > 0) pending++; /* a gone heartbeat will not beat again */
        }
        if (pending == 0 || tq_clock_mono_us() >= deadline || evloop_pump(ev, BEAT_POLL_MS))
            return fresh;
    }
}

/* Pipelined HGET pops_abandoned of every heartbeat into out (-1: absent).
 * Returns 0, or -1 when Redis did not answer. */
static int read_abandoned(struct worker_set *ws, redisContext *c, int64_t *out) {
    char key[TQ_KEY_MAX];
    for (int i = 0; i < ws->n; i++) {
        tq_key_worker(key, sizeof key, ws->prefix, ws->w[i].id);
        redisAppendCommand(c, "HGET %s pops_abandoned", key);
    }
    cmd_count_add(ws->cmds, "hget", ws->n);
    for (int i = 0; i < ws->n; i++) {
        redisReply *h = NULL;
        if (tq_redis_get_reply(c, (void **)&h) != REDIS_OK || !h) return -1;
        out[i] = h->type == REDIS_REPLY_STRING && h->str[0] ? atoll(h->str) : -1;
        freeReplyObject(h);
    }
    return 0;
}

void workers_abandoned_mark(struct worker_set *ws, redisContext *c) {
    int64_t *now = calloc((size_t)(ws->n > 0 ? ws->n : 1), sizeof *now);
    int ok = now && c && read_abandoned(ws, c, now) == 0;
    for (int i = 0; i < ws->n; i++) ws->w[i].abandoned_base = ok ? now[i] : -1;
    free(now);
}

long workers_abandoned_since_mark(struct worker_set *ws, redisContext *c) {
    int64_t *now = calloc((size_t)(ws->n > 0 ? ws->n : 1), sizeof *now);
    long sum = -1;
    if (now && c && read_abandoned(ws, c, now) == 0) {
        for (int i = 0; i < ws->n; i++) {
            int64_t base = ws->w[i].abandoned_base;
            if (now[i] < 0 || (base < 0 && ws->external)) continue;
            int64_t d = now[i] - (base > 0 ? base : 0);
            sum = (sum < 0 ? 0 : sum) + (d > 0 ? (long)d : 0);
        }
    }
    free(now);
    return sum;
}

/* "pid 12 on host h" of a heartbeat's process, with its started_us when
 * with_started (to tell apart two that differ only there). */
static void describe_inst(const char *pid, const char *host, const char *started,
                          int with_started, char *buf, size_t n) {
    snprintf(buf, n, "pid %s on host %s%s%s%s", pid[0] ? pid : "?", host[0] ? host : "?",
             with_started ? " (started_us " : "", with_started ? (started[0] ? started : "?") : "",
             with_started ? ")" : "");
}

/* One heartbeat's pid, host and started_us (an HMGET reply) against the
 * process recorded for p: the first reading records it; another process
 * later fills err. Returns 0, or -1 with err. */
static int inst_check(struct worker_set *ws, struct worker_proc *p, const redisReply *h,
                      char *err, size_t errlen) {
    char pid[24], host[256], started[24];
    field_str(h->element[0], pid, sizeof pid);
    field_str(h->element[1], host, sizeof host);
    field_str(h->element[2], started, sizeof started);
    if (!p->inst_seen) {
        snprintf(p->inst_pid, sizeof p->inst_pid, "%s", pid);
        snprintf(p->inst_host, sizeof p->inst_host, "%s", host);
        snprintf(p->inst_started, sizeof p->inst_started, "%s", started);
        p->inst_seen = 1;
        return 0;
    }
    if (strcmp(pid, p->inst_pid) == 0 && strcmp(host, p->inst_host) == 0 &&
        strcmp(started, p->inst_started) == 0)
        return 0;
    int same = strcmp(pid, p->inst_pid) == 0 && strcmp(host, p->inst_host) == 0;
    char was[360], now[360];
    describe_inst(p->inst_pid, p->inst_host, p->inst_started, same, was, sizeof was);
    describe_inst(pid, host, started, same, now, sizeof now);
    snprintf(err, errlen,
             "worker id %s is used by two workers: its heartbeat %s:worker:%s named %s, now %s "
             "(each worker needs its own --id; or the worker restarted during the run)",
             p->id, ws->prefix, p->id, was, now);
    return -1;
}

/* Pipelined HMGET pid host started_us of every heartbeat: an absent one
 * (every field nil) expired, one naming another process than before is a
 * shared id. Returns 0, or -1 with err. */
static int heartbeats_check(struct worker_set *ws, redisContext *c, char *err, size_t errlen) {
    char key[TQ_KEY_MAX];
    for (int i = 0; i < ws->n; i++) {
        tq_key_worker(key, sizeof key, ws->prefix, ws->w[i].id);
        redisAppendCommand(c, "HMGET %s pid host started_us", key);
    }
    cmd_count_add(ws->cmds, "hmget", ws->n);
    int rc = 0;
    for (int i = 0; i < ws->n; i++) {
        struct worker_proc *p = &ws->w[i];
        redisReply *h = NULL;
        if (tq_redis_get_reply(c, (void **)&h) != REDIS_OK || !h) {
            snprintf(err, errlen, "Redis: %s", c->err ? c->errstr : "no reply to HMGET");
            return -1; /* the connection is unusable now */
        }
        if (rc != 0) {
            /* the first problem is reported; the other replies are read */
        } else if (h->type != REDIS_REPLY_ARRAY || h->elements != 3) {
            snprintf(err, errlen, "HMGET heartbeat of %s: %s", p->id,
                     h->type == REDIS_REPLY_ERROR ? h->str : "bad reply");
            rc = -1;
        } else if (h->element[0]->type != REDIS_REPLY_STRING &&
                   h->element[1]->type != REDIS_REPLY_STRING &&
                   h->element[2]->type != REDIS_REPLY_STRING) {
            snprintf(err, errlen, "worker %s (pid %d): heartbeat %s:worker:%s expired", p->id,
                     (int)p->pid, ws->prefix, p->id);
            rc = -1;
        } else {
            rc = inst_check(ws, p, h, err, errlen);
        }
        freeReplyObject(h);
    }
    return rc;
}

int workers_check(struct worker_set *ws, redisContext *c, char *err, size_t errlen) {
    struct worker_proc *dead = reap_exited(ws);
    if (dead) {
        describe_exit(dead, "during the run", err, errlen);
        return -1;
    }
    return heartbeats_check(ws, c, err, errlen);
}

/* A second signal hurries the teardown that the first one started. */
#define HURRY_SIGNALS 2

void workers_stop(struct worker_set *ws, int grace_ms, struct evloop *ev) {
    if (ws->external) return;
    int left = 0;
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].running) {
            kill(-ws->w[i].pid, SIGTERM);
            kill(-ws->w[i].pid, SIGCONT); /* a stopped process acts on SIGTERM only once resumed */
            left++;
        }
    int64_t deadline = tq_clock_mono_us() + (int64_t)grace_ms * 1000;
    int hurry = ev->nsignals >= HURRY_SIGNALS;
    while (left > 0 && !hurry && tq_clock_mono_us() < deadline) {
        left = 0;
        for (int i = 0; i < ws->n; i++) {
            struct worker_proc *p = &ws->w[i];
            if (!p->running) continue;
            int status;
            int r = tq_spawn_poll(p->pid, &status);
            if (r == 1 || r < 0) {
                p->running = 0;
                p->status = status;
            } else {
                left++;
            }
        }
        /* the loop runs meanwhile, so a second Ctrl-C is seen at once */
        if (left) hurry = evloop_sleep(ev, 20) >= HURRY_SIGNALS;
    }
    for (int i = 0; i < ws->n; i++) {
        struct worker_proc *p = &ws->w[i];
        if (p->pid <= 0) continue;
        if (p->running) {
            if (hurry)
                tq_warn("worker %s (pid %d): second %s, SIGKILL without waiting", p->id,
                        (int)p->pid, evloop_signal_name(ev->signo));
            else
                tq_warn("worker %s (pid %d) still running %d ms after SIGTERM: SIGKILL", p->id,
                        (int)p->pid, grace_ms);
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            int status;
            if (tq_spawn_wait(p->pid, 5000, &status) == 1) p->status = status;
            p->running = 0;
        }
        /* Members of its group that outlived the leader (a pool child) are
         * killed too; the group id cannot be reused while any member lives. */
        kill(-p->pid, SIGKILL);
    }
}

void workers_forget(struct worker_set *ws, redisContext *c) {
    if (ws->external || !c) return;
    char key[TQ_KEY_MAX], reg[TQ_KEY_MAX];
    tq_key_workers(reg, sizeof reg, ws->prefix);
    for (int i = 0; i < ws->n; i++) {
        tq_key_worker(key, sizeof key, ws->prefix, ws->w[i].id);
        redisAppendCommand(c, "DEL %s", key);
        redisAppendCommand(c, "SREM %s %s", reg, ws->w[i].id);
    }
    for (int i = 0; i < 2 * ws->n; i++) {
        redisReply *r = NULL;
        if (tq_redis_get_reply(c, (void **)&r) != REDIS_OK) break;
        freeReplyObject(r);
    }
}
