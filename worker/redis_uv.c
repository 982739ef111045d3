/* redis_uv.c - hiredis event adapter for libuv with batched writes (see
 * redis_uv.h for why it exists). */
#include "redis_uv.h"

#include <stdlib.h>
#include <string.h>

struct redis_uv_events {
    redisAsyncContext *ac;             /* NULL once hiredis cleaned up */
    struct redis_uv *ru;
    uv_poll_t poll;
    int polled;                        /* UV_READABLE|UV_WRITABLE registered */
    int want_read, want_write;         /* want_write: poll for writability */
    int queued;                        /* on ru->writes */
    int flushing;                      /* its queued write is being done now */
    struct redis_uv_events *next;
};

static void on_poll(uv_poll_t *h, int status, int events);

static void poll_update(struct redis_uv_events *e) {
    int want = (e->want_read ? UV_READABLE : 0) | (e->want_write ? UV_WRITABLE : 0);
    if (want == e->polled || !e->ac) return;
    if (want == 0) uv_poll_stop(&e->poll);
    else uv_poll_start(&e->poll, want, on_poll);
    e->polled = want;
}

static void on_poll(uv_poll_t *h, int status, int events) {
    struct redis_uv_events *e = h->data;
    if (!e->ac) return;
    if (status < 0) {
        /* libuv stopped the watcher on POLLERR; reading surfaces the socket
         * error to hiredis, which then disconnects. */
        e->polled = 0;
        poll_update(e);
        redisAsyncHandleRead(e->ac);
        return;
    }
    if (events & UV_READABLE) redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(e->ac);
}

static void add_read(void *privdata) {
    struct redis_uv_events *e = privdata;
    e->want_read = 1;
    poll_update(e);
}

static void del_read(void *privdata) {
    struct redis_uv_events *e = privdata;
    e->want_read = 0;
    poll_update(e);
}

static void add_write(void *privdata) {
    struct redis_uv_events *e = privdata;
    /* Until hiredis saw the connect complete, and when a write would block,
     * wait for a writable event; otherwise write before the next poll. */
    if (e->flushing || !(e->ac->c.flags & REDIS_CONNECTED)) {
        e->want_write = 1;
        poll_update(e);
        return;
    }
    if (!e->queued && !e->want_write) {
        e->queued = 1;
        e->next = e->ru->writes;
        e->ru->writes = e;
    }
}

static void del_write(void *privdata) {
    struct redis_uv_events *e = privdata;
    e->want_write = 0;
    poll_update(e);
}

static void on_close(uv_handle_t *h) {
    free(h->data);
}

static void unqueue(struct redis_uv_events *e) {
    if (!e->queued) return;
    for (struct redis_uv_events **pp = &e->ru->writes; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    }
    e->queued = 0;
}

static void cleanup(void *privdata) {
    struct redis_uv_events *e = privdata;
    unqueue(e);
    e->ac = NULL;
    uv_close((uv_handle_t *)&e->poll, on_close);
}

static void on_prepare(uv_prepare_t *p) {
    struct redis_uv *ru = p->data;
    while (ru->writes) {
        struct redis_uv_events *e = ru->writes;
        ru->writes = e->next;
        e->queued = 0;
        e->flushing = 1;
        redisAsyncHandleWrite(e->ac); /* may free the context (write error) */
        e->flushing = 0;
    }
}

int redis_uv_init(struct redis_uv *ru, uv_loop_t *loop) {
    memset(ru, 0, sizeof *ru);
    int rc = uv_prepare_init(loop, &ru->prepare);
    if (rc != 0) return rc;
    ru->prepare.data = ru;
    return uv_prepare_start(&ru->prepare, on_prepare);
}

void redis_uv_close(struct redis_uv *ru) {
    uv_close((uv_handle_t *)&ru->prepare, NULL);
}

int redis_uv_attach(redisAsyncContext *ac, struct redis_uv *ru) {
    if (ac->ev.data != NULL) return REDIS_ERR;
    struct redis_uv_events *e = calloc(1, sizeof *e);
    if (!e) return REDIS_ERR;
    if (uv_poll_init(ru->prepare.loop, &e->poll, ac->c.fd) != 0) {
        free(e);
        return REDIS_ERR;
    }
    e->ac = ac;
    e->ru = ru;
    e->poll.data = e;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = e;
    return REDIS_OK;
}

void redis_uv_write_now(redisAsyncContext *ac) {
    int done;
    if (!(ac->c.flags & REDIS_CONNECTED) || ac->c.err) return;
    /* the plain context's write: on an error it only sets c->err, and the
     * queued write (on_prepare) then disconnects outside any callback */
    (void)redisBufferWrite(&ac->c, &done);
}
