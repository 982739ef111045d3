/* celery.c - Celery 5 (Debian's python3-celery) as a benchmarked framework.
 *
 * The workers are real `celery worker` processes running the task module in
 * bench/frameworks/celery (tqbench_tasks.py). They count and time every task
 * into tqbench's native keys through a hook on Celery's task signals
 * (tqbench_hook.py), because Celery's own events are lossy under load, and
 * heartbeat from the worker_ready signal on, so the driver's health-check,
 * progress, stall detection and latency collection are the same as for
 * tqworker. The producer is the driver itself: it LPUSHes protocol-2
 * messages built in C by common/tq_celery.c, which Celery accepts as if its
 * own client had sent them; the enqueue rate of Celery's own client
 * (apply_async) is measured separately by client_enqueue.py.
 *
 * Always /usr/bin/python3: the `celery` wrapper script runs whatever python3
 * comes first on PATH, which may be a Python without Celery. */
#include "framework.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_celery.h"
#include "tq_log.h"
#include "tq_redis.h"
#include "tq_spawn.h"

#define CELERY_PYTHON "/usr/bin/python3"
#define CELERY_MODULE "tqbench_tasks"
#define CELERY_PIDBOX_BINDING "_kombu.binding.celery.pidbox"
#define CELERY_CLIENT_RATE_TASKS 2000
#define CELERY_CLIENT_RATE_SUFFIX ".client-rate"
#define CELERY_PYTHON_TIMEOUT_MS 60000
#define CELERY_DEFAULT_POOL "prefork" /* Celery's own default */

static int celery_dir(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "%s/celery", run->frameworks_dir);
    return (len < 0 || (size_t)len >= n) ? -1 : 0;
}

/* The nodename's name part, unique per run and worker, so two workers of a
 * run do not share a remote-control mailbox and clean() can find the
 * mailbox bindings of a run whose workers were killed. */
static int celery_node_prefix(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "tqbench-%s-", run->run_id);
    return (len < 0 || (size_t)len >= n) ? -1 : len;
}

static int celery_client_queue(const struct fw_run *run, char *buf, size_t n) {
    int len = snprintf(buf, n, "%s" CELERY_CLIENT_RATE_SUFFIX, run->queue);
    return (len < 0 || (size_t)len >= n || (size_t)len >= TQ_NAME_MAX) ? -1 : len;
}

static int celery_available(const struct fw_run *run, char *why, size_t n) {
    char dir[FW_PATH_MAX];
    if (access(CELERY_PYTHON, X_OK) != 0) {
        snprintf(why, n, "%s not found (Celery runs under Debian's python3)", CELERY_PYTHON);
        return 0;
    }
    if (celery_dir(run, dir, sizeof dir) != 0) {
        snprintf(why, n, "frameworks directory path too long");
        return 0;
    }
    const char *const files[] = {CELERY_MODULE ".py", NULL};
    const char *const argv[] = {CELERY_PYTHON, "-c", "import celery, redis", NULL};
    return fw_files_readable(dir, files, "Celery task module", NULL, why, n) == 0 &&
           fw_probe(argv, NULL, CELERY_PYTHON_TIMEOUT_MS,
                    "python3-celery does not import under " CELERY_PYTHON,
                    "install python3-celery, see scripts/bootstrap", why, n) == 0;
}

static int celery_env(const struct fw_run *run, const char *dir, const char *worker_id,
                      struct fw_argv *out, char *err, size_t errlen) {
    /* The URL goes through the environment, not argv: argv is world-readable
     * in /proc/PID/cmdline and would expose a password. */
    if (fw_env_add(out, err, errlen, "PYTHONPATH=%s", dir) ||
        fw_env_add(out, err, errlen, "PYTHONDONTWRITEBYTECODE=1") ||
        fw_env_add(out, err, errlen, "TQ_CELERY_REDIS_URL=%s", run->redis_url) ||
        fw_env_add(out, err, errlen, "TQ_CELERY_PREFIX=%s", run->prefix) ||
        fw_env_add(out, err, errlen, "TQ_CELERY_RUN=%s", run->run_id))
        return -1;
    if (worker_id &&
        (fw_env_add(out, err, errlen, "TQ_CELERY_WORKER_ID=%s", worker_id) ||
         fw_env_add(out, err, errlen, "TQ_CELERY_HEARTBEAT_INTERVAL=%d",
                    run->heartbeat_interval_s > 0 ? run->heartbeat_interval_s : 1)))
        return -1;
    return 0;
}

/* 1 when the run's mix has tasks that take time (anything but noop). */
static int mix_has_work(const struct fw_run *run) {
    for (int i = 0; i < run->mix_len; i++)
        if (run->mix[i].kind != TQ_KIND_NOOP) return 1;
    return 0;
}

/* What the run should know about Celery before its numbers come in, said
 * once per run (worker 0): the threads pool's measured stalls, and that
 * tqbench's prefetch is not Celery's. Figures: README.md in this directory. */
static void celery_warn(const struct fw_run *run, const char *pool) {
    if (strcmp(pool, "threads") == 0 && mix_has_work(run))
        tq_warn("celery: --pool threads runs tasks that take time in bursts of about "
                "5 x concurrency (Celery's prefetch window, 4 x concurrency, plus one per "
                "thread), one burst per ~2 s event-heartbeat tick: Celery 5.2 does not wake "
                "its event loop when a thread finishes, so expect far below "
                "concurrency/duration tasks/s (bench/frameworks/celery/README.md)");
    if (run->prefetch > 1)
        tq_warn("celery: prefetch %d is not passed to Celery; its workers run Celery's "
                "default --prefetch-multiplier (4) (bench/frameworks/celery/README.md)",
                run->prefetch);
}

/* The pools tqbench runs Celery with (its option "pool"): the driver
 * refuses another before anything starts (fw_options_check), not a worker
 * that dies. */
static const char *const celery_pools[] = {"prefork", "threads", "solo", NULL};
static const struct fw_option_def celery_options[] = {
    {.name = "pool",
     .description = "Celery's worker pool (--pool): processes, threads, or the main process",
     .values = celery_pools,
     .default_value = CELERY_DEFAULT_POOL},
    {.name = NULL},
};

/* The run's pool, or NULL with err when it is not one of celery_pools (a
 * run the driver did not select, e.g. a test's). */
static const char *celery_pool(const struct fw_run *run, char *err, size_t errlen) {
    const char *pool = fw_option(run, "pool");
    if (!pool) return CELERY_DEFAULT_POOL;
    for (int i = 0; celery_pools[i]; i++)
        if (strcmp(pool, celery_pools[i]) == 0) return pool;
    snprintf(err, errlen, "celery: unsupported pool \"%s\" (prefork, threads or solo)", pool);
    return NULL;
}

static int celery_worker_argv(const struct fw_run *run, int index, const char *worker_id,
                              struct fw_argv *out, char *err, size_t errlen) {
    char dir[FW_PATH_MAX], node[TQ_NAME_MAX + 16];
    const char *pool = celery_pool(run, err, errlen);
    if (!pool) return -1;
    if (celery_dir(run, dir, sizeof dir) != 0 || celery_node_prefix(run, node, sizeof node) < 0) {
        snprintf(err, errlen, "celery: frameworks directory or run id too long");
        return -1;
    }
    if (index == 0) celery_warn(run, pool);
    /* solo runs one task at a time whatever -c says: say so in the heartbeat */
    int concurrency = strcmp(pool, "solo") == 0 ? 1 : (run->concurrency > 0 ? run->concurrency : 1);
    /* several queues (a multi-queue scenario): -Q takes them comma-separated */
    char queues[FW_ARG_LEN];
    int qlen = snprintf(queues, sizeof queues, "%s", run->queue);
    for (int i = 1; i < run->nqueues && qlen > 0 && (size_t)qlen < sizeof queues; i++)
        qlen += snprintf(queues + qlen, sizeof queues - (size_t)qlen, ",%s", run->queues[i]);
    if (qlen < 0 || (size_t)qlen >= sizeof queues) {
        snprintf(err, errlen, "celery: the queue list is longer than %d bytes", FW_ARG_LEN - 1);
        return -1;
    }
    fw_argv_reset(out);
    /* Celery's defaults but for mingle, which only delays start-up (~1 s
     * waiting for replies from other workers; the driver waits for the
     * heartbeats anyway). Not --prefetch-multiplier: tqbench's prefetch is
     * tqworker's batch size, and Celery's multiplier at 1, its nearest
     * value, stalls the solo pool after every task and the threads pool
     * after every window (kombu's loop checks the window before it runs the
     * acks Celery deferred, then sleeps; only prefork's result pipes wake
     * it at once).
     * Gossip and the event heartbeat stay on: the threads pool depends on
     * their wake-ups (README.md, "Celery behaviour measured here"). */
    if (fw_argv_add(out, err, errlen, CELERY_PYTHON) || fw_argv_add(out, err, errlen, "-m") ||
        fw_argv_add(out, err, errlen, "celery") || fw_argv_add(out, err, errlen, "-A") ||
        fw_argv_add(out, err, errlen, CELERY_MODULE) || fw_argv_add(out, err, errlen, "worker") ||
        fw_argv_add(out, err, errlen, "--pool") || fw_argv_add(out, err, errlen, "%s", pool) ||
        fw_argv_add(out, err, errlen, "--concurrency") ||
        fw_argv_add(out, err, errlen, "%d", concurrency) || fw_argv_add(out, err, errlen, "-Q") ||
        fw_argv_add(out, err, errlen, "%s", queues) ||
        fw_argv_add(out, err, errlen, "--hostname") ||
        fw_argv_add(out, err, errlen, "%s%d@%%h", node, index) ||
        fw_argv_add(out, err, errlen, "--without-mingle") ||
        fw_argv_add(out, err, errlen, "--loglevel") || fw_argv_add(out, err, errlen, "WARNING"))
        return -1;
    return celery_env(run, dir, worker_id, out, err, errlen);
}

static int celery_queue_key(const struct fw_run *run, char *buf, size_t n) {
    return tq_celery_list_key(buf, n, run->queue, 0);
}

static int celery_encode(const struct fw_run *run, const struct tq_task *t, char *buf, size_t cap) {
    return tq_celery_encode(t, run->queue, buf, cap);
}

/* The last line of path that starts with c (or the last non-empty line
 * when c is 0), into buf. */
static void file_last_line(const char *path, char c, char *buf, size_t n) {
    char line[4096];
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && (c == 0 || line[0] == c)) {
            size_t k = strnlen(line, n - 1); /* a longer line is cut: a message for humans */
            memcpy(buf, line, k);
            buf[k] = '\0';
        }
    }
    fclose(f);
}

static int celery_client_enqueue_rate(const struct fw_run *run, double *per_s, char *err,
                                      size_t errlen) {
    char dir[FW_PATH_MAX], script[FW_PATH_MAX + 32], queue[TQ_NAME_MAX], count[16];
    char out_path[] = "/tmp/tqbench-celery-client-XXXXXX";
    struct fw_argv env;
    if (celery_dir(run, dir, sizeof dir) != 0 || celery_client_queue(run, queue, sizeof queue) < 0) {
        snprintf(err, errlen, "celery client rate: frameworks directory or queue name too long");
        return -1;
    }
    snprintf(script, sizeof script, "%s/client_enqueue.py", dir);
    snprintf(count, sizeof count, "%d", CELERY_CLIENT_RATE_TASKS);
    fw_argv_reset(&env);
    if (celery_env(run, dir, NULL, &env, err, errlen) != 0) return -1;
    int fd = mkstemp(out_path);
    if (fd < 0) {
        snprintf(err, errlen, "celery client rate: cannot create %s", out_path);
        return -1;
    }
    close(fd);
    const char *argv[] = {CELERY_PYTHON, script, "--queue", queue, "--count", count, NULL};
    int status = fw_run_bounded(argv, env.env, out_path, CELERY_PYTHON_TIMEOUT_MS, err, errlen);
    int rc = -1;
    if (status > 0) {
        char st[64], last[512];
        tq_spawn_status_str(status, st, sizeof st);
        file_last_line(out_path, 0, last, sizeof last);
        snprintf(err, errlen, "celery client rate: %s %s: %s", script, st, last);
    } else if (status == 0) {
        char line[4096];
        file_last_line(out_path, '{', line, sizeof line);
        cJSON *j = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "per_s");
        if (cJSON_IsNumber(v) && v->valuedouble > 0) {
            *per_s = v->valuedouble;
            rc = 0;
        } else {
            snprintf(err, errlen, "celery client rate: no per_s in the output of %s", script);
        }
        cJSON_Delete(j);
    }
    unlink(out_path);
    return rc;
}

/* Deletes the entries of kombu's unacked hash and unacked_index zset whose
 * message was routed to queue. Those two keys are shared by every Celery
 * worker of the database, so only this queue's entries go. */
static void clean_unacked(redisContext *c, const char *queue) {
    char cursor[32] = "0", err[256];
    do {
        redisReply *r = tq_redis_command(c, err, sizeof err, "HSCAN unacked %s COUNT 500", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            if (r) freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *kv = r->element[1];
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            /* value: JSON [message, exchange, routing_key] */
            cJSON *entry = cJSON_ParseWithLength(kv->element[i + 1]->str, kv->element[i + 1]->len);
            const cJSON *rk = cJSON_GetArrayItem(entry, 2);
            if (cJSON_IsString(rk) && strcmp(rk->valuestring, queue) == 0) {
                const char *tag = kv->element[i]->str;
                size_t tag_len = kv->element[i]->len;
                redisReply *d =
                    tq_redis_command(c, err, sizeof err, "HDEL unacked %b", tag, tag_len);
                if (d) freeReplyObject(d);
                d = tq_redis_command(c, err, sizeof err, "ZREM unacked_index %b", tag,
                                     tag_len);
                if (d) freeReplyObject(d);
            }
            cJSON_Delete(entry);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

/* 1 when a pidbox binding member ("<key>\x06\x16<pattern>\x06\x16<queue>")
 * names the mailbox "<node><index>@<host>.celery.pidbox" of one of this
 * run's workers; the index and the '@' keep run "r1" from matching "r1-2". */
static int pidbox_member_is_runs(const char *member, const char *node) {
    const char *q = strrchr(member, '\x16');
    size_t n = strlen(node);
    if (!q || strncmp(q + 1, node, n) != 0) return 0;
    const char *p = q + 1 + n;
    const char *digits = p;
    while (*p >= '0' && *p <= '9') p++;
    return p > digits && *p == '@';
}

/* Removes the remote-control mailbox bindings of this run's workers
 * ("...\x06\x16<nodename>.celery.pidbox"), left behind when a worker is
 * killed before it could unbind; other workers' bindings stay. */
static void clean_pidbox(redisContext *c, const struct fw_run *run) {
    char node[TQ_NAME_MAX + 16], err[256];
    if (celery_node_prefix(run, node, sizeof node) < 0) return;
    redisReply *r = tq_redis_command(c, err, sizeof err, "SMEMBERS " CELERY_PIDBOX_BINDING);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r) freeReplyObject(r);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        if (pidbox_member_is_runs(m->str, node)) {
            redisReply *d = tq_redis_command(c, err, sizeof err,
                                             "SREM " CELERY_PIDBOX_BINDING " %b", m->str, m->len);
            if (d) freeReplyObject(d);
        }
    }
    freeReplyObject(r);
}

static void clean_queue(redisContext *c, const char *queue) {
    char keys[TQ_CELERY_LISTS][TQ_KEY_MAX], binding[TQ_KEY_MAX], err[256];
    for (int i = 0; i < TQ_CELERY_LISTS; i++)
        if (tq_celery_list_key(keys[i], sizeof keys[i], queue, i) < 0) return;
    snprintf(binding, sizeof binding, "_kombu.binding.%s", queue);
    redisReply *r = tq_redis_command(c, err, sizeof err, "DEL %s %b %b %b %s", keys[0], keys[1],
                                     strlen(keys[1]), keys[2], strlen(keys[2]), keys[3],
                                     strlen(keys[3]), binding);
    if (r) freeReplyObject(r);
    clean_unacked(c, queue);
}

static void celery_clean(const struct fw_run *run, redisContext *c) {
    char client_queue[TQ_NAME_MAX];
    if (!c) return;
    clean_queue(c, run->queue);
    for (int i = 1; i < run->nqueues; i++) clean_queue(c, run->queues[i]);
    if (celery_client_queue(run, client_queue, sizeof client_queue) >= 0)
        clean_queue(c, client_queue);
    clean_pidbox(c, run);
}

const struct tq_framework tq_framework_celery = {
    /* also the `protocol` of its workers' heartbeats (tqbench_hook.py writes it): --external
     * attaches only to heartbeats carrying it */
    .name = "celery",
    .description = "Celery 5 workers (/usr/bin/python3 -m celery worker), messages built in C",
    .available = celery_available,
    .worker_argv = celery_worker_argv,
    .queue_key = celery_queue_key,
    .encode = celery_encode,
    .client_enqueue_rate = celery_client_enqueue_rate,
    .clean = celery_clean,
    .caps = FW_CAP_ALL | FW_CAP_MULTI_QUEUE,
    .options = celery_options,
    .queue_order = "round robin: kombu's Redis transport (queue_order_strategy \"round_robin\", "
                   "its default) rotates the order of its BRPOP over the queues after each "
                   "message",
};
