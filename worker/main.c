/* main.c - tqworker, tqbench's C noop worker: the loop, the signals and the
 * shutdown sequence.
 *
 * Shutdown (SIGTERM or SIGINT): no new pops; each slot waits for its pop in
 * flight (bounded by the BRPOP timeout), runs what it brought and closes;
 * then a final flush, then SREM + DEL of the heartbeat, then every handle is
 * closed and the loop ends with nothing left (uv_loop_close returns 0). A
 * second signal hands the unfinished tasks back to their lists and flushes at
 * once; the exit code is then 128 + that signal. A lost Redis never ends the
 * worker; only a final flush that cannot reach Redis within
 * WORKER_SHUTDOWN_FLUSH_MS of the shutdown turns the exit code into 1.
 *
 * Start: the consumers pop only once the first heartbeat claimed the worker
 * id (control.c). An id held by a live worker ends the worker with exit code
 * 2 before it popped anything; one taken by another worker while this one
 * ran ends it the way a signal does, with exit code 2. */
#include "worker.h"

#include <assert.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tq_clock.h"

#define MALLOC_MMAP_MIN (256 * 1024)

void worker_log_limited(struct worker *w, tq_ratelimit *rl, enum tq_log_level level,
                        const char *fmt, ...) {
    (void)w;
    int64_t suppressed = 0;
    if (!tq_ratelimit_allow(rl, &suppressed)) return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (suppressed)
        tq_log(level, "%s (%lld similar messages suppressed)", msg, (long long)suppressed);
    else
        tq_log(level, "%s", msg);
}

static void worker_close(struct worker *w) {
    w->phase = PHASE_CLOSING;
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->beat_timer, NULL);
    uv_close((uv_handle_t *)&w->flush_timer, NULL);
    uv_close((uv_handle_t *)&w->tick_timer, NULL);
    uv_close((uv_handle_t *)&w->deadline_timer, NULL);
    consumers_close_handles(w);
    control_close(w);
    redis_uv_close(&w->ru);
}

static void on_deadline(uv_timer_t *t) {
    struct worker *w = t->data;
    if (w->phase == PHASE_FLUSHING) {
        long long c = 0, f = 0, r = 0;
        for (const struct run_state *run = w->runs; run; run = run->next) {
            c += run->completed + run->sent_completed;
            f += run->failed + run->sent_failed;
            r += run->retried + run->sent_retried;
        }
        tq_error("final flush to %s did not complete in time: %lld completed, %lld failed and "
                 "%lld retried not recorded",
                 w->cfg->redis_safe, c, f, r);
        if (!w->forced) w->exit_code = WORKER_EXIT_RUNTIME;
        worker_close(w);
    } else if (w->phase == PHASE_DEREGISTERING) {
        tq_warn("could not remove the heartbeat from %s in time; it expires by its TTL",
                w->cfg->redis_safe);
        worker_close(w);
    }
}

void worker_progress(struct worker *w) {
    if (w->phase == PHASE_DRAINING && consumers_all_closed(w)) {
        w->phase = PHASE_FLUSHING;
        uv_timer_start(&w->deadline_timer, on_deadline,
                       w->forced ? WORKER_FORCED_FLUSH_MS : WORKER_SHUTDOWN_FLUSH_MS, 0);
        tq_debug("every consumer closed; final flush");
    }
    if (w->phase == PHASE_FLUSHING) {
        if (!control_flushed(w)) {
            control_flush(w);
            return;
        }
        w->phase = PHASE_DEREGISTERING;
        uv_timer_stop(&w->beat_timer);
        control_deregister(w);
    }
    if (w->phase == PHASE_DEREGISTERING && w->ctl.dereg_done) worker_close(w);
}

static void worker_shutdown(struct worker *w) {
    if (w->phase != PHASE_RUNNING) return;
    w->phase = PHASE_DRAINING;
    consumers_stop(w);
    worker_progress(w);
}

void worker_fail(struct worker *w, const char *what) {
    tq_error("%s: shutting down", what);
    if (w->exit_code == 0) w->exit_code = WORKER_EXIT_RUNTIME;
    worker_shutdown(w);
}

static void on_signal(uv_signal_t *h, int signum) {
    struct worker *w = h->data;
    if (w->phase == PHASE_CLOSING || w->forced) return;
    if (w->phase == PHASE_RUNNING) {
        tq_info("%s: stopping; finishing %lld popped tasks (a second signal exits at once)",
                strsignal(signum), (long long)w->inflight);
        worker_shutdown(w);
        return;
    }
    tq_warn("%s again: exiting now; handing %lld unfinished tasks back", strsignal(signum),
            (long long)w->inflight);
    w->forced = 1;
    w->exit_code = 128 + signum;
    consumers_abort(w);
    if (w->phase >= PHASE_FLUSHING)
        uv_timer_start(&w->deadline_timer, on_deadline, WORKER_FORCED_FLUSH_MS, 0);
    worker_progress(w);
}

static void on_beat_timer(uv_timer_t *t) {
    control_beat(t->data);
}

static void on_flush_timer(uv_timer_t *t) {
    control_flush(t->data);
}

static void on_tick(uv_timer_t *t) {
    struct worker *w = t->data;
    int64_t now = tq_clock_mono_us();
    consumers_watchdog(w, now);
    control_watchdog(w, now);
    runs_reap(w, now);
}

/* One descriptor per consumer connection: lift the soft limit when needed. */
static void raise_nofile(int concurrency) {
    struct rlimit rl;
    rlim_t need = (rlim_t)concurrency + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        tq_warn("open files limit %llu is low for %d connections",
                (unsigned long long)rl.rlim_cur, concurrency);
}

static void report_open_handle(uv_handle_t *h, void *arg) {
    (void)arg;
    tq_error("handle still open at exit: %s (active %d)", uv_handle_type_name(h->type),
             uv_is_active(h));
}

int main(int argc, char **argv) {
    struct config cfg; /* the program's one configuration */
    char err[512];
    int rc = config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc > 0) return WORKER_EXIT_OK;
    if (rc < 0) {
        fprintf(stderr, "tqworker: %s\n(see tqworker --help)\n", err);
        return WORKER_EXIT_USAGE;
    }
    tq_log_init("tqworker", cfg.log_level);
    signal(SIGPIPE, SIG_IGN); /* a write to a dropped link is an error, not death */
    /* Blocks of MALLOC_MMAP_MIN and more (a large payload's reply, hiredis's
     * reader buffer, a slot's batch) are mapped and unmapped on their own.
     * Left dynamic, glibc raises the threshold to the largest block freed,
     * after which such blocks come from the heap and stay resident: ten 10 MB
     * payloads left tqworker at 80 MB for good. */
    mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_MIN);
    raise_nofile(cfg.concurrency);

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        tq_error("cannot create the event loop");
        return WORKER_EXIT_RUNTIME;
    }
    struct worker w;
    memset(&w, 0, sizeof w);
    w.cfg = &cfg;
    w.loop = &loop;
    w.requeue_tail = &w.requeues;
    w.started_us = tq_clock_wall_us();
    if (gethostname(w.host, sizeof w.host) != 0) snprintf(w.host, sizeof w.host, "unknown");
    w.host[sizeof w.host - 1] = '\0';
    tq_key_worker(w.worker_key, sizeof w.worker_key, cfg.prefix, cfg.id);
    tq_key_workers(w.registry_key, sizeof w.registry_key, cfg.prefix);
    tq_ratelimit_init(&w.rl_task, 5, 10 * 1000000LL);
    tq_ratelimit_init(&w.rl_conn, 3, 10 * 1000000LL);
    tq_ratelimit_init(&w.rl_ctl, 5, 10 * 1000000LL);
    tq_ratelimit_init(&w.rl_reply, 5, 10 * 1000000LL);
    tq_ratelimit_init(&w.rl_setup, 3, 10 * 1000000LL);

    uv_signal_init(&loop, &w.sigterm);
    uv_signal_init(&loop, &w.sigint);
    uv_timer_init(&loop, &w.beat_timer);
    uv_timer_init(&loop, &w.flush_timer);
    uv_timer_init(&loop, &w.tick_timer);
    uv_timer_init(&loop, &w.deadline_timer);
    w.sigterm.data = w.sigint.data = &w;
    w.beat_timer.data = w.flush_timer.data = w.tick_timer.data = w.deadline_timer.data = &w;
    control_init(&w);
    if (redis_uv_init(&w.ru, &loop) != 0) {
        tq_error("cannot start the event loop's write batching");
        return WORKER_EXIT_RUNTIME;
    }

    if (consumers_init(&w) != 0) {
        w.exit_code = WORKER_EXIT_RUNTIME;
        worker_close(&w);
    } else {
        uv_signal_start(&w.sigterm, on_signal, SIGTERM);
        uv_signal_start(&w.sigint, on_signal, SIGINT);
        tq_info("worker %s: redis %s, queues %s, concurrency %d, prefetch %d, protocol %s, "
                "default run %s",
                cfg.id, cfg.redis_safe, cfg.queues_csv, cfg.concurrency, cfg.prefetch,
                cfg.protocol->name, cfg.run);
        /* the consumers start once the first heartbeat claimed the id */
        control_start(&w);
        uv_timer_start(&w.beat_timer, on_beat_timer, (uint64_t)cfg.heartbeat_ms,
                       (uint64_t)cfg.heartbeat_ms);
        uv_timer_start(&w.flush_timer, on_flush_timer, WORKER_FLUSH_MS, WORKER_FLUSH_MS);
        uv_timer_start(&w.tick_timer, on_tick, WORKER_TICK_MS, WORKER_TICK_MS);
    }

    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    if (rc != 0) {
        uv_walk(&loop, report_open_handle, NULL);
        tq_error("event loop not empty at exit: %s", uv_strerror(rc));
        assert(rc == 0);
        if (w.exit_code == 0) w.exit_code = WORKER_EXIT_RUNTIME;
    }
    consumers_free(&w);
    runs_free(&w);
    requeues_free(&w);
    tq_info("worker %s: exit %d (%lld processed, %lld failed)", cfg.id, w.exit_code,
            (long long)w.processed, (long long)w.failed);
    return w.exit_code;
}
