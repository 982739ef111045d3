/* framework.h - the adapter every benchmarked framework implements.
 *
 * tqbench measures several task-queue frameworks (tqworker itself, Celery,
 * later Sidekiq, BullMQ...) with one set of rules. What differs between them
 * is small and lives behind this struct of function pointers, in the spirit
 * of hiredis's adapters: how to tell the framework is installed, the argv of
 * one worker process, which Redis list the producer LPUSHes to, how one task
 * looks in the framework's wire format, and which extra keys to clean.
 *
 * What does NOT differ: completion, latency and health. Every framework's
 * workers write tqbench's native keys (common/tq_keys.h): the heartbeat
 * P:worker:<id> with the contract's fields (pid, queues, processed,
 * cpu_user_us, cpu_sys_us, rss_kb...), the counters P:run:<run>:stats, and
 * either the histogram snapshots P:run:<run>:hist or the raw triples
 * P:run:<run>:stamps (for workers that cannot build histograms, e.g. a
 * Python hook). So the driver's progress, health-check, stall detection and
 * collection code is shared, and stamps are merged into the same histograms
 * as the snapshots.
 *
 * What does differ beyond the wire format, the adapter says through the
 * optional hooks of version 2 (each NULL when the framework needs nothing):
 * per-run state (prepare/finish: load a script, SADD a registry, take a
 * baseline of global counters), how a batch of tasks is enqueued
 * (enqueue_batch: an RPUSH of ids plus a hash per job, an EVALSHA per job),
 * where progress is read (progress: deltas of the framework's own counters),
 * which keys hold the run's tasks outside the queue (inflight_keys: a
 * processing list), which settings it refuses (validate: exit 2 before
 * anything starts) and which scenarios it can run at all (caps: the others
 * are skipped with the reason, never run wrongly).
 *
 * Adding a framework: one file bench/frameworks/<name>.c defining
 * `const struct tq_framework tq_framework_<name>`, one line in the registry
 * bench/frameworks/registry.c; nothing in run.c, producer.c or collect.c. */
#ifndef TQ_BENCH_FRAMEWORK_H
#define TQ_BENCH_FRAMEWORK_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "tq_keys.h"
#include "tq_task.h"

#define FW_MIX_MAX 8         /* task kinds in one scenario's mix */
#define FW_ARGV_MAX 64       /* arguments of one worker process */
#define FW_ENV_MAX 16        /* extra environment entries */
#define FW_ARG_LEN 1024      /* longest argument or env entry (URLs, paths) */
#define FW_PATH_MAX 4096
#define FW_QUEUES_MAX 8      /* queues one worker consumes in a multi-queue scenario */
#define FW_OPTIONS_MAX 16    /* framework options one scenario or command line sets */
#define FW_OPTION_NAME_MAX 32
#define FW_OPTION_VALUE_MAX 64

/* One option an adapter accepts (tq_framework.options): a setting that
 * means something to that framework alone (Celery's worker pool). Set in a
 * scenario as "options": {"<framework>": {"<name>": "<value>"}} or on the
 * command line as --option <framework>.<name>=<value>; read by the adapter
 * with fw_option(). */
struct fw_option_def {
    const char *name;          /* "pool" */
    const char *description;   /* one line for `tqbench list` */
    const char *const *values; /* NULL-terminated accepted values; NULL: any string check takes */
    const char *default_value; /* what the adapter applies when unset; NULL: nothing to name */
    /* Optional: refuses a value with err saying what it accepts (after values, when both) */
    int (*check)(const char *value, char *err, size_t errlen);
    /* 1: it changes tqbench's own side (how the producer writes the jobs),
     * so it applies with --external too. 0 (most): it configures the
     * workers tqbench starts, so with --external, whose workers run their
     * own settings, it is refused (exit 2, fw_options_select). */
    int producer_side;
};

/* One option as a scenario or the command line sets it (bench/fw_options.h). */
struct fw_option {
    char framework[TQ_NAME_MAX];
    char name[FW_OPTION_NAME_MAX];
    char value[FW_OPTION_VALUE_MAX];
};

/* One entry of a scenario's weighted task mix. */
struct fw_mix_entry {
    enum tq_task_kind kind;
    int64_t arg;             /* sleep: ms; cpu: µs; otherwise 0 */
    int max_attempts;        /* >= 1; fail tasks are retried while attempts remain */
    double weight;           /* > 0; shares are weight / sum of weights */
};

/* What one run of one framework needs to know. Filled by the driver; read
 * only by adapters. Strings are NUL-terminated. */
struct fw_run {
    char run_id[TQ_NAME_MAX];      /* this run's id (P:run:<run_id>:*) */
    char prefix[TQ_NAME_MAX];      /* native key prefix (P) */
    char queue[TQ_NAME_MAX];       /* queue NAME: fresh per run, or --queue with --external */
    char redis_url[FW_ARG_LEN];    /* full URL, password included: ONLY for a child's argv/env */
    char redis_url_safe[FW_ARG_LEN]; /* password replaced by "***": for logs, errors, JSON */
    /* the scenario's effective settings (after --workers/--concurrency/...) */
    int workers;                   /* worker processes */
    int concurrency;               /* tasks in flight per process (Celery -c, tqworker --concurrency) */
    int prefetch;                  /* tasks reserved ahead per process */
    int heartbeat_interval_s;      /* heartbeat period the workers should use */
    size_t payload_bytes;          /* target size of one native payload (pad included) */
    int mix_len;
    struct fw_mix_entry mix[FW_MIX_MAX];
    /* where things are */
    char bin_dir[FW_PATH_MAX];     /* directory of tqbench's own executable (tqworker is there) */
    char frameworks_dir[FW_PATH_MAX]; /* the repo's bench/frameworks (task modules, helpers) */
    char worker_bin[FW_PATH_MAX];  /* --worker-bin when given, else "" (native: bin_dir/tqworker) */
    char asynctasq_python[FW_PATH_MAX]; /* --asynctasq-python when given, else "" (python3 on PATH) */
    int force;                     /* --force: start although the framework's queue is not empty */
    int external;                  /* --external: the workers are not spawned by tqbench */
    /* per-task stamps wanted (a burst run: recovery.h): workers that build
     * histograms write them to P:run:<run>:trace too (tqworker --trace);
     * hooks that write P:run:<run>:stamps already have them */
    int trace;
    /* a multi-queue scenario (nqueues > 1; FW_CAP_MULTI_QUEUE): every
     * worker consumes queues[0..nqueues), queues[0] being queue, in this
     * order (its priority order when the framework has one); queue_key()
     * of a copy of this struct with queue set to queues[i] names its list.
     * 0: queue alone. */
    int nqueues;
    char queues[FW_QUEUES_MAX][TQ_NAME_MAX];
    /* this framework's options for the run (the scenario's "options", then
     * --option), each one it declares with a value it accepts: read them
     * with fw_option() */
    int noptions;
    struct fw_option options[FW_OPTIONS_MAX];
};

/* What a framework's workers can run (tq_framework.caps). A scenario that
 * needs a capability the framework lacks is skipped for it, with the
 * reason in results.json; it is never run wrongly. */
enum fw_cap {
    FW_CAP_SLEEP = 1u << 0,     /* the sleep kind: a wait that does not block the worker */
    FW_CAP_CPU = 1u << 1,       /* the cpu kind: busy CPU off the worker's event loop */
    FW_CAP_FAIL = 1u << 2,      /* the fail kind: counted failed */
    FW_CAP_RETRIES = 1u << 3,   /* max_attempts > 1: a failed task is retried */
    FW_CAP_OPEN_LOOP = 1u << 4, /* arrival "rate": latency from each task's scheduled time */
    FW_CAP_ALL = (1u << 5) - 1,
    /* not in FW_CAP_ALL, an adapter opts in: its workers consume several
     * queues (fw_run.queues), and it says in what order (queue_order) */
    FW_CAP_MULTI_QUEUE = 1u << 5,
};

/* What a framework's workers do differently from tqworker in a way a
 * scenario may depend on (tq_framework.limits; 0: none). */
enum fw_limit {
    /* one task at a time per process: concurrency N is run as N worker
     * processes per worker (fw_processes; as Celery's prefork pool and RQ's
     * `rq worker-pool -n N` do), each with its own heartbeat, so a
     * concurrency sweep would be a sweep of processes (scaling_workers)
     * and is skipped */
    FW_LIMIT_SERIAL = 1u << 0,
};

/* A run's progress as the framework counts it (tq_framework.progress). */
struct fw_progress {
    long completed, failed, retried;
};

/* lists holding a run's tasks outside its queue: a processing list per
 * framework, or one per worker slot (tqworker --reliable: workers x
 * concurrency of them, refused beyond this) */
#define FW_INFLIGHT_KEYS_MAX 1024

/* argv and extra environment of one worker process, built by an adapter
 * with fw_argv_add()/fw_env_add() (bench/framework.c); the storage is
 * inside the struct, so nothing is allocated or freed. */
struct fw_argv {
    int argc, envc;
    char args[FW_ARGV_MAX][FW_ARG_LEN];
    char envs[FW_ENV_MAX][FW_ARG_LEN];
    const char *argv[FW_ARGV_MAX + 1];  /* NULL-terminated view of args, for tq_spawn */
    const char *env[FW_ENV_MAX + 1];    /* NULL-terminated view of envs ("NAME=value") */
};

struct tq_framework {
    const char *name;         /* as given to --framework: "native", "celery" */
    const char *description;  /* one line for `tqbench list` / --help */

    /* 1 when the framework can run on this machine; else 0 with a one-line
     * reason in why ("python3-celery does not import under /usr/bin/python3").
     * The driver skips unavailable frameworks (with that reason) for
     * `--framework all`, and fails with it when the framework was named. */
    int (*available)(const struct fw_run *run, char *why, size_t n);

    /* Fills out with the argv (argv[0] a path or a name looked up in PATH)
     * and extra environment of worker process number index (0..workers-1).
     * The worker must heartbeat as P:worker:<worker_id> (the driver chooses
     * the id, so it can health-check exactly the processes it spawned), list
     * run->queue in its heartbeat's `queues` field, and count every task of
     * run->run_id in P:run:<run_id>:stats plus hist or stamps. The driver
     * forks/execs it in a new process group that dies with the driver and
     * redirects its output to a log file. Returns 0, or -1 with err set. */
    int (*worker_argv)(const struct fw_run *run, int index, const char *worker_id,
                       struct fw_argv *out, char *err, size_t errlen);

    /* Writes the Redis list the producer LPUSHes tasks to (native:
     * P:queue:<queue>; Celery: the bare queue name). Returns its length, or
     * -1 when it does not fit in n. */
    int (*queue_key)(const struct fw_run *run, char *buf, size_t n);

    /* Encodes task t (id, run, kind, arg, enqueued_us, scheduled_us,
     * attempt, max_attempts, pad_len) in the framework's wire format into
     * buf. Called once per task on the producer's hot path: no allocation,
     * no I/O. Returns the length, or -1 when it does not fit in cap. */
    int (*encode)(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap);

    /* Optional (NULL when the framework has none): measures the enqueue rate
     * of the framework's OWN client (e.g. Celery's apply_async), reported
     * as a separate figure next to the driver's C producer. Called once per
     * run after the run was collected and before teardown, with the run's
     * workers still alive: it must use a list no worker consumes and remove
     * what it wrote (or leave it to clean()), so the run's counters are not
     * touched. Returns 0 with *per_s, or -1 with err set (the run is not
     * failed for it: the figure is reported as absent with the error). */
    int (*client_enqueue_rate)(const struct fw_run *run, double *per_s, char *err, size_t errlen);
    /* Optional: who client_enqueue_rate measures, as the terminal table
     * names it ("Celery's own client (apply_async)"); NULL reads as
     * "<name>'s own client". */
    const char *client_label;

    /* Optional: deletes the framework's own keys for this run (Celery's
     * kombu bindings, unacked hashes...). The driver itself always deletes
     * P:run:<run_id>:*, the queue_key list and the heartbeats of the workers
     * it spawned; it never FLUSHes. Called at teardown on every path. */
    void (*clean)(const struct fw_run *run, redisContext *c);

    /* --- version 2: what frameworks that do not fit the LPUSH shape need --- */

    /* What its workers can run (enum fw_cap); 0 reads as FW_CAP_ALL, so
     * adapters written before caps existed keep running everything. */
    unsigned caps;

    /* Optional: refuses settings the framework cannot honour (concurrency
     * above what its worker accepts, a mix it cannot run), with the
     * reason in err. Called with the effective settings of every (scenario,
     * framework) pair before anything starts; a refusal is a configuration
     * error (exit 2). Returns 0, or -1 with err. */
    int (*validate)(const struct fw_run *run, char *err, size_t errlen);

    /* Optional: once per run, after the run's keys were cleaned and before
     * any worker starts, with the control connection: load a script, SADD a
     * registry, record baselines of global counters. *state (NULL on entry)
     * is the adapter's, passed to the hooks below and to finish(). Returns
     * 0, or -1 with err (the run fails before it starts). */
    int (*prepare)(const struct fw_run *run, redisContext *c, void **state, char *err,
                   size_t errlen);
    /* Optional: frees what prepare made, at teardown on every path (also
     * when prepare failed, with whatever *state it left); c may be NULL when
     * Redis cannot be reached. */
    void (*finish)(const struct fw_run *run, redisContext *c, void *state);

    /* Optional: appends the commands that enqueue n tasks onto c's output
     * buffer (redisAppendCommandArgv; no reply is read here): tasks[i] and
     * its encoding payloads[i]/lens[i] (encode's output, in the producer's
     * buffers, valid until the call returns), to the list key (the queue
     * key, or a backlog's staging list). payloads[-2], payloads[-1] and
     * lens[-2], lens[-1] are writable slots the producer keeps in front of
     * the arrays, so a batch that is one command (LPUSH key payload...)
     * needs no copy. Returns how many commands it appended (the producer
     * reads that many replies and fails the run on an error reply), or -1
     * with err. Runs on the producer's thread: state is read-only there.
     * NULL: one LPUSH key payload... (fw_enqueue_lpush). No allocation per
     * task. */
    int (*enqueue_batch)(const struct fw_run *run, const void *state, redisContext *c,
                         const char *key, const struct tq_task *tasks,
                         const char *const *payloads, const size_t *lens, int n, char *err,
                         size_t errlen);

    /* Optional: the progress of run_id (the run's own id, or its warm-up
     * sub-run "<run>-warmup") as the framework counts it, e.g. deltas of
     * global counters. The driver asks about each run id once before any of
     * its tasks is enqueued (so a baseline can be taken then), and every
     * 100 ms while the run waits. Returns 0, or -1 with err. NULL:
     * P:run:<run_id>:stats (fw_progress_native). */
    int (*progress)(const struct fw_run *run, void *state, redisContext *c, const char *run_id,
                    struct fw_progress *out, char *err, size_t errlen);

    /* Optional: the lists that hold this run's tasks outside the queue while
     * they are in flight (a processing list), written into keys (at most
     * max). The driver counts the run's tasks on them after the stop
     * (results.json in_flight_at_end: held, not lost) and deletes them at
     * teardown when the queue was the run's own. Returns how many. */
    int (*inflight_keys)(const struct fw_run *run, const void *state, char (*keys)[TQ_KEY_MAX],
                         int max);

    /* Optional: the bytes that mark a payload as this run's, found by a
     * plain substring search on a list other producers share (an external
     * queue and its in-flight lists): the run id as the wire format writes
     * it. Returns the length, or -1 when it does not fit in n. NULL: the
     * run id in double quotes, as JSON writes it (native, Celery). */
    int (*run_marker)(const struct fw_run *run, char *buf, size_t n);

    /* Optional: cross-checks the measured run's count (counted: its
     * progress as the driver last read it, complete) against the
     * framework's own figures (RQ's worker counters and registries...).
     * Called once, after the measured phase completed and before teardown,
     * with the run's workers still running. Returns 0 when they agree, or
     * -1 with err naming both figures: the run fails with it. */
    int (*verify)(const struct fw_run *run, void *state, redisContext *c,
                  const struct fw_progress *counted, char *err, size_t errlen);

    /* Optional: called with the control connection right after a backlog
     * (the run's, or its warm-up's) was moved from its staging list onto
     * the queue: what makes the moved tasks visible to workers that block
     * on something else than the list (BullMQ's marker). Returns 0, or -1
     * with err (the run fails). */
    int (*backlog_released)(const struct fw_run *run, void *state, redisContext *c, char *err,
                            size_t errlen);

    /* Optional: settings the adapter always applies that results.json
     * should name (BullMQ's removeOnComplete), as NULL-terminated
     * "name", "value" pairs; written under settings.framework. */
    const char *const *settings;

    /* What its workers do differently (enum fw_limit); 0: nothing. */
    unsigned limits;
    /* With FW_CAP_MULTI_QUEUE: the order in which its workers take from
     * several queues, as its documentation says ("strict priority: ..."). */
    const char *queue_order;

    /* Optional: the options it accepts (struct fw_option_def), terminated
     * by an entry with name NULL; NULL: none. An option it does not declare
     * or a value it refuses is a configuration error (exit 2) before
     * anything starts; results.json records what it applied
     * (settings.options), `tqbench list` shows them. */
    const struct fw_option_def *options;
};

/* The registry, NULL-terminated, in the order `--framework all` runs them. */
extern const struct tq_framework *const tq_frameworks[];
extern const struct tq_framework tq_framework_native;
extern const struct tq_framework tq_framework_celery; /* bench/frameworks/celery.c */
extern const struct tq_framework tq_framework_asynctasq; /* bench/frameworks/asynctasq.c */
extern const struct tq_framework tq_framework_rq;        /* bench/frameworks/rq.c */
extern const struct tq_framework tq_framework_rq_simple; /* bench/frameworks/rq.c */
extern const struct tq_framework tq_framework_sidekiq;   /* bench/frameworks/sidekiq.c */
extern const struct tq_framework tq_framework_bullmq;    /* bench/frameworks/bullmq.c */

/* The value of the run's option name (its framework's), or NULL when
 * unset: the adapter applies its default then. */
const char *fw_option(const struct fw_run *run, const char *name);

/* The queues a run's workers consume: 1, or a multi-queue run's nqueues;
 * and queue i of them (0: run->queue), in their priority order. */
int fw_nqueues(const struct fw_run *run);
const char *fw_queue(const struct fw_run *run, int i);

/* The worker processes a run of fw spawns: workers, times concurrency for
 * a framework whose processes run one task at a time (FW_LIMIT_SERIAL). */
int fw_processes(const struct tq_framework *fw, const struct fw_run *run);

/* The framework called name, or NULL. */
const struct tq_framework *framework_find(const char *name);

/* Appends one `cmd key payloads[0..n)` (cmd: LPUSH, RPUSH), built in the
 * two slots the producer keeps in front of the arrays. Returns 1 (commands
 * appended), or -1 with err. */
int fw_enqueue_push(redisContext *c, const char *cmd, const char *key,
                    const char *const *payloads, const size_t *lens, int n, char *err,
                    size_t errlen);
/* The default enqueue_batch: one LPUSH key payloads[0..n) (the worker pops
 * from the other end, so the list is FIFO). Returns 1, or -1 with err. */
int fw_enqueue_lpush(const struct fw_run *run, const void *state, redisContext *c,
                     const char *key, const struct tq_task *tasks, const char *const *payloads,
                     const size_t *lens, int n, char *err, size_t errlen);
/* The default progress: HMGET P:run:<run_id>:stats completed failed retried
 * (absent fields are 0). Returns 0, or -1 with err. */
int fw_progress_native(const struct fw_run *run, void *state, redisContext *c, const char *run_id,
                       struct fw_progress *out, char *err, size_t errlen);
/* fw->enqueue_batch, else the default. */
int fw_enqueue(const struct tq_framework *fw, const struct fw_run *run, const void *state,
               redisContext *c, const char *key, const struct tq_task *tasks,
               const char *const *payloads, const size_t *lens, int n, char *err, size_t errlen);
/* fw->progress, else the default. */
int fw_progress(const struct tq_framework *fw, const struct fw_run *run, void *state,
                redisContext *c, const char *run_id, struct fw_progress *out, char *err,
                size_t errlen);
/* Runs argv (argv[0] a path or a name looked up in PATH; env extra
 * "NAME=value" entries or NULL) in its own process group that dies with
 * the driver, its output appended to out_path (NULL: discarded), and waits
 * up to timeout_ms: the probes of available() ("python -c 'import X'") and
 * adapters' helper scripts. Returns the wait status (>= 0), or -1 with err
 * ("cannot run <argv0>: ...", "<argv0> <argv1> did not finish within N s
 * (pid P, killed)"). */
int fw_run_bounded(const char *const argv[], const char *const *env, const char *out_path,
                   int timeout_ms, char *err, size_t errlen);
/* available()'s first check: each of files (NULL-terminated, names
 * relative to dir) is readable. Returns 0, or -1 with why
 * "[<label> ]<dir>/<file> not found[<hint>]" (label, hint NULL: none). */
int fw_files_readable(const char *dir, const char *const *files, const char *label,
                      const char *hint, char *why, size_t n);
/* available()'s last check: argv (fw_run_bounded: extra env NULL, output
 * appended to out_path or discarded) exits 0 within timeout_ms. Returns 0,
 * or -1 with why: the runner's error, or "<what> (<exit status>; <hint>)",
 * e.g. "python3-rq does not import under /usr/bin/python3 (exited 1;
 * install python3-rq, see scripts/bootstrap)". */
int fw_probe(const char *const argv[], const char *out_path, int timeout_ms, const char *what,
             const char *hint, char *why, size_t n);
/* UNLINKs every key SCAN finds for pattern (COUNT 1000) for which want
 * returns 1 (want NULL: every key; arg is passed to it). Returns how many
 * were unlinked, or -1 when a SCAN failed (those found before stay
 * unlinked). */
long fw_unlink_matching(redisContext *c, const char *pattern,
                        int (*want)(const char *key, size_t len, void *arg), void *arg);
/* An integer reply, or a string one holding an integer; nil is 0. Returns
 * 0, or -1 for any other reply. */
int fw_reply_ll(const redisReply *r, long long *out);
/* fw->caps, 0 read as FW_CAP_ALL. */
unsigned fw_caps(const struct tq_framework *fw);
/* The first capability the scenario's settings need that fw lacks, as
 * "the sleep kind" / "retries (max_attempts > 1)" / "open-loop arrival",
 * or NULL when fw can run them. open_loop: the scenario's arrival is rate. */
const char *fw_caps_missing(const struct tq_framework *fw, const struct fw_run *run,
                            int open_loop);

/* Appends one argument (printf-style) to out. Returns 0, or -1 when argv is
 * full or the argument is longer than FW_ARG_LEN-1 (err set). */
int fw_argv_add(struct fw_argv *out, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends one "NAME=value" environment entry (printf-style). Same returns. */
int fw_env_add(struct fw_argv *out, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Empties out. */
void fw_argv_reset(struct fw_argv *out);

#endif
