/* redis_embed.h - a private redis-server for one tqbench invocation.
 *
 * Without --redis, tqbench starts `redis-server` from PATH on a unix socket
 * in a fresh temp dir (mode 0700), with no TCP port and no persistence
 * (--port 0 --save '' --appendonly no), waits for PING, and stops it by pid
 * at the end. Nothing else can reach it, so nothing else can skew it. */
#ifndef TQ_BENCH_REDIS_EMBED_H
#define TQ_BENCH_REDIS_EMBED_H

#include <stddef.h>
#include <sys/types.h>
#include "evloop.h"
#include "tq_redis.h"

struct redis_embed {
    pid_t pid;               /* 0 when not running */
    char dir[256];           /* temp dir: socket and log */
    char socket[300];
    char log[300];
    struct tq_redis_url url; /* unix://<socket> */
};

/* Starts it on cpus (NULL: the caller's) and waits up to timeout_ms for
 * PING (pumping ev, so Ctrl-C is seen). Returns 0, or -1 with err (the log's
 * last line when it died). On failure nothing is left running. */
int redis_embed_start(struct redis_embed *r, struct evloop *ev, const cpu_set_t *cpus,
                      int timeout_ms, char *err, size_t errlen);
/* Stops it by pid (SIGTERM, grace, SIGKILL), reaps it, removes the temp dir.
 * Safe to call when not started or twice. */
void redis_embed_stop(struct redis_embed *r);

#endif
