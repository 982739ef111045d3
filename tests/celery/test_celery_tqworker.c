/* test_celery_tqworker.c - `tqworker --protocol celery` draining Celery's own
 * queue: messages produced by Celery's real Python client (apply_async, via
 * bench/frameworks/celery/client_enqueue.py), messages built by the C
 * encoder (counted in the run their headers name), messages on kombu's
 * priority lists, and malformed envelopes (counted failed, never fatal).
 * Skipped, with the reason, when python3-celery is not installed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "celery_testlib.h"
#include "tq_celery.h"
#include "tq_hist.h"
#include "tq_spawn.h"

static struct tq_test_redis redis_srv;
static redisContext *rc;

static void setup(void) { ct_redis_up(&redis_srv, &rc); }
static void teardown(void) { ct_redis_down(&redis_srv, &rc); }

static void lpush(const char *key, size_t keylen, const char *msg, size_t len) {
    redisReply *r = redisCommand(rc, "LPUSH %b %b", key, keylen, msg, len);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "LPUSH failed");
    freeReplyObject(r);
}

/* Celery's own client: count apply_async() calls plus one warm-up call. */
static void celery_client_send(const char *queue, int count) {
    char url_env[600], count_s[16], log[512];
    snprintf(url_env, sizeof url_env, "TQ_CELERY_REDIS_URL=%s", redis_srv.url);
    snprintf(count_s, sizeof count_s, "%d", count);
    snprintf(log, sizeof log, "%s/client.log", redis_srv.dir);
    const char *env[] = {url_env, "PYTHONPATH=" CT_FRAMEWORKS_DIR "/celery",
                         "PYTHONDONTWRITEBYTECODE=1", NULL};
    const char *argv[] = {CT_PYTHON, CT_FRAMEWORKS_DIR "/celery/client_enqueue.py", "--queue", queue,
                          "--count", count_s, "--keep", NULL};
    struct tq_spawn_opts opts = {.env_extra = env, .stdout_path = log, .stderr_path = log,
                                 .new_process_group = 1, .die_with_parent = 1};
    pid_t pid;
    int status = -1;
    char err[512];
    cr_assert_eq(tq_spawn(argv, &opts, &pid, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tq_spawn_wait(pid, 120000, &status), 1, "client_enqueue.py did not finish");
    cr_assert_eq(status, 0, "client_enqueue.py failed (see %s)", log);
}

Test(tqworker_celery, drains_celerys_own_client_and_counts_malformed_envelopes, .init = setup,
     .fini = teardown, .timeout = 240) {
    ct_require_celery();
    char tqworker[512];
    tq_test_bin("tqworker", tqworker, sizeof tqworker);
    const char *queue = "realq";
    const int client_tasks = 200;

    /* 1. Celery's real client: 200 + 1 warm-up message, no tqbench headers */
    celery_client_send(queue, client_tasks);
    cr_assert_eq(tq_test_redis_int(rc, "LLEN %s", queue), client_tasks + 1);

    /* 2. C-encoded messages of run "crun", some on a priority list */
    char buf[4096], prio[TQ_KEY_MAX];
    int prio_len = tq_celery_list_key(prio, sizeof prio, queue, 3);
    for (int i = 0; i < 30; i++) {
        struct tq_task t;
        memset(&t, 0, sizeof t);
        t.id = (uint64_t)i;
        snprintf(t.run, sizeof t.run, "crun");
        t.kind = i % 3 == 0 ? TQ_KIND_SLEEP : TQ_KIND_NOOP; /* run as noops all the same */
        t.arg = 60000;
        t.max_attempts = 1;
        t.enqueued_us = ct_wall_us();
        int n = tq_celery_encode(&t, queue, buf, sizeof buf);
        cr_assert_gt(n, 0);
        if (i < 10) lpush(prio, (size_t)prio_len, buf, (size_t)n);
        else lpush(queue, strlen(queue), buf, (size_t)n);
    }

    /* 3. malformed envelopes: 4 that name no run, 2 of run "crun" */
    const char *no_run[] = {
        "this is not json",
        "{\"body\": \"W10=\", \"properties\": {}}",
        "{\"body\": \"***\", \"content-encoding\": \"utf-8\", \"content-type\": "
        "\"application/json\", \"headers\": {\"task\": \"t\", \"id\": \"i\"}, \"properties\": "
        "{\"body_encoding\": \"base64\", \"delivery_tag\": \"d\"}}",
        "{\"body\": \"gAN9cQAu\", \"content-encoding\": \"binary\", \"content-type\": "
        "\"application/x-python-serialize\", \"headers\": {\"task\": \"t\", \"id\": \"i\"}, "
        "\"properties\": {\"body_encoding\": \"base64\", \"delivery_tag\": \"d\"}}",
    };
    for (size_t i = 0; i < 4; i++) lpush(queue, strlen(queue), no_run[i], strlen(no_run[i]));
    const char *with_run[] = {
        /* no delivery_tag: the message that kills a real Celery worker */
        "{\"body\": \"W1tdLCB7fSwge31d\", \"content-encoding\": \"utf-8\", \"content-type\": "
        "\"application/json\", \"headers\": {\"task\": \"t\", \"id\": \"i\", \"tqbench_run\": "
        "\"crun\", \"tqbench_seq\": 90, \"tqbench_enq_us\": 1}, \"properties\": "
        "{\"body_encoding\": \"base64\"}}",
        /* body "[1, 2]" */
        "{\"body\": \"WzEsIDJd\", \"content-encoding\": \"utf-8\", \"content-type\": "
        "\"application/json\", \"headers\": {\"task\": \"t\", \"id\": \"i\", \"tqbench_run\": "
        "\"crun\", \"tqbench_seq\": 91, \"tqbench_enq_us\": 1}, \"properties\": "
        "{\"body_encoding\": \"base64\", \"delivery_tag\": \"d\"}}",
    };
    for (size_t i = 0; i < 2; i++) lpush(queue, strlen(queue), with_run[i], strlen(with_run[i]));

    /* 4. tqworker drains all four lists */
    char log[512];
    snprintf(log, sizeof log, "%s/tqworker.log", redis_srv.dir);
    const char *argv[] = {tqworker,  "--redis", redis_srv.url, "--protocol", "celery",
                          "--queue", queue,     "--run",       "clientrun",  "--id",
                          "tqw-c1",  "--concurrency", "4",     NULL};
    pid_t pid = tq_test_spawn(argv, log);
    cr_assert_gt(pid, 0);
    int status = 0;
    if (tq_test_wait_pid(pid, 1000, &status))
        cr_assert_fail("tqworker --protocol celery exited at start, status %d (see %s)", status,
                       log);

    const int total = client_tasks + 1 + 30 + 6;
    long long done = ct_wait_hash_at_least(rc, "tq:run:clientrun:stats", "completed",
                                           client_tasks + 1, 60000);
    cr_assert_eq(done, client_tasks + 1, "clientrun completed %lld of %d (see %s)", done,
                 client_tasks + 1, log);
    cr_assert_eq(ct_wait_hash_at_least(rc, "tq:run:crun:stats", "completed", 30, 10000), 30,
                 "see %s", log);
    cr_assert_eq(ct_wait_hash_at_least(rc, "tq:run:crun:stats", "failed", 2, 10000), 2,
                 "see %s", log);
    /* every malformed envelope counts as failed in the worker's heartbeat */
    cr_assert_eq(ct_wait_hash_at_least(rc, "tq:worker:tqw-c1", "processed", total, 10000), total);
    cr_assert_eq(tq_test_redis_int(rc, "HGET tq:worker:tqw-c1 failed"), 6);
    char proto[64];
    ct_hget(rc, "tq:worker:tqw-c1", "protocol", proto, sizeof proto);
    cr_assert_str_eq(proto, "celery");
    for (int i = 0; i < TQ_CELERY_LISTS; i++) {
        char k[TQ_KEY_MAX];
        int kl = tq_celery_list_key(k, sizeof k, queue, i);
        cr_assert_eq(tq_test_redis_int(rc, "LLEN %b", k, (size_t)kl), 0, "list %d not drained", i);
    }
    tq_test_sleep_ms(300); /* nothing counted twice */
    cr_assert_eq(tq_test_redis_int(rc, "HGET tq:run:clientrun:stats completed"), client_tasks + 1);
    cr_assert_eq(tq_test_redis_int(rc, "HGET tq:run:crun:stats completed"), 30);
    /* malformed envelopes without a readable run id count in --run */
    cr_assert_eq(tq_test_redis_int(rc, "HGET tq:run:clientrun:stats failed"), 4);
    /* Celery's own client stamps no enqueue time: service times only, and no
     * bogus out-of-range queue waits */
    redisReply *h = redisCommand(rc, "HMGET tq:run:clientrun:hist tqw-c1:service tqw-c1:end_to_end");
    cr_assert(h && h->type == REDIS_REPLY_ARRAY && h->elements == 2 &&
              h->element[0]->type == REDIS_REPLY_STRING && h->element[1]->type == REDIS_REPLY_STRING,
              "clientrun histograms missing");
    tq_hist service, e2e;
    cr_assert_eq(tq_hist_init(&service), 0);
    cr_assert_eq(tq_hist_init(&e2e), 0);
    cr_assert_eq(tq_hist_parse(&service, h->element[0]->str, h->element[0]->len), 0);
    cr_assert_eq(tq_hist_parse(&e2e, h->element[1]->str, h->element[1]->len), 0);
    long long with_stamp = e2e.total_count;
    cr_expect_eq(service.total_count, client_tasks + 1);
    cr_expect_eq(e2e.out_of_range, 0);
    cr_expect_leq(with_stamp, 1, "only the C-built message carries an enqueue stamp");
    tq_hist_free(&service);
    tq_hist_free(&e2e);
    freeReplyObject(h);

    status = tq_test_stop_pid(pid, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tqworker exit status %d (see %s)",
              status, log);
}
