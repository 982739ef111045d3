/* report.h - results.json and the terminal table.
 *
 * results.json holds the tool, version, start time, machine (cpus, model,
 * kernel), the effective configuration (safe Redis URL), every run and, per
 * (scenario, framework), a summary of its repeats. It is rewritten after
 * every run (to a temp file renamed into place), so an interrupted or failed
 * invocation still leaves every finished run on disk. The terminal shows one
 * compact table per scenario: a row per framework (medians of the repeats)
 * and, when several frameworks ran, ratio rows native/other. */
#ifndef TQ_BENCH_REPORT_H
#define TQ_BENCH_REPORT_H

#include <stdio.h>
#include <cjson/cJSON.h>
#include "config.h"
#include "run.h"

/* results.json's "schema_version": raised when a field changes meaning or
 * goes away (adding fields keeps it); tqbench compare refuses to compare
 * files of different versions. A file without it predates the field and
 * has version 1's layout. */
#define REPORT_SCHEMA_VERSION 1

struct report {
    cJSON *doc;
    cJSON *runs;
    cJSON *summaries;
    cJSON *skipped;               /* skipped_frameworks */
    cJSON *skipped_runs;          /* (scenario, framework) pairs skipped: run_admit */
    char path[FW_PATH_MAX + 32];
};

/* Starts the document (tool, version, started_at, machine, config). */
int report_init(struct report *rep, const struct config *cfg);
/* The folder results.json is written to (outdir_create's). */
void report_set_dir(struct report *rep, const char *out_dir);
void report_add_run(struct report *rep, cJSON *run);
/* A framework skipped as unavailable, with its reason. */
void report_add_skipped(struct report *rep, const char *framework, const char *why);
/* A (scenario, framework) pair skipped because the framework cannot run
 * what the scenario needs (run_admit), with the reason. */
void report_add_skipped_run(struct report *rep, const char *scenario, const char *framework,
                            const char *why);
/* Records the summary of one (scenario, framework) over its repeats. */
void report_add_summary(struct report *rep, const char *scenario, const char *framework,
                        const struct run_figures *figs, int n);
/* Sets "status" (ok / failed / interrupted) and finished_at, and writes. */
int report_finish(struct report *rep, const char *status, char *err, size_t errlen);
/* Writes the document now. Returns 0, or -1 with err. */
int report_write(struct report *rep, char *err, size_t errlen);
/* Prints the table of one scenario: figs[f*repeats + i] are the figures of
 * framework names[f], repeat i. A figure not measured prints as "-"; a
 * one-line note follows when a worker CPU figure shown rests on less than
 * one second of CPU time (10 ms clock ticks: resolution worse than 1%). */
void report_table(FILE *f, const char *scenario, const char *const *names, int nfw,
                  const struct run_figures *figs, int repeats);
void report_free(struct report *rep);

#endif
