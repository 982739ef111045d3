/* export.c - results.json as tables and CSV (see export.h).
 *
 * The text and Markdown tables are one renderer with two styles, so they
 * never disagree on a value. */
#include "export.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "figures.h"

int export_parse_format(const char *name) {
    static const char *const names[] = {"table", "json", "md", "csv"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

/* ---- tables ---- */

/* The figures the tables show, in figure_defs' order. */
static const int table_figs[] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 8, 9};
#define TABLE_FIGS (int)(sizeof table_figs / sizeof table_figs[0])
#define TABLE_COLS (TABLE_FIGS + 4) /* framework, sweep, ok, the figures, vs native */
#define COL_VS_NATIVE (TABLE_COLS - 1)
#define CELL 128

static void cell_value(char *buf, size_t n, const struct stat_summary *s, int decimals) {
    if (s->n == 0 || isnan(s->median)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.*f", decimals, s->median);
}

static const char *str_at(const cJSON *o, const char *name) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(s) ? s->valuestring : "";
}

/* The native group of g's scenario and sweep point, or NULL. */
static const struct figure_group *native_of(const struct figure_group *all, int ng,
                                            const struct figure_group *g) {
    for (int k = 0; k < ng; k++)
        if (strcmp(all[k].framework, "native") == 0 && strcmp(all[k].scenario, g->scenario) == 0 &&
            strcmp(all[k].sweep_label, g->sweep_label) == 0)
            return &all[k];
    return NULL;
}

/* One table row's cells: framework, sweep point, ok/runs, the figures, and
 * native's tasks/s over this framework's (as the terminal table's native/X
 * rows: "55.8x"), "-" for native itself or without both medians. */
static void row_cells(const struct figure_group *g, const struct figure_group *native,
                      char cells[TABLE_COLS][CELL]) {
    snprintf(cells[0], CELL, "%s", g->framework);
    snprintf(cells[1], CELL, "%s", g->sweep_label);
    snprintf(cells[2], CELL, "%d/%d", g->ok, g->runs);
    for (int i = 0; i < TABLE_FIGS; i++) {
        const struct figure_def *d = &figure_defs[table_figs[i]];
        cell_value(cells[3 + i], CELL, &g->fig[table_figs[i]], d->decimals);
    }
    const struct stat_summary *mine = &g->fig[0], *base = native ? &native->fig[0] : NULL;
    if (base && native != g && mine->n > 0 && base->n > 0 && mine->median > 0 &&
        base->median > 0)
        snprintf(cells[COL_VS_NATIVE], CELL, "%.3gx", base->median / mine->median);
    else
        snprintf(cells[COL_VS_NATIVE], CELL, "-");
}

/* Whether column c has a value in any row of the scenario: the sweep and
 * figures no framework measured (client enqueue, PSS) are left out. */
static int column_used(const struct figure_group *g, int ng, const char *scen, int c) {
    for (int k = 0; k < ng; k++) {
        if (strcmp(g[k].scenario, scen) != 0) continue;
        if (c == 1 && g[k].sweep_label[0]) return 1;
        if (c == COL_VS_NATIVE) {
            if (strcmp(g[k].framework, "native") != 0 && native_of(g, ng, &g[k])) return 1;
            continue;
        }
        if (c >= 3 && g[k].fig[table_figs[c - 3]].n > 0) return 1;
    }
    return c == 0 || c == 2;
}

static void table_scenario(FILE *f, const struct figure_group *g, int ng, const char *scen,
                           int md) {
    const char *heads[TABLE_COLS] = {"framework", "sweep", "ok"};
    for (int i = 0; i < TABLE_FIGS; i++) heads[3 + i] = figure_defs[table_figs[i]].label;
    heads[COL_VS_NATIVE] = "native/this tasks/s";
    int used[TABLE_COLS], width[TABLE_COLS];
    for (int c = 0; c < TABLE_COLS; c++) {
        used[c] = column_used(g, ng, scen, c);
        width[c] = (int)strlen(heads[c]);
    }
    char cells[TABLE_COLS][CELL];
    for (int k = 0; k < ng; k++) {
        if (strcmp(g[k].scenario, scen) != 0) continue;
        row_cells(&g[k], native_of(g, ng, &g[k]), cells);
        for (int c = 0; c < TABLE_COLS; c++)
            if ((int)strlen(cells[c]) > width[c]) width[c] = (int)strlen(cells[c]);
    }
    if (md) fprintf(f, "\n### %s\n\n|", scen);
    else fprintf(f, "\n%s (medians of the ok repeats)\n ", scen);
    for (int c = 0; c < TABLE_COLS; c++)
        if (used[c]) fprintf(f, md ? " %*s |" : " %*s", c < 2 ? -width[c] : width[c], heads[c]);
    fputc('\n', f);
    if (md) {
        fputc('|', f);
        for (int c = 0; c < TABLE_COLS; c++)
            if (used[c]) fputs(c < 2 ? " --- |" : " ---: |", f);
        fputc('\n', f);
    }
    for (int k = 0; k < ng; k++) {
        if (strcmp(g[k].scenario, scen) != 0) continue;
        row_cells(&g[k], native_of(g, ng, &g[k]), cells);
        fputs(md ? "|" : " ", f);
        for (int c = 0; c < TABLE_COLS; c++)
            if (used[c]) fprintf(f, md ? " %*s |" : " %*s", c < 2 ? -width[c] : width[c], cells[c]);
        fputc('\n', f);
    }
    /* under the table, so the Markdown table keeps its columns */
    int noisy = 0;
    for (int k = 0; k < ng; k++) {
        if (strcmp(g[k].scenario, scen) != 0 || !g[k].noisy) continue;
        fprintf(f, "%s%s%s%s %d/%d", noisy++ ? ", " : md ? "\nnoisy runs: " : "  noisy runs: ",
                g[k].framework, g[k].sweep_label[0] ? " " : "", g[k].sweep_label, g[k].noisy,
                g[k].runs);
    }
    if (noisy) fprintf(f, " (the machine was busier than the measured roles)\n");
}

/* Skipped frameworks (whole invocation) and (scenario, framework) pairs. */
static void table_skipped(FILE *f, const cJSON *doc, int md) {
    const char *lists[] = {"skipped_frameworks", "skipped_runs"};
    int shown = 0;
    for (int l = 0; l < 2; l++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, lists[l])) {
            if (!shown++) fprintf(f, md ? "\nSkipped:\n\n" : "\nskipped:\n");
            const char *scen = str_at(e, "scenario");
            fprintf(f, md ? "- %s%s%s: %s\n" : "  %s%s%s: %s\n", scen, scen[0] ? "/" : "",
                    str_at(e, "framework"), str_at(e, "reason"));
        }
    }
}

static int write_tables(FILE *f, const cJSON *doc, int md) {
    struct figure_group *g;
    int ng;
    if (figures_group(doc, &g, &ng) != 0) return -1;
    for (int k = 0; k < ng; k++) {
        int first = 1;
        for (int j = 0; j < k && first; j++) first = strcmp(g[j].scenario, g[k].scenario) != 0;
        if (first) table_scenario(f, g, ng, g[k].scenario, md);
    }
    if (ng == 0) fprintf(f, md ? "\nNo runs.\n" : "\nno runs\n");
    table_skipped(f, doc, md);
    free(g);
    return 0;
}

/* ---- CSV ---- */

struct columns {
    char **name;
    int n, cap;
};

static int columns_add(struct columns *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->name[i], name) == 0) return 0;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        char **p = realloc(c->name, (size_t)cap * sizeof *p);
        if (!p) return -1;
        c->name = p;
        c->cap = cap;
    }
    c->name[c->n] = strdup(name);
    return c->name[c->n] ? (c->n++, 0) : -1;
}

/* Every scalar leaf of o under prefix, in document order. */
static int columns_collect(struct columns *c, const cJSON *o, const char *prefix) {
    const cJSON *e;
    cJSON_ArrayForEach(e, o) {
        char name[512];
        snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", e->string);
        if (cJSON_IsArray(e)) continue;
        if (cJSON_IsObject(e)) {
            if (columns_collect(c, e, name) != 0) return -1;
        } else if (columns_add(c, name) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The item at a dotted path (names never contain dots in results.json). */
static const cJSON *item_at(const cJSON *o, const char *path) {
    char part[256];
    while (o && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof part) return NULL;
        memcpy(part, path, len);
        part[len] = 0;
        o = cJSON_GetObjectItemCaseSensitive(o, part);
        path += len + (path[len] == '.');
    }
    return o;
}

/* RFC 4180: a field with a comma, quote or line break is quoted. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_value(FILE *f, const cJSON *v) {
    char buf[64];
    if (cJSON_IsNumber(v)) {
        figures_format_exact(buf, sizeof buf, v->valuedouble);
        fputs(buf, f);
    } else if (cJSON_IsString(v)) {
        csv_field(f, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    } /* null or absent: empty */
}

/* The document's fields on every row: enough to tell files apart once
 * their rows are concatenated. */
static const char *const file_fields[] = {"schema_version", "version", "started_at",
                                          "machine.hostname", "machine.model", "machine.cpus",
                                          "redis.version"};
#define FILE_FIELDS (int)(sizeof file_fields / sizeof file_fields[0])

static int write_csv(FILE *f, const cJSON *doc) {
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(doc, "runs");
    struct columns c = {0};
    const cJSON *run;
    int rc = 0;
    cJSON_ArrayForEach(run, runs) if (columns_collect(&c, run, "") != 0) rc = -1;
    if (rc == 0) {
        for (int i = 0; i < FILE_FIELDS; i++) fprintf(f, "%sfile.%s", i ? "," : "", file_fields[i]);
        for (int i = 0; i < c.n; i++) {
            fputc(',', f);
            csv_field(f, c.name[i]);
        }
        fputc('\n', f);
        cJSON_ArrayForEach(run, runs) {
            for (int i = 0; i < FILE_FIELDS; i++) {
                if (i) fputc(',', f);
                csv_value(f, item_at(doc, file_fields[i]));
            }
            for (int i = 0; i < c.n; i++) {
                fputc(',', f);
                csv_value(f, item_at(run, c.name[i]));
            }
            fputc('\n', f);
        }
    }
    for (int i = 0; i < c.n; i++) free(c.name[i]);
    free(c.name);
    return rc;
}

int export_write(FILE *f, const cJSON *doc, enum export_format fmt) {
    int rc = 0;
    if (fmt == EXPORT_JSON) {
        char *s = cJSON_Print(doc);
        if (!s) return -1;
        fprintf(f, "%s\n", s);
        free(s);
    } else if (fmt == EXPORT_CSV) {
        rc = write_csv(f, doc);
    } else {
        rc = write_tables(f, doc, fmt == EXPORT_MD);
    }
    return rc == 0 && !ferror(f) ? 0 : -1;
}
