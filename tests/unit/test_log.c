/* test_log.c - the log line format, the level filter, the rate limiter and the
 * excerpts of untrusted bytes. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_log.h"
#include "tq_testutil.h"

/* Runs fn with stderr sent to a temp file; returns what was written. */
static void capture(char *buf, size_t len, void (*fn)(void)) {
    char path[] = "/tmp/tq-unit-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static void log_some(void) {
    tq_debug("debug %d", 1);
    tq_info("info %s", "two");
    tq_warn("warn\n");
    tq_error("error %c", '4');
}

Test(log, format_and_level_filter) {
    char buf[4096];
    tq_log_init("/usr/bin/tqunit", TQ_LOG_INFO);
    capture(buf, sizeof buf, log_some);
    regex_t re;
    char pattern[256];
    snprintf(pattern, sizeof pattern,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z tqunit\\[%d\\] "
             "INFO  info two\n"
             "[^\n]+ tqunit\\[%d\\] WARN  warn\n"
             "[^\n]+ tqunit\\[%d\\] ERROR error 4\n$",
             (int)getpid(), (int)getpid(), (int)getpid());
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    cr_assert_eq(regexec(&re, buf, 0, NULL, 0), 0, "log output:\n%s", buf);
    regfree(&re);

    tq_log_init("tqunit", TQ_LOG_ERROR);
    capture(buf, sizeof buf, log_some);
    cr_assert_null(strstr(buf, "warn"), "%s", buf);
    cr_assert_not_null(strstr(buf, "ERROR error 4"), "%s", buf);
    tq_log_init("tqunit", TQ_LOG_OFF);
    capture(buf, sizeof buf, log_some);
    cr_assert_str_eq(buf, "");
    tq_log_init("tqunit", TQ_LOG_DEBUG);
    capture(buf, sizeof buf, log_some);
    cr_assert_not_null(strstr(buf, "DEBUG debug 1"), "%s", buf);
}

static void log_long(void) {
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tq_error("%s", big);
}

Test(log, long_message_is_truncated_to_one_line) {
    char buf[8192];
    tq_log_init("tqunit", TQ_LOG_INFO);
    capture(buf, sizeof buf, log_long);
    size_t n = strlen(buf);
    cr_assert_gt(n, 1000);
    cr_assert_leq(n, 2048);
    cr_assert_eq(buf[n - 1], '\n');
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1);
}

Test(log, level_parse) {
    cr_assert_eq(tq_log_level_parse("debug"), TQ_LOG_DEBUG);
    cr_assert_eq(tq_log_level_parse("info"), TQ_LOG_INFO);
    cr_assert_eq(tq_log_level_parse("warn"), TQ_LOG_WARN);
    cr_assert_eq(tq_log_level_parse("WARNING"), TQ_LOG_WARN);
    cr_assert_eq(tq_log_level_parse("error"), TQ_LOG_ERROR);
    cr_assert_eq(tq_log_level_parse("off"), TQ_LOG_OFF);
    cr_assert_eq(tq_log_level_parse("loud"), -1);
    cr_assert_eq(tq_log_level_parse(""), -1);
    cr_assert_eq(tq_log_level_parse(NULL), -1);
}

Test(log, ratelimit) {
    tq_ratelimit rl;
    tq_ratelimit_init(&rl, 3, 200000);
    int64_t suppressed = -1;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tq_ratelimit_allow(&rl, &suppressed), 1, "message %d refused", i);
        cr_assert_eq(suppressed, 0);
    }
    for (int i = 0; i < 10; i++) cr_assert_eq(tq_ratelimit_allow(&rl, &suppressed), 0);
    tq_test_sleep_ms(250);
    cr_assert_eq(tq_ratelimit_allow(&rl, &suppressed), 1);
    cr_assert_eq(suppressed, 10, "suppressed %lld", (long long)suppressed);
    cr_assert_eq(tq_ratelimit_allow(&rl, NULL), 1);
    cr_assert_eq(tq_ratelimit_allow(&rl, &suppressed), 1);
    cr_assert_eq(suppressed, 0);
    cr_assert_eq(tq_ratelimit_allow(&rl, &suppressed), 0);
}

Test(log, excerpt_of_untrusted_bytes) {
    char out[64];
    /* control bytes, NUL inside a sized buffer, quotes: all '?' */
    const char raw[] = {'a', '\n', '\0', '"', '\xff', 'b'};
    cr_assert_str_eq(tq_log_excerpt(raw, sizeof raw, 48, out, sizeof out), "a????b");
    /* (size_t)-1 means NUL-terminated */
    cr_assert_str_eq(tq_log_excerpt("run\"x", (size_t)-1, 40, out, sizeof out), "run?x");
    /* cut at max, marked */
    cr_assert_str_eq(tq_log_excerpt("abcdefgh", (size_t)-1, 4, out, sizeof out), "abcd...");
    /* cut by the buffer: always terminated, never overflowing */
    char small[8];
    memset(small, 'Z', sizeof small);
    tq_log_excerpt("abcdefghijklmnop", (size_t)-1, 40, small, sizeof small);
    cr_assert_eq(small[sizeof small - 1] == '\0' || strlen(small) < sizeof small, 1);
    cr_assert_str_eq(small, "abcd...");
    cr_assert_str_eq(tq_log_excerpt("", 0, 40, out, sizeof out), "");
}
