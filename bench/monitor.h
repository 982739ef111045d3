/* monitor.h - CPU and memory of every role during a run's measured phase.
 *
 * A uv timer samples every --sample-ms: the workers (each spawned process
 * and its children via /proc; external workers from the cpu_user_us,
 * cpu_sys_us and rss_kb fields of their heartbeats), redis-server (/proc of
 * its pid when embedded, else INFO cpu/memory), the driver itself, and the
 * machine's CPU from /proc/stat. Averages of CPU are exact (CPU time used over
 * the window), peaks are the highest sample interval; RSS average and peak
 * are over the samples. CPU percentages are of one CPU (200% = two busy
 * CPUs). The run is flagged `noisy` when the machine was busier than the
 * measured roles account for, by a clear margin: someone else was using the
 * CPUs the figures depend on. */
#ifndef TQ_BENCH_MONITOR_H
#define TQ_BENCH_MONITOR_H

#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>
#include "evloop.h"
#include "tq_proc.h"
#include "workers.h"

struct role_usage {
    int64_t cpu_us;          /* CPU time used in the window */
    double cpu_pct_peak;
    double rss_kb_sum;
    int64_t rss_kb_peak;
    int samples;
    int available;           /* 0 when the role could not be read at all */
};

struct monitor {
    uv_timer_t timer;
    struct evloop *ev;
    int sample_ms;
    int active;
    struct worker_set *ws;
    pid_t redis_pid;         /* > 0: read /proc; else INFO on c */
    redisContext *c;         /* for INFO and external heartbeats (main thread only) */
    char prefix[TQ_NAME_MAX];
    int ncpus;
    int64_t begin_mono_us, last_mono_us;
    int64_t *worker_cpu_last;  /* per worker: last CPU reading (-1 unknown) */
    int64_t redis_cpu_last, driver_cpu_last;
    struct tq_cpu_times mach_begin, mach_last;
    double machine_pct_peak;
    struct role_usage workers, redis, driver;
};

/* Takes the first readings and starts sampling. c is used from the timer
 * callback (same thread as every other use of c). Returns 0 or -1. */
int monitor_begin(struct monitor *m, struct evloop *ev, int sample_ms, struct worker_set *ws,
                  pid_t redis_pid, redisContext *c, const char *prefix);
/* Takes the last reading and stops sampling (idempotent). */
void monitor_end(struct monitor *m);
/* Window length in seconds. */
double monitor_seconds(const struct monitor *m);
/* "resources" {workers, redis, driver} (each cpu_pct_avg, cpu_pct_peak,
 * rss_kb_avg, rss_kb_peak, cpu_s) and, into run, machine_cpu_pct_avg,
 * machine_cpu_pct_peak, other_cpu_pct_avg and noisy. */
void monitor_to_json(const struct monitor *m, cJSON *run);
/* CPU% average of a role over the window. */
double monitor_cpu_pct_avg(const struct monitor *m, const struct role_usage *r);
void monitor_free(struct monitor *m);

#endif
