/* tq_redis.c - Redis URL parsing and connections (see tq_redis.h).
 *
 * URL errors are written for humans but never quote the text they could not
 * parse: a mistyped URL may hold the password in any position (a password
 * taken for a port, say), so messages name the part that was wrong and echo
 * numbers only. user and password are percent-decoded (lenient, as
 * redis-py's urllib does) and percent-encoded again by tq_redis_url_format. */
#include "tq_redis.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "tq_log.h"

#define UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes). A '%' not followed by two hex
 * digits is kept as is. Returns 0, or -1 when it does not fit. */
static int url_decode(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Appends s percent-encoded (everything but RFC 3986 unreserved bytes). */
static size_t url_encode(char *buf, size_t len, size_t pos, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        char tmp[4] = {(char)*p, 0, 0, 0};
        if (!plain) {
            tmp[0] = '%';
            tmp[1] = hex[*p >> 4];
            tmp[2] = hex[*p & 15];
        }
        for (const char *t = tmp; *t; t++) {
            if (pos + 1 < len) buf[pos] = *t;
            pos++;
        }
    }
    if (len > 0) buf[pos < len ? pos : len - 1] = '\0';
    return pos;
}

/* Parses a decimal in s[0..n) within [lo, hi]. Returns 0 or -1. */
static int parse_int(const char *s, size_t n, long lo, long hi, long *out) {
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static size_t url_format(const struct tq_redis_url *u, char *buf, size_t len, int safe);

/* Fails the parse with a message (err and errlen are in scope). */
#define URL_ERR(...)                                        \
    do {                                                    \
        if (errlen) snprintf(err, errlen, __VA_ARGS__);     \
        return -1;                                          \
    } while (0)

/* user[:password] from s[0..n). */
static int parse_userinfo(const char *s, size_t n, struct tq_redis_url *u, char *err,
                          size_t errlen) {
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    if (url_decode(s, ulen, u->user, sizeof u->user) != 0)
        URL_ERR("redis URL: user name too long or holds a NUL byte");
    if (colon && url_decode(colon + 1, n - ulen - 1, u->password, sizeof u->password) != 0)
        URL_ERR("redis URL: password too long or holds a NUL byte");
    if (!colon || (u->user[0] && !u->password[0]))
        URL_ERR("redis URL: credentials without a password (want user:password@ or :password@)");
    return 0;
}

/* The query "k=v&k=v" in s[0..n): db and password. */
static int parse_query(const char *s, size_t n, struct tq_redis_url *u, int db_set, char *err,
                       size_t errlen) {
    const char *end = s + n;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *item_end = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(item_end - s));
        if (!eq) URL_ERR("redis URL: query item without '=' (want db=N or password=P)");
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        size_t vlen = (size_t)(item_end - v);
        if (klen == 2 && memcmp(s, "db", 2) == 0) {
            long db;
            if (db_set) URL_ERR("redis URL: db given twice");
            if (parse_int(v, vlen, 0, INT_MAX, &db) != 0)
                URL_ERR("redis URL: bad db in query (want a non-negative integer)");
            u->db = (int)db;
            db_set = 1;
        } else if (klen == 8 && memcmp(s, "password", 8) == 0) {
            if (u->password[0]) URL_ERR("redis URL: password given twice");
            if (url_decode(v, vlen, u->password, sizeof u->password) != 0)
                URL_ERR("redis URL: password too long or holds a NUL byte");
        } else {
            /* The key is not quoted: it may be a password typed in the wrong place. */
            URL_ERR("redis URL: unknown query key (only db and password are accepted)");
        }
        s = amp ? amp + 1 : end;
    }
    return 0;
}

/* host[:port][/db][?query] of a redis:// URL. */
static int parse_tcp(const char *s, struct tq_redis_url *u, char *err, size_t errlen) {
    const char *p = s;
    const char *host, *host_end;
    int bracketed = *p == '[';
    if (bracketed) {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) URL_ERR("redis URL: IPv6 host without closing ']'");
        p = host_end + 1;
    } else {
        host = p;
        p += strcspn(p, ":/?");
        host_end = p;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0) URL_ERR("redis URL: empty host");
    if (hlen >= sizeof u->host) URL_ERR("redis URL: host too long");
    if (memchr(host, '@', hlen) || memchr(host, '[', hlen) || memchr(host, ']', hlen) ||
        (!bracketed && memchr(host, ':', hlen)))
        URL_ERR("redis URL: bad host");
    /* [...] holds an IPv6 literal (a zone id after '%' allowed): nothing that
     * would end the host or need the brackets back when formatted. */
    if (bracketed && (!memchr(host, ':', hlen) ||
                      strspn(host, "0123456789abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ:.%_-") < hlen))
        URL_ERR("redis URL: bad IPv6 host (want [address], e.g. [::1])");
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    u->port = 6379;
    if (*p == ':') {
        p++;
        size_t n = strcspn(p, "/?");
        long port;
        if (n == 0) URL_ERR("redis URL: empty port");
        for (size_t i = 0; i < n; i++)
            if (p[i] < '0' || p[i] > '9') URL_ERR("redis URL: bad port (not a number)");
        if (parse_int(p, n, 1, 65535, &port) != 0)
            URL_ERR("redis URL: bad port (want 1..65535)");
        u->port = (int)port;
        p += n;
    } else if (*p && *p != '/' && *p != '?') {
        URL_ERR("redis URL: unexpected text after the host");
    }
    int db_set = 0;
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "?");
        long db;
        if (n > 0) {
            if (parse_int(p, n, 0, INT_MAX, &db) != 0)
                URL_ERR("redis URL: bad db (want /N, a non-negative integer)");
            u->db = (int)db;
            db_set = 1;
        }
        p += n;
    }
    if (*p == '?') return parse_query(p + 1, strlen(p + 1), u, db_set, err, errlen);
    return 0;
}

/* /path[?query] of a unix:// URL. */
static int parse_unix(const char *s, struct tq_redis_url *u, char *err, size_t errlen) {
    size_t n = strcspn(s, "?");
    if (n == 0) URL_ERR("unix URL: empty socket path (want unix:///path/to.sock)");
    if (s[0] != '/') URL_ERR("unix URL: the socket path must be absolute (unix:///path/to.sock)");
    if (n >= sizeof u->path || n >= UNIX_PATH_MAX)
        URL_ERR("unix URL: socket path too long (%zu bytes, at most %zu)", n, UNIX_PATH_MAX - 1);
    memcpy(u->path, s, n);
    u->path[n] = '\0';
    if (s[n] == '?') return parse_query(s + n + 1, strlen(s + n + 1), u, 0, err, errlen);
    return 0;
}

int tq_redis_url_parse(const char *url, struct tq_redis_url *out, char *err, size_t errlen) {
    struct tq_redis_url u;
    memset(&u, 0, sizeof u);
    if (errlen) err[0] = '\0';
    if (!url || !*url) URL_ERR("redis URL: empty");
    const char *sep = strstr(url, "://");
    size_t slen = sep ? (size_t)(sep - url) : 0;
    int scheme_ok = sep != NULL && slen > 0 && slen < 16;
    for (size_t i = 0; scheme_ok && i < slen; i++)
        scheme_ok = (url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z') ||
                    (url[i] >= '0' && url[i] <= '9') || url[i] == '+' || url[i] == '-' ||
                    url[i] == '.';
    if (!scheme_ok)
        URL_ERR("redis URL: missing scheme (want redis://host[:port][/db] or "
                "unix:///path/to.sock)");
    if (slen == 5 && strncasecmp(url, "redis", 5) == 0) {
        u.is_unix = 0;
    } else if (slen == 4 && strncasecmp(url, "unix", 4) == 0) {
        u.is_unix = 1;
    } else if (slen == 6 && strncasecmp(url, "rediss", 6) == 0) {
        URL_ERR("redis URL: TLS (rediss://) is not supported by this build");
    } else {
        URL_ERR("redis URL: unsupported scheme \"%.*s\" (want redis:// or unix://)", (int)slen,
                url);
    }
    const char *rest = sep + 3;
    /* Credentials end at the last '@' (before the path for unix:// URLs), so
     * a password holding '@', '/' or ':' needs no escaping. */
    const char *at = NULL;
    if (u.is_unix) {
        if (rest[0] != '/')
            for (const char *p = rest; (p = strstr(p, "@/")) != NULL; p++) at = p;
    } else {
        at = strrchr(rest, '@');
    }
    if (at) {
        if (parse_userinfo(rest, (size_t)(at - rest), &u, err, errlen) != 0) return -1;
        rest = at + 1;
    }
    int rc = u.is_unix ? parse_unix(rest, &u, err, errlen) : parse_tcp(rest, &u, err, errlen);
    if (rc != 0) return -1;
    /* Every part fits its field, but percent-encoding can triple the user
     * and password when the URL is written back for a worker: refused here,
     * so tq_redis_url_format into TQ_REDIS_URL_MAX bytes never cuts. */
    size_t full = url_format(&u, NULL, 0, 0);
    if (full >= TQ_REDIS_URL_MAX)
        URL_ERR("redis URL: too long once written back (%zu bytes with the user and password "
                "percent-encoded, at most %d): use a shorter password or host",
                full, TQ_REDIS_URL_MAX - 1);
    *out = u;
    return 0;
}

/* Writes the URL into buf (len bytes; len 0 writes nothing) and returns the
 * length it needs, NUL not included, as snprintf does: >= len means cut. */
static size_t url_format(const struct tq_redis_url *u, char *buf, size_t len, int safe) {
    size_t pos = 0;
/* Appends to buf, counting on past a full buffer (snprintf truncates). */
#define APPEND(...)                                                               \
    do {                                                                          \
        int n_ = snprintf(pos < len ? buf + pos : NULL, pos < len ? len - pos : 0, \
                          __VA_ARGS__);                                           \
        if (n_ > 0) pos += (size_t)n_;                                            \
    } while (0)
    if (len > 0) buf[0] = '\0';
    APPEND("%s://", u->is_unix ? "unix" : "redis");
    int query_password = u->is_unix && !u->user[0] && u->password[0];
    if (u->password[0] && !query_password) {
        pos = url_encode(buf, len, pos, u->user);
        APPEND(":");
        if (safe) APPEND("***");
        else pos = url_encode(buf, len, pos, u->password);
        APPEND("@");
    }
    if (u->is_unix) {
        APPEND("%s", u->path);
        if (u->db) APPEND("?db=%d", u->db);
        if (query_password) {
            APPEND("%spassword=", u->db ? "&" : "?");
            if (safe) APPEND("***");
            else pos = url_encode(buf, len, pos, u->password);
        }
    } else {
        if (strchr(u->host, ':')) APPEND("[%s]:%d/%d", u->host, u->port, u->db);
        else APPEND("%s:%d/%d", u->host, u->port, u->db);
    }
#undef APPEND
    return pos;
}

int tq_redis_url_format_safe(const struct tq_redis_url *u, char *buf, size_t len) {
    size_t n = url_format(u, buf, len, 1);
    return n < len && n <= INT_MAX ? (int)n : -1;
}

int tq_redis_url_format(const struct tq_redis_url *u, char *buf, size_t len) {
    size_t n = url_format(u, buf, len, 0);
    if (n < len && n <= INT_MAX) return (int)n;
    /* a cut URL could end inside the password: a worker would start with a
     * wrong one and fail at AUTH, far from the cause */
    if (len > 0) memset(buf, 0, len);
    return -1;
}

/* A Redis error reply for err, with the password cut out should a server
 * ever echo it. */
static const char *reply_text(const struct tq_redis_url *u, const char *s) {
    if (!s) return "(no message)";
    if (u->password[0] && strstr(s, u->password)) return "(message withheld: it holds the password)";
    return s;
}

/* Runs AUTH or SELECT at connect time; returns 0 or -1 with err filled. */
static int connect_setup_command(redisContext *c, const struct tq_redis_url *u, const char *what,
                                 const char *safe_url, char *err, size_t errlen,
                                 redisReply *reply) {
    if (!reply) {
        snprintf(err, errlen, "%s: %s failed: %s", safe_url, what,
                 c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    int ok = reply->type != REDIS_REPLY_ERROR;
    if (!ok) snprintf(err, errlen, "%s: %s failed: %s", safe_url, what, reply_text(u, reply->str));
    freeReplyObject(reply);
    return ok ? 0 : -1;
}

/* redisCommand through tq_redis_get_reply, so the handshake waits as an
 * attached tq_redis_wait says. */
static redisReply *handshake_command(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(c, fmt, ap);
    va_end(ap);
    void *reply = NULL;
    if (rc != REDIS_OK || tq_redis_get_reply(c, &reply) != REDIS_OK) return NULL;
    return reply;
}

static redisContext *connect_sync(const struct tq_redis_url *u, int timeout_ms,
                                  struct tq_redis_wait *w, char *err, size_t errlen) {
    char safe[700];
    tq_redis_url_format_safe(u, safe, sizeof safe);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    if (u->is_unix)
        c = timeout_ms > 0 ? redisConnectUnixWithTimeout(u->path, tv) : redisConnectUnix(u->path);
    else
        c = timeout_ms > 0 ? redisConnectWithTimeout(u->host, u->port, tv)
                           : redisConnect(u->host, u->port);
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", safe);
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "%s: %s", safe, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (timeout_ms > 0 && redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "%s: cannot set the command timeout: %s", safe, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (w) {
        snprintf(w->where, sizeof w->where, "%.255s", safe);
        tq_redis_wait_attach(c, w);
    }
    int rc = 0;
    if (u->password[0]) {
        redisReply *r = u->user[0] ? handshake_command(c, "AUTH %s %s", u->user, u->password)
                                   : handshake_command(c, "AUTH %s", u->password);
        rc = connect_setup_command(c, u, "AUTH", safe, err, errlen, r);
    }
    if (rc == 0 && u->db != 0) {
        char what[32];
        snprintf(what, sizeof what, "SELECT %d", u->db);
        rc = connect_setup_command(c, u, what, safe, err, errlen,
                                   handshake_command(c, "SELECT %d", u->db));
    }
    if (rc == 0 && !u->password[0] && u->db == 0) {
        /* Nothing was sent yet: a PING turns "NOAUTH" or a server that does
         * not speak RESP into a connect error instead of a later surprise. */
        rc = connect_setup_command(c, u, "PING", safe, err, errlen, handshake_command(c, "PING"));
    }
    if (rc != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *tq_redis_connect(const struct tq_redis_url *u, int timeout_ms, char *err,
                               size_t errlen) {
    return connect_sync(u, timeout_ms, NULL, err, errlen);
}

redisContext *tq_redis_connect_wait(const struct tq_redis_url *u, struct tq_redis_wait *w,
                                    char *err, size_t errlen) {
    return connect_sync(u, w->timeout_ms, w, err, errlen);
}

/* What the callback of a queued AUTH/SELECT needs: its label for the log
 * line, the password, to keep it out of that line, and the caller's limiter. */
struct async_setup {
    char label[720];                 /* "<safe url>: AUTH" */
    tq_ratelimit *rl;                /* NULL: log every failure */
    char password[sizeof(((struct tq_redis_url *)0)->password)];
};

/* Logs a failed AUTH/SELECT queued by tq_redis_connect_async. hiredis calls
 * every callback exactly once, with a NULL reply when the connection goes
 * away first, so privdata is always freed here. */
static void async_setup_cb(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    redisReply *r = reply;
    struct async_setup *setup = privdata;
    if (r && r->type == REDIS_REPLY_ERROR) {
        const char *msg = r->str ? r->str : "(no message)";
        if (setup->password[0] && strstr(msg, setup->password))
            msg = "(message withheld: it holds the password)";
        int64_t suppressed = 0;
        if (!setup->rl || tq_ratelimit_allow(setup->rl, &suppressed)) {
            if (suppressed)
                tq_error("%s failed: %s (%lld similar messages suppressed)", setup->label, msg,
                         (long long)suppressed);
            else
                tq_error("%s failed: %s", setup->label, msg);
        }
    }
    memset(setup->password, 0, sizeof setup->password);
    free(setup);
}

static int async_queue(redisAsyncContext *ac, const struct tq_redis_url *u, tq_ratelimit *rl,
                       const char *safe, const char *what, char *err, size_t errlen,
                       const char *fmt, ...) {
    struct async_setup *setup = malloc(sizeof *setup);
    if (!setup) {
        snprintf(err, errlen, "%s: out of memory", safe);
        return -1;
    }
    snprintf(setup->label, sizeof setup->label, "%s: %s", safe, what);
    setup->rl = rl;
    memcpy(setup->password, u->password, sizeof setup->password);
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(ac, async_setup_cb, setup, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(setup);
        snprintf(err, errlen, "%s: cannot queue %s: %s", safe, what,
                 ac->errstr ? ac->errstr : "error");
        return -1;
    }
    return 0;
}

redisAsyncContext *tq_redis_connect_async(const struct tq_redis_url *u, tq_ratelimit *rl,
                                          char *err, size_t errlen) {
    char safe[700];
    tq_redis_url_format_safe(u, safe, sizeof safe);
    redisAsyncContext *ac =
        u->is_unix ? redisAsyncConnectUnix(u->path) : redisAsyncConnect(u->host, u->port);
    if (!ac) {
        snprintf(err, errlen, "%s: out of memory", safe);
        return NULL;
    }
    if (ac->err) {
        snprintf(err, errlen, "%s: %s", safe, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    int rc = 0;
    if (u->password[0]) {
        rc = u->user[0] ? async_queue(ac, u, rl, safe, "AUTH", err, errlen, "AUTH %s %s",
                                      u->user, u->password)
                        : async_queue(ac, u, rl, safe, "AUTH", err, errlen, "AUTH %s",
                                      u->password);
    }
    if (rc == 0 && u->db != 0) {
        char what[32];
        snprintf(what, sizeof what, "SELECT %d", u->db);
        rc = async_queue(ac, u, rl, safe, what, err, errlen, "SELECT %d", u->db);
    }
    if (rc != 0) {
        redisAsyncFree(ac);
        return NULL;
    }
    return ac;
}

/* The command's name for err: fmt's (or argv[0]'s) first word. */
static void command_name(const char *s, size_t len, char *name, size_t n) {
    size_t k = strcspn(s, " ");
    if (k > len) k = len;
    if (k == 0 || k >= n || memchr(s, '%', k)) {
        snprintf(name, n, "command");
        return;
    }
    memcpy(name, s, k);
    name[k] = '\0';
}

/* The reply of a command appended to c (rc: redisAppendCommand's), checked. */
static redisReply *command_reply(redisContext *c, int rc, const char *name, char *err,
                                 size_t errlen) {
    void *reply = NULL;
    if (rc != REDIS_OK || tq_redis_get_reply(c, &reply) != REDIS_OK || !reply) {
        snprintf(err, errlen, "%s: %s", name, c->errstr[0] ? c->errstr : "no reply");
        return NULL;
    }
    redisReply *r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s", name, r->str ? r->str : "error reply");
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

redisReply *tq_redis_command(redisContext *c, char *err, size_t errlen, const char *fmt, ...) {
    char name[32];
    command_name(fmt, strlen(fmt), name, sizeof name);
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(c, fmt, ap);
    va_end(ap);
    return command_reply(c, rc, name, err, errlen);
}

redisReply *tq_redis_command_argv(redisContext *c, char *err, size_t errlen, int argc,
                                  const char **argv, const size_t *lens) {
    char name[32];
    command_name(argc > 0 ? argv[0] : "", argc > 0 ? lens[0] : 0, name, sizeof name);
    int rc = redisAppendCommandArgv(c, argc, argv, lens);
    return command_reply(c, rc, name, err, errlen);
}
