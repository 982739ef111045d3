/* reliable.c - tqworker --reliable: every task taken stays in a processing
 * list of its consumer slot until the flush that counts it removes it, so a
 * worker that dies (kill -9, a crash) loses no task: the next worker started
 * with the same --id puts them back on the queue (at-least-once).
 *
 * Each slot owns P:processing:<id>:<slot> (tq_keys.h). Its pops move tasks
 * there atomically: BLMOVE <queue> <list> RIGHT LEFT (one task), and with
 * --prefetch N one EVAL of take_script (RPOP <queue> N + LPUSH onto the list)
 * where the plain worker sends RPOP <queue> N. The list's tail is always the
 * oldest task taken, and a slot runs its tasks in the order taken, so the
 * finished ones are the tail: the flush that counts them (control.c, one
 * MULTI/EXEC) also does LTRIM <list> 0 -(k+1) for the k finished since the
 * last flush. No command per task goes back to Redis for the ack.
 *
 * Recovery (recover_script, at the head of that same MULTI): the list keeps
 * its `keep` tail-most elements, those this process still holds (finished
 * but not trimmed yet, or taken and not run), and the rest go back to the
 * queue, newest first onto its popping end so the oldest is popped first.
 * It runs when a slot's connection (re)opens, before that slot pops (keep =
 * what it holds: nothing at start, so a previous life's tasks all go back;
 * after a reconnect, what a pop lost with the link may have moved), when a
 * pop's link went away mid-pop, and at a forced exit (keep = only the
 * finished, so the unstarted go back and the list ends empty). At start one
 * more script (sweep_script) empties the lists of slots beyond this
 * worker's --concurrency, left by a previous life with more slots. What was
 * put back is logged and counted in the heartbeat field `requeued`.
 *
 * The cost per task is BLMOVE instead of BRPOP, or a script instead of
 * RPOP <queue> N: one LPUSH per batch more inside Redis (WORKER_SETUP.md,
 * "Delivery guarantee", gives the measured drain rates). */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: queue, processing list. ARGV: count. RPOP's count form (Redis >=
 * 6.2); LPUSH in chunks, Lua's unpack being limited to ~8000 values. */
static const char take_script[] =
    "local t = redis.call('RPOP', KEYS[1], ARGV[1])\n"
    "if not t then return false end\n"
    "for i = 1, #t, 1000 do\n"
    "  redis.call('LPUSH', KEYS[2], unpack(t, i, math.min(i + 999, #t)))\n"
    "end\n"
    "return t\n";

/* KEYS: queue, processing list. ARGV: keep. Returns how many went back. */
static const char recover_script[] =
    "local n = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[1])\n"
    "local m = 0\n"
    "while m < n and redis.call('LMOVE', KEYS[2], KEYS[1], 'LEFT', 'RIGHT') do m = m + 1 end\n"
    "return m\n";

/* KEYS: queue. ARGV: list name up to the slot number, first and last+1 slot. */
static const char sweep_script[] =
    "local m = 0\n"
    "for i = tonumber(ARGV[2]), tonumber(ARGV[3]) - 1 do\n"
    "  local k = ARGV[1] .. i\n"
    "  while redis.call('LMOVE', k, KEYS[1], 'LEFT', 'RIGHT') do m = m + 1 end\n"
    "end\n"
    "return m\n";

int reliable_init(struct worker *w) {
    const struct config *cfg = w->cfg;
    char timeout[32], count[16];
    snprintf(timeout, sizeof timeout, "%.3f", (double)cfg->brpop_timeout_ms / 1000.0);
    snprintf(count, sizeof count, "%d", cfg->prefetch);
    for (int i = 0; i < cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (tq_key_processing(s->plist, sizeof s->plist, cfg->prefix, cfg->id, i) < 0) {
            tq_error("--reliable: the processing list of worker %s does not fit in %d bytes",
                     cfg->id, TQ_KEY_MAX - 1);
            return -1;
        }
        const char *mv[6] = {"BLMOVE", w->keys[0], s->plist, "RIGHT", "LEFT", timeout};
        s->pop_len = redisFormatCommandArgv(&s->pop_cmd, 6, mv, NULL);
        const char *tk[6] = {"EVAL", take_script, "2", w->keys[0], s->plist, count};
        s->take_len = cfg->prefetch > 1 ? redisFormatCommandArgv(&s->take_cmd, 6, tk, NULL) : 0;
        if (s->pop_len < 0 || s->take_len < 0) {
            tq_error("out of memory preparing consumer %d's pops", i);
            return -1;
        }
    }
    return 0;
}

int reliable_take(struct slot *s, int count, redisCallbackFn *cb) {
    struct worker *w = s->w;
    if (count == w->cfg->prefetch && s->take_cmd)
        return redisAsyncFormattedCommand(s->link.ac, cb, s, s->take_cmd, (size_t)s->take_len);
    return redisAsyncCommand(s->link.ac, cb, s, "EVAL %s 2 %b %s %d", take_script, w->keys[0],
                             w->key_len[0], s->plist, count);
}

void reliable_start(struct worker *w) {
    w->sweep_want = 1;
}

void reliable_recover(struct slot *s) {
    if (!s->w->cfg->reliable) return;
    s->recover_want = 1;
    control_flush(s->w);
}

int reliable_holds(const struct slot *s) {
    return s->recover_want || s->recover_sent;
}

int reliable_pending(const struct worker *w) {
    if (!w->cfg->reliable || !w->slots) return 0;
    if (w->sweep_want || w->sweep_sent) return 1;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        const struct slot *s = &w->slots[i];
        if (s->acks || s->acks_sent || s->recover_want || s->recover_sent) return 1;
    }
    return 0;
}

int reliable_flush_wanted(const struct worker *w) {
    if (!w->cfg->reliable || !w->slots) return 0;
    if (w->sweep_want) return 1;
    for (int i = 0; i < w->cfg->concurrency; i++)
        if (w->slots[i].acks || w->slots[i].recover_want) return 1;
    return 0;
}

int reliable_flush_recover(struct worker *w) {
    redisAsyncContext *ac = w->ctl.link.ac;
    int sent = 0;
    if (!w->cfg->reliable) return 0;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (!s->recover_want) continue;
        /* held: finished and not trimmed yet (trimmed later in this MULTI),
         * taken and not finished, oversized ones counted at the batch's end */
        long long keep = s->acks + (s->n - s->next) + s->refused;
        if (redisAsyncCommand(ac, NULL, NULL, "EVAL %s 2 %b %s %lld", recover_script, w->keys[0],
                              w->key_len[0], s->plist, keep) != REDIS_OK)
            break;
        s->recover_want = 0;
        s->recover_sent = 1;
        sent++;
    }
    if (w->sweep_want && w->cfg->concurrency < TQ_WORKER_CONCURRENCY_MAX) {
        char base[TQ_KEY_MAX];
        int len = tq_key_processing(base, sizeof base, w->cfg->prefix, w->cfg->id, 0);
        if (len > 0 &&
            redisAsyncCommand(ac, NULL, NULL, "EVAL %s 1 %b %b %d %d", sweep_script, w->keys[0],
                              w->key_len[0], base, (size_t)len - 1, w->cfg->concurrency,
                              TQ_WORKER_CONCURRENCY_MAX) == REDIS_OK) {
            w->sweep_want = 0;
            w->sweep_sent = 1;
            sent++;
        }
    } else {
        w->sweep_want = 0;
    }
    return sent;
}

void reliable_flush_trim(struct worker *w) {
    if (!w->cfg->reliable) return;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (!s->acks) continue;
        if (redisAsyncCommand(w->ctl.link.ac, NULL, NULL, "LTRIM %s 0 %lld", s->plist,
                              -(long long)s->acks - 1) != REDIS_OK)
            return;
        s->acks_sent = s->acks;
        s->acks = 0;
    }
}

/* The count an EXEC reply's element i carries (0 when it failed). */
static long long moved(const redisReply *exec, size_t i) {
    if (!exec || i >= exec->elements || exec->element[i]->type != REDIS_REPLY_INTEGER) return 0;
    return exec->element[i]->integer;
}

void reliable_flush_settle(struct worker *w, const redisReply *exec) {
    int ok = exec && exec->type == REDIS_REPLY_ARRAY;
    size_t at = 0; /* the recoveries are the MULTI's first commands, in slot order */
    if (!w->cfg->reliable) return;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (!ok) s->acks += s->acks_sent;
        s->acks_sent = 0;
        if (!s->recover_sent) continue;
        s->recover_sent = 0;
        if (!ok) {
            s->recover_want = 1;
            continue;
        }
        long long m = moved(exec, at++);
        if (m > 0) {
            w->requeued += m;
            tq_info("consumer %d: put %lld task(s) from %s back on %s (taken but not counted "
                    "by an earlier worker %s, or by a pop lost with its link)",
                    i, m, s->plist, w->keys[0], w->cfg->id);
        }
    }
    if (w->sweep_sent) {
        w->sweep_sent = 0;
        if (!ok) {
            w->sweep_want = 1;
        } else {
            long long m = moved(exec, at++);
            if (m > 0) {
                w->requeued += m;
                tq_info("put %lld task(s) back on %s from the processing lists of consumers "
                        "%d and up of an earlier worker %s",
                        m, w->keys[0], w->cfg->concurrency, w->cfg->id);
            }
        }
    }
    if (!ok) return;
    /* recovered slots may pop now */
    int waiting = 0;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (!reliable_holds(s) && !s->closed && !s->link.outstanding) slot_advance(s);
        waiting |= s->recover_want;
    }
    /* a slot that opened while this flush was out does not wait for the tick */
    if (waiting) control_flush(w);
}

void reliable_free(struct worker *w) {
    if (!w->slots) return;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (s->pop_cmd) redisFreeCommand(s->pop_cmd);
        if (s->take_cmd) redisFreeCommand(s->take_cmd);
        s->pop_cmd = s->take_cmd = NULL;
    }
}
