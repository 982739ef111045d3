/* tq_redis.h - Redis URLs and connections.
 *
 * Accepted URLs:
 *   redis://[user:password@]host[:port][/db]
 *   redis://:password@host[:port][/db]      (password alone)
 *   unix:///path/to.sock[?db=N][&password=P]   (also unix://user:pass@/path)
 * host may be an IPv6 literal in brackets. Default port 6379, db 0.
 * The password never appears in logs or error strings: format URLs for
 * humans with tq_redis_url_format_safe(). */
#ifndef TQ_REDIS_H
#define TQ_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#define TQ_REDIS_DEFAULT_URL "redis://127.0.0.1:6379/0"

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
 * wrong (the password is never copied into err). */
int tq_redis_url_parse(const char *url, struct tq_redis_url *u, char *err, size_t errlen);
/* Writes the URL with the password replaced by "***" (safe for logs/JSON). */
void tq_redis_url_format_safe(const struct tq_redis_url *u, char *buf, size_t len);
/* Writes the full URL, password included: only for a child's argv/env. */
void tq_redis_url_format(const struct tq_redis_url *u, char *buf, size_t len);

/* Connects synchronously with a connect timeout and the same timeout on
 * commands (timeout_ms <= 0: no command timeout), then AUTH and SELECT as the
 * URL says. Returns the context, or NULL with err filled. */
redisContext *tq_redis_connect(const struct tq_redis_url *u, int timeout_ms, char *err,
                               size_t errlen);

/* Starts a non-blocking connection (not yet attached to any event loop) and
 * queues AUTH and SELECT as its first commands, so every later command runs
 * authenticated on the right db. Returns NULL with err filled on failure.
 * Errors of the queued AUTH/SELECT are logged (without the password). */
redisAsyncContext *tq_redis_connect_async(const struct tq_redis_url *u, char *err, size_t errlen);

/* Runs a command and checks the reply type is not an error; returns the
 * reply (caller frees) or NULL with err set ("LPUSH: <redis error>"). */
redisReply *tq_redis_command(redisContext *c, char *err, size_t errlen, const char *fmt, ...);

#endif
