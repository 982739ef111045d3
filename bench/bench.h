/* bench.h - the state of one `tqbench run` invocation, shared by its runs:
 * the configuration, the event loop, the Redis every run uses (embedded or
 * given), the control connection, and where results go. The helpers are in
 * bench.c. */
#ifndef TQ_BENCH_BENCH_H
#define TQ_BENCH_BENCH_H

#include <hiredis/hiredis.h>
#include "cmdcount.h"
#include "config.h"
#include "evloop.h"
#include "redis_embed.h"
#include "tq_redis.h"

#define BENCH_REDIS_TIMEOUT_MS 10000 /* any one reply of the control connection */

struct bench {
    const struct config *cfg;
    struct evloop ev;
    struct redis_embed redis;     /* pid 0 when --redis was given */
    struct tq_redis_url url;      /* the Redis of every run (password inside: never print) */
    char url_safe[FW_ARG_LEN];
    redisContext *c;              /* control connection: main thread only */
    struct tq_redis_wait wait;    /* how b->c waits (tq_redis.h): bounded, ends after Ctrl-C */
    char out_dir[FW_PATH_MAX];
    char log_dir[FW_PATH_MAX + 8];    /* workers' stdout/stderr */
    int tty;                      /* stderr is a terminal: progress line with \r */
    int seq;                      /* runs started: part of each run id */
    struct cmd_count cmds;        /* commands the driver sent to Redis (cmdcount.h) */
    cpu_set_t cpus_start;         /* the CPUs tqbench started with (before --pin-driver) */
};

/* The CPUs a child of a role gets: its --pin-ROLE list, else the CPUs
 * tqbench started with (so a pinned driver does not pin its children). */
const cpu_set_t *bench_cpus(const struct bench *b, const struct config_pin *pin);

/* Makes u the Redis of every run: b->url and b->url_safe. Refuses (-1 with
 * err) a URL that would not fit in a worker's argument once written back
 * with its password (fw_run.redis_url), so no worker ever gets a cut one. */
int bench_set_redis(struct bench *b, const struct tq_redis_url *u, char *err, size_t errlen);

/* (Re)connects b->c when it is missing or broken. Returns 0, or -1 with err
 * ("cannot connect to Redis <safe URL>: <reason>"). */
int bench_connect(struct bench *b, char *err, size_t errlen);

#endif
