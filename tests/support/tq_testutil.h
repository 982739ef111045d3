/* tq_testutil.h - fixtures for integration tests.
 *
 * Each test that needs Redis starts its own redis-server (no persistence) on
 * a unix socket in a private temp dir, or on a free loopback port, and stops
 * it by pid. Children started by tests are always reaped by pid. */
#ifndef TQ_TESTUTIL_H
#define TQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

struct tq_test_redis {
    pid_t pid;
    char dir[256];          /* private temp dir (socket, log) */
    char socket[300];       /* unix socket path ("" when TCP) */
    int port;               /* loopback port (0 when unix) */
    char password[64];      /* requirepass ("" for none) */
    char url[512];          /* URL for tqworker/tqbench, password included */
};

/* Starts redis-server on a unix socket (port == 0) or on 127.0.0.1:port
 * (port < 0: pick a free port), with requirepass when password is not NULL.
 * Waits until it answers PING. Returns 0, or -1 (message on stderr). */
int tq_test_redis_start(struct tq_test_redis *r, int port, const char *password);
/* Stops it by pid (SIGTERM, then SIGKILL after 5 s) and reaps it; keeps dir
 * unless remove_dir. Safe to call twice. */
void tq_test_redis_stop(struct tq_test_redis *r, int remove_dir);
/* Stops and starts it again on the same socket/port (empty data). */
int tq_test_redis_restart(struct tq_test_redis *r);
/* A synchronous connection (authenticated); NULL on failure. */
redisContext *tq_test_redis_connect(const struct tq_test_redis *r);

/* Path of a built program: "<build>/bin/<name>". */
const char *tq_test_bin(const char *name, char *buf, size_t len);
/* Starts argv with stdout/stderr appended to log_path (NULL: inherit). */
pid_t tq_test_spawn(const char *const argv[], const char *log_path);
/* Waits up to timeout_ms for pid; 1 exited (status set), 0 still running. */
int tq_test_wait_pid(pid_t pid, int timeout_ms, int *status);
/* SIGTERM, wait up to grace_ms, SIGKILL, reap. Returns exit status from waitpid. */
int tq_test_stop_pid(pid_t pid, int grace_ms);
/* 1 when pid still exists (as any process, zombie excluded). */
int tq_test_pid_alive(pid_t pid);

/* Integer value of a Redis command's reply (INTEGER, or STRING parsed), -1 on nil/error. */
long long tq_test_redis_int(redisContext *c, const char *fmt, ...);
/* Monotonic milliseconds. */
int64_t tq_test_now_ms(void);
/* Sleep ms milliseconds. */
void tq_test_sleep_ms(int ms);

#endif
