/* workers.h - the worker processes of a run: spawned or attached.
 *
 * Spawned workers are fork/exec'd from a framework's argv in their own
 * process group (so a stop reaches their children, e.g. Celery's pool) with
 * PR_SET_PDEATHSIG (so they die with the driver), each with a driver-chosen
 * id it heartbeats under. The health-check waits for exactly those
 * heartbeats; a worker that exits before beating is reported at once, with
 * its pid, exit status and the last line of its log. External workers
 * (--external) are the live heartbeats that list the queue. During the run,
 * workers_check() notices a spawned worker that exited or any heartbeat that
 * expired, so a dead worker ends the run instead of hanging it.
 *
 * External workers are matched on their heartbeat's `protocol` too (a
 * framework's workers heartbeat with its name: "native", "celery"), so a
 * tqworker and a Celery worker that share a queue name are not confused.
 * Their resources come from their heartbeats (workers_beats_read), which
 * arrive once per heartbeat interval; workers_beats_wait waits, bounded, for
 * a beat later than a given instant so a window can end on a fresh one. */
#ifndef TQ_BENCH_WORKERS_H
#define TQ_BENCH_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include "cmdcount.h"
#include "evloop.h"
#include "framework.h"

struct worker_proc {
    char id[TQ_NAME_MAX];    /* heartbeat P:worker:<id> */
    pid_t pid;               /* spawned: our child; external: the pid its heartbeat reports */
    int running;             /* spawned: 1 until reaped */
    int status;              /* wait status once reaped */
    char log[FW_PATH_MAX];   /* spawned: stdout+stderr file */
    int64_t spawn_wall_us;   /* spawned: just before its fork (wall clock), 0 external */
    /* spawned: the beat_us of its heartbeat when the health check first saw
     * it (the worker's own stamp of its first beat: the check polls every
     * 50 ms, far within one heartbeat interval); 0 when it carries none */
    int64_t first_beat_us;
    /* what its heartbeats showed (workers_beats_read), for the interval */
    int64_t beat_last_us;    /* latest beat_us read, 0 none */
    int64_t beat_gap_us;     /* smallest gap seen between two of its beats, 0 none */
    int64_t pttl_max_ms;     /* largest PTTL seen on its heartbeat, 0 none */
    /* the settings its heartbeat reports (for external workers tqbench did
     * not choose them; spawned ones may differ from what was asked); -1 or ""
     * when the field is absent or malformed */
    int concurrency, prefetch;
    char protocol[32];
    char pool[32];
    char version[64];        /* the framework and its version, as the heartbeat says */
    /* the process its heartbeat names (fields pid, host, started_us), as
     * first seen: at attach (external) or at the first workers_check
     * (spawned). Another one later means two workers share the id. */
    int inst_seen;
    char inst_pid[24], inst_host[256], inst_started[24];
    /* its heartbeat's pops_abandoned at workers_abandoned_mark, -1 unread */
    int64_t abandoned_base;
};

/* One reading of a worker's heartbeat: its self-reported resources at the
 * instant beat_us (the worker's wall clock). */
struct worker_beat {
    int64_t beat_us;         /* 0: no heartbeat (absent, expired or malformed) */
    int64_t started_us;      /* tells a restarted worker (its CPU counter restarted) */
    int64_t cpu_us;          /* cpu_user_us + cpu_sys_us */
    int64_t rss_kb;
    int64_t pss_kb;          /* -1: the heartbeat has no pss_kb (older workers) */
};

struct worker_set {
    int n, cap;
    struct worker_proc *w;
    int external;
    char prefix[TQ_NAME_MAX];
    struct cmd_count *cmds;  /* counts the commands sent (may be NULL) */
};

void workers_init(struct worker_set *ws, const char *prefix, int external);
/* Spawns fw_processes() processes of fw (run->workers, times concurrency
 * for FW_LIMIT_SERIAL) with ids "<run_id>.w<i>", logs in
 * log_dir/<id>.log, on cpus (NULL: the caller's; their children inherit
 * them). Returns 0, or -1 with err (already spawned ones stay in ws for
 * workers_stop). */
int workers_spawn(struct worker_set *ws, const struct tq_framework *fw, const struct fw_run *run,
                  const cpu_set_t *cpus, const char *log_dir, char *err, size_t errlen);
/* Waits until every spawned worker's heartbeat exists, noting each one's
 * first beat_us (first_beat_us). Returns 0; -1 with err on timeout (naming
 * the missing ids), on a worker that exited, or when interrupted (ev's
 * signal). */
/* Reads what each worker's heartbeat says it runs with (protocol,
 * concurrency, prefetch, pool) into ws->w[i]: for spawned workers, whose
 * framework may turn the scenario's settings into its own (Celery's prefetch
 * window). Returns 0, or -1 with err set when Redis failed. */
int workers_settings_read(struct worker_set *ws, redisContext *c, char *err, size_t errlen);

int workers_health_wait(struct worker_set *ws, redisContext *c, struct evloop *ev,
                        double timeout_s, char *err, size_t errlen);
/* External mode: waits until at least want live heartbeats list queue in
 * their `queues` field and carry `protocol`, then adopts all of those.
 * Heartbeats on the queue with another protocol are never adopted. -1 with
 * err on timeout naming the count seen with the protocol (and their ids)
 * and how many more were seen with another one, e.g. "1 of 2 worker(s) seen
 * on queue "q" with protocol native ... (1 more with protocol celery: id)". */
int workers_attach(struct worker_set *ws, redisContext *c, const char *queue,
                   const char *protocol, int want, struct evloop *ev, double timeout_s,
                   char *err, size_t errlen);
/* External workers: "1 worker(s) x 4 (prefetch 1, protocol native)" when
 * every worker reports the same settings, else each worker's, e.g. "2
 * worker(s): a x 4 (prefetch 1), b x 8 (prefetch 2); protocol native". */
void workers_describe(const struct worker_set *ws, char *buf, size_t n);
/* External workers: 1 when every worker reports the same value of the
 * field (the value in *v), else 0. */
int workers_same_concurrency(const struct worker_set *ws, int *v);
int workers_same_prefetch(const struct worker_set *ws, int *v);
/* The pool every worker reports, or NULL when they differ or none does. */
const char *workers_same_pool(const struct worker_set *ws);
/* Reads every worker's heartbeat (HMGET and PTTL, pipelined) into
 * beats[0..ws->n-1], and notes the gaps between beats for the interval.
 * Returns 0, or -1 with err when Redis did not answer. */
int workers_beats_read(struct worker_set *ws, redisContext *c, struct worker_beat *beats,
                       char *err, size_t errlen);
/* The heartbeat interval: the smallest gap seen between two beats of one
 * worker, else its largest PTTL / 3 (the TTL is three intervals), the
 * largest over the workers; 1 s when nothing was seen. */
int64_t workers_beat_interval_us(const struct worker_set *ws);
/* Reads the heartbeats until every worker's beat_us is later than after_us
 * (same clock as the workers' stamps) or its heartbeat is gone, for at most
 * two intervals plus a margin, pumping ev (a signal ends the wait early).
 * beats holds the last reading. Returns how many workers have such a beat,
 * or -1 with err when Redis did not answer. */
int workers_beats_wait(struct worker_set *ws, redisContext *c, struct evloop *ev, int64_t after_us,
                       struct worker_beat *beats, char *err, size_t errlen);
/* 0 while every worker lives; -1 with err naming the first one that exited
 * (pid and status), whose heartbeat expired, or whose heartbeat names
 * another process (pid, host, started_us) than it did at attach or at the
 * first check: two workers share its id (a tqworker refuses the id of a live
 * one, but older workers, other frameworks' hooks and a Redis that lost the
 * heartbeat do not guard it), or it restarted mid-run. */
int workers_check(struct worker_set *ws, redisContext *c, char *err, size_t errlen);
/* Pops the workers abandoned (heartbeat field pops_abandoned: a pop in flight
 * on a connection the worker dropped after a stall, or that broke; the task
 * it took may be lost) between workers_abandoned_mark and
 * workers_abandoned_since_mark: the difference of their heartbeats, summed
 * (a worker seen only at the end counts from 0 when spawned). Heartbeats
 * lag by up to one interval. Returns -1 when no heartbeat carried the field
 * (older workers, other frameworks) or Redis did not answer. */
void workers_abandoned_mark(struct worker_set *ws, redisContext *c);
long workers_abandoned_since_mark(struct worker_set *ws, redisContext *c);
/* Spawned workers: SIGTERM to every process group, wait up to grace_ms,
 * SIGKILL what is left, reap every child by pid. No-op for external ones.
 * The grace is skipped (SIGKILL at once) once ev has seen a second
 * SIGINT/SIGTERM, before or during the wait: a second Ctrl-C means now. */
void workers_stop(struct worker_set *ws, int grace_ms, struct evloop *ev);
/* Deletes the heartbeats and registry entries of the spawned workers (a
 * killed worker cannot remove its own). */
void workers_forget(struct worker_set *ws, redisContext *c);
void workers_free(struct worker_set *ws);

#endif
