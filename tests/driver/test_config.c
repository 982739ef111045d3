/* test_config.c - configuration errors exit 2 with a message naming the file
 * and the key (or the flag), before anything is started: bad scenarios and
 * flags, a Redis that cannot be reached, --out over an earlier results.json;
 * the shipped scenarios all validate; --help, --version and list work.
 * Issue 8, defects 5 and 6: every count is bounded and the bound is named
 * ("tasks", rate x duration_s from the file or with --rate); a directory, a
 * NUL byte or text after the object is refused as such; --worker-bin must
 * be a program, checked before anything starts. Issue 9: concurrency and
 * prefetch stop at tqworker's own bounds (tq_limits.h), as flags and as
 * scenario keys, so a value the worker would refuse is exit 2 before anything
 * starts rather than a failed health check; with --external, a framework
 * option that configures the workers is exit 2 too (theirs apply), one
 * declared producer_side is not. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "driver_harness.h"
#include "fw_options.h"
#include "tq_limits.h"
#include "tq_testutil.h"

#define STR_(x) #x
#define STR(x) STR_(x) /* a tq_limits.h bound as text: "1024" */

/* Runs tqbench with args; expects exit code rc and every needle in the output. */
static void expect_run(struct drv *d, const char *const *args, int rc, const char *const *needles) {
    remove(d->log);
    int got = drv_run(d, args, 20000);
    char *log = drv_read(d->log);
    cr_assert_eq(got, rc, "%s: exit %d, expected %d; output:\n%s", args[0], got, rc,
                 log ? log : "");
    for (int i = 0; needles && needles[i]; i++)
        cr_assert(log && strstr(log, needles[i]), "output lacks \"%s\":\n%s", needles[i],
                  log ? log : "");
    free(log);
}

struct bad_case {
    const char *text;
    const char *needle;
};

Test(driver, malformed_scenarios, .timeout = 120, .fini = drv_cleanup) {
    static const struct bad_case cases[] = {
        {"{\"taks\": 10}", "key \"taks\" is unknown"},
        {"{\"tasks\": \"many\"}", "\"tasks\" must be an integer in 1..1000000000 (got a string)"},
        {"{\"tasks\": 0}", "\"tasks\" must be an integer in 1..1000000000 (got 0)"},
        {"{\"tasks\": 2.5}", "\"tasks\" must be an integer in 1..1000000000 (got 2.5)"},
        /* the bound that was crossed, not only the lower one */
        {"{\"tasks\": 1e15}", "\"tasks\" must be an integer in 1..1000000000 (got 1e+15)"},
        {"{\"tasks\": 1000000001}", "\"tasks\" must be an integer in 1..1000000000 (got 1000000001)"},
        {"{\"arrival\": \"rate\", \"rate\": 1e9, \"duration_s\": 1}",
         "\"rate\" must be a number in 0..100000000 (got 1000000000)"},
        /* an open loop is bounded like "tasks" (timeout_s: a binary that
         * accepts it gives up within seconds) */
        {"{\"arrival\": \"rate\", \"rate\": 100000000, \"duration_s\": 86400, \"timeout_s\": 2}",
         "\"rate\" 100000000 tasks/s x \"duration_s\" 86400 s = 8640000000000 tasks, more than "
         "the 1000000000"},
        {"{\"arrival\": \"rate\", \"rate\": 11575, \"duration_s\": 86400, \"timeout_s\": 2}",
         "= 1000080000 tasks, more than the 1000000000"},
        /* one object per file: what follows it is not silently ignored */
        {"{\"tasks\": 10, \"timeout_s\": 2} {\"tasks\": 20}", "text after the JSON object (line 1, byte 30)"},
        {"{\"tasks\": 10, \"timeout_s\": 2}\n}\n", "text after the JSON object (line 2, byte 30)"},
        {"{\"tasks\": 10, \"timeout_s\": 2}\n# a comment\n", "text after the JSON object (line 2"},
        {"{\"tasks\": 10, \"concurrency\": -1}",
         "\"concurrency\" must be an integer in 1.." STR(TQ_WORKER_CONCURRENCY_MAX) " (got -1)"},
        {"{\"tasks\": 10, \"workers\": true}",
         "\"workers\" must be an integer in 1.." STR(TQ_RUN_WORKERS_MAX) " (got a boolean)"},
        {"{\"tasks\": 10, \"arrival\": \"burst\"}", "\"arrival\" must be \"backlog\", \"live\", \"rate\" or \"cold\""},
        {"{\"tasks\": 10, \"mix\": [{\"kind\": \"nap\"}]}", "\"mix[0].kind\" must be one of"},
        {"{\"tasks\": 10, \"mix\": [{\"kind\": \"sleep\"}]}", "\"mix[0].ms\" is required for kind sleep"},
        {"{\"tasks\": 10, \"mix\": [{\"kind\": \"noop\", \"us\": 5}]}", "key \"mix[0].us\" is not valid for kind noop"},
        {"{\"tasks\": 10, \"mix\": [{\"kind\": \"noop\", \"weight\": 0}]}", "\"mix[0].weight\" must be a number > 0"},
        {"{\"tasks\": 10, \"mix\": []}", "\"mix\" must hold 1..8 entries"},
        {"{\"tasks\": 10, \"rate\": 100}", "\"rate\" and \"duration_s\" need \"arrival\": \"rate\""},
        {"{\"tasks\": 10, \"tasks\": 11}", "key \"tasks\" appears twice"},
        {"{\"name\": \"bad name\", \"tasks\": 10}", "\"name\" must be 1..127 characters"},
        {"{\"description\": \"no tasks\"}", "\"tasks\" is required"},
        {"[1, 2]", "must hold a JSON object (got an array)"},
        {"{\"tasks\": 10,", "not valid JSON"},
        {"not json at all", "not valid JSON"},
        {"", "not valid JSON"},
    };
    struct drv d;
    drv_init(&d);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], path[400];
        snprintf(name, sizeof name, "bad%zu.json", i);
        drv_write(&d, name, cases[i].text, path, sizeof path);
        const char *args[] = {"run", "--scenario", path, "--out", d.out, NULL};
        const char *needles[] = {path, cases[i].needle, NULL};
        expect_run(&d, args, 2, needles);
    }
    /* nothing ran: no results directory was even created */
    cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    drv_fini(&d);
}

/* A NUL byte after the object (a file cut and glued by a tool, a binary
 * written by mistake) is refused, naming where it is. */
Test(driver, scenario_with_nul, .timeout = 60, .fini = drv_cleanup) {
    static const char text[] = "{\"tasks\": 10, \"timeout_s\": 2}\0{\"tasks\": 99}\n";
    struct drv d;
    drv_init(&d);
    char path[400];
    snprintf(path, sizeof path, "%s/nul.json", d.dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    fclose(f);
    const char *args[] = {"run", "--scenario", path, "--out", d.out, NULL};
    const char *needles[] = {path, "holds a NUL byte (line 1, byte 29)", NULL};
    expect_run(&d, args, 2, needles);
    cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    drv_fini(&d);
}

/* A directory is not "no such file": say what it is, for a path and for a
 * name in the scenario directory alike. */
Test(driver, scenario_is_directory, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char dir[400], named[400];
    snprintf(dir, sizeof dir, "%s/scen.json", d.dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    const char *a1[] = {"run", "--scenario", dir, "--out", d.out, NULL};
    const char *n1[] = {dir, "is a directory", NULL};
    expect_run(&d, a1, 2, n1);
    /* NAME resolves to <scenario dir>/NAME.json */
    snprintf(named, sizeof named, "%s/throughput2.json", d.dir);
    cr_assert_eq(mkdir(named, 0755), 0);
    cr_assert_eq(setenv("TQ_SCENARIO_DIR", d.dir, 1), 0);
    const char *a2[] = {"run", "--scenario", "throughput2", "--out", d.out, NULL};
    const char *n2[] = {named, "is a directory", NULL};
    expect_run(&d, a2, 2, n2);
    /* `list` over every *.json: the directory is named as one, not a "read error" */
    const char *a3[] = {"list", NULL};
    const char *n3[] = {"INVALID", named, "is a directory", NULL};
    expect_run(&d, a3, 2, n3);
    unsetenv("TQ_SCENARIO_DIR");
    cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    drv_fini(&d);
}

/* --rate over a file's duration_s: the product is bounded like --tasks,
 * naming both, before anything starts. */
Test(driver, rate_override_bounded, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char path[400];
    /* 86,400,000 tasks on its own: within the bound */
    drv_write(&d, "day.json",
              "{\"arrival\": \"rate\", \"rate\": 1000, \"duration_s\": 86400, \"timeout_s\": 2}",
              path, sizeof path);
    const char *a[] = {"run", "--scenario", path, "--rate", "100000", "--out", d.out, NULL};
    const char *n[] = {path, "--rate 100000 tasks/s x \"duration_s\" 86400 s = 8640000000 tasks",
                       "more than the 1000000000", NULL};
    expect_run(&d, a, 2, n);
    cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    drv_fini(&d);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --worker-bin must be a program: refused at parse time (exit 2, naming the
 * path), before Redis, the results folder or any worker exists. */
Test(driver, worker_bin_checked, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char plain[400];
    drv_write(&d, "plain", "not a program\n", plain, sizeof plain);
    const char *bins[] = {"/nonexistent", d.dir, plain};
    const char *why[] = {"no such file", "is a directory", "is not executable"};
    for (int i = 0; i < 3; i++) {
        const char *a[] = {"run", "--worker-bin", bins[i], "--tasks", "10", "--out", d.out, NULL};
        char flag[480];
        snprintf(flag, sizeof flag, "--worker-bin %s: %s", bins[i], why[i]);
        const char *n[] = {flag, NULL};
        long long t0 = now_ms();
        expect_run(&d, a, 2, n);
        cr_assert_lt(now_ms() - t0, 2000, "--worker-bin %s took %lld ms to refuse", bins[i],
                     now_ms() - t0);
    }
    cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    drv_fini(&d);
}

Test(driver, bad_flags, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    const char *a1[] = {"run", "--tasks", "abc", NULL};
    const char *n1[] = {"--tasks must be an integer", "\"abc\"", NULL};
    expect_run(&d, a1, 2, n1);
    const char *a2[] = {"run", "--tasks", "0", NULL};
    const char *n2[] = {"--tasks must be an integer in 1..", "(got \"0\")", NULL};
    expect_run(&d, a2, 2, n2);
    const char *a3[] = {"run", "--bogus", NULL};
    const char *n3[] = {"unknown flag \"--bogus\"", NULL};
    expect_run(&d, a3, 2, n3);
    const char *a4[] = {"run", "--framework", "nosuch", NULL};
    const char *n4[] = {"unknown framework \"nosuch\"", "native", NULL};
    expect_run(&d, a4, 2, n4);
    const char *a5[] = {"run", "--scenario", "nosuch", NULL};
    const char *n5[] = {"--scenario nosuch", "tqbench list", NULL};
    expect_run(&d, a5, 2, n5);
    const char *a6[] = {"frobnicate", NULL};
    const char *n6[] = {"unknown subcommand \"frobnicate\"", NULL};
    expect_run(&d, a6, 2, n6);
    const char *a7[] = {"run", "--redis", "http://x", NULL};
    const char *n7[] = {"--redis", NULL};
    expect_run(&d, a7, 2, n7);
    const char *a8[] = {"run", "--external", NULL};
    const char *n8[] = {"--external needs --redis", NULL};
    expect_run(&d, a8, 2, n8);
    const char *a9[] = {"list", "--tasks", "5", NULL};
    const char *n9[] = {"--tasks is not a flag of `tqbench list`", NULL};
    expect_run(&d, a9, 2, n9);
    const char *a10[] = {"run", "--queue", "bad queue", NULL};
    const char *n10[] = {"--queue must be", NULL};
    expect_run(&d, a10, 2, n10);
    const char *a11[] = {NULL};
    const char *n11[] = {"a subcommand is required", NULL};
    expect_run(&d, a11, 2, n11);
    /* an empty --framework entry is a typo, not a name to skip */
    const char *fw_lists[] = {"native,,celery", ",native", "native,"};
    for (int i = 0; i < 3; i++) {
        const char *a[] = {"run", "--framework", fw_lists[i], NULL};
        const char *n[] = {"--framework: empty entry", fw_lists[i], NULL};
        expect_run(&d, a, 2, n);
    }
    const char *a12[] = {"run", "--out", "x", "--results-root", "y", NULL};
    const char *n12[] = {"--out and --results-root exclude each other", NULL};
    expect_run(&d, a12, 2, n12);
    /* workers tqbench did not start keep their own settings */
    const char *a13[] = {"run", "--redis", "redis://127.0.0.1:1/0", "--external", "--concurrency",
                         "4", NULL};
    const char *n13[] = {"--concurrency does not apply to --external workers", NULL};
    expect_run(&d, a13, 2, n13);
    const char *a14[] = {"run", "--redis", "redis://127.0.0.1:1/0", "--external", "--prefetch",
                         "2", NULL};
    const char *n14[] = {"--prefetch does not apply to --external workers", NULL};
    expect_run(&d, a14, 2, n14);
    /* pinning: a bad list names the flag and the item; a CPU that does not
     * exist here names the ones that do; roles tqbench did not start cannot
     * be pinned by it */
    const char *a15[] = {"run", "--pin-workers", "0-x", NULL};
    const char *n15[] = {"--pin-workers:", "bad CPU list item \"0-x\"", NULL};
    expect_run(&d, a15, 2, n15);
    const char *a16[] = {"run", "--pin-redis", "1000", NULL};
    const char *n16[] = {"--pin-redis:", "CPU 1000 is not available", NULL};
    expect_run(&d, a16, 2, n16);
    const char *a17[] = {"run", "--pin-driver", "3-1", NULL};
    const char *n17[] = {"--pin-driver:", "runs backwards", NULL};
    expect_run(&d, a17, 2, n17);
    const char *a18[] = {"run", "--redis", "redis://127.0.0.1:1/0", "--external", "--pin-workers",
                         "0", NULL};
    const char *n18[] = {"--pin-workers applies to spawned workers only", NULL};
    expect_run(&d, a18, 2, n18);
    const char *a19[] = {"run", "--redis", "redis://127.0.0.1:1/0", "--pin-redis", "0", NULL};
    const char *n19[] = {"--pin-redis applies to the embedded redis-server only", NULL};
    expect_run(&d, a19, 2, n19);
    cr_assert_null(drv_results(&d), "a configuration error must not start a run");
    drv_fini(&d);
}

/* Issue 9: `--concurrency 2000` passed tqbench's checks, then every tqworker
 * refused it and the run failed at the health check (exit 1, after Redis and
 * the workers were started). A concurrency or prefetch past tqworker's bound
 * (tq_limits.h, which tqworker's own test checks it enforces), as a flag or
 * a scenario key, is now exit 2 at once, naming the flag or key and the
 * range, with no results folder, Redis or worker started. */
Test(driver, limits_are_tqworkers, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char conc_over[32], pref_over[32], conc_flag[128], pref_flag[128];
    snprintf(conc_over, sizeof conc_over, "%d", TQ_WORKER_CONCURRENCY_MAX + 1);
    snprintf(pref_over, sizeof pref_over, "%d", TQ_WORKER_PREFETCH_MAX + 1);
    snprintf(conc_flag, sizeof conc_flag, "--concurrency must be an integer in 1..%d (got \"%s\")",
             TQ_WORKER_CONCURRENCY_MAX, conc_over);
    snprintf(pref_flag, sizeof pref_flag, "--prefetch must be an integer in 1..%d (got \"%s\")",
             TQ_WORKER_PREFETCH_MAX, pref_over);
    char conc_file[400], pref_file[400], conc_text[128], pref_text[128];
    char conc_key[128], pref_key[128];
    snprintf(conc_text, sizeof conc_text, "{\"tasks\": 10, \"concurrency\": %s}", conc_over);
    snprintf(pref_text, sizeof pref_text, "{\"tasks\": 10, \"prefetch\": %s}", pref_over);
    drv_write(&d, "conc.json", conc_text, conc_file, sizeof conc_file);
    drv_write(&d, "pref.json", pref_text, pref_file, sizeof pref_file);
    snprintf(conc_key, sizeof conc_key, "\"concurrency\" must be an integer in 1..%d (got %s)",
             TQ_WORKER_CONCURRENCY_MAX, conc_over);
    snprintf(pref_key, sizeof pref_key, "\"prefetch\" must be an integer in 1..%d (got %s)",
             TQ_WORKER_PREFETCH_MAX, pref_over);
    const char *runs[][8] = {
        {"run", "--concurrency", conc_over, "--tasks", "10", "--out", d.out, NULL},
        {"run", "--prefetch", pref_over, "--tasks", "10", "--out", d.out, NULL},
        {"run", "--scenario", conc_file, "--out", d.out, NULL},
        {"run", "--scenario", pref_file, "--out", d.out, NULL},
    };
    const char *needles[][3] = {
        {conc_flag, NULL}, {pref_flag, NULL}, {conc_file, conc_key, NULL},
        {pref_file, pref_key, NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        long long t0 = now_ms();
        expect_run(&d, runs[i], 2, needles[i]);
        cr_assert_lt(now_ms() - t0, 2000, "%s %s took %lld ms to refuse", runs[i][1], runs[i][2],
                     now_ms() - t0);
        /* nothing started: not even the results folder, which comes before
         * Redis and the workers */
        struct stat st;
        cr_assert_neq(stat(d.out, &st), 0, "%s %s: %s was created", runs[i][1], runs[i][2], d.out);
        cr_assert(!drv_file_has(d.log, "health-check"), "%s %s got to the health check",
                  runs[i][1], runs[i][2]);
    }
    drv_fini(&d);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* A Redis that cannot be reached is a configuration error (exit 2) for run,
 * workers and clean, said once with the URL once; run starts nothing and
 * writes no results. */
Test(driver, unreachable_redis, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char url[400];
    snprintf(url, sizeof url, "unix://%s/no-redis-here.sock", d.dir);
    const char *runs[][8] = {
        {"run", "--redis", url, "--tasks", "10", "--out", d.out, NULL},
        {"run", "--redis", url, "--external", "--out", d.out, NULL},
        {"workers", "--redis", url, NULL},
        {"clean", "--redis", url, NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        const char *n[] = {"cannot connect to Redis", NULL};
        expect_run(&d, runs[i], 2, n);
        char *log = drv_read(d.log);
        cr_assert_eq(count_of(log, url), 1, "the URL should appear once:\n%s", log);
        free(log);
    }
    cr_assert_null(drv_results(&d), "an unreachable Redis must not start a run");
    drv_fini(&d);
}

/* --out DIR over an earlier results.json is refused before anything starts
 * (no Redis needed to see it), and the file is left as it was. */
Test(driver, out_over_earlier_results, .timeout = 30, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char prev[400];
    cr_assert_eq(mkdir(d.out, 0755), 0);
    snprintf(prev, sizeof prev, "%s/results.json", d.out);
    FILE *f = fopen(prev, "w");
    cr_assert_not_null(f);
    fputs("earlier\n", f);
    fclose(f);
    const char *a[] = {"run", "--tasks", "10", "--out", d.out, NULL};
    const char *n[] = {prev, "already exists", "--results-root", NULL};
    expect_run(&d, a, 2, n);
    char *kept = drv_read(prev);
    cr_assert(kept && strcmp(kept, "earlier\n") == 0, "the earlier results.json was changed");
    free(kept);
    drv_fini(&d);
}

Test(driver, help_version_list, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    const char *h[] = {"--help", NULL};
    const char *hn[] = {"tqbench run", "Exit codes", "--health-timeout", "tqbench enqueue",
                        "?db=N", "password=P", "--results-root", "exit 2: Redis cannot be reached",
                        "--pin-workers", "--pin-redis", "--pin-driver",
                        "TQBENCH_EMBEDDED_MAXMEMORY_MB", "--option FW.NAME=VALUE", NULL};
    expect_run(&d, h, 0, hn);
    const char *v[] = {"--version", NULL};
    const char *vn[] = {"tqbench ", NULL};
    expect_run(&d, v, 0, vn);
    /* every shipped scenario validates and has a description */
    const char *l[] = {"list", NULL};
    const char *ln[] = {"throughput ", "latency ", "mixed ", "io_bound ", "cpu_bound ",
                        "retries ", "native ",
                        "--option celery.pool=prefork|threads|solo (default prefork)", NULL};
    expect_run(&d, l, 0, ln);
    cr_assert(!drv_file_has(d.log, "INVALID"), "a shipped scenario does not validate");
    drv_fini(&d);
}

/* Issue 9: framework options. An option its framework does not declare, a
 * value it refuses, a framework that does not exist, a malformed --option:
 * exit 2 before anything starts, naming the framework, the option and what
 * is accepted. */
Test(driver, framework_options_refused, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char both[400], typo[400], nonstr[400];
    drv_write(&d, "both.json",
              "{\"tasks\": 10, \"pool\": \"solo\", \"options\": {\"celery\": {\"pool\": \"solo\"}}}",
              both, sizeof both);
    drv_write(&d, "typo.json", "{\"tasks\": 10, \"options\": {\"celry\": {\"pool\": \"solo\"}}}",
              typo, sizeof typo);
    drv_write(&d, "nonstr.json", "{\"tasks\": 10, \"options\": {\"celery\": {\"pool\": 4}}}",
              nonstr, sizeof nonstr);
    const char *runs[][10] = {
        {"run", "--tasks", "10", "--option", "native.pool=solo", "--out", d.out, NULL},
        {"run", "--tasks", "10", "--framework", "celery", "--option", "celery.pool=gevent",
         "--out", d.out, NULL},
        {"run", "--tasks", "10", "--framework", "celery", "--option", "celery.pol=solo", "--out",
         d.out, NULL},
        {"run", "--tasks", "10", "--option", "celry.pool=solo", "--out", d.out, NULL},
        {"run", "--tasks", "10", "--option", "celerypool=solo", "--out", d.out, NULL},
        {"run", "--scenario", both, "--out", d.out, NULL},
        {"run", "--scenario", typo, "--out", d.out, NULL},
        {"run", "--scenario", nonstr, "--out", d.out, NULL},
    };
    const char *needles[][4] = {
        {"native: no option \"pool\" (native takes: reliable", "--option native.pool=solo",
         NULL},
        {"celery: unsupported pool \"gevent\" (prefork, threads or solo)",
         "set by --option celery.pool=gevent", NULL},
        {"celery: no option \"pol\" (celery takes: pool", NULL},
        {"--option celry.pool=solo: no framework \"celry\"", NULL},
        {"--option must be FRAMEWORK.NAME=VALUE", "(got \"celerypool=solo\")", NULL},
        {both, "or the deprecated \"pool\", not both", NULL},
        {typo, "no framework \"celry\"", NULL},
        {nonstr, "\"options.celery.pool\" must be a string (got a number)", NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        expect_run(&d, runs[i], 2, needles[i]);
        struct stat st;
        cr_assert_neq(stat(d.out, &st), 0, "case %zu: %s was created", i, d.out);
    }
    drv_fini(&d);
}

/* Options of frameworks this invocation does not run are ignored (a
 * scenario file is shared): a native run beside options for Celery, one of
 * them the deprecated top-level "pool" (said with a warning), completes and
 * records only native's own options (reliable, at its default); --option
 * is in config. */
Test(driver, framework_options_of_others_ignored, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char scen[400];
    drv_write(&d, "others.json",
              "{\"tasks\": 50, \"pool\": \"threads\", \"options\": {\"sidekiq\": {\"x\": \"y\"}}}",
              scen, sizeof scen);
    const char *args[] = {"run", "--scenario", scen, "--option", "celery.pool=gevent",
                          "--option", "bullmq.nosuch=1", "--out", d.out, NULL};
    const char *needles[] = {"\"pool\" is deprecated: write \"options\": {\"celery\": {\"pool\": "
                             "\"threads\"}}", NULL};
    expect_run(&d, args, 0, needles);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(drv_obj(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    const cJSON *opts = drv_obj(drv_obj(run, "settings"), "options");
    cr_assert(cJSON_IsObject(opts) && cJSON_GetArraySize(opts) == 1,
              "native applied options beside its own");
    cr_assert_str_eq(drv_str(opts, "reliable"), "0");
    const cJSON *given = drv_obj(drv_obj(j, "config"), "options");
    cr_assert_str_eq(drv_str(given, "celery.pool"), "gevent");
    cr_assert_str_eq(drv_str(given, "bullmq.nosuch"), "1");
    cJSON_Delete(j);
    drv_fini(&d);
}

/* --external attaches to workers that run their own settings: an option
 * that configures the workers is exit 2 before anything starts (nothing
 * is connected to: the --redis socket does not exist), naming the option,
 * where it was set and that the external workers' settings apply; from
 * --option and from a scenario's "options" alike. */
Test(driver, external_refuses_workers_options, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char url[400], scen[400];
    snprintf(url, sizeof url, "unix://%s/no.sock", d.dir);
    drv_write(&d, "threads.json", "{\"tasks\": 10, \"options\": {\"celery\": {\"pool\": \"threads\"}}}",
              scen, sizeof scen);
    const char *cli[] = {"run", "--external", "--redis", url, "--tasks", "10", "--option",
                         "native.reliable=1", "--out", d.out, NULL};
    const char *cli_needles[] = {"native.reliable configures the workers tqbench starts",
                                 "the external workers' own settings apply",
                                 "set by --option native.reliable=1", NULL};
    expect_run(&d, cli, 2, cli_needles);
    const char *file[] = {"run", "--external", "--redis", url, "--framework", "celery",
                          "--scenario", scen, "--out", d.out, NULL};
    const char *file_needles[] = {"celery.pool configures the workers tqbench starts",
                                  "the external workers' own settings apply", scen,
                                  "(\"options\": {\"celery\": {\"pool\": ...}})", NULL};
    expect_run(&d, file, 2, file_needles);
    /* the same option at its default value is refused too: the workers'
     * setting is theirs, whatever tqbench would have asked */
    const char *dflt[] = {"run", "--external", "--redis", url, "--option", "native.reliable=0",
                          "--out", d.out, NULL};
    const char *dflt_needles[] = {"native.reliable configures the workers", NULL};
    expect_run(&d, dflt, 2, dflt_needles);
    struct stat st;
    cr_assert_neq(stat(d.out, &st), 0, "%s was created", d.out);
    drv_fini(&d);
}

/* An option declared producer_side (how tqbench writes the jobs) applies
 * with --external; none of the shipped adapters has one today, so a test
 * framework declares one of each kind and fw_options_select (tqbenchlib)
 * is called as run_admit calls it. results.json's settings.options names
 * the producer's option and null for the workers' (unknown). */
static const struct fw_option_def fake_options[] = {
    {.name = "encoding", .description = "how the producer writes a job", .default_value = "v1",
     .producer_side = 1},
    {.name = "pool", .description = "the workers' pool", .default_value = "prefork"},
    {.name = NULL},
};
static const struct tq_framework fake_fw = {.name = "fake", .options = fake_options};

Test(driver, external_accepts_producer_side_option) {
    struct fw_run fr;
    memset(&fr, 0, sizeof fr);
    fr.external = 1;
    struct fw_option cli[2];
    char err[512] = "";
    cr_assert_eq(fw_options_parse("fake.encoding=v2", &cli[0], err, sizeof err), 0, "%s", err);
    cr_assert_eq(fw_options_select(&fake_fw, NULL, 0, NULL, cli, 1, &fr, err, sizeof err), 0,
                 "refused: %s", err);
    cr_assert_str_eq(fw_option(&fr, "encoding"), "v2");
    cJSON *o = fw_options_json(&fake_fw, &fr);
    cr_assert_str_eq(drv_str(o, "encoding"), "v2");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "pool")), "the external workers' pool was "
              "recorded as tqbench's default");
    cJSON_Delete(o);
    /* the workers' option beside it: refused, naming it */
    cr_assert_eq(fw_options_parse("fake.pool=solo", &cli[1], err, sizeof err), 0, "%s", err);
    cr_assert_eq(fw_options_select(&fake_fw, NULL, 0, NULL, cli, 2, &fr, err, sizeof err), -1);
    cr_assert(strstr(err, "fake.pool configures the workers tqbench starts") &&
                  strstr(err, "set by --option fake.pool=solo"), "%s", err);
    /* without --external both apply, and the default is what is recorded */
    memset(&fr, 0, sizeof fr);
    cr_assert_eq(fw_options_select(&fake_fw, NULL, 0, NULL, cli, 1, &fr, err, sizeof err), 0,
                 "%s", err);
    o = fw_options_json(&fake_fw, &fr);
    cr_assert_str_eq(drv_str(o, "pool"), "prefork");
    cJSON_Delete(o);
}
