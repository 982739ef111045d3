/* figures.h - the figures read back from results.json, defined once.
 *
 * The exports (export.h), tqbench compare (compare.h) and the HTML report
 * read the same figures from a results.json document: each has a name (the
 * summaries' name), where it is in a run object, its unit and its direction
 * (whether a rise is better or worse: the one place compare's verdicts come
 * from). Runs are grouped by (scenario, framework, sweep point) in the order
 * they first appear; a group's figures are summarized over its ok runs with
 * stats_summarize, so they equal the summaries tqbench wrote. */
#ifndef TQ_BENCH_FIGURES_H
#define TQ_BENCH_FIGURES_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "stats.h"

/* A rise of the figure is: better (throughput), worse (latency, CPU per
 * task, memory), or neither (informational, never a verdict). */
enum figure_dir { FIGURE_LOWER_IS_BETTER = -1, FIGURE_INFO = 0, FIGURE_HIGHER_IS_BETTER = 1 };

struct figure_def {
    const char *name;   /* as in summaries: throughput_end_to_end_per_s */
    const char *path;   /* in a run: throughput_per_s.end_to_end */
    const char *label;  /* column heading: tasks/s */
    const char *unit;   /* tasks/s, us, %, kB, ... */
    int decimals;       /* what the Markdown and text tables show (CSV is exact) */
    enum figure_dir dir;
};

extern const struct figure_def figure_defs[];
#define FIGURE_COUNT 12

/* The number at a dotted path of o ("a.b.c"); NAN when absent, null or not
 * a number. */
double figures_value_at(const cJSON *o, const char *path);

/* One (scenario, framework, sweep point) of a document. */
struct figure_group {
    const char *scenario, *framework;  /* point into the document */
    const cJSON *sweep;                /* the runs' "sweep" object, or NULL */
    char sweep_label[96];              /* "rate=0.5"; "" without a sweep */
    double sweep_value;                /* NAN when not a number */
    int runs, ok, noisy;               /* runs, ok ones, noisy ones */
    struct stat_summary fig[FIGURE_COUNT];
};

/* Groups doc's runs (see above) into *out (malloc'd, *n of them; free()).
 * Returns 0, or -1 out of memory. */
int figures_group(const cJSON *doc, struct figure_group **out, int *n);
/* v the way cJSON writes it: the shortest of %.15g and %.17g that reads
 * back as v exactly (integers without a fraction). */
void figures_format_exact(char *buf, size_t n, double v);
/* Reads the results.json at path, or DIR/results.json when path is a
 * folder, into *doc (cJSON_Delete it) and the file's path into file.
 * Returns 0, or -1 with err naming the file and what is wrong with it. */
int figures_load(const char *path, cJSON **doc, char *file, size_t filelen, char *err,
                 size_t errlen);
/* The document's schema_version: 1 when absent (a file older than the
 * field), -1 when present but not a positive integer. */
int figures_schema_version(const cJSON *doc);

#endif
