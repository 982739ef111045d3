/* report_html.c - report.html from results.json (see report_html.h). */
#include "report_html.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* report_template.c, generated at build time */
extern const char report_template_html[];
extern const size_t report_template_html_len;

/* Where the document goes in the template: the body of the results script. */
#define PLACEHOLDER "\"__TQ_RESULTS_JSON__\""

/* text with every '<' as \u003c: inside JSON, '<' only occurs in strings,
 * where the escape is the same character. */
static int write_escaped(FILE *f, const char *text) {
    for (const char *p = text; *p; p++) {
        size_t run = strcspn(p, "<");
        if (run && fwrite(p, 1, run, f) != run) return -1;
        p += run;
        if (!*p) break;
        if (fputs("\\u003c", f) < 0) return -1;
    }
    return 0;
}

int report_html_write(const cJSON *doc, const char *path, char *err, size_t errlen) {
    const char *at = strstr(report_template_html, PLACEHOLDER);
    if (!at) {
        snprintf(err, errlen, "report template has no %s (a broken build)", PLACEHOLDER);
        return -1;
    }
    char *json = cJSON_PrintUnformatted(doc);
    if (!json) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t tmplen = strlen(path) + 8;
    char *tmp = malloc(tmplen);
    FILE *f = NULL;
    int ok = 0;
    if (tmp) {
        snprintf(tmp, tmplen, "%s.tmp", path);
        f = fopen(tmp, "w");
    }
    if (f) {
        size_t head = (size_t)(at - report_template_html);
        const char *tail = at + strlen(PLACEHOLDER);
        size_t tail_len = report_template_html_len - head - strlen(PLACEHOLDER);
        ok = fwrite(report_template_html, 1, head, f) == head && write_escaped(f, json) == 0 &&
             fwrite(tail, 1, tail_len, f) == tail_len;
        if (fclose(f) != 0) ok = 0;
    }
    free(json);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "writing %s: %s", path, tmp ? strerror(errno) : "out of memory");
        if (tmp) unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int report_html_beside(const cJSON *doc, const char *results_path, char *html, size_t n) {
    const char *slash = strrchr(results_path, '/');
    int dir = slash ? (int)(slash - results_path + 1) : 0;
    if (snprintf(html, n, "%.*sreport.html", dir, results_path) >= (int)n) {
        fprintf(stderr, "tqbench: report.html: the path beside %s is too long\n", results_path);
        return -1;
    }
    char err[1024];
    if (report_html_write(doc, html, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        return -1;
    }
    return 0;
}
