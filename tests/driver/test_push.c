/* test_push.c - tqpush, the command line over tqbench's producer
 * (bench/producer.c): its open loop rides out a Redis restart, and its exit
 * codes.
 *
 * Open loop through a restart (the producer's keep_going, as scripts/soak
 * uses it): tqpush --rate 2000 --duration 3 on a private redis-server; once
 * tasks are queued, tqpush is frozen (SIGSTOP, so no LPUSH is half done),
 * the list is SAVEd and Redis stopped; tqpush resumes against no Redis for
 * 0.6 s, then Redis starts again on the same socket with the saved list.
 * tqpush exits 0 with pushed + not_pushed == tasks and not_pushed > 0, it
 * pushed after the restart, and the list holds exactly the pushed tasks,
 * each id once (nothing re-sent), each with its scheduled stamp. Closed
 * loop: an unreachable Redis is exit 1 naming it, a bad flag exit 2. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "driver_harness.h"
#include "tq_testutil.h"

TestSuite(push, .fini = drv_cleanup);

#define PUSH_TASKS 6000 /* --rate 2000 --duration 3 */

/* The exit code of tqpush run with args (NULL-terminated, after argv[0])
 * within 20 s; its output in log. */
static int push_run(const char *const *args, const char *log) {
    char bin[320];
    const char *argv[24];
    int n = 0;
    argv[n++] = tq_test_bin("tqpush", bin, sizeof bin);
    for (int i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t p = drv_spawn(argv, log);
    cr_assert_gt(p, 0);
    int st = 0;
    cr_assert_eq(tq_test_wait_pid(p, 20000, &st), 1, "tqpush did not finish within 20 s");
    drv_stop(p); /* untracks it (already reaped) */
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(push, open_loop_rides_out_a_redis_restart, .timeout = 90) {
    struct drv d;
    drv_init(&d);
    struct tq_test_redis r;
    redisContext *c = drv_redis_start_connected(&r);
    char bin[320], plog[400];
    snprintf(plog, sizeof plog, "%s/tqpush.log", d.dir);
    const char *argv[] = {tq_test_bin("tqpush", bin, sizeof bin), "--redis", r.url,
                          "--queue", "kg", "--run", "kg", "--rate", "2000", "--duration", "3",
                          "--batch", "10000", NULL};
    pid_t p = drv_spawn(argv, plog);
    cr_assert_gt(p, 0);
    int64_t deadline = tq_test_now_ms() + 10000;
    while (tq_test_redis_int(c, "LLEN tq:queue:kg") < 1000) {
        cr_assert_lt(tq_test_now_ms(), deadline, "tqpush queued fewer than 1000 tasks in 10 s");
        tq_test_sleep_ms(20);
    }
    /* frozen, every LPUSH it wrote has been run and answered: what SAVE
     * keeps is exactly what it counts as pushed so far */
    cr_assert_eq(kill(p, SIGSTOP), 0);
    tq_test_sleep_ms(100);
    redisReply *x = redisCommand(c, "SAVE");
    cr_assert(x && x->type == REDIS_REPLY_STATUS, "SAVE failed");
    freeReplyObject(x);
    long long at_stop = tq_test_redis_int(c, "LLEN tq:queue:kg");
    redisFree(c);
    drv_redis_halt(&r);
    cr_assert_eq(kill(p, SIGCONT), 0);
    tq_test_sleep_ms(600); /* tqpush's sends and reconnects fail meanwhile */
    cr_assert_eq(drv_redis_restart(&r), 0, "redis-server did not start again");
    c = drv_redis_connect(&r);
    cr_assert_eq(tq_test_redis_int(c, "LLEN tq:queue:kg"), at_stop, "the saved list was not loaded");

    int st = 0;
    cr_assert_eq(tq_test_wait_pid(p, 20000, &st), 1, "tqpush did not finish");
    drv_stop(p);
    char *out = drv_read(plog);
    cr_assert_not_null(out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tqpush failed:\n%s", out);
    /* the result line (the warnings before it say "not pushed") */
    const char *line = strncmp(out, "pushed ", 7) == 0 ? out : strstr(out, "\npushed ");
    long pushed = -1, not_pushed = -1;
    double lag = -1;
    cr_assert(line && sscanf(line + (*line == '\n'), "pushed %ld tasks to tq:queue:kg in %*f s (%*f tasks/s) "
                                   "not_pushed=%ld max_lag_ms=%lf", &pushed, &not_pushed, &lag) == 3,
              "no result line:\n%s", out);
    cr_assert_eq(pushed + not_pushed, PUSH_TASKS, "pushed %ld + not_pushed %ld:\n%s", pushed,
                 not_pushed, out);
    cr_assert_gt(not_pushed, 0, "nothing was lost to the restart:\n%s", out);
    cr_assert_gt(pushed, at_stop, "nothing was pushed after the restart:\n%s", out);
    /* frozen for more than 100 ms: the tasks due meanwhile went out that late
     * (less the up to 1 ms its last wait may have had left) */
    cr_assert_gt(lag, 90.0, "max_lag_ms %g does not show the freeze of over 100 ms", lag);
    cr_assert(strstr(out, "reconnected"), "no reconnection said:\n%s", out);
    free(out);

    /* the list: exactly the pushed tasks, each id once, each scheduled */
    redisReply *all = redisCommand(c, "LRANGE tq:queue:kg 0 -1");
    cr_assert(all && all->type == REDIS_REPLY_ARRAY);
    cr_assert_eq((long)all->elements, pushed, "%zu tasks queued, tqpush counted %ld pushed",
                 all->elements, pushed);
    char *seen = calloc(PUSH_TASKS, 1);
    cr_assert_not_null(seen);
    long max_id = -1;
    for (size_t i = 0; i < all->elements; i++) {
        const char *s = all->element[i]->str;
        long id = -1;
        cr_assert(sscanf(s, "{\"id\":%ld,", &id) == 1 && id >= 0 && id < PUSH_TASKS,
                  "task %zu: %s", i, s);
        cr_assert_eq(seen[id], 0, "task id %ld queued twice", id);
        cr_assert(strstr(s, "\"sched\":"), "task %ld has no scheduled stamp: %s", id, s);
        seen[id] = 1;
        if (id > max_id) max_id = id;
    }
    cr_assert_eq(max_id, PUSH_TASKS - 1, "the last task (id %d) was not pushed", PUSH_TASKS - 1);
    free(seen);
    freeReplyObject(all);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}

Test(push, exit_codes, .timeout = 60) {
    struct drv d;
    drv_init(&d);
    char log[400], url[400];
    snprintf(log, sizeof log, "%s/tqpush.log", d.dir);
    snprintf(url, sizeof url, "unix://%s/no.sock", d.dir);
    const char *closed[] = {"--redis", url, "--tasks", "10", NULL};
    cr_assert_eq(push_run(closed, log), 1);
    cr_assert(drv_file_has(log, url), "the error does not name the Redis");
    /* the open loop needs its first connection too */
    const char *open[] = {"--redis", url, "--rate", "100", "--duration", "1", NULL};
    cr_assert_eq(push_run(open, log), 1);
    const char *bad[] = {"--tasks", "10", "--pipeline", "0", NULL};
    cr_assert_eq(push_run(bad, log), 2);
    cr_assert(drv_file_has(log, "--pipeline: expected an integer in 1..1024"));
    drv_fini(&d);
}
