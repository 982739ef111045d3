/* tq_redis.h - Redis URLs and connections.
 *
 * Accepted URLs:
 *   redis://[user:password@]host[:port][/db]
 *   redis://:password@host[:port][/db]      (password alone)
 *   unix:///path/to.sock[?db=N][&password=P]   (also unix://user:pass@/path)
 * host may be an IPv6 literal in brackets. Default port 6379, db 0; "/" alone
 * is db 0. redis:// URLs take the same ?db=N&password=P query (db at most
 * once, password at most once). user and password are percent-decoded (a '%'
 * not followed by two hex digits stays as is) and the credentials end at the
 * last '@' (for unix://, the last "@/"), so "p@ss" needs no escaping; a user
 * without a password is an error. rediss:// (TLS) is refused: hiredis 0.14
 * has no TLS. The password never appears in logs or error strings: format
 * URLs for humans with tq_redis_url_format_safe(). */
#ifndef TQ_REDIS_H
#define TQ_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "tq_log.h"

#define TQ_REDIS_DEFAULT_URL "redis://127.0.0.1:6379/0"
/* The longest URL, NUL included, tq_redis_url_format writes for a parsed
 * struct: tq_redis_url_parse refuses a URL whose parts (a long user and
 * password, percent-encoded) would make it longer, so a buffer this size
 * always holds it (a worker's argument, FW_ARG_LEN, is at least this). */
#define TQ_REDIS_URL_MAX 1024

struct tq_redis_url {
    int is_unix;            /* 1: path is set; 0: host and port are set */
    char host[256];
    int port;
    char path[256];
    char user[128];         /* "" when absent */
    char password[256];     /* "" when absent */
    int db;
};

/* Parses url into *u. Returns 0, or -1 with a message in err naming what was
 * wrong; *u is unchanged then. err never quotes the URL's text (a mistyped
 * URL can hold the password anywhere), only the scheme and numbers. A URL
 * that tq_redis_url_format would write back in more than TQ_REDIS_URL_MAX-1
 * bytes is refused ("too long once written back"). */
int tq_redis_url_parse(const char *url, struct tq_redis_url *u, char *err, size_t errlen);
/* Writes the URL with the password replaced by "***" (safe for logs/JSON),
 * always with port and db for redis://: "redis://:***@127.0.0.1:6379/0",
 * "unix:///run/r.sock?db=2&password=***". Returns its length, or -1 when it
 * did not fit in len (buf then holds as much as fits: for humans only). */
int tq_redis_url_format_safe(const struct tq_redis_url *u, char *buf, size_t len);
/* Writes the full URL, password included (percent-encoded, so it parses back
 * to the same struct): only for a child's argv/env. Returns its length, or
 * -1 when it does not fit in len: buf is then "" (never a URL cut inside its
 * password), and the caller must fail rather than start a child with it. */
int tq_redis_url_format(const struct tq_redis_url *u, char *buf, size_t len);

/* Connects synchronously with a connect timeout and the same timeout on
 * commands (timeout_ms <= 0: neither timeout), then AUTH (AUTH user password
 * when the URL has a user) and SELECT as the URL says, or a PING when it needs
 * neither, so a server requiring a password fails here ("NOAUTH ..."), not at
 * the first command. Returns the context, or NULL with err filled:
 * "<safe url>: Connection refused", "<safe url>: AUTH failed: WRONGPASS ...". */
redisContext *tq_redis_connect(const struct tq_redis_url *u, int timeout_ms, char *err,
                               size_t errlen);

/* Starts a non-blocking connection (not yet attached to any event loop) and
 * queues AUTH and SELECT as its first commands, so every later command runs
 * authenticated on the right db. Returns NULL with err filled on failure.
 * Errors of the queued AUTH/SELECT are logged (without the password) through
 * rl when it is not NULL, so a program that opens many connections with a
 * wrong password logs a few lines and a count, not one line per connection;
 * rl must outlive the connection. */
redisAsyncContext *tq_redis_connect_async(const struct tq_redis_url *u, tq_ratelimit *rl,
                                          char *err, size_t errlen);

/* Runs a command and checks the reply type is not an error; returns the
 * reply (caller frees) or NULL with err set ("LPUSH: <redis error>", the
 * command named by fmt's first word; "LPUSH: <hiredis error>" when the
 * connection failed, c->err then set). Waits as tq_redis_get_reply does. */
redisReply *tq_redis_command(redisContext *c, char *err, size_t errlen, const char *fmt, ...);
/* The same with an argument vector (argv[0] names the command in err). */
redisReply *tq_redis_command_argv(redisContext *c, char *err, size_t errlen, int argc,
                                  const char **argv, const size_t *lens);

/* --- bounded, interruptible waits (tq_redis_wait.c) ----------------------
 *
 * A blocking hiredis context waits for a reply in read(2), bounded only by
 * the socket timeout, and a signal (SA_RESTART) does not end that wait: a
 * program that must act on Ctrl-C within a second while Redis hangs cannot
 * use it as is. A context with a tq_redis_wait attached waits in poll(2)
 * slices instead, asking give_up() between slices, and fails with a message
 * that names the server and the time it waited. */
struct tq_redis_wait {
    int timeout_ms;   /* a reply not complete within it fails the call; <= 0: no bound */
    /* Asked at least every 100 ms while waiting (waited_ms so far); non-zero
     * ends the wait, the call then fails with why (a static string such as
     * "SIGINT"). NULL: never. */
    const char *(*give_up)(void *arg, int waited_ms);
    void *arg;
    char where[256];  /* the server, safe for messages (tq_redis_url_format_safe) */
};

/* Makes every tq_redis_get_reply/tq_redis_command on c wait as w says. w is
 * kept in the reader's user field (hiredis's privdata) and must outlive c.
 * The socket becomes non-blocking (hiredis's REDIS_BLOCK cleared): from then
 * on hiredis's redisCommand/redisGetReply must not be used on c, only the
 * tq_redis_* calls (redisAppendCommand and redisBufferWrite stay fine). NULL
 * detaches and makes c blocking again. */
void tq_redis_wait_attach(redisContext *c, struct tq_redis_wait *w);
/* redisGetReply, bounded and interruptible when a wait is attached (plain
 * redisGetReply otherwise). On a timeout or give-up the context is marked
 * broken (c->err = REDIS_ERR_IO, c->errstr "Redis at <where> did not answer
 * within 10 s", or "... gave up waiting for Redis at <where> after 1.2 s:
 * SIGINT"): a reply may be half read, so the connection cannot be reused. */
int tq_redis_get_reply(redisContext *c, void **reply);
/* tq_redis_connect with w attached before the handshake, so AUTH/SELECT/PING
 * wait as w says too (the connect itself is bounded by w->timeout_ms); fills
 * w->where. */
redisContext *tq_redis_connect_wait(const struct tq_redis_url *u, struct tq_redis_wait *w,
                                    char *err, size_t errlen);

#endif
