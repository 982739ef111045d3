/* evloop.h - the driver's event loop: a libuv loop that owns SIGINT/SIGTERM
 * and is "pumped" by the sequential phases of a run.
 *
 * A run is a sequence of phases (start Redis, health-check, enqueue, wait,
 * teardown), each of which waits for something. Every such wait goes through
 * evloop_pump(), which runs the loop until an event or a timeout: so the
 * resource monitor's timer keeps sampling and a Ctrl-C is seen within one
 * pump in every phase, with no signal-handler globals of our own. */
#ifndef TQ_BENCH_EVLOOP_H
#define TQ_BENCH_EVLOOP_H

#include <uv.h>

struct evloop {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t wake;       /* bounds one pump */
    uv_async_t async;      /* lets other threads (the producer) wake a pump */
    int signo;             /* first SIGINT/SIGTERM received, 0 while none */
    int nsignals;          /* SIGINT/SIGTERM received so far (a second one hurries teardown) */
};

/* Initialises the loop and starts watching SIGINT and SIGTERM. Returns 0 or
 * -1 (libuv error, message on stderr). */
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
/* Wakes a pump from another thread. */
void evloop_wake(struct evloop *ev);
/* Stops watching signals, closes every handle and the loop. Handles other
 * modules started on ev->loop must be closed before. */
void evloop_close(struct evloop *ev);

#endif
