/* export.h - results.json as other formats: text or Markdown tables, CSV.
 *
 * Everything is read from the results.json document alone (figures.h), so
 * `tqbench report RESULTS.json --format ...` gives the same output for old
 * results and for results from other machines as `tqbench run --format`.
 *
 *   table  one aligned table per scenario: a row per framework (and sweep
 *          point), the medians of its ok repeats
 *   md     the same as Markdown tables that paste into an issue or README,
 *          then the skipped frameworks and runs with their reasons
 *   csv    one row per run: every scalar field of the run flattened under
 *          its dotted path (throughput_per_s.end_to_end, sweep.value, ...),
 *          preceded by file.* columns from the document (schema_version,
 *          started_at, machine); arrays (samples over time, percentile
 *          lists, workers) are left out; numbers exact, null empty
 *   json   the document itself
 *
 * Tables show each figure to figure_defs' decimals, in results.json's units;
 * CSV shows every number exactly as results.json does. */
#ifndef TQ_BENCH_EXPORT_H
#define TQ_BENCH_EXPORT_H

#include <stdio.h>
#include <cjson/cJSON.h>

enum export_format { EXPORT_TABLE, EXPORT_JSON, EXPORT_MD, EXPORT_CSV };

/* "table", "json", "md", "csv" -> the format; -1 for anything else. */
int export_parse_format(const char *name);
/* Writes doc to f in fmt. Returns 0, or -1 (out of memory, write error). */
int export_write(FILE *f, const cJSON *doc, enum export_format fmt);

#endif
