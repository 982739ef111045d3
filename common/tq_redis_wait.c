/* tq_redis_wait.c - bounded, interruptible replies on blocking hiredis
 * contexts (see tq_redis.h).
 *
 * hiredis 0.14's blocking redisGetReply() writes the output buffer and then
 * sits in read(2) until a whole reply arrived or the socket timeout (SO_
 * RCVTIMEO) expired; a signal delivered meanwhile is restarted over, so a
 * stopped Redis holds the caller for the whole timeout, once per command. A
 * driver that must stop within a second on Ctrl-C cannot wait like that.
 *
 * Here the same context is made non-blocking (O_NONBLOCK, hiredis's
 * REDIS_BLOCK flag cleared, so a full socket buffer is "try later", not an
 * error or a stall) and driven by hand: redisBufferWrite() when poll(2) says
 * the socket takes data, redisBufferRead() when it has some, in slices of at
 * most 100 ms, asking the caller's give_up() between slices. hiredis's own
 * redisCommand() returns NULL on such a context: every call goes through
 * tq_redis_command/tq_redis_get_reply. A call that ends without its reply
 * marks the context broken: part of a reply may have been read, so nothing
 * more can be parsed from it and the caller reconnects. */
#include "tq_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tq_clock.h"

#define WAIT_SLICE_MS 100

void tq_redis_wait_attach(redisContext *c, struct tq_redis_wait *w) {
    if (!c || !c->reader) return;
    c->reader->privdata = w;
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0) return;
    if (w) {
        fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
        c->flags &= ~REDIS_BLOCK;
    } else {
        fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
        c->flags |= REDIS_BLOCK;
    }
}

/* Marks c broken with a message (hiredis keeps errstr in the context). */
static int wait_fail(redisContext *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wait_fail(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    c->err = REDIS_ERR_IO;
    return REDIS_ERR;
}

int tq_redis_get_reply(redisContext *c, void **reply) {
    struct tq_redis_wait *w = c->reader ? c->reader->privdata : NULL;
    if (!w) return redisGetReply(c, reply);
    void *aux = NULL;
    *reply = NULL;
    if (c->err) return REDIS_ERR;
    /* a reply already buffered (pipelined commands) needs no wait */
    if (redisGetReplyFromReader(c, &aux) != REDIS_OK) return REDIS_ERR;
    int64_t start = tq_clock_mono_us();
    int written = 0;
    while (!aux) {
        int waited_ms = (int)((tq_clock_mono_us() - start) / 1000);
        if (w->timeout_ms > 0 && waited_ms >= w->timeout_ms)
            return wait_fail(c, "Redis at %s did not answer within %g s", w->where,
                             w->timeout_ms / 1000.0);
        const char *why = w->give_up ? w->give_up(w->arg, waited_ms) : NULL;
        if (why)
            return wait_fail(c, "gave up waiting for Redis at %s after %.1f s: %s", w->where,
                             waited_ms / 1000.0, why);
        int slice = WAIT_SLICE_MS;
        if (w->timeout_ms > 0 && w->timeout_ms - waited_ms < slice) slice = w->timeout_ms - waited_ms;
        struct pollfd p = {.fd = c->fd, .events = (short)(written ? POLLIN : POLLIN | POLLOUT)};
        int n = poll(&p, 1, slice);
        if (n < 0) {
            if (errno == EINTR) continue; /* a signal: give_up() is asked next */
            return wait_fail(c, "poll on the connection to %s: %s", w->where, strerror(errno));
        }
        if (n == 0) continue;
        if (!written && (p.revents & (POLLOUT | POLLERR | POLLHUP)))
            if (redisBufferWrite(c, &written) != REDIS_OK) return REDIS_ERR;
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            if (redisBufferRead(c) != REDIS_OK) return REDIS_ERR;
            if (redisGetReplyFromReader(c, &aux) != REDIS_OK) return REDIS_ERR;
        }
    }
    *reply = aux;
    return REDIS_OK;
}
