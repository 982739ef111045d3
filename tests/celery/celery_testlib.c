/* celery_testlib.c - shared fixtures of the Celery tests (celery_testlib.h). */
#include "celery_testlib.h"
#include "fw_options.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tq_spawn.h"

void ct_require_celery(void) {
    struct fw_run run;
    char why[512] = "";
    memset(&run, 0, sizeof run);
    snprintf(run.frameworks_dir, sizeof run.frameworks_dir, "%s", CT_FRAMEWORKS_DIR);
    if (!tq_framework_celery.available(&run, why, sizeof why))
        cr_skip_test("Celery is not available: %s", why);
}

void ct_run_set_pool(struct fw_run *run, const char *pool) {
    char err[256];
    cr_assert_eq(fw_options_put(run->options, &run->noptions, FW_OPTIONS_MAX, "celery", "pool",
                                pool, err, sizeof err), 0, "%s", err);
}

void ct_run_init(struct fw_run *run, const struct tq_test_redis *r, const char *run_id,
                 const char *queue, const char *pool, int concurrency) {
    memset(run, 0, sizeof *run);
    snprintf(run->run_id, sizeof run->run_id, "%s", run_id);
    snprintf(run->prefix, sizeof run->prefix, "tq");
    snprintf(run->queue, sizeof run->queue, "%s", queue);
    snprintf(run->redis_url, sizeof run->redis_url, "%s", r->url);
    snprintf(run->redis_url_safe, sizeof run->redis_url_safe, "%s", r->url);
    run->workers = 1;
    run->concurrency = concurrency;
    run->prefetch = 1; /* what the built-in scenarios give (not passed to Celery) */
    if (pool && *pool) ct_run_set_pool(run, pool);
    run->heartbeat_interval_s = 1;
    snprintf(run->frameworks_dir, sizeof run->frameworks_dir, "%s", CT_FRAMEWORKS_DIR);
}

pid_t ct_worker_start(const struct fw_run *run, int index, const char *worker_id,
                      const char *log_path) {
    static struct fw_argv argv; /* large: off the stack */
    char err[512] = "";
    cr_assert_eq(tq_framework_celery.worker_argv(run, index, worker_id, &argv, err, sizeof err), 0,
                 "worker_argv: %s", err);
    struct tq_spawn_opts opts = {
        .env_extra = argv.env,
        .stdout_path = log_path,
        .stderr_path = log_path,
        .new_process_group = 1,
        .die_with_parent = 1,
    };
    pid_t pid = -1;
    cr_assert_eq(tq_spawn(argv.argv, &opts, &pid, err, sizeof err), 0, "spawn: %s", err);
    return pid;
}

static pid_t proc_ppid(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    int ppid = -1;
    char state;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2) return -1;
    return ppid;
}

int ct_descendants(pid_t root, pid_t *pids, int max) {
    int n = 0;
    pid_t frontier[CT_MAX_PIDS + 1];
    int nf = 0;
    frontier[nf++] = root;
    while (nf > 0) {
        pid_t parent = frontier[--nf];
        DIR *d = opendir("/proc");
        if (!d) break;
        struct dirent *e;
        while ((e = readdir(d))) {
            char *end;
            long p = strtol(e->d_name, &end, 10);
            if (*end || p <= 0) continue;
            if (proc_ppid((pid_t)p) == parent && n < max && nf < CT_MAX_PIDS) {
                pids[n++] = (pid_t)p;
                frontier[nf++] = (pid_t)p;
            }
        }
        closedir(d);
    }
    return n;
}

long long ct_wait_hash_at_least(redisContext *c, const char *key, const char *field,
                                long long want, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    long long v;
    for (;;) {
        v = tq_test_redis_int(c, "HGET %s %s", key, field);
        if (v >= want || tq_test_now_ms() >= deadline) return v;
        tq_test_sleep_ms(50);
    }
}

int ct_wait_key(redisContext *c, const char *key, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    for (;;) {
        if (tq_test_redis_int(c, "EXISTS %s", key) == 1) return 1;
        if (tq_test_now_ms() >= deadline) return 0;
        tq_test_sleep_ms(50);
    }
}

void ct_hget(redisContext *c, const char *key, const char *field, char *buf, size_t n) {
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    buf[0] = '\0';
    if (r && r->type == REDIS_REPLY_STRING) snprintf(buf, n, "%s", r->str);
    if (r) freeReplyObject(r);
}

int64_t ct_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ct_redis_up(struct tq_test_redis *r, redisContext **c) {
    cr_assert_eq(tq_test_redis_start(r, 0, NULL), 0, "redis-server did not start");
    *c = tq_test_redis_connect(r);
    cr_assert_not_null(*c, "cannot connect to the test redis-server (pid %d)", (int)r->pid);
}

void ct_redis_down(struct tq_test_redis *r, redisContext **c) {
    if (*c) redisFree(*c);
    *c = NULL;
    tq_test_redis_stop(r, 1);
}
