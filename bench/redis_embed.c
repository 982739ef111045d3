/* redis_embed.c - start, wait for and stop a private redis-server (see
 * redis_embed.h). */
#include "redis_embed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tq_clock.h"
#include "tq_log.h"
#include "tq_spawn.h"

/* The last non-empty line of the log, to say why redis-server died. */
static void log_tail(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) snprintf(buf, n, "%.300s", line);
    }
    fclose(f);
}

static int redis_ping(const struct tq_redis_url *u) {
    char err[256];
    redisContext *c = tq_redis_connect(u, 500, err, sizeof err);
    if (!c) return 0;
    redisReply *rep = redisCommand(c, "PING");
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep) freeReplyObject(rep);
    redisFree(c);
    return ok;
}

static void remove_dir(struct redis_embed *r) {
    if (!r->dir[0]) return;
    unlink(r->socket);
    unlink(r->log);
    if (rmdir(r->dir) != 0 && errno != ENOENT)
        tq_warn("could not remove %s: %s", r->dir, strerror(errno));
    r->dir[0] = '\0';
}

int redis_embed_start(struct redis_embed *r, struct evloop *ev, const cpu_set_t *cpus,
                      int timeout_ms, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    const char *tmp = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/tqbench-redis-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        snprintf(err, errlen, "embedded redis: mkdtemp %s: %s", r->dir, strerror(errno));
        r->dir[0] = '\0';
        return -1;
    }
    snprintf(r->socket, sizeof r->socket, "%s/redis.sock", r->dir);
    snprintf(r->log, sizeof r->log, "%s/redis.log", r->dir);
    const char *argv[] = {"redis-server", "--port", "0", "--unixsocket", r->socket,
                          "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                          "--dir", r->dir, "--daemonize", "no", "--logfile", r->log, NULL};
    /* Own process group: a Ctrl-C at the terminal reaches tqbench only, which
     * then tears down in order (workers first, Redis last). */
    struct tq_spawn_opts opts = {.new_process_group = 1, .die_with_parent = 1, .cpus = cpus};
    char serr[256];
    if (tq_spawn(argv, &opts, &r->pid, serr, sizeof serr) != 0) {
        snprintf(err, errlen, "embedded redis: %s (is redis-server installed and on PATH?)", serr);
        r->pid = 0;
        remove_dir(r);
        return -1;
    }
    r->url.is_unix = 1;
    if (strlen(r->socket) >= sizeof r->url.path) {
        snprintf(err, errlen, "embedded redis: socket path %s too long (set TMPDIR shorter)",
                 r->socket);
        redis_embed_stop(r);
        return -1;
    }
    memcpy(r->url.path, r->socket, strlen(r->socket) + 1);
    int64_t deadline = tq_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int status;
        if (tq_spawn_poll(r->pid, &status) == 1) {
            char st[64], tail[400];
            tq_spawn_status_str(status, st, sizeof st);
            log_tail(r->log, tail, sizeof tail);
            snprintf(err, errlen, "embedded redis-server (pid %d) %s at start%s%s", (int)r->pid, st,
                     tail[0] ? ": " : "", tail);
            r->pid = 0;
            remove_dir(r);
            return -1;
        }
        if (access(r->socket, F_OK) == 0 && redis_ping(&r->url)) return 0;
        if (tq_clock_mono_us() >= deadline) {
            snprintf(err, errlen, "embedded redis-server (pid %d) did not answer PING within %d ms",
                     (int)r->pid, timeout_ms);
            break;
        }
        if (evloop_pump(ev, 20)) {
            snprintf(err, errlen, "interrupted while starting the embedded redis-server");
            break;
        }
    }
    redis_embed_stop(r);
    return -1;
}

void redis_embed_stop(struct redis_embed *r) {
    if (r->pid > 0) {
        int status;
        if (tq_spawn_stop(r->pid, 5000, &status) == 0)
            tq_warn("embedded redis-server (pid %d) ignored SIGTERM for 5 s: killed", (int)r->pid);
        r->pid = 0;
    }
    remove_dir(r);
}
