/* report.c - results.json and the terminal table (see report.h). */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "stale.h"
#include "stats.h"
#include "tq_proc.h"

static void utc_now(char *buf, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void report_set_dir(struct report *rep, const char *out_dir) {
    snprintf(rep->path, sizeof rep->path, "%s/results.json", out_dir);
}

int report_init(struct report *rep, const struct config *cfg) {
    memset(rep, 0, sizeof *rep);
    rep->doc = cJSON_CreateObject();
    if (!rep->doc) return -1;
    char now[64];
    utc_now(now, sizeof now);
    cJSON_AddStringToObject(rep->doc, "tool", "tqbench");
    cJSON_AddNumberToObject(rep->doc, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(rep->doc, "version", TQ_VERSION);
    cJSON_AddStringToObject(rep->doc, "started_at", now);
    cJSON_AddStringToObject(rep->doc, "status", "running");
    /* who is writing it: a later invocation marks the file "abandoned" when
     * this process is gone and the status still says "running" (stale.h) */
    struct stale_owner self;
    stale_self(&self);
    stale_owner_to_json(&self, rep->doc);
    cJSON *m = cJSON_AddObjectToObject(rep->doc, "machine");
    char model[256];
    tq_machine_cpu_model(model, sizeof model);
    cJSON_AddNumberToObject(m, "cpus", tq_machine_cpus());
    cJSON_AddStringToObject(m, "model", model);
    struct utsname u;
    if (uname(&u) == 0) {
        cJSON_AddStringToObject(m, "kernel", u.release);
        cJSON_AddStringToObject(m, "hostname", u.nodename);
        cJSON_AddStringToObject(m, "arch", u.machine);
    }
    cJSON_AddItemToObject(rep->doc, "config", config_to_json(cfg));
    rep->runs = cJSON_AddArrayToObject(rep->doc, "runs");
    rep->summaries = cJSON_AddArrayToObject(rep->doc, "summaries");
    rep->skipped = cJSON_AddArrayToObject(rep->doc, "skipped_frameworks");
    rep->skipped_runs = cJSON_AddArrayToObject(rep->doc, "skipped_runs");
    return 0;
}

void report_add_run(struct report *rep, cJSON *run) { cJSON_AddItemToArray(rep->runs, run); }

void report_add_skipped(struct report *rep, const char *framework, const char *why) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "framework", framework);
    cJSON_AddStringToObject(o, "reason", why);
    cJSON_AddItemToArray(rep->skipped, o);
}

void report_add_skipped_run(struct report *rep, const char *scenario, const char *framework,
                            const char *why) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scenario", scenario);
    cJSON_AddStringToObject(o, "framework", framework);
    cJSON_AddStringToObject(o, "reason", why);
    cJSON_AddItemToArray(rep->skipped_runs, o);
}

/* The summary of one figure over the ok repeats. */
static void add_stat(cJSON *o, const char *name, const struct run_figures *figs, int n,
                     size_t offset) {
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    int k = 0;
    for (int i = 0; v && i < n; i++)
        if (figs[i].ok) v[k++] = *(const double *)((const char *)&figs[i] + offset);
    struct stat_summary s;
    stats_summarize(v, k, &s);
    free(v);
    cJSON_AddItemToObject(o, name, stats_to_json(&s));
}

void report_add_summary(struct report *rep, const char *scenario, const char *framework,
                        const struct run_figures *figs, int n) {
    cJSON *o = cJSON_CreateObject();
    int ok = 0;
    for (int i = 0; i < n; i++) ok += figs[i].ok;
    cJSON_AddStringToObject(o, "scenario", scenario);
    cJSON_AddStringToObject(o, "framework", framework);
    cJSON_AddNumberToObject(o, "repeats", n);
    cJSON_AddNumberToObject(o, "ok", ok);
    /* each name says which run field it summarizes: throughput_X_per_s is
     * throughput_per_s.X, worker_Y is resources.workers.Y, redis_Z is
     * redis.Z */
#define STAT(name, field) add_stat(o, name, figs, n, offsetof(struct run_figures, field))
    STAT("throughput_end_to_end_per_s", tput_end_to_end);
    STAT("throughput_processing_per_s", tput_processing);
    STAT("throughput_enqueue_per_s", tput_enqueue);
    if (n > 0 && figs[0].has_client) STAT("throughput_client_enqueue_per_s", tput_client_enqueue);
    STAT("latency_end_to_end_p50_us", p50_us);
    STAT("latency_end_to_end_p99_us", p99_us);
    STAT("worker_cpu_pct_avg", worker_cpu_pct);
    STAT("worker_cpu_us_per_task", worker_cpu_us_per_task);
    STAT("worker_rss_kb_peak", worker_rss_kb_peak);
    STAT("worker_pss_kb_peak", worker_pss_kb_peak);
    STAT("redis_cpu_us_per_task", redis_cpu_us_per_task);
    STAT("redis_commands_per_task", commands_per_task);
#undef STAT
    cJSON_AddItemToArray(rep->summaries, o);
}

int report_write(struct report *rep, char *err, size_t errlen) {
    char tmp[sizeof rep->path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", rep->path);
    char *text = cJSON_Print(rep->doc);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", rep->path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    if (!ok || rename(tmp, rep->path) != 0) {
        snprintf(err, errlen, "writing %s: %s", rep->path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int report_finish(struct report *rep, const char *status, char *err, size_t errlen) {
    char now[64];
    utc_now(now, sizeof now);
    cJSON_ReplaceItemInObject(rep->doc, "status", cJSON_CreateString(status));
    cJSON_DeleteItemFromObject(rep->doc, "finished_at");
    cJSON_AddStringToObject(rep->doc, "finished_at", now);
    return report_write(rep, err, errlen);
}

void report_free(struct report *rep) {
    cJSON_Delete(rep->doc);
    rep->doc = NULL;
}

/* The figures the table shows. */
static const size_t table_fields[] = {
    offsetof(struct run_figures, tput_end_to_end),
    offsetof(struct run_figures, tput_processing),
    offsetof(struct run_figures, tput_enqueue),
    offsetof(struct run_figures, tput_client_enqueue),
    offsetof(struct run_figures, p50_us),
    offsetof(struct run_figures, p99_us),
    offsetof(struct run_figures, worker_cpu_pct),
    offsetof(struct run_figures, worker_cpu_us_per_task),
    offsetof(struct run_figures, redis_cpu_us_per_task),
    offsetof(struct run_figures, worker_rss_kb_peak),
    offsetof(struct run_figures, worker_pss_kb_peak),
};
#define TABLE_FIELDS (sizeof table_fields / sizeof table_fields[0])

static double *field_at(struct run_figures *f, size_t offset) {
    return (double *)((char *)f + offset);
}

/* Medians of the ok repeats of one framework (NAN for a figure none of
 * them measured). Returns how many repeats were ok; *imprecise counts
 * those whose worker CPU figures rest on less than 1 s of CPU time. */
static int medians(const struct run_figures *figs, int n, struct run_figures *m, int *imprecise) {
    memset(m, 0, sizeof *m);
    struct stat_summary s;
    double v[TABLE_FIELDS][n > 0 ? n : 1];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!figs[i].ok) continue;
        struct run_figures f = figs[i];
        for (size_t j = 0; j < TABLE_FIELDS; j++) v[j][k] = *field_at(&f, table_fields[j]);
        if (!f.worker_cpu_precise && (!isnan(f.worker_cpu_pct) || !isnan(f.worker_cpu_us_per_task)))
            (*imprecise)++;
        if (k == 0) {
            m->has_client = f.has_client;
            m->client_label = f.client_label;
            m->processes_per_worker = f.processes_per_worker;
        }
        k++;
    }
    if (k == 0) return 0;
    for (size_t j = 0; j < TABLE_FIELDS; j++) {
        stats_summarize(v[j], k, &s);
        *field_at(m, table_fields[j]) = s.median;
    }
    m->ok = 1;
    return k;
}

/* v with fmt after scaling, or "-" when not measured. */
static const char *cell(char *buf, size_t n, const char *fmt, double v, double scale) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, fmt, v / scale);
    return buf;
}

static void fmt_ratio(char *buf, size_t n, double a, double b) {
    if (a > 0 && b > 0) snprintf(buf, n, "%.3gx", a / b);
    else snprintf(buf, n, "-");
}

void report_table(FILE *f, const char *scenario, const char *const *names, int nfw,
                  const struct run_figures *figs, int repeats) {
    fprintf(f, "\n%s%s\n", scenario, repeats > 1 ? " (medians of the ok repeats)" : "");
    /* Redis CPU per task beside the workers': the frameworks differ most in
     * what they make Redis do (Lua scripts, several keys per task) */
    fprintf(f, "  %-16s %5s %12s %12s %10s %10s %9s %11s %11s %10s %10s\n", "framework", "ok",
            "tasks/s", "processing/s", "p50 ms", "p99 ms", "wrk CPU%", "CPU us/task",
            "Redis us/t", "peak RSS", "peak PSS");
    struct run_figures *m = calloc((size_t)(nfw > 0 ? nfw : 1), sizeof *m);
    if (!m) return;
    int imprecise = 0;
    for (int i = 0; i < nfw; i++) {
        int k = medians(figs + (size_t)i * repeats, repeats, &m[i], &imprecise);
        char ok[16];
        snprintf(ok, sizeof ok, "%d/%d", k, repeats);
        if (figs[(size_t)i * repeats].skipped) {
            /* run_admit: the framework cannot run what the scenario needs */
            fprintf(f, "  %-16s %5s %12s (skipped_runs in results.json says why)\n", names[i],
                    "-", "skipped");
            continue;
        }
        if (!m[i].ok) {
            fprintf(f, "  %-16s %5s %12s\n", names[i], ok, "failed");
            continue;
        }
        char c[9][32];
        fprintf(f, "  %-16s %5s %12s %12s %10s %10s %9s %11s %11s %10s %10s\n", names[i], ok,
                cell(c[0], sizeof c[0], "%.0f", m[i].tput_end_to_end, 1),
                cell(c[1], sizeof c[1], "%.0f", m[i].tput_processing, 1),
                cell(c[2], sizeof c[2], "%.2f", m[i].p50_us, 1000.0),
                cell(c[3], sizeof c[3], "%.2f", m[i].p99_us, 1000.0),
                cell(c[4], sizeof c[4], "%.1f", m[i].worker_cpu_pct, 1),
                cell(c[5], sizeof c[5], "%.1f", m[i].worker_cpu_us_per_task, 1),
                cell(c[8], sizeof c[8], "%.1f", m[i].redis_cpu_us_per_task, 1),
                cell(c[6], sizeof c[6], "%.1f MB", m[i].worker_rss_kb_peak, 1024.0),
                cell(c[7], sizeof c[7], "%.1f MB", m[i].worker_pss_kb_peak, 1024.0));
    }
    /* ratio rows: the native baseline against each other framework */
    int native = -1;
    for (int i = 0; i < nfw; i++)
        if (strcmp(names[i], "native") == 0) native = i;
    if (nfw > 1 && native >= 0 && m[native].ok) {
        for (int i = 0; i < nfw; i++) {
            if (i == native || !m[i].ok) continue;
            char label[64], a[16], b[16], c[16], r[16], d[16], e[16];
            snprintf(label, sizeof label, "native/%s", names[i]);
            fmt_ratio(a, sizeof a, m[native].tput_end_to_end, m[i].tput_end_to_end);
            fmt_ratio(b, sizeof b, m[native].p99_us, m[i].p99_us);
            fmt_ratio(c, sizeof c, m[native].worker_cpu_us_per_task, m[i].worker_cpu_us_per_task);
            fmt_ratio(r, sizeof r, m[native].redis_cpu_us_per_task, m[i].redis_cpu_us_per_task);
            fmt_ratio(d, sizeof d, m[native].worker_rss_kb_peak, m[i].worker_rss_kb_peak);
            fmt_ratio(e, sizeof e, m[native].worker_pss_kb_peak, m[i].worker_pss_kb_peak);
            fprintf(f, "  %-16s %5s %12s %12s %10s %10s %9s %11s %11s %10s %10s\n", label, "",
                    a, "", "", b, "", c, r, d, e);
        }
    }
    /* a framework's own client next to tqbench's C producer: both enqueue
     * rates, so neither is taken for the other */
    for (int i = 0; i < nfw; i++) {
        if (!m[i].ok || !m[i].has_client) continue;
        char a[32], b[32], who[96];
        if (m[i].client_label) snprintf(who, sizeof who, "%s", m[i].client_label);
        else snprintf(who, sizeof who, "%s's own client", names[i]);
        fprintf(f, "  %s enqueue: %s/s by tqbench's C producer, %s/s by %s%s\n", names[i],
                cell(a, sizeof a, "%.0f", m[i].tput_enqueue, 1),
                cell(b, sizeof b, "%.0f", m[i].tput_client_enqueue, 1), who,
                isnan(m[i].tput_client_enqueue) ? " (not measured: client_enqueue_error in "
                                                  "results.json)"
                                                : "");
    }
    for (int i = 0; i < nfw; i++)
        if (m[i].ok && m[i].processes_per_worker > 1)
            fprintf(f, "  note: %s runs one task at a time per process: concurrency %d ran as %d "
                       "worker processes per worker, each with its own heartbeat, all measured "
                       "(results.json settings.worker_processes)\n",
                    names[i], m[i].processes_per_worker, m[i].processes_per_worker);
    if (imprecise)
        fprintf(f, "  note: worker CPU under 1 s in %d run(s): counted in 10 ms clock ticks, so "
                   "wrk CPU%% and CPU us/task are not precise to 1%% (give them more tasks)\n",
                imprecise);
    free(m);
}
