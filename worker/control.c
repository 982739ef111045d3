/* control.c - the control connection: heartbeats, flushes, re-enqueues and
 * the final deregistration, kept off the consumers' connections so a BRPOP
 * never delays a heartbeat.
 *
 * Heartbeat: one script (EVAL) doing HSET P:worker:<id> <fields>; PEXPIRE
 * 3*interval; SADD P:workers <id> - every interval and on every
 * (re)connection, so the key reappears at once after a Redis restart and
 * never exists without TTL. The same script claims the id: it writes only
 * when the hash is absent or names this process (pid, host, started_us),
 * else it returns the owner. Tasks are popped only after the first claim
 * succeeded; a live owner makes tqworker exit 2 (at start before popping
 * anything, later after a graceful drain), a stale one (a dead process of
 * this host) is taken over. Deregistration removes the hash only while it
 * is this worker's.
 *
 * Flush (every WORKER_FLUSH_MS, one at a time): for each run with changes,
 * HINCRBY of the completed/failed/retried deltas and HSET of the histogram
 * snapshots and first/last stamps, plus the pending re-enqueues, all in ONE
 * MULTI/EXEC. A delta counts as flushed only when EXEC succeeded; otherwise
 * it is added back and re-sent, so counters are never lost, and a failed task
 * goes back to its list exactly when its `retried` is counted.
 *
 * The connection is a struct link (link.c): reconnected with backoff after a
 * loss, and dropped by the watchdog when a reply is CONTROL_REPLY_LIMIT_MS
 * overdue; a heartbeat, a flush or a deregistration cut short by a loss is
 * sent again on the next connection. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_clock.h"
#include "tq_proc.h"

#define CONTROL_REPLY_LIMIT_MS 10000

/* --- the control link (link.h) ---------------------------------------------------- */

static void ctl_sent(struct control *c) {
    link_sent(&c->link, CONTROL_REPLY_LIMIT_MS * 1000LL);
}

/* Any reply (not NULL: the link went away) tells the link is healthy. */
static void ctl_replied(struct control *c, const redisReply *reply) {
    link_replied(&c->link);
    if (reply) link_healthy(&c->link);
}

static int ctl_wanted(const struct link *l) {
    const struct worker *w = l->data;
    return w->phase != PHASE_CLOSING;
}

static void ctl_opened(struct link *l) {
    struct worker *w = l->data;
    /* Queued now, sent once connected: the heartbeat reappears at once. */
    control_beat(w);
    control_flush(w);
    if (w->phase == PHASE_DEREGISTERING) control_deregister(w);
}

static void ctl_connected(struct link *l) {
    const struct worker *w = l->data;
    tq_debug("control connection to %s established", w->cfg->redis_safe);
}

static void ctl_retry(struct link *l) {
    if (!l->ac && ctl_wanted(l)) link_connect(l);
}

static const struct link_ops ctl_link_ops = {
    .wanted = ctl_wanted,
    .opened = ctl_opened,
    .connected = ctl_connected,
    .lost = NULL, /* the pending callbacks already ran; the link reconnects */
    .retry = ctl_retry,
};

static void on_soon_timer(uv_timer_t *t) {
    struct worker *w = t->data;
    if (w->ctl.flush_soon && w->phase == PHASE_RUNNING) control_flush(w);
}

void control_init(struct worker *w) {
    memset(&w->ctl, 0, sizeof w->ctl);
    uv_timer_init(w->loop, &w->ctl.soon_timer);
    w->ctl.soon_timer.data = w;
    /* its lines have always named it only when it is dropped */
    link_init(&w->ctl.link, w, &ctl_link_ops, w, &w->rl_ctl, "control connection", "");
}

void control_start(struct worker *w) {
    link_connect(&w->ctl.link);
}

void control_watchdog(struct worker *w, int64_t now_us) {
    link_watchdog(&w->ctl.link, now_us);
}

void control_close(struct worker *w) {
    uv_close((uv_handle_t *)&w->ctl.soon_timer, NULL);
    link_close(&w->ctl.link);
}

/* Logs the errors inside an EXEC reply (commands that failed on their own,
 * WRONGTYPE say: retrying would not help, so the rest counts as done). */
static void exec_errors(struct worker *w, const char *what, const redisReply *reply) {
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e && e->type == REDIS_REPLY_ERROR)
            worker_log_limited(w, &w->rl_reply, TQ_LOG_ERROR, "%s: command %zu failed: %s", what,
                               i + 1, e->str ? e->str : "error");
    }
}

/* --- heartbeat: the claim on the worker id ---------------------------------- */

/* Every heartbeat is this script, so writing it and checking whose it is are
 * one atomic step: two workers started with one --id at the same instant
 * cannot both win, and a worker whose id was taken while it ran (its
 * heartbeat lost with a Redis restart, or expired while it was stopped) does
 * not overwrite the new owner's. The hash belongs to whoever it names by
 * pid, host and started_us; an absent hash belongs to nobody. ARGV[6..8]
 * name a stale owner (a dead process, checked by the caller, which Redis
 * cannot do) whose hash may be replaced; its leftover fields go with it.
 *
 * KEYS: heartbeat hash, registry set. ARGV: id, TTL ms, own pid, host,
 * started_us, stale pid, host, started_us ("" "" "": none), field/value...
 * Returns 1, or {pid, host, started_us, PTTL} of the worker holding the id. */
static const char beat_script[] =
    "local o = redis.call('HMGET', KEYS[1], 'pid', 'host', 'started_us')\n"
    "local p, h, s = o[1] or '', o[2] or '', o[3] or ''\n"
    "if (p ~= '' or h ~= '' or s ~= '') and\n"
    "   not (p == ARGV[3] and h == ARGV[4] and s == ARGV[5]) then\n"
    "  if ARGV[6] ~= '' and p == ARGV[6] and h == ARGV[7] and s == ARGV[8] then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "  else\n"
    "    return {p, h, s, redis.call('PTTL', KEYS[1])}\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 9))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "redis.call('SADD', KEYS[2], ARGV[1])\n"
    "return 1\n";

/* The deregistration: the heartbeat and the registry entry go only while the
 * hash is this worker's (or gone), never another's that took the id.
 * KEYS: heartbeat hash, registry set. ARGV: id, own pid, host, started_us.
 * Returns 1 when removed, 0 when another worker holds the id. */
static const char dereg_script[] =
    "local o = redis.call('HMGET', KEYS[1], 'pid', 'host', 'started_us')\n"
    "local p, h, s = o[1] or '', o[2] or '', o[3] or ''\n"
    "if (p ~= '' or h ~= '' or s ~= '') and\n"
    "   not (p == ARGV[2] and h == ARGV[3] and s == ARGV[4]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "return 1\n";

static int64_t parse_ll(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end ? -1 : v;
}

/* 1 when pid is no running process: none (ESRCH), or a zombie that its
 * parent has not reaped yet (kill(pid, 0) succeeds on those). */
static int pid_gone(pid_t pid) {
    if (kill(pid, 0) != 0) return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold ") " */
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* 1 when the heartbeat of (pid, host, started) is an earlier process's that
 * is gone: on this host, started before this worker, and its pid is no
 * running process (a worker restarted right after kill -9, within the
 * heartbeat's TTL) or is this very process (a container restarted with the
 * same hostname and pid). Another host's worker cannot be checked from
 * here: only its TTL tells. */
static int owner_is_stale(const struct worker *w, const char *pid_s, const char *host,
                          const char *started_s) {
    int64_t pid = parse_ll(pid_s), started = parse_ll(started_s);
    if (strcmp(host, w->host) != 0 || pid <= 0 || pid > INT32_MAX || started <= 0 ||
        started >= w->started_us)
        return 0;
    return (pid_t)pid == getpid() || pid_gone((pid_t)pid);
}

/* "expires in 2.3 s", or why it does not, for messages. */
static void describe_ttl(long long pttl_ms, char *buf, size_t n) {
    if (pttl_ms >= 0)
        snprintf(buf, n, "its heartbeat expires in %.1f s unless it beats again",
                 (double)pttl_ms / 1000.0);
    else if (pttl_ms == -1)
        snprintf(buf, n, "its heartbeat has no TTL and never expires");
    else
        snprintf(buf, n, "its heartbeat is gone now");
}

/* The beat found the id held by another worker (reply: {pid, host,
 * started_us, PTTL}). A stale owner is taken over at once; a live one ends
 * this worker with exit code 2: before it served anything when it was
 * starting, after a graceful drain when the id was taken while it ran. */
static void beat_conflict(struct worker *w, const redisReply *reply) {
    struct control *c = &w->ctl;
    const char *f[3] = {"", "", ""};
    for (int i = 0; i < 3; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING) f[i] = reply->element[i]->str;
    long long pttl = reply->element[3]->type == REDIS_REPLY_INTEGER ? reply->element[3]->integer
                                                                    : -2;
    int64_t started = parse_ll(f[2]);
    char since[64] = "at an unknown time", ttl[96];
    if (started > 0)
        snprintf(since, sizeof since, "%.1f s ago",
                 (double)(tq_clock_wall_us() - started) / 1e6);
    describe_ttl(pttl, ttl, sizeof ttl);
    if (w->phase == PHASE_RUNNING && !c->take_pid[0] && owner_is_stale(w, f[0], f[1], f[2])) {
        tq_warn("worker id %s: taking over the heartbeat %s of pid %s on this host (started "
                "%s), which is no longer running",
                w->cfg->id, w->worker_key, f[0], since);
        snprintf(c->take_pid, sizeof c->take_pid, "%s", f[0]);
        snprintf(c->take_host, sizeof c->take_host, "%s", f[1]);
        snprintf(c->take_started, sizeof c->take_started, "%s", f[2]);
        control_beat(w);
        return;
    }
    c->take_pid[0] = '\0';
    c->id_lost = 1;
    if (w->phase != PHASE_RUNNING && !c->registered) {
        /* stopping before it ever claimed the id: nothing more to say */
        tq_info("worker id %s is held by pid %s on host %s; stopping without it", w->cfg->id,
                f[0], f[1]);
        worker_progress(w);
        return;
    }
    w->exit_code = WORKER_EXIT_USAGE;
    if (!c->registered) {
        tq_error("worker id %s is in use by pid %s on host %s (started %s; %s): each live "
                 "worker needs its own --id; exiting",
                 w->cfg->id, f[0][0] ? f[0] : "?", f[1][0] ? f[1] : "?", since, ttl);
    } else {
        tq_error("worker id %s was taken while this worker ran by pid %s on host %s (started "
                 "%s; %s), so two workers share it: stopping this one (pid %d)",
                 w->cfg->id, f[0][0] ? f[0] : "?", f[1][0] ? f[1] : "?", since, ttl,
                 (int)getpid());
    }
    uv_timer_stop(&w->beat_timer);
    if (w->phase == PHASE_RUNNING) {
        /* the same steps as a signal: finish what was popped, flush, exit */
        w->phase = PHASE_DRAINING;
        consumers_stop(w);
    }
    worker_progress(w);
}

static void on_beat(redisAsyncContext *ac, void *r, void *privdata) {
    struct worker *w = privdata;
    struct control *c = &w->ctl;
    redisReply *reply = r;
    (void)ac;
    c->beat_pending = 0;
    ctl_replied(c, reply);
    if (!reply) return;
    if (reply->type == REDIS_REPLY_INTEGER) {
        /* Said once Redis answers, not when a socket accepts: a stopped
         * server still completes connects. */
        if (!c->registered || c->link.failed)
            tq_info("%s to %s", c->registered ? "reconnected" : "connected", w->cfg->redis_safe);
        int first = !c->registered;
        c->link.failed = 0;
        c->registered = 1;
        c->take_pid[0] = '\0';
        /* Tasks are popped only once the id is this worker's. */
        if (first && w->phase == PHASE_RUNNING) consumers_start(w);
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 4) {
        beat_conflict(w, reply);
    } else {
        worker_log_limited(w, &w->rl_reply, TQ_LOG_ERROR, "heartbeat to %s failed: %s%s",
                           w->cfg->redis_safe,
                           reply->type == REDIS_REPLY_ERROR && reply->str ? reply->str
                                                                          : "unexpected reply",
                           c->registered ? "" : "; no task is popped until one succeeds");
    }
}

#define BEAT_FIELDS 19
#define BEAT_ARGS 8    /* id, TTL, own pid/host/started_us, stale pid/host/started_us */

void control_beat(struct worker *w) {
    struct control *c = &w->ctl;
    const struct config *cfg = w->cfg;
    if (!c->link.ac || c->beat_pending || c->id_lost || w->phase >= PHASE_DEREGISTERING) return;
    struct tq_proc_usage u;
    if (tq_proc_self(&u) != 0) memset(&u, 0, sizeof u);
    /* PSS as well as RSS, so a driver measuring this worker from afar can
     * count the memory it shares with other processes once */
    int64_t pss_kb = -1;
    if (tq_proc_pss_read(getpid(), &pss_kb) != 0) pss_kb = -1;
    char num[16][24];
    snprintf(num[0], sizeof num[0], "%d", (int)getpid());
    snprintf(num[1], sizeof num[1], "%d", cfg->concurrency);
    snprintf(num[2], sizeof num[2], "%d", cfg->prefetch);
    snprintf(num[3], sizeof num[3], "%lld", (long long)w->started_us);
    snprintf(num[4], sizeof num[4], "%lld", (long long)tq_clock_wall_us());
    snprintf(num[5], sizeof num[5], "%lld", (long long)w->processed);
    snprintf(num[6], sizeof num[6], "%lld", (long long)w->failed);
    snprintf(num[7], sizeof num[7], "%lld", (long long)w->inflight);
    snprintf(num[8], sizeof num[8], "%lld", (long long)u.cpu_user_us);
    snprintf(num[9], sizeof num[9], "%lld", (long long)u.cpu_sys_us);
    snprintf(num[10], sizeof num[10], "%lld", (long long)u.rss_kb);
    snprintf(num[11], sizeof num[11], "%lld", (long long)pss_kb);
    snprintf(num[12], sizeof num[12], "%lld", (long long)(3 * cfg->heartbeat_ms));
    snprintf(num[13], sizeof num[13], "%lld", (long long)w->pops_abandoned);
    snprintf(num[14], sizeof num[14], "%lld", (long long)w->pops_abandoned_tasks);
    snprintf(num[15], sizeof num[15], "%lld", (long long)w->requeued);
    const char *fv[BEAT_FIELDS][2] = {
        {"pid", num[0]},         {"host", w->host},           {"queues", cfg->queues_csv},
        {"concurrency", num[1]}, {"prefetch", num[2]},        {"protocol", cfg->protocol->name},
        {"version", TQ_VERSION}, {"started_us", num[3]},      {"beat_us", num[4]},
        {"processed", num[5]},   {"failed", num[6]},          {"inflight", num[7]},
        {"cpu_user_us", num[8]}, {"cpu_sys_us", num[9]},      {"rss_kb", num[10]},
        {"pops_abandoned", num[13]}, {"pops_abandoned_tasks", num[14]},
        {"requeued", num[15]},
        {"pss_kb", num[11]}, /* last: left out when unreadable */
    };
    int nfields = pss_kb >= 0 ? BEAT_FIELDS : BEAT_FIELDS - 1;
    const char *argv[5 + BEAT_ARGS + 2 * BEAT_FIELDS];
    size_t lens[5 + BEAT_ARGS + 2 * BEAT_FIELDS];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = beat_script;
    argv[argc++] = "2";
    argv[argc++] = w->worker_key;
    argv[argc++] = w->registry_key;
    argv[argc++] = cfg->id;
    argv[argc++] = num[12];
    argv[argc++] = num[0];
    argv[argc++] = w->host;
    argv[argc++] = num[3];
    argv[argc++] = c->take_pid;
    argv[argc++] = c->take_host;
    argv[argc++] = c->take_started;
    for (int i = 0; i < nfields; i++) {
        argv[argc++] = fv[i][0];
        argv[argc++] = fv[i][1];
    }
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(c->link.ac, on_beat, w, argc, argv, lens) != REDIS_OK) return;
    c->beat_pending = 1;
    ctl_sent(c);
}

/* --- run snapshots merged before the first write ------------------------------ */

static void hist_field(char *buf, size_t n, const struct worker *w, const char *suffix) {
    snprintf(buf, n, "%s:%s", w->cfg->id, suffix);
}

/* The fields of a run's snapshot: three histograms, then the stamps and the
 * no-origin count (numbers, written only once non-zero), then the first
 * completion (after no_origin: an older snapshot lacks it). */
#define HIST_NFIELDS 7
static const char *const hist_suffixes[HIST_NFIELDS] = {
    TQ_HIST_FIELD_QUEUE_WAIT, TQ_HIST_FIELD_SERVICE,   TQ_HIST_FIELD_END_TO_END,
    TQ_HIST_FIELD_FIRST_START, TQ_HIST_FIELD_LAST_DONE, TQ_HIST_FIELD_NO_ORIGIN,
    TQ_HIST_FIELD_FIRST_DONE};

static void on_load(redisAsyncContext *ac, void *r, void *privdata) {
    struct worker *w = ((const struct link *)ac->data)->w;
    struct run_state *run = privdata;
    redisReply *reply = r;
    w->ctl.loads_pending--;
    ctl_replied(&w->ctl, reply);
    if (!reply) {
        run->load = RUN_LOAD_NONE; /* asked again after the reconnection */
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == HIST_NFIELDS) {
        tq_hist *h[3] = {&run->queue_wait, &run->service, &run->end_to_end};
        for (int i = 0; i < HIST_NFIELDS; i++) {
            const redisReply *e = reply->element[i];
            if (!e || e->type != REDIS_REPLY_STRING) continue;
            int bad;
            if (i < 3) {
                bad = tq_hist_parse(h[i], e->str, e->len) != 0;
            } else {
                char *end;
                errno = 0;
                long long v = strtoll(e->str, &end, 10);
                bad = errno || end == e->str || *end || v < (i == 5 ? 0 : 1);
                if (!bad && i == 5) run->no_origin += v;
                if (!bad && i == 3 && (run->first_start_us == 0 || v < run->first_start_us))
                    run->first_start_us = v;
                if (!bad && i == 4 && v > run->last_done_us) run->last_done_us = v;
                if (!bad && i == 6 && (run->first_done_us == 0 || v < run->first_done_us))
                    run->first_done_us = v;
            }
            if (bad)
                worker_log_limited(w, &w->rl_reply, TQ_LOG_WARN,
                                   "%s field %s:%s is malformed; overwriting it", run->hist_key,
                                   w->cfg->id, hist_suffixes[i]);
        }
        tq_debug("run %s: merged this worker's earlier snapshot from %s", run->id, run->hist_key);
    } else {
        worker_log_limited(w, &w->rl_reply, TQ_LOG_WARN,
                           "HMGET %s failed: %s; its snapshot will be overwritten", run->hist_key,
                           reply->type == REDIS_REPLY_ERROR && reply->str ? reply->str
                                                                          : "unexpected reply");
    }
    run->load = RUN_LOAD_DONE;
    run->hist_dirty = 1;
    control_flush(w); /* what waited for the merge goes now */
    worker_progress(w);
}

static void send_load(struct worker *w, struct run_state *run) {
    char fields[HIST_NFIELDS][TQ_NAME_MAX + 32];
    const char *argv[HIST_NFIELDS + 2];
    size_t lens[HIST_NFIELDS + 2];
    argv[0] = "HMGET";
    argv[1] = run->hist_key;
    for (int i = 0; i < HIST_NFIELDS; i++) {
        hist_field(fields[i], sizeof fields[i], w, hist_suffixes[i]);
        argv[i + 2] = fields[i];
    }
    for (int i = 0; i < HIST_NFIELDS + 2; i++) lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(w->ctl.link.ac, on_load, run, HIST_NFIELDS + 2, argv, lens) !=
        REDIS_OK)
        return;
    run->load = RUN_LOAD_PENDING;
    w->ctl.loads_pending++;
    ctl_sent(&w->ctl);
}

/* --- flush --------------------------------------------------------------------- */

static int run_has_deltas(const struct run_state *r) {
    return r->completed || r->failed || r->retried;
}

static int requeues_waiting(const struct worker *w) {
    for (const struct requeue *q = w->requeues; q; q = q->next)
        if (!q->sending) return 1;
    return 0;
}

static int requeue_new(struct worker *w, int key, const char *payload, size_t len,
                       enum requeue_op op, int to_head) {
    struct requeue *q = malloc(sizeof *q + len);
    if (!q) return -1;
    q->next = NULL;
    q->key = key;
    q->to_head = to_head;
    q->op = op;
    q->sending = 0;
    q->len = len;
    memcpy(q->payload, payload, len);
    *w->requeue_tail = q;
    w->requeue_tail = &q->next;
    return 0;
}

int requeue_add(struct worker *w, int key, const char *payload, size_t len, int to_head) {
    return requeue_new(w, key, payload, len, REQUEUE_PUSH, to_head);
}

int requeue_ack(struct worker *w, int key, const char *payload, size_t len, enum requeue_op op) {
    return requeue_new(w, key, payload, len, op, 0);
}

/* Drops the requeues the last flush carried (done = 1) or marks them for the
 * next one (done = 0). */
static void requeues_settle(struct worker *w, int done) {
    struct requeue **pp = &w->requeues;
    w->requeue_tail = &w->requeues;
    while (*pp) {
        struct requeue *q = *pp;
        if (q->sending && done) {
            *pp = q->next;
            free(q);
            continue;
        }
        q->sending = 0;
        w->requeue_tail = &q->next;
        pp = &q->next;
    }
}

void requeues_free(struct worker *w) {
    while (w->requeues) {
        struct requeue *q = w->requeues;
        w->requeues = q->next;
        free(q);
    }
    w->requeue_tail = &w->requeues;
}

/* The flush in flight is over: what it carried is done (ok) or pending again. */
static void flush_settle(struct worker *w, int ok) {
    for (struct run_state *run = w->runs; run; run = run->next) {
        if (!ok) {
            run->completed += run->sent_completed;
            run->failed += run->sent_failed;
            run->retried += run->sent_retried;
            if (run->hist_sent) run->hist_dirty = 1;
        }
        run->sent_completed = run->sent_failed = run->sent_retried = 0;
        run->hist_sent = 0;
        run_trace_settle(run, ok);
    }
    requeues_settle(w, ok);
}

static void on_flush(redisAsyncContext *ac, void *r, void *privdata) {
    struct worker *w = privdata;
    redisReply *reply = r;
    (void)ac;
    w->ctl.flush_pending = 0;
    ctl_replied(&w->ctl, reply);
    int ok = reply && reply->type == REDIS_REPLY_ARRAY;
    flush_settle(w, ok);
    reliable_flush_settle(w, ok ? reply : NULL);
    if (!reply) return; /* the link is going away: re-sent after reconnecting */
    if (ok)
        exec_errors(w, "flush", reply);
    else
        worker_log_limited(w, &w->rl_reply, TQ_LOG_ERROR, "flush to %s failed: %s; will retry",
                           w->cfg->redis_safe,
                           reply->type == REDIS_REPLY_ERROR && reply->str ? reply->str
                                                                          : "unexpected reply");
    /* counts that came in while this flush was out, after a list ran dry */
    if (w->ctl.flush_soon && w->phase == PHASE_RUNNING) control_flush_soon(w);
    worker_progress(w);
}

/* HINCRBY of each non-zero delta; moves them to sent_*. */
static void flush_counters(struct worker *w, struct run_state *run) {
    struct control *c = &w->ctl;
    const char *names[3] = {TQ_STAT_COMPLETED, TQ_STAT_FAILED, TQ_STAT_RETRIED};
    int64_t *pending[3] = {&run->completed, &run->failed, &run->retried};
    int64_t *sent[3] = {&run->sent_completed, &run->sent_failed, &run->sent_retried};
    for (int i = 0; i < 3; i++) {
        if (*pending[i] == 0) continue;
        if (redisAsyncCommand(c->link.ac, NULL, NULL, "HINCRBY %s %s %lld", run->stats_key,
                              names[i], (long long)*pending[i]) != REDIS_OK)
            continue;
        *sent[i] += *pending[i];
        *pending[i] = 0;
    }
}

/* HSET of the three snapshots, the first/last stamps, the no-origin
 * count and the first completion. Returns 0, or -1 when out of memory (the snapshot then stays
 * dirty). */
static int flush_snapshot(struct worker *w, struct run_state *run) {
    char fields[HIST_NFIELDS][TQ_NAME_MAX + 32], stamps[HIST_NFIELDS - 3][24];
    const tq_hist *h[3] = {&run->queue_wait, &run->service, &run->end_to_end};
    int64_t stamp[HIST_NFIELDS - 3] = {run->first_start_us, run->last_done_us, run->no_origin,
                                       run->first_done_us};
    char *ser[3] = {NULL, NULL, NULL};
    const char *argv[2 + 2 * HIST_NFIELDS];
    size_t lens[2 + 2 * HIST_NFIELDS];
    int argc = 0, rc = 0;
    argv[argc] = "HSET";
    lens[argc++] = 4;
    argv[argc] = run->hist_key;
    lens[argc++] = strlen(run->hist_key);
    for (int i = 0; i < HIST_NFIELDS; i++) {
        hist_field(fields[i], sizeof fields[i], w, hist_suffixes[i]);
        const char *value;
        size_t len;
        if (i < 3) {
            ser[i] = tq_hist_serialize(h[i], &len);
            if (!ser[i]) {
                rc = -1;
                goto out;
            }
            value = ser[i];
        } else {
            if (stamp[i - 3] == 0) continue; /* no task completed yet, or none without origin */
            snprintf(stamps[i - 3], sizeof stamps[i - 3], "%lld", (long long)stamp[i - 3]);
            value = stamps[i - 3];
            len = strlen(value);
        }
        argv[argc] = fields[i];
        lens[argc++] = strlen(fields[i]);
        argv[argc] = value;
        lens[argc++] = len;
    }
    if (redisAsyncCommandArgv(w->ctl.link.ac, NULL, NULL, argc, argv, lens) == REDIS_OK) {
        run->hist_dirty = 0;
        run->hist_sent = 1;
    }
out:
    for (int i = 0; i < 3; i++) free(ser[i]);
    return rc;
}

/* --trace: RPUSH of the run's pending stamps (TRACE_PER_RPUSH a command),
 * which become the flush's (run_trace_settle). Returns 0, or -1 when out
 * of memory (they stay pending). */
#define TRACE_PER_RPUSH 1000
static int flush_trace(struct worker *w, struct run_state *run) {
    const char **argv = malloc((TRACE_PER_RPUSH + 2) * sizeof *argv);
    size_t *lens = malloc((TRACE_PER_RPUSH + 2) * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return -1;
    }
    argv[0] = "RPUSH";
    lens[0] = 5;
    argv[1] = run->trace_key;
    lens[1] = strlen(run->trace_key);
    int argc = 2;
    for (size_t at = 0; at < run->trace.len;) {
        argv[argc] = run->trace.data + at;
        lens[argc] = strlen(argv[argc]);
        at += lens[argc++] + 1;
        if (argc == TRACE_PER_RPUSH + 2 || at >= run->trace.len) {
            /* an error here is a link going away: the EXEC fails too and
             * flush_settle puts them back */
            redisAsyncCommandArgv(w->ctl.link.ac, NULL, NULL, argc, argv, lens);
            argc = 2;
        }
    }
    free(argv);
    free(lens);
    struct trace_buf t = run->trace_sent; /* empty: one flush at a time */
    run->trace_sent = run->trace;
    run->trace = t;
    return 0;
}

/* Nack: the payload goes back only if it was still in the processing list
 * (a flush re-sent after a lost reply must not push it twice). */
static const char nack_script[] =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) > 0 then "
    "return redis.call('RPUSH', KEYS[2], ARGV[1]) end return 0";

/* A reliable queue's ack (LREM + INCR, as AsyncTasQ's own worker acks, so
 * its counters stay right) or nack, inside the flush's MULTI. Returns 0
 * when queued on the link. */
static int flush_ack(struct worker *w, const struct requeue *q) {
    const struct tq_protocol *p = w->cfg->protocol;
    redisAsyncContext *ac = w->ctl.link.ac;
    const char *key = w->keys[q->key];
    size_t klen = w->key_len[q->key];
    if (q->op == REQUEUE_NACK) {
        char processing[TQ_KEY_MAX + 32];
        snprintf(processing, sizeof processing, "%s%s", key, p->processing_suffix);
        return redisAsyncCommand(ac, NULL, NULL, "EVAL %s 2 %s %b %b", nack_script, processing,
                                 key, klen, q->payload, q->len) == REDIS_OK
                   ? 0
                   : -1;
    }
    const char *counter = q->op == REQUEUE_ACK_COMPLETED ? p->completed_suffix : p->failed_suffix;
    if (redisAsyncCommand(ac, NULL, NULL, "LREM %b%s 1 %b", key, klen, p->processing_suffix,
                          q->payload, q->len) != REDIS_OK)
        return -1;
    return redisAsyncCommand(ac, NULL, NULL, "INCR %b%s", key, klen, counter) == REDIS_OK ? 0
                                                                                          : -1;
}

/* The protocol's global counters (Sidekiq's stat:processed / stat:failed),
 * from the run deltas this MULTI carries (sent_*), so they travel, fail
 * and are re-sent together with them. */
static void flush_global_counters(struct worker *w) {
    const struct tq_protocol *p = w->cfg->protocol;
    long long done = 0, failed = 0;
    if (!p->processed_counter) return;
    for (const struct run_state *run = w->runs; run; run = run->next) {
        done += run->sent_completed + run->sent_failed + run->sent_retried;
        failed += run->sent_failed + run->sent_retried; /* a retried attempt failed */
    }
    if (done)
        redisAsyncCommand(w->ctl.link.ac, NULL, NULL, "INCRBY %s %lld", p->processed_counter, done);
    if (failed && p->failed_counter)
        redisAsyncCommand(w->ctl.link.ac, NULL, NULL, "INCRBY %s %lld", p->failed_counter, failed);
}

void control_flush(struct worker *w) {
    struct control *c = &w->ctl;
    if (!c->link.ac || c->flush_pending || w->phase >= PHASE_DEREGISTERING) return;
    /* A run whose histograms changed first gets its earlier snapshot merged;
     * until every such merge is done nothing is flushed, so counters,
     * snapshots and requeues (with their `retried`) always travel together. */
    for (struct run_state *run = w->runs; run; run = run->next)
        if (run->hist_dirty && run->load == RUN_LOAD_NONE) send_load(w, run);
    if (c->loads_pending || !c->link.ac) return;
    int any = requeues_waiting(w) || reliable_flush_wanted(w);
    for (struct run_state *run = w->runs; run && !any; run = run->next)
        any = run_has_deltas(run) || run->hist_dirty || run->trace.n;
    if (!any) return;
    if (redisAsyncCommand(c->link.ac, NULL, NULL, "MULTI") != REDIS_OK) return;
    /* first, so their replies (tasks put back) are the EXEC's first */
    reliable_flush_recover(w);
    int64_t now = tq_clock_mono_us();
    int oom = 0;
    for (struct run_state *run = w->runs; run; run = run->next) {
        int touched = 0;
        if (run_has_deltas(run)) {
            flush_counters(w, run);
            touched = 1;
        }
        if (run->hist_dirty) {
            if (flush_snapshot(w, run) != 0) oom = 1;
            touched = 1;
        }
        /* the stamps travel with the counts they belong to */
        if (run->trace.n) {
            if (flush_trace(w, run) != 0) oom = 1;
            touched = 1;
        }
        if (touched) run->active_us = now;
    }
    flush_global_counters(w);
    reliable_flush_trim(w);
    for (struct requeue *q = w->requeues; q; q = q->next) {
        if (q->sending) continue;
        if (q->op != REQUEUE_PUSH) {
            if (flush_ack(w, q) == 0) q->sending = 1;
            continue;
        }
        const char *argv[3] = {q->to_head ? "RPUSH" : "LPUSH", w->keys[q->key], q->payload};
        size_t lens[3] = {5, w->key_len[q->key], q->len};
        if (redisAsyncCommandArgv(c->link.ac, NULL, NULL, 3, argv, lens) == REDIS_OK)
            q->sending = 1;
    }
    if (redisAsyncCommand(c->link.ac, on_flush, w, "EXEC") == REDIS_OK) {
        c->flush_pending = 1;
        c->flush_soon = 0;
        c->flush_sent_us = now;
        ctl_sent(c);
    } else {
        flush_settle(w, 0); /* never sent: everything stays pending */
        reliable_flush_settle(w, NULL);
    }
    /* Only now: shutting down may flush again, never inside this MULTI. */
    if (oom) worker_fail(w, "out of memory serializing a histogram or the --trace stamps");
}

void control_flush_soon(struct worker *w) {
    struct control *c = &w->ctl;
    const int64_t dry_us = (int64_t)WORKER_DRY_FLUSH_MS * 1000;
    c->flush_soon = 1;
    int64_t wait_us = c->flush_sent_us + dry_us - tq_clock_mono_us();
    if (wait_us <= 0 && w->rpops_out == 0) {
        control_flush(w);
        return;
    }
    /* Other slots' RPOPs still out (a drain's last batches, which come
     * back short one after another): the last of them flushes, so one
     * flush carries the whole drain, and this timer bounds the wait. Too
     * soon after the last flush: as soon as the interval is over (not at
     * the 100 ms timer's tick: a drain's end waited up to that long); a
     * flush still in flight re-asks from its reply (on_flush). */
    if (w->rpops_out > 0 && wait_us < dry_us) wait_us = dry_us;
    if (!uv_is_active((uv_handle_t *)&c->soon_timer))
        uv_timer_start(&c->soon_timer, on_soon_timer, (uint64_t)(wait_us + 999) / 1000, 0);
}

int control_flushed(const struct worker *w) {
    const struct control *c = &w->ctl;
    if (c->flush_pending || c->loads_pending || w->requeues || reliable_pending(w)) return 0;
    for (const struct run_state *run = w->runs; run; run = run->next)
        if (run_has_deltas(run) || run->hist_dirty || run->trace.n) return 0;
    return 1;
}

/* --- deregistration ------------------------------------------------------------ */

static void on_dereg(redisAsyncContext *ac, void *r, void *privdata) {
    struct worker *w = privdata;
    redisReply *reply = r;
    (void)ac;
    w->ctl.dereg_pending = 0;
    ctl_replied(&w->ctl, reply);
    if (!reply) return; /* sent again once reconnected */
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
        tq_warn("worker id %s is held by another worker now: its heartbeat %s stays",
                w->cfg->id, w->worker_key);
    else if (reply->type != REDIS_REPLY_INTEGER)
        worker_log_limited(w, &w->rl_reply, TQ_LOG_ERROR,
                           "deregistration from %s failed: %s; the heartbeat expires by its TTL",
                           w->cfg->redis_safe,
                           reply->type == REDIS_REPLY_ERROR && reply->str ? reply->str
                                                                          : "unexpected reply");
    w->ctl.dereg_done = 1;
    worker_progress(w);
}

void control_deregister(struct worker *w) {
    struct control *c = &w->ctl;
    if (c->id_lost || (!c->registered && !c->beat_pending)) {
        /* Never registered (Redis was never reached), or the id is another
         * worker's now: nothing of this worker's to remove. */
        c->dereg_done = 1;
        worker_progress(w);
        return;
    }
    if (!c->link.ac || c->dereg_pending || c->dereg_done) return;
    char pid[24], started[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(started, sizeof started, "%lld", (long long)w->started_us);
    const char *argv[9] = {"EVAL", dereg_script, "2",  w->worker_key, w->registry_key,
                           w->cfg->id, pid,      w->host, started};
    size_t lens[9];
    for (int i = 0; i < 9; i++) lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(c->link.ac, on_dereg, w, 9, argv, lens) != REDIS_OK) return;
    c->dereg_pending = 1;
    ctl_sent(c);
}
