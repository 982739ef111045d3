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
#include "schedule.h"
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
    ARRIVAL_COLD,        /* the backlog is queued before the workers start: cold start,
                            the clock starts at their spawn (no warm-up) */
};

/* What a sweep varies (scenario "sweep": {"param": ..., "values": [...]}):
 * each value is a point, a run of its own (bench/sweep.h). */
enum sweep_param {
    SWEEP_NONE = 0,
    SWEEP_RATE,          /* values are fractions of the capacity probed in the run */
    SWEEP_WORKERS,
    SWEEP_CONCURRENCY,
    SWEEP_PREFETCH,
    SWEEP_PAYLOAD_BYTES,
    SWEEP_TASKS,
};
#define SWEEP_POINTS_MAX 16

struct scenario {
    char name[TQ_NAME_MAX];
    char description[256];
    char path[FW_PATH_MAX];
    long tasks;              /* > 0; for rate arrival may come from duration_s * rate */
    long warmup_tasks;       /* >= 0 */
    int workers;             /* worker processes */
    int concurrency;         /* per process */
    int prefetch;            /* per process */
    /* "options": {"<framework>": {"<name>": "<value>"}}: each framework's
     * own settings (fw_options.h), every framework's as written; the
     * deprecated top-level "pool" is celery.pool */
    int noptions;
    struct fw_option options[FW_OPTIONS_MAX];
    int mix_len;
    struct fw_mix_entry mix[FW_MIX_MAX];
    size_t payload_bytes;    /* 0 = the minimal payload */
    enum arrival arrival;
    double rate;             /* tasks/s for ARRIVAL_RATE; 0 = half of a measured capacity */
    double duration_s;       /* ARRIVAL_RATE: tasks = rate * duration_s when > 0 */
    double timeout_s;        /* the whole measured phase must end within this */
    int repeat;
    /* sizes relative to the framework's own capacity, probed in the run:
     * the same rule for a framework at 90 tasks/s and one at 60,000 */
    double rate_fraction;    /* ARRIVAL_RATE without a rate: rate = this x capacity (0.5) */
    double probe_min_s;      /* > 0: the probe's backlog grows x10 (from 100 or the
                                warm-up) until its drain lasts this long */
    double tasks_capacity_s; /* > 0: tasks = capacity x this, at most "tasks" and at
                                most SCENARIO_CAPACITY_BYTES_MAX of payloads */
    /* "burst": open loop with bursts (burst.factor > 1; burst.rate unused:
     * the run's rate is the base) */
    struct schedule burst;
    /* several queues (nqueues > 1): the backlog is split among them by
     * these weights, each queue's tasks a sub-run of their own */
    int nqueues;
    double queue_weights[FW_QUEUES_MAX];
    /* not a key: a capacity already probed in this invocation (a rate
     * curve's first point), used instead of a probe of the run's own */
    double capacity_given;
    /* the sweep, when sweep_param != SWEEP_NONE */
    enum sweep_param sweep_param;
    int sweep_n;
    double sweep_values[SWEEP_POINTS_MAX];
};

/* A capacity-relative backlog holds at most this many payload bytes, so
 * large payloads stay within the embedded Redis's memory. */
#define SCENARIO_CAPACITY_BYTES_MAX (64L << 20)

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
/* "rate", "workers"... ("" for SWEEP_NONE); parse returns SWEEP_NONE for
 * an unknown name. */
const char *sweep_param_name(enum sweep_param p);
enum sweep_param sweep_param_parse(const char *name);
/* Whether s needs a capacity probe before its measured phase. */
int scenario_needs_probe(const struct scenario *s);
/* The scenario as JSON (for results.json). */
cJSON *scenario_to_json(const struct scenario *s);

#endif
