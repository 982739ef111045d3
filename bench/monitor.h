/* monitor.h - CPU and memory of every role during a run's measured phase.
 *
 * A uv timer samples every --sample-ms: the workers (each spawned process and
 * its children via /proc, their CPU from their CPU clocks to the µs; external
 * workers from the cpu_user_us, cpu_sys_us, rss_kb and pss_kb fields of their
 * heartbeats), redis-server (/proc of its pid when embedded, else INFO
 * cpu/memory), the driver itself, and the machine's CPU from /proc/stat.
 * Averages of CPU are exact (CPU time used over the window), peaks are the
 * highest sample interval; RSS average and peak are over the samples. Workers'
 * memory is also read as PSS (see tq_proc.h): a pool's summed RSS counts its
 * shared pages once per process, its PSS once; external workers' PSS comes
 * from the pss_kb of their heartbeats (tqworker and Celery's hook send it),
 * null when one lacks it. CPU percentages are of one CPU (200% = two busy
 * CPUs). The run is flagged `noisy` when the machine was busier than the
 * measured roles account for, by a clear margin: someone else was using the
 * CPUs the figures depend on. Where tqbench sees the processes (spawned
 * workers, the embedded Redis, itself) it also records placement: the CPUs
 * each role may run on and those it was seen on at the samples (a round trip
 * costs ~3x more across CPUs than on one).
 *
 * External workers report their CPU only once per heartbeat interval, so a
 * sample window would miss most of a short drain. Their window runs from
 * heartbeat to heartbeat instead: each worker's beat read when the measured
 * phase starts, to its first beat later than the run's last completion
 * (monitor_beats_end waits for it, bounded). CPU time = the difference of
 * cpu_user_us + cpu_sys_us between the two beats; CPU% = that over the
 * time between the two beats (summed over the workers); peaks are per
 * beat interval. When a fresh beat does not come, the figures of the
 * latest beats are kept and the window is marked incomplete. */
#ifndef TQ_BENCH_MONITOR_H
#define TQ_BENCH_MONITOR_H

#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>
#include "evloop.h"
#include "timeline.h"
#include "tq_proc.h"
#include "workers.h"

struct role_usage {
    int64_t cpu_us;          /* CPU time used in the window */
    double cpu_pct_peak;
    double rss_kb_sum;
    int64_t rss_kb_peak;
    double pss_kb_sum;       /* over pss_samples: those where every PSS was read */
    int64_t pss_kb_peak;     /* 0: never read */
    int pss_samples;
    /* placement, for the roles whose processes tqbench can see: the union
     * of their CPU affinity and of the CPU each was last on at each sample */
    cpu_set_t cpus_allowed, cpus_seen;
    int placed;              /* 0: not read (external workers, a --redis server) */
    int cpu_from_ticks;      /* some of cpu_us was counted in clock ticks (10 ms) */
    int samples;
    int available;           /* 0 when the role could not be read at all */
};

/* The last CPU reading of a process (or tree), always from one source: its
 * CPU clocks (to the ns) when the first reading had them, else clock ticks.
 * A reading without that source is skipped: the next delta covers it. */
struct cpu_track {
    int64_t last_us;         /* -1: none yet */
    int source;              /* 0 unset, 1 CPU clocks, 2 clock ticks */
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
    struct cpu_track *worker_cpu; /* per worker */
    struct cpu_track redis_cpu, driver_cpu;
    struct tq_cpu_times mach_begin, mach_last;
    double machine_pct_peak;
    struct role_usage workers, redis, driver;
    /* external workers: the heartbeat window (arrays of ws->n) */
    struct worker_beat *beat_begin, *beat_prev, *beat_end, *beat_now;
    double *beat_pct;          /* per worker: CPU% of its latest beat interval */
    int64_t beats_begin_after_us;  /* begin beats had to be later than this, 0: any */
    int64_t beats_begin_before_us; /* ... and not later than this (the first start), 0: any */
    int64_t beats_end_after_us;    /* end beats had to be later than this */
    int64_t beat_interval_us;  /* as inferred when the window ended */
    int beats_ended;
    int beats_complete;        /* every worker's window is complete */
    int beats_workers_complete;
    double beats_cpu_pct;      /* sum over workers of CPU / own window */
    struct timeline timeline;  /* every sample, for charts over time */
};

/* Takes the first readings and starts sampling. c is used from the timer
 * callback (same thread as every other use of c). External workers: their
 * current heartbeats begin the window; a begin beat not later than
 * beats_after_us (the warm-up's last completion; 0 for none) makes that
 * worker's window incomplete. Returns 0 or -1. */
int monitor_begin(struct monitor *m, struct evloop *ev, int sample_ms, struct worker_set *ws,
                  pid_t redis_pid, redisContext *c, const char *prefix, int64_t beats_after_us);
/* Takes the last reading and stops sampling (idempotent). */
void monitor_end(struct monitor *m);
/* External workers (no-op otherwise), after monitor_end: ends the heartbeat
 * window on each worker's first beat later than after_us (the run's last
 * completion, on the workers' clock), waiting for it (pumping the loop,
 * bounded by two heartbeat intervals plus a margin) when wait is set, else
 * taking the latest beats. Sets the workers' CPU from the window. A begin
 * beat later than first_start_us (the run's first task start; 0 unknown)
 * makes the window incomplete: it missed some of the run's CPU. c: the
 * control connection now (it may have been reconnected since begin). */
void monitor_beats_end(struct monitor *m, redisContext *c, int64_t first_start_us,
                       int64_t after_us, int wait);
/* Window length in seconds. */
double monitor_seconds(const struct monitor *m);
/* "resources" {workers, redis, driver} (each cpu_pct_avg, cpu_pct_peak,
 * rss_kb_avg, rss_kb_peak, cpu_s, cpu_precise; null what was not measured;
 * external workers also window_complete and window, the heartbeats the
 * figures come from; "timeline": every sample, see timeline.h) and, into run, machine_cpu_pct_of_all_cpus_avg and
 * _peak (percent of the whole machine), machine_cpus,
 * other_cpu_pct_of_one_cpu_avg (other load, percent of one CPU like the
 * roles') and noisy. */
void monitor_to_json(const struct monitor *m, cJSON *run);
/* CPU% average of a role over the window (external workers: over their
 * heartbeat windows); NAN when the role was not read or the window is empty. */
double monitor_cpu_pct_avg(const struct monitor *m, const struct role_usage *r);
/* 1 when the role's CPU time spans at least 100 clock ticks (1 s at 100 Hz):
 * its CPU figures are then precise to 1%. Also "cpu_precise" in JSON. */
int monitor_cpu_precise(const struct role_usage *r);
void monitor_free(struct monitor *m);

#endif
