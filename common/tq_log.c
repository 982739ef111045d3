/* tq_log.c - leveled logging to stderr and a rate limiter (see tq_log.h).
 * Each line is formatted into one buffer and written with a single write(2),
 * so lines from concurrent processes sharing a log file never interleave. */
#include "tq_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tq_clock.h"

/* The logger's configuration: set once by tq_log_init() at start-up. */
static struct {
    char program[64];
    enum tq_log_level level;
} log_config = {"tq", TQ_LOG_INFO};

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void tq_log_init(const char *program, enum tq_log_level level) {
    if (program) {
        const char *slash = strrchr(program, '/');
        snprintf(log_config.program, sizeof log_config.program, "%s", slash ? slash + 1 : program);
    }
    log_config.level = level;
}

int tq_log_level_parse(const char *s) {
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    if (!s) return -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    if (strcasecmp(s, "warning") == 0) return TQ_LOG_WARN;
    return -1;
}

void tq_log(enum tq_log_level level, const char *fmt, ...) {
    if (level < log_config.level || level >= TQ_LOG_OFF || (int)level < 0) return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), log_config.program, (int)getpid(),
                     level_names[level]);
    if (n < 0) return;
    if ((size_t)n < sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2; /* truncated message */
    while (n > 0 && line[n - 1] == '\n') n--;
    line[n++] = '\n';
    const char *p = line;
    size_t left = (size_t)n;
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
}

void tq_ratelimit_init(tq_ratelimit *rl, int max_per_window, int64_t window_us) {
    memset(rl, 0, sizeof *rl);
    rl->max_per_window = max_per_window;
    rl->window_us = window_us;
}

int tq_ratelimit_allow(tq_ratelimit *rl, int64_t *suppressed) {
    int64_t now = tq_clock_mono_us();
    if (rl->used == 0 || now - rl->window_start_us >= rl->window_us) {
        rl->window_start_us = now;
        rl->used = 0;
    }
    if (rl->used >= rl->max_per_window) {
        rl->suppressed++;
        return 0;
    }
    rl->used++;
    if (suppressed) *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return 1;
}

/* Payloads are attacker-shaped input as far as a log is concerned: no
 * control bytes reach the terminal, and quotes cannot fake a field. */
const char *tq_log_excerpt(const char *p, size_t len, size_t max, char *out, size_t cap) {
    size_t i = 0;
    if (cap == 0) return out;
    if (len == (size_t)-1) len = strlen(p);
    for (; i < len && i < max && i + 4 < cap; i++)
        out[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"') ? p[i] : '?';
    if (i < len && i + 4 <= cap) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}
