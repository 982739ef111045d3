/* test_failures.c - runs that must fail cleanly: a worker that never comes up
 * (exits at once, alive but silent) -> a health-check error
 * within the deadline, the run marked partial with null figures; a worker
 * killed with SIGKILL mid-run -> the run ends within seconds naming it,
 * partial results written (with what was still queued); SIGINT to the
 * driver (during the health-check or the run) -> every child reaped, the
 * embedded Redis stopped, the run's keys gone; a second SIGINT during the
 * teardown -> no grace for a worker that ignores SIGTERM. Exit code 1 in
 * every case, and every pid checked by pid. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

static const char sleepy_scenario[] =
    "{\"name\": \"t_sleepy\", \"tasks\": 20000, \"workers\": 2, \"concurrency\": 10,"
    " \"mix\": [{\"kind\": \"sleep\", \"ms\": 20}], \"timeout_s\": 120}";

static const char *run_error(const cJSON *j) {
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0);
    const cJSON *e = run ? cJSON_GetObjectItem(run, "error") : NULL;
    return cJSON_IsString(e) ? e->valuestring : "";
}

static const cJSON *field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert_not_null(v, "results.json: \"%s\" is missing", key);
    return v;
}

/* A run that failed before its measured phase: marked partial, and every
 * figure it could not measure is null, not 0; its summary too. */
static void assert_nothing_measured(const cJSON *j) {
    const cJSON *run = cJSON_GetArrayItem(field(j, "runs"), 0);
    cr_assert(cJSON_IsTrue(field(run, "partial")), "a failed run is not marked partial");
    cr_assert(cJSON_IsNumber(field(run, "queued_at_end")));
    const char *tp[] = {"end_to_end", "processing", "enqueue"};
    for (int i = 0; i < 3; i++)
        cr_assert(cJSON_IsNull(field(field(run, "throughput_per_s"), tp[i])),
                  "throughput_per_s.%s is not null", tp[i]);
    const char *du[] = {"enqueue", "drain", "total", "processing"};
    for (int i = 0; i < 4; i++)
        cr_assert(cJSON_IsNull(field(field(run, "durations_s"), du[i])),
                  "durations_s.%s is not null", du[i]);
    const cJSON *e2e = field(field(run, "latency_us"), "end_to_end");
    const char *lf[] = {"p50", "p99", "max", "mean", "min"};
    for (int i = 0; i < 5; i++)
        cr_assert(cJSON_IsNull(field(e2e, lf[i])), "latency_us.end_to_end.%s is not null", lf[i]);
    const cJSON *sum = cJSON_GetArrayItem(field(j, "summaries"), 0);
    const cJSON *t = field(sum, "throughput_end_to_end_per_s");
    cr_assert_eq(field(t, "n")->valuedouble, 0);
    const char *sf[] = {"median", "min", "max", "mean", "cv"};
    for (int i = 0; i < 5; i++)
        cr_assert(cJSON_IsNull(field(t, sf[i])), "summary %s of no run is not null", sf[i]);
}

static void assert_pids_gone(const cJSON *j, int expect_min) {
    pid_t pids[16];
    int n = drv_result_pids(j, pids, 16);
    cr_assert_geq(n, expect_min, "results.json lists %d pids, expected >= %d", n, expect_min);
    for (int i = 0; i < n; i++) cr_assert(!tq_test_pid_alive(pids[i]), "pid %d still alive", pids[i]);
}

/* A worker that never comes up: tqbench must say so, exit 1, within limit_ms. */
static void never_up(const char *worker_bin, const char *health, int limit_ms, const char *expect,
                     int expect_pids) {
    struct drv d;
    drv_init(&d);
    const char *args[] = {"run", "--tasks", "10", "--worker-bin", worker_bin, "--health-timeout",
                          health, "--out", d.out, NULL};
    int64_t t0 = tq_test_now_ms();
    char *log = drv_run_expect(&d, args, 60000, 1);
    int64_t took = tq_test_now_ms() - t0;
    cr_assert_lt(took, limit_ms, "took %lld ms (limit %d)", (long long)took, limit_ms);
    cJSON *j = drv_results_required(&d);
    cr_assert(strstr(run_error(j), expect), "error \"%s\" lacks \"%s\"", run_error(j), expect);
    cr_assert(strstr(log, expect), "output lacks \"%s\":\n%s", expect, log);
    assert_nothing_measured(j);
    assert_pids_gone(j, expect_pids);
    free(log);
    cJSON_Delete(j);
    drv_fini(&d);
}

/* A --worker-bin that does not exist is a configuration error found before
 * anything starts: driver_config's worker_bin_checked. */

Test(driver, worker_exits_at_once, .timeout = 60, .fini = drv_cleanup) {
    /* exits 1 long before the 20 s health deadline: reported at once */
    never_up("/bin/false", "20", 8000, "exited 1 before its first heartbeat", 2);
}

Test(driver, worker_silent_times_out, .timeout = 60, .fini = drv_cleanup) {
    /* alive but never heartbeating: the health deadline ends it */
    char dir[] = "/tmp/tqtest-silent-XXXXXX", script[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(script, sizeof script, "%s/silent.sh", dir);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs("#!/bin/sh\nexec sleep 60\n", f);
    fclose(f);
    chmod(script, 0755);
    never_up(script, "2", 12000, "sent no heartbeat within 2.0 s", 2);
    unlink(script);
    rmdir(dir);
}

static long long keys_matching(redisContext *c, const char *pattern) {
    redisReply *r = redisCommand(c, "KEYS %s", pattern); /* our own test Redis: tiny */
    long long n = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
    if (r) freeReplyObject(r);
    return n;
}

Test(driver, worker_killed_mid_run, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);
    char scen[400];
    drv_write(&d, "t_sleepy.json", sleepy_scenario, scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--scenario", scen, "--out", d.out, NULL};
    pid_t drv = drv_start(&d, args);
    pid_t w[2];
    cr_assert_eq(drv_wait_worker_pids(c, w, 2, 15000), 2, "workers never registered");
    pid_t w0 = w[0], w1 = w[1];
    tq_test_sleep_ms(1000); /* mid-run: 20,000 x 20 ms / 20 slots = 20 s */
    cr_assert_eq(kill(w0, SIGKILL), 0);
    int64_t t0 = tq_test_now_ms();
    char *log = drv_wait_expect(&d, drv, 15000, 1);
    int64_t took = tq_test_now_ms() - t0;
    cr_assert_lt(took, 8000, "the run took %lld ms to notice", (long long)took);
    char expect[64];
    snprintf(expect, sizeof expect, "(pid %d) killed by SIGKILL", (int)w0);
    cr_assert(strstr(log, expect), "output does not name the dead worker (%s):\n%s", expect, log);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(run, "status")->valuestring, "failed");
    cr_assert(strstr(run_error(j), expect), "error: %s", run_error(j));
    double done = cJSON_GetObjectItem(run, "completed")->valuedouble;
    cr_assert(done > 0 && done < 20000, "partial count expected, got %g", done);
    cr_assert(cJSON_IsTrue(field(run, "partial")), "a failed run is not marked partial");
    /* after the stop every task is counted, still queued (most of the
     * 20,000), or lost with the killed worker: what it held (10 slots,
     * prefetch 1) and what it finished since its last flush (100 ms of
     * 20 ms tasks on 10 slots: 50); none in flight, the workers stopped */
    double queued = field(run, "queued_at_end")->valuedouble;
    double lost = field(run, "lost")->valuedouble;
    double counted = done + field(run, "failed")->valuedouble;
    cr_assert(queued > 0, "queued_at_end %g", queued);
    cr_assert_eq(field(run, "in_flight_at_end")->valuedouble, 0);
    cr_assert(lost >= 0 && lost <= 100, "lost %g: more than the killed worker held", lost);
    cr_assert_eq(counted + queued + lost, drv_num(run, "enqueued"),
                 "counted %g + queued %g + lost %g != enqueued", counted, queued, lost);
    cr_assert_eq(field(run, "unaccounted")->valuedouble, lost);
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(run, "latency_us")));
    cr_assert(!tq_test_pid_alive(w1), "the other worker (pid %d) outlived the run", w1);
    assert_pids_gone(j, 2);
    cr_assert_eq(keys_matching(c, "tq:run:*"), 0, "run keys left");
    cr_assert_eq(keys_matching(c, "tq:queue:*"), 0, "run queue left");
    cr_assert_eq(keys_matching(c, "tq:worker:*"), 0, "heartbeats left");
    free(log);
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* The same kill with --option native.reliable=1 (tqworker --reliable):
 * what the killed worker held, and what it finished since its last flush,
 * stay on its slots' processing lists, so nothing is lost: they are
 * in_flight_at_end, and the lists are deleted with the run. */
Test(driver, reliable_worker_killed_mid_run, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);
    char scen[400];
    drv_write(&d, "t_sleepy.json", sleepy_scenario, scen, sizeof scen);
    const char *args[] = {"run",      "--redis",      r.url, "--scenario", scen,
                          "--option", "native.reliable=1", "--out", d.out, NULL};
    pid_t drv = drv_start(&d, args);
    pid_t w[2];
    cr_assert_eq(drv_wait_worker_pids(c, w, 2, 15000), 2, "workers never registered");
    tq_test_sleep_ms(1000);
    cr_assert_gt(keys_matching(c, "tq:processing:*"), 0, "no processing list: not --reliable");
    cr_assert_eq(kill(w[0], SIGKILL), 0);
    char *log = drv_wait_expect(&d, drv, 15000, 1);
    cJSON *j = drv_results_required(&d);
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0);
    cr_assert_str_eq(drv_str(run, "status"), "failed");
    cr_assert_str_eq(drv_str(drv_obj(drv_obj(run, "settings"), "options"), "reliable"), "1");
    double counted = drv_num(run, "completed") + drv_num(run, "failed");
    double queued = drv_num(run, "queued_at_end");
    double held = drv_num(run, "in_flight_at_end");
    cr_assert(held > 0 && held <= 100, "in_flight_at_end %g: the killed worker held 10 slots' "
                                       "tasks and up to 100 ms of finished ones", held);
    cr_assert_eq(drv_num(run, "lost"), 0, "lost %g with --reliable", drv_num(run, "lost"));
    cr_assert_eq(counted + queued + held, drv_num(run, "enqueued"),
                 "counted %g + queued %g + held %g != enqueued", counted, queued, held);
    assert_pids_gone(j, 2);
    cr_assert_eq(keys_matching(c, "tq:processing:*"), 0, "processing lists left");
    cr_assert_eq(keys_matching(c, "tq:queue:*"), 0, "run queue left");
    free(log);
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* Starts a sleepy run, waits until it is well under way, sends SIGINT. */
static void interrupt_run(struct drv *d, const char *redis_url, pid_t *kids, int *nkids) {
    char scen[400];
    drv_write(d, "t_sleepy.json", sleepy_scenario, scen, sizeof scen);
    const char *with[] = {"run", "--redis", redis_url, "--scenario", scen, "--out", d->out, NULL};
    const char *without[] = {"run", "--scenario", scen, "--out", d->out, NULL};
    pid_t drv = drv_start(d, redis_url ? with : without);
    int want = redis_url ? 2 : 3; /* 2 workers (+ the embedded redis-server) */
    *nkids = 0;
    for (int i = 0; i < 300 && *nkids < want; i++) {
        tq_test_sleep_ms(50);
        *nkids = drv_children(drv, kids, 16);
    }
    cr_assert_geq(*nkids, want, "expected %d children of tqbench, saw %d", want, *nkids);
    tq_test_sleep_ms(1500);
    cr_assert_eq(kill(drv, SIGINT), 0);
    char *log = drv_wait_expect(d, drv, 15000, 1);
    cr_assert(strstr(log, "interrupted by SIGINT"), "output:\n%s", log);
    free(log);
    for (int i = 0; i < *nkids; i++)
        cr_assert(!tq_test_pid_alive(kids[i]), "child pid %d outlived tqbench", kids[i]);
}

Test(driver, sigint_embedded, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    pid_t kids[16];
    int n;
    interrupt_run(&d, NULL, kids, &n);
    cJSON *j = drv_results_required(&d);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "interrupted");
    assert_pids_gone(j, 3);
    /* the embedded Redis's private dir is gone with it */
    const char *url = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "redis"), "url")->valuestring;
    cr_assert(strncmp(url, "unix://", 7) == 0);
    struct stat st;
    cr_assert_neq(stat(url + 7, &st), 0, "embedded redis socket %s still there", url + 7);
    cJSON_Delete(j);
    drv_fini(&d);
}

Test(driver, sigint_external_redis, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    cr_assert_eq(drv_redis_start(&r, 0, NULL), 0);
    pid_t kids[16];
    int n;
    interrupt_run(&d, r.url, kids, &n);
    redisContext *c = drv_redis_connect(&r);
    cr_assert_eq(keys_matching(c, "tq:*"), 0, "keys left after SIGINT");
    redisFree(c);
    cJSON *j = drv_results_required(&d);
    assert_pids_gone(j, 2);
    cJSON_Delete(j);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* One worker, stopped with SIGSTOP mid-run: alive as a process, but it
 * neither finishes tasks nor heartbeats. Whichever comes first ends the run:
 * the stall timeout or the heartbeat's expiry (3 heartbeat intervals). */
static void stopped_worker(const char *stall_timeout, const char *expect) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);
    char scen[400];
    drv_write(&d, "t_one.json",
              "{\"name\": \"t_one\", \"tasks\": 5000, \"workers\": 1, \"concurrency\": 10,"
              " \"mix\": [{\"kind\": \"sleep\", \"ms\": 20}], \"timeout_s\": 120}",
              scen, sizeof scen);
    const char *args[] = {"run", "--redis", r.url, "--scenario", scen, "--out", d.out,
                          "--stall-timeout", stall_timeout, NULL};
    pid_t drv = drv_start(&d, args);
    pid_t w;
    cr_assert_eq(drv_wait_worker_pids(c, &w, 1, 15000), 1, "worker never registered");
    tq_test_sleep_ms(700);
    cr_assert_eq(kill(w, SIGSTOP), 0);
    char *log = drv_wait_expect(&d, drv, 30000, 1);
    cr_assert(strstr(log, expect), "output lacks \"%s\":\n%s", expect, log);
    cr_assert(!tq_test_pid_alive(w), "the stopped worker (pid %d) outlived the run", w);
    cr_assert_eq(keys_matching(c, "tq:run:*"), 0, "run keys left");
    free(log);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(driver, stall_detected, .timeout = 90, .fini = drv_cleanup) {
    stopped_worker("1", "stalled: no task finished for 1.0 s (--stall-timeout)");
}

Test(driver, heartbeat_expiry_detected, .timeout = 90, .fini = drv_cleanup) {
    stopped_worker("60", "heartbeat tq:worker:");
}

/* Writes an executable script dir/name with text. */
static void write_script(const struct drv *d, const char *name, const char *text, char *path,
                         size_t n) {
    drv_write(d, name, text, path, n);
    cr_assert_eq(chmod(path, 0755), 0);
}

/* Ctrl-C while the health-check waits: the message names the signal, as
 * everywhere else ("interrupted by SIGINT"), and nothing is left running. */
Test(driver, sigint_during_health_check, .timeout = 60, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    char script[400];
    write_script(&d, "silent.sh", "#!/bin/sh\nexec sleep 60\n", script, sizeof script);
    const char *args[] = {"run", "--tasks", "10", "--worker-bin", script, "--health-timeout", "30",
                          "--out", d.out, NULL};
    pid_t drv = drv_start(&d, args);
    pid_t kids[16];
    int n = 0;
    for (int i = 0; i < 200 && n < 2; i++) { /* the embedded redis-server and the worker */
        tq_test_sleep_ms(50);
        n = drv_children(drv, kids, 16);
    }
    cr_assert_geq(n, 2, "expected 2 children of tqbench, saw %d", n);
    tq_test_sleep_ms(300);
    cr_assert_eq(kill(drv, SIGINT), 0);
    char *log = drv_wait_expect(&d, drv, 15000, 1);
    cr_assert(strstr(log, "interrupted by SIGINT during the health-check"), "output:\n%s", log);
    free(log);
    for (int i = 0; i < n; i++)
        cr_assert(!tq_test_pid_alive(kids[i]), "child pid %d outlived tqbench", kids[i]);
    drv_fini(&d);
}

/* Starts a run whose one worker is a shell that traps TERM around a real
 * tqworker (which heartbeats and exits on SIGTERM); returns tqbench's pid
 * once the worker registered and ran for a second (*w: the tqworker). */
static pid_t start_stubborn_run(struct drv *d, const struct tq_test_redis *r, redisContext *c,
                                pid_t *w) {
    char script[400], text[1024], scen[400];
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "trap 'echo TERM ignored' TERM\n"
             "'%s' \"$@\" &\n"
             "while :; do sleep 0.1; done\n",
             d->worker);
    write_script(d, "stubborn.sh", text, script, sizeof script);
    drv_write(d, "t_sleepy.json", sleepy_scenario, scen, sizeof scen);
    const char *args[] = {"run", "--redis", r->url, "--scenario", scen, "--workers", "1",
                          "--worker-bin", script, "--out", d->out, NULL};
    pid_t drv = drv_start(d, args);
    cr_assert_eq(drv_wait_worker_pids(c, w, 1, 15000), 1, "worker never registered");
    tq_test_sleep_ms(1000);
    return drv;
}

/* A second Ctrl-C during the teardown's grace skips the rest of it: a worker
 * that ignores SIGTERM is SIGKILLed at once instead of 7 s later, and still
 * reaped, with the run's keys deleted. */
Test(driver, second_sigint_skips_grace, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);
    pid_t w;
    pid_t drv = start_stubborn_run(&d, &r, c, &w);
    cr_assert_eq(kill(drv, SIGINT), 0);
    tq_test_sleep_ms(1200); /* into the teardown's 7 s grace; a repeat within 1 s is not counted */
    cr_assert(tq_test_pid_alive(drv), "tqbench did not wait for the stubborn worker");
    int64_t t0 = tq_test_now_ms();
    cr_assert_eq(kill(drv, SIGINT), 0);
    char *log = drv_wait_expect(&d, drv, 15000, 1);
    int64_t took = tq_test_now_ms() - t0;
    cr_assert_lt(took, 1500, "exit %lld ms after the second SIGINT (the grace is 7 s):\n%s",
                 (long long)took, log);
    cr_assert(strstr(log, "second SIGINT, SIGKILL without waiting"), "output:\n%s", log);
    cJSON *j = drv_results_required(&d);
    assert_pids_gone(j, 1);
    cr_assert(!tq_test_pid_alive(w), "tqworker pid %d outlived tqbench", (int)w);
    cr_assert_eq(keys_matching(c, "tq:run:*"), 0, "run keys left");
    cr_assert_eq(keys_matching(c, "tq:queue:*"), 0, "run queue left");
    free(log);
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

/* `timeout -s INT` (and some terminals) deliver SIGINT twice within
 * milliseconds: that is one Ctrl-C, so the teardown keeps its grace and the
 * stubborn worker is killed only when the grace ran out. */
Test(driver, sigint_repeated_within_1s_is_one, .timeout = 90, .fini = drv_cleanup) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);
    pid_t w;
    pid_t drv = start_stubborn_run(&d, &r, c, &w);
    int64_t t0 = tq_test_now_ms();
    cr_assert_eq(kill(drv, SIGINT), 0);
    tq_test_sleep_ms(50);
    cr_assert_eq(kill(drv, SIGINT), 0);
    char *log = drv_wait_expect(&d, drv, 20000, 1);
    int64_t took = tq_test_now_ms() - t0;
    cr_assert_geq(took, 6500, "exit %lld ms after the SIGINTs: the grace was cut short:\n%s",
                  (long long)took, log);
    cr_assert(!strstr(log, "second SIGINT"), "a repeat within 1 s counted as a second "
                                             "Ctrl-C:\n%s", log);
    cr_assert(!tq_test_pid_alive(w), "tqworker pid %d outlived tqbench", (int)w);
    free(log);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}
