/* producer.c - pipelined batches of encoded tasks, enqueued the framework's
 * way (a multi-value LPUSH unless its adapter says otherwise; see producer.h).
 *
 * The output buffer is flushed right after each command is appended, so
 * Redis works on batch k while the producer encodes batch k+1; replies are
 * read only when more than `depth` commands are outstanding. */
#include "producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tq_clock.h"
#include "tq_log.h"

#define PRODUCER_TIMEOUT_MS 30000 /* one reply (one command of a batch) */
#define PRODUCER_SLOT_BASE 4096  /* room for one task besides its pad (Celery's envelope ~1.3 KB) */
#define PRODUCER_RETRY_MS 100    /* keep_going: between connection attempts, and a handshake's bound */

void producer_init(struct producer *p) {
    memset(p, 0, sizeof *p);
    p->batch = 256;
    p->depth = 16;
    atomic_init(&p->stop, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->clock_wall_us, 0);
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

const struct fw_mix_entry *producer_pick(const struct fw_mix_entry *mix, int mix_len, uint64_t id) {
    if (mix_len <= 1) return mix;
    double total = 0;
    for (int i = 0; i < mix_len; i++) total += mix[i].weight;
    double u = (double)(splitmix64(id) >> 11) / 9007199254740992.0 * total; /* [0, total) */
    for (int i = 0; i < mix_len; i++) {
        if (u < mix[i].weight) return &mix[i];
        u -= mix[i].weight;
    }
    return &mix[mix_len - 1];
}

/* Sends what the socket takes now; the rest goes with the next reply
 * read (the connection is non-blocking: a hung Redis must not hold the
 * thread in write(2) once it is asked to stop). */
static int flush_out(struct producer *p, redisContext *c) {
    int done = 0;
    if (redisBufferWrite(c, &done) != REDIS_OK) {
        snprintf(p->err, sizeof p->err, "enqueue onto %.200s: %s", p->list_key, c->errstr);
        return -1;
    }
    return 0;
}

/* Reads the replies of one batch (ncmds commands, n tasks); counts its
 * tasks as sent once every reply is in and none is an error. */
static int read_batch(struct producer *p, redisContext *c, long n, int ncmds) {
    int ok = 1;
    for (int i = 0; i < ncmds; i++) {
        redisReply *r = NULL;
        if (tq_redis_get_reply(c, (void **)&r) != REDIS_OK || !r) {
            snprintf(p->err, sizeof p->err, "enqueue onto %.200s: %s", p->list_key,
                     c->err ? c->errstr : "no reply");
            return -1;
        }
        if (ok && r->type == REDIS_REPLY_ERROR) {
            /* the embedded server's maxmemory refusal says which limit and
             * how to change it; Redis's own words name neither */
            char oom[400];
            if (redis_embed_explain_oom(p->embedded, r->str, oom, sizeof oom))
                snprintf(p->err, sizeof p->err, "%.380s (enqueue onto %.100s)", oom, p->list_key);
            else
                snprintf(p->err, sizeof p->err, "enqueue onto %.150s: %.300s", p->list_key,
                         r->str);
            ok = 0;
        }
        freeReplyObject(r);
    }
    if (ok) p->sent += n;
    return ok ? 0 : -1;
}

/* A ring of the batches awaiting replies: their tasks and commands. */
struct inflight {
    long *n;
    int *cmds;
    int cap, head, len;
};

/* Task i's due time, in ns from the start: i / rate, or the burst
 * schedule's. */
static int64_t due_ns(const struct schedule *sched, int bursty, double interval_ns, long i) {
    if (bursty) return (int64_t)(schedule_time(sched, (double)i) * 1e9);
    return (int64_t)((double)i * interval_ns);
}

/* keep_going: the connection failed (p->err says how). Every batch
 * awaiting replies counts as not pushed (with depth 0 that is the batch
 * just sent: one whose replies were read is never in q), the connection
 * is dropped, and the next one is tried PRODUCER_RETRY_MS later. The
 * first failure of an outage is logged. */
static void connection_lost(struct producer *p, redisContext **c, struct inflight *q,
                            int64_t *retry_ns, int *outage) {
    for (; q->len > 0; q->len--, q->head = (q->head + 1) % q->cap) p->not_pushed += q->n[q->head];
    q->head = 0;
    if (!*outage)
        tq_warn("Redis %s: %s; counting the tasks as not pushed until it answers again "
                "(retried every %d ms, never re-sent)", p->wait.where, p->err, PRODUCER_RETRY_MS);
    *outage = 1;
    redisFree(*c);
    *c = NULL;
    *retry_ns = tq_clock_mono_ns() + (int64_t)PRODUCER_RETRY_MS * 1000000;
}

/* Reads replies until at most upto batches await them. Returns 0, or -1
 * with p->err (keep_going: the connection is lost instead, and 0). */
static int settle(struct producer *p, redisContext **c, struct inflight *q, int upto,
                  int keep_going, int64_t *retry_ns, int *outage) {
    while (q->len > upto) {
        if (read_batch(p, *c, q->n[q->head], q->cmds[q->head])) {
            if (!keep_going) return -1;
            connection_lost(p, c, q, retry_ns, outage);
            return 0;
        }
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    return 0;
}

/* keep_going: a new connection, its handshake bounded by
 * PRODUCER_RETRY_MS (a hung Redis must not stall the schedule), or NULL. */
static redisContext *reconnect(struct producer *p, int *outage) {
    char err[256];
    p->wait.timeout_ms = PRODUCER_RETRY_MS;
    redisContext *c = tq_redis_connect_wait(&p->url, &p->wait, err, sizeof err);
    p->wait.timeout_ms = PRODUCER_TIMEOUT_MS;
    if (c && *outage) tq_warn("%s: reconnected (%ld task(s) not pushed so far)", p->wait.where,
                              p->not_pushed);
    if (c) *outage = 0;
    return c;
}

static int produce(struct producer *p, redisContext **cp) {
    const int batch = p->batch;
    const size_t slot = PRODUCER_SLOT_BASE + 2 * p->pad_len;
    /* the payloads are packed (each one where the last ended; each fits in
     * slot, so batch x slot always holds them): the memory touched is what
     * they need, not a slot each */
    char *buf = malloc((size_t)batch * slot);
    /* two slots in front of the payloads: a one-command batch (LPUSH key
     * payload...) is built in place (framework.h, enqueue_batch) */
    const char **argv = malloc((size_t)(batch + 2) * sizeof *argv);
    size_t *argvlen = malloc((size_t)(batch + 2) * sizeof *argvlen);
    struct tq_task *tasks = calloc((size_t)batch, sizeof *tasks);
    const int open_loop = p->rate > 0;
    const int keep_going = p->keep_going && open_loop;
    const int depth = keep_going ? 0 : p->depth;
    struct inflight q = {.n = malloc((size_t)(depth + 1) * sizeof(long)),
                         .cmds = malloc((size_t)(depth + 1) * sizeof(int)),
                         .cap = depth + 1};
    int rc = -1;
    if (!buf || !argv || !argvlen || !tasks || !q.n || !q.cmds) {
        snprintf(p->err, sizeof p->err, "out of memory for a batch of %d tasks", batch);
        goto out;
    }

    for (int j = 0; j < batch; j++) {
        snprintf(tasks[j].run, sizeof tasks[j].run, "%s", p->task_run);
        tasks[j].pad_len = p->pad_len;
    }
    const double interval_ns = open_loop ? 1e9 / p->rate : 0;
    struct schedule sched = p->burst;
    sched.rate = p->rate;
    const int bursty = open_loop && sched.factor > 1;
    int64_t retry_ns = 0; /* keep_going: no connection tried before this */
    int outage = 0;       /* keep_going: the current failure was logged */

    p->start_mono_us = tq_clock_mono_us();
    p->start_wall_us = tq_clock_wall_us();
    atomic_store(&p->clock_wall_us, p->start_wall_us);
    const int64_t start_ns = p->start_mono_us * 1000;
    long next = 0;
    while (next < p->tasks) {
        if (atomic_load(&p->stop)) {
            snprintf(p->err, sizeof p->err, "stopped after %ld of %ld tasks", next, p->tasks);
            goto out;
        }
        long n = p->tasks - next < batch ? p->tasks - next : batch;
        if (open_loop) {
            /* every task whose schedule has come, at most one batch at a time */
            int64_t now_ns = tq_clock_mono_ns();
            long due = bursty ? (long)schedule_count(&sched, (double)(now_ns - start_ns) / 1e9) + 1
                              : (long)((double)(now_ns - start_ns) / interval_ns) + 1;
            if (due > p->tasks) due = p->tasks;
            if (due <= next) {
                /* nothing due: sleep until the next schedule (replies wait in
                 * the socket; at most `depth` commands are outstanding) */
                int64_t at = start_ns + due_ns(&sched, bursty, interval_ns, next);
                if (at < now_ns + p->min_sleep_us * 1000) at = now_ns + p->min_sleep_us * 1000;
                tq_clock_sleep_until_ns(at);
                continue;
            }
            if (due - next < n) n = due - next;
            int64_t lag = now_ns / 1000 - (p->start_mono_us + due_ns(&sched, bursty, interval_ns, next) / 1000);
            if (lag > p->max_lag_us) p->max_lag_us = lag;
        }
        if (!*cp && tq_clock_mono_ns() >= retry_ns) {
            *cp = reconnect(p, &outage);
            if (!*cp) retry_ns = tq_clock_mono_ns() + (int64_t)PRODUCER_RETRY_MS * 1000000;
        }
        if (!*cp) {
            /* keep_going, Redis unreachable: these tasks are not pushed */
            p->not_pushed += n;
            next += n;
            continue;
        }
        int64_t wall = tq_clock_wall_us();
        size_t used = 0;
        for (long j = 0; j < n; j++) {
            uint64_t id = (uint64_t)(next + j);
            const struct fw_mix_entry *m = producer_pick(p->mix, p->mix_len, id);
            struct tq_task *t = &tasks[j];
            t->id = id;
            t->kind = m->kind;
            t->arg = m->arg;
            t->max_attempts = m->max_attempts;
            t->attempt = 0;
            t->enqueued_us = wall;
            t->scheduled_us =
                open_loop ? p->start_wall_us + due_ns(&sched, bursty, interval_ns, (long)id) / 1000
                          : 0;
            char *dst = buf + used;
            int len = p->fw->encode(p->run, t, dst, slot);
            if (len < 0 || (size_t)len > slot) {
                snprintf(p->err, sizeof p->err, "%s: cannot encode task %llu (kind %s) in %zu bytes",
                         p->fw->name, (unsigned long long)id, tq_task_kind_name(t->kind), slot);
                goto out;
            }
            used += (size_t)len;
            argv[j + 2] = dst;
            argvlen[j + 2] = (size_t)len;
        }
        char ferr[256];
        int ncmds = fw_enqueue(p->fw, p->run, p->fw_state, *cp, p->list_key, tasks, argv + 2,
                               argvlen + 2, (int)n, ferr, sizeof ferr);
        if (ncmds < 0) {
            snprintf(p->err, sizeof p->err, "%s: %s", p->fw->name, ferr);
            goto out;
        }
        q.n[(q.head + q.len) % q.cap] = n;
        q.cmds[(q.head + q.len) % q.cap] = ncmds;
        q.len++;
        next += n;
        if (flush_out(p, *cp)) {
            if (!keep_going) goto out;
            connection_lost(p, cp, &q, &retry_ns, &outage);
            continue;
        }
        if (settle(p, cp, &q, depth, keep_going, &retry_ns, &outage)) goto out;
    }
    if (*cp && settle(p, cp, &q, 0, keep_going, &retry_ns, &outage)) goto out;
    rc = 0;
out:
    p->end_mono_us = tq_clock_mono_us();
    p->end_wall_us = tq_clock_wall_us();
    free(buf);
    free(argv);
    free(argvlen);
    free(tasks);
    free(q.n);
    free(q.cmds);
    return rc;
}

/* The producer's waits end when it is asked to stop (teardown, Ctrl-C). */
static const char *producer_give_up(void *arg, int waited_ms) {
    (void)waited_ms;
    struct producer *p = arg;
    return atomic_load(&p->stop) ? "the producer was asked to stop" : NULL;
}

int producer_run(struct producer *p) {
    char err[256];
    if (p->batch < 1) p->batch = 1;
    if (p->depth < 0) p->depth = 0;
    p->wait.timeout_ms = PRODUCER_TIMEOUT_MS;
    p->wait.give_up = producer_give_up;
    p->wait.arg = p;
    redisContext *c = tq_redis_connect_wait(&p->url, &p->wait, err, sizeof err);
    if (!c) {
        /* err names the URL (safe form) already */
        snprintf(p->err, sizeof p->err, "cannot connect to Redis %.400s", err);
        p->rc = -1;
        return -1;
    }
    p->connected = 1;
    p->rc = produce(p, &c);
    if (c) redisFree(c);
    return p->rc;
}

static void *producer_thread(void *arg) {
    struct producer *p = arg;
    producer_run(p);
    atomic_store(&p->done, 1);
    if (p->ev) evloop_wake(p->ev);
    return NULL;
}

int producer_start(struct producer *p) {
    int rc = pthread_create(&p->thread, NULL, producer_thread, p);
    if (rc != 0) {
        snprintf(p->err, sizeof p->err, "pthread_create: %s", strerror(rc));
        p->rc = -1;
        atomic_store(&p->done, 1);
        return -1;
    }
    p->started = 1;
    return 0;
}

void producer_join(struct producer *p, int stop) {
    if (!p->started) return;
    if (stop) atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    p->started = 0;
}
