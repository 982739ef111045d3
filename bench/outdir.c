/* outdir.c - exclusive results folders (see outdir.h). */
#include "outdir.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ROOT "results"
#define SUFFIX_MAX 1000 /* <stamp>-2 .. <stamp>-1000 within one second */

/* mkdir -p path; flag names the option in errors. */
static int mkdirs(const char *flag, const char *path, char *err, size_t errlen) {
    char buf[FW_PATH_MAX + 64];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: path too long: %.200s...", flag, path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "%s: cannot create %.900s: %s", flag, buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

/* root/<stamp>, or root/<stamp>-K: the first that mkdir creates. */
static int stamp_dir(const char *flag, const char *root, char *dir, size_t n, char *err,
                     size_t errlen) {
    if (mkdirs(flag, root, err, errlen) != 0) return -1;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int k = 1; k <= SUFFIX_MAX; k++) {
        int len = k == 1 ? snprintf(dir, n, "%s/%s", root, stamp)
                         : snprintf(dir, n, "%s/%s-%d", root, stamp, k);
        if (len < 0 || (size_t)len >= n) {
            snprintf(err, errlen, "%s: path too long: %.200s...", flag, root);
            return -1;
        }
        if (mkdir(dir, 0755) == 0) return 0;
        if (errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create %.900s: %s", flag, dir, strerror(errno));
            return -1;
        }
    }
    snprintf(err, errlen, "%s: %s/%s and %d suffixed folders all exist", flag, root, stamp,
             SUFFIX_MAX - 1);
    return -1;
}

const char *outdir_root(const struct config *cfg) {
    if (cfg->out_dir[0]) return NULL;
    return cfg->results_root[0] ? cfg->results_root : DEFAULT_ROOT;
}

int outdir_create(const struct config *cfg, char *dir, size_t n, char *err, size_t errlen) {
    const char *flag = cfg->out_dir[0] ? "--out" : cfg->results_root[0] ? "--results-root"
                                                                        : "results folder";
    if (cfg->out_dir[0]) {
        if ((size_t)snprintf(dir, n, "%s", cfg->out_dir) >= n) {
            snprintf(err, errlen, "--out: path too long");
            return -1;
        }
        if (mkdirs(flag, dir, err, errlen) != 0) return -1;
    } else if (stamp_dir(flag, cfg->results_root[0] ? cfg->results_root : DEFAULT_ROOT, dir, n,
                         err, errlen) != 0) {
        return -1;
    }
    char path[FW_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/logs", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create %.900s: %s", flag, path, strerror(errno));
        return -1;
    }
    /* claimed before anything runs: an earlier results.json is never lost */
    snprintf(path, sizeof path, "%s/results.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        snprintf(err, errlen,
                 "--out %.400s: %.400s already exists (an earlier run's results; nothing was "
                 "overwritten): choose another --out, or --results-root DIR for a fresh "
                 "timestamped folder under DIR",
                 cfg->out_dir, path);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create %.900s: %s", flag, path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

int outdir_host_path(const struct config *cfg, const char *path, char *out, size_t n) {
    const char *host = getenv("TQ_HOST_RESULTS");
    const char *root = outdir_root(cfg);
    if (!host || !host[0] || !root) return -1;
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/') len--; /* --results-root /results/ */
    if (strncmp(path, root, len) != 0 || path[len] != '/') return -1;
    size_t hlen = strlen(host);
    while (hlen > 1 && host[hlen - 1] == '/') hlen--;
    int w = snprintf(out, n, "%.*s%s", (int)hlen, host, path + len);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}
