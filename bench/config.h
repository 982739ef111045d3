/* config.h - tqbench's one configuration struct and its command line.
 *
 * Everything the user can set lives in struct config; it is filled once by
 * config_parse() and echoed into results.json by config_to_json() (with the
 * Redis URL in its safe form: the password never leaves this struct except
 * through a worker's environment). */
#ifndef TQ_BENCH_CONFIG_H
#define TQ_BENCH_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "framework.h"
#include "tq_cpuset.h"
#include "tq_redis.h"

#define CONFIG_SCENARIOS_MAX 64

enum config_cmd { CMD_NONE = 0, CMD_RUN, CMD_LIST, CMD_WORKERS, CMD_CLEAN, CMD_ENQUEUE,
                  CMD_STATS, CMD_HELP, CMD_VERSION };

/* A role's CPU pinning: set = 0 leaves it where the driver started. */
struct config_pin {
    int set;
    cpu_set_t cpus;
    char list[128];             /* as tq_cpuset_format writes it: "0-1,3" */
};

struct config {
    enum config_cmd cmd;
    /* run */
    const char *scenarios[CONFIG_SCENARIOS_MAX]; /* as given: names, files or "all" */
    int nscenarios;
    char frameworks[256];       /* --framework: comma list or "all" (default "native") */
    long tasks;                 /* 0: the scenario's */
    int workers;                /* 0: the scenario's */
    int concurrency;            /* 0: the scenario's */
    int prefetch;               /* 0: the scenario's */
    int repeat;                 /* 0: the scenario's */
    long warmup;                /* -1: the scenario's */
    double rate;                /* 0: the scenario's (or half a measured capacity) */
    int has_redis;              /* --redis given (else an embedded redis-server) */
    struct tq_redis_url redis;  /* parsed --redis (password inside: never print) */
    char redis_safe[FW_ARG_LEN];/* --redis with the password as "***" */
    int external;               /* --external: attach to running workers */
    int shared_queue;           /* --shared-queue: the external queue may hold others' tasks */
    int force;                  /* --force: start although a framework's queue/processing list is not empty */
    char asynctasq_python[FW_PATH_MAX]; /* --asynctasq-python; "" = python3 on PATH */
    /* --option FRAMEWORK.NAME=VALUE (repeatable; the last of a name wins):
     * over the scenario's "options" (fw_options.h) */
    int noptions;
    struct fw_option options[FW_OPTIONS_MAX];
    char queue[TQ_NAME_MAX];    /* --queue (external mode / enqueue), default "default" */
    char prefix[TQ_NAME_MAX];   /* --prefix, default "tq" */
    char worker_bin[FW_PATH_MAX];
    char out_dir[FW_PATH_MAX];  /* --out; "" = a fresh <results root>/<UTC timestamp> */
    char results_root[FW_PATH_MAX]; /* --results-root; "" = "results" */
    int sample_ms;              /* resource sampling period */
    /* --pin-workers/--pin-redis/--pin-driver LIST: the CPUs of that role */
    struct config_pin pin_workers, pin_redis, pin_driver;
    double health_timeout_s;
    double stall_timeout_s;
    int quiet;
    int log_level;
    /* clean */
    int dry_run;                /* --dry-run: list what would be deleted, delete nothing */
    /* stats: one run's counters and merged latency histograms */
    char run_id[TQ_NAME_MAX];   /* --run ID (required) */
    int format_json;            /* --format json (default text) */
    /* run: --format table|json|md|csv, what stdout shows (export.h) */
    char format[8];
    /* enqueue (benchmark helper) */
    size_t payload_bytes;
    /* where things are (derived: $TQ_DATA_DIR, the installed share/tqbench,
     * or the source tree; TQ_SCENARIO_DIR overrides scenario_dir alone) */
    char exe_dir[FW_PATH_MAX];
    char data_dir[FW_PATH_MAX];     /* holds scenarios/ and frameworks/ */
    char data_source[16];           /* "TQ_DATA_DIR", "installed", "source tree", "not found" */
    char scenario_dir[FW_PATH_MAX];
    char frameworks_dir[FW_PATH_MAX];
};

/* Parses argv into cfg. Returns 0, or -1 with a message in err naming the
 * flag and the problem (the caller exits 2). */
int config_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Prints the usage text (all subcommands, flags, exit codes). */
void config_usage(FILE *f);
/* The effective configuration as JSON (safe URL; no password). */
cJSON *config_to_json(const struct config *cfg);

#endif
