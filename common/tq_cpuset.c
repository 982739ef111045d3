/* tq_cpuset.c - CPU lists: parse, format, and a process's affinity (see
 * tq_cpuset.h). */
#include "tq_cpuset.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One CPU number at *p (digits only); advances *p. Returns it, or -1. */
static long cpu_number(const char **p) {
    if (!isdigit((unsigned char)**p)) return -1;
    errno = 0;
    char *end;
    long v = strtol(*p, &end, 10);
    if (errno != 0 || v >= CPU_SETSIZE) return -1;
    *p = end;
    return v;
}

int tq_cpuset_parse(const char *s, cpu_set_t *set, char *err, size_t errlen) {
    CPU_ZERO(set);
    if (!s || !*s) {
        snprintf(err, errlen, "an empty CPU list (write it as 0, 0-3 or 0,2-3)");
        return -1;
    }
    const char *p = s;
    for (;;) {
        const char *start = p;
        long lo = cpu_number(&p), hi = lo;
        if (lo >= 0 && *p == '-') {
            p++;
            hi = cpu_number(&p);
        }
        if (lo < 0 || hi < 0 || (*p != ',' && *p != '\0')) {
            size_t n = strcspn(start, ",");
            snprintf(err, errlen,
                     "\"%.64s\": bad CPU list item \"%.*s\" (write it as 0, 0-3 or 0,2-3)", s,
                     (int)(n > 32 ? 32 : n), start);
            return -1;
        }
        if (hi < lo) {
            snprintf(err, errlen, "\"%.64s\": the range %ld-%ld runs backwards", s, lo, hi);
            return -1;
        }
        for (long c = lo; c <= hi; c++) CPU_SET((int)c, set);
        if (*p == '\0') break;
        p++; /* ',' */
    }
    cpu_set_t mine;
    if (tq_cpuset_allowed(0, &mine) != 0) {
        snprintf(err, errlen, "cannot read this process's CPU affinity: %s", strerror(errno));
        return -1;
    }
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, set) && !CPU_ISSET(c, &mine)) {
            char avail[256];
            snprintf(err, errlen,
                     "\"%.64s\": CPU %d is not available: this process may run on %s", s, c,
                     tq_cpuset_format(&mine, avail, sizeof avail));
            return -1;
        }
    }
    return 0;
}

const char *tq_cpuset_format(const cpu_set_t *set, char *buf, size_t len) {
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, set)) continue;
        int end = c;
        while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set)) end++;
        int n = end > c ? snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", c, end)
                        : snprintf(buf + used, len - used, "%s%d", used ? "," : "", c);
        if (n < 0 || (size_t)n >= len - used) {
            buf[used] = '\0'; /* no half-written item: the list of what fits */
            break;
        }
        used += (size_t)n;
        c = end;
    }
    return buf;
}

int tq_cpuset_allowed(pid_t pid, cpu_set_t *set) {
    CPU_ZERO(set);
    return sched_getaffinity(pid, sizeof *set, set) == 0 ? 0 : -1;
}
