/* test_redis_connect.c - tq_redis_connect / tq_redis_connect_async against a
 * real redis-server started by the test (tq_testutil), over TCP and a unix
 * socket, with and without requirepass. Errors must name the URL and never
 * the password. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <hiredis/adapters/libuv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "tq_log.h"
#include "tq_redis.h"
#include "tq_testutil.h"

#define PW "Pw-9f3a1c"
#define WRONG_PW "Wrong-77b2e"

static struct tq_test_redis srv;

static void stop_server(void) {
    tq_test_redis_stop(&srv, 1);
}

static void start_server(int port, const char *password) {
    cr_assert_eq(tq_test_redis_start(&srv, port, password), 0, "redis-server did not start");
}

static redisContext *connect_url(const char *url, char *err, size_t errlen) {
    struct tq_redis_url u;
    cr_assert_eq(tq_redis_url_parse(url, &u, err, errlen), 0, "%s: %s", url, err);
    return tq_redis_connect(&u, 2000, err, errlen);
}

static void assert_ping(redisContext *c) {
    char err[256];
    redisReply *r = tq_redis_command(c, err, sizeof err, "PING");
    cr_assert_not_null(r, "PING: %s", err);
    cr_assert_eq(r->type, REDIS_REPLY_STATUS);
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
}

/* The fixture's URL with the password swapped for another one (or none). */
static void url_with_password(char *buf, size_t len, const char *password) {
    if (srv.socket[0])
        snprintf(buf, len, "unix://%s%s%s", srv.socket, password ? "?password=" : "",
                 password ? password : "");
    else
        snprintf(buf, len, "redis://%s%s%s127.0.0.1:%d/0", password ? ":" : "",
                 password ? password : "", password ? "@" : "", srv.port);
}

static void check_plain(void) {
    char err[512] = "";
    redisContext *c = connect_url(srv.url, err, sizeof err);
    cr_assert_not_null(c, "%s: %s", srv.url, err);
    assert_ping(c);
    redisFree(c);
}

static void check_password(void) {
    char err[512] = "", url[600];
    redisContext *c = connect_url(srv.url, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    assert_ping(c);
    redisFree(c);

    url_with_password(url, sizeof url, WRONG_PW);
    c = connect_url(url, err, sizeof err);
    cr_assert_null(c, "connected with a wrong password");
    cr_assert_not_null(strstr(err, "AUTH failed"), "%s", err);
    cr_assert_not_null(strstr(err, "***"), "err should name the URL: %s", err);
    cr_assert_null(strstr(err, WRONG_PW), "err shows the password: %s", err);
    cr_assert_null(strstr(err, PW), "err shows the password: %s", err);

    url_with_password(url, sizeof url, NULL);
    c = connect_url(url, err, sizeof err);
    cr_assert_null(c, "connected without the password");
    cr_assert_not_null(strstr(err, "NOAUTH"), "%s", err);
}

Test(redis_connect, tcp_plain, .fini = stop_server) {
    start_server(-1, NULL);
    check_plain();
}

Test(redis_connect, unix_plain, .fini = stop_server) {
    start_server(0, NULL);
    check_plain();
}

Test(redis_connect, tcp_password, .fini = stop_server) {
    start_server(-1, PW);
    check_password();
}

Test(redis_connect, unix_password, .fini = stop_server) {
    start_server(0, PW);
    check_password();
}

Test(redis_connect, user_and_password, .fini = stop_server) {
    start_server(-1, PW);
    char url[600], err[512] = "";
    snprintf(url, sizeof url, "redis://default:%s@127.0.0.1:%d", PW, srv.port);
    redisContext *c = connect_url(url, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    assert_ping(c);
    redisFree(c);
    snprintf(url, sizeof url, "redis://nobody:%s@127.0.0.1:%d", PW, srv.port);
    c = connect_url(url, err, sizeof err);
    cr_assert_null(c);
    cr_assert_not_null(strstr(err, "AUTH failed: WRONGPASS"), "%s", err);
    cr_assert_null(strstr(err, PW), "%s", err);
}

Test(redis_connect, select_db, .fini = stop_server) {
    start_server(0, PW);
    char url[600], err[512] = "";
    snprintf(url, sizeof url, "unix://%s?db=5&password=%s", srv.socket, PW);
    redisContext *c = connect_url(url, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    redisReply *r = tq_redis_command(c, err, sizeof err, "SET %s %s", "k", "in-db-5");
    cr_assert_not_null(r, "%s", err);
    freeReplyObject(r);
    redisFree(c);

    redisContext *check = tq_test_redis_connect(&srv);
    cr_assert_not_null(check);
    cr_assert_eq(tq_test_redis_int(check, "EXISTS k"), 0, "written to db 0");
    freeReplyObject(redisCommand(check, "SELECT 5"));
    cr_assert_eq(tq_test_redis_int(check, "EXISTS k"), 1, "not written to db 5");
    redisFree(check);

    snprintf(url, sizeof url, "unix://%s?db=999&password=%s", srv.socket, PW);
    c = connect_url(url, err, sizeof err);
    cr_assert_null(c);
    cr_assert_not_null(strstr(err, "SELECT 999 failed"), "%s", err);
    cr_assert_null(strstr(err, PW), "%s", err);
}

Test(redis_connect, refused_names_url_not_password) {
    /* A port nobody listens on: start a server for a free port, stop it. */
    start_server(-1, NULL);
    int port = srv.port;
    tq_test_redis_stop(&srv, 1);
    char url[600], err[512] = "";
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/0", PW, port);
    redisContext *c = connect_url(url, err, sizeof err);
    cr_assert_null(c);
    char want[128];
    snprintf(want, sizeof want, "redis://:***@127.0.0.1:%d/0: ", port);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, "refused"), "%s", err);
    cr_assert_null(strstr(err, PW), "%s", err);

    c = connect_url("unix:///nonexistent-dir-tq/redis.sock", err, sizeof err);
    cr_assert_null(c);
    cr_assert_not_null(strstr(err, "unix:///nonexistent-dir-tq/redis.sock: "), "%s", err);
}

Test(redis_connect, command_errors_name_the_command, .fini = stop_server) {
    start_server(0, NULL);
    char err[512] = "";
    redisContext *c = connect_url(srv.url, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    redisReply *r = tq_redis_command(c, err, sizeof err, "SET %s %s", "str", "v");
    cr_assert_not_null(r, "%s", err);
    freeReplyObject(r);
    r = tq_redis_command(c, err, sizeof err, "LPUSH %s %s", "str", "x");
    cr_assert_null(r);
    cr_assert_eq(strncmp(err, "LPUSH: WRONGTYPE", 16), 0, "%s", err);
    r = tq_redis_command(c, err, sizeof err, "NOSUCHCMD");
    cr_assert_null(r);
    cr_assert_eq(strncmp(err, "NOSUCHCMD: ERR", 14), 0, "%s", err);
    redisFree(c);
}

/* ---- async ---------------------------------------------------------------- */

struct async_result {
    int done;
    int type;
    char str[256];
};

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    struct async_result *res = privdata;
    redisReply *r = reply;
    res->done = 1;
    res->type = r ? r->type : -1;
    snprintf(res->str, sizeof res->str, "%s", r && r->str ? r->str : "");
    redisAsyncDisconnect(ac);
}

/* Runs "SET k v" then GET on a fresh async connection to url; returns the
 * GET reply (or the SET error) in res. */
static void async_set(const char *url, struct async_result *res) {
    struct tq_redis_url u;
    char err[512];
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), 0, "%s", err);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    redisAsyncContext *ac = tq_redis_connect_async(&u, NULL, err, sizeof err);
    cr_assert_not_null(ac, "%s", err);
    cr_assert_eq(redisLibuvAttach(ac, &loop), REDIS_OK);
    memset(res, 0, sizeof *res);
    cr_assert_eq(redisAsyncCommand(ac, on_reply, res, "SET %s %s", "ak", "async"), REDIS_OK);
    int64_t deadline = tq_test_now_ms() + 5000;
    while (!res->done && tq_test_now_ms() < deadline) uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT); /* let the disconnect finish and handles close */
    cr_assert(res->done, "no reply within 5 s");
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* Captures what the library logs to stderr while fn runs. */
static void capture_stderr(char *buf, size_t len, void (*fn)(const char *, struct async_result *),
                           const char *url, struct async_result *res) {
    char path[] = "/tmp/tq-unit-stderr-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(url, res);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

Test(redis_connect, async_auth_and_select, .fini = stop_server) {
    start_server(-1, PW);
    struct async_result res;
    char url[600];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/3", PW, srv.port);
    async_set(url, &res);
    cr_assert_eq(res.type, REDIS_REPLY_STATUS, "SET failed: %s", res.str);
    redisContext *check = tq_test_redis_connect(&srv);
    cr_assert_not_null(check);
    cr_assert_eq(tq_test_redis_int(check, "EXISTS ak"), 0, "written to db 0");
    freeReplyObject(redisCommand(check, "SELECT 3"));
    cr_assert_eq(tq_test_redis_int(check, "EXISTS ak"), 1, "not written to db 3");
    redisFree(check);
}

Test(redis_connect, async_unix_plain, .fini = stop_server) {
    start_server(0, NULL);
    struct async_result res;
    async_set(srv.url, &res);
    cr_assert_eq(res.type, REDIS_REPLY_STATUS, "SET failed: %s", res.str);
}

Test(redis_connect, async_wrong_password_is_logged_without_it, .fini = stop_server) {
    start_server(0, PW);
    tq_log_init("unit_redis_connect", TQ_LOG_INFO);
    char url[600], log[4096];
    snprintf(url, sizeof url, "unix://%s?password=%s", srv.socket, WRONG_PW);
    struct async_result res;
    capture_stderr(log, sizeof log, async_set, url, &res);
    cr_assert_eq(res.type, REDIS_REPLY_ERROR, "SET ran unauthenticated");
    cr_assert_not_null(strstr(log, "AUTH failed"), "log: %s", log);
    cr_assert_not_null(strstr(log, "ERROR"), "log: %s", log);
    cr_assert_null(strstr(log, WRONG_PW), "log shows the password: %s", log);
}

Test(redis_connect, async_refused_is_an_error_or_a_failed_reply) {
    /* hiredis may report a refused TCP connect at once or on the loop; either
     * way the command must fail, never hang. */
    start_server(0, NULL);
    char url[600];
    snprintf(url, sizeof url, "unix://%s", srv.socket);
    tq_test_redis_stop(&srv, 1);
    struct tq_redis_url u;
    char err[512];
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), 0);
    redisAsyncContext *ac = tq_redis_connect_async(&u, NULL, err, sizeof err);
    cr_assert_null(ac, "connect to a removed socket succeeded");
    cr_assert_not_null(strstr(err, url), "%s", err);
}
