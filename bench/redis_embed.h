/* redis_embed.h - a private redis-server for one tqbench invocation.
 *
 * Without --redis, tqbench starts `redis-server` from PATH on a unix socket
 * in a fresh temp dir (mode 0700), with no TCP port and no persistence
 * (--port 0 --save '' --appendonly no), waits for PING, and stops it by pid
 * at the end. Nothing else can reach it, so nothing else can skew it.
 *
 * It is bounded in memory: --maxmemory half of what the machine has free
 * (MemAvailable, or the cgroup's limit when that is lower; at least
 * REDIS_EMBED_MAXMEMORY_FLOOR_MB), or $TQBENCH_EMBEDDED_MAXMEMORY_MB, with
 * --maxmemory-policy noeviction: a backlog or an open loop too big for the
 * machine gets "OOM command not allowed" on its writes, and the run fails
 * naming the limit, instead of the machine swapping or the OOM killer
 * choosing a victim; no task is ever evicted. */
#ifndef TQ_BENCH_REDIS_EMBED_H
#define TQ_BENCH_REDIS_EMBED_H

#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "evloop.h"
#include "tq_redis.h"

struct redis_embed {
    pid_t pid;               /* 0 when not running */
    char dir[256];           /* temp dir: socket and log */
    char socket[300];
    char log[300];
    struct tq_redis_url url; /* unix://<socket> */
    char died[512];          /* set by redis_embed_check once it exited: why */
    long maxmemory_mb;       /* its --maxmemory */
    char maxmemory_from[96]; /* how it was sized, for results.json and errors */
};

/* The environment variable that sets the embedded server's memory limit in
 * MB (tests, or a machine shared with other work). */
#define REDIS_EMBED_MAXMEMORY_ENV "TQBENCH_EMBEDDED_MAXMEMORY_MB"
#define REDIS_EMBED_MAXMEMORY_FLOOR_MB 128

/* The memory limit the embedded server gets (see above). Returns 0 with *mb
 * and from (how it was sized), or -1 with err when the environment variable
 * is set but not an integer in 1..1048576 (checked when the command line is
 * parsed, so it is a configuration error). */
int redis_embed_maxmemory(long *mb, char *from, size_t fromlen, char *err, size_t errlen);

/* Starts it on cpus (NULL: the caller's) and waits up to timeout_ms for
 * PING (pumping ev, so Ctrl-C is seen). Returns 0, or -1 with err (the log's
 * last line when it died). On failure nothing is left running. */
int redis_embed_start(struct redis_embed *r, struct evloop *ev, const cpu_set_t *cpus,
                      int timeout_ms, char *err, size_t errlen);
/* When rerr (a Redis error reply) is the OOM refusal of the running embedded
 * server r (NULL: none, a --redis server), writes what happened and how to
 * change it into buf ("the embedded Redis hit its memory limit of N MB ...")
 * and returns 1; else 0. Reads r only: safe from the producer thread while
 * the server runs. */
int redis_embed_explain_oom(const struct redis_embed *r, const char *rerr, char *buf, size_t n);
/* Whether the server is still running: 0 (or not started), or -1 with err
 * naming it, how it ended and its log's last line ("the embedded
 * redis-server (pid N) killed by SIGKILL"); it is reaped then and r->died
 * keeps the message. */
int redis_embed_check(struct redis_embed *r, char *err, size_t errlen);
/* Adds its memory limit to results.json's "redis" object. */
void redis_embed_to_json(const struct redis_embed *r, cJSON *o);
/* Stops it by pid (SIGTERM, grace, SIGKILL), reaps it, removes the temp dir.
 * Safe to call when not started or twice. */
void redis_embed_stop(struct redis_embed *r);

#endif
