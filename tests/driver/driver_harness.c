/* driver_harness.c - shared helpers of tqbench's integration tests (see
 * driver_harness.h). */
#include "driver_harness.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tq_testutil.h"

#define TRACK_MAX 16
static pid_t tracked_pid[TRACK_MAX];
static char tracked_dir[TRACK_MAX][256];

static void track_pid(pid_t pid) {
    for (int i = 0; i < TRACK_MAX; i++)
        if (tracked_pid[i] == 0) {
            tracked_pid[i] = pid;
            return;
        }
}

static void untrack_pid(pid_t pid) {
    for (int i = 0; i < TRACK_MAX; i++)
        if (tracked_pid[i] == pid) tracked_pid[i] = 0;
}

static void track_dir(const char *dir) {
    for (int i = 0; i < TRACK_MAX; i++)
        if (!tracked_dir[i][0]) {
            snprintf(tracked_dir[i], sizeof tracked_dir[i], "%s", dir);
            return;
        }
}

static void untrack_dir(const char *dir) {
    for (int i = 0; i < TRACK_MAX; i++)
        if (strcmp(tracked_dir[i], dir) == 0) tracked_dir[i][0] = '\0';
}

static void remove_tree(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

void drv_cleanup(void) {
    for (int i = 0; i < TRACK_MAX; i++)
        if (tracked_pid[i] > 0) {
            tq_test_stop_pid(tracked_pid[i], 5000);
            tracked_pid[i] = 0;
        }
    for (int i = 0; i < TRACK_MAX; i++)
        if (tracked_dir[i][0]) {
            remove_tree(tracked_dir[i]);
            tracked_dir[i][0] = '\0';
        }
}

int drv_redis_start(struct tq_test_redis *r, int port, const char *password) {
    int rc = tq_test_redis_start(r, port, password);
    if (r->dir[0]) track_dir(r->dir);
    if (rc == 0) track_pid(r->pid);
    return rc;
}

void drv_redis_stop(struct tq_test_redis *r) {
    untrack_pid(r->pid);
    untrack_dir(r->dir);
    tq_test_redis_stop(r, 1);
}

void drv_redis_halt(struct tq_test_redis *r) {
    untrack_pid(r->pid);
    tq_test_redis_stop(r, 0);
}

int drv_redis_restart(struct tq_test_redis *r) {
    untrack_pid(r->pid);
    int rc = tq_test_redis_restart(r);
    if (rc == 0) track_pid(r->pid);
    return rc;
}

pid_t drv_spawn(const char *const argv[], const char *log_path) {
    pid_t pid = tq_test_spawn(argv, log_path);
    if (pid > 0) track_pid(pid);
    return pid;
}

void drv_stop(pid_t pid) {
    untrack_pid(pid);
    tq_test_stop_pid(pid, 5000);
}

void drv_init(struct drv *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/tqtest-driver-XXXXXX");
    cr_assert_not_null(mkdtemp(d->dir), "mkdtemp");
    snprintf(d->out, sizeof d->out, "%s/out", d->dir);
    snprintf(d->log, sizeof d->log, "%s/tqbench.log", d->dir);
    tq_test_bin("tqbench", d->bin, sizeof d->bin);
    tq_test_bin("tqworker", d->worker, sizeof d->worker);
    track_dir(d->dir);
}

void drv_set_out(struct drv *d, const char *name) {
    snprintf(d->out, sizeof d->out, "%s/%s", d->dir, name);
}

void drv_fini(struct drv *d) {
    if (!d->dir[0]) return;
    untrack_dir(d->dir);
    remove_tree(d->dir);
    d->dir[0] = '\0';
}

void drv_write(const struct drv *d, const char *name, const char *text, char *path, size_t n) {
    snprintf(path, n, "%s/%s", d->dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

pid_t drv_start(const struct drv *d, const char *const *args) {
    const char *argv[64];
    int n = 0;
    argv[n++] = d->bin;
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = drv_spawn(argv, d->log);
    cr_assert_gt(pid, 0, "cannot start %s", d->bin);
    return pid;
}

int drv_wait(pid_t pid, int timeout_ms) {
    int st = 0;
    if (!tq_test_wait_pid(pid, timeout_ms, &st)) {
        drv_stop(pid);
        return -1;
    }
    untrack_pid(pid);
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -2;
}

int drv_run(const struct drv *d, const char *const *args, int timeout_ms) {
    pid_t pid = drv_start(d, args);
    int rc = drv_wait(pid, timeout_ms);
    if (rc == -1) {
        char *log = drv_read(d->log);
        cr_assert_fail("tqbench did not finish within %d ms; output:\n%s", timeout_ms,
                       log ? log : "");
    }
    return rc;
}

char *drv_wait_expect(const struct drv *d, pid_t pid, int timeout_ms, int want_rc) {
    int rc = drv_wait(pid, timeout_ms);
    char *log = drv_read(d->log);
    if (!log) log = calloc(1, 1);
    cr_assert_not_null(log, "out of memory");
    if (rc == -1)
        cr_assert_fail("tqbench did not finish within %d ms; output:\n%s", timeout_ms, log);
    cr_assert_eq(rc, want_rc, "exit %d; output:\n%s", rc, log);
    return log;
}

char *drv_run_expect(const struct drv *d, const char *const *args, int timeout_ms, int want_rc) {
    return drv_wait_expect(d, drv_start(d, args), timeout_ms, want_rc);
}

char *drv_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)(n > 0 ? n : 0), f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

int drv_file_has(const char *path, const char *needle) {
    char *s = drv_read(path);
    int has = s && strstr(s, needle) != NULL;
    free(s);
    return has;
}

cJSON *drv_results(const struct drv *d) {
    char path[400];
    snprintf(path, sizeof path, "%s/results.json", d->out);
    char *s = drv_read(path);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

cJSON *drv_results_required(const struct drv *d) {
    cJSON *j = drv_results(d);
    cr_assert_not_null(j, "%s/results.json missing or not JSON", d->out);
    return j;
}

redisContext *drv_redis_connect(const struct tq_test_redis *r) {
    redisContext *c = tq_test_redis_connect(r);
    cr_assert_not_null(c, "cannot connect to the test redis-server (pid %d)", (int)r->pid);
    return c;
}

redisContext *drv_redis_start_connected(struct tq_test_redis *r) {
    cr_assert_eq(drv_redis_start(r, 0, NULL), 0, "redis-server did not start");
    return drv_redis_connect(r);
}

/* The pids of up to max registered workers, from one SMEMBERS reading. */
static int worker_pids(redisContext *c, pid_t *out, int max) {
    redisReply *m = redisCommand(c, "SMEMBERS tq:workers");
    int n = 0;
    for (size_t i = 0; m && m->type == REDIS_REPLY_ARRAY && i < m->elements && n < max; i++) {
        redisReply *p = redisCommand(c, "HGET tq:worker:%s pid", m->element[i]->str);
        if (p && p->type == REDIS_REPLY_STRING && atoi(p->str) > 0) out[n++] = (pid_t)atoi(p->str);
        if (p) freeReplyObject(p);
    }
    if (m) freeReplyObject(m);
    return n;
}

int drv_wait_worker_pids(redisContext *c, pid_t *out, int want, int timeout_ms) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    int n = 0;
    for (;;) {
        n = worker_pids(c, out, want);
        if (n >= want || tq_test_now_ms() >= deadline) return n;
        tq_test_sleep_ms(50);
    }
}

int drv_children(pid_t ppid, pid_t *out, int max) {
    DIR *dir = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL && n < max) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *rp = strrchr(buf, ')');
        char state;
        int pp;
        if (rp && sscanf(rp + 1, " %c %d", &state, &pp) == 2 && pp == ppid)
            out[n++] = (pid_t)atoi(e->d_name);
    }
    if (dir) closedir(dir);
    return n;
}

int drv_result_pids(const cJSON *results, pid_t *out, int max) {
    int n = 0;
    const cJSON *redis = cJSON_GetObjectItem(results, "redis");
    const cJSON *rp = redis ? cJSON_GetObjectItem(redis, "pid") : NULL;
    if (cJSON_IsNumber(rp) && n < max) out[n++] = (pid_t)rp->valuedouble;
    const cJSON *runs = cJSON_GetObjectItem(results, "runs");
    const cJSON *run;
    cJSON_ArrayForEach(run, runs) {
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItem(run, "workers")) {
            const cJSON *pid = cJSON_GetObjectItem(w, "pid");
            if (cJSON_IsNumber(pid) && pid->valuedouble > 0 && n < max)
                out[n++] = (pid_t)pid->valuedouble;
        }
    }
    return n;
}

int drv_dir_grep(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int hits = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) hits += drv_dir_grep(path, needle);
        else if (S_ISREG(st.st_mode) && drv_file_has(path, needle)) {
            fprintf(stderr, "found \"%s\" in %s\n", needle, path);
            hits++;
        }
    }
    closedir(d);
    return hits;
}

const cJSON *drv_obj(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert_not_null(v, "results.json: \"%s\" is missing", key);
    return v;
}

double drv_num(const cJSON *o, const char *key) {
    const cJSON *v = drv_obj(o, key);
    cr_assert(cJSON_IsNumber(v), "results.json: \"%s\" is not a number", key);
    return v->valuedouble;
}

const char *drv_str(const cJSON *o, const char *key) {
    const cJSON *v = drv_obj(o, key);
    cr_assert(cJSON_IsString(v), "results.json: \"%s\" is not a string", key);
    return v->valuestring;
}

const cJSON *drv_first_run(const cJSON *results) {
    const cJSON *run = cJSON_GetArrayItem(drv_obj(results, "runs"), 0);
    cr_assert_not_null(run, "results.json has no run");
    return run;
}

cJSON *drv_run_checked(const struct drv *d, const char *const *args, int timeout_ms,
                       const struct drv_expect *want, char **log) {
    char *out = drv_run_expect(d, args, timeout_ms, 0);
    if (log) *log = out;
    else free(out);
    cJSON *j = drv_results_required(d);
    const cJSON *run = drv_first_run(j);
    cr_assert_str_eq(drv_str(run, "framework"), want->framework);
    cr_assert_str_eq(drv_str(run, "status"), "ok");
    cr_assert_eq((long)drv_num(run, "completed"), want->completed);
    cr_assert_eq((long)drv_num(run, "failed"), want->failed);
    if (want->retried >= 0) cr_assert_eq((long)drv_num(run, "retried"), want->retried);
    cr_assert_eq((long)drv_num(run, "lost"), 0);
    cr_assert_eq((long)drv_num(run, "queued_at_end"), 0);
    const cJSON *e2e = drv_obj(drv_obj(run, "latency_us"), "end_to_end");
    cr_assert_eq((long)drv_num(e2e, "count"), want->completed,
                 "every completed task has a latency stamp");
    cr_assert_gt(drv_num(e2e, "p50"), 0, "latency present");
    pid_t pids[64];
    int n = drv_result_pids(j, pids, 64);
    cr_assert_geq(n, 1, "results.json names the pids");
    for (int i = 0; i < n; i++)
        cr_assert(!tq_test_pid_alive(pids[i]), "pid %d is still alive", (int)pids[i]);
    return j;
}

void drv_write_mq_scenario(const struct drv *d, char *path, size_t n) {
    drv_write(d, "mq.json",
              "{\"name\": \"mq\", \"tasks\": 100, \"warmup_tasks\": 0, \"workers\": 1, "
              "\"concurrency\": 1, \"queues\": [1, 1, 8]}",
              path, n);
}

void drv_check_mq(const cJSON *run, const char *documented) {
    static const long want[3] = {10, 10, 80};
    const cJSON *qs = drv_obj(run, "queues");
    const cJSON *pq = drv_obj(qs, "per_queue");
    cr_assert_eq(cJSON_GetArraySize(pq), 3);
    double last_done = 0;
    for (int i = 0; i < 3; i++) {
        const cJSON *q = cJSON_GetArrayItem(pq, i);
        cr_assert_eq((long)drv_num(q, "tasks"), want[i], "queue %d: %g tasks", i,
                     drv_num(q, "tasks"));
        cr_assert_eq((long)drv_num(q, "counted"), want[i], "queue %d: %g counted", i,
                     drv_num(q, "counted"));
        cr_assert_eq((long)drv_num(drv_obj(drv_obj(q, "latency_us"), "end_to_end"), "count"),
                     want[i], "queue %d: a stamp per task", i);
        cr_assert_geq(drv_num(q, "last_done_ms"), last_done, "queue %d done before queue %d", i,
                      i - 1);
        last_done = drv_num(q, "last_done_ms");
    }
    const cJSON *ord = drv_obj(qs, "order");
    cr_assert(strstr(drv_str(ord, "observed"), "strict priority"), "%s",
              drv_str(ord, "observed"));
    cr_assert(strstr(drv_str(ord, "documented"), documented), "%s", drv_str(ord, "documented"));
}

void drv_assert_no_keys(redisContext *c, const char *pattern) {
    redisReply *k = redisCommand(c, "KEYS %s", pattern);
    cr_assert(k && k->type == REDIS_REPLY_ARRAY, "KEYS %s", pattern);
    size_t n = k->elements;
    freeReplyObject(k);
    cr_assert_eq(n, 0, "%zu %s keys left", n, pattern);
}

cJSON *drv_hash_json(redisContext *c, const char *key) {
    redisReply *r = redisCommand(c, "HGETALL %s", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "HGETALL %s", key);
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        cJSON_AddStringToObject(o, r->element[i]->str, r->element[i + 1]->str);
    freeReplyObject(r);
    return o;
}

void drv_frameworks_dir(char *buf, size_t n) {
    const char *tail = "/tests/driver/driver_harness.c";
    size_t len = strlen(__FILE__), tl = strlen(tail);
    cr_assert(len > tl && strcmp(&__FILE__[len - tl], tail) == 0, "unexpected __FILE__ %s",
              __FILE__);
    snprintf(buf, n, "%.*s/bench/frameworks", (int)(len - tl), __FILE__);
}
