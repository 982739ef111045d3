/* stale.c - what a tqbench killed with SIGKILL left behind (see stale.h).
 *
 * A driver that is killed runs no teardown: its embedded redis-server dies
 * with it (PR_SET_PDEATHSIG) but the server's private directory stays in
 * $TMPDIR, and its results.json keeps saying "running". Both carry the
 * driver's identity, pid and start time (a pid alone may have been reused
 * by now), so the next invocation can tell the leftovers of a dead driver
 * from those of one still running, and only ever touches the former. */
#include "stale.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tq_log.h"
#include "tq_proc.h"

#define OWNER_FILE "owner"
#define PATH_LEN 1024
#define REDIS_DIR_PREFIX "tqbench-redis-"

/* dir/name into buf; -1 when it does not fit (such a path is skipped). */
static int path_join(char *buf, size_t n, const char *dir, const char *name) {
    int len = snprintf(buf, n, "%s/%s", dir, name);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

int stale_self(struct stale_owner *o) {
    memset(o, 0, sizeof *o);
    o->pid = getpid();
    if (gethostname(o->host, sizeof o->host) != 0) snprintf(o->host, sizeof o->host, "unknown");
    o->host[sizeof o->host - 1] = '\0';
    return tq_proc_start_ticks(o->pid, &o->start_ticks);
}

/* 1 when the process o names is gone: it ran on this host, and its pid is
 * free or now belongs to a process started at another time. 0 when it runs,
 * or on another host (nothing can be known of it from here). */
static int owner_dead(const struct stale_owner *o) {
    char host[256];
    if (gethostname(host, sizeof host) != 0) return 0;
    host[sizeof host - 1] = '\0';
    if (strcmp(host, o->host) != 0 || o->pid <= 0) return 0;
    unsigned long long ticks;
    if (tq_proc_start_ticks(o->pid, &ticks) != 0) return 1;
    return ticks != o->start_ticks;
}

int stale_owner_write(const char *dir, const struct stale_owner *o) {
    char path[PATH_LEN];
    if (path_join(path, sizeof path, dir, OWNER_FILE) != 0) return -1;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = fprintf(f, "%ld %llu %s\n", (long)o->pid, o->start_ticks, o->host) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int owner_read(const char *dir, struct stale_owner *o) {
    char path[PATH_LEN];
    if (path_join(path, sizeof path, dir, OWNER_FILE) != 0) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long pid = 0;
    memset(o, 0, sizeof *o);
    int n = fscanf(f, "%ld %llu %255s", &pid, &o->start_ticks, o->host);
    fclose(f);
    o->pid = (pid_t)pid;
    return n == 3 ? 0 : -1;
}

/* Removes the files an embedded redis-server's directory holds (the owner
 * file, the socket, the log, a dump should one have been written) and the
 * directory; anything else in it keeps it there. */
static int remove_redis_dir(const char *dir) {
    static const char *const files[] = {"redis.sock", "redis.log", "dump.rdb", OWNER_FILE};
    char path[PATH_LEN];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (path_join(path, sizeof path, dir, files[i]) != 0) return -1;
        if (unlink(path) != 0 && errno != ENOENT) return -1;
    }
    return rmdir(dir);
}

int stale_sweep_redis_dirs(const char *tmpdir) {
    DIR *d = opendir(tmpdir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, REDIS_DIR_PREFIX, strlen(REDIS_DIR_PREFIX)) != 0) continue;
        char dir[PATH_LEN];
        struct stale_owner o;
        if (path_join(dir, sizeof dir, tmpdir, e->d_name) != 0) continue;
        /* a directory without an owner file (another user's, or one being
         * created this instant) is not known to be stale: left alone */
        if (owner_read(dir, &o) != 0 || !owner_dead(&o)) continue;
        if (remove_redis_dir(dir) == 0) {
            tq_warn("removed %s, the embedded Redis directory of a tqbench (pid %ld) that is "
                    "gone",
                    dir, (long)o.pid);
            removed++;
        } else {
            tq_warn("could not remove %s (left by a tqbench, pid %ld, that is gone): %s", dir,
                    (long)o.pid, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}

void stale_owner_to_json(const struct stale_owner *o, cJSON *parent) {
    cJSON *j = cJSON_AddObjectToObject(parent, "driver");
    cJSON_AddNumberToObject(j, "pid", o->pid);
    cJSON_AddStringToObject(j, "host", o->host);
    cJSON_AddNumberToObject(j, "start_ticks", (double)o->start_ticks);
}

/* Rewrites a results.json of a dead driver as abandoned (write to a
 * temporary file, then rename: never a half-written results file). */
static int mark_abandoned(const char *path, cJSON *doc) {
    char now[32], tmp[PATH_LEN + 8];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_ReplaceItemInObject(doc, "status", cJSON_CreateString("abandoned"));
    cJSON_AddStringToObject(doc, "abandoned_found_at", now);
    cJSON_AddStringToObject(doc, "abandoned_reason",
                            "the tqbench that wrote this file ended without finishing it "
                            "(killed, or its machine stopped)");
    char *text = cJSON_Print(doc);
    if (!text) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int stale_mark_results(const char *root) {
    DIR *d = opendir(root);
    if (!d) return 0;
    int marked = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char dir[PATH_LEN], path[PATH_LEN];
        if (path_join(dir, sizeof dir, root, e->d_name) != 0 ||
            path_join(path, sizeof path, dir, "results.json") != 0)
            continue;
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        /* cheap test first: a finished file says so near its top */
        if (!strstr(buf, "\"running\"")) {
            fclose(f);
            continue;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        char *text = len > 0 ? malloc((size_t)len + 1) : NULL;
        if (text) {
            rewind(f);
            text[fread(text, 1, (size_t)len, f)] = '\0';
        }
        fclose(f);
        cJSON *doc = text ? cJSON_Parse(text) : NULL;
        free(text);
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
        const cJSON *drv = cJSON_GetObjectItemCaseSensitive(doc, "driver");
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(drv, "pid");
        const cJSON *host = cJSON_GetObjectItemCaseSensitive(drv, "host");
        const cJSON *ticks = cJSON_GetObjectItemCaseSensitive(drv, "start_ticks");
        if (cJSON_IsString(status) && strcmp(status->valuestring, "running") == 0 &&
            cJSON_IsNumber(pid) && cJSON_IsString(host) && cJSON_IsNumber(ticks)) {
            struct stale_owner o = {.pid = (pid_t)pid->valuedouble,
                                    .start_ticks = (unsigned long long)ticks->valuedouble};
            snprintf(o.host, sizeof o.host, "%s", host->valuestring);
            if (owner_dead(&o)) {
                if (mark_abandoned(path, doc) == 0) {
                    tq_warn("%s: its tqbench (pid %ld) is gone; marked \"abandoned\"", path,
                            (long)o.pid);
                    marked++;
                } else {
                    tq_warn("%s: its tqbench (pid %ld) is gone, but the file could not be "
                            "rewritten: %s",
                            path, (long)o.pid, strerror(errno));
                }
            }
        }
        cJSON_Delete(doc);
    }
    closedir(d);
    return marked;
}
