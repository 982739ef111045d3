/* sweep.c - running a scenario's sweep point by point (see sweep.h).
 *
 * The rows are run_one()'s, unchanged but for the "sweep" tag (and
 * "curve_stop" on the point that ended a curve); what is a sweep's own is
 * the order, the stop rule, the knee, the per-point summaries and the
 * "curves" array of results.json, and the table that shows each
 * framework's points as a series. */
#include "sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "run.h"
#include "stats.h"

void sweep_apply(const struct scenario *s, int point, struct scenario *out) {
    *out = *s;
    double v = s->sweep_values[point];
    switch (s->sweep_param) {
    case SWEEP_RATE:
        out->rate = 0; /* probed in the run */
        out->rate_fraction = v;
        break;
    case SWEEP_WORKERS: out->workers = (int)v; break;
    case SWEEP_CONCURRENCY: out->concurrency = (int)v; break;
    case SWEEP_PREFETCH: out->prefetch = (int)v; break;
    case SWEEP_PAYLOAD_BYTES: out->payload_bytes = (size_t)v; break;
    case SWEEP_TASKS: out->tasks = (long)v; break;
    case SWEEP_NONE: break;
    }
}

int sweep_plan(const struct scenario *s, int nfw, int repeats, struct sweep_step *steps) {
    int k = 0, n = s->sweep_n;
    for (int r = 0; r < repeats; r++) {
        int down = s->sweep_param != SWEEP_RATE && r % 2 == 1;
        for (int i = 0; i < n; i++)
            for (int f = 0; f < nfw; f++)
                steps[k++] = (struct sweep_step){.rep = r, .point = down ? n - 1 - i : i, .fw = f};
    }
    return k;
}

cJSON *sweep_tag(const struct scenario *s, int point) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "param", sweep_param_name(s->sweep_param));
    cJSON_AddNumberToObject(o, "value", s->sweep_values[point]);
    return o;
}

/* The number at a dotted path of o ("latency_us.end_to_end.p99"), NAN
 * when absent or null. */
static double path_num(const cJSON *o, const char *path) {
    char part[64];
    const char *p = path;
    while (o && *p) {
        size_t len = strcspn(p, ".");
        if (len >= sizeof part) return NAN;
        memcpy(part, p, len);
        part[len] = '\0';
        o = cJSON_GetObjectItemCaseSensitive(o, part);
        p += len;
        if (*p == '.') p++;
    }
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

static int run_ok(const cJSON *run) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(run, "status");
    return cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0;
}

int sweep_point_stops(const struct scenario *s, const cJSON *run, char *why, size_t n) {
    if (!run_ok(run)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(run, "error");
        snprintf(why, n, "the point failed: %s", cJSON_IsString(e) ? e->valuestring : "(no error)");
        return 1;
    }
    if (s->sweep_param != SWEEP_RATE) return 0;
    /* The completion rate from the first task started to the last done: a
     * point that kept up completes at the offered rate over the schedule's
     * span, one that did not completes at capacity. The end-to-end rate
     * would add the last task's latency to a short point's span (a 0.3 s
     * point with 50 ms of latency reads 14% slow) and call a healthy point
     * saturated. */
    double offered = path_num(run, "offered_rate_per_s");
    double achieved = path_num(run, "throughput_per_s.processing");
    if (isnan(achieved)) achieved = path_num(run, "throughput_per_s.end_to_end");
    if (!isnan(offered) && !isnan(achieved) && achieved < SWEEP_SATURATED * offered) {
        snprintf(why, n, "saturated: %.0f tasks/s achieved of %.0f offered (below %g%%); p99 %.2f ms",
                 achieved, offered, SWEEP_SATURATED * 100,
                 path_num(run, "latency_us.end_to_end.p99") / 1e3);
        return 1;
    }
    return 0;
}

int sweep_knee(const double *p99_us, int n) {
    if (n < 1 || isnan(p99_us[0])) return -1;
    int knee = 0;
    for (int i = 1; i < n; i++) {
        if (isnan(p99_us[i]) || p99_us[i] > SWEEP_BREAK_FACTOR * p99_us[0]) break;
        knee = i;
    }
    return knee;
}

/* --- running a sweep ----------------------------------------------------- */

/* A column of the table: a figure of the rows (dotted path), scaled. */
struct column {
    const char *head;
    const char *path;
    double scale;
    const char *fmt;
};

static const struct column col_tput = {"tasks/s", "throughput_per_s.end_to_end", 1, "%.0f"};
static const struct column col_offered = {"offered/s", "offered_rate_per_s", 1, "%.0f"};
static const struct column col_p50 = {"p50 ms", "latency_us.end_to_end.p50", 1e3, "%.2f"};
static const struct column col_p90 = {"p90 ms", "latency_us.end_to_end.p90", 1e3, "%.2f"};
static const struct column col_p99 = {"p99 ms", "latency_us.end_to_end.p99", 1e3, "%.2f"};
static const struct column col_p999 = {"p99.9 ms", "latency_us.end_to_end.p999", 1e3, "%.2f"};
static const struct column col_max = {"max ms", "latency_us.end_to_end.max", 1e3, "%.2f"};
static const struct column col_cpu = {"CPU us/task", "resources.workers.cpu_us_per_task", 1,
                                      "%.1f"};
static const struct column col_mem = {"Redis B/task", "redis_memory.bytes_per_queued_task", 1,
                                      "%.0f"};
/* cold start, per worker from its own spawn (coldstart.h): the earliest
 * worker's first heartbeat, the latest's (all up), the earliest first task
 * started and done */
#define CS_BEAT "cold_start_ms.spawn_to_first_heartbeat."
#define CS_START "cold_start_ms.spawn_to_first_task_started."
#define CS_DONE "cold_start_ms.spawn_to_first_task_done."
static const struct column col_beat = {"1st beat ms", CS_BEAT "earliest", 1, "%.1f"};
static const struct column col_up = {"all up ms", CS_BEAT "latest", 1, "%.1f"};
static const struct column col_start = {"1st start ms", CS_START "earliest", 1, "%.1f"};
static const struct column col_done = {"1st done ms", CS_DONE "earliest", 1, "%.1f"};

#define COLS_MAX 12

/* The table's columns for s: what its question is about. */
static int columns_for(const struct scenario *s, const struct column **cols) {
    int n = 0;
    if (s->sweep_param == SWEEP_RATE) {
        const struct column *c[] = {&col_offered, &col_tput, &col_p50, &col_p90, &col_p99,
                                    &col_p999, &col_max};
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) cols[n++] = c[i];
        return n;
    }
    if (s->arrival == ARRIVAL_COLD) {
        const struct column *c[] = {&col_beat, &col_up, &col_start, &col_done, &col_tput};
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) cols[n++] = c[i];
        return n;
    }
    cols[n++] = &col_tput;
    cols[n++] = &col_p50;
    cols[n++] = &col_p99;
    cols[n++] = &col_cpu;
    if (s->sweep_param == SWEEP_PAYLOAD_BYTES && s->arrival == ARRIVAL_BACKLOG) cols[n++] = &col_mem;
    return n;
}

/* The figure at path over the ok runs of one point. */
static void point_stat(cJSON *const *runs, int n, const char *path, struct stat_summary *out) {
    double v[TQ_RUN_REPEAT_MAX];
    int k = 0;
    for (int i = 0; i < n && k < TQ_RUN_REPEAT_MAX; i++)
        if (runs[i] && run_ok(runs[i])) v[k++] = path_num(runs[i], path);
    stats_summarize(v, k, out);
}

struct sweep_state {
    const struct scenario *s;
    int nfw, npts, reps;
    cJSON **rows;                /* [fw][point][rep], borrowed from rep->runs; NULL: not run */
    struct run_figures *figs;    /* likewise */
    char (*skip)[512];           /* [fw][point]: why the framework cannot run it, "" if it can */
    char (*stop)[512];           /* [fw][rep]: why the curve stopped, "" while it goes on */
    int *stop_point;             /* [fw][rep]: the point it stopped at */
    int *ok_points;              /* [fw][rep] */
    double *capacity;            /* [fw][rep]: a rate curve's, probed by its first point */
};

static size_t at_run(const struct sweep_state *st, int f, int p, int r) {
    return ((size_t)f * (size_t)st->npts + (size_t)p) * (size_t)st->reps + (size_t)r;
}

/* Why fw cannot run point p of s (""): its capabilities and settings, as
 * run_admit says, and a concurrency sweep on workers that run one task at
 * a time (it would run every point alike). */
static void point_admit(const struct config *cfg, const struct scenario *pt,
                        const struct tq_framework *fw, char *why, size_t n) {
    why[0] = '\0';
    if (pt->sweep_param == SWEEP_CONCURRENCY && (fw->limits & FW_LIMIT_SERIAL)) {
        snprintf(why, n, "%s runs concurrency N as N worker processes of one task each: "
                 "scenario %s would sweep the number of processes, as scaling_workers does",
                 fw->name, pt->name);
        return;
    }
    if (run_admit(cfg, pt, fw, why, n) == 0) why[0] = '\0';
}

static void print_curves(const struct sweep_state *st, const char *const *names) {
    const struct scenario *s = st->s;
    const struct column *cols[COLS_MAX];
    int nc = columns_for(s, cols);
    int spread = st->reps > 1;
    printf("\n%s (sweep of %s%s%s)\n", s->name, sweep_param_name(s->sweep_param),
           s->sweep_param == SWEEP_RATE ? " as a fraction of the probed capacity" : "",
           spread ? "; medians of the ok repeats [min..max]" : "");
    printf("  %-12s %10s %5s", "framework", sweep_param_name(s->sweep_param), "ok");
    for (int c = 0; c < nc; c++) printf(" %*s", spread ? 22 : 12, cols[c]->head);
    printf("\n");
    for (int f = 0; f < st->nfw; f++) {
        int shown = 0;
        for (int p = 0; p < st->npts; p++) {
            cJSON *const *runs = &st->rows[at_run(st, f, p, 0)];
            int ran = 0, ok = 0;
            for (int r = 0; r < st->reps; r++)
                if (runs[r]) ran++, ok += run_ok(runs[r]);
            if (st->skip[f * st->npts + p][0] || ran == 0) continue;
            printf("  %-12s %10g %2d/%-2d", names[f], s->sweep_values[p], ok, ran);
            for (int c = 0; c < nc; c++) {
                struct stat_summary ss;
                point_stat(runs, st->reps, cols[c]->path, &ss);
                char cell[64];
                if (isnan(ss.median)) snprintf(cell, sizeof cell, "-");
                else {
                    int len = snprintf(cell, sizeof cell, cols[c]->fmt, ss.median / cols[c]->scale);
                    if (spread && ss.n > 1 && len > 0 && (size_t)len < sizeof cell) {
                        char lo[24], hi[24];
                        snprintf(lo, sizeof lo, cols[c]->fmt, ss.min / cols[c]->scale);
                        snprintf(hi, sizeof hi, cols[c]->fmt, ss.max / cols[c]->scale);
                        snprintf(cell + len, sizeof cell - (size_t)len, " [%s..%s]", lo, hi);
                    }
                }
                printf(" %*s", spread ? 22 : 12, cell);
            }
            printf("\n");
            shown++;
        }
        if (!shown) {
            const char *why = "";
            for (int p = 0; p < st->npts && !why[0]; p++) why = st->skip[f * st->npts + p];
            printf("  %-12s skipped%s%s\n", names[f], why[0] ? ": " : "", why);
        }
        for (int r = 0; r < st->reps; r++)
            if (st->stop[f * st->reps + r][0])
                printf("  %-12s curve%s stopped at %g: %s\n", names[f],
                       st->reps > 1 ? " of a repeat" : "",
                       s->sweep_values[st->stop_point[f * st->reps + r]],
                       st->stop[f * st->reps + r]);
    }
}

/* results.json "curves": per framework, its points (medians over the ok
 * repeats), where each repeat's curve stopped, and a rate curve's knee. */
static void add_curves(struct report *rep, const struct sweep_state *st,
                       const struct tq_framework *const *fws, int quiet) {
    const struct scenario *s = st->s;
    cJSON *curves = cJSON_GetObjectItemCaseSensitive(rep->doc, "curves");
    if (!curves) curves = cJSON_AddArrayToObject(rep->doc, "curves");
    for (int f = 0; f < st->nfw; f++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "scenario", s->name);
        cJSON_AddStringToObject(c, "framework", fws[f]->name);
        cJSON_AddStringToObject(c, "param", sweep_param_name(s->sweep_param));
        cJSON *pts = cJSON_AddArrayToObject(c, "points");
        double p99[SWEEP_POINTS_MAX], offered[SWEEP_POINTS_MAX];
        int np = 0;
        for (int p = 0; p < st->npts; p++) {
            cJSON *const *runs = &st->rows[at_run(st, f, p, 0)];
            int ran = 0, ok = 0;
            for (int r = 0; r < st->reps; r++)
                if (runs[r]) ran++, ok += run_ok(runs[r]);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "value", s->sweep_values[p]);
            cJSON_AddNumberToObject(o, "runs", ran);
            cJSON_AddNumberToObject(o, "ok", ok);
            if (st->skip[f * st->npts + p][0])
                cJSON_AddStringToObject(o, "skipped", st->skip[f * st->npts + p]);
            struct stat_summary ss;
            static const char *const figs[][2] = {
                {"throughput_per_s", "throughput_per_s.end_to_end"},
                {"offered_rate_per_s", "offered_rate_per_s"},
                {"p50_us", "latency_us.end_to_end.p50"},
                {"p99_us", "latency_us.end_to_end.p99"},
                {"worker_cpu_us_per_task", "resources.workers.cpu_us_per_task"},
                {"redis_bytes_per_queued_task", "redis_memory.bytes_per_queued_task"},
                /* cold start: over the repeats, each run's earliest, median and latest worker */
                {"cold_start_first_heartbeat_earliest_ms", CS_BEAT "earliest"},
                {"cold_start_first_heartbeat_median_ms", CS_BEAT "median"},
                {"cold_start_first_heartbeat_latest_ms", CS_BEAT "latest"},
                {"cold_start_first_task_started_earliest_ms", CS_START "earliest"},
                {"cold_start_first_task_started_median_ms", CS_START "median"},
                {"cold_start_first_task_started_latest_ms", CS_START "latest"},
                {"cold_start_first_task_done_earliest_ms", CS_DONE "earliest"},
                {"cold_start_first_task_done_median_ms", CS_DONE "median"},
                {"cold_start_first_task_done_latest_ms", CS_DONE "latest"},
            };
            for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
                point_stat(runs, st->reps, figs[i][1], &ss);
                if (ss.n > 0) cJSON_AddItemToObject(o, figs[i][0], stats_to_json(&ss));
                if (i == 1) offered[p] = ss.median;
                if (i == 3) p99[p] = ss.median;
            }
            cJSON_AddItemToArray(pts, o);
            if (ran > 0) np = p + 1;
        }
        cJSON *stops = cJSON_AddArrayToObject(c, "stopped");
        for (int r = 0; r < st->reps; r++) {
            if (!st->stop[f * st->reps + r][0]) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "repeat", r + 1);
            cJSON_AddNumberToObject(o, "value", s->sweep_values[st->stop_point[f * st->reps + r]]);
            cJSON_AddStringToObject(o, "reason", st->stop[f * st->reps + r]);
            cJSON_AddItemToArray(stops, o);
        }
        if (s->sweep_param == SWEEP_RATE) {
            int k = sweep_knee(p99, np);
            if (k < 0) {
                cJSON_AddNullToObject(c, "knee");
            } else {
                cJSON *o = cJSON_AddObjectToObject(c, "knee");
                cJSON_AddNumberToObject(o, "value", s->sweep_values[k]);
                stats_add_number(o, "offered_rate_per_s", offered[k]);
                stats_add_number(o, "p99_us", p99[k]);
                stats_add_number(o, "lowest_p99_us", p99[0]);
                cJSON_AddNumberToObject(o, "factor", SWEEP_BREAK_FACTOR);
                cJSON_AddStringToObject(o, "rule", "the highest offered rate whose p99 (median "
                                                   "of the ok repeats) stays within factor x the "
                                                   "lowest point's");
                if (!quiet && !isnan(offered[k]))
                    printf("  %-12s knee: %.0f tasks/s offered (%g of capacity), p99 %.2f ms "
                           "(lowest point %.2f ms)\n",
                           fws[f]->name, offered[k], s->sweep_values[k], p99[k] / 1e3,
                           p99[0] / 1e3);
            }
        }
        cJSON_AddItemToArray(curves, c);
    }
}

int sweep_run(struct bench *b, struct report *rep, const struct scenario *s,
              const struct tq_framework *const *fws, int nfw) {
    const struct config *cfg = b->cfg;
    struct sweep_state st = {.s = s, .nfw = nfw, .npts = s->sweep_n, .reps = s->repeat};
    size_t nruns = (size_t)nfw * (size_t)st.npts * (size_t)st.reps;
    size_t ncurves = (size_t)nfw * (size_t)st.reps;
    struct sweep_step *steps = calloc(nruns, sizeof *steps);
    st.rows = calloc(nruns, sizeof *st.rows);
    st.figs = calloc(nruns, sizeof *st.figs);
    st.skip = calloc((size_t)nfw * (size_t)st.npts, sizeof *st.skip);
    st.stop = calloc(ncurves, sizeof *st.stop);
    st.stop_point = calloc(ncurves, sizeof *st.stop_point);
    st.ok_points = calloc(ncurves, sizeof *st.ok_points);
    st.capacity = calloc(ncurves, sizeof *st.capacity);
    int failed = 0;
    if (!steps || !st.rows || !st.figs || !st.skip || !st.stop || !st.stop_point ||
        !st.ok_points || !st.capacity) {
        fprintf(stderr, "tqbench: out of memory for the sweep of %s\n", s->name);
        failed = 1;
        goto out;
    }
    /* what each framework cannot run, once, before anything of the sweep */
    for (int f = 0; f < nfw; f++)
        for (int p = 0; p < st.npts; p++) {
            struct scenario pt;
            sweep_apply(s, p, &pt);
            point_admit(cfg, &pt, fws[f], st.skip[f * st.npts + p], sizeof st.skip[0]);
        }
    for (int f = 0; f < nfw; f++)
        for (int p = 0; p < st.npts; p++) {
            const char *why = st.skip[f * st.npts + p];
            if (!why[0]) continue;
            char tagged[600];
            snprintf(tagged, sizeof tagged, "%s = %g: %s", sweep_param_name(s->sweep_param),
                     s->sweep_values[p], why);
            report_add_skipped_run(rep, s->name, fws[f]->name, tagged);
            /* one line for the points that follow, skipped alike */
            if (cfg->quiet || (p > 0 && strcmp(why, st.skip[f * st.npts + p - 1]) == 0)) continue;
            fprintf(stderr, "skipped: %s = %g", sweep_param_name(s->sweep_param),
                    s->sweep_values[p]);
            for (int q = p + 1; q < st.npts && strcmp(why, st.skip[f * st.npts + q]) == 0; q++)
                fprintf(stderr, ", %g", s->sweep_values[q]);
            fprintf(stderr, ": %s\n", why);
        }
    int n = sweep_plan(s, nfw, st.reps, steps);
    char err[1024];
    for (int i = 0; i < n && !b->ev.signo && !b->redis.died[0]; i++) {
        const struct sweep_step *sp = &steps[i];
        size_t curve = (size_t)sp->fw * (size_t)st.reps + (size_t)sp->rep;
        if (st.skip[sp->fw * st.npts + sp->point][0] || st.stop[curve][0]) continue;
        struct scenario pt;
        sweep_apply(s, sp->point, &pt);
        /* every point of a rate curve is a fraction of one capacity */
        pt.capacity_given = st.capacity[curve];
        size_t k = at_run(&st, sp->fw, sp->point, sp->rep);
        cJSON *row = run_one(b, &pt, fws[sp->fw], sp->rep + 1, &st.figs[k]);
        cJSON_AddItemToObject(row, "sweep", sweep_tag(s, sp->point));
        char why[1200];
        if (b->ev.signo) {
            /* interrupted: not a point of the curve */
            failed = 1;
        } else if (sweep_point_stops(s, row, why, sizeof why)) {
            snprintf(st.stop[curve], sizeof st.stop[0], "%.500s", why);
            st.stop_point[curve] = sp->point;
            cJSON_AddStringToObject(row, "curve_stop", why);
            if (!cfg->quiet)
                fprintf(stderr, "  %s/%s #%d: the curve stops at %s = %g: %s\n", s->name,
                        fws[sp->fw]->name, sp->rep + 1, sweep_param_name(s->sweep_param),
                        s->sweep_values[sp->point], why);
            /* a curve that measured nothing fails the invocation */
            if (!st.figs[k].ok && st.ok_points[curve] == 0) failed = 1;
        }
        if (st.figs[k].ok) st.ok_points[curve]++;
        double cap = path_num(row, "capacity_probe_per_s");
        if (s->sweep_param == SWEEP_RATE && st.capacity[curve] <= 0 && st.figs[k].ok && cap > 0)
            st.capacity[curve] = cap;
        st.rows[k] = row;
        report_add_run(rep, row);
        if (report_write(rep, err, sizeof err) != 0) fprintf(stderr, "tqbench: %s\n", err);
    }
    /* a summary per (framework, point), over the repeats that ran it */
    for (int f = 0; f < nfw; f++)
        for (int p = 0; p < st.npts; p++) {
            struct run_figures ran[TQ_RUN_REPEAT_MAX];
            int m = 0;
            for (int r = 0; r < st.reps && m < TQ_RUN_REPEAT_MAX; r++)
                if (st.rows[at_run(&st, f, p, r)]) ran[m++] = st.figs[at_run(&st, f, p, r)];
            if (m == 0) continue;
            report_add_summary(rep, s->name, fws[f]->name, ran, m);
            cJSON *last = cJSON_GetArrayItem(rep->summaries, cJSON_GetArraySize(rep->summaries) - 1);
            if (last) cJSON_AddItemToObject(last, "sweep", sweep_tag(s, p));
        }
    const char *names[16];
    for (int f = 0; f < nfw && f < 16; f++) names[f] = fws[f]->name;
    if (!cfg->quiet) print_curves(&st, names);
    add_curves(rep, &st, fws, cfg->quiet);
    if (report_write(rep, err, sizeof err) != 0) fprintf(stderr, "tqbench: %s\n", err);
out:
    free(steps);
    free(st.rows);
    free(st.figs);
    free(st.skip);
    free(st.stop);
    free(st.stop_point);
    free(st.ok_points);
    free(st.capacity);
    return failed;
}
