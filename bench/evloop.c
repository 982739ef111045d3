/* evloop.c - libuv loop, signal watch and bounded pumps (see evloop.h). */
#include "evloop.h"

#include <signal.h>
#include <stdio.h>

static void on_signal(uv_signal_t *h, int signo) {
    struct evloop *ev = h->data;
    if (!ev->signo) ev->signo = signo;
    ev->nsignals++;
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
    uv_signal_init(&ev->loop, &ev->sigint);
    uv_signal_init(&ev->loop, &ev->sigterm);
    uv_timer_init(&ev->loop, &ev->wake);
    uv_async_init(&ev->loop, &ev->async, on_async);
    ev->sigint.data = ev->sigterm.data = ev;
    if ((rc = uv_signal_start(&ev->sigint, on_signal, SIGINT)) != 0 ||
        (rc = uv_signal_start(&ev->sigterm, on_signal, SIGTERM)) != 0) {
        fprintf(stderr, "tqbench: uv_signal_start: %s\n", uv_strerror(rc));
        return -1;
    }
    /* The handles must not keep uv_run() alive on their own: a pump ends
     * on its timer even when nothing else is pending. */
    uv_unref((uv_handle_t *)&ev->sigint);
    uv_unref((uv_handle_t *)&ev->sigterm);
    uv_unref((uv_handle_t *)&ev->async);
    return 0;
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
    uv_signal_stop(&ev->sigint);
    uv_signal_stop(&ev->sigterm);
    uv_walk(&ev->loop, close_walk, NULL);
    while (uv_run(&ev->loop, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&ev->loop);
}
