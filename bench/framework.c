/* framework.c - the registry of benchmarked frameworks, the argv/env
 * builders adapters use, and the defaults of the optional hooks (see
 * framework.h). The registry itself is frameworks/registry.c. */
#include "framework.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tq_redis.h"
#include "tq_spawn.h"

const struct tq_framework *framework_find(const char *name) {
    for (int i = 0; tq_frameworks[i]; i++)
        if (strcmp(tq_frameworks[i]->name, name) == 0) return tq_frameworks[i];
    return NULL;
}

int fw_processes(const struct tq_framework *fw, const struct fw_run *run) {
    return (fw->limits & FW_LIMIT_SERIAL) ? run->workers * run->concurrency : run->workers;
}

int fw_nqueues(const struct fw_run *run) { return run->nqueues > 1 ? run->nqueues : 1; }

const char *fw_queue(const struct fw_run *run, int i) { return i == 0 ? run->queue : run->queues[i]; }

void fw_argv_reset(struct fw_argv *out) {
    out->argc = 0;
    out->envc = 0;
    out->argv[0] = NULL;
    out->env[0] = NULL;
}

static int slot_vformat(char *slot, char *err, size_t errlen, const char *what, const char *fmt,
                        va_list ap) {
    int len = vsnprintf(slot, FW_ARG_LEN, fmt, ap);
    if (len < 0 || len >= FW_ARG_LEN) {
        snprintf(err, errlen, "%s longer than %d bytes", what, FW_ARG_LEN - 1);
        return -1;
    }
    return 0;
}

int fw_argv_add(struct fw_argv *out, char *err, size_t errlen, const char *fmt, ...) {
    if (out->argc >= FW_ARGV_MAX) {
        snprintf(err, errlen, "worker argv has more than %d arguments", FW_ARGV_MAX);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = slot_vformat(out->args[out->argc], err, errlen, "worker argument", fmt, ap);
    va_end(ap);
    if (rc != 0) return -1;
    out->argv[out->argc] = out->args[out->argc];
    out->argc++;
    out->argv[out->argc] = NULL;
    return 0;
}

int fw_env_add(struct fw_argv *out, char *err, size_t errlen, const char *fmt, ...) {
    if (out->envc >= FW_ENV_MAX) {
        snprintf(err, errlen, "worker environment has more than %d extra entries", FW_ENV_MAX);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = slot_vformat(out->envs[out->envc], err, errlen, "worker environment entry", fmt, ap);
    va_end(ap);
    if (rc != 0) return -1;
    out->env[out->envc] = out->envs[out->envc];
    out->envc++;
    out->env[out->envc] = NULL;
    return 0;
}

int fw_enqueue_push(redisContext *c, const char *cmd, const char *key,
                    const char *const *payloads, const size_t *lens, int n, char *err,
                    size_t errlen) {
    /* argv[0..1] are the command and the key, then the payloads: the
     * producer's arrays have those two slots in front (framework.h) */
    const char **argv = (const char **)payloads - 2;
    size_t *argvlen = (size_t *)lens - 2;
    argv[0] = cmd;
    argvlen[0] = strlen(cmd);
    argv[1] = key;
    argvlen[1] = strlen(key);
    if (redisAppendCommandArgv(c, n + 2, argv, argvlen) != REDIS_OK) {
        snprintf(err, errlen, "%s %.200s: %s", cmd, key, c->errstr);
        return -1;
    }
    return 1;
}

int fw_enqueue_lpush(const struct fw_run *run, const void *state, redisContext *c,
                     const char *key, const struct tq_task *tasks, const char *const *payloads,
                     const size_t *lens, int n, char *err, size_t errlen) {
    (void)run;
    (void)state;
    (void)tasks;
    return fw_enqueue_push(c, "LPUSH", key, payloads, lens, n, err, errlen);
}

int fw_progress_native(const struct fw_run *run, void *state, redisContext *c, const char *run_id,
                       struct fw_progress *out, char *err, size_t errlen) {
    (void)state;
    char key[TQ_KEY_MAX], rerr[256];
    if (tq_key_run_stats(key, sizeof key, run->prefix, run_id) < 0) {
        snprintf(err, errlen, "run id %s too long for a key", run_id);
        return -1;
    }
    redisReply *rep = tq_redis_command(c, rerr, sizeof rerr, "HMGET %s %s %s %s", key,
                                       TQ_STAT_COMPLETED, TQ_STAT_FAILED, TQ_STAT_RETRIED);
    if (!rep) {
        snprintf(err, errlen, "reading %s: %s", key, rerr);
        return -1;
    }
    long v[3] = {0, 0, 0};
    for (size_t i = 0; i < 3 && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING) v[i] = atol(rep->element[i]->str);
    freeReplyObject(rep);
    out->completed = v[0];
    out->failed = v[1];
    out->retried = v[2];
    return 0;
}

int fw_enqueue(const struct tq_framework *fw, const struct fw_run *run, const void *state,
               redisContext *c, const char *key, const struct tq_task *tasks,
               const char *const *payloads, const size_t *lens, int n, char *err, size_t errlen) {
    return (fw->enqueue_batch ? fw->enqueue_batch : fw_enqueue_lpush)(run, state, c, key, tasks,
                                                                      payloads, lens, n, err,
                                                                      errlen);
}

int fw_progress(const struct tq_framework *fw, const struct fw_run *run, void *state,
                redisContext *c, const char *run_id, struct fw_progress *out, char *err,
                size_t errlen) {
    return (fw->progress ? fw->progress : fw_progress_native)(run, state, c, run_id, out, err,
                                                              errlen);
}

int fw_files_readable(const char *dir, const char *const *files, const char *label,
                      const char *hint, char *why, size_t n) {
    char path[FW_PATH_MAX + 128];
    for (int i = 0; files[i]; i++) {
        int len = snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (len < 0 || (size_t)len >= sizeof path || access(path, R_OK) != 0) {
            snprintf(why, n, "%s%s%s not found%s", label ? label : "", label ? " " : "", path,
                     hint ? hint : "");
            return -1;
        }
    }
    return 0;
}

int fw_probe(const char *const argv[], const char *out_path, int timeout_ms, const char *what,
             const char *hint, char *why, size_t n) {
    char err[FW_ARG_LEN]; /* "cannot run <argv0>: <256-byte reason>" fits */
    int status = fw_run_bounded(argv, NULL, out_path, timeout_ms, err, sizeof err);
    if (status < 0) {
        snprintf(why, n, "%s", err);
        return -1;
    }
    if (status != 0) {
        char st[64];
        tq_spawn_status_str(status, st, sizeof st);
        snprintf(why, n, "%s (%s; %s)", what, st, hint);
        return -1;
    }
    return 0;
}

long fw_unlink_matching(redisContext *c, const char *pattern,
                        int (*want)(const char *key, size_t len, void *arg), void *arg) {
    char cursor[32] = "0", err[256];
    long n = 0;
    do {
        redisReply *r = tq_redis_command(c, err, sizeof err, "SCAN %s MATCH %s COUNT 1000",
                                         cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            if (r) freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            if (k->type != REDIS_REPLY_STRING || (want && !want(k->str, k->len, arg))) continue;
            redisReply *d = tq_redis_command(c, err, sizeof err, "UNLINK %b", k->str, k->len);
            if (d && d->type == REDIS_REPLY_INTEGER) n += (long)d->integer;
            if (d) freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

int fw_reply_ll(const redisReply *e, long long *out) {
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = e->integer;
        return 0;
    }
    if (e->type == REDIS_REPLY_NIL) {
        *out = 0;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING) return -1;
    char *end;
    *out = strtoll(e->str, &end, 10);
    return (end == e->str || *end) ? -1 : 0;
}

unsigned fw_caps(const struct tq_framework *fw) { return fw->caps ? fw->caps : FW_CAP_ALL; }

const char *fw_caps_missing(const struct tq_framework *fw, const struct fw_run *run,
                            int open_loop) {
    unsigned caps = fw_caps(fw);
    if (open_loop && !(caps & FW_CAP_OPEN_LOOP)) return "open-loop arrival (\"arrival\": \"rate\")";
    if (run->nqueues > 1 && !(fw->caps & FW_CAP_MULTI_QUEUE))
        return "several queues per worker (its adapter gives each worker one queue)";
    for (int i = 0; i < run->mix_len; i++) {
        const struct fw_mix_entry *m = &run->mix[i];
        if (m->kind == TQ_KIND_SLEEP && !(caps & FW_CAP_SLEEP)) return "the sleep kind";
        if (m->kind == TQ_KIND_CPU && !(caps & FW_CAP_CPU)) return "the cpu kind";
        if (m->kind == TQ_KIND_FAIL && !(caps & FW_CAP_FAIL)) return "the fail kind";
        if (m->max_attempts > 1 && !(caps & FW_CAP_RETRIES)) return "retries (max_attempts > 1)";
    }
    return NULL;
}

int fw_run_bounded(const char *const argv[], const char *const *env, const char *out_path,
                   int timeout_ms, char *err, size_t errlen) {
    struct tq_spawn_opts opts = {
        .env_extra = env,
        .stdout_path = out_path ? out_path : "/dev/null",
        .stderr_path = out_path ? out_path : "/dev/null",
        .new_process_group = 1,
        .die_with_parent = 1,
    };
    pid_t pid;
    int status = 0;
    char serr[256];
    if (tq_spawn(argv, &opts, &pid, serr, sizeof serr) != 0) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], serr);
        return -1;
    }
    if (tq_spawn_wait(pid, timeout_ms, &status) != 1) {
        tq_spawn_stop(pid, 1000, &status);
        snprintf(err, errlen, "%s %s did not finish within %d s (pid %d, killed)", argv[0],
                 argv[1] ? argv[1] : "", timeout_ms / 1000, (int)pid);
        return -1;
    }
    return status;
}
