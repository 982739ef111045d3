/* report_html.h - report.html: one self-contained file from results.json.
 *
 * The page is bench/report_template.html (compiled in, see embed.cmake): its
 * styles and its script inline, no request to any host, and the results
 * document embedded in <script type="application/json" id="results">, from
 * which the script draws every chart as SVG. Every "<" of the document is
 * written as \u003c (the same JSON), so no string in it can end the script
 * element. */
#ifndef TQ_BENCH_REPORT_HTML_H
#define TQ_BENCH_REPORT_HTML_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Writes the report of doc to path (a temp file renamed into place).
 * Returns 0, or -1 with err naming the file. */
int report_html_write(const cJSON *doc, const char *path, char *err, size_t errlen);

/* report.html beside results_path (its folder), into html (the path).
 * Returns 0, or -1 after printing what failed to stderr. */
int report_html_beside(const cJSON *doc, const char *results_path, char *html, size_t n);

#endif
