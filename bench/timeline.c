/* timeline.c - a run's resource samples over time (see timeline.h).
 *
 * Stored row-wise while sampling (one append per timer tick) and written
 * column-wise, which is what a chart reads and is about half the JSON. */
#include "timeline.h"

#include <math.h>
#include <stdlib.h>

static const char *const role_names[TIMELINE_ROLES] = {"workers", "redis", "driver"};

void timeline_point_init(struct timeline_point *pt, double t_s) {
    pt->t_s = t_s;
    for (int r = 0; r < TIMELINE_ROLES; r++) pt->cpu_pct[r] = pt->rss_kb[r] = NAN;
}

int timeline_add(struct timeline *tl, const struct timeline_point *pt) {
    if (tl->n >= TIMELINE_MAX) {
        tl->truncated = 1;
        return -1;
    }
    if (tl->n == tl->cap) {
        int cap = tl->cap ? tl->cap * 2 : 64;
        struct timeline_point *p = realloc(tl->p, (size_t)cap * sizeof *p);
        if (!p) {
            tl->truncated = 1;
            return -1;
        }
        tl->p = p;
        tl->cap = cap;
    }
    tl->p[tl->n++] = *pt;
    return 0;
}

/* The interval sample i covers: from the previous sample, the first from 0. */
static double interval_s(const struct timeline *tl, int i) {
    return tl->p[i].t_s - (i > 0 ? tl->p[i - 1].t_s : 0);
}

int timeline_merge_last(struct timeline *tl) {
    if (tl->n < 2) return -1;
    struct timeline_point *a = &tl->p[tl->n - 2];
    const struct timeline_point *b = &tl->p[tl->n - 1];
    double wa = interval_s(tl, tl->n - 2), wb = interval_s(tl, tl->n - 1);
    for (int r = 0; r < TIMELINE_ROLES; r++) {
        if (isnan(a->cpu_pct[r])) a->cpu_pct[r] = b->cpu_pct[r];
        else if (!isnan(b->cpu_pct[r]) && wa + wb > 0)
            a->cpu_pct[r] = (a->cpu_pct[r] * wa + b->cpu_pct[r] * wb) / (wa + wb);
        if (!isnan(b->rss_kb[r])) a->rss_kb[r] = b->rss_kb[r];
    }
    a->t_s = b->t_s;
    tl->n--;
    return 0;
}

static void add_value(cJSON *a, double v) {
    cJSON_AddItemToArray(a, isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v));
}

cJSON *timeline_to_json(const struct timeline *tl, int interval_ms) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "interval_ms", interval_ms);
    cJSON *t = cJSON_AddArrayToObject(o, "t_s");
    for (int i = 0; i < tl->n; i++) add_value(t, tl->p[i].t_s);
    for (int r = 0; r < TIMELINE_ROLES; r++) {
        cJSON *role = cJSON_AddObjectToObject(o, role_names[r]);
        cJSON *cpu = cJSON_AddArrayToObject(role, "cpu_pct");
        cJSON *rss = cJSON_AddArrayToObject(role, "rss_kb");
        for (int i = 0; i < tl->n; i++) {
            add_value(cpu, tl->p[i].cpu_pct[r]);
            add_value(rss, tl->p[i].rss_kb[r]);
        }
    }
    cJSON_AddBoolToObject(o, "truncated", tl->truncated);
    return o;
}

void timeline_free(struct timeline *tl) {
    free(tl->p);
    tl->p = NULL;
    tl->n = tl->cap = 0;
}
