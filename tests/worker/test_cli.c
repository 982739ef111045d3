/* test_cli.c - tqworker's command line: --help and --version, every bad flag
 * or value exits 2 with a message naming the flag, the bounds it enforces
 * are tq_limits.h's (which tqbench checks too), and a Redis password never
 * reaches the output. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tq_limits.h"
#include "worker_harness.h"

static char out_path[256];

static void setup(void) {
    snprintf(out_path, sizeof out_path, "/tmp/tqtest-cli-%d.out", (int)getpid());
}

static void teardown(void) {
    unlink(out_path);
}

TestSuite(worker_cli, .init = setup, .fini = teardown, .timeout = 30);

/* Runs tqworker with args (NULL-terminated), output captured in *out
 * (malloc'd). Returns the exit code, or -1 when it did not exit in 5 s. */
static int run(const char *const *args, char **out) {
    char bin[512];
    const char *argv[32];
    int n = 0;
    argv[n++] = tq_test_bin("tqworker", bin, sizeof bin);
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    unlink(out_path);
    pid_t pid = tq_test_spawn(argv, out_path);
    cr_assert_gt(pid, 0, "cannot start %s", bin);
    int st = 0;
    if (!tq_test_wait_pid(pid, 5000, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    FILE *f = fopen(out_path, "r");
    *out = calloc(1, 65536);
    if (f) {
        size_t len = fread(*out, 1, 65535, f);
        (*out)[len] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(worker_cli, version) {
    char *out;
    const char *args[] = {"--version", NULL};
    cr_assert_eq(run(args, &out), 0);
    cr_expect_str_eq(out, "tqworker " TQ_VERSION "\n");
    free(out);
}

Test(worker_cli, help_lists_every_option_env_and_exit_codes) {
    char *out;
    const char *args[] = {"--help", NULL};
    cr_assert_eq(run(args, &out), 0);
    const char *must[] = {"--redis",      "--queue",   "--concurrency", "--prefetch",
                          "--heartbeat-interval", "--prefix", "--id", "--protocol",
                          "--run",        "--brpop-timeout", "--log-level", "--help",
                          "--version",    "TQ_REDIS_URL", "Exit codes", "redis://127.0.0.1:6379/0",
                          "native",       "SIGTERM"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        cr_expect(strstr(out, must[i]) != NULL, "--help does not mention %s", must[i]);
    free(out);
}

struct bad_case {
    const char *args[4];
    const char *names; /* the message must contain this */
};

Test(worker_cli, bad_flags_and_values_exit_2_naming_the_flag) {
    static const struct bad_case cases[] = {
        {{"--bogus", NULL}, "--bogus"},
        {{"--concurrency", "0", NULL}, "--concurrency"},
        {{"--concurrency", "abc", NULL}, "--concurrency"},
        {{"--concurrency", "100000", NULL}, "--concurrency"},
        {{"--concurrency", NULL}, "--concurrency"},
        {{"--prefetch", "0", NULL}, "--prefetch"},
        {{"--prefetch", "1.5", NULL}, "--prefetch"},
        {{"--heartbeat-interval", "0", NULL}, "--heartbeat-interval"},
        {{"--heartbeat-interval", "x", NULL}, "--heartbeat-interval"},
        {{"--brpop-timeout", "0", NULL}, "--brpop-timeout"},
        {{"--brpop-timeout", "-1", NULL}, "--brpop-timeout"},
        {{"--protocol", "nope", NULL}, "--protocol"},
        {{"--queue", "a:b", NULL}, "--queue"},
        {{"--queue", "a,,b", NULL}, "--queue"},
        {{"--queue", "a,a", NULL}, "--queue"},
        {{"--id", "a b", NULL}, "--id"},
        {{"--prefix", "", NULL}, "--prefix"},
        {{"--run", "x*", NULL}, "--run"},
        {{"--redis", "http://localhost", NULL}, "--redis"},
        {{"--redis", "redis://host:99999", NULL}, "--redis"},
        {{"--log-level", "loud", NULL}, "--log-level"},
        {{"extra", NULL}, "extra"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int rc = run(cases[i].args, &out);
        cr_expect_eq(rc, 2, "%s %s: exit %d, want 2", cases[i].args[0],
                     cases[i].args[1] ? cases[i].args[1] : "", rc);
        cr_expect(strstr(out, cases[i].names) != NULL, "%s: message does not name %s: %s",
                  cases[i].args[0], cases[i].names, out);
        free(out);
    }
}

struct bound_case {
    const char *flag;
    char ok[32], over[32]; /* the last value accepted, the first refused */
    char range[64];        /* as the refusal states it */
};

/* tqworker accepts exactly up to tq_limits.h's bounds, the ones tqbench
 * refuses beyond (tests/driver/test_config.c): the value at the bound is
 * accepted, the next one refused, naming the flag and the range. Each value
 * is followed by --help, which ends the worker with exit 0 once every value
 * before it was accepted, so nothing connects anywhere. */
Test(worker_cli, bounds_are_the_shared_limits) {
    struct bound_case cases[6] = {{.flag = "--concurrency"}, {.flag = "--prefetch"},
                                  {.flag = "--max-payload-bytes"}, {.flag = "--queue"},
                                  {.flag = "--heartbeat-interval"}, {.flag = "--brpop-timeout"}};
    long imax[3] = {TQ_WORKER_CONCURRENCY_MAX, TQ_WORKER_PREFETCH_MAX, (long)TQ_WORKER_PAYLOAD_MAX};
    for (int i = 0; i < 3; i++) {
        snprintf(cases[i].ok, sizeof cases[i].ok, "%ld", imax[i]);
        snprintf(cases[i].over, sizeof cases[i].over, "%ld", imax[i] + 1);
        snprintf(cases[i].range, sizeof cases[i].range, "in 1..%ld", imax[i]);
    }
    /* --queue: TQ_WORKER_QUEUES_MAX names q0,q1,..., then one more */
    static char queues_ok[TQ_WORKER_QUEUES_MAX * 8], queues_over[(TQ_WORKER_QUEUES_MAX + 1) * 8];
    size_t n = 0;
    for (int i = 0; i < TQ_WORKER_QUEUES_MAX; i++)
        n += (size_t)snprintf(queues_ok + n, sizeof queues_ok - n, "%sq%d", i ? "," : "", i);
    snprintf(queues_over, sizeof queues_over, "%s,q%d", queues_ok, TQ_WORKER_QUEUES_MAX);
    snprintf(cases[3].range, sizeof cases[3].range, "more than %d queues", TQ_WORKER_QUEUES_MAX);
    /* seconds: the upper bounds (the lower ones are in the next loop) */
    snprintf(cases[4].ok, sizeof cases[4].ok, "%g", (double)TQ_WORKER_HEARTBEAT_S_MAX);
    snprintf(cases[4].over, sizeof cases[4].over, "%g", TQ_WORKER_HEARTBEAT_S_MAX + 0.5);
    snprintf(cases[4].range, sizeof cases[4].range, "in %g..%g", TQ_WORKER_HEARTBEAT_S_MIN,
             (double)TQ_WORKER_HEARTBEAT_S_MAX);
    snprintf(cases[5].ok, sizeof cases[5].ok, "%g", (double)TQ_WORKER_BRPOP_TIMEOUT_S_MAX);
    snprintf(cases[5].over, sizeof cases[5].over, "%g", TQ_WORKER_BRPOP_TIMEOUT_S_MAX + 0.5);
    snprintf(cases[5].range, sizeof cases[5].range, "in %g..%g", TQ_WORKER_BRPOP_TIMEOUT_S_MIN,
             (double)TQ_WORKER_BRPOP_TIMEOUT_S_MAX);
    for (int i = 0; i < 6; i++) {
        const char *ok = i == 3 ? queues_ok : cases[i].ok;
        const char *over = i == 3 ? queues_over : cases[i].over;
        char *out;
        const char *a_ok[] = {cases[i].flag, ok, "--help", NULL};
        int rc = run(a_ok, &out);
        cr_expect_eq(rc, 0, "%s %s (the bound) refused: exit %d: %s", cases[i].flag, ok, rc, out);
        free(out);
        const char *a_over[] = {cases[i].flag, over, "--help", NULL};
        rc = run(a_over, &out);
        cr_expect_eq(rc, 2, "%s %s (past the bound) not refused: exit %d", cases[i].flag, over,
                     rc);
        cr_expect(strstr(out, cases[i].flag) && strstr(out, cases[i].range),
                  "%s %s: message does not name the flag and \"%s\": %s", cases[i].flag, over,
                  cases[i].range, out);
        free(out);
    }
    /* the lower bounds of the seconds, and 1 of the counts */
    const char *lows[][3] = {{"--heartbeat-interval", "0.1", "0.09"},
                             {"--brpop-timeout", "0.01", "0.009"},
                             {"--concurrency", "1", "0"},
                             {"--prefetch", "1", "0"}};
    cr_assert_eq(TQ_WORKER_HEARTBEAT_S_MIN, 0.1);
    cr_assert_eq(TQ_WORKER_BRPOP_TIMEOUT_S_MIN, 0.01);
    for (size_t i = 0; i < sizeof lows / sizeof lows[0]; i++) {
        char *out;
        const char *a_ok[] = {lows[i][0], lows[i][1], "--help", NULL};
        cr_expect_eq(run(a_ok, &out), 0, "%s %s refused: %s", lows[i][0], lows[i][1], out);
        free(out);
        const char *a_low[] = {lows[i][0], lows[i][2], "--help", NULL};
        cr_expect_eq(run(a_low, &out), 2, "%s %s accepted", lows[i][0], lows[i][2]);
        free(out);
    }
}

Test(worker_cli, bad_env_url_names_the_variable) {
    char *out;
    setenv("TQ_REDIS_URL", "nonsense", 1);
    const char *args[] = {NULL};
    cr_assert_eq(run(args, &out), 2);
    cr_expect(strstr(out, "TQ_REDIS_URL") != NULL, "%s", out);
    free(out);
    unsetenv("TQ_REDIS_URL");
}

Test(worker_cli, password_never_printed) {
    char *out;
    const char *args[] = {"--redis", "redis://:s3cretpw@127.0.0.1:99999/0", NULL};
    cr_assert_eq(run(args, &out), 2);
    cr_expect(strstr(out, "s3cretpw") == NULL, "password in output: %s", out);
    free(out);
}

/* Reads the output file into buf (NUL-terminated; empty when absent). */
static void read_output(char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = fopen(out_path, "r");
    if (f) {
        buf[fread(buf, 1, len - 1, f)] = '\0';
        fclose(f);
    }
}

/* Runs tqworker (argv) until its output holds `until` (at most 10 s: a busy
 * machine may be slow to start it) and then for settle_ms more, tells
 * whether it was still alive then, stops it with SIGTERM and reads its
 * output into buf. Returns its exit code, or -1 when it did not exit within
 * 5 s (then it is killed) or died of a signal. */
static int run_then_stop(const char *const argv[], const char *until, int settle_ms, int *alive,
                         char *buf, size_t len) {
    unlink(out_path);
    pid_t pid = tq_test_spawn(argv, out_path);
    cr_assert_gt(pid, 0);
    int64_t deadline = tq_test_now_ms() + 10000;
    do {
        tq_test_sleep_ms(50);
        read_output(buf, len);
    } while (!strstr(buf, until) && tq_test_now_ms() < deadline && tq_test_pid_alive(pid));
    tq_test_sleep_ms(settle_ms);
    *alive = tq_test_pid_alive(pid);
    kill(pid, SIGTERM);
    int st = 0;
    int exited = tq_test_wait_pid(pid, 5000, &st);
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    read_output(buf, len);
    return exited && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Unreachable at start: keeps retrying, logs the URL with the password
 * masked, and still shuts down cleanly (exit 0: nothing to flush). */
Test(worker_cli, unreachable_redis_retries_and_masks_password) {
    char bin[512];
    const char *argv[] = {tq_test_bin("tqworker", bin, sizeof bin), "--redis",
                          "redis://:s3cretpw@127.0.0.1:1/0", "--concurrency", "2", NULL};
    static char buf[65536];
    int alive = 0;
    int code = run_then_stop(argv, "cannot connect", 300, &alive, buf, sizeof buf);
    cr_expect(alive, "tqworker exited while Redis is unreachable");
    cr_expect_eq(code, 0, "exit code %d on SIGTERM (-1: none within 5 s)", code);
    cr_expect(strstr(buf, "redis://:***@127.0.0.1:1/0") != NULL, "URL not logged: %s", buf);
    cr_expect(strstr(buf, "cannot connect") != NULL, "no connect error logged: %s", buf);
    cr_expect(strstr(buf, "s3cretpw") == NULL, "password in the log: %s", buf);
}

/* A wrong password on many connections: every AUTH fails, yet the log says
 * so a few times (rate-limited), not once per connection; the worker stays
 * up (Redis may be fixed under it) and never prints the password. */
Test(worker_cli, wrong_password_logged_rate_limited) {
    struct tq_test_redis srv;
    cr_assert_eq(tq_test_redis_start(&srv, 0, "rightpw"), 0);
    char bin[512], url[600];
    snprintf(url, sizeof url, "unix://%s?password=wr0ngpw", srv.socket);
    const char *argv[] = {tq_test_bin("tqworker", bin, sizeof bin), "--redis", url,
                          "--concurrency", "64", NULL};
    static char buf[65536];
    int alive = 0;
    /* the whole burst: every connection's AUTH fails within the first
     * moments, and the next attempts wait for their backoff */
    int code = run_then_stop(argv, "AUTH failed", 1000, &alive, buf, sizeof buf);
    tq_test_redis_stop(&srv, 1);
    cr_expect(alive, "tqworker exited on a wrong password");
    cr_expect_eq(code, 0, "exit code %d on SIGTERM (-1: none within 5 s)", code);
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "AUTH failed")) != NULL; p++) lines++;
    cr_expect_gt(lines, 0, "the failed AUTH is not logged: %s", buf);
    cr_expect_leq(lines, 3, "%d AUTH lines for 65 connections: %s", lines, buf);
    cr_expect(strstr(buf, "wr0ngpw") == NULL, "password in the log: %s", buf);
}
