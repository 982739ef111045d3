/* native.c - tqworker, tqbench's own C worker, as a framework: the baseline
 * every other framework is compared with. It speaks the native protocol
 * (common/tq_task.h JSON on P:queue:<queue>) and writes the native keys
 * itself, so the adapter is only its argv and the codec. */
#include "framework.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* --worker-bin, else tqworker next to tqbench. */
#define NATIVE_BIN_MAX (FW_PATH_MAX + 16)
static void native_bin(const struct fw_run *run, char *buf, size_t n) {
    int len = run->worker_bin[0] ? snprintf(buf, n, "%s", run->worker_bin)
                                 : snprintf(buf, n, "%s/tqworker", run->bin_dir);
    if (len < 0 || (size_t)len >= n) buf[0] = '\0';
}

static int native_available(const struct fw_run *run, char *why, size_t n) {
    /* An explicit --worker-bin is the user's choice: whether it starts (and
     * heartbeats) is the run's health-check to report, not a reason to skip. */
    if (run->worker_bin[0]) return 1;
    char bin[NATIVE_BIN_MAX];
    native_bin(run, bin, sizeof bin);
    if (access(bin, X_OK) != 0) {
        snprintf(why, n, "tqworker not found or not executable at %s (build it, or pass --worker-bin)",
                 bin);
        return 0;
    }
    return 1;
}

/* --option native.reliable=1: tqworker --reliable (WORKER_SETUP.md,
 * "Delivery guarantee"): each slot keeps what it took on a processing list
 * of its own until the flush that counts it, so a killed worker's tasks are
 * held there (in_flight_at_end, not lost) and requeued when it restarts. */
static const char *const native_bools[] = {"0", "1", NULL};
static const struct fw_option_def native_options[] = {
    {.name = "reliable",
     .description = "tqworker --reliable: a processing list per slot; a killed worker's tasks "
                    "are held there (in flight, not lost) and requeued when it restarts",
     .values = native_bools,
     .default_value = "0"},
    {.name = NULL},
};

static int native_reliable(const struct fw_run *run) {
    const char *v = fw_option(run, "reliable");
    return v && strcmp(v, "1") == 0;
}

static int native_validate(const struct fw_run *run, char *err, size_t errlen) {
    /* with --external, fw_options_select refused it already (a workers' option) */
    if (!native_reliable(run)) return 0;
    if (run->nqueues > 1) {
        snprintf(err, errlen, "tqworker --reliable takes one queue, the scenario has %d",
                 run->nqueues);
        return -1;
    }
    if ((long)run->workers * run->concurrency > FW_INFLIGHT_KEYS_MAX) {
        snprintf(err, errlen, "--option native.reliable=1 keeps a list per slot: %d workers x "
                              "concurrency %d is more than the %d tqbench can account for",
                 run->workers, run->concurrency, FW_INFLIGHT_KEYS_MAX);
        return -1;
    }
    return 0;
}

/* With reliable: every slot's processing list of the run's spawned workers
 * (ids "<run>.w<i>", as bench/workers.c names them). */
static int native_inflight_keys(const struct fw_run *run, const void *state,
                                char (*keys)[TQ_KEY_MAX], int max) {
    (void)state;
    if (!native_reliable(run) || run->external) return 0;
    int n = 0;
    for (int w = 0; w < run->workers; w++) {
        char id[TQ_NAME_MAX + 16];
        snprintf(id, sizeof id, "%s.w%d", run->run_id, w);
        for (int slot = 0; slot < run->concurrency && n < max; slot++)
            if (tq_key_processing(keys[n], TQ_KEY_MAX, run->prefix, id, slot) >= 0) n++;
    }
    return n;
}

static int native_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                              struct fw_argv *out, char *err, size_t errlen) {
    char bin[NATIVE_BIN_MAX], queues[FW_ARG_LEN];
    (void)index;
    native_bin(run, bin, sizeof bin);
    /* several queues: tqworker's comma-separated list, highest priority first */
    int len = snprintf(queues, sizeof queues, "%s", run->queue);
    for (int i = 1; i < run->nqueues && len > 0 && (size_t)len < sizeof queues; i++)
        len += snprintf(queues + len, sizeof queues - (size_t)len, ",%s", run->queues[i]);
    if (len < 0 || (size_t)len >= sizeof queues) {
        snprintf(err, errlen, "native: the queue list is longer than %d bytes", FW_ARG_LEN - 1);
        return -1;
    }
    fw_argv_reset(out);
    /* The URL goes through the environment, not argv: argv is world-readable
     * in /proc/PID/cmdline and would expose a password. */
    if (fw_argv_add(out, err, errlen, "%s", bin) || fw_argv_add(out, err, errlen, "--queue") ||
        fw_argv_add(out, err, errlen, "%s", queues) ||
        fw_argv_add(out, err, errlen, "--concurrency") ||
        fw_argv_add(out, err, errlen, "%d", run->concurrency) ||
        fw_argv_add(out, err, errlen, "--prefetch") ||
        fw_argv_add(out, err, errlen, "%d", run->prefetch) ||
        fw_argv_add(out, err, errlen, "--heartbeat-interval") ||
        fw_argv_add(out, err, errlen, "%d", run->heartbeat_interval_s) ||
        fw_argv_add(out, err, errlen, "--prefix") ||
        fw_argv_add(out, err, errlen, "%s", run->prefix) || fw_argv_add(out, err, errlen, "--id") ||
        fw_argv_add(out, err, errlen, "%s", worker_id) || fw_argv_add(out, err, errlen, "--run") ||
        fw_argv_add(out, err, errlen, "%s", run->run_id) ||
        fw_env_add(out, err, errlen, "TQ_REDIS_URL=%s", run->redis_url) ||
        (native_reliable(run) && fw_argv_add(out, err, errlen, "--reliable")) ||
        (run->trace && fw_argv_add(out, err, errlen, "--trace")))
        return -1;
    return 0;
}

static int native_queue_key(const struct fw_run *run, char *buf, size_t n) {
    return tq_key_queue(buf, n, run->prefix, run->queue);
}

static int native_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    (void)run;
    return tq_task_encode(t, buf, cap);
}

const struct tq_framework tq_framework_native = {
    /* also the `protocol` of its workers' heartbeats (tqworker writes it): --external
     * attaches only to heartbeats carrying it */
    .name = "native",
    .description = "tqworker, the C noop worker (baseline near the broker's limit)",
    .available = native_available,
    .worker_argv = native_worker_argv,
    .queue_key = native_queue_key,
    .encode = native_encode,
    .client_enqueue_rate = NULL,
    .clean = NULL,
    /* every kind, retries and open loop; the v2 hooks' defaults are its
     * protocol: one LPUSH per batch, P:run:<run>:stats, no per-run state;
     * nothing in flight outside the queue unless reliable */
    .caps = FW_CAP_ALL | FW_CAP_MULTI_QUEUE,
    .validate = native_validate,
    .inflight_keys = native_inflight_keys,
    .options = native_options,
    .queue_order = "strict priority: each of tqworker's slots BRPOPs over its queues in --queue "
                   "order, so a queue is taken from only while those before it are empty",
};
