/* config.c - tqworker's command line (and TQ_REDIS_URL) into struct config.
 * Every rejected value is reported with the flag it came from; the caller
 * exits 2. --help documents every option, default, variable and exit code. */
#include "worker.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_parse.h"

#define DEFAULT_QUEUE "default"
#define DEFAULT_RUN "standalone"

enum {
    OPT_REDIS = 1000, OPT_QUEUE, OPT_CONCURRENCY, OPT_PREFETCH, OPT_HEARTBEAT, OPT_PREFIX,
    OPT_ID, OPT_PROTOCOL, OPT_RUN, OPT_BRPOP_TIMEOUT, OPT_MAX_PAYLOAD, OPT_LOG_LEVEL, OPT_HELP,
    OPT_VERSION, OPT_RELIABLE, OPT_TRACE
};

static const struct option long_options[] = {
    {"redis", required_argument, NULL, OPT_REDIS},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"prefetch", required_argument, NULL, OPT_PREFETCH},
    {"heartbeat-interval", required_argument, NULL, OPT_HEARTBEAT},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"id", required_argument, NULL, OPT_ID},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"run", required_argument, NULL, OPT_RUN},
    {"brpop-timeout", required_argument, NULL, OPT_BRPOP_TIMEOUT},
    {"max-payload-bytes", required_argument, NULL, OPT_MAX_PAYLOAD},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"reliable", no_argument, NULL, OPT_RELIABLE},
    {"trace", no_argument, NULL, OPT_TRACE},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f) {
    char protocols[256] = "";
    for (int i = 0; tq_protocols[i]; i++) {
        size_t n = strlen(protocols);
        snprintf(protocols + n, sizeof protocols - n, "%s%s", i ? ", " : "", tq_protocols[i]->name);
    }
    fprintf(f,
"Usage: tqworker [OPTIONS]\n"
"\n"
"tqbench's C noop worker. Pops tasks from Redis lists (BRPOP), runs them\n"
"(noop, sleep, cpu, fail) with ignore-result semantics, and records per-run\n"
"counters and latency histograms plus a heartbeat with TTL in Redis.\n"
"\n"
"Options:\n"
"  --redis URL               Redis to use (default: $TQ_REDIS_URL, else\n"
"                            " TQ_REDIS_DEFAULT_URL ").\n"
"                            redis://[user:password@]host[:port][/db],\n"
"                            redis://:password@host, unix:///path.sock[?db=N]\n"
"  --queue NAME[,NAME...]    queues to consume, highest priority first\n"
"                            (default: " DEFAULT_QUEUE "; at most %d)\n"
"  --concurrency N           consumer connections = tasks in flight\n"
"                            (default: 10; 1..%d)\n"
"  --prefetch N              tasks taken per round trip: a BRPOP, then up to\n"
"                            N-1 more with RPOP key count (Redis >= 6.2)\n"
"                            (default: 1; 1..%d)\n"
"  --heartbeat-interval S    seconds between heartbeats; the heartbeat's TTL\n"
"                            is 3 intervals (default: 1; %g..%g)\n"
"  --prefix P                key prefix (default: " TQ_DEFAULT_PREFIX ")\n"
"  --id ID                   worker id (default: <hostname>-<pid>); the id\n"
"                            of a live worker is refused (exit 2)\n"
"  --protocol NAME           wire format: %s (default: native)\n"
"  --reliable                native protocol, one queue: every task taken\n"
"                            stays in a processing list of this worker id\n"
"                            until it is counted; a restart with the same\n"
"                            --id puts back what a killed worker held\n"
"                            (at-least-once)\n"
"  --trace                   also RPUSH each completed task's\n"
"                            \"origin_us,started_us,done_us\" to\n"
"                            P:run:<run>:trace with the flush that counts it\n"
"                            (tqbench: a burst run's per-task recovery)\n"
"  --run ID                  run id for tasks that carry none\n"
"                            (default: " DEFAULT_RUN ")\n"
"  --brpop-timeout S         BRPOP timeout in seconds; bounds how long a\n"
"                            graceful shutdown waits for pops (default: 1;\n"
"                            %g..%g)\n"
"  --max-payload-bytes N     largest payload run; a larger one is counted\n"
"                            failed without being decoded or kept\n"
"                            (default: %u = 4 MiB; 1..%u)\n"
"  --log-level LEVEL         debug, info, warn (or warning), error or off,\n"
"                            any case (default: info)\n"
"  --help                    print this help and exit\n"
"  --version                 print \"tqworker VERSION\" and exit\n"
"\n"
"Names (queue, prefix, id, run) are 1..%d bytes of [A-Za-z0-9._@-].\n"
"\n"
"Environment:\n"
"  TQ_REDIS_URL              the Redis URL when --redis is absent\n"
"\n"
"Signals:\n"
"  SIGTERM, SIGINT           stop popping, finish in-flight and prefetched\n"
"                            tasks, flush counters, remove the heartbeat, exit\n"
"  a second SIGTERM/SIGINT   hand unstarted and running tasks back to their\n"
"                            list (RPUSH), flush counters at once, exit\n"
"  A lost Redis connection never ends the worker: it reconnects with capped\n"
"  backoff (%d ms .. %d ms), also when Redis is unreachable at start.\n"
"\n"
"Exit codes:\n"
"  0        clean shutdown\n"
"  1        runtime failure (out of memory, or the final flush could not\n"
"           reach Redis within %d s of the shutdown)\n"
"  2        usage or configuration error, or --id held by a live worker\n"
"           (at start; or taken by another worker while this one ran)\n"
"  128+N    forced shutdown by a second signal N (130 SIGINT, 143 SIGTERM)\n",
            TQ_WORKER_QUEUES_MAX, TQ_WORKER_CONCURRENCY_MAX, TQ_WORKER_PREFETCH_MAX,
            TQ_WORKER_HEARTBEAT_S_MIN, (double)TQ_WORKER_HEARTBEAT_S_MAX, protocols,
            TQ_WORKER_BRPOP_TIMEOUT_S_MIN, (double)TQ_WORKER_BRPOP_TIMEOUT_S_MAX,
            TQ_WORKER_PAYLOAD_DEFAULT, TQ_WORKER_PAYLOAD_MAX, TQ_NAME_MAX - 1,
            WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS, WORKER_SHUTDOWN_FLUSH_MS / 1000);
}

static int parse_int(const char *flag, const char *s, long lo, long hi, int *out, char *err,
                     size_t errlen) {
    long long v;
    if (tq_parse_int(s, lo, hi, &v) != 0) {
        snprintf(err, errlen, "%s: expected an integer in %ld..%ld, got \"%s\"", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Seconds (decimals allowed) into milliseconds. */
static int parse_seconds(const char *flag, const char *s, double lo, double hi, int64_t *ms,
                         char *err, size_t errlen) {
    double v;
    if (tq_parse_double(s, lo, hi, &v) != 0) {
        snprintf(err, errlen, "%s: expected seconds in %g..%g, got \"%s\"", flag, lo, hi, s);
        return -1;
    }
    *ms = llround(v * 1000.0);
    return 0;
}

static int parse_name(const char *flag, const char *s, char *out, char *err, size_t errlen) {
    if (!tq_name_valid(s)) {
        snprintf(err, errlen, "%s: \"%s\" is not a valid name (1..%d bytes of [A-Za-z0-9._@-])",
                 flag, s, TQ_NAME_MAX - 1);
        return -1;
    }
    snprintf(out, TQ_NAME_MAX, "%s", s);
    return 0;
}

static int parse_queues(struct config *cfg, const char *s, char *err, size_t errlen) {
    cfg->nqueues = 0;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ",");
        char name[TQ_NAME_MAX];
        if (n == 0 || n >= sizeof name) {
            snprintf(err, errlen, "--queue: empty or too long queue name in \"%s\"", s);
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (cfg->nqueues == TQ_WORKER_QUEUES_MAX) {
            snprintf(err, errlen, "--queue: more than %d queues", TQ_WORKER_QUEUES_MAX);
            return -1;
        }
        if (parse_name("--queue", name, cfg->queues[cfg->nqueues], err, errlen) != 0) return -1;
        for (int i = 0; i < cfg->nqueues; i++) {
            if (strcmp(cfg->queues[i], name) == 0) {
                snprintf(err, errlen, "--queue: queue \"%s\" listed twice", name);
                return -1;
            }
        }
        cfg->nqueues++;
        if (!p[n]) break;
        p += n + 1;
    }
    return 0;
}

/* <hostname>-<pid>, with anything tq_name_valid refuses replaced by '-'. */
static void default_id(char *out, size_t len) {
    char host[64];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok) *p = '-';
    }
    snprintf(out, len, "%s-%d", host, (int)getpid());
}

int config_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    const char *url = NULL;
    const char *url_source = "--redis";
    cfg->concurrency = 10;
    cfg->prefetch = 1;
    cfg->heartbeat_ms = 1000;
    cfg->brpop_timeout_ms = 1000;
    cfg->max_payload = TQ_WORKER_PAYLOAD_DEFAULT;
    cfg->protocol = &tq_protocol_native;
    cfg->log_level = TQ_LOG_INFO;
    snprintf(cfg->prefix, sizeof cfg->prefix, "%s", TQ_DEFAULT_PREFIX);
    snprintf(cfg->run, sizeof cfg->run, "%s", DEFAULT_RUN);
    snprintf(cfg->queues[0], sizeof cfg->queues[0], "%s", DEFAULT_QUEUE);
    cfg->nqueues = 1;
    default_id(cfg->id, sizeof cfg->id);

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case OPT_REDIS: url = optarg; break;
        case OPT_QUEUE: rc = parse_queues(cfg, optarg, err, errlen); break;
        case OPT_CONCURRENCY:
            rc = parse_int("--concurrency", optarg, 1, TQ_WORKER_CONCURRENCY_MAX,
                           &cfg->concurrency, err, errlen);
            break;
        case OPT_PREFETCH:
            rc = parse_int("--prefetch", optarg, 1, TQ_WORKER_PREFETCH_MAX, &cfg->prefetch, err,
                           errlen);
            break;
        case OPT_HEARTBEAT:
            rc = parse_seconds("--heartbeat-interval", optarg, TQ_WORKER_HEARTBEAT_S_MIN,
                               TQ_WORKER_HEARTBEAT_S_MAX, &cfg->heartbeat_ms, err, errlen);
            break;
        case OPT_PREFIX: rc = parse_name("--prefix", optarg, cfg->prefix, err, errlen); break;
        case OPT_ID: rc = parse_name("--id", optarg, cfg->id, err, errlen); break;
        case OPT_RUN: rc = parse_name("--run", optarg, cfg->run, err, errlen); break;
        case OPT_PROTOCOL:
            cfg->protocol = tq_protocol_find(optarg);
            if (!cfg->protocol) {
                snprintf(err, errlen, "--protocol: unknown protocol \"%s\" (see --help)", optarg);
                rc = -1;
            }
            break;
        case OPT_BRPOP_TIMEOUT:
            rc = parse_seconds("--brpop-timeout", optarg, TQ_WORKER_BRPOP_TIMEOUT_S_MIN,
                               TQ_WORKER_BRPOP_TIMEOUT_S_MAX, &cfg->brpop_timeout_ms, err, errlen);
            break;
        case OPT_MAX_PAYLOAD: {
            int v;
            rc = parse_int("--max-payload-bytes", optarg, 1, TQ_WORKER_PAYLOAD_MAX, &v, err,
                           errlen);
            if (rc == 0) cfg->max_payload = (size_t)v;
            break;
        }
        case OPT_LOG_LEVEL: {
            int level = tq_log_level_parse(optarg);
            if (level < 0 || level == TQ_LOG_OFF) {
                snprintf(err, errlen,
                         "--log-level: expected debug, info, warn, error or off, got \"%s\"", optarg);
                rc = -1;
            } else {
                cfg->log_level = (enum tq_log_level)level;
            }
            break;
        }
        case OPT_RELIABLE: cfg->reliable = 1; break;
        case OPT_TRACE: cfg->trace = 1; break;
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION: printf("tqworker %s\n", TQ_VERSION); return 1;
        case ':':
            snprintf(err, errlen, "%s: missing value", argv[optind - 1]);
            return -1;
        default:
            if (optopt) snprintf(err, errlen, "unknown option \"-%c\"", optopt);
            else snprintf(err, errlen, "unknown option \"%s\"", argv[optind - 1]);
            return -1;
        }
        if (rc != 0) return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument \"%s\" (options start with --)", argv[optind]);
        return -1;
    }

    if (cfg->reliable && (cfg->protocol != &tq_protocol_native || cfg->nqueues != 1)) {
        snprintf(err, errlen, "--reliable: needs --protocol native and one --queue (got %s, %d "
                 "queues): the processing lists are requeued onto that one queue",
                 cfg->protocol->name, cfg->nqueues);
        return -1;
    }

    if (!url) {
        url = getenv("TQ_REDIS_URL");
        url_source = "TQ_REDIS_URL";
        if (!url || !*url) url = TQ_REDIS_DEFAULT_URL;
    }
    char uerr[256];
    if (tq_redis_url_parse(url, &cfg->redis, uerr, sizeof uerr) != 0) {
        snprintf(err, errlen, "%s: %s", url_source, uerr);
        return -1;
    }
    tq_redis_url_format_safe(&cfg->redis, cfg->redis_safe, sizeof cfg->redis_safe);

    size_t pos = 0;
    for (int i = 0; i < cfg->nqueues; i++)
        pos += (size_t)snprintf(cfg->queues_csv + pos, sizeof cfg->queues_csv - pos, "%s%s",
                                i ? "," : "", cfg->queues[i]);
    return 0;
}
