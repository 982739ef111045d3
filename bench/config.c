/* config.c - tqbench's command line (see config.h).
 *
 * `tqbench SUBCOMMAND [flags]`: the subcommand comes first, then getopt_long
 * flags. Each flag names the subcommands it belongs to, so a flag given to
 * the wrong one is an error rather than silently ignored. Numbers are parsed
 * strictly (tq_parse.h): "--tasks must be an integer in 1..1000000000 (got
 * \"1e3\")". tqbench never reads TQ_REDIS_URL: an exported worker setting
 * must not silently redirect a benchmark. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "export.h"
#include "fw_options.h"
#include "redis_embed.h"
#include "tq_limits.h"
#include "tq_log.h"
#include "tq_parse.h"

enum {
    OPT_SCENARIO = 1000, OPT_FRAMEWORK, OPT_TASKS, OPT_WORKERS, OPT_CONCURRENCY, OPT_PREFETCH,
    OPT_REPEAT, OPT_WARMUP, OPT_RATE, OPT_REDIS, OPT_EXTERNAL, OPT_QUEUE, OPT_PREFIX,
    OPT_WORKER_BIN, OPT_OUT, OPT_SAMPLE_MS, OPT_HEALTH_TIMEOUT, OPT_STALL_TIMEOUT, OPT_QUIET,
    OPT_LOG_LEVEL, OPT_PAYLOAD_BYTES, OPT_RESULTS_ROOT, OPT_PIN_WORKERS, OPT_PIN_REDIS,
    OPT_PIN_DRIVER, OPT_SHARED_QUEUE, OPT_FORCE, OPT_ASYNCTASQ_PYTHON, OPT_DRY_RUN, OPT_RUN, OPT_FORMAT, OPT_HELP, OPT_VERSION,
    OPT_OPTION,
};

#define FOR_RUN (1u << CMD_RUN)
#define FOR_LIST (1u << CMD_LIST)
#define FOR_WORKERS (1u << CMD_WORKERS)
#define FOR_CLEAN (1u << CMD_CLEAN)
#define FOR_ENQUEUE (1u << CMD_ENQUEUE)
#define FOR_STATS (1u << CMD_STATS)
#define FOR_ALL 0xffffu

static const struct option long_opts[] = {
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"framework", required_argument, NULL, OPT_FRAMEWORK},
    {"tasks", required_argument, NULL, OPT_TASKS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"prefetch", required_argument, NULL, OPT_PREFETCH},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"rate", required_argument, NULL, OPT_RATE},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"external", no_argument, NULL, OPT_EXTERNAL},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"worker-bin", required_argument, NULL, OPT_WORKER_BIN},
    {"out", required_argument, NULL, OPT_OUT},
    {"sample-ms", required_argument, NULL, OPT_SAMPLE_MS},
    {"health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT},
    {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"payload-bytes", required_argument, NULL, OPT_PAYLOAD_BYTES},
    {"results-root", required_argument, NULL, OPT_RESULTS_ROOT},
    {"pin-workers", required_argument, NULL, OPT_PIN_WORKERS},
    {"pin-redis", required_argument, NULL, OPT_PIN_REDIS},
    {"pin-driver", required_argument, NULL, OPT_PIN_DRIVER},
    {"shared-queue", no_argument, NULL, OPT_SHARED_QUEUE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"asynctasq-python", required_argument, NULL, OPT_ASYNCTASQ_PYTHON},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"run", required_argument, NULL, OPT_RUN},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"option", required_argument, NULL, OPT_OPTION},
    {NULL, 0, NULL, 0},
};

/* Which subcommands accept each flag (indexed by OPT_* - OPT_SCENARIO). */
static const unsigned opt_scope[] = {
    FOR_RUN, FOR_RUN, FOR_RUN | FOR_ENQUEUE, FOR_RUN, FOR_RUN, FOR_RUN, FOR_RUN, FOR_RUN, FOR_RUN,
    FOR_RUN | FOR_WORKERS | FOR_CLEAN | FOR_ENQUEUE | FOR_STATS, FOR_RUN, FOR_RUN | FOR_ENQUEUE,
    FOR_RUN | FOR_WORKERS | FOR_CLEAN | FOR_ENQUEUE | FOR_STATS, FOR_RUN, FOR_RUN, FOR_RUN,
    FOR_RUN, FOR_RUN, FOR_RUN, FOR_ALL, FOR_ENQUEUE, FOR_RUN, FOR_RUN, FOR_RUN, FOR_RUN, FOR_RUN,
    FOR_RUN, FOR_RUN | FOR_LIST, FOR_CLEAN, FOR_STATS, FOR_STATS | FOR_RUN, FOR_ALL, FOR_ALL,
    FOR_RUN,
};

_Static_assert(sizeof opt_scope / sizeof opt_scope[0] == OPT_OPTION - OPT_SCENARIO + 1,
               "one scope per flag");

static const char *const cmd_names[] = {"", "run", "list", "workers", "clean", "enqueue",
                                        "stats", "", ""};

void config_usage(FILE *f) {
    fputs(
        "Usage: tqbench run [flags]        run benchmark scenarios, write results.json\n"
        "       tqbench list               scenarios and frameworks, one line each\n"
        "       tqbench workers [--redis URL] [--prefix P]\n"
        "                                  live workers from their heartbeats (exit 1: none\n"
        "                                  live; exit 2: Redis cannot be reached)\n"
        "       tqbench clean [--redis URL] [--prefix P] [--dry-run]\n"
        "                                  delete what tqbench runs that are over left: the\n"
        "                                  P:run:<run>:* keys of runs whose driver no longer\n"
        "                                  keeps P:run:<run>:live alive, the queue tqbench\n"
        "                                  created for such a run, stale P:workers entries.\n"
        "                                  Live runs are skipped (named, with their driver's\n"
        "                                  pid and host); no other queue is ever deleted (not\n"
        "                                  another producer's, not an --external run's). Never\n"
        "                                  FLUSH. --dry-run: list each key it would delete,\n"
        "                                  delete nothing (exit 2: Redis cannot be reached)\n"
        "       tqbench stats --run ID [--redis URL] [--prefix P] [--format text|json]\n"
        "                                  one run's counters (P:run:<run>:stats) and latency\n"
        "                                  percentiles from its merged histograms (end to end\n"
        "                                  and queue wait, µs); exit 1: no such run or a Redis\n"
        "                                  error; exit 2: Redis cannot be reached\n"
        "       tqbench report RESULTS.json|DIR [-o FILE] [--format html|table|json|md|csv]\n"
        "                                  report.html (default: beside RESULTS.json) or an\n"
        "                                  export, from results.json alone\n"
        "       tqbench compare BASE NEW [--threshold PCT] [--format table|md]\n"
        "                                  per scenario, framework and figure: both medians,\n"
        "                                  the change, a verdict (exit 1: a regression beyond\n"
        "                                  the threshold and the noise; 2: unusable input)\n"
        "       tqbench --help | --version\n"
        "\n"
        "run flags:\n"
        "  --scenario NAME|FILE|all  scenario to run (repeatable; default throughput). NAME is a\n"
        "                            file NAME.json in the scenario directory; all = every file\n"
        "  --framework LIST|all      comma-separated frameworks (default native); all = every\n"
        "                            available one (unavailable ones skipped with the reason)\n"
        "  --tasks N                 override the scenario's task count\n"
        "  --workers N               worker processes (with --external: heartbeats to wait for)\n"
        "  --concurrency N           tasks in flight per worker process (not with --external:\n"
        "                            attached workers' own settings come from their heartbeats)\n"
        "  --prefetch N              tasks reserved ahead per worker process (idem)\n"
        "  --repeat R                repeats per (scenario, framework); adds median/min/max/CV\n"
        "  --warmup N                warm-up tasks (not counted) instead of the scenario's\n"
        "  --rate N                  offered rate in tasks/s for `rate` arrival (default: the\n"
        "                            scenario's, else half of a capacity measured in the run)\n"
        "  --redis URL               use this Redis: redis://[user:pass@]host[:port][/db] or\n"
        "                            unix:///path.sock[?db=N][&password=P] (redis:// also takes\n"
        "                            ?db=N&password=P); default: an embedded redis-server on a\n"
        "                            private unix socket, stopped at the end. A Redis that\n"
        "                            cannot be reached is a configuration error (exit 2)\n"
        "  --external                attach to workers started elsewhere: no spawning; wait for\n"
        "                            --workers heartbeats listing --queue\n"
        "  --queue NAME              queue of external workers (default \"default\"); spawned\n"
        "                            workers always get a fresh per-run queue\n"
        "  --shared-queue            with --external: run although the queue already holds\n"
        "                            tasks tqbench did not put there (refused otherwise, exit\n"
        "                            2); they stay, are run among this run's tasks, and are\n"
        "                            counted in results.json (foreign_at_start/_at_end)\n"
        "  --force                   start although a framework's queue or processing list\n"
        "                            holds tasks that would corrupt its per-queue counters\n"
        "                            (AsyncTasQ: refused otherwise, naming them)\n"
        "  --asynctasq-python PATH   the Python that imports asynctasq (default: python3 on\n"
        "                            PATH); asynctasq is available iff PATH -c 'import asynctasq'\n"
        "  --option FW.NAME=VALUE    a framework's own setting (repeatable), over the\n"
        "                            scenario's \"options\": e.g. celery.pool=threads; each\n"
        "                            framework's options: `tqbench list`. One its framework\n"
        "                            does not take is exit 2; other frameworks' are ignored\n"
        "  --prefix P                native key prefix (default tq)\n"
        "  --worker-bin PATH         tqworker binary (default: next to tqbench)\n"
        "  --out DIR                 results folder; refused (exit 2) when DIR already holds a\n"
        "                            results.json: nothing is ever overwritten\n"
        "  --results-root DIR        parent of the results folder: each invocation gets a new\n"
        "                            DIR/<UTC timestamp>[-N] (default: results)\n"
        "  --sample-ms MS            resource sampling period (default 500)\n"
        "  --pin-workers LIST        run the spawned workers (and their children) on these\n"
        "                            CPUs: 0, 0-3 or 0,2-3, as taskset writes them (not with\n"
        "                            --external)\n"
        "  --pin-redis LIST          run the embedded redis-server on these CPUs (not with\n"
        "                            --redis)\n"
        "  --pin-driver LIST         run tqbench itself (producer, monitor, helpers) on these\n"
        "                            CPUs; unpinned roles keep the CPUs tqbench started with.\n"
        "                            results.json records each role's cpus_allowed and\n"
        "                            cpus_seen, pinned or not\n"
        "  --health-timeout S        seconds for every expected heartbeat to appear (default 30)\n"
        "  --stall-timeout S         seconds without progress before a run fails (default 30)\n"
        "  --quiet                   no progress line, no table (results.json only)\n"
        "  --format table|json|md|csv  what stdout shows at the end instead of the tables: the\n"
        "                            results.json document, Markdown tables or CSV (a row\n"
        "                            per run); report.html is written beside results.json\n"
        "  --log-level LEVEL         debug|info|warn|error|off, any case; warning = warn\n"
        "                            (default warn)\n"
        "\n"
        "benchmark helper (used by scripts/bench-driver):\n"
        "  tqbench enqueue --tasks N [--redis URL] [--queue NAME] [--prefix P] [--payload-bytes B]\n"
        "      LPUSHes N noop tasks with the run's producer (pipelined multi-value LPUSH) onto\n"
        "      P:queue:NAME, prints the rate and the driver's peak RSS (VmHWM), and leaves the\n"
        "      tasks in place (the caller deletes the list).\n"
        "\n"
        "Data (scenarios/, frameworks/): $TQ_DATA_DIR, else <tqbench dir>/" TQ_INSTALL_DATA_REL "\n"
        "(installed), else the source tree tqbench was built from (" TQ_SOURCE_DATA_DIR ").\n"
        "$TQ_SCENARIO_DIR overrides the scenario directory alone. `tqbench list` and\n"
        "results.json (config.data_dir, data_source) say which was used.\n"
        "tqbench does not read TQ_REDIS_URL.\n"
        "The embedded redis-server gets --maxmemory half of the free memory (MemAvailable, or\n"
        "the cgroup's limit; at least 128 MB) with noeviction: a run that fills it fails,\n"
        "naming the limit. TQBENCH_EMBEDDED_MAXMEMORY_MB=N sets another limit (MB).\n"
        "\n"
        "Exit codes: 0 every run complete; 1 a run failed (lost tasks, stall, dead worker,\n"
        "health-check timeout, interrupted); 2 usage or configuration error (a bad flag or\n"
        "scenario, a Redis that cannot be reached, --out over an earlier results.json).\n"
        "A second Ctrl-C during teardown kills the workers at once (no 5 s grace).\n",
        f);
}

static int parse_long(const char *flag, const char *s, long min, long max, long *out, char *err,
                      size_t errlen) {
    long long v;
    if (tq_parse_int(s, min, max, &v) != 0) {
        snprintf(err, errlen, "%s must be an integer in %ld..%ld (got \"%s\")", flag, min, max, s);
        return -1;
    }
    *out = (long)v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double min, double max, double *out,
                        char *err, size_t errlen) {
    if (tq_parse_double(s, min, max, out) != 0) {
        snprintf(err, errlen, "%s must be a number in %g..%g (got \"%s\")", flag, min, max, s);
        return -1;
    }
    return 0;
}

static int copy_name(const char *flag, const char *s, char *dst, size_t n, char *err,
                     size_t errlen) {
    if (!tq_name_valid(s)) {
        snprintf(err, errlen,
                 "%s must be 1..%d characters of [A-Za-z0-9._@-] (got \"%s\")", flag,
                 TQ_NAME_MAX - 1, s);
        return -1;
    }
    snprintf(dst, n, "%s", s);
    return 0;
}

static int copy_path(const char *flag, const char *s, char *dst, size_t n, char *err,
                     size_t errlen) {
    if (!*s || strlen(s) >= n) {
        snprintf(err, errlen, "%s must be a non-empty path shorter than %zu bytes", flag, n);
        return -1;
    }
    snprintf(dst, n, "%s", s);
    return 0;
}

/* Copies a path; one too long for the buffer becomes "" (then "not found"
 * errors name the directory as empty rather than a truncated wrong one). */
static void set_path(char *dst, size_t n, const char *src) {
    if (strlen(src) >= n) dst[0] = '\0';
    else memcpy(dst, src, strlen(src) + 1);
}

/* The data directory: scenarios/ and frameworks/ (the Celery task module,
 * its hook and helpers). The first of these that holds a scenarios/ folder:
 *   1. $TQ_DATA_DIR (when set it is the only one tried: a wrong value is an
 *      error naming it, not a silent fall back to other files);
 *   2. <exe dir>/TQ_INSTALL_DATA_REL, the installed layout
 *      (DIR/bin/tqbench -> DIR/share/tqbench, from CMake's install dirs);
 *   3. TQ_SOURCE_DATA_DIR, the bench/ folder of the source tree this binary
 *      was built from, so a build tree anywhere (cmake -B /tmp/x) runs.
 * When none holds one, the last tried is kept and `list`/`run` name it.
 * TQ_SCENARIO_DIR then overrides the scenario directory alone. */
#ifndef TQ_INSTALL_DATA_REL
#define TQ_INSTALL_DATA_REL "../share/tqbench"
#endif
#ifndef TQ_SOURCE_DATA_DIR
#define TQ_SOURCE_DATA_DIR ""
#endif

static int has_scenarios(const char *dir) {
    char p[FW_PATH_MAX + 16];
    struct stat st;
    int n = snprintf(p, sizeof p, "%s/scenarios", dir);
    return n > 0 && (size_t)n < sizeof p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir (made absolute when it exists) as the data directory, from source. */
static void use_data_dir(struct config *cfg, const char *dir, const char *source) {
    char real[PATH_MAX];
    set_path(cfg->data_dir, sizeof cfg->data_dir, realpath(dir, real) ? real : dir);
    snprintf(cfg->data_source, sizeof cfg->data_source, "%s", source);
}

static void locate_dirs(struct config *cfg) {
    char exe[FW_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(cfg->exe_dir, sizeof cfg->exe_dir, ".");
    } else {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(cfg->exe_dir, sizeof cfg->exe_dir, "%s", exe);
    }
    char installed[FW_PATH_MAX + sizeof TQ_INSTALL_DATA_REL + 1];
    snprintf(installed, sizeof installed, "%s/%s", cfg->exe_dir, TQ_INSTALL_DATA_REL);
    const char *env = getenv("TQ_DATA_DIR");
    if (env && *env) use_data_dir(cfg, env, "TQ_DATA_DIR");
    else if (has_scenarios(installed)) use_data_dir(cfg, installed, "installed");
    else if (TQ_SOURCE_DATA_DIR[0] && has_scenarios(TQ_SOURCE_DATA_DIR))
        use_data_dir(cfg, TQ_SOURCE_DATA_DIR, "source tree");
    else use_data_dir(cfg, TQ_SOURCE_DATA_DIR[0] ? TQ_SOURCE_DATA_DIR : installed, "not found");
    char dir[FW_PATH_MAX + 16];
    const char *scen = getenv("TQ_SCENARIO_DIR");
    if (scen && *scen) {
        set_path(cfg->scenario_dir, sizeof cfg->scenario_dir, scen);
    } else {
        snprintf(dir, sizeof dir, "%s/scenarios", cfg->data_dir);
        set_path(cfg->scenario_dir, sizeof cfg->scenario_dir, dir);
    }
    snprintf(dir, sizeof dir, "%s/frameworks", cfg->data_dir);
    set_path(cfg->frameworks_dir, sizeof cfg->frameworks_dir, dir);
}

static void config_defaults(struct config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->frameworks, sizeof cfg->frameworks, "native");
    cfg->warmup = -1;
    snprintf(cfg->queue, sizeof cfg->queue, "default");
    snprintf(cfg->prefix, sizeof cfg->prefix, "%s", TQ_DEFAULT_PREFIX);
    cfg->sample_ms = 500;
    cfg->health_timeout_s = 30;
    cfg->stall_timeout_s = 30;
    cfg->log_level = TQ_LOG_WARN;
    locate_dirs(cfg);
}

static int parse_cmd(const char *s, enum config_cmd *cmd) {
    for (int i = CMD_RUN; i <= CMD_STATS; i++)
        if (strcmp(s, cmd_names[i]) == 0) {
            *cmd = (enum config_cmd)i;
            return 0;
        }
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0) {
        *cmd = CMD_HELP;
        return 0;
    }
    if (strcmp(s, "--version") == 0) {
        *cmd = CMD_VERSION;
        return 0;
    }
    return -1;
}

static int parse_pin(const char *flag, const char *s, struct config_pin *pin, char *err,
                     size_t errlen) {
    char perr[384];
    if (tq_cpuset_parse(s, &pin->cpus, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "%s: %s", flag, perr);
        return -1;
    }
    pin->set = 1;
    tq_cpuset_format(&pin->cpus, pin->list, sizeof pin->list);
    return 0;
}

/* --worker-bin must be a program that can run: found at parse time (exit 2)
 * rather than by a fork/exec that fails after Redis and the results folder
 * were set up. */
static int check_program(const char *flag, const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", flag, path,
                 errno == ENOENT ? "no such file" : strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
        snprintf(err, errlen, "%s %s: %s", flag, path,
                 S_ISDIR(st.st_mode) ? "is a directory, not a program"
                 : !S_ISREG(st.st_mode) ? "is not a regular file"
                                        : "is not executable");
        return -1;
    }
    return 0;
}

/* "FLAG: " in front of err; returns -1. */
static int prefix_flag(const char *flag, char *err, size_t errlen) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", err);
    snprintf(err, errlen, "%s %s", flag, tmp);
    return -1;
}

static int apply_opt(struct config *cfg, int opt, const char *arg, const char *flag, char *err,
                     size_t errlen) {
    long v;
    switch (opt) {
    case OPT_SCENARIO:
        if (cfg->nscenarios >= CONFIG_SCENARIOS_MAX) {
            snprintf(err, errlen, "--scenario given more than %d times", CONFIG_SCENARIOS_MAX);
            return -1;
        }
        if (!*arg) {
            snprintf(err, errlen, "--scenario must not be empty");
            return -1;
        }
        cfg->scenarios[cfg->nscenarios++] = arg;
        return 0;
    case OPT_FRAMEWORK: {
        if (!*arg || strlen(arg) >= sizeof cfg->frameworks) {
            snprintf(err, errlen, "--framework must be a comma-separated list of names or \"all\"");
            return -1;
        }
        /* "native,,celery", ",native", "native,": an entry left empty is a
         * typo, not a name to skip (as tqworker's --queue a,,b) */
        size_t len = strlen(arg);
        if (arg[0] == ',' || arg[len - 1] == ',' || strstr(arg, ",,")) {
            snprintf(err, errlen, "--framework: empty entry in \"%s\"", arg);
            return -1;
        }
        snprintf(cfg->frameworks, sizeof cfg->frameworks, "%s", arg);
        return 0;
    }
    case OPT_TASKS:
        if (parse_long(flag, arg, 1, TQ_RUN_TASKS_MAX, &v, err, errlen)) return -1;
        cfg->tasks = v;
        return 0;
    case OPT_WORKERS:
        if (parse_long(flag, arg, 1, TQ_RUN_WORKERS_MAX, &v, err, errlen)) return -1;
        cfg->workers = (int)v;
        return 0;
    case OPT_CONCURRENCY:
        /* tqworker's own bounds (tq_limits.h): what it would refuse is
         * refused here, before anything starts */
        if (parse_long(flag, arg, 1, TQ_WORKER_CONCURRENCY_MAX, &v, err, errlen)) return -1;
        cfg->concurrency = (int)v;
        return 0;
    case OPT_PREFETCH:
        if (parse_long(flag, arg, 1, TQ_WORKER_PREFETCH_MAX, &v, err, errlen)) return -1;
        cfg->prefetch = (int)v;
        return 0;
    case OPT_REPEAT:
        if (parse_long(flag, arg, 1, TQ_RUN_REPEAT_MAX, &v, err, errlen)) return -1;
        cfg->repeat = (int)v;
        return 0;
    case OPT_WARMUP:
        if (parse_long(flag, arg, 0, TQ_RUN_WARMUP_MAX, &v, err, errlen)) return -1;
        cfg->warmup = v;
        return 0;
    case OPT_RATE:
        return parse_double(flag, arg, 1, TQ_RUN_RATE_MAX, &cfg->rate, err, errlen);
    case OPT_REDIS: {
        char perr[256];
        if (tq_redis_url_parse(arg, &cfg->redis, perr, sizeof perr) != 0) {
            snprintf(err, errlen, "--redis: %s", perr);
            return -1;
        }
        cfg->has_redis = 1;
        tq_redis_url_format_safe(&cfg->redis, cfg->redis_safe, sizeof cfg->redis_safe);
        return 0;
    }
    case OPT_EXTERNAL:
        cfg->external = 1;
        return 0;
    case OPT_SHARED_QUEUE:
        cfg->shared_queue = 1;
        return 0;
    case OPT_FORCE:
        cfg->force = 1;
        return 0;
    case OPT_ASYNCTASQ_PYTHON:
        return copy_path(flag, arg, cfg->asynctasq_python, sizeof cfg->asynctasq_python, err, errlen);
    case OPT_QUEUE:
        return copy_name(flag, arg, cfg->queue, sizeof cfg->queue, err, errlen);
    case OPT_PREFIX:
        return copy_name(flag, arg, cfg->prefix, sizeof cfg->prefix, err, errlen);
    case OPT_WORKER_BIN:
        if (copy_path(flag, arg, cfg->worker_bin, sizeof cfg->worker_bin, err, errlen)) return -1;
        return check_program(flag, arg, err, errlen);
    case OPT_OUT:
        return copy_path(flag, arg, cfg->out_dir, sizeof cfg->out_dir, err, errlen);
    case OPT_RESULTS_ROOT:
        return copy_path(flag, arg, cfg->results_root, sizeof cfg->results_root, err, errlen);
    case OPT_SAMPLE_MS:
        if (parse_long(flag, arg, 10, 60000, &v, err, errlen)) return -1;
        cfg->sample_ms = (int)v;
        return 0;
    case OPT_HEALTH_TIMEOUT:
        return parse_double(flag, arg, 0.1, 3600, &cfg->health_timeout_s, err, errlen);
    case OPT_STALL_TIMEOUT:
        return parse_double(flag, arg, 0.1, 86400, &cfg->stall_timeout_s, err, errlen);
    case OPT_QUIET:
        cfg->quiet = 1;
        return 0;
    case OPT_LOG_LEVEL: {
        int lv = tq_log_level_parse(arg);
        if (lv < 0) {
            snprintf(err, errlen, "--log-level must be debug, info, warn, error or off (got \"%s\")",
                     arg);
            return -1;
        }
        cfg->log_level = lv;
        return 0;
    }
    case OPT_PAYLOAD_BYTES:
        if (parse_long(flag, arg, 0, TQ_RUN_PAYLOAD_BYTES_MAX, &v, err, errlen)) return -1;
        cfg->payload_bytes = (size_t)v;
        return 0;
    case OPT_PIN_WORKERS:
        return parse_pin(flag, arg, &cfg->pin_workers, err, errlen);
    case OPT_PIN_REDIS:
        return parse_pin(flag, arg, &cfg->pin_redis, err, errlen);
    case OPT_PIN_DRIVER:
        return parse_pin(flag, arg, &cfg->pin_driver, err, errlen);
    case OPT_DRY_RUN:
        cfg->dry_run = 1;
        return 0;
    case OPT_RUN:
        return copy_name(flag, arg, cfg->run_id, sizeof cfg->run_id, err, errlen);
    case OPT_FORMAT:
        if (cfg->cmd == CMD_RUN) {
            if (export_parse_format(arg) < 0) {
                snprintf(err, errlen, "--format must be table, json, md or csv (got \"%s\")", arg);
                return -1;
            }
            snprintf(cfg->format, sizeof cfg->format, "%s", arg);
        } else if (strcmp(arg, "json") == 0) cfg->format_json = 1;
        else if (strcmp(arg, "text") == 0) cfg->format_json = 0;
        else {
            snprintf(err, errlen, "--format must be text or json (got \"%s\")", arg);
            return -1;
        }
        return 0;
    case OPT_OPTION: {
        struct fw_option o;
        if (fw_options_parse(arg, &o, err, errlen) != 0) return prefix_flag(flag, err, errlen);
        if (!framework_find(o.framework)) {
            snprintf(err, errlen, "%s %s: no framework \"%s\" (see tqbench list)", flag, arg,
                     o.framework);
            return -1;
        }
        if (fw_options_put(cfg->options, &cfg->noptions, FW_OPTIONS_MAX, o.framework, o.name,
                           o.value, err, errlen) != 0)
            return prefix_flag(flag, err, errlen);
        return 0;
    }
    case OPT_HELP:
        cfg->cmd = CMD_HELP;
        return 0;
    case OPT_VERSION:
        cfg->cmd = CMD_VERSION;
        return 0;
    }
    snprintf(err, errlen, "internal: unhandled option %d", opt);
    return -1;
}

#define SUBCOMMANDS "run, list, workers, clean, stats, enqueue"

int config_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen) {
    config_defaults(cfg);
    if (argc < 2) {
        snprintf(err, errlen, "a subcommand is required (" SUBCOMMANDS "; see --help)");
        return -1;
    }
    if (parse_cmd(argv[1], &cfg->cmd) != 0) {
        snprintf(err, errlen, "unknown subcommand \"%s\" (" SUBCOMMANDS "; see --help)", argv[1]);
        return -1;
    }
    if (cfg->cmd == CMD_HELP || cfg->cmd == CMD_VERSION) return 0;
    enum config_cmd cmd = cfg->cmd;
    optind = 1; /* argv[1] (the subcommand) plays argv[0] for getopt */
    opterr = 0;
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    for (;;) {
        int idx = -1;
        int opt = getopt_long(sub_argc, sub_argv, ":", long_opts, &idx);
        if (opt == -1) break;
        if (opt == '?') {
            snprintf(err, errlen, "unknown flag \"%s\" (see tqbench --help)", sub_argv[optind - 1]);
            return -1;
        }
        if (opt == ':') {
            snprintf(err, errlen, "%s needs a value", sub_argv[optind - 1]);
            return -1;
        }
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", long_opts[opt - OPT_SCENARIO].name);
        if (!(opt_scope[opt - OPT_SCENARIO] & (1u << cmd))) {
            snprintf(err, errlen, "%s is not a flag of `tqbench %s`", flag, cmd_names[cmd]);
            return -1;
        }
        if (apply_opt(cfg, opt, optarg, flag, err, errlen) != 0) return -1;
        if (cfg->cmd == CMD_HELP || cfg->cmd == CMD_VERSION) return 0;
    }
    if (optind < sub_argc) {
        snprintf(err, errlen, "unexpected argument \"%s\" (flags start with --)", sub_argv[optind]);
        return -1;
    }
    if (cmd == CMD_RUN && cfg->nscenarios == 0) cfg->scenarios[cfg->nscenarios++] = "throughput";
    if (cmd == CMD_ENQUEUE && cfg->tasks == 0) {
        snprintf(err, errlen, "enqueue needs --tasks N");
        return -1;
    }
    if (cmd == CMD_RUN && cfg->out_dir[0] && cfg->results_root[0]) {
        snprintf(err, errlen,
                 "--out and --results-root exclude each other (--out DIR: that folder; "
                 "--results-root DIR: a fresh timestamped folder under DIR)");
        return -1;
    }
    if (cmd == CMD_RUN && cfg->external && !cfg->has_redis) {
        snprintf(err, errlen, "--external needs --redis URL (the Redis the external workers use)");
        return -1;
    }
    if (cmd == CMD_RUN && cfg->external && (cfg->concurrency > 0 || cfg->prefetch > 0)) {
        /* tqbench cannot change workers it did not start: results.json
         * records what their heartbeats report instead */
        snprintf(err, errlen,
                 "%s does not apply to --external workers (they run with their own settings, "
                 "recorded from their heartbeats)",
                 cfg->concurrency > 0 ? "--concurrency" : "--prefetch");
        return -1;
    }
    if (cmd == CMD_RUN && cfg->shared_queue && !cfg->external) {
        snprintf(err, errlen, "--shared-queue applies to --external only (spawned workers get a "
                              "fresh per-run queue)");
        return -1;
    }
    if (cmd == CMD_RUN && cfg->external && cfg->pin_workers.set) {
        snprintf(err, errlen,
                 "--pin-workers applies to spawned workers only (pin --external workers where "
                 "they start, e.g. taskset -c LIST tqworker ...)");
        return -1;
    }
    if (cmd == CMD_RUN && cfg->has_redis && cfg->pin_redis.set) {
        snprintf(err, errlen,
                 "--pin-redis applies to the embedded redis-server only (a --redis server runs "
                 "where it was started)");
        return -1;
    }
    if (cmd == CMD_RUN && !cfg->external && strcmp(cfg->queue, "default") != 0) {
        /* accepted, but say it does nothing rather than leave a false impression */
        snprintf(err, errlen,
                 "--queue applies to --external only (spawned workers get a fresh per-run queue)");
        return -1;
    }
    if (cmd == CMD_RUN && !cfg->has_redis) {
        /* $TQBENCH_EMBEDDED_MAXMEMORY_MB, checked before anything starts */
        long mb;
        char from[96];
        if (redis_embed_maxmemory(&mb, from, sizeof from, err, errlen) != 0) return -1;
    }
    if (cmd == CMD_STATS && !cfg->run_id[0]) {
        snprintf(err, errlen, "stats needs --run ID");
        return -1;
    }
    if ((cmd == CMD_WORKERS || cmd == CMD_CLEAN || cmd == CMD_ENQUEUE || cmd == CMD_STATS) &&
        !cfg->has_redis) {
        char perr[256];
        if (tq_redis_url_parse(TQ_REDIS_DEFAULT_URL, &cfg->redis, perr, sizeof perr) != 0) {
            snprintf(err, errlen, "internal: default URL: %s", perr);
            return -1;
        }
        tq_redis_url_format_safe(&cfg->redis, cfg->redis_safe, sizeof cfg->redis_safe);
        cfg->has_redis = 1;
    }
    return 0;
}

cJSON *config_to_json(const struct config *cfg) {
    cJSON *o = cJSON_CreateObject();
    cJSON *sc = cJSON_AddArrayToObject(o, "scenarios");
    for (int i = 0; i < cfg->nscenarios; i++)
        cJSON_AddItemToArray(sc, cJSON_CreateString(cfg->scenarios[i]));
    cJSON_AddStringToObject(o, "frameworks", cfg->frameworks);
    /* overrides: null when the scenario's value applies */
#define OVERRIDE(name, cond, val)                                                                  \
    do {                                                                                           \
        if (cond) cJSON_AddNumberToObject(o, name, (double)(val));                                 \
        else cJSON_AddNullToObject(o, name);                                                       \
    } while (0)
    OVERRIDE("tasks", cfg->tasks > 0, cfg->tasks);
    OVERRIDE("workers", cfg->workers > 0, cfg->workers);
    OVERRIDE("concurrency", cfg->concurrency > 0, cfg->concurrency);
    OVERRIDE("prefetch", cfg->prefetch > 0, cfg->prefetch);
    OVERRIDE("repeat", cfg->repeat > 0, cfg->repeat);
    OVERRIDE("warmup", cfg->warmup >= 0, cfg->warmup);
    OVERRIDE("rate", cfg->rate > 0, cfg->rate);
#undef OVERRIDE
    cJSON *opts = cJSON_AddObjectToObject(o, "options"); /* --option, as given */
    for (int i = 0; i < cfg->noptions; i++) {
        char key[TQ_NAME_MAX + FW_OPTION_NAME_MAX + 1];
        snprintf(key, sizeof key, "%s.%s", cfg->options[i].framework, cfg->options[i].name);
        cJSON_AddStringToObject(opts, key, cfg->options[i].value);
    }
    if (cfg->has_redis) cJSON_AddStringToObject(o, "redis", cfg->redis_safe);
    else cJSON_AddStringToObject(o, "redis", "embedded");
    cJSON_AddBoolToObject(o, "external", cfg->external);
    cJSON_AddStringToObject(o, "queue", cfg->external ? cfg->queue : "per-run");
    cJSON_AddBoolToObject(o, "shared_queue", cfg->shared_queue);
    cJSON_AddBoolToObject(o, "force", cfg->force);
    cJSON_AddStringToObject(o, "prefix", cfg->prefix);
    /* the binary the native framework starts: --worker-bin, else the one
     * next to tqbench */
    char bin[FW_PATH_MAX + 16];
    if (cfg->worker_bin[0]) snprintf(bin, sizeof bin, "%s", cfg->worker_bin);
    else snprintf(bin, sizeof bin, "%s/tqworker", cfg->exe_dir);
    cJSON_AddStringToObject(o, "worker_bin", bin);
    cJSON_AddStringToObject(o, "out", cfg->out_dir);
    if (cfg->results_root[0]) cJSON_AddStringToObject(o, "results_root", cfg->results_root);
    else if (cfg->out_dir[0]) cJSON_AddNullToObject(o, "results_root");
    else cJSON_AddStringToObject(o, "results_root", "results");
    const struct config_pin *pins[] = {&cfg->pin_workers, &cfg->pin_redis, &cfg->pin_driver};
    const char *pin_names[] = {"pin_workers", "pin_redis", "pin_driver"};
    for (int i = 0; i < 3; i++) {
        if (pins[i]->set) cJSON_AddStringToObject(o, pin_names[i], pins[i]->list);
        else cJSON_AddNullToObject(o, pin_names[i]);
    }
    cJSON_AddBoolToObject(o, "quiet", cfg->quiet);
    static const char *const levels[] = {"debug", "info", "warn", "error", "off"};
    cJSON_AddStringToObject(o, "log_level", cfg->log_level >= 0 && cfg->log_level <= TQ_LOG_OFF
                                                ? levels[cfg->log_level] : "?");
    cJSON_AddNumberToObject(o, "sample_ms", cfg->sample_ms);
    cJSON_AddNumberToObject(o, "health_timeout_s", cfg->health_timeout_s);
    cJSON_AddNumberToObject(o, "stall_timeout_s", cfg->stall_timeout_s);
    cJSON_AddStringToObject(o, "scenario_dir", cfg->scenario_dir);
    /* where the data files came from: TQ_DATA_DIR, installed, source tree */
    cJSON_AddStringToObject(o, "data_dir", cfg->data_dir);
    cJSON_AddStringToObject(o, "data_source", cfg->data_source);
    return o;
}
