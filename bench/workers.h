/* workers.h - the worker processes of a run: spawned or attached.
 *
 * Spawned workers are fork/exec'd from a framework's argv in their own
 * process group (so a stop reaches their children, e.g. Celery's pool) with
 * PR_SET_PDEATHSIG (so they die with the driver), each with a driver-chosen
 * id it heartbeats under. The health-check waits for exactly those
 * heartbeats; a worker that exits before beating is reported at once, with
 * its pid, exit status and the last line of its log. External workers
 * (--external) are whatever live heartbeats list the queue. During the run,
 * workers_check() notices a spawned worker that exited or any heartbeat that
 * expired, so a dead worker ends the run instead of hanging it. */
#ifndef TQ_BENCH_WORKERS_H
#define TQ_BENCH_WORKERS_H

#include <stddef.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include "evloop.h"
#include "framework.h"

struct worker_proc {
    char id[TQ_NAME_MAX];    /* heartbeat P:worker:<id> */
    pid_t pid;               /* spawned: our child; external: the pid its heartbeat reports */
    int running;             /* spawned: 1 until reaped */
    int status;              /* wait status once reaped */
    char log[FW_PATH_MAX];   /* spawned: stdout+stderr file */
};

struct worker_set {
    int n, cap;
    struct worker_proc *w;
    int external;
    char prefix[TQ_NAME_MAX];
};

void workers_init(struct worker_set *ws, const char *prefix, int external);
/* Spawns run->workers processes of fw with ids "<run_id>.w<i>", logs in
 * log_dir/<id>.log. Returns 0, or -1 with err (already spawned ones stay in
 * ws for workers_stop). */
int workers_spawn(struct worker_set *ws, const struct tq_framework *fw, const struct fw_run *run,
                  const char *log_dir, char *err, size_t errlen);
/* Waits until every spawned worker's heartbeat exists. Returns 0; -1 with
 * err on timeout (naming the missing ids), on a worker that exited, or when
 * interrupted (ev's signal). */
int workers_health_wait(struct worker_set *ws, redisContext *c, struct evloop *ev,
                        double timeout_s, char *err, size_t errlen);
/* External mode: waits until at least want live heartbeats list queue in
 * their `queues` field, then adopts all of them. -1 with err naming the
 * count seen (and their ids) on timeout. */
int workers_attach(struct worker_set *ws, redisContext *c, const char *queue, int want,
                   struct evloop *ev, double timeout_s, char *err, size_t errlen);
/* 0 while every worker lives; -1 with err naming the first one that exited
 * (pid and status) or whose heartbeat expired. */
int workers_check(struct worker_set *ws, redisContext *c, char *err, size_t errlen);
/* Spawned workers: SIGTERM to every process group, wait up to grace_ms,
 * SIGKILL what is left, reap every child by pid. No-op for external ones. */
void workers_stop(struct worker_set *ws, int grace_ms);
/* Deletes the heartbeats and registry entries of the spawned workers (a
 * killed worker cannot remove its own). */
void workers_forget(struct worker_set *ws, redisContext *c);
void workers_free(struct worker_set *ws);

#endif
