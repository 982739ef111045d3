/* link.h - one async hiredis connection of tqworker that comes back by itself.
 *
 * Every consumer slot (consumer.c) and the control connection (control.c)
 * hold one link. It connects through tq_redis_connect_async (AUTH, SELECT)
 * and the batching libuv adapter (redis_uv.h), reconnects after a loss or a
 * failed connect with capped exponential backoff (WORKER_BACKOFF_MIN_MS ..
 * WORKER_BACKOFF_MAX_MS) for as long as its owner wants it, and logs each
 * loss and failure at a bounded rate. hiredis 0.14 has no async timeouts, so
 * link_watchdog() drops a link whose connect or awaited reply is overdue.
 *
 * What differs between owners goes through struct link_ops: whether a lost
 * link should come back, what to queue on a fresh context, and what to do
 * when the retry timer fires (the consumers also use it to pause after an
 * error reply, on a live link).
 *
 * hiredis rules honoured: a context is freed only from our own timers,
 * signal and work callbacks, or reply callbacks (where hiredis defers it),
 * never from its connect or disconnect callbacks; every reply callback runs
 * exactly once, with a NULL reply when the link goes away first, so owners
 * learn of a loss from their pending callbacks as well as from ops->lost. */
#ifndef TQ_WORKER_LINK_H
#define TQ_WORKER_LINK_H

#include <stdint.h>
#include <hiredis/async.h>
#include <uv.h>

#include "tq_log.h"

struct worker;
struct link;

struct link_ops {
    /* 1 while a link that failed or was lost should connect again after a
     * backoff; 0 once the owner is stopping. */
    int (*wanted)(const struct link *l);
    /* link_connect created a context: queue the first commands (hiredis
     * sends them once the connection completes). */
    void (*opened)(struct link *l);
    /* The connection completed. Optional. */
    void (*connected)(struct link *l);
    /* hiredis closed the link (the server went away, a read or write
     * failed), after every pending reply callback ran with NULL and a
     * reconnection was scheduled when `reconnecting`. Optional. */
    void (*lost)(struct link *l, int reconnecting);
    /* The retry timer fired: connect (link_connect) when l->ac is NULL, or
     * go on after a pause (link_backoff on a live link). */
    void (*retry)(struct link *l);
};

struct link {
    struct worker *w;
    const struct link_ops *ops;
    void *data;                    /* the owner (a slot, the worker) */
    /* "consumer 3" names a drop; tag prefixes the other lines ("consumer 3: ",
     * or "" for the control connection, whose lines always read that way). */
    char name[32], tag[34];
    const char *awaits;            /* what a drop for an overdue reply says was
                                      awaited ("a pop"), or NULL */
    tq_ratelimit *rl;              /* its losses and failures */
    redisAsyncContext *ac;         /* NULL while disconnected */
    int connected;
    int failed;                    /* failed or lost since the owner cleared it */
    int64_t conn_started_us;       /* monotonic */
    int backoff_ms;                /* 0 after a healthy reply */
    int outstanding;               /* replies awaited (link_sent - link_replied) */
    int64_t since_us;              /* monotonic: last reply, or first send after none */
    int64_t limit_us;              /* how long a reply may take (the latest send's) */
    uv_timer_t retry;              /* reconnection backoff, or an owner's pause */
    /* Where the context's replies are built (reply_arena.h), or NULL for
     * hiredis's own allocation. Set by the owner before connecting. */
    struct reply_arena *arena;
};

/* Initialises l (disconnected) and its retry timer on w's loop; rl limits
 * its log lines. name and tag are copied. */
void link_init(struct link *l, struct worker *w, const struct link_ops *ops, void *data,
               tq_ratelimit *rl, const char *name, const char *tag);
/* Creates a context and calls ops->opened; on failure logs it and backs
 * off (when wanted). */
void link_connect(struct link *l);
/* Starts the retry timer with the next backoff delay (doubling, capped). */
void link_backoff(struct link *l);
/* A command with a reply callback was queued; its reply may take limit_us. */
void link_sent(struct link *l, int64_t limit_us);
/* A reply callback ran (a NULL reply included). */
void link_replied(struct link *l);
/* Redis answered as it should: the next backoff starts from the minimum. */
void link_healthy(struct link *l);
/* Gives up on the link (logged with why) and reconnects when wanted; the
 * pending reply callbacks run now, with NULL replies. */
void link_drop(struct link *l, const char *why);
/* Drops the link when its connect or the oldest awaited reply is overdue. */
void link_watchdog(struct link *l, int64_t now_us);
/* Stops the retry timer and frees the context without a word (shutdown);
 * pending reply callbacks run now, with NULL replies. */
void link_stop(struct link *l);
/* link_stop, then closes the retry timer's handle. */
void link_close(struct link *l);

#endif
