/* producer.h - the task producer: pipelined batches.
 *
 * Tasks are encoded by the framework's adapter into one reused buffer and
 * sent a batch at a time as the adapter enqueues them (by default one
 * LPUSH key v1 .. vN: one round trip per batch, so the driver is never the
 * bottleneck it measures), with at most `depth` batches awaiting replies.
 * Ids increase with the push order and workers pop from the tail, so the
 * queue is FIFO.
 *
 * Two modes. Closed (backlog and live arrival): as fast as Redis accepts.
 * Open loop (rate arrival, as wrk2): task i is scheduled at start + i/rate;
 * every task due is sent as soon as possible and carries its scheduled wall
 * time, so latency counts from when it should have been sent, and a producer
 * or broker falling behind shows up in the latency instead of hiding it
 * (coordinated omission). The memory used is one batch, whatever the task
 * count.
 *
 * An open loop fails on the first Redis error, as a run must; with
 * keep_going (tqpush --rate, scripts/soak's producer) it keeps its schedule
 * through errors instead: the tasks of a batch that failed and those that
 * come due while Redis cannot be reached are counted as not pushed, never
 * re-sent (so never duplicated), and the connection is retried every
 * 100 ms. This is the one producer: tqbench run, tqbench enqueue and tqpush
 * all send through it. */
#ifndef TQ_BENCH_PRODUCER_H
#define TQ_BENCH_PRODUCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "evloop.h"
#include "framework.h"
#include "redis_embed.h"
#include "schedule.h"
#include "tq_redis.h"

struct producer {
    /* set by the caller */
    const struct tq_framework *fw;
    const struct fw_run *run;
    const void *fw_state;         /* the adapter's per-run state (prepare), read-only here */
    struct tq_redis_url url;
    char list_key[TQ_KEY_MAX];    /* the list tasks are enqueued onto (fw's enqueue_batch) */
    char task_run[TQ_NAME_MAX];   /* run id carried by every task */
    long tasks;                   /* how many */
    double rate;                  /* > 0: open loop at this rate (tasks/s) */
    struct schedule burst;        /* open loop with bursts (factor > 1; its rate is `rate`) */
    int batch;                    /* tasks per batch (default 256) */
    int depth;                    /* batches awaiting replies (default 16); 0: each batch's
                                     replies are read before the next batch is encoded */
    int keep_going;               /* open loop only: Redis errors are counted in not_pushed,
                                     not the end of the run (see above); implies depth 0, so
                                     a batch Redis acknowledged is never counted as lost */
    int64_t min_sleep_us;         /* open loop: a wait for the next due task lasts at least
                                     this (0: until it is due), so a high rate goes out in
                                     fewer, larger batches (tqpush: 1 ms) */
    size_t pad_len;               /* pad bytes per native payload */
    const struct fw_mix_entry *mix;
    int mix_len;
    struct evloop *ev;            /* woken when the thread ends (may be NULL) */
    /* results */
    long sent;                    /* tasks Redis acknowledged */
    long not_pushed;              /* keep_going: tasks counted as not pushed (never sent again) */
    int64_t start_wall_us, end_wall_us;  /* first batch written, last reply read */
    int64_t start_mono_us, end_mono_us;
    int64_t max_lag_us;           /* open loop: worst lateness of a send vs its schedule */
    int connected;                /* its connection's handshake was sent (counted by the run) */
    _Atomic int64_t clock_wall_us;/* start_wall_us, readable while the thread runs (0 before) */
    int rc;                       /* 0 ok, -1 err */
    char err[512];
    /* thread */
    pthread_t thread;
    int started;
    atomic_int stop;              /* set to ask the producer to stop early */
    struct tq_redis_wait wait;    /* its connection's: bounded, ends on stop */
    const struct redis_embed *embedded; /* the server when tqbench started it (its memory
                                           limit explains an OOM refusal), else NULL */
    atomic_int done;              /* set by the thread when it ends */
};

/* Fills p's defaults (batch, depth); the caller then sets the fields above. */
void producer_init(struct producer *p);
/* Runs synchronously in the calling thread. Returns p->rc. */
int producer_run(struct producer *p);
/* Runs in a new thread; p->done turns 1 at the end (and p->ev is woken).
 * Returns 0, or -1 with p->err. */
int producer_start(struct producer *p);
/* Asks the thread to stop (if running) and joins it. */
void producer_join(struct producer *p, int stop);
/* The mix entry for task id: a deterministic weighted choice (the same id
 * always gets the same kind, so warm-up, repeats and frameworks match). */
const struct fw_mix_entry *producer_pick(const struct fw_mix_entry *mix, int mix_len, uint64_t id);

#endif
