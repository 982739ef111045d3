/* worker.h - tqworker's internal types, shared by its source files.
 *
 * One libuv loop drives everything. `concurrency` consumer slots (consumer.c)
 * each own an async hiredis connection that keeps one BRPOP (or a prefetch
 * RPOP) in flight and run the tasks it brings one after another (execute.c).
 * A separate control connection (control.c) carries heartbeats, batched
 * counter/histogram flushes and re-enqueues. Both kinds of connection are a
 * struct link (link.c): reconnection with backoff, and the watchdog that
 * drops a link whose reply is overdue. Counters and histograms are kept
 * per run id (runs.c). main.c owns the loop, the signals and the shutdown
 * sequence; config.c the command line. */
#ifndef TQ_WORKER_H
#define TQ_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/async.h>
#include <uv.h>

#include "link.h"
#include "protocol.h"
#include "redis_uv.h"
#include "reply_arena.h"
#include "tq_hist.h"
#include "tq_keys.h"
#include "tq_limits.h"
#include "tq_log.h"
#include "tq_redis.h"
#include "tq_task.h"

/* The bounds of the command line's values are in tq_limits.h (TQ_WORKER_*),
 * shared with tqbench, which refuses what tqworker would. */
#define WORKER_MAX_KEYS 64             /* lists popped: queues x protocol keys */
#define WORKER_FLUSH_MS 100            /* counters and histograms flush period */
#define WORKER_DRY_FLUSH_MS 10         /* a pop finding its list empty flushes at once,
                                          at most this often */
#define WORKER_TICK_MS 250             /* watchdog and idle-run reaping period */
#define WORKER_REPLY_MARGIN_MS 5000    /* a reply later than timeout + this: dead link */
#define WORKER_CONNECT_TIMEOUT_MS 5000 /* a connect taking longer: dead link (link.c) */
#define WORKER_BACKOFF_MIN_MS 50
#define WORKER_BACKOFF_MAX_MS 2000
#define WORKER_SHUTDOWN_FLUSH_MS 5000  /* graceful: time allowed for the final flush */
#define WORKER_FORCED_FLUSH_MS 2000    /* after a second signal */
#define WORKER_RUN_IDLE_MS 30000       /* a flushed run state idle this long is freed */

/* Exit codes (also in --help). */
#define WORKER_EXIT_OK 0
#define WORKER_EXIT_RUNTIME 1
#define WORKER_EXIT_USAGE 2

/* The program's configuration, from the command line and TQ_REDIS_URL. */
struct config {
    struct tq_redis_url redis;
    char redis_safe[768];              /* the URL with the password masked */
    char queues[TQ_WORKER_QUEUES_MAX][TQ_NAME_MAX];
    int nqueues;
    char queues_csv[TQ_WORKER_QUEUES_MAX * TQ_NAME_MAX];
    int concurrency;
    int prefetch;
    int64_t heartbeat_ms;
    int64_t brpop_timeout_ms;
    size_t max_payload;                /* bytes; a larger payload is counted failed unread */
    char prefix[TQ_NAME_MAX];
    char id[TQ_NAME_MAX];
    char run[TQ_NAME_MAX];
    const struct tq_protocol *protocol;
    int reliable;                      /* --reliable: processing lists (consumer.c) */
    int trace;                         /* --trace: every task's stamps to P:run:<run>:trace */
    enum tq_log_level log_level;
};

/* Parses argv (and TQ_REDIS_URL). Returns 0 to run, 1 when --help or
 * --version printed what was asked (exit 0), -1 with err naming the flag. */
int config_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Counters and latency histograms of one run, as this worker saw them. */
enum run_load { RUN_LOAD_NONE = 0, RUN_LOAD_PENDING, RUN_LOAD_DONE };

/* --trace: "origin_us,started_us,done_us" entries, each NUL-terminated. */
struct trace_buf {
    char *data;
    size_t len, cap;
    long n;
};

struct run_state {
    struct run_state *next;
    char id[TQ_NAME_MAX];
    char stats_key[TQ_KEY_MAX];
    char hist_key[TQ_KEY_MAX];
    char trace_key[TQ_KEY_MAX];            /* --trace: P:run:<run>:trace */
    /* --trace: the completed tasks' stamps not yet sent, and those of the
     * flush in flight (put back when that flush fails, dropped when its
     * EXEC succeeds), so every stamp is written once, with its count */
    struct trace_buf trace, trace_sent;
    tq_hist queue_wait, service, end_to_end;
    int64_t first_start_us, last_done_us;    /* 0 when none yet */
    int64_t first_done_us;                   /* 0 when none yet */
    /* Completed tasks without an origin stamp (enq 0 and no sched: Celery's
     * own client, a hand-written payload): in `service` but in neither
     * queue_wait nor end_to_end, whose count + out_of_range + no_origin is
     * `completed`. Part of the snapshot (field <id>:no_origin). */
    int64_t no_origin;
    /* Deltas not yet sent, and the deltas of the flush in flight (added back
     * when that flush fails, dropped when its EXEC succeeds). */
    int64_t completed, failed, retried;
    int64_t sent_completed, sent_failed, sent_retried;
    int hist_dirty;        /* histograms changed since the last snapshot sent */
    int hist_sent;         /* the flush in flight carries a snapshot */
    /* The snapshot in Redis (from an earlier state of this run, or an earlier
     * process with the same --id) is merged in before the first write, so a
     * snapshot always covers everything this worker id did in the run. */
    enum run_load load;
    int64_t active_us;     /* monotonic time of the last change */
};

/* What the next flush does with a requeued payload (REQUEUE_PUSH for the
 * BRPOP protocols; the others for reliable queues, protocol.h). */
enum requeue_op {
    REQUEUE_PUSH = 0,      /* LPUSH or RPUSH onto its list (to_head) */
    REQUEUE_ACK_COMPLETED, /* LREM from the processing list + INCR completed */
    REQUEUE_ACK_FAILED,    /* LREM from the processing list + INCR failed */
    REQUEUE_NACK           /* LREM from the processing list, RPUSH back if it was there */
};

/* A payload to push onto a list in the next flush's MULTI/EXEC: a failed task
 * going back for another attempt (LPUSH, counted in `retried` by the same
 * transaction), or a task handed back unstarted at a forced exit (RPUSH, so
 * it is the next one popped). Reliable queues also ack through here, so a
 * task leaves its processing list in the transaction that counts it. */
struct requeue {
    struct requeue *next;
    int key;               /* index into worker.keys */
    int to_head;           /* 1: RPUSH (popped next), 0: LPUSH */
    enum requeue_op op;
    int sending;           /* part of the flush in flight */
    size_t len;
    char payload[];
};

/* One popped payload waiting in a slot. */
struct entry {
    const char *src;       /* borrowed: still in the reply being handled, not yet
                              copied to its place in slot.buf (NULL once there) */
    uint32_t off, len;     /* bytes in slot.buf */
    int key;               /* the list it came from (index into worker.keys) */
};

/* One consumer: a connection, its pops, and the tasks they brought. */
struct slot {
    struct worker *w;
    int index;
    /* Its connection. A BRPOP or RPOP awaits its reply while
     * link.outstanding > 0 (one at a time); the retry timer also times the
     * pause after an error reply (hold). */
    struct link link;
    struct reply_arena arena;      /* its replies (reply_arena.h) */
    int rpop_next;                 /* the last RPOP filled up: pop by RPOP again */
    int rpop_key, rpop_asked;      /* the RPOP in flight: its list and count */
    int hold;                      /* pausing after an error reply */
    int closed;                    /* done for good (shutdown) */
    int abandoned;                 /* forced exit: ignore the running task's end */
    uv_timer_t sleep;              /* the running sleep task */
    uv_work_t work;                /* the running cpu task */
    int busy;                      /* a task runs asynchronously (sleep or cpu) */
    /* Popped payloads: entries [next, n) are unfinished; entry `next` is the
     * running one while busy. The bytes live in buf, reused batch after batch
     * (an RPOP's are read from its reply while its callback runs them, and
     * only those still held when it returns are copied: entry.src). */
    char *buf;
    size_t buf_len, buf_cap;
    struct entry *ents;
    int n, next, ents_cap;
    struct tq_task task;           /* the running task, decoded */
    struct run_state *task_run;
    int64_t task_start_us;
    /* The wall clock read that ended the task just finished inline, while
     * slot_advance runs tasks back to back: the next task's start, so a
     * batch takes one clock read per task, not two (0: read afresh). */
    int64_t stamp_us;
    /* --reliable (reliable.c): its processing list, its pops (BLMOVE, and
     * the take script's full batch; NULL otherwise), the tasks finished and
     * not yet trimmed from the list (acks; acks_sent: by the flush in
     * flight), oversized payloads counted failed, trimmed at the batch's end
     * (refused), and a recovery wanted or in flight (no pop meanwhile). */
    char plist[TQ_KEY_MAX];
    char *pop_cmd, *take_cmd;
    int pop_len, take_len;
    int64_t acks, acks_sent, refused;
    int recover_want, recover_sent;
};

/* The payload of entry e of slot s (borrowed or in its buffer). */
static inline const char *entry_payload(const struct slot *s, const struct entry *e) {
    return e->src ? e->src : s->buf + e->off;
}

/* The control connection and what it has in flight. */
struct control {
    /* Its connection; link.failed: a loss was logged, say so when back.
     * link.outstanding counts the replies awaited (for the watchdog). */
    struct link link;
    int beat_pending;
    int flush_pending;
    int registered;                /* a heartbeat claimed the id at least once */
    int id_lost;                   /* another live worker holds the id: no more
                                      heartbeats, no deregistration */
    /* The owner of a stale heartbeat (a dead process of this host) that the
     * next heartbeat takes the id over from; take_pid[0] == 0: none. */
    char take_pid[24], take_host[256], take_started[24];
    int dereg_pending, dereg_done;
    int loads_pending;
    int flush_soon;                /* a pop found its list empty: flush without
                                      waiting for the timer (control_flush_soon) */
    uv_timer_t soon_timer;         /* that flush, when the last one went out less
                                      than WORKER_DRY_FLUSH_MS ago */
    int64_t flush_sent_us;         /* monotonic: the last flush sent */
};

enum phase {
    PHASE_RUNNING = 0,
    PHASE_DRAINING,        /* signalled: no new pops; finish what was popped */
    PHASE_FLUSHING,        /* every slot closed: final flush */
    PHASE_DEREGISTERING,   /* SREM + DEL of the heartbeat */
    PHASE_CLOSING          /* closing every handle; the loop then ends */
};

struct worker {
    const struct config *cfg;
    uv_loop_t *loop;
    struct redis_uv ru;            /* the hiredis adapter's shared write batch */
    /* The lists to pop, highest priority first, and the prepared commands. */
    char keys[WORKER_MAX_KEYS][TQ_KEY_MAX];
    size_t key_len[WORKER_MAX_KEYS];
    int nkeys;
    char *brpop_cmd;
    int brpop_len;
    char *rpop_cmd;                /* RPOP keys[0] <prefetch>, formatted once (or NULL) */
    int rpop_len;
    int rpop_count_ok;             /* 0 once Redis refused RPOP key count (< 6.2) */
    struct slot *slots;
    struct control ctl;
    struct run_state *runs, *last_run;
    struct requeue *requeues, **requeue_tail;
    int64_t processed, failed, inflight;
    int rpops_out;                 /* RPOPs (or take scripts) sent, not yet answered */
    /* Pops whose reply never came because their link was dropped (the
     * watchdog, a broken connection, a forced exit) after the command left
     * this process: Redis may have removed tasks for them that nobody runs.
     * pops_abandoned_tasks: the most tasks those pops can have taken (1 per
     * BRPOP, the count of an RPOP). Worker-global, in the heartbeat. */
    int64_t pops_abandoned, pops_abandoned_tasks;
    /* --reliable: tasks put back from processing lists (heartbeat field
     * requeued); the sweep of an earlier life's extra slots, wanted or in
     * flight. */
    int64_t requeued;
    int sweep_want, sweep_sent;
    int64_t started_us;
    char host[256];
    char worker_key[TQ_KEY_MAX], registry_key[TQ_KEY_MAX];
    tq_ratelimit rl_task;          /* malformed payloads */
    tq_ratelimit rl_conn;          /* consumers' connection losses and failures */
    tq_ratelimit rl_ctl;           /* the control connection's */
    tq_ratelimit rl_reply;         /* error replies */
    tq_ratelimit rl_setup;         /* failed AUTH/SELECT of any connection */
    enum phase phase;
    int forced;
    int exit_code;
    uv_signal_t sigterm, sigint;
    uv_timer_t beat_timer, flush_timer, tick_timer, deadline_timer;
};

/* main.c */
/* Logs through a rate limiter, saying how many similar lines it dropped. */
void worker_log_limited(struct worker *w, tq_ratelimit *rl, enum tq_log_level level,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Moves the shutdown along once its current step is complete. */
void worker_progress(struct worker *w);
/* A runtime failure (out of memory): logs it, sets exit code 1, shuts down. */
void worker_fail(struct worker *w, const char *what);

/* consumer.c */
int consumers_init(struct worker *w);
void consumers_start(struct worker *w);
/* Graceful: idle slots close now, busy ones once their tasks are done. */
void consumers_stop(struct worker *w);
/* Forced: hands unfinished payloads back (requeue_add) and drops every link. */
void consumers_abort(struct worker *w);
int consumers_all_closed(const struct worker *w);
/* Drops links whose reply is overdue (hiredis 0.14 has no async timeouts). */
void consumers_watchdog(struct worker *w, int64_t now_us);
void consumers_close_handles(struct worker *w);
void consumers_free(struct worker *w);
/* Runs what the slot holds, then pops again (or closes when stopping). */
void slot_advance(struct slot *s);

/* execute.c */
/* Starts the task in entry s->next; it either finishes inline (s->next
 * moves on) or leaves the slot busy until its timer or work completes. */
void task_start(struct slot *s);
/* A popped payload larger than --max-payload-bytes, never copied nor
 * decoded: counted failed (in the run a bounded peek finds, else --run) and
 * logged at a bounded rate. */
void task_refuse_oversized(struct slot *s, const char *p, size_t len, int key);

/* reliable.c (--reliable; each is a no-op without it where it says so) */
/* Names each slot's processing list and prepares its pops. */
int reliable_init(struct worker *w);
/* Sends the take script for count tasks on the slot's link (a Redis status). */
int reliable_take(struct slot *s, int count, redisCallbackFn *cb);
/* At start: the next flush also empties the lists of slots >= concurrency. */
void reliable_start(struct worker *w);
/* The slot's list may hold tasks it does not (its link (re)opened, a pop was
 * lost, a forced exit): the next flush puts them back; no pop until then. */
void reliable_recover(struct slot *s);
/* 1 while the slot waits for its recovery (it must not pop). */
int reliable_holds(const struct slot *s);
/* 1 when a trim or a recovery is unsent or in flight (the exit waits). */
int reliable_pending(const struct worker *w);
/* 1 when the next flush has a trim or a recovery to send. */
int reliable_flush_wanted(const struct worker *w);
/* Inside the flush's MULTI, first: queues the recoveries; returns how many. */
int reliable_flush_recover(struct worker *w);
/* Inside the flush's MULTI: LTRIM of each slot's finished tasks. */
void reliable_flush_trim(struct worker *w);
/* The flush is over (exec: its EXEC reply, NULL or not an array: failed). */
void reliable_flush_settle(struct worker *w, const redisReply *exec);
void reliable_free(struct worker *w);

/* runs.c */
/* The state of run id, created on first use; NULL when out of memory. */
struct run_state *runs_get(struct worker *w, const char *id);
/* 1 when r has nothing unsent or in flight. */
int run_is_clean(const struct run_state *r);
/* --trace: appends a completed task's stamps to r->trace. Returns 0, or -1
 * when out of memory (the stamp is lost, the count is not). */
int run_trace_add(struct run_state *r, int64_t origin_us, int64_t start_us, int64_t done_us);
/* --trace: the flush carrying r->trace_sent ended: dropped when ok, else
 * put back ahead of what came since. */
void run_trace_settle(struct run_state *r, int ok);
/* Frees run states that are clean and idle for WORKER_RUN_IDLE_MS. */
void runs_reap(struct worker *w, int64_t now_us);
void runs_free(struct worker *w);

/* control.c */
void control_init(struct worker *w);
void control_start(struct worker *w);
void control_beat(struct worker *w);
/* Sends pending counters, snapshots and requeues (one flush in flight). */
void control_flush(struct worker *w);
/* A pop found its list empty (a backlog drained): flushes now instead of at
 * the next tick, so the counts show the drain's end within a round trip;
 * once the other slots' RPOPs are answered too (their batches are the
 * drain's last), and at most once per WORKER_DRY_FLUSH_MS (a one-shot timer
 * sends it when that interval is over, or after the flush in flight). */
void control_flush_soon(struct worker *w);
/* 1 when nothing is left to flush and no flush is in flight. */
int control_flushed(const struct worker *w);
void control_deregister(struct worker *w);
void control_watchdog(struct worker *w, int64_t now_us);
void control_close(struct worker *w);
/* Queues a payload for the next flush; returns 0 or -1 when out of memory. */
int requeue_add(struct worker *w, int key, const char *payload, size_t len, int to_head);
/* Reliable queues: queues an ack or nack of payload (popped from key) for the
 * next flush; returns 0 or -1 when out of memory. */
int requeue_ack(struct worker *w, int key, const char *payload, size_t len, enum requeue_op op);
void requeues_free(struct worker *w);

#endif
