/* tq_keys.c - builds the key names of the native protocol (see tq_keys.h). */
#include "tq_keys.h"

#include <stdio.h>
#include <string.h>

static int key_format(char *buf, size_t n, const char *a, const char *b, const char *c,
                      const char *d) {
    int len = snprintf(buf, n, "%s%s%s%s", a, b, c ? c : "", d ? d : "");
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

int tq_key_queue(char *buf, size_t n, const char *prefix, const char *queue) {
    return key_format(buf, n, prefix, ":queue:", queue, NULL);
}

int tq_key_worker(char *buf, size_t n, const char *prefix, const char *worker_id) {
    return key_format(buf, n, prefix, ":worker:", worker_id, NULL);
}

int tq_key_workers(char *buf, size_t n, const char *prefix) {
    return key_format(buf, n, prefix, ":workers", NULL, NULL);
}

int tq_key_run_stats(char *buf, size_t n, const char *prefix, const char *run_id) {
    char p[TQ_KEY_MAX];
    if (key_format(p, sizeof p, prefix, ":run:", run_id, NULL) < 0) return -1;
    return key_format(buf, n, p, ":stats", NULL, NULL);
}

int tq_key_run_hist(char *buf, size_t n, const char *prefix, const char *run_id) {
    char p[TQ_KEY_MAX];
    if (key_format(p, sizeof p, prefix, ":run:", run_id, NULL) < 0) return -1;
    return key_format(buf, n, p, ":hist", NULL, NULL);
}

int tq_key_run_stamps(char *buf, size_t n, const char *prefix, const char *run_id) {
    char p[TQ_KEY_MAX];
    if (key_format(p, sizeof p, prefix, ":run:", run_id, NULL) < 0) return -1;
    return key_format(buf, n, p, ":stamps", NULL, NULL);
}

int tq_key_run_trace(char *buf, size_t n, const char *prefix, const char *run_id) {
    char p[TQ_KEY_MAX];
    if (key_format(p, sizeof p, prefix, ":run:", run_id, NULL) < 0) return -1;
    return key_format(buf, n, p, ":trace", NULL, NULL);
}

int tq_key_run_pattern(char *buf, size_t n, const char *prefix, const char *run_id) {
    char p[TQ_KEY_MAX];
    if (key_format(p, sizeof p, prefix, ":run:", run_id, NULL) < 0) return -1;
    return key_format(buf, n, p, ":*", NULL, NULL);
}

int tq_key_processing(char *buf, size_t n, const char *prefix, const char *worker_id, int slot) {
    char p[TQ_KEY_MAX], num[16];
    if (slot < 0 || key_format(p, sizeof p, prefix, ":processing:", worker_id, ":") < 0) return -1;
    snprintf(num, sizeof num, "%d", slot);
    return key_format(buf, n, p, num, NULL, NULL);
}

int tq_name_valid(const char *s) {
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len >= TQ_NAME_MAX) return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}
