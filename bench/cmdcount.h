/* cmdcount.h - the commands the driver itself sends to Redis, by name.
 *
 * redis.commands_per_task comes from INFO commandstats, which counts every
 * client's commands: the driver's own polling during the measured window
 * (HMGET of the run's counters every 100 ms, EXISTS of the heartbeats, the
 * backlog's RENAME, the producer connection's PING/AUTH/SELECT...) would be
 * charged to the tasks. So the driver counts what it sends, by the names
 * INFO commandstats uses (lowercase), and the window's difference is
 * subtracted from Redis's figures. INFO itself is left out on both sides
 * (the driver's measurement calls are excluded by name). */
#ifndef TQ_BENCH_CMDCOUNT_H
#define TQ_BENCH_CMDCOUNT_H

#include "tq_redis.h"

#define CMD_COUNT_MAX 32

struct cmd_count {
    int n;
    struct {
        char name[24];
        long long calls;
    } cmd[CMD_COUNT_MAX];
};

/* Adds calls to name (a lowercase command name; a name beyond the table's
 * CMD_COUNT_MAX entries is not counted). cc may be NULL: nothing counted. */
void cmd_count_add(struct cmd_count *cc, const char *name, long long calls);
/* Adds the commands tq_redis_connect() sends to u: AUTH when the URL has a
 * password, SELECT when its db is not 0, else one PING (tq_redis.h). */
void cmd_count_connect(struct cmd_count *cc, const struct tq_redis_url *u);
/* Calls counted for name (0 when none). */
long long cmd_count_of(const struct cmd_count *cc, const char *name);
/* Every call counted. */
long long cmd_count_total(const struct cmd_count *cc);
/* out = after - before, by name (a window between two snapshots). */
void cmd_count_diff(const struct cmd_count *before, const struct cmd_count *after,
                    struct cmd_count *out);

#endif
