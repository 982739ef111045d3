/* coldstart.c - a cold start's figures, per worker and over the workers
 * (see coldstart.h). */
#include "coldstart.h"

#include <math.h>
#include <stdlib.h>
#include "stats.h"

#define MS(us) ((double)(us) / 1e3)

/* ms from a worker's spawn to at, NAN when either is unknown or at came
 * first (a clock step: no figure rather than a negative one). */
static double since_spawn(int64_t spawn_us, int64_t at_us) {
    return spawn_us > 0 && at_us >= spawn_us ? MS(at_us - spawn_us) : NAN;
}

/* {"earliest", "median", "latest", "workers"} of v[0..n-1] (NANs left out). */
static cJSON *over_workers(const double *v, int n) {
    struct stat_summary s;
    stats_summarize(v, n, &s);
    cJSON *o = cJSON_CreateObject();
    stats_add_number(o, "earliest", s.min);
    stats_add_number(o, "median", s.median);
    stats_add_number(o, "latest", s.max);
    cJSON_AddNumberToObject(o, "workers", s.n);
    return o;
}

/* The run's first task from the first spawn, when no worker has its own. */
static cJSON *run_only(int64_t spawn_us, int64_t at_us) {
    cJSON *o = cJSON_CreateObject();
    stats_add_number(o, "earliest", since_spawn(spawn_us, at_us));
    stats_add_number(o, "median", NAN);
    stats_add_number(o, "latest", NAN);
    cJSON_AddNumberToObject(o, "workers", 0);
    cJSON_AddStringToObject(o, "from", "the run's first task, from the first spawn: the "
                                       "workers' latency stamps name no worker");
    return o;
}

cJSON *coldstart_json(const struct cold_worker *w, int n, const struct cold_run *run) {
    cJSON *o = cJSON_CreateObject();
    double *v = calloc((size_t)(n > 0 ? 3 * n : 1), sizeof *v);
    if (!v) return o;
    double *beat = v, *start = v + n, *done = v + 2 * n;
    int per_worker_tasks = 0;
    for (int i = 0; i < n; i++) {
        beat[i] = since_spawn(w[i].spawn_us, w[i].beat_us);
        start[i] = since_spawn(w[i].spawn_us, w[i].start_us);
        done[i] = since_spawn(w[i].spawn_us, w[i].done_us);
        per_worker_tasks |= !isnan(start[i]) || !isnan(done[i]);
    }
    cJSON_AddItemToObject(o, "spawn_to_first_heartbeat", over_workers(beat, n));
    if (per_worker_tasks) {
        cJSON_AddItemToObject(o, "spawn_to_first_task_started", over_workers(start, n));
        cJSON_AddItemToObject(o, "spawn_to_first_task_done", over_workers(done, n));
    } else {
        cJSON_AddItemToObject(o, "spawn_to_first_task_started",
                              run_only(run->spawn_us, run->first_start_us));
        cJSON_AddItemToObject(o, "spawn_to_first_task_done",
                              run_only(run->spawn_us, run->first_done_us));
    }
    stats_add_number(o, "spawn_to_drained", since_spawn(run->spawn_us, run->last_done_us));
    cJSON *pw = cJSON_AddArrayToObject(o, "per_worker");
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", w[i].id ? w[i].id : "");
        stats_add_number(e, "first_heartbeat", beat[i]);
        stats_add_number(e, "first_task_started", start[i]);
        stats_add_number(e, "first_task_done", done[i]);
        cJSON_AddItemToArray(pw, e);
    }
    cJSON_AddStringToObject(
        o, "measures",
        "ms per worker from its own spawn (the driver's clock before its fork) to its own first "
        "heartbeat (the beat_us the heartbeat carries, the worker's clock: the health check "
        "polls every 50 ms, within the heartbeat interval, so the first beat seen is the first "
        "written), first task started and first task done; earliest/median/latest over the "
        "workers that have one (latest heartbeat: all workers up); spawn_to_drained: from the "
        "first spawn to the last task done");
    free(v);
    return o;
}
