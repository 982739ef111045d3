/* instr_harness.c - fixed workloads for callgrind's instruction counts
 * (scripts/bench-instructions, `just bench-instructions`).
 *
 * Instruction counts, unlike wall-clock rates, do not move when other
 * processes share the machine, so they can gate regressions in CI. Each
 * mode runs one code path of tqbench on fixed input, inside one function
 * that callgrind is told to count alone (--toggle-collect), so the set-up
 * around it (connecting, prepare hooks, building the input) is not counted:
 *
 *   produce FRAMEWORK URL TASKS  the driver's own producer (producer_run,
 *       bench/producer.c) enqueueing TASKS noop tasks in FRAMEWORK's wire
 *       format onto a private Redis (its one connect included): per task the adapter's encode, its
 *       enqueue_batch (appending to hiredis's output buffer), the pipelined
 *       writes and the reading of the replies. Counted function: producer_run.
 *       Task fields are fixed except the enqueue stamp, whose digit count
 *       does not change, so the bytes encoded are the same from run to run.
 *   merge SNAPSHOTS VALUES  the driver's histogram merge (collect.c): a
 *       snapshot string of VALUES latencies (a fixed pseudo-random spread
 *       over 20 µs .. 50 ms) parsed into the run's histogram SNAPSHOTS times,
 *       as it merges one snapshot per worker. Counted function:
 *       instr_merge; per value merged.
 *
 * The worker's per-task figure needs no mode here: the script runs the real
 * tqworker under callgrind against the same private Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "producer.h"
#include "tq_hist.h"
#include "tq_redis.h"

static int usage(void) {
    fprintf(stderr, "usage: instr_harness produce FRAMEWORK URL TASKS\n"
                    "       instr_harness merge SNAPSHOTS VALUES\n");
    return 2;
}

static int mode_produce(const char *name, const char *url, long tasks) {
    const struct tq_framework *fw = framework_find(name);
    if (!fw) {
        fprintf(stderr, "instr_harness: unknown framework %s\n", name);
        return 2;
    }
    static struct fw_run run; /* large (paths): not on the stack */
    memset(&run, 0, sizeof run);
    snprintf(run.run_id, sizeof run.run_id, "instr");
    snprintf(run.prefix, sizeof run.prefix, "tq");
    snprintf(run.queue, sizeof run.queue, "instr");
    snprintf(run.redis_url, sizeof run.redis_url, "%s", url);
    snprintf(run.redis_url_safe, sizeof run.redis_url_safe, "%s", url);
    run.workers = run.concurrency = run.prefetch = 1;
    run.heartbeat_interval_s = 1;
    run.mix_len = 1;
    run.mix[0] = (struct fw_mix_entry){.kind = TQ_KIND_NOOP, .max_attempts = 1, .weight = 1};

    char err[512];
    struct producer p;
    producer_init(&p);
    if (tq_redis_url_parse(url, &p.url, err, sizeof err) != 0) {
        fprintf(stderr, "instr_harness: %s\n", err);
        return 2;
    }
    redisContext *c = tq_redis_connect(&p.url, 5000, err, sizeof err);
    if (!c) {
        fprintf(stderr, "instr_harness: %s\n", err);
        return 1;
    }
    void *state = NULL;
    if (fw->prepare && fw->prepare(&run, c, &state, err, sizeof err) != 0) {
        fprintf(stderr, "instr_harness: %s prepare: %s\n", name, err);
        return 1;
    }
    p.fw = fw;
    p.run = &run;
    p.fw_state = state;
    if (fw->queue_key(&run, p.list_key, sizeof p.list_key) < 0) return 1;
    snprintf(p.task_run, sizeof p.task_run, "instr");
    p.tasks = tasks;
    p.mix = run.mix;
    p.mix_len = run.mix_len;
    int rc = producer_run(&p);
    if (rc != 0 || p.sent != tasks) {
        fprintf(stderr, "instr_harness: %s: sent %ld of %ld: %s\n", name, p.sent, tasks, p.err);
        rc = 1;
    }
    if (fw->finish) fw->finish(&run, c, state);
    redisFree(c);
    printf("%s %ld\n", name, tasks);
    return rc;
}

/* The counted part of `merge`: snapshots parsed into one histogram. */
__attribute__((noinline)) int instr_merge(tq_hist *into, const char *snap, size_t len, int n) {
    for (int i = 0; i < n; i++)
        if (tq_hist_parse(into, snap, len) != 0) return -1;
    return 0;
}

static int mode_merge(int snapshots, long values) {
    tq_hist h, into;
    if (tq_hist_init(&h) != 0 || tq_hist_init(&into) != 0) return 1;
    uint64_t x = 88172645463325252ULL; /* xorshift64: the same values every run */
    for (long i = 0; i < values; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* log-uniform-ish over 20 µs .. 50 ms: many buckets, as a real run */
        int64_t v = 20 + (int64_t)((x >> 11) % 1000) * (int64_t)(1 + (x >> 60) * (x >> 60) * 13);
        tq_hist_record(&h, v);
    }
    size_t len = 0;
    char *snap = tq_hist_serialize(&h, &len);
    if (!snap) return 1;
    int rc = instr_merge(&into, snap, len, snapshots);
    if (rc != 0 || into.total_count != h.total_count * snapshots) {
        fprintf(stderr, "instr_harness: merge failed\n");
        rc = 1;
    }
    printf("merge %d x %lld values, %zu-byte snapshot\n", snapshots, (long long)h.total_count,
           len);
    free(snap);
    tq_hist_free(&h);
    tq_hist_free(&into);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "produce") == 0)
        return mode_produce(argv[2], argv[3], atol(argv[4]));
    if (argc == 4 && strcmp(argv[1], "merge") == 0)
        return mode_merge(atoi(argv[2]), atol(argv[3]));
    return usage();
}
