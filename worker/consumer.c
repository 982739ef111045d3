/* consumer.c - the consumer slots: one async hiredis connection each, one pop
 * in flight, and the tasks it brought run one after another.
 *
 * A slot blocks in BRPOP over every queue key (finite timeout, so a shutdown
 * never waits longer than that); for a reliable queue (protocol.h) in
 * BLMOVE <key> <key>:processing RIGHT LEFT instead, one task per pop.
 * With --prefetch N > 1, once a BRPOP returns,
 * the same connection takes up to N-1 more with RPOP <key> <count> (Redis >=
 * 6.2); when that comes back full and there is a single key, the next round
 * is a plain RPOP of N: BRPOP when idle, batches when busy. The next RPOP is
 * sent while the BRPOP's task runs, so the round trip overlaps the work.
 * A pop that finds its list empty (a backlog drained) asks the control
 * connection to flush the counts now (control_flush_soon), not at its next
 * 100 ms tick: once no other slot's RPOP is out (w->rpops_out), so the
 * drain's last batches travel in that same flush.
 *
 * Each slot's connection is a struct link (link.c), which reconnects a lost
 * link with capped exponential backoff (the worker never exits on it) and
 * drops one whose reply is overdue, hiredis 0.14 having no async timeouts:
 * consumers_watchdog() allows a pop its timeout plus a margin.
 * A pop that had left this process when its link went (dropped by the
 * watchdog, broken, or freed at a forced exit) may have taken tasks that
 * nobody will run: BRPOP and RPOP remove them when they answer, and the
 * answer went to a closed socket. Such pops are counted (pops_abandoned in
 * the heartbeat), as the most tasks they can have taken.
 *
 * Memory: a payload larger than --max-payload-bytes is counted failed and
 * never copied (execute.c); an RPOP's payloads are run from its reply, and
 * only those still unfinished when its callback returns (a sleep or cpu task
 * and what follows it) are copied into the slot's batch buffer, in places
 * kept for them as they were taken. That buffer is freed when a batch made
 * it grow past BUF_KEEP_MAX, and hiredis frees its reader buffer when it is
 * idle and larger than maxbuf (set in link.c), so a burst of large payloads
 * leaves no lasting growth (main.c keeps glibc from holding such blocks).
 *
 * hiredis rules honoured here (and in link.c): a context is only freed from
 * our own timers, signal and work callbacks, or reply callbacks (where
 * hiredis defers it), never from its connect or disconnect callbacks; every
 * reply callback runs exactly once, with a NULL reply when the link goes
 * away first. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_KEEP_MAX (1 << 20) /* a batch buffer grown beyond this is shrunk afterwards */

/* Closes the slot for good (shutdown). */
static void slot_close(struct slot *s) {
    s->hold = 0;
    link_stop(&s->link);
    s->closed = 1;
    tq_debug("consumer %d: closed", s->index);
    worker_progress(s->w);
}

/* --- the slot's link (link.h) ---------------------------------------------------- */

static int slot_wanted(const struct link *l) {
    const struct slot *s = l->data;
    return !s->closed && s->w->phase == PHASE_RUNNING;
}

/* Connects, or moves the slot on (to its close) once the worker is stopping. */
static void slot_connect(struct slot *s) {
    if (s->w->phase != PHASE_RUNNING) {
        slot_advance(s);
        return;
    }
    link_connect(&s->link);
}

static void slot_opened(struct link *l) {
    /* --reliable: what the list holds beyond this slot's tasks (a previous
     * life's, a pop lost with the old link) goes back before it pops */
    reliable_recover(l->data);
    slot_advance(l->data); /* queues the first pop; hiredis sends it once connected */
}

static void slot_connected(struct link *l) {
    const struct slot *s = l->data;
    tq_debug("consumer %d: connected to %s", s->index, s->w->cfg->redis_safe);
}

static void slot_lost(struct link *l, int reconnecting) {
    /* stopping: the slot closes now that its pop is over */
    if (!reconnecting) slot_advance(l->data);
}

static void slot_retry(struct link *l) {
    struct slot *s = l->data;
    if (s->closed) return;
    if (!l->ac) {
        slot_connect(s);
    } else {
        s->hold = 0; /* the pause after an error reply is over */
        slot_advance(s);
    }
}

static const struct link_ops slot_link_ops = {
    .wanted = slot_wanted,
    .opened = slot_opened,
    .connected = slot_connected,
    .lost = slot_lost,
    .retry = slot_retry,
};

/* Holds one popped payload in the slot: its place in the batch buffer is
 * taken now, and it is copied there now, or, when borrowed (p lives in the
 * reply being handled), by slot_keep_borrowed once the reply's callback has
 * run what it could inline, so a noop task is never copied. Returns 0, or
 * -1 when out of memory (the payload is then lost, and said so). */
static int slot_append(struct slot *s, const char *p, size_t len, int key, int borrow) {
    struct worker *w = s->w;
    if (s->n == s->ents_cap) {
        int cap = s->ents_cap ? s->ents_cap * 2 : 16;
        struct entry *e = realloc(s->ents, (size_t)cap * sizeof *e);
        if (!e) goto oom;
        s->ents = e;
        s->ents_cap = cap;
    }
    if (len > UINT32_MAX || s->buf_len + len > UINT32_MAX) goto oom;
    if (s->buf_len + len > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : 4096;
        while (cap < s->buf_len + len) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) goto oom;
        s->buf = b;
        s->buf_cap = cap;
    }
    struct entry *e = &s->ents[s->n];
    if (borrow) {
        e->src = p;
    } else {
        e->src = NULL;
        memcpy(s->buf + s->buf_len, p, len);
    }
    e->off = (uint32_t)s->buf_len;
    e->len = (uint32_t)len;
    e->key = key;
    s->n++;
    s->buf_len += len;
    w->inflight++;
    return 0;
oom:
    tq_error("consumer %d: out of memory holding a %zu-byte task from %s: task lost", s->index,
             len, w->keys[key]);
    worker_fail(w, "out of memory");
    return -1;
}

/* Takes one popped payload: held for running (borrowed: see slot_append),
 * or refused unread when it is larger than --max-payload-bytes. Returns 0,
 * or -1 when out of memory. */
static int slot_take(struct slot *s, const char *p, size_t len, int key, int borrow) {
    if (len > s->w->cfg->max_payload) {
        task_refuse_oversized(s, p, len, key);
        return 0;
    }
    return slot_append(s, p, len, key, borrow);
}

/* Before a reply is freed: copies its payloads that are still held (the
 * running task, when it sleeps or spins, and those after it) into the places
 * slot_append kept for them in the batch buffer. */
static void slot_keep_borrowed(struct slot *s) {
    for (int j = s->next; j < s->n; j++) {
        struct entry *e = &s->ents[j];
        if (!e->src) continue;
        memcpy(s->buf + e->off, e->src, e->len);
        e->src = NULL;
    }
}

/* A pop's reply callback got no reply: its link went away. Counts the pop
 * as abandoned when Redis may have run it: the link was up and the command
 * had left hiredis's output buffer (a pop queued on a link that never
 * connected, or not yet written, cannot have taken anything). */
static void pop_lost(struct slot *s, const redisAsyncContext *ac, int tasks) {
    struct worker *w = s->w;
    if (!(ac->c.flags & REDIS_CONNECTED) || (ac->c.obuf && ac->c.obuf[0] != '\0')) return;
    reliable_recover(s); /* --reliable: what it took is in the slot's list, put back */
    w->pops_abandoned++;
    w->pops_abandoned_tasks += tasks;
    worker_log_limited(w, &w->rl_conn, TQ_LOG_WARN,
                       "consumer %d: a pop was in flight on the lost link: up to %d task(s) it "
                       "took may be lost (%lld such pops so far, heartbeat field pops_abandoned)",
                       s->index, tasks, (long long)w->pops_abandoned);
}

static int key_index(const struct worker *w, const char *k, size_t len) {
    for (int i = 0; i < w->nkeys; i++)
        if (w->key_len[i] == len && memcmp(w->keys[i], k, len) == 0) return i;
    return 0; /* cannot happen: BRPOP names one of the keys it was given */
}

static int is_str(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STRING;
}

static void on_rpop(redisAsyncContext *ac, void *r, void *privdata);

static int send_rpop(struct slot *s, int key, int count) {
    struct worker *w = s->w;
    /* the full batch from the one list is the drain's every round trip:
     * formatted once (consumers_init), not printf-parsed each time */
    int rc = w->cfg->reliable ? reliable_take(s, count, on_rpop)
             : key == 0 && count == w->cfg->prefetch && w->rpop_cmd
                 ? redisAsyncFormattedCommand(s->link.ac, on_rpop, s, w->rpop_cmd,
                                              (size_t)w->rpop_len)
                 : redisAsyncCommand(s->link.ac, on_rpop, s, "RPOP %b %d", w->keys[key],
                                     w->key_len[key], count);
    if (rc != REDIS_OK) return -1; /* the link is going away; its disconnect callback follows */
    w->rpops_out++; /* on_rpop runs exactly once for it */
    /* Out now, not with the loop's batched writes before the next poll: in a
     * drain the loop handles several replies per poll, and each one's next
     * RPOP waited for all of their batches to run while Redis could be
     * serving it (one command per round trip: nothing to batch). */
    redis_uv_write_now(s->link.ac);
    link_sent(&s->link, (int64_t)WORKER_REPLY_MARGIN_MS * 1000);
    s->rpop_key = key;
    s->rpop_asked = count;
    return 0;
}

static void pop_error(struct slot *s, const char *cmd, const redisReply *reply) {
    struct worker *w = s->w;
    if (reply->type == REDIS_REPLY_ERROR)
        worker_log_limited(w, &w->rl_reply, TQ_LOG_WARN, "consumer %d: %s on %s failed: %s",
                           s->index, cmd, w->cfg->redis_safe, reply->str ? reply->str : "error");
    else
        worker_log_limited(w, &w->rl_reply, TQ_LOG_WARN,
                           "consumer %d: unexpected reply to %s (type %d)", s->index, cmd,
                           reply->type);
    s->hold = 1;
    link_backoff(&s->link);
}

static void on_brpop(redisAsyncContext *ac, void *r, void *privdata) {
    struct slot *s = privdata;
    struct worker *w = s->w;
    redisReply *reply = r;
    link_replied(&s->link);
    if (!reply) {
        pop_lost(s, ac, 1);
        /* The link went away. If it is still ours its disconnect callback
         * follows; otherwise nobody else will move the slot on. */
        if (s->link.ac != ac) slot_advance(s);
        return;
    }
    if ((w->cfg->protocol->processing_suffix || w->cfg->reliable) && is_str(reply)) {
        /* BLMOVE: the payload, now in the processing list until acked */
        link_healthy(&s->link);
        if (slot_take(s, reply->str, reply->len, 0, 0) == 0 && w->cfg->reliable &&
            w->cfg->prefetch > 1 && w->phase == PHASE_RUNNING && s->link.ac == ac)
            send_rpop(s, 0, w->cfg->prefetch - 1);
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
               is_str(reply->element[0]) && is_str(reply->element[1])) {
        link_healthy(&s->link);
        int key = key_index(w, reply->element[0]->str, reply->element[0]->len);
        if (slot_take(s, reply->element[1]->str, reply->element[1]->len, key, 0) == 0 &&
            w->cfg->prefetch > 1 && w->rpop_count_ok && w->phase == PHASE_RUNNING &&
            s->link.ac == ac)
            send_rpop(s, key, w->cfg->prefetch - 1);
    } else if (reply->type == REDIS_REPLY_NIL) {
        link_healthy(&s->link); /* the timeout: nothing to pop */
        s->rpop_next = 0;
    } else {
        pop_error(s, w->cfg->protocol->processing_suffix || w->cfg->reliable ? "BLMOVE" : "BRPOP",
                  reply);
    }
    slot_advance(s);
}

static void on_rpop(redisAsyncContext *ac, void *r, void *privdata) {
    struct slot *s = privdata;
    struct worker *w = s->w;
    redisReply *reply = r;
    w->rpops_out--;
    link_replied(&s->link);
    if (!reply) {
        pop_lost(s, ac, s->rpop_asked);
        if (s->link.ac != ac) slot_advance(s);
        return;
    }
    s->rpop_next = 0;
    int dry = 0; /* the list had fewer than asked: a backlog's end */
    if (reply->type == REDIS_REPLY_ARRAY) {
        link_healthy(&s->link);
        size_t got = 0;
        for (size_t i = 0; i < reply->elements; i++) {
            if (!is_str(reply->element[i])) continue;
            if (slot_take(s, reply->element[i]->str, reply->element[i]->len, s->rpop_key, 1) != 0)
                break;
            got++;
        }
        s->rpop_next = got == (size_t)s->rpop_asked && w->nkeys == 1;
        dry = got < (size_t)s->rpop_asked;
    } else if (reply->type == REDIS_REPLY_NIL) {
        link_healthy(&s->link); /* the list ran dry: back to BRPOP */
        dry = 1;
    } else if (reply->type == REDIS_REPLY_ERROR && reply->str &&
               (strstr(reply->str, "wrong number of arguments") || strstr(reply->str, "syntax"))) {
        if (w->rpop_count_ok)
            tq_warn("Redis at %s refused RPOP with a count (%s): it needs Redis >= 6.2; prefetch "
                    "is off, one task per BRPOP",
                    w->cfg->redis_safe, reply->str);
        w->rpop_count_ok = 0;
    } else {
        pop_error(s, w->cfg->reliable ? "the take script (RPOP + LPUSH)" : "RPOP", reply);
    }
    slot_advance(s);
    slot_keep_borrowed(s); /* hiredis frees the reply when this returns */
    /* after running what it brought, so the flush carries this batch too */
    if (dry && w->phase == PHASE_RUNNING) control_flush_soon(w);
}

static void slot_pop(struct slot *s) {
    struct worker *w = s->w;
    if (s->rpop_next && w->rpop_count_ok) {
        send_rpop(s, 0, w->cfg->prefetch);
        return;
    }
    const char *cmd = s->pop_cmd ? s->pop_cmd : w->brpop_cmd; /* --reliable: BLMOVE */
    int len = s->pop_cmd ? s->pop_len : w->brpop_len;
    if (redisAsyncFormattedCommand(s->link.ac, on_brpop, s, cmd, (size_t)len) != REDIS_OK)
        return;
    link_sent(&s->link, (w->cfg->brpop_timeout_ms + WORKER_REPLY_MARGIN_MS) * 1000);
}

void slot_advance(struct slot *s) {
    struct worker *w = s->w;
    if (s->abandoned) return;
    while (!s->busy && s->next < s->n) task_start(s);
    s->stamp_us = 0; /* only tasks run back to back share a clock read */
    if (s->busy) return;
    s->n = s->next = 0;
    s->acks += s->refused; /* every task taken before them is finished now */
    s->refused = 0;
    s->buf_len = 0;
    if (s->buf_cap > BUF_KEEP_MAX) {
        free(s->buf);
        s->buf = NULL;
        s->buf_cap = 0;
    }
    if (s->closed || s->link.outstanding) return;
    if (w->phase != PHASE_RUNNING) {
        slot_close(s);
        return;
    }
    if (s->link.ac && !s->hold && !reliable_holds(s)) slot_pop(s);
}

int consumers_init(struct worker *w) {
    const struct config *cfg = w->cfg;
    w->nkeys = 0;
    for (int q = 0; q < cfg->nqueues; q++) {
        int n = cfg->protocol->queue_keys(cfg->prefix, cfg->queues[q], &w->keys[w->nkeys],
                                          WORKER_MAX_KEYS - w->nkeys);
        if (n < 0) {
            tq_error("queue %s: its %s keys do not fit (at most %d keys of %d bytes)",
                     cfg->queues[q], cfg->protocol->name, WORKER_MAX_KEYS, TQ_KEY_MAX - 1);
            return -1;
        }
        w->nkeys += n;
    }
    const char *argv[WORKER_MAX_KEYS + 2];
    size_t lens[WORKER_MAX_KEYS + 2];
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%.3f", (double)cfg->brpop_timeout_ms / 1000.0);
    argv[0] = "BRPOP";
    lens[0] = 5;
    for (int i = 0; i < w->nkeys; i++) {
        w->key_len[i] = strlen(w->keys[i]);
        argv[i + 1] = w->keys[i];
        lens[i + 1] = w->key_len[i];
    }
    argv[w->nkeys + 1] = timeout;
    lens[w->nkeys + 1] = strlen(timeout);
    int argc = w->nkeys + 2;
    char processing[TQ_KEY_MAX + 32];
    if (cfg->protocol->processing_suffix) {
        /* BLMOVE takes one list, and a batch could not be moved into the
         * processing list as one step: one queue, one task per pop. */
        if (w->nkeys != 1 || cfg->prefetch != 1) {
            tq_error("--protocol %s pops one task at a time from one queue with BLMOVE: give one "
                     "queue (got %d) and --prefetch 1 (got %d)",
                     cfg->protocol->name, w->nkeys, cfg->prefetch);
            return -1;
        }
        snprintf(processing, sizeof processing, "%s%s", w->keys[0],
                 cfg->protocol->processing_suffix);
        const char *mv[6] = {"BLMOVE", w->keys[0], processing, "RIGHT", "LEFT", timeout};
        for (int i = 0; i < 6; i++) {
            argv[i] = mv[i];
            lens[i] = strlen(mv[i]);
        }
        argc = 6;
    }
    w->brpop_len = redisFormatCommandArgv(&w->brpop_cmd, argc, argv, lens);
    if (w->brpop_len < 0) {
        w->brpop_cmd = NULL;
        tq_error("out of memory preparing BRPOP");
        return -1;
    }
    if (cfg->prefetch > 1 && !cfg->protocol->processing_suffix) {
        char count[16];
        snprintf(count, sizeof count, "%d", cfg->prefetch);
        const char *rv[3] = {"RPOP", w->keys[0], count};
        size_t rl[3] = {4, w->key_len[0], strlen(count)};
        w->rpop_len = redisFormatCommandArgv(&w->rpop_cmd, 3, rv, rl);
        if (w->rpop_len < 0) {
            w->rpop_cmd = NULL;
            tq_error("out of memory preparing RPOP");
            return -1;
        }
    }
    w->rpop_count_ok = 1;
    w->slots = calloc((size_t)cfg->concurrency, sizeof *w->slots);
    if (!w->slots) {
        tq_error("out of memory for %d consumers", cfg->concurrency);
        return -1;
    }
    for (int i = 0; i < cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        char name[32], tag[34];
        s->w = w;
        s->index = i;
        snprintf(name, sizeof name, "consumer %d", i);
        snprintf(tag, sizeof tag, "consumer %d: ", i);
        link_init(&s->link, w, &slot_link_ops, s, &w->rl_conn, name, tag);
        s->link.awaits = "a pop";
        s->link.arena = &s->arena;
        uv_timer_init(w->loop, &s->sleep);
        s->sleep.data = s;
        s->ents_cap = cfg->prefetch;
        s->ents = malloc((size_t)s->ents_cap * sizeof *s->ents);
        if (!s->ents) {
            tq_error("out of memory for consumer %d", i);
            return -1;
        }
    }
    return cfg->reliable ? reliable_init(w) : 0;
}

void consumers_start(struct worker *w) {
    if (w->cfg->reliable) reliable_start(w);
    for (int i = 0; i < w->cfg->concurrency; i++) slot_connect(&w->slots[i]);
}

void consumers_stop(struct worker *w) {
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        /* Busy slots (and those waiting for a pop) close from slot_advance. */
        if (!s->closed && !s->busy && s->next >= s->n && !s->link.outstanding) slot_close(s);
    }
}

void consumers_abort(struct worker *w) {
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (w->cfg->reliable) {
            /* Its list holds them: the final flush keeps only the finished
             * ones (trimmed) and puts the rest back, oversized ones too
             * (counted failed again by whoever pops them). */
            w->inflight -= s->n - s->next;
            s->n = s->next = 0;
            s->refused = 0;
            s->recover_want = 1;
        }
        /* Newest first with RPUSH, so the oldest is the first popped again. */
        for (int j = s->n - 1; j >= s->next; j--) {
            const struct entry *e = &s->ents[j];
            int rc = w->cfg->protocol->processing_suffix
                         ? requeue_ack(w, e->key, entry_payload(s, e), e->len, REQUEUE_NACK)
                         : requeue_add(w, e->key, entry_payload(s, e), e->len, 1);
            if (rc != 0)
                tq_error("out of memory: a task from %s could not be handed back", w->keys[e->key]);
            w->inflight--;
        }
        if (s->busy) {
            uv_timer_stop(&s->sleep);
            if (s->task.kind == TQ_KIND_CPU) uv_cancel((uv_req_t *)&s->work);
        }
        s->abandoned = 1; /* a cpu task already running ends unheard */
        s->busy = 0;
        s->n = s->next = 0;
        link_stop(&s->link);
        s->closed = 1;
    }
}

int consumers_all_closed(const struct worker *w) {
    for (int i = 0; i < w->cfg->concurrency; i++)
        if (!w->slots[i].closed) return 0;
    return 1;
}

void consumers_watchdog(struct worker *w, int64_t now_us) {
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (!s->closed) link_watchdog(&s->link, now_us);
    }
}

void consumers_close_handles(struct worker *w) {
    if (!w->slots) return;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (s->w == NULL) continue; /* never initialised (out of memory at start) */
        link_close(&s->link);
        uv_close((uv_handle_t *)&s->sleep, NULL);
    }
}

void consumers_free(struct worker *w) {
    reliable_free(w);
    if (w->slots) {
        for (int i = 0; i < w->cfg->concurrency; i++) {
            free(w->slots[i].buf);
            free(w->slots[i].ents);
            reply_arena_free(&w->slots[i].arena);
        }
        free(w->slots);
        w->slots = NULL;
    }
    if (w->brpop_cmd) redisFreeCommand(w->brpop_cmd);
    w->brpop_cmd = NULL;
    if (w->rpop_cmd) redisFreeCommand(w->rpop_cmd);
    w->rpop_cmd = NULL;
}
