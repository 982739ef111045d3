/* evloop.h - the driver's event loop: a libuv loop, woken by SIGINT/SIGTERM
 * and "pumped" by the sequential phases of a run.
 *
 * A run is a sequence of phases (start Redis, health-check, enqueue, wait,
 * teardown), each of which waits for something. Every such wait goes through
 * evloop_pump(), which runs the loop until an event or a timeout: so the
 * resource monitor's timer keeps sampling and a Ctrl-C is seen within one
 * pump in every phase. The signals are caught by a plain sigaction handler
 * (not uv_signal) so that they are visible at once, also to code that waits
 * outside the loop: a Redis call blocked on a hung server asks
 * evloop_give_up() between its poll slices. */
#ifndef TQ_BENCH_EVLOOP_H
#define TQ_BENCH_EVLOOP_H

#include <signal.h>
#include <stdint.h>
#include <uv.h>

struct evloop {
    uv_loop_t loop;
    uv_timer_t wake;       /* bounds one pump */
    uv_async_t async;      /* lets other threads (the producer) wake a pump */
    /* written by the signal handler */
    volatile sig_atomic_t signo;    /* first SIGINT/SIGTERM received, 0 while none */
    volatile sig_atomic_t nsignals; /* SIGINT/SIGTERM received so far (a second one hurries
                                       teardown); one within 1 s of the previous is not counted
                                       (`timeout -s INT` and some shells deliver it twice) */
    int64_t last_signal_us;         /* monotonic time of the last one counted */
};

/* Initialises the loop and starts catching SIGINT and SIGTERM (one evloop
 * per process: the handler has no argument to find it by). Returns 0 or -1
 * (libuv error, message on stderr). */
int evloop_init(struct evloop *ev);
/* Runs the loop until an event arrives or timeout_ms passed. Returns the
 * signal number once SIGINT/SIGTERM was received (and on every later call),
 * else 0. */
int evloop_pump(struct evloop *ev, int timeout_ms);
/* Runs the loop for up to timeout_ms even after a signal (teardown waits
 * with it), returning early when one arrives. Returns ev->nsignals. */
int evloop_sleep(struct evloop *ev, int timeout_ms);
/* "SIGINT" or "SIGTERM" (the signals watched), else "a signal". */
const char *evloop_signal_name(int signo);
/* For a tq_redis_wait's give_up: once a signal was received no Redis call
 * waits more than 1 s (a hung Redis must not hold Ctrl-C; a healthy one
 * answers long before). Returns the signal's name then, else NULL. arg is
 * the struct evloop. */
const char *evloop_give_up(void *arg, int waited_ms);
/* Wakes a pump from another thread. */
void evloop_wake(struct evloop *ev);
/* Stops watching signals, closes every handle and the loop. Handles other
 * modules started on ev->loop must be closed before. */
void evloop_close(struct evloop *ev);

#endif
