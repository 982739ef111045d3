/* tqpush.c - fills a native queue with N tasks at the broker's speed, for
 * benchmarks (scripts/bench-worker) and manual runs: a command line over
 * tqbench's producer (producer.h), the one sender of pipelined batches.
 *
 * Tasks are built with the native adapter's encoding (ids 0..N-1, each
 * batch stamped with the time it was encoded) and sent
 * as multi-value LPUSH commands of --batch tasks with --pipeline commands in
 * flight, so a million tasks take well under a second. Prints one line:
 * "pushed N tasks to KEY in S s (R tasks/s)".
 *
 * Open loop (--rate R, with --duration S and/or --tasks N; scripts/soak):
 * task i is scheduled at start + i/R and carries that scheduled time (its
 * "sched" stamp, the latency origin), so a producer that falls behind (a
 * Redis stall) shows in the tasks' latency instead of hiding it
 * (coordinated omission). Due tasks go out as one LPUSH per wake-up (at
 * most --batch, one command in flight; wake-ups at least 1 ms apart). A
 * Redis error does not end the run (the producer's keep_going): the tasks
 * of a command that failed and those that come due while Redis cannot be
 * reached are not pushed (never re-sent, so never duplicated), counted, and
 * the connection is retried every 100 ms. The line then adds
 * "not_pushed=M max_lag_ms=L" (L: how late the latest send was). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "producer.h"
#include "tq_keys.h"
#include "tq_log.h"
#include "tq_parse.h"
#include "tq_redis.h"
#include "tq_task.h"

struct push_config {
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

static int parse_args(struct push_config *c, int argc, char **argv) {
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

/* 1 ms: the open loop's shortest wait, so a high rate goes out in batches
 * of a millisecond's tasks rather than one LPUSH per task */
#define TQPUSH_MIN_SLEEP_US 1000

int main(int argc, char **argv) {
    struct push_config c;
    if (parse_args(&c, argc, argv) != 0) return 2;
    tq_log_init("tqpush", TQ_LOG_WARN);
    /* a Redis that goes away is an error (counted, or exit 1), not a SIGPIPE death */
    signal(SIGPIPE, SIG_IGN);
    struct fw_run fr;
    memset(&fr, 0, sizeof fr);
    snprintf(fr.run_id, sizeof fr.run_id, "%s", c.run);
    snprintf(fr.prefix, sizeof fr.prefix, "%s", c.prefix);
    snprintf(fr.queue, sizeof fr.queue, "%s", c.queue);
    const struct fw_mix_entry mix = {.kind = (enum tq_task_kind)c.kind, .arg = c.arg,
                                     .max_attempts = c.max_attempts, .weight = 1};
    struct producer p;
    producer_init(&p);
    char err[512], safe[768];
    if (tq_redis_url_parse(c.url, &p.url, err, sizeof err) != 0) {
        fprintf(stderr, "tqpush: --redis: %s\n", err);
        return 2;
    }
    tq_redis_url_format_safe(&p.url, safe, sizeof safe);
    if (tq_framework_native.queue_key(&fr, p.list_key, sizeof p.list_key) < 0) {
        fprintf(stderr, "tqpush: queue key too long\n");
        return 2;
    }
    p.fw = &tq_framework_native;
    p.run = &fr;
    snprintf(p.task_run, sizeof p.task_run, "%s", c.run);
    p.tasks = (long)c.tasks;
    p.mix = &mix;
    p.mix_len = 1;
    p.pad_len = (size_t)c.pad;
    p.batch = c.batch;
    /* --pipeline N: N commands written before the oldest reply is read */
    p.depth = c.pipeline - 1;
    p.rate = c.rate;
    p.keep_going = 1; /* the open loop's; the closed loop fails on an error */
    p.min_sleep_us = TQPUSH_MIN_SLEEP_US;

    if (producer_run(&p) != 0) {
        /* a connection error names the URL already */
        if (strstr(p.err, safe)) fprintf(stderr, "tqpush: %s\n", p.err);
        else fprintf(stderr, "tqpush: %s: %s\n", safe, p.err);
        return 1;
    }
    double secs = (double)(p.end_mono_us - p.start_mono_us) / 1e6;
    double per_s = secs > 0 ? (double)p.sent / secs : 0.0;
    if (c.rate > 0)
        printf("pushed %ld tasks to %s in %.3f s (%.0f tasks/s) not_pushed=%ld max_lag_ms=%.1f\n",
               p.sent, p.list_key, secs, per_s, p.not_pushed, (double)p.max_lag_us / 1000.0);
    else
        printf("pushed %ld tasks to %s in %.3f s (%.0f tasks/s)\n", p.sent, p.list_key, secs,
               per_s);
    return 0;
}
