/* test_export.c - the exports read back: every CSV cell equals the run's
 * field in the fixture (numbers exactly), and every Markdown figure equals
 * the median of the ok repeats to the decimals it shows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"
#include "figures.h"
#include "tq_testutil.h"
#include <sys/wait.h>
#include <unistd.h>

static const cJSON *item_at(const cJSON *o, const char *path);

static cJSON *load_path(const char *path) {
    char file[1024], err[2048];
    cJSON *doc = NULL;
    cr_assert_eq(figures_load(path, &doc, file, sizeof file, err, sizeof err), 0, "%s", err);
    return doc;
}

static cJSON *load(const char *name) {
    char path[1024], file[1024], err[2048];
    snprintf(path, sizeof path, "%s/%s", TQ_REPORT_FIXTURES, name);
    cJSON *doc = NULL;
    cr_assert_eq(figures_load(path, &doc, file, sizeof file, err, sizeof err), 0, "%s", err);
    return doc;
}

static char *export_text(const cJSON *doc, enum export_format fmt) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    cr_assert_eq(export_write(f, doc, fmt), 0);
    fclose(f);
    return buf;
}

/* One CSV record from *p (RFC 4180 quoting) into fields; advances *p. */
static int csv_record(char **p, char **fields, int max) {
    int n = 0;
    char *s = *p;
    if (!*s) return 0;
    for (;;) {
        char *out = s, *start = s;
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '"' && s[1] == '"') {
                    *out++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    *out++ = *s++;
                }
            }
        } else {
            while (*s && *s != ',' && *s != '\n') *out++ = *s++;
        }
        char end = *s;
        *out = 0;
        cr_assert_lt(n, max);
        fields[n++] = start;
        if (end == ',') {
            s++;
            continue;
        }
        if (end == '\n') s++;
        break;
    }
    *p = s;
    return n;
}

static const cJSON *item_at(const cJSON *o, const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *part = strtok_r(buf, ".", &save); part && o;
         part = strtok_r(NULL, ".", &save))
        o = cJSON_GetObjectItemCaseSensitive(o, part);
    return o;
}

static void check_csv(const char *fixture) {
    cJSON *doc = load(fixture);
    char *text = export_text(doc, EXPORT_CSV);
    char *p = text;
    static char *head[4096], *row[4096];
    int nh = csv_record(&p, head, 4096);
    cr_assert_gt(nh, 20);
    cr_assert_str_eq(head[0], "file.schema_version");
    const cJSON *run;
    int checked = 0, nrun = 0;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(doc, "runs")) {
        int nr = csv_record(&p, row, 4096);
        cr_assert_eq(nr, nh, "%s run %d: %d fields, %d columns", fixture, nrun, nr, nh);
        for (int c = 0; c < nh; c++) {
            const cJSON *v = strncmp(head[c], "file.", 5) == 0 ? item_at(doc, head[c] + 5)
                                                                : item_at(run, head[c]);
            if (!v || cJSON_IsNull(v)) {
                cr_assert_str_eq(row[c], "", "%s %s", fixture, head[c]);
            } else if (cJSON_IsNumber(v)) {
                cr_assert_eq(strtod(row[c], NULL), v->valuedouble, "%s run %d %s: %s vs %.17g",
                             fixture, nrun, head[c], row[c], v->valuedouble);
                checked++;
            } else if (cJSON_IsString(v)) {
                cr_assert_str_eq(row[c], v->valuestring, "%s %s", fixture, head[c]);
            } else if (cJSON_IsBool(v)) {
                cr_assert_str_eq(row[c], cJSON_IsTrue(v) ? "true" : "false");
            }
        }
        nrun++;
    }
    cr_assert_eq(nrun, cJSON_GetArraySize(cJSON_GetObjectItem(doc, "runs")));
    cr_assert_eq(*p, 0, "%s: more CSV rows than runs", fixture);
    cr_assert_gt(checked, 50 * nrun);
    free(text);
    cJSON_Delete(doc);
}

Test(export, csv_values_equal_results_json) {
    const char *fx[] = {"single.json", "repeats.json", "sweep.json", "failed.json", "skipped.json"};
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) check_csv(fx[i]);
}

Test(export, csv_sweep_columns) {
    cJSON *doc = load("sweep.json");
    char *text = export_text(doc, EXPORT_CSV);
    cr_assert(strstr(text, ",sweep.param,sweep.value"), "%s", text);
    cr_assert(strstr(text, ",rate,0.5\n") || strstr(text, ",rate,0.5,"), "the sweep point");
    free(text);
    cJSON_Delete(doc);
}

/* The Markdown row of framework (and sweep point) in the scenario's table:
 * its cells into cells, the heading's into heads. */
static int md_row(char *text, const char *scenario, const char *framework, const char *point,
                  char **heads, char **cells, int max, char **bufs) {
    char title[256];
    snprintf(title, sizeof title, "### %s\n", scenario);
    char *t = strstr(text, title);
    cr_assert(t, "no table for %s", scenario);
    t += strlen(title) + 1;
    char *head = bufs[0] = strdup(t);
    *strchr(head, '\n') = 0;
    int nh = 0;
    for (char *save = NULL, *c = strtok_r(head, "|", &save); c; c = strtok_r(NULL, "|", &save)) {
        while (*c == ' ') c++;
        for (char *e = c + strlen(c); e > c && e[-1] == ' ';) *--e = 0;
        heads[nh++] = c;
    }
    for (char *line = strchr(t, '\n'); line && line[1] == '|'; line = strchr(line + 1, '\n')) {
        char *l = strndup(line + 1, strcspn(line + 1, "\n"));
        int n = 0;
        for (char *save = NULL, *c = strtok_r(l, "|", &save); c && n < max;
             c = strtok_r(NULL, "|", &save)) {
            while (*c == ' ') c++;
            for (char *e = c + strlen(c); e > c && e[-1] == ' ';) *--e = 0;
            cells[n++] = c;
        }
        if (strcmp(cells[0], framework) == 0 && (!point || strcmp(cells[1], point) == 0))
            return bufs[1] = l, nh; /* the caller frees head and l (the cells) */
        free(l);
    }
    cr_assert_fail("no row %s %s in %s", framework, point ? point : "", scenario);
    return 0;
}

/* The median of a figure over the ok runs of (scenario, framework, point). */
static double median_of(const cJSON *doc, const char *scenario, const char *framework,
                        const char *point, const char *path) {
    double v[64];
    int n = 0;
    const cJSON *run;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(doc, "runs")) {
        if (strcmp(cJSON_GetObjectItem(run, "scenario")->valuestring, scenario) != 0 ||
            strcmp(cJSON_GetObjectItem(run, "framework")->valuestring, framework) != 0 ||
            strcmp(cJSON_GetObjectItem(run, "status")->valuestring, "ok") != 0)
            continue;
        if (point) {
            char p[64];
            snprintf(p, sizeof p, "rate=%g", item_at(run, "sweep.value")->valuedouble);
            if (strcmp(p, point) != 0) continue;
        }
        v[n++] = item_at(run, path)->valuedouble;
    }
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++) /* insertion sort: a handful of repeats */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void check_md(const char *fixture, const char *scenario, const char *framework,
                     const char *point, int expect_ok, int expect_runs) {
    cJSON *doc = load(fixture);
    char *text = export_text(doc, EXPORT_MD);
    char *heads[32], *cells[32];
    char *bufs[2] = {NULL, NULL};
    int nh = md_row(text, scenario, framework, point, heads, cells, 32, bufs);
    int checked = 0;
    for (int c = 0; c < nh; c++) {
        if (strcmp(heads[c], "ok") == 0) {
            char ok[32];
            snprintf(ok, sizeof ok, "%d/%d", expect_ok, expect_runs);
            cr_assert_str_eq(cells[c], ok);
        }
        for (int f = 0; f < FIGURE_COUNT; f++) {
            if (strcmp(heads[c], figure_defs[f].label) != 0) continue;
            double want = median_of(doc, scenario, framework, point, figure_defs[f].path);
            double got = strtod(cells[c], NULL);
            double half = 0.5 * pow(10, -figure_defs[f].decimals);
            cr_assert_leq(fabs(got - want), half * (1 + 1e-9), "%s %s %s: %s vs %.17g", fixture,
                          framework, heads[c], cells[c], want);
            checked++;
        }
    }
    cr_assert_geq(checked, 8, "%s: %d figures checked", fixture, checked);
    free(bufs[0]);
    free(bufs[1]);
    free(text);
    cJSON_Delete(doc);
}

Test(export, md_values_equal_results_json) {
    check_md("single.json", "throughput", "native", NULL, 1, 1);
    check_md("single.json", "throughput", "rq", NULL, 1, 1);
    check_md("repeats.json", "throughput", "native", NULL, 3, 3);
    check_md("repeats.json", "throughput", "rq", NULL, 3, 3);
    check_md("failed.json", "throughput", "native", NULL, 2, 3);
    check_md("sweep.json", "latency", "native", "rate=0.5", 1, 1);
    check_md("sweep.json", "latency", "rq", "rate=1", 1, 1);
}

Test(export, md_medians_of_the_repeats) {
    /* repeats.json: native end-to-end 50000, 52000, 51000 tasks/s */
    cJSON *doc = load("repeats.json");
    char *text = export_text(doc, EXPORT_MD);
    cr_assert(strstr(text, "| native    | 3/3 | 51000.0 |"), "%s", text);
    free(text);
    cJSON_Delete(doc);
}

Test(export, md_lists_skipped_with_reasons) {
    cJSON *doc = load("skipped.json");
    char *text = export_text(doc, EXPORT_MD);
    cr_assert(strstr(text, "- celery: python3 cannot import celery"), "%s", text);
    cr_assert(strstr(text, "- throughput/sidekiq: sidekiq workers lack the open-loop capability"));
    free(text);
    cJSON_Delete(doc);
}

Test(export, json_is_the_document) {
    cJSON *doc = load("single.json");
    char *text = export_text(doc, EXPORT_JSON);
    cJSON *back = cJSON_Parse(text);
    cr_assert(cJSON_Compare(doc, back, 1));
    cJSON_Delete(back);
    free(text);
    cJSON_Delete(doc);
}

Test(export, formats_by_name) {
    cr_assert_eq(export_parse_format("table"), EXPORT_TABLE);
    cr_assert_eq(export_parse_format("md"), EXPORT_MD);
    cr_assert_eq(export_parse_format("csv"), EXPORT_CSV);
    cr_assert_eq(export_parse_format("json"), EXPORT_JSON);
    cr_assert_eq(export_parse_format("html"), -1);
}

/* `tqbench run --format csv`: stdout is the CSV alone (a header and a row
 * for the one run), and report.html is written beside results.json. */
Test(export, run_writes_csv_and_report_html) {
    char bin[1024], dir[] = "/tmp/tq-export-run-XXXXXX", out[1100], log[1100], path[1200];
    cr_assert(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/res", dir);
    snprintf(log, sizeof log, "%s/stdout", dir);
    const char *argv[] = {tq_test_bin("tqbench", bin, sizeof bin), "run", "--tasks", "300",
                          "--warmup", "0", "--sample-ms", "50", "--out", out, "--format", "csv",
                          "--quiet", NULL};
    pid_t pid = tq_test_spawn(argv, log);
    int status = 0;
    cr_assert_eq(tq_test_wait_pid(pid, 60000, &status), 1);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    FILE *f = fopen(log, "r");
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = 0;
    fclose(f);
    cr_assert(strncmp(text, "file.schema_version,", 20) == 0, "%s", text);
    int lines = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, 2, "%s", text);
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc = load_path(path);
    cr_assert_eq(figures_schema_version(doc), 1);
    const cJSON *tl = item_at(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "runs"), 0),
                              "resources.timeline");
    cr_assert(cJSON_IsObject(tl), "resources.timeline");
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(tl, "t_s"));
    cr_assert_eq(cJSON_GetArraySize(item_at(tl, "workers.cpu_pct")), n);
    cr_assert_eq(cJSON_GetArraySize(item_at(tl, "redis.rss_kb")), n);
    cJSON_Delete(doc);
    snprintf(path, sizeof path, "%s/report.html", out);
    f = fopen(path, "r");
    cr_assert(f, "no %s", path);
    len = fread(text, 1, sizeof text - 1, f);
    text[len] = 0;
    fclose(f);
    cr_assert(strstr(text, "<script type=\"application/json\" id=\"results\">{"), "the JSON inline");
    cr_assert_null(strstr(text, "__TQ_RESULTS_JSON__"));
    /* results.json, logs/, report.html: what tqbench created, removed by name */
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
