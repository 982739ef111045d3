/* driver_harness.h - helpers shared by tqbench's integration tests: a private
 * temp dir per test, scenario files, running tqbench with a deadline and its
 * output captured, reading results.json, and pid-based process checks (the
 * children of a pid from /proc; never names). */
#ifndef DRIVER_HARNESS_H
#define DRIVER_HARNESS_H

#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "tq_testutil.h"

struct drv {
    char dir[256];        /* private temp dir: scenarios, out/, tqbench.log */
    char out[320];        /* --out */
    char log[320];        /* tqbench's stdout+stderr */
    char bin[320];        /* build/bin/tqbench */
    char worker[320];     /* build/bin/tqworker */
};

/* Cleanup that survives a failed assertion: every dir, redis-server and
 * process the helpers below create is tracked (by value: a failed assert
 * unwinds the test's stack) until the test releases it normally, and
 * drv_cleanup(), the .fini of every test, stops and removes what is left. */
void drv_cleanup(void);
/* tq_test_redis_start / tq_test_redis_stop(r, 1), tracked. */
int drv_redis_start(struct tq_test_redis *r, int port, const char *password);
void drv_redis_stop(struct tq_test_redis *r);
/* Stops r's redis-server and keeps its dir (drv_redis_restart loads what it
 * SAVEd there), and starts it again on the same socket or port; tracked. */
void drv_redis_halt(struct tq_test_redis *r);
int drv_redis_restart(struct tq_test_redis *r);
/* tq_test_spawn / tq_test_stop_pid, tracked. */
pid_t drv_spawn(const char *const argv[], const char *log_path);
void drv_stop(pid_t pid);

/* Creates the temp dir and paths. Aborts the test on failure. */
void drv_init(struct drv *d);
/* Removes the temp dir. */
void drv_fini(struct drv *d);
/* Points d->out (--out, and where drv_results reads) at dir/<name>: a run
 * after another needs its own folder, --out never overwrites results. */
void drv_set_out(struct drv *d, const char *name);
/* Writes dir/<name> with text; returns its path in a static-free buffer. */
void drv_write(const struct drv *d, const char *name, const char *text, char *path, size_t n);
/* Starts tqbench with args (NULL-terminated, without argv[0]); output
 * appended to d->log. Returns its pid. */
pid_t drv_start(const struct drv *d, const char *const *args);
/* Runs tqbench to the end within timeout_ms (kills it and fails the test on
 * timeout). Returns its exit code (or 128+signal). */
int drv_run(const struct drv *d, const char *const *args, int timeout_ms);
/* Waits for a started tqbench: exit code, or -1 when still running after
 * timeout_ms (then it was killed and reaped). */
int drv_wait(pid_t pid, int timeout_ms);
/* Waits for the tqbench started as pid and asserts it exited want_rc within
 * timeout_ms (printing its output when not). Returns the output (malloc'd,
 * NUL-terminated, "" when there was none; the caller frees it). */
char *drv_wait_expect(const struct drv *d, pid_t pid, int timeout_ms, int want_rc);
/* drv_start, then drv_wait_expect. */
char *drv_run_expect(const struct drv *d, const char *const *args, int timeout_ms, int want_rc);
/* The whole file (malloc'd, NUL-terminated) or NULL. */
char *drv_read(const char *path);
/* 1 when the file contains needle. */
int drv_file_has(const char *path, const char *needle);
/* results.json, parsed (NULL when absent or not JSON). */
cJSON *drv_results(const struct drv *d);
/* results.json, parsed; fails the test when it is absent or not JSON. */
cJSON *drv_results_required(const struct drv *d);
/* Members of a results.json object, failing the test (naming the key) when
 * the key is missing or of another type. */
const cJSON *drv_obj(const cJSON *o, const char *key);
double drv_num(const cJSON *o, const char *key);
const char *drv_str(const cJSON *o, const char *key);
/* A sync connection to r (tq_test_redis_connect); fails the test without one. */
redisContext *drv_redis_connect(const struct tq_test_redis *r);
/* drv_redis_start on a unix socket without a password, then
 * drv_redis_connect; fails the test when either fails. */
redisContext *drv_redis_start_connected(struct tq_test_redis *r);
/* Polls the worker registry (tq:workers, each member's tq:worker:<id> pid)
 * until want workers are listed with a pid, for up to timeout_ms. Fills out
 * (at least want slots) from one reading of the registry, so two indexes
 * never name the same worker. Returns how many it found (< want: timeout). */
int drv_wait_worker_pids(redisContext *c, pid_t *out, int want, int timeout_ms);
/* Up to max pids whose parent is ppid (from /proc/<pid>/stat). */
int drv_children(pid_t ppid, pid_t *out, int max);
/* Every pid of the results file: the embedded redis and each run's workers. */
int drv_result_pids(const cJSON *results, pid_t *out, int max);
/* What one run of a framework must show (drv_run_checked). */
struct drv_expect {
    const char *framework;     /* runs[0].framework */
    long completed, failed;    /* exactly */
    long retried;              /* exactly; < 0: not checked */
};
/* Runs tqbench with args to exit 0 within timeout_ms, then checks
 * results.json's first run against want: framework, status ok, completed
 * and failed (and retried) exactly, lost 0, queued_at_end 0, one
 * end-to-end latency stamp per completed task with p50 > 0, and no pid of
 * results.json alive (the run's workers and its embedded redis). Returns
 * results.json (the caller deletes it) and, when log is not NULL,
 * tqbench's output in *log (the caller frees it). */
cJSON *drv_run_checked(const struct drv *d, const char *const *args, int timeout_ms,
                       const struct drv_expect *want, char **log);
/* results.json's first run; fails the test when there is none. */
const cJSON *drv_first_run(const cJSON *results);
/* A multi-queue scenario for a framework's tests: 100 tasks split 1:1:8
 * over three queues, no warm-up, one worker running one task at a time (so
 * a framework's queue order shows undisturbed); its path in path. */
void drv_write_mq_scenario(const struct drv *d, char *path, size_t n);
/* The multi-queue figures (run.queues) of that scenario's run: 10, 10 and
 * 80 tasks, each counted and with an end-to-end stamp; each queue's last
 * task done no earlier than the previous queue's, the observed order
 * "strict priority", and the documented order (the adapter's queue_order)
 * containing documented. */
void drv_check_mq(const cJSON *run, const char *documented);
/* Fails the test when Redis holds a key matching pattern (KEYS). */
void drv_assert_no_keys(redisContext *c, const char *pattern);
/* HGETALL key as a cJSON object (field -> string); the caller deletes it. */
cJSON *drv_hash_json(redisContext *c, const char *key);
/* The source tree's bench/frameworks (the adapters' helper scripts). */
void drv_frameworks_dir(char *buf, size_t n);
/* Number of files under dir (recursive) containing needle. */
int drv_dir_grep(const char *dir, const char *needle);

#endif
