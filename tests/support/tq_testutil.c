/* tq_testutil.c - redis-server and child-process fixtures for integration
 * tests (see tq_testutil.h). Self-contained on purpose: the fixtures must not
 * depend on the code under test. */
#include "tq_testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t tq_test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tq_test_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

const char *tq_test_bin(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", TQ_BIN_DIR, name);
    return buf;
}

pid_t tq_test_spawn(const char *const argv[], const char *log_path) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "tq_test_spawn: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int tq_test_wait_pid(pid_t pid, int timeout_ms, int *status) {
    int64_t deadline = tq_test_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            if (status) *status = st;
            return 1;
        }
        if (tq_test_now_ms() >= deadline) return 0;
        tq_test_sleep_ms(10);
    }
}

int tq_test_stop_pid(pid_t pid, int grace_ms) {
    int st = 0;
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    if (!tq_test_wait_pid(pid, grace_ms, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    return st;
}

int tq_test_pid_alive(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    if (!rp || rp[1] == '\0') return 1;
    return rp[2] != 'Z' && rp[2] != 'X';
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

redisContext *tq_test_redis_connect(const struct tq_test_redis *r) {
    struct timeval tv = {2, 0};
    redisContext *c = r->socket[0] ? redisConnectUnixWithTimeout(r->socket, tv)
                                   : redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->password[0]) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        int ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep) freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static int redis_launch(struct tq_test_redis *r) {
    char port[16], log[320];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    const char *argv[32];
    int i = 0;
    argv[i++] = "redis-server";
    argv[i++] = "--port";
    argv[i++] = port;
    argv[i++] = "--bind";
    argv[i++] = "127.0.0.1";
    if (r->socket[0]) {
        argv[i++] = "--unixsocket";
        argv[i++] = r->socket;
        argv[i++] = "--unixsocketperm";
        argv[i++] = "700";
    }
    argv[i++] = "--save";
    argv[i++] = "";
    argv[i++] = "--appendonly";
    argv[i++] = "no";
    argv[i++] = "--dir";
    argv[i++] = r->dir;
    argv[i++] = "--daemonize";
    argv[i++] = "no";
    if (r->password[0]) {
        argv[i++] = "--requirepass";
        argv[i++] = r->password;
    }
    argv[i] = NULL;
    r->pid = tq_test_spawn(argv, log);
    if (r->pid < 0) return -1;
    int64_t deadline = tq_test_now_ms() + 5000;
    while (tq_test_now_ms() < deadline) {
        int st;
        if (tq_test_wait_pid(r->pid, 0, &st)) {
            fprintf(stderr, "tq_testutil: redis-server exited at start (see %s)\n", log);
            r->pid = 0;
            return -1;
        }
        redisContext *c = tq_test_redis_connect(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            int ok = rep && rep->type == REDIS_REPLY_STATUS;
            if (rep) freeReplyObject(rep);
            redisFree(c);
            if (ok) return 0;
        }
        tq_test_sleep_ms(20);
    }
    fprintf(stderr, "tq_testutil: redis-server did not answer PING within 5 s\n");
    tq_test_stop_pid(r->pid, 1000);
    r->pid = 0;
    return -1;
}

int tq_test_redis_start(struct tq_test_redis *r, int port, const char *password) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/tqtest-redis-XXXXXX");
    if (!mkdtemp(r->dir)) return -1;
    if (password) snprintf(r->password, sizeof r->password, "%s", password);
    if (port == 0) {
        snprintf(r->socket, sizeof r->socket, "%s/redis.sock", r->dir);
        r->port = 0;
    } else {
        r->port = port > 0 ? port : free_port();
        if (r->port <= 0) return -1;
    }
    if (r->socket[0])
        snprintf(r->url, sizeof r->url, "unix://%s%s%s", r->socket,
                 r->password[0] ? "?password=" : "", r->password);
    else if (r->password[0])
        snprintf(r->url, sizeof r->url, "redis://:%s@127.0.0.1:%d/0", r->password, r->port);
    else
        snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
    return redis_launch(r);
}

void tq_test_redis_stop(struct tq_test_redis *r, int remove_dir) {
    if (r->pid > 0) tq_test_stop_pid(r->pid, 5000);
    r->pid = 0;
    if (remove_dir && r->dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0) fprintf(stderr, "tq_testutil: could not remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}

int tq_test_redis_restart(struct tq_test_redis *r) {
    tq_test_redis_stop(r, 0);
    if (r->socket[0]) unlink(r->socket);
    return redis_launch(r);
}

long long tq_test_redis_int(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = -1;
    if (rep && rep->type == REDIS_REPLY_INTEGER) v = rep->integer;
    else if (rep && rep->type == REDIS_REPLY_STRING) v = atoll(rep->str);
    if (rep) freeReplyObject(rep);
    return v;
}
