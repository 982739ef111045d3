/* figures.c - figures read back from results.json (see figures.h). */
#include "figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

/* The direction of each figure is decided here and nowhere else. Worker
 * CPU% is informational: it rises with throughput when the same work is
 * done faster; CPU per task is the cost that must not rise. */
const struct figure_def figure_defs[FIGURE_COUNT] = {
    {"throughput_end_to_end_per_s", "throughput_per_s.end_to_end", "tasks/s", "tasks/s", 1,
     FIGURE_HIGHER_IS_BETTER},
    {"throughput_processing_per_s", "throughput_per_s.processing", "processing/s", "tasks/s", 1,
     FIGURE_HIGHER_IS_BETTER},
    {"throughput_enqueue_per_s", "throughput_per_s.enqueue", "enqueue/s", "tasks/s", 1,
     FIGURE_HIGHER_IS_BETTER},
    {"throughput_client_enqueue_per_s", "throughput_per_s.client_enqueue", "client enqueue/s",
     "tasks/s", 1, FIGURE_HIGHER_IS_BETTER},
    {"latency_end_to_end_p50_us", "latency_us.end_to_end.p50", "p50 µs", "µs", 1,
     FIGURE_LOWER_IS_BETTER},
    {"latency_end_to_end_p99_us", "latency_us.end_to_end.p99", "p99 µs", "µs", 1,
     FIGURE_LOWER_IS_BETTER},
    {"worker_cpu_pct_avg", "resources.workers.cpu_pct_avg", "worker CPU %", "% of one CPU", 2,
     FIGURE_INFO},
    {"worker_cpu_us_per_task", "resources.workers.cpu_us_per_task", "worker CPU µs/task",
     "µs/task", 3, FIGURE_LOWER_IS_BETTER},
    {"worker_rss_kb_peak", "resources.workers.rss_kb_peak", "worker peak RSS kB", "kB", 1,
     FIGURE_LOWER_IS_BETTER},
    {"worker_pss_kb_peak", "resources.workers.pss_kb_peak", "worker peak PSS kB", "kB", 1,
     FIGURE_LOWER_IS_BETTER},
    {"redis_cpu_us_per_task", "redis.cpu_us_per_task", "Redis CPU µs/task", "µs/task", 3,
     FIGURE_LOWER_IS_BETTER},
    {"redis_commands_per_task", "redis.commands_per_task", "Redis commands/task", "commands/task",
     3, FIGURE_LOWER_IS_BETTER},
};

double figures_value_at(const cJSON *o, const char *path) {
    char part[64];
    const char *p = path;
    while (o && *p) {
        size_t len = strcspn(p, ".");
        if (len >= sizeof part) return NAN;
        memcpy(part, p, len);
        part[len] = 0;
        o = cJSON_GetObjectItemCaseSensitive(o, part);
        p += len + (p[len] == '.');
    }
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

void figures_format_exact(char *buf, size_t n, double v) {
    if (isnan(v) || isinf(v)) {
        snprintf(buf, n, "null");
        return;
    }
    snprintf(buf, n, "%1.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, n, "%1.17g", v);
}

int figures_schema_version(const cJSON *doc) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "schema_version");
    if (!v) return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble != floor(v->valuedouble))
        return -1;
    return (int)v->valuedouble;
}

static const char *str_at(const cJSON *o, const char *name) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(s) ? s->valuestring : "";
}

/* "param=value" of a sweep object; the value as cJSON prints it. */
static void sweep_label(const cJSON *sweep, char *buf, size_t n, double *value) {
    const cJSON *param = cJSON_GetObjectItemCaseSensitive(sweep, "param");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(sweep, "value");
    char v[64] = "?";
    *value = NAN;
    if (cJSON_IsNumber(val)) {
        *value = val->valuedouble;
        figures_format_exact(v, sizeof v, val->valuedouble);
    } else if (cJSON_IsString(val)) {
        snprintf(v, sizeof v, "%s", val->valuestring);
    }
    snprintf(buf, n, "%s=%s", cJSON_IsString(param) ? param->valuestring : "?", v);
}

int figures_group(const cJSON *doc, struct figure_group **out, int *n) {
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(doc, "runs");
    int nruns = cJSON_GetArraySize(runs);
    struct figure_group *g = calloc((size_t)(nruns > 0 ? nruns : 1), sizeof *g);
    double *v = malloc((size_t)(nruns > 0 ? nruns : 1) * sizeof *v);
    const cJSON **members = malloc((size_t)(nruns > 0 ? nruns : 1) * sizeof *members);
    if (!g || !v || !members) {
        free(g);
        free(v);
        free(members);
        return -1;
    }
    int ng = 0;
    const cJSON *run;
    cJSON_ArrayForEach(run, runs) {
        const char *scen = str_at(run, "scenario"), *fw = str_at(run, "framework");
        const cJSON *sweep = cJSON_GetObjectItemCaseSensitive(run, "sweep");
        char label[96] = "";
        double value = NAN;
        if (cJSON_IsObject(sweep)) sweep_label(sweep, label, sizeof label, &value);
        else sweep = NULL;
        int k = 0;
        while (k < ng && !(strcmp(g[k].scenario, scen) == 0 && strcmp(g[k].framework, fw) == 0 &&
                           strcmp(g[k].sweep_label, label) == 0))
            k++;
        if (k == ng) {
            g[k].scenario = scen;
            g[k].framework = fw;
            g[k].sweep = sweep;
            snprintf(g[k].sweep_label, sizeof g[k].sweep_label, "%s", label);
            g[k].sweep_value = value;
            ng++;
        }
        g[k].runs++;
    }
    /* per group, its ok runs, then each figure over them */
    for (int k = 0; k < ng; k++) {
        int m = 0;
        cJSON_ArrayForEach(run, runs) {
            const cJSON *sweep = cJSON_GetObjectItemCaseSensitive(run, "sweep");
            char label[96] = "";
            double value;
            if (cJSON_IsObject(sweep)) sweep_label(sweep, label, sizeof label, &value);
            if (strcmp(g[k].scenario, str_at(run, "scenario")) != 0 ||
                strcmp(g[k].framework, str_at(run, "framework")) != 0 ||
                strcmp(g[k].sweep_label, label) != 0)
                continue;
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "noisy"))) g[k].noisy++;
            if (strcmp(str_at(run, "status"), "ok") == 0) members[m++] = run;
        }
        g[k].ok = m;
        for (int f = 0; f < FIGURE_COUNT; f++) {
            for (int i = 0; i < m; i++) v[i] = figures_value_at(members[i], figure_defs[f].path);
            stats_summarize(v, m, &g[k].fig[f]);
        }
    }
    free(v);
    free(members);
    *out = g;
    *n = ng;
    return 0;
}

int figures_load(const char *path, cJSON **doc, char *file, size_t filelen, char *err,
                 size_t errlen) {
    struct stat st;
    *doc = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(file, filelen, "%s/results.json", path);
    else snprintf(file, filelen, "%s", path);
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *t = realloc(text, cap * 2);
            if (!t) {
                free(text);
                text = NULL;
                break;
            }
            text = t;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!text || bad) {
        free(text);
        snprintf(err, errlen, "%s: %s", file, bad ? "read error" : "out of memory");
        return -1;
    }
    text[len] = 0;
    *doc = cJSON_Parse(text);
    if (!*doc) {
        const char *at = cJSON_GetErrorPtr();
        snprintf(err, errlen, "%s: not valid JSON (at byte %ld)", file,
                 at && at >= text && at <= text + len ? (long)(at - text) : -1L);
        free(text);
        return -1;
    }
    free(text);
    if (!cJSON_IsObject(*doc) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*doc, "runs"))) {
        snprintf(err, errlen, "%s: not a tqbench results.json (no \"runs\" array)", file);
        cJSON_Delete(*doc);
        *doc = NULL;
        return -1;
    }
    return 0;
}
