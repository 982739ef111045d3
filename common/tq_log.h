/* tq_log.h - leveled logging to stderr, one line per message:
 *   "2026-11-29T13:40:00.123Z tqworker[1234] WARN  message"
 * plus a rate limiter for messages that input can trigger at any rate
 * (malformed payloads, reconnect attempts). Never log a password: callers
 * format Redis URLs with tq_redis_url_format_safe(). */
#ifndef TQ_LOG_H
#define TQ_LOG_H

#include <stddef.h>
#include <stdint.h>

enum tq_log_level { TQ_LOG_DEBUG = 0, TQ_LOG_INFO, TQ_LOG_WARN, TQ_LOG_ERROR, TQ_LOG_OFF };

/* Sets the program name shown in each line and the lowest level printed.
 * Called once at start-up (it is part of the program's configuration). */
void tq_log_init(const char *program, enum tq_log_level level);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int tq_log_level_parse(const char *s);
void tq_log(enum tq_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tq_debug(...) tq_log(TQ_LOG_DEBUG, __VA_ARGS__)
#define tq_info(...)  tq_log(TQ_LOG_INFO, __VA_ARGS__)
#define tq_warn(...)  tq_log(TQ_LOG_WARN, __VA_ARGS__)
#define tq_error(...) tq_log(TQ_LOG_ERROR, __VA_ARGS__)

/* Copies untrusted bytes (a payload, a field of one) into out for a log or
 * error line: at most max bytes of p[0..len), bytes that are not printable
 * ASCII and '"' as '?', "..." when cut. len may be (size_t)-1 for a
 * NUL-terminated p. Returns out (always NUL-terminated when cap > 0). */
const char *tq_log_excerpt(const char *p, size_t len, size_t max, char *out, size_t cap);

/* Allows at most max_per_window messages per window_us. */
typedef struct tq_ratelimit {
    int64_t window_us;
    int max_per_window;
    int64_t window_start_us;
    int used;
    int64_t suppressed;   /* messages refused since the last allowed one */
} tq_ratelimit;

void tq_ratelimit_init(tq_ratelimit *rl, int max_per_window, int64_t window_us);
/* 1 when the caller may log now; then *suppressed (if not NULL) receives how
 * many were refused since the last allowed message, to say so in the line. */
int tq_ratelimit_allow(tq_ratelimit *rl, int64_t *suppressed);

#endif
