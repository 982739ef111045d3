/* report_cmd.c - `tqbench report RESULTS.json|DIR [-o FILE] [--format F]`.
 *
 * Makes a report from a results.json alone, so results of earlier
 * invocations and of other machines can be reported: report.html (the
 * default, beside the results.json unless -o) or an export (export.h) to
 * stdout or -o FILE. Its own argument parsing: it takes a positional file,
 * which `tqbench run`'s flags do not. */
#include "report_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"
#include "figures.h"
#include "report_html.h"

#define EXIT_USAGE 2

static int usage(const char *why) {
    fprintf(stderr,
            "tqbench report: %s\n"
            "usage: tqbench report RESULTS.json|DIR [-o FILE] [--format html|table|json|md|csv]\n",
            why);
    return EXIT_USAGE;
}

int report_cmd_main(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *format = "html";
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: tqbench report RESULTS.json|DIR [-o FILE] "
                   "[--format html|table|json|md|csv]\n"
                   "  html (default): a self-contained report.html, beside RESULTS.json unless -o\n"
                   "  table|json|md|csv: the export to stdout, or to FILE with -o\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            char why[256];
            snprintf(why, sizeof why, "unknown flag or missing value \"%s\"", argv[i]);
            return usage(why);
        } else if (!in) {
            in = argv[i];
        } else {
            char why[256];
            snprintf(why, sizeof why, "unexpected argument \"%s\" (one results file)", argv[i]);
            return usage(why);
        }
    }
    if (!in) return usage("which results.json? (a file or its results folder)");
    int fmt = strcmp(format, "html") == 0 ? -2 : export_parse_format(format);
    if (fmt == -1) {
        char why[256];
        snprintf(why, sizeof why, "--format must be html, table, json, md or csv (got \"%s\")",
                 format);
        return usage(why);
    }
    char file[4096], err[4352];
    cJSON *doc;
    if (figures_load(in, &doc, file, sizeof file, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench report: %s\n", err);
        return EXIT_USAGE;
    }
    int rc = 0;
    if (fmt == -2) {
        char html[4096 + 16];
        if (out) {
            snprintf(html, sizeof html, "%s", out);
            if (report_html_write(doc, html, err, sizeof err) != 0) {
                fprintf(stderr, "tqbench report: %s\n", err);
                rc = 1;
            }
        } else if (report_html_beside(doc, file, html, sizeof html) != 0) {
            rc = 1;
        }
        if (rc == 0) printf("report: %s\n", html);
    } else {
        FILE *f = out ? fopen(out, "w") : stdout;
        if (!f) {
            perror(out);
            rc = 1;
        } else {
            if (export_write(f, doc, (enum export_format)fmt) != 0) rc = 1;
            if (out && fclose(f) != 0) rc = 1;
            if (rc) fprintf(stderr, "tqbench report: writing %s failed\n", out ? out : "stdout");
        }
    }
    cJSON_Delete(doc);
    return rc;
}
