/* compare.c - `tqbench compare BASE NEW [--threshold PCT] [--format table|md]`.
 *
 * For CI: did NEW get worse than BASE? BASE and NEW are results.json files
 * or results folders. Their runs are grouped by (scenario, framework, sweep
 * point) (figures.h); for each figure BASE measured, both medians over the
 * ok repeats, the change in percent, and a verdict:
 *
 *   no change    |change| <= threshold (default 5%), or the two ranges of
 *                repeats (min..max) overlap: a change inside the noise is
 *                never a regression
 *   regression   worse beyond both (throughput down; latency, CPU per task,
 *                memory up: figure_defs' direction, defined once)
 *   improvement  better beyond both
 *   info         a figure without a direction (worker CPU %)
 *   failed       every run of the pair failed in NEW (counts as a regression)
 *
 * then a summary line. Exit 0 when nothing regressed, 1 when something did,
 * 2 when the inputs cannot be compared: unreadable, another schema_version,
 * different scenarios, a pair or a figure BASE has and NEW lacks (every
 * such figure named on one line, before any row is printed). */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "figures.h"
#include "report.h"

#define EXIT_OK 0
#define EXIT_REGRESSED 1
#define EXIT_UNUSABLE 2

struct compare_opts {
    const char *base, *new_;
    double threshold_pct;
    int md;
};

static int usage(const char *why) {
    fprintf(stderr,
            "tqbench compare: %s\n"
            "usage: tqbench compare BASE NEW [--threshold PCT] [--format table|md]\n"
            "  BASE, NEW: results.json files or results folders\n",
            why);
    return EXIT_UNUSABLE;
}

static int parse_args(int argc, char **argv, struct compare_opts *o) {
    char why[256];
    memset(o, 0, sizeof *o);
    o->threshold_pct = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc) {
            char *end;
            o->threshold_pct = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(o->threshold_pct >= 0) || o->threshold_pct > 1e6) {
                snprintf(why, sizeof why, "--threshold must be a percentage >= 0 (got \"%s\")",
                         argv[i]);
                return usage(why);
            }
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "md") == 0) o->md = 1;
            else if (strcmp(argv[i], "table") != 0) {
                snprintf(why, sizeof why, "--format must be table or md (got \"%s\")", argv[i]);
                return usage(why);
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            snprintf(why, sizeof why, "unknown flag or missing value \"%s\"", argv[i]);
            return usage(why);
        } else if (!o->base) {
            o->base = argv[i];
        } else if (!o->new_) {
            o->new_ = argv[i];
        } else {
            snprintf(why, sizeof why, "unexpected argument \"%s\" (two results: BASE NEW)",
                     argv[i]);
            return usage(why);
        }
    }
    if (!o->new_) return usage("needs two results: BASE NEW");
    return 0;
}

/* The scenario names of g not among other's, "a, b" into buf. */
static int scenarios_missing(const struct figure_group *g, int n, const struct figure_group *other,
                             int no, char *buf, size_t len) {
    int missing = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        int found = 0, dup = 0;
        for (int j = 0; j < no && !found; j++) found = strcmp(g[i].scenario, other[j].scenario) == 0;
        for (int j = 0; j < i && !dup; j++) dup = strcmp(g[i].scenario, g[j].scenario) == 0;
        if (found || dup) continue;
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, "%s%s", missing++ ? ", " : "", g[i].scenario);
    }
    return missing;
}

static const struct figure_group *find_group(const struct figure_group *g, int n,
                                             const struct figure_group *like) {
    for (int i = 0; i < n; i++)
        if (strcmp(g[i].scenario, like->scenario) == 0 &&
            strcmp(g[i].framework, like->framework) == 0 &&
            strcmp(g[i].sweep_label, like->sweep_label) == 0)
            return &g[i];
    return NULL;
}

/* Why doc skipped framework in scenario, or NULL. */
static const char *skip_reason(const cJSON *doc, const char *scenario, const char *framework) {
    const char *lists[] = {"skipped_frameworks", "skipped_runs"};
    for (int l = 0; l < 2; l++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, lists[l])) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "scenario");
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "framework");
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "reason");
            if (cJSON_IsString(f) && strcmp(f->valuestring, framework) == 0 &&
                (!cJSON_IsString(s) || strcmp(s->valuestring, scenario) == 0))
                return cJSON_IsString(r) ? r->valuestring : "no reason given";
        }
    }
    return NULL;
}

struct tally {
    int figures, regressions, improvements, unchanged, failed;
};

/* Relative half-range of the repeats, in percent (NAN for one value). */
static double spread_pct(const struct stat_summary *s) {
    if (s->n < 2 || s->median == 0) return NAN;
    return (s->max - s->min) / 2 / fabs(s->median) * 100;
}

static const char *verdict(const struct figure_def *d, const struct stat_summary *b,
                           const struct stat_summary *n, double change, double threshold) {
    if (d->dir == FIGURE_INFO) return "info";
    if (fabs(change) <= threshold) return "no change";
    /* the ranges of the repeats overlap: the difference is within the noise */
    if ((b->n > 1 || n->n > 1) && n->min <= b->max && b->min <= n->max) return "no change (noise)";
    int worse = (d->dir == FIGURE_HIGHER_IS_BETTER) == (change < 0);
    return worse ? "regression" : "improvement";
}

static void print_head(const struct compare_opts *o) {
    if (o->md)
        printf("| scenario | framework | point | figure | base | new | change | spread | verdict |\n"
               "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n");
    else
        printf("%-14s %-12s %-12s %-28s %14s %14s %9s %8s  %s\n", "scenario", "framework", "point",
               "figure", "base", "new", "change", "spread", "verdict");
}

static void print_row(const struct compare_opts *o, const struct figure_group *g, const char *fig,
                      const char *base, const char *new_, const char *change, const char *spread,
                      const char *v) {
    const char *point = g->sweep_label[0] ? g->sweep_label : "-";
    int bad = strcmp(v, "regression") == 0 || strcmp(v, "failed") == 0;
    if (o->md)
        printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s%s%s |\n", g->scenario, g->framework,
               point, fig, base, new_, change, spread, bad ? "**" : "", v, bad ? "**" : "");
    else
        printf("%-14s %-12s %-12s %-28s %14s %14s %9s %8s  %s\n", g->scenario, g->framework, point,
               fig, base, new_, change, spread, v);
}

/* Compares one pair (comparable() made sure NEW has every figure BASE has
 * where NEW has an ok run). */
static void compare_pair(const struct compare_opts *o, const struct figure_group *b,
                         const struct figure_group *n, struct tally *t) {
    if (n->ok == 0) {
        print_row(o, b, "(all runs)", "ok", "failed", "-", "-", "failed");
        t->failed++;
        return;
    }
    for (int f = 0; f < FIGURE_COUNT; f++) {
        const struct figure_def *d = &figure_defs[f];
        const struct stat_summary *bs = &b->fig[f], *ns = &n->fig[f];
        if (bs->n == 0 || ns->n == 0) continue; /* BASE did not measure it: nothing to compare */
        double change = bs->median != 0 ? (ns->median - bs->median) / fabs(bs->median) * 100
                        : ns->median == 0 ? 0 : (ns->median > 0 ? INFINITY : -INFINITY);
        const char *v = verdict(d, bs, ns, change, o->threshold_pct);
        char bv[40], nv[40], cv[24], sv[24];
        snprintf(bv, sizeof bv, "%.*f", d->decimals, bs->median);
        snprintf(nv, sizeof nv, "%.*f", d->decimals, ns->median);
        snprintf(cv, sizeof cv, "%+.1f%%", change);
        double sp = fmax(spread_pct(bs), spread_pct(ns)); /* fmax ignores a NAN */
        if (isnan(sp)) snprintf(sv, sizeof sv, "-");
        else snprintf(sv, sizeof sv, "±%.1f%%", sp);
        print_row(o, b, d->name, bv, nv, cv, sv, v);
        t->figures++;
        if (strcmp(v, "regression") == 0) t->regressions++;
        else if (strcmp(v, "improvement") == 0) t->improvements++;
        else if (strncmp(v, "no change", 9) == 0) t->unchanged++;
    }
}

/* The figures BASE has and NEW lacks in pairs where NEW has an ok run,
 * "rq: a, b; native rate=0.5: c" into why; how many. Checked before any
 * row is printed, so a table is never cut short by one. */
static int figures_missing(const struct figure_group *b, int nb, const struct figure_group *n,
                           int nn, char *why, size_t len) {
    int missing = 0;
    why[0] = 0;
    for (int i = 0; i < nb; i++) {
        const struct figure_group *ng = find_group(n, nn, &b[i]);
        if (b[i].ok == 0 || !ng || ng->ok == 0) continue;
        int here = 0;
        for (int f = 0; f < FIGURE_COUNT; f++) {
            if (b[i].fig[f].n == 0 || ng->fig[f].n > 0) continue;
            size_t at = strlen(why);
            if (here++ > 0)
                snprintf(why + at, len - at, ", %s", figure_defs[f].name);
            else
                snprintf(why + at, len - at, "%s%s/%s%s%s: %s", missing ? "; " : "",
                         b[i].scenario, b[i].framework, b[i].sweep_label[0] ? " " : "",
                         b[i].sweep_label, figure_defs[f].name);
            missing++;
        }
    }
    return missing;
}

/* Checks that the two documents can be compared; 0, or -1 with why. */
static int comparable(const cJSON *bd, const cJSON *nd, const struct figure_group *b, int nb,
                      const struct figure_group *n, int nn, char *why, size_t len) {
    int vb = figures_schema_version(bd), vn = figures_schema_version(nd);
    if (vb != vn || vb != REPORT_SCHEMA_VERSION) {
        snprintf(why, len,
                 "incompatible schema_version: BASE has %d, NEW has %d (this tqbench reads %d; "
                 "-1: not a positive integer)",
                 vb, vn, REPORT_SCHEMA_VERSION);
        return -1;
    }
    char only_b[512], only_n[512];
    int mb = scenarios_missing(b, nb, n, nn, only_b, sizeof only_b);
    int mn = scenarios_missing(n, nn, b, nb, only_n, sizeof only_n);
    if (mb || mn) {
        snprintf(why, len, "different scenarios: only in BASE: %s; only in NEW: %s",
                 mb ? only_b : "none", mn ? only_n : "none");
        return -1;
    }
    if (nb == 0) {
        snprintf(why, len, "BASE has no runs");
        return -1;
    }
    for (int i = 0; i < nb; i++) {
        if (b[i].ok == 0 || find_group(n, nn, &b[i])) continue;
        const char *skip = skip_reason(nd, b[i].scenario, b[i].framework);
        snprintf(why, len, "%s/%s%s%s: in BASE, not in NEW%s%s", b[i].scenario, b[i].framework,
                 b[i].sweep_label[0] ? " " : "", b[i].sweep_label,
                 skip ? " (skipped there: " : "", skip ? skip : "");
        if (skip) snprintf(why + strlen(why), len - strlen(why), ")");
        return -1;
    }
    char lack[1024];
    if (figures_missing(b, nb, n, nn, lack, sizeof lack) > 0) {
        snprintf(why, len, "figure(s) BASE has and NEW lacks: %s", lack);
        return -1;
    }
    return 0;
}

int compare_main(int argc, char **argv) {
    struct compare_opts o;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: tqbench compare BASE NEW [--threshold PCT] [--format table|md]\n");
        return EXIT_OK;
    }
    if (parse_args(argc, argv, &o) != 0) return EXIT_UNUSABLE;
    char fb[4096], fn[4096], err[8704];
    cJSON *bd = NULL, *nd = NULL;
    struct figure_group *b = NULL, *n = NULL;
    int nb = 0, nn = 0, code = EXIT_UNUSABLE;
    if (figures_load(o.base, &bd, fb, sizeof fb, err, sizeof err) != 0 ||
        figures_load(o.new_, &nd, fn, sizeof fn, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench compare: %s\n", err);
        goto out;
    }
    if (figures_group(bd, &b, &nb) != 0 || figures_group(nd, &n, &nn) != 0) {
        fprintf(stderr, "tqbench compare: out of memory\n");
        goto out;
    }
    if (comparable(bd, nd, b, nb, n, nn, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench compare: cannot compare %s with %s: %s\n", fb, fn, err);
        goto out;
    }
    if (o.md) printf("Comparing `%s` (base) with `%s` (new), threshold %g%%\n\n", fb, fn,
                     o.threshold_pct);
    else printf("base %s\nnew  %s\nthreshold %g%%\n\n", fb, fn, o.threshold_pct);
    print_head(&o);
    struct tally t = {0};
    int pairs = 0;
    for (int i = 0; i < nb; i++) {
        const struct figure_group *ng = find_group(n, nn, &b[i]);
        if (b[i].ok == 0 || !ng) continue; /* BASE measured nothing there */
        pairs++;
        compare_pair(&o, &b[i], ng, &t);
    }
    int bad = t.regressions + t.failed;
    printf("%s%s: %d figure(s) of %d pair(s): %d regression(s), %d improvement(s), %d "
           "unchanged, %d pair(s) failed in NEW (threshold %g%%; noise: the min-max ranges of "
           "the repeats overlap)%s\n",
           o.md ? "\n**" : "\n", bad ? "REGRESSED" : "OK", t.figures, pairs, t.regressions,
           t.improvements, t.unchanged, t.failed, o.threshold_pct, o.md ? "**" : "");
    code = bad ? EXIT_REGRESSED : EXIT_OK;
out:
    free(b);
    free(n);
    cJSON_Delete(bd);
    cJSON_Delete(nd);
    return code;
}
