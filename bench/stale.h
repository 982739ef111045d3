/* stale.h - finding and tidying what a killed tqbench left behind: the
 * private directory of its embedded redis-server, and a results.json still
 * marked "running".
 *
 * Each carries its driver's identity (struct stale_owner: host, pid and the
 * process's start time, so a reused pid is not taken for the driver). The
 * next `tqbench run` removes such directories and marks such results
 * "abandoned" when their driver ran on this host and is gone; it never
 * touches what a live driver (or another host's) owns. */
#ifndef TQ_BENCH_STALE_H
#define TQ_BENCH_STALE_H

#include <cjson/cJSON.h>
#include <sys/types.h>

struct stale_owner {
    pid_t pid;
    unsigned long long start_ticks; /* /proc/PID/stat starttime */
    char host[256];
};

/* The calling process. Returns 0, or -1 when its start time is unreadable
 * (the rest is filled). */
int stale_self(struct stale_owner *o);
/* Writes dir/owner ("pid start_ticks host"). Returns 0 or -1 (errno). */
int stale_owner_write(const char *dir, const struct stale_owner *o);
/* Adds "driver": {pid, host, start_ticks} to parent (results.json). */
void stale_owner_to_json(const struct stale_owner *o, cJSON *parent);

/* Removes tmpdir/tqbench-redis-* directories whose owner file names a dead
 * driver of this host (their socket, log and owner file, then the
 * directory). Returns how many it removed; each is logged. */
int stale_sweep_redis_dirs(const char *tmpdir);
/* Marks root/<folder>/results.json files that still say "running" and
 * whose "driver" is a dead process of this host as "abandoned" (with
 * abandoned_found_at and abandoned_reason). Returns how many. */
int stale_mark_results(const char *root);

#endif
