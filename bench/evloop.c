/* evloop.c - libuv loop, signal catching and bounded pumps (see evloop.h). */
#include "evloop.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define SIGNAL_REPEAT_US 1000000 /* a repeat within this is the same Ctrl-C */
#define GIVE_UP_AFTER_SIGNAL_MS 1000

/* The loop the handler reports to. A signal handler takes no argument, so
 * this one pointer is the driver's only process-wide state besides its
 * config; it is set once by evloop_init and cleared by evloop_close. */
static struct evloop *volatile signal_loop;

/* Async-signal-safe: clock_gettime, sig_atomic_t stores and uv_async_send
 * (documented as safe in a handler). */
static void on_signal(int signo) {
    struct evloop *ev = signal_loop;
    if (!ev) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (ev->nsignals > 0 && now - ev->last_signal_us < SIGNAL_REPEAT_US) return;
    ev->last_signal_us = now;
    if (!ev->signo) ev->signo = signo;
    ev->nsignals++;
    uv_async_send(&ev->async);
}

static void on_wake(uv_timer_t *t) { (void)t; }
static void on_async(uv_async_t *a) { (void)a; }

int evloop_init(struct evloop *ev) {
    int rc = uv_loop_init(&ev->loop);
    if (rc != 0) {
        fprintf(stderr, "tqbench: uv_loop_init: %s\n", uv_strerror(rc));
        return -1;
    }
    ev->signo = 0;
    ev->nsignals = 0;
    ev->last_signal_us = 0;
    uv_timer_init(&ev->loop, &ev->wake);
    uv_async_init(&ev->loop, &ev->async, on_async);
    /* The async handle must not keep uv_run() alive on its own: a pump ends
     * on its timer even when nothing else is pending. */
    uv_unref((uv_handle_t *)&ev->async);
    signal_loop = ev;
    /* SA_RESTART: reads and writes elsewhere go on; poll(2), which every
     * wait uses, returns EINTR regardless */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("tqbench: sigaction");
        return -1;
    }
    return 0;
}

const char *evloop_give_up(void *arg, int waited_ms) {
    const struct evloop *ev = arg;
    if (ev->signo && waited_ms >= GIVE_UP_AFTER_SIGNAL_MS) return evloop_signal_name(ev->signo);
    return NULL;
}

int evloop_pump(struct evloop *ev, int timeout_ms) {
    if (ev->signo) return ev->signo;
    uv_timer_start(&ev->wake, on_wake, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
    uv_run(&ev->loop, UV_RUN_ONCE);
    uv_timer_stop(&ev->wake);
    return ev->signo;
}

int evloop_sleep(struct evloop *ev, int timeout_ms) {
    int before = ev->nsignals;
    uv_timer_start(&ev->wake, on_wake, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
    /* other handles (the monitor's timer) may end a run early: go on until
     * the timeout or a new signal */
    while (uv_is_active((uv_handle_t *)&ev->wake) && ev->nsignals == before)
        uv_run(&ev->loop, UV_RUN_ONCE);
    uv_timer_stop(&ev->wake);
    return ev->nsignals;
}

const char *evloop_signal_name(int signo) {
    switch (signo) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    default:
        return "a signal";
    }
}

void evloop_wake(struct evloop *ev) { uv_async_send(&ev->async); }

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void evloop_close(struct evloop *ev) {
    /* back to the default actions: a signal after this ends the program */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal_loop = NULL;
    uv_walk(&ev->loop, close_walk, NULL);
    while (uv_run(&ev->loop, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&ev->loop);
}
