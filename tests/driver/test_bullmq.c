/* test_bullmq.c - the bullmq framework (bench/frameworks/bullmq.c) with the
 * npm-installed BullMQ of bench/frameworks/bullmq (scripts/bootstrap runs
 * npm ci there). The suite bullmq_real (CTest driver_bullmq_real) is
 * SKIPPED, with the reason, when node cannot load the package; the suite
 * bullmq (driver_bullmq) needs nothing.
 *
 *  - encode / queue key / refusal of --external, without BullMQ;
 *  - fidelity: a job added by the adapter (prepare's SCRIPT LOAD of BullMQ's
 *    own addStandardJob, enqueue_batch's EVALSHA with msgpack arguments
 *    built in C) and one added by BullMQ's own Queue.add (a small node
 *    script) are identical in Redis field for field but for the id and the
 *    timestamp: job hash, wait list, marker, meta, id counter, events; Redis
 *    caches one script after both (the same source); verify
 *    passes on the events stream and fails, naming both figures, on a count
 *    that disagrees; clean leaves no key of the queue;
 *  - small_run: `tqbench run --framework bullmq` on 2,000 jobs, exact
 *    counts, BullMQ's events stream agreeing (verify; a mismatch fails the
 *    run), latency present, no key of the queue left, no process left
 *    (checked by pid). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "driver_harness.h"
#include "framework.h"
#include "tq_testutil.h"

static void fill_run(struct fw_run *fr, const char *run, const char *url) {
    memset(fr, 0, sizeof *fr);
    snprintf(fr->run_id, sizeof fr->run_id, "%s", run);
    snprintf(fr->queue, sizeof fr->queue, "%s", run);
    snprintf(fr->prefix, sizeof fr->prefix, "tq");
    snprintf(fr->redis_url, sizeof fr->redis_url, "%s", url);
    snprintf(fr->redis_url_safe, sizeof fr->redis_url_safe, "%s", url);
    drv_frameworks_dir(fr->frameworks_dir, sizeof fr->frameworks_dir);
    fr->workers = fr->concurrency = fr->prefetch = 1;
    fr->heartbeat_interval_s = 1;
}

Test(bullmq, encode_and_keys) {
    struct fw_run fr;
    fill_run(&fr, "r1", "redis://127.0.0.1:6379");
    const struct tq_framework *fw = &tq_framework_bullmq;
    struct tq_task t = {.id = 3, .kind = TQ_KIND_CPU, .arg = 250, .max_attempts = 1,
                        .enqueued_us = 1764423600123456};
    snprintf(t.run, sizeof t.run, "r1");
    char buf[256];
    int n = fw->encode(&fr, &t, buf, sizeof buf);
    cr_assert_gt(n, 0);
    const char *want = "{\"args\":[250],\"tqbench_run\":\"r1\",\"tqbench_seq\":3,"
                       "\"tqbench_enq_us\":1764423600123456}";
    cr_assert_eq((size_t)n, strlen(want), "%.*s", n, buf);
    cr_assert_eq(memcmp(buf, want, (size_t)n), 0, "%.*s", n, buf);
    t.kind = TQ_KIND_NOOP;
    t.pad_len = 3;
    t.scheduled_us = 5;
    n = fw->encode(&fr, &t, buf, sizeof buf);
    want = "{\"args\":[],\"tqbench_run\":\"r1\",\"tqbench_seq\":3,\"tqbench_enq_us\":"
           "1764423600123456,\"tqbench_sched_us\":5,\"tqbench_pad\":\"xxx\"}";
    cr_assert_eq((size_t)n, strlen(want), "%.*s", n, buf);
    cr_assert_eq(memcmp(buf, want, (size_t)n), 0, "%.*s", n, buf);
    cr_assert_eq(fw->encode(&fr, &t, buf, 20), -1, "too small a buffer");
    fw->queue_key(&fr, buf, sizeof buf);
    cr_assert_str_eq(buf, "bull:r1:wait");
    cr_assert_eq(fw->validate(&fr, buf, sizeof buf), 0, "%s", buf);
    snprintf(fr.queue, sizeof fr.queue, "shared"); /* --external --queue shared */
    cr_assert_eq(fw->validate(&fr, buf, sizeof buf), -1);
    cr_assert(strstr(buf, "--external"), "%s", buf);
    cr_assert_not_null(framework_find("bullmq"), "registered");
}

static void require_bullmq(void) {
    char dir[FW_PATH_MAX], cmd[FW_PATH_MAX + 128];
    drv_frameworks_dir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "node %s/bullmq/tqbench_bullmq_probe.js >/dev/null 2>&1", dir);
    if (system(cmd) != 0)
        cr_skip_test("bullmq does not load under node from bench/frameworks/bullmq "
                     "(scripts/bootstrap installs it with npm ci)");
}

/* BullMQ's own client, as an application adds jobs: argv socket, queue,
 * then name / data JSON / opts JSON triples; prints the ids as JSON. */
static const char add_script[] =
    "const path = require('path');\n"
    "const { Queue } = require(path.join(process.env.BQ_MODULES, 'bullmq'));\n"
    "const [sock, name, ...rest] = process.argv.slice(2);\n"
    "(async () => {\n"
    "  const q = new Queue(name, { connection: { path: sock },\n"
    "                              streams: { events: { maxLen: 10000000 } } });\n"
    "  const ids = [];\n"
    "  for (let i = 0; i + 2 < rest.length; i += 3)\n"
    "    ids.push((await q.add(rest[i], JSON.parse(rest[i + 1]), JSON.parse(rest[i + 2]))).id);\n"
    "  console.log(JSON.stringify(ids));\n"
    "  await q.close();\n"
    "})().catch(e => { console.error(e); process.exit(1); });\n";

/* A reply of strings (nested arrays flattened) as one " "-joined line. */
static void reply_line(const redisReply *r, char *buf, size_t n, size_t *len) {
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) reply_line(r->element[i], buf, n, len);
        return;
    }
    int w = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
                ? snprintf(buf + *len, n - *len, "%s%s", *len ? " " : "", r->str)
                : snprintf(buf + *len, n - *len, "%s%lld", *len ? " " : "", r->integer);
    if (w > 0 && (size_t)w < n - *len) *len += (size_t)w;
}

static void command_line(redisContext *c, char *buf, size_t n, const char *fmt, const char *arg) {
    redisReply *r = redisCommand(c, fmt, arg);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s %s", fmt, arg);
    size_t len = 0;
    buf[0] = '\0';
    reply_line(r, buf, n, &len);
    freeReplyObject(r);
}

/* The events of job id, "event name jobId id ..." without the stream ids. */
static void job_events(redisContext *c, const char *stream, const char *id, char *buf, size_t n) {
    redisReply *r = redisCommand(c, "XRANGE %s - +", stream);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        int mine = 0;
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            mine |= strcmp(f->element[k]->str, "jobId") == 0 &&
                    strcmp(f->element[k + 1]->str, id) == 0;
        if (!mine) continue;
        for (size_t k = 0; k < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "jobId") == 0) continue; /* the id differs */
            reply_line(f->element[k], buf, n, &len);
            reply_line(f->element[k + 1], buf, n, &len);
        }
        reply_line(&(redisReply){.type = REDIS_REPLY_STATUS, .str = "|"}, buf, n, &len);
    }
    freeReplyObject(r);
}

Test(bullmq_real, fidelity_with_queue_add, .timeout = 120, .fini = drv_cleanup) {
    require_bullmq();
    struct tq_test_redis redis;
    redisContext *c = drv_redis_start_connected(&redis);
    struct drv d;
    drv_init(&d);
    char err[512];
    struct fw_run fr;
    fill_run(&fr, "fid", redis.url);
    const struct tq_framework *fw = &tq_framework_bullmq;

    /* the adapter's own add: a cpu job (1 attempt, a pad) and a fail job
     * with 3 attempts, the way the producer does it */
    struct tq_task t[2] = {
        {.id = 7, .kind = TQ_KIND_CPU, .arg = 250, .max_attempts = 1, .pad_len = 2},
        {.id = 8, .kind = TQ_KIND_FAIL, .max_attempts = 3},
    };
    char payload[2][512], qkey[TQ_KEY_MAX];
    const char *slots[4] = {NULL, NULL, payload[0], payload[1]};
    size_t lens[4] = {0};
    for (int i = 0; i < 2; i++) {
        snprintf(t[i].run, sizeof t[i].run, "fid");
        t[i].enqueued_us = 1764423600123456 + i;
        int n = fw->encode(&fr, &t[i], payload[i], sizeof payload[i]);
        cr_assert_gt(n, 0);
        payload[i][n] = '\0';
        lens[2 + i] = (size_t)n;
    }
    cr_assert_gt(fw->queue_key(&fr, qkey, sizeof qkey), 0);
    void *state = NULL;
    cr_assert_eq(fw->prepare(&fr, c, &state, err, sizeof err), 0, "prepare: %s", err);
    struct fw_progress p;
    cr_assert_eq(fw->progress(&fr, state, c, "fid", &p, err, sizeof err), 0, "%s", err);
    int ncmd = fw->enqueue_batch(&fr, state, c, qkey, t, slots + 2, lens + 2, 2, err, sizeof err);
    cr_assert_eq(ncmd, 2, "enqueue_batch: %s", err);
    for (int i = 0; i < ncmd; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING, "addStandardJob replied %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "no job id");
        char want[16];
        snprintf(want, sizeof want, "%d", i + 1);
        cr_assert_str_eq(r->str, want, "BullMQ's own ids (INCR bull:fid:id)");
        freeReplyObject(r);
    }
    cJSON *meta_tq = drv_hash_json(c, "bull:fid:meta");
    redisReply *cs = redisCommand(c, "CONFIG RESETSTAT");
    freeReplyObject(cs);

    /* BullMQ's own Queue.add of the same jobs, next to them */
    char script[600], out_path[400], modules[FW_PATH_MAX + 32], cmd[2 * FW_PATH_MAX + 2048];
    drv_write(&d, "add.js", add_script, script, sizeof script);
    snprintf(out_path, sizeof out_path, "%s/add.out", d.dir);
    snprintf(modules, sizeof modules, "%s/bullmq/node_modules", fr.frameworks_dir);
    snprintf(cmd, sizeof cmd,
             "BQ_MODULES='%s' node %s %s fid cpu '%s' "
             "'{\"removeOnComplete\":true,\"removeOnFail\":true}' fail '%s' "
             "'{\"attempts\":3,\"removeOnComplete\":true,\"removeOnFail\":true}' >%s 2>&1",
             modules, script, redis.socket, payload[0], payload[1], out_path);
    cr_assert_eq(system(cmd), 0, "Queue.add failed: %s", drv_read(out_path));
    cr_assert(drv_file_has(out_path, "[\"3\",\"4\"]"), "ids: %s", drv_read(out_path));
    /* ioredis sends EVAL first on a connection, then EVALSHA: Redis still
     * caches one script, so Node's source is the one tqbench loaded */
    redisReply *info = redisCommand(c, "INFO memory");
    cr_assert(info && info->type == REDIS_REPLY_STRING);
    cr_assert(strstr(info->str, "number_of_cached_scripts:1\r\n"), "%s", info->str);
    freeReplyObject(info);
    info = redisCommand(c, "INFO commandstats");
    cr_assert(info && info->type == REDIS_REPLY_STRING);
    char *evalsha = strstr(info->str, "cmdstat_evalsha:calls=1,"), *eol;
    cr_assert(evalsha && (eol = strstr(evalsha, "\r\n")), "%s", info->str);
    *eol = '\0';
    cr_assert(strstr(evalsha, "failed_calls=0"), "%s", evalsha);
    freeReplyObject(info);

    /* job hashes: identical but for the timestamp (ms; tqbench's is its
     * enqueue time, Node's its Date.now()) */
    for (int i = 0; i < 2; i++) {
        char kt[32], kn[32];
        snprintf(kt, sizeof kt, "bull:fid:%d", i + 1);
        snprintf(kn, sizeof kn, "bull:fid:%d", i + 3);
        cJSON *jt = drv_hash_json(c, kt), *jn = drv_hash_json(c, kn);
        const cJSON *e;
        cJSON_ArrayForEach(e, jn) cr_assert(cJSON_GetObjectItemCaseSensitive(jt, e->string),
                                            "Queue.add writes field %s, tqbench does not",
                                            e->string);
        cJSON_ArrayForEach(e, jt) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(jn, e->string);
            cr_assert_not_null(o, "tqbench writes field %s, Queue.add does not", e->string);
            if (strcmp(e->string, "timestamp") == 0) continue;
            cr_assert_str_eq(e->valuestring, o->valuestring, "job %d field %s", i + 1, e->string);
        }
        cr_assert_str_eq(drv_str(jt, "timestamp"), "1764423600123", "the enqueue time in ms");
        cr_assert_eq(strlen(drv_str(jn, "timestamp")), 13, "Node's Date.now() in ms");
        cJSON_Delete(jt);
        cJSON_Delete(jn);
    }
    /* queue structures: meta as `new Queue()` left it (tqbench wrote the
     * same), both ids on wait in add order, one marker, the id counter */
    cJSON *meta_node = drv_hash_json(c, "bull:fid:meta");
    cr_assert(cJSON_Compare(meta_tq, meta_node, 1), "meta: tqbench %s, after Queue %s",
              cJSON_PrintUnformatted(meta_tq), cJSON_PrintUnformatted(meta_node));
    cJSON_Delete(meta_tq);
    cJSON_Delete(meta_node);
    char line[1024], line2[1024];
    command_line(c, line, sizeof line, "LRANGE %s 0 -1", "bull:fid:wait");
    cr_assert_str_eq(line, "4 3 2 1");
    command_line(c, line, sizeof line, "ZRANGE %s 0 -1 WITHSCORES", "bull:fid:marker");
    cr_assert_str_eq(line, "0 0");
    command_line(c, line, sizeof line, "GET %s", "bull:fid:id");
    cr_assert_str_eq(line, "4");
    command_line(c, line, sizeof line, "TYPE %s", "bull:fid:paused");
    cr_assert_str_eq(line, "none");
    /* the same events per job (added, waiting), but for the id */
    for (int i = 0; i < 2; i++) {
        char idt[16], idn[16];
        snprintf(idt, sizeof idt, "%d", i + 1);
        snprintf(idn, sizeof idn, "%d", i + 3);
        job_events(c, "bull:fid:events", idt, line, sizeof line);
        job_events(c, "bull:fid:events", idn, line2, sizeof line2);
        cr_assert_str_eq(line, line2);
        cr_assert(strstr(line, "event added") && strstr(line, "event waiting"), "%s", line);
    }

    /* verify: no job finished, so a hook count of 0 agrees, 1 does not */
    struct fw_progress zero = {0, 0, 0}, one = {1, 0, 0};
    cr_assert_eq(fw->verify(&fr, state, c, &zero, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fw->verify(&fr, state, c, &one, err, sizeof err), -1);
    cr_assert(strstr(err, "0 completed") && strstr(err, "the hook counted 1 completed"), "%s",
              err);

    /* clean: nothing of the queue is left; a key of another queue stays */
    redisReply *r = redisCommand(c, "SET bull:fid2:id 1");
    freeReplyObject(r);
    fw->finish(&fr, c, state);
    fw->clean(&fr, c);
    cr_assert_eq(tq_test_redis_int(c, "EXISTS bull:fid:1 bull:fid:4 bull:fid:wait "
                                      "bull:fid:meta bull:fid:events bull:fid:marker bull:fid:id"),
                 0);
    r = redisCommand(c, "KEYS *");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                  strcmp(r->element[0]->str, "bull:fid2:id") == 0,
              "left: %zu keys", r ? r->elements : 0);
    freeReplyObject(r);
    redisFree(c);
    drv_redis_stop(&redis);
    drv_fini(&d);
}

Test(bullmq_real, small_run, .timeout = 180, .fini = drv_cleanup) {
    require_bullmq();
    struct drv d;
    struct tq_test_redis r;
    drv_init(&d);
    redisContext *c = drv_redis_start_connected(&r);
    const char *args[] = {"run", "--framework", "bullmq", "--redis", r.url, "--tasks", "2000",
                          "--warmup", "200", "--workers", "1", "--concurrency", "5", "--out",
                          d.out, NULL};
    struct drv_expect want = {"bullmq", 2000, 0, -1};
    char *log;
    cJSON *j = drv_run_checked(&d, args, 150000, &want, &log);
    cr_assert_null(strstr(log, "disagrees"), "cross-check: %s", log);
    free(log);
    const cJSON *run = drv_first_run(j); /* status ok: verify passed, the events agree */
    const cJSON *set = drv_obj(run, "settings");
    cr_assert_eq(drv_num(set, "concurrency"), 5, "the heartbeat's concurrency");
    cr_assert_str_eq(drv_str(drv_obj(set, "framework"), "removeOnComplete"), "true");
    /* nothing of BullMQ's left in Redis, nothing of tqbench's run */
    drv_assert_no_keys(c, "bull:*");
    cJSON_Delete(j);
    redisFree(c);
    drv_redis_stop(&r);
    drv_fini(&d);
}
