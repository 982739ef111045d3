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
        fw_env_add(out, err, errlen, "TQ_REDIS_URL=%s", run->redis_url))
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
     * protocol: one LPUSH per batch, P:run:<run>:stats, nothing in flight
     * outside the queue, no per-run state */
    .caps = FW_CAP_ALL | FW_CAP_MULTI_QUEUE,
    .queue_order = "strict priority: each of tqworker's slots BRPOPs over its queues in --queue "
                   "order, so a queue is taken from only while those before it are empty",
};
