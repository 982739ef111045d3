/* redis_uv.h - a hiredis 0.14 event adapter for libuv that batches writes.
 *
 * hiredis's own <hiredis/adapters/libuv.h> calls uv_poll_start() whenever
 * hiredis asks for read or write events: twice per command for the write
 * interest and once more after every read. In libuv 1.44 each uv_poll_start()
 * costs an epoll_ctl(DEL) plus an epoll_ctl(ADD) at the next poll, about six
 * system calls per task on top of the read and the write, which was the
 * largest cost of a one-task-per-BRPOP worker. This adapter keeps read
 * interest registered once, and instead of waiting for a writable event it
 * puts a context with output on a list that a uv_prepare handle writes out
 * right before the loop polls (so commands issued by callbacks of one
 * iteration go out together, and nothing waits). Only a write that would
 * block (or a connect still in progress) falls back to polling for
 * writability. Writes run outside hiredis's callbacks, so a write error may
 * free the context safely. A command that should not wait for the rest of
 * the iteration's callbacks (a consumer's next pop) goes out at once with
 * redis_uv_write_now, which leaves any error to that queued write. */
#ifndef TQ_WORKER_REDIS_UV_H
#define TQ_WORKER_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

struct redis_uv_events;

struct redis_uv {
    uv_prepare_t prepare;
    struct redis_uv_events *writes;    /* contexts with output to write */
};

/* Starts the write-flushing prepare handle on loop. Returns 0 or a uv error. */
int redis_uv_init(struct redis_uv *ru, uv_loop_t *loop);
/* Closes the prepare handle (contexts must have been freed already). */
void redis_uv_close(struct redis_uv *ru);
/* Attaches ac to ru's loop, like redisLibuvAttach. Returns REDIS_OK or REDIS_ERR. */
int redis_uv_attach(redisAsyncContext *ac, struct redis_uv *ru);

/* Writes ac's output now rather than before the next poll, from anywhere
 * (reply callbacks included): a write error is left for the queued write to
 * report. */
void redis_uv_write_now(redisAsyncContext *ac);

#endif
