/* redis_embed.c - start, wait for and stop a private redis-server, sized
 * in memory from the machine (see redis_embed.h). */
#include "redis_embed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stale.h"
#include "tq_clock.h"
#include "tq_log.h"
#include "tq_parse.h"
#include "tq_spawn.h"

/* A "Key:   N kB" line of /proc/meminfo in MB, or -1. */
static long meminfo_mb(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    size_t klen = strlen(key);
    long mb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            mb = atol(line + klen + 1) / 1024;
            break;
        }
    fclose(f);
    return mb;
}

/* A number file of cgroup v2 ("max" and absent: -1), in MB. */
static long cgroup_file_mb(const char *dir, const char *name) {
    char path[512], buf[64];
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long v = -1;
    if (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (tq_parse_int(buf, 0, (long long)1 << 62, &v) != 0) v = -1;
    }
    fclose(f);
    return v < 0 ? -1 : (long)(v / (1024 * 1024));
}

/* What this process's cgroup (v2) still lets it use, in MB, or -1 when it
 * has no limit: in a container MemAvailable is the host's. */
static long cgroup_free_mb(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[512], dir[400] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(dir, sizeof dir, "%.399s", strcmp(line + 3, "/") == 0 ? "" : line + 3);
        }
    fclose(f);
    long max = cgroup_file_mb(dir, "memory.max");
    if (max < 0) return -1;
    long cur = cgroup_file_mb(dir, "memory.current");
    return cur < 0 || cur > max ? 0 : max - cur;
}

int redis_embed_maxmemory(long *mb, char *from, size_t fromlen, char *err, size_t errlen) {
    const char *env = getenv(REDIS_EMBED_MAXMEMORY_ENV);
    if (env && *env) {
        long long v;
        if (tq_parse_int(env, 1, 1 << 20, &v) != 0) {
            snprintf(err, errlen, "%s must be an integer in 1..%d (MB; got \"%.64s\")",
                     REDIS_EMBED_MAXMEMORY_ENV, 1 << 20, env);
            return -1;
        }
        *mb = (long)v;
        snprintf(from, fromlen, "%s", REDIS_EMBED_MAXMEMORY_ENV);
        return 0;
    }
    /* Half of what is free: the workers, the driver and Redis's own
     * overhead beyond maxmemory (fragmentation, client buffers) need the
     * rest. The floor keeps the shipped scenarios runnable on a busy machine. */
    long avail = meminfo_mb("MemAvailable"), cg = cgroup_free_mb();
    const char *what = "MemAvailable";
    if (cg >= 0 && (avail < 0 || cg < avail)) {
        avail = cg;
        what = "the cgroup's free memory";
    }
    if (avail < 0) {
        *mb = REDIS_EMBED_MAXMEMORY_FLOOR_MB;
        snprintf(from, fromlen, "the floor (MemAvailable unknown)");
    } else if (avail / 2 < REDIS_EMBED_MAXMEMORY_FLOOR_MB) {
        *mb = REDIS_EMBED_MAXMEMORY_FLOOR_MB;
        snprintf(from, fromlen, "the floor (half of %s, %ld MB, is less)", what, avail);
    } else {
        *mb = avail / 2;
        snprintf(from, fromlen, "half of %s (%ld MB)", what, avail);
    }
    return 0;
}

int redis_embed_explain_oom(const struct redis_embed *r, const char *rerr, char *buf,
                            size_t n) {
    /* Redis's reply: "OOM command not allowed when used memory > 'maxmemory'." */
    if (!r || r->pid <= 0 || !rerr || strncmp(rerr, "OOM ", 4) != 0) return 0;
    snprintf(buf, n,
             "the embedded Redis hit its memory limit of %ld MB (maxmemory, sized from %s; "
             "policy noeviction: nothing was evicted) and refused the write. Set %s=MB for "
             "another limit, or use --redis URL with a server of your own; Redis said: %.120s",
             r->maxmemory_mb, r->maxmemory_from, REDIS_EMBED_MAXMEMORY_ENV, rerr);
    return 1;
}

void redis_embed_to_json(const struct redis_embed *r, cJSON *o) {
    cJSON_AddNumberToObject(o, "maxmemory_mb", (double)r->maxmemory_mb);
    cJSON_AddStringToObject(o, "maxmemory_from", r->maxmemory_from);
    cJSON_AddStringToObject(o, "maxmemory_policy", "noeviction");
}

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
    /* the connect PINGs (no password, db 0) */
    redisContext *c = tq_redis_connect(u, 500, err, sizeof err);
    if (!c) return 0;
    redisFree(c);
    return 1;
}

static void remove_dir(struct redis_embed *r) {
    if (!r->dir[0]) return;
    char owner[sizeof r->dir + 8];
    snprintf(owner, sizeof owner, "%s/owner", r->dir);
    unlink(owner);
    unlink(r->socket);
    unlink(r->log);
    if (rmdir(r->dir) != 0 && errno != ENOENT)
        tq_warn("could not remove %s: %s", r->dir, strerror(errno));
    r->dir[0] = '\0';
}

int redis_embed_start(struct redis_embed *r, struct evloop *ev, const cpu_set_t *cpus,
                      int timeout_ms, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (redis_embed_maxmemory(&r->maxmemory_mb, r->maxmemory_from, sizeof r->maxmemory_from, err,
                              errlen) != 0)
        return -1;
    char maxmemory[32];
    snprintf(maxmemory, sizeof maxmemory, "%ldmb", r->maxmemory_mb);
    const char *tmp = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/tqbench-redis-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        snprintf(err, errlen, "embedded redis: mkdtemp %s: %s", r->dir, strerror(errno));
        r->dir[0] = '\0';
        return -1;
    }
    /* whose it is: a tqbench killed with SIGKILL cannot remove it, the next
     * one does once this process is gone (stale.h) */
    struct stale_owner self;
    stale_self(&self);
    if (stale_owner_write(r->dir, &self) != 0)
        tq_warn("embedded redis: cannot write %s/owner: %s", r->dir, strerror(errno));
    snprintf(r->socket, sizeof r->socket, "%s/redis.sock", r->dir);
    snprintf(r->log, sizeof r->log, "%s/redis.log", r->dir);
    const char *argv[] = {"redis-server", "--port", "0", "--unixsocket", r->socket,
                          "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                          "--dir", r->dir, "--daemonize", "no", "--logfile", r->log,
                          "--maxmemory", maxmemory, "--maxmemory-policy", "noeviction", NULL};
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

int redis_embed_check(struct redis_embed *r, char *err, size_t errlen) {
    int status;
    if (r->pid <= 0 || tq_spawn_poll(r->pid, &status) != 1) return 0;
    char st[64], tail[400];
    tq_spawn_status_str(status, st, sizeof st);
    log_tail(r->log, tail, sizeof tail);
    snprintf(err, errlen, "the embedded redis-server (pid %d) %s%s%s", (int)r->pid, st,
             tail[0] ? "; its log's last line: " : "", tail);
    snprintf(r->died, sizeof r->died, "%.*s", (int)sizeof r->died - 1, err);
    r->pid = 0; /* reaped */
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
