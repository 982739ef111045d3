/* tqpush.c - fills a native queue with N tasks at the broker's speed, for
 * benchmarks (scripts/bench-worker) and manual runs.
 *
 * Tasks are built with tq_task_encode (ids 0..N-1, the enqueue stamp taken
 * per task) and sent as multi-value LPUSH commands of --batch tasks with
 * --pipeline commands in flight, so a million tasks take about a second.
 * Prints one line: "pushed N tasks to KEY in S s (R tasks/s)".
 *
 * Open loop (--rate R, with --duration S and/or --tasks N; scripts/soak):
 * task i is scheduled at start + i/R and carries that scheduled time as its
 * enqueue stamp, so a producer that falls behind (a Redis stall) shows in
 * the tasks' latency instead of hiding it (coordinated omission). Due tasks
 * go out as one LPUSH per wake-up (at most --batch, one command in flight;
 * wake-ups at least 1 ms apart). A Redis error does not end the run: the
 * tasks of a command that failed and those that come due while Redis cannot
 * be reached are not pushed (never re-sent, so never duplicated), counted,
 * and the connection is retried every 100 ms. The line then adds
 * "not_pushed=M max_lag_ms=L" (L: how late the latest send was). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "tq_clock.h"
#include "tq_keys.h"
#include "tq_parse.h"
#include "tq_redis.h"
#include "tq_task.h"

struct config {
    const char *url;
    char prefix[TQ_NAME_MAX], queue[TQ_NAME_MAX], run[TQ_NAME_MAX];
    long long tasks;
    int kind;
    long long arg;
    int batch, pipeline, max_attempts;
    long pad;
    double rate, duration; /* open loop: tasks/s, seconds (0: off) */
};

static void usage(FILE *f) {
    fprintf(f,
            "Usage: tqpush --tasks N [--redis URL] [--queue NAME] [--prefix P] [--run ID]\n"
            "              [--kind noop|sleep|cpu|fail] [--arg N] [--max-attempts N]\n"
            "              [--pad BYTES]\n"
            "              [--batch N] [--pipeline N] [--rate R [--duration S]]\n"
            "Pushes N native tasks onto P:queue:NAME (defaults: --redis $TQ_REDIS_URL or\n"
            "%s, --queue default, --prefix tq, --run standalone, --kind noop,\n"
            "--arg 0, --max-attempts 1, --pad 0, --batch 1000 tasks per LPUSH,\n"
            "--pipeline 8 LPUSH commands in flight). Exit codes: 0 done, 1 Redis error,\n"
            "2 usage error.\n"
            "--rate R: open loop at R tasks/s for --duration S seconds (or --tasks N, the\n"
            "smaller when both), each task stamped with its scheduled time; once connected,\n"
            "Redis errors are counted (not_pushed=M) and the connection retried, exit 0.\n",
            TQ_REDIS_DEFAULT_URL);
}

static int parse_ll(const char *flag, const char *s, long long lo, long long hi, long long *out) {
    if (tq_parse_int(s, lo, hi, out) != 0) {
        fprintf(stderr, "tqpush: %s: expected an integer in %lld..%lld, got \"%s\"\n", flag, lo, hi,
                s);
        return -1;
    }
    return 0;
}

static int parse_name(const char *flag, const char *s, char *out) {
    if (!tq_name_valid(s)) {
        fprintf(stderr, "tqpush: %s: \"%s\" is not a valid name\n", flag, s);
        return -1;
    }
    snprintf(out, TQ_NAME_MAX, "%s", s);
    return 0;
}

static int parse_args(struct config *c, int argc, char **argv) {
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'r'},   {"queue", required_argument, NULL, 'q'},
        {"prefix", required_argument, NULL, 'p'},  {"run", required_argument, NULL, 'R'},
        {"tasks", required_argument, NULL, 'n'},   {"kind", required_argument, NULL, 'k'},
        {"arg", required_argument, NULL, 'a'},     {"batch", required_argument, NULL, 'b'},
        {"pipeline", required_argument, NULL, 'P'}, {"max-attempts", required_argument, NULL, 'm'},
        {"pad", required_argument, NULL, 'x'},     {"help", no_argument, NULL, 'h'},
        {"rate", required_argument, NULL, 'T'},    {"duration", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    memset(c, 0, sizeof *c);
    c->url = getenv("TQ_REDIS_URL");
    if (!c->url || !*c->url) c->url = TQ_REDIS_DEFAULT_URL;
    snprintf(c->prefix, sizeof c->prefix, "%s", TQ_DEFAULT_PREFIX);
    snprintf(c->queue, sizeof c->queue, "default");
    snprintf(c->run, sizeof c->run, "standalone");
    c->tasks = -1;
    c->batch = 1000;
    c->pipeline = 8;
    c->max_attempts = 1;
    long long v;
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        int rc = 0;
        switch (o) {
        case 'r': c->url = optarg; break;
        case 'q': rc = parse_name("--queue", optarg, c->queue); break;
        case 'p': rc = parse_name("--prefix", optarg, c->prefix); break;
        case 'R': rc = parse_name("--run", optarg, c->run); break;
        case 'n': rc = parse_ll("--tasks", optarg, 0, 1000000000000LL, &c->tasks); break;
        case 'a': rc = parse_ll("--arg", optarg, 0, 3600000000LL, &c->arg); break;
        case 'x': rc = parse_ll("--pad", optarg, 0, 1 << 20, &v); c->pad = (long)v; break;
        case 'b': rc = parse_ll("--batch", optarg, 1, 100000, &v); c->batch = (int)v; break;
        case 'P': rc = parse_ll("--pipeline", optarg, 1, 1024, &v); c->pipeline = (int)v; break;
        case 'm':
            rc = parse_ll("--max-attempts", optarg, 1, 1000000, &v);
            c->max_attempts = (int)v;
            break;
        case 'T':
        case 'D': {
            double d;
            double hi = o == 'T' ? 1e7 : 31536000.0;
            if (tq_parse_double(optarg, o == 'T' ? 1 : 0.001, hi, &d) != 0) {
                fprintf(stderr, "tqpush: %s: expected a number in %g..%g, got \"%s\"\n",
                        o == 'T' ? "--rate" : "--duration", o == 'T' ? 1.0 : 0.001, hi, optarg);
                rc = -1;
            } else if (o == 'T') {
                c->rate = d;
            } else {
                c->duration = d;
            }
            break;
        }
        case 'k':
            c->kind = tq_task_kind_parse(optarg);
            if (c->kind < 0) {
                fprintf(stderr, "tqpush: --kind: unknown kind \"%s\"\n", optarg);
                rc = -1;
            }
            break;
        case 'h': usage(stdout); exit(0);
        case ':': fprintf(stderr, "tqpush: %s: missing value\n", argv[optind - 1]); return -1;
        default: fprintf(stderr, "tqpush: unknown option \"%s\"\n", argv[optind - 1]); return -1;
        }
        if (rc != 0) return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "tqpush: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (c->duration > 0 && c->rate <= 0) {
        fprintf(stderr, "tqpush: --duration needs --rate\n");
        return -1;
    }
    if (c->rate > 0 && c->duration > 0) {
        long long n = (long long)(c->rate * c->duration + 0.5);
        if (c->tasks < 0 || n < c->tasks) c->tasks = n;
    }
    if (c->tasks < 0) {
        fprintf(stderr, "tqpush: --tasks is required (or --rate R --duration S)\n");
        return -1;
    }
    return 0;
}

/* Reads one pipelined reply; returns 0 or -1 (message printed). */
static int read_reply(redisContext *ctx, const char *safe) {
    redisReply *r = NULL;
    if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) {
        fprintf(stderr, "tqpush: %s: LPUSH: %s\n", safe, ctx->errstr[0] ? ctx->errstr : "no reply");
        return -1;
    }
    int ok = r->type != REDIS_REPLY_ERROR;
    if (!ok) fprintf(stderr, "tqpush: %s: LPUSH: %s\n", safe, r->str ? r->str : "error");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* The open loop (--rate): see the header comment. Returns 0. */
static int push_at_rate(const struct config *c, const struct tq_redis_url *u, const char *safe,
                        const char *key, redisContext *ctx, struct tq_task *t, char *buf,
                        size_t slot, const char **args, size_t *lens) {
    int64_t t0 = tq_clock_mono_us(), w0 = tq_clock_wall_us();
    double step_us = 1e6 / c->rate;
    long long sent = 0, pushed = 0, not_pushed = 0;
    int64_t max_lag = 0, next_connect = 0;
    int warned = 0;
    char err[512];
    while (sent < c->tasks) {
        int64_t now = tq_clock_mono_us();
        long long due = (long long)((double)(now - t0) / step_us) + 1;
        if (due > c->tasks) due = c->tasks;
        if (due <= sent) {
            int64_t next = t0 + (int64_t)((double)sent * step_us);
            int64_t wait = next - now < 1000 ? 1000 : next - now;
            struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        int n = due - sent < c->batch ? (int)(due - sent) : c->batch;
        int64_t lag = now - (t0 + (int64_t)((double)sent * step_us));
        if (lag > max_lag) max_lag = lag;
        if (!ctx && now >= next_connect) {
            ctx = tq_redis_connect(u, 200, err, sizeof err);
            next_connect = now + 100000;
            if (ctx && warned) fprintf(stderr, "tqpush: %s: reconnected\n", safe);
        }
        int ok = 0;
        if (ctx) {
            args[0] = "LPUSH";
            lens[0] = 5;
            args[1] = key;
            lens[1] = strlen(key);
            for (int i = 0; i < n; i++) {
                t->id = (uint64_t)(sent + i);
                t->enqueued_us = w0 + (int64_t)((double)(sent + i) * step_us);
                int len = tq_task_encode(t, buf + (size_t)i * slot, slot);
                if (len < 0) {
                    fprintf(stderr, "tqpush: cannot encode task %lld\n", sent + i);
                    return 1;
                }
                args[i + 2] = buf + (size_t)i * slot;
                lens[i + 2] = (size_t)len;
            }
            redisReply *r = redisCommandArgv(ctx, n + 2, args, lens);
            ok = r && r->type == REDIS_REPLY_INTEGER;
            if (!ok && !warned) {
                fprintf(stderr, "tqpush: %s: LPUSH: %s; counting tasks as not pushed and "
                        "reconnecting\n", safe,
                        r && r->str ? r->str : ctx->errstr[0] ? ctx->errstr : "no reply");
                warned = 1;
            }
            if (r) freeReplyObject(r);
            if (!ok) {
                redisFree(ctx);
                ctx = NULL;
                next_connect = now + 100000;
            }
        }
        if (ok) pushed += n;
        else not_pushed += n;
        sent += n;
    }
    double secs = (double)(tq_clock_mono_us() - t0) / 1e6;
    printf("pushed %lld tasks to %s in %.3f s (%.0f tasks/s) not_pushed=%lld max_lag_ms=%.1f\n",
           pushed, key, secs, secs > 0 ? (double)pushed / secs : 0.0, not_pushed,
           (double)max_lag / 1000.0);
    fflush(stdout);
    if (ctx) redisFree(ctx);
    return 0;
}

int main(int argc, char **argv) {
    struct config c;
    if (parse_args(&c, argc, argv) != 0) return 2;
    struct tq_redis_url u;
    char err[512], safe[768], key[TQ_KEY_MAX];
    if (tq_redis_url_parse(c.url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "tqpush: --redis: %s\n", err);
        return 2;
    }
    tq_redis_url_format_safe(&u, safe, sizeof safe);
    if (tq_key_queue(key, sizeof key, c.prefix, c.queue) < 0) {
        fprintf(stderr, "tqpush: queue key too long\n");
        return 2;
    }
    redisContext *ctx = tq_redis_connect(&u, 30000, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "tqpush: %s\n", err);
        return 1;
    }
    size_t slot = 256 + (size_t)c.pad;
    char *buf = malloc((size_t)c.batch * slot);
    const char **args = malloc(((size_t)c.batch + 2) * sizeof *args);
    size_t *lens = malloc(((size_t)c.batch + 2) * sizeof *lens);
    if (!buf || !args || !lens) {
        fprintf(stderr, "tqpush: out of memory\n");
        return 1;
    }
    struct tq_task t;
    memset(&t, 0, sizeof t);
    snprintf(t.run, sizeof t.run, "%s", c.run);
    t.kind = (enum tq_task_kind)c.kind;
    t.arg = c.arg;
    t.max_attempts = c.max_attempts;
    t.pad_len = (size_t)c.pad;

    if (c.rate > 0) {
        /* a Redis that goes away is a counted error here, not a SIGPIPE death */
        signal(SIGPIPE, SIG_IGN);
        int prc = push_at_rate(&c, &u, safe, key, ctx, &t, buf, slot, args, lens);
        free(buf);
        free(args);
        free(lens);
        return prc;
    }
    int rc = 0, inflight = 0;
    int64_t t0 = tq_clock_mono_us();
    for (long long sent = 0; sent < c.tasks && rc == 0;) {
        int n = c.tasks - sent < c.batch ? (int)(c.tasks - sent) : c.batch;
        args[0] = "LPUSH";
        lens[0] = 5;
        args[1] = key;
        lens[1] = strlen(key);
        for (int i = 0; i < n; i++) {
            t.id = (uint64_t)(sent + i);
            t.enqueued_us = tq_clock_wall_us();
            int len = tq_task_encode(&t, buf + (size_t)i * slot, slot);
            if (len < 0) {
                fprintf(stderr, "tqpush: cannot encode task %lld\n", sent + i);
                return 1;
            }
            args[i + 2] = buf + (size_t)i * slot;
            lens[i + 2] = (size_t)len;
        }
        if (redisAppendCommandArgv(ctx, n + 2, args, lens) != REDIS_OK) {
            fprintf(stderr, "tqpush: %s: %s\n", safe, ctx->errstr);
            rc = 1;
            break;
        }
        sent += n;
        if (++inflight >= c.pipeline) {
            if (read_reply(ctx, safe) != 0) rc = 1;
            inflight--;
        }
    }
    while (inflight-- > 0 && rc == 0)
        if (read_reply(ctx, safe) != 0) rc = 1;
    double secs = (double)(tq_clock_mono_us() - t0) / 1e6;
    if (rc == 0)
        printf("pushed %lld tasks to %s in %.3f s (%.0f tasks/s)\n", c.tasks, key, secs,
               secs > 0 ? (double)c.tasks / secs : 0.0);
    free(buf);
    free(args);
    free(lens);
    redisFree(ctx);
    return rc;
}
