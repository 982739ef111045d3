/* bench.c - the state one `tqbench run` invocation shares between its runs
 * (see bench.h): which Redis they use, the control connection, the CPUs each
 * role gets.
 *
 * main.c parses the command line and drives the invocation; run.c runs one
 * (scenario, framework, repeat) and calls back into these helpers, which is
 * why they live here, in the library tqbench and the tests link, and not in
 * the CLI file. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

/* fw_run.redis_url, the URL every worker gets in its argv or environment,
 * holds FW_ARG_LEN bytes; the parser refuses URLs that do not fit in
 * TQ_REDIS_URL_MAX once written back, so one that parsed always fits. */
_Static_assert(FW_ARG_LEN >= TQ_REDIS_URL_MAX, "a parsed Redis URL must fit in a worker's argument");

int bench_set_redis(struct bench *b, const struct tq_redis_url *u, char *err, size_t errlen) {
    char full[FW_ARG_LEN];
    /* The URL with its password goes to children only: one that would be cut
     * short there (a long password, percent-encoded) is refused here, before
     * anything starts, rather than starting workers that cannot log in. */
    int len = tq_redis_url_format(u, full, sizeof full);
    explicit_bzero(full, sizeof full); /* the password: not left on the stack */
    if (len < 0) {
        snprintf(err, errlen,
                 "the Redis URL is too long to hand to a worker (at most %d bytes once written "
                 "back with the password percent-encoded)",
                 FW_ARG_LEN - 1);
        return -1;
    }
    b->url = *u;
    tq_redis_url_format_safe(&b->url, b->url_safe, sizeof b->url_safe);
    return 0;
}

int bench_connect(struct bench *b, char *err, size_t errlen) {
    if (b->c && !b->c->err) return 0;
    if (b->c) redisFree(b->c);
    char cerr[512];
    /* every call bounded, and cut short after Ctrl-C (evloop_give_up) */
    b->wait.timeout_ms = BENCH_REDIS_TIMEOUT_MS;
    b->wait.give_up = evloop_give_up;
    b->wait.arg = &b->ev;
    b->c = tq_redis_connect_wait(&b->url, &b->wait, cerr, sizeof cerr);
    if (!b->c) {
        /* cerr starts with the URL (safe form) */
        snprintf(err, errlen, "cannot connect to Redis %s", cerr);
        return -1;
    }
    cmd_count_connect(&b->cmds, &b->url);
    return 0;
}

const cpu_set_t *bench_cpus(const struct bench *b, const struct config_pin *pin) {
    return pin->set ? &pin->cpus : &b->cpus_start;
}
