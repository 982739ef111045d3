/* test_redis_wait.c - tq_redis_wait: replies on a context with a wait
 * attached are the same as hiredis's (single, pipelined, large, errors, a
 * password and db in the handshake), and a Redis that stops answering
 * (SIGSTOP) fails the call after timeout_ms, or as soon as give_up() says
 * so, with a message naming the server; the context is then broken, and a
 * new connection works once Redis is resumed. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_redis.h"
#include "tq_testutil.h"

static struct tq_test_redis srv;
static int stopped;

static void stop_server(void) {
    if (stopped) kill(srv.pid, SIGCONT);
    stopped = 0;
    tq_test_redis_stop(&srv, 1);
}

static redisContext *connect_wait(const char *url, struct tq_redis_wait *w) {
    struct tq_redis_url u;
    char err[512];
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), 0, "%s", err);
    redisContext *c = tq_redis_connect_wait(&u, w, err, sizeof err);
    cr_assert_not_null(c, "connect: %s", err);
    return c;
}

Test(redis_wait, replies_as_hiredis, .fini = stop_server) {
    cr_assert_eq(tq_test_redis_start(&srv, 0, "pw-1"), 0);
    char url[600];
    snprintf(url, sizeof url, "%s&db=3", srv.url); /* unix URL with ?password=...: add a db */
    struct tq_redis_wait w = {.timeout_ms = 2000};
    redisContext *c = connect_wait(strchr(srv.url, '?') ? url : srv.url, &w);
    cr_assert(strstr(w.where, "***") && !strstr(w.where, "pw-1"), "where: %s", w.where);
    char err[256];
    redisReply *r = tq_redis_command(c, err, sizeof err, "SET k %s", "v");
    cr_assert_not_null(r, "%s", err);
    freeReplyObject(r);
    /* a large reply, read over many poll slices */
    size_t big = 4u << 20;
    char *val = malloc(big);
    cr_assert_not_null(val);
    memset(val, 'x', big);
    r = tq_redis_command(c, err, sizeof err, "SET big %b", val, big);
    cr_assert_not_null(r, "%s", err);
    freeReplyObject(r);
    r = tq_redis_command(c, err, sizeof err, "GET big");
    cr_assert(r && r->type == REDIS_REPLY_STRING && r->len == big && memcmp(r->str, val, big) == 0);
    freeReplyObject(r);
    free(val);
    /* pipelined: replies in order */
    for (int i = 0; i < 100; i++) redisAppendCommand(c, "INCR n");
    for (int i = 0; i < 100; i++) {
        void *x = NULL;
        cr_assert_eq(tq_redis_get_reply(c, &x), REDIS_OK, "%s", c->errstr);
        redisReply *rep = x;
        cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
        cr_assert_eq(rep->integer, i + 1);
        freeReplyObject(rep);
    }
    /* an error reply is an error, and the connection stays usable */
    cr_assert_null(tq_redis_command(c, err, sizeof err, "LPUSH k x"));
    cr_assert(strstr(err, "LPUSH: WRONGTYPE"), "%s", err);
    const char *argv[] = {"GET", "k"};
    size_t lens[] = {3, 1};
    r = tq_redis_command_argv(c, err, sizeof err, 2, argv, lens);
    cr_assert(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "v") == 0, "%s", err);
    freeReplyObject(r);
    redisFree(c);
}

static int asked;

static const char *give_up_after_200ms(void *arg, int waited_ms) {
    (void)arg;
    asked++;
    return waited_ms >= 200 ? "told to" : NULL;
}

Test(redis_wait, stopped_redis_times_out_or_gives_up, .fini = stop_server) {
    cr_assert_eq(tq_test_redis_start(&srv, -1, NULL), 0);
    struct tq_redis_wait w = {.timeout_ms = 600};
    redisContext *c = connect_wait(srv.url, &w);
    cr_assert_eq(kill(srv.pid, SIGSTOP), 0);
    stopped = 1;
    char err[256];
    int64_t t0 = tq_test_now_ms();
    cr_assert_null(tq_redis_command(c, err, sizeof err, "PING"));
    int64_t took = tq_test_now_ms() - t0;
    cr_assert(took >= 550 && took < 3000, "timed out after %lld ms (timeout 600)", (long long)took);
    cr_assert(strstr(err, "PING: Redis at redis://127.0.0.1:") &&
                  strstr(err, "did not answer within 0.6 s"),
              "%s", err);
    /* broken now: fails at once, without waiting again */
    t0 = tq_test_now_ms();
    cr_assert_null(tq_redis_command(c, err, sizeof err, "PING"));
    cr_assert_lt(tq_test_now_ms() - t0, 100);
    redisFree(c);

    /* give_up ends the wait long before the timeout (the handshake's PING
     * already, Redis being stopped) */
    struct tq_redis_wait g = {.timeout_ms = 30000, .give_up = give_up_after_200ms};
    struct tq_redis_url u;
    cr_assert_eq(tq_redis_url_parse(srv.url, &u, err, sizeof err), 0);
    t0 = tq_test_now_ms();
    cr_assert_null(tq_redis_connect_wait(&u, &g, err, sizeof err));
    took = tq_test_now_ms() - t0;
    cr_assert(took >= 150 && took < 2000, "gave up after %lld ms", (long long)took);
    cr_assert(strstr(err, "PING failed: gave up waiting for Redis at") && strstr(err, "told to"),
              "%s", err);
    cr_assert_geq(asked, 2, "give_up was asked %d times in 200 ms", asked);

    /* resumed: a new connection works */
    kill(srv.pid, SIGCONT);
    stopped = 0;
    c = connect_wait(srv.url, &w);
    redisReply *r = tq_redis_command(c, err, sizeof err, "PING");
    cr_assert_not_null(r, "%s", err);
    freeReplyObject(r);
    redisFree(c);
}
