/* scenario.h - benchmark scenarios: JSON files in bench/scenarios.
 *
 * A scenario says what to run (task count, weighted mix of kinds, payload
 * size), how it arrives (backlog, live, or a fixed offered rate) and on how
 * many workers. Files are validated strictly: an unknown key, a wrong type or
 * an impossible value is an error naming the file and the key, so a typo
 * never silently runs a different benchmark. */
#ifndef TQ_BENCH_SCENARIO_H
#define TQ_BENCH_SCENARIO_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "framework.h"
#include "tq_limits.h"

/* The most tasks one run may enqueue, however they are given: "tasks",
 * --tasks, or rate x duration_s for open-loop runs (a run's tasks all fit in
 * one Redis; the embedded one is also bounded in memory, redis_embed.h).
 * Every bound of a scenario key is tq_limits.h's, as the flags' are. */
#define SCENARIO_TASKS_MAX TQ_RUN_TASKS_MAX

enum arrival {
    ARRIVAL_BACKLOG = 0, /* enqueue all onto a staging list, then release it to the running
                            workers in one RENAME: the clock starts at the release */
    ARRIVAL_LIVE,        /* workers consume while the producer enqueues as fast as it can */
    ARRIVAL_RATE,        /* open loop at a fixed offered rate; latency from scheduled times */
};

struct scenario {
    char name[TQ_NAME_MAX];
    char description[256];
    char path[FW_PATH_MAX];
    long tasks;              /* > 0; for rate arrival may come from duration_s * rate */
    long warmup_tasks;       /* >= 0 */
    int workers;             /* worker processes */
    int concurrency;         /* per process */
    int prefetch;            /* per process */
    char pool[32];           /* framework pool ("" = default) */
    int mix_len;
    struct fw_mix_entry mix[FW_MIX_MAX];
    size_t payload_bytes;    /* 0 = the minimal payload */
    enum arrival arrival;
    double rate;             /* tasks/s for ARRIVAL_RATE; 0 = half of a measured capacity */
    double duration_s;       /* ARRIVAL_RATE: tasks = rate * duration_s when > 0 */
    double timeout_s;        /* the whole measured phase must end within this */
    int repeat;
};

/* Loads and validates one file. Returns 0, or -1 with err naming the file and
 * the key ("bench/scenarios/x.json: key \"taks\" is unknown"). */
int scenario_load(const char *path, struct scenario *s, char *err, size_t errlen);
/* The task count of s once the command line's overrides are applied
 * (rate_from_cli: the rate came from --rate): rate x duration_s must stay
 * within SCENARIO_TASKS_MAX, like "tasks". Returns 0, or -1 with err naming
 * the file, the rate (and where it came from) and the duration. A rate scenario
 * without a rate learns its rate from a capacity probe at run time: the run
 * checks that count itself (scenario_rate_tasks). */
int scenario_check_total(const struct scenario *s, int rate_from_cli, char *err, size_t errlen);
/* ceil(rate x duration_s), at least 1; -1 (with err) when above
 * SCENARIO_TASKS_MAX. what names where the rate came from ("--rate", "half
 * the probed capacity"). */
long scenario_rate_tasks(const struct scenario *s, double rate, const char *what, char *err,
                         size_t errlen);
/* Resolves NAME (a file NAME.json in dir) or FILE (contains '/' or ends in
 * .json) to a path. Returns 0, or -1 with err. */
int scenario_resolve(const char *dir, const char *arg, char *path, size_t n, char *err,
                     size_t errlen);
/* Every *.json in dir, sorted: fills paths (malloc'd array of malloc'd
 * strings, free with scenario_paths_free) and returns the count, or -1 with
 * err (missing dir, no files). */
int scenario_list(const char *dir, char ***paths, char *err, size_t errlen);
void scenario_paths_free(char **paths, int n);
const char *scenario_arrival_name(enum arrival a);
/* The scenario as JSON (for results.json). */
cJSON *scenario_to_json(const struct scenario *s);

#endif
