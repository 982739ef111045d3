/* stats.c - repeat summaries (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void stats_summarize(const double *v, int n, struct stat_summary *out) {
    out->n = 0;
    out->median = out->min = out->max = out->mean = out->cv = NAN;
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s) return;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) s[k++] = v[i];
    if (k == 0) {
        free(s);
        return;
    }
    qsort(s, (size_t)k, sizeof *s, cmp_double);
    out->n = k;
    out->min = s[0];
    out->max = s[k - 1];
    out->median = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
    double sum = 0;
    for (int i = 0; i < k; i++) sum += s[i];
    out->mean = sum / k;
    if (k > 1 && out->mean != 0) {
        double ss = 0;
        for (int i = 0; i < k; i++) ss += (s[i] - out->mean) * (s[i] - out->mean);
        out->cv = sqrt(ss / (k - 1)) / fabs(out->mean);
    }
    free(s);
}

void stats_add_number(cJSON *o, const char *name, double v) {
    if (isnan(v)) cJSON_AddNullToObject(o, name);
    else cJSON_AddNumberToObject(o, name, v);
}

cJSON *stats_to_json(const struct stat_summary *s) {
    cJSON *o = cJSON_CreateObject();
    stats_add_number(o, "median", s->median);
    stats_add_number(o, "min", s->min);
    stats_add_number(o, "max", s->max);
    stats_add_number(o, "mean", s->mean);
    stats_add_number(o, "cv", s->cv);
    cJSON_AddNumberToObject(o, "n", s->n);
    return o;
}
