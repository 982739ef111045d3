/* test_redis_url.c - Redis URL parsing: every accepted form, each class of
 * bad URL with a clear error, and that the password shows up neither in an
 * error nor in tq_redis_url_format_safe(). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tq_redis.h"

#define PW "S3cr3tPW"

struct good_case {
    const char *url;
    int is_unix;
    const char *host;
    int port;
    const char *path;
    const char *user;
    const char *password;
    int db;
};

static const struct good_case good[] = {
    {"redis://127.0.0.1:6379/0", 0, "127.0.0.1", 6379, "", "", "", 0},
    {"redis://localhost", 0, "localhost", 6379, "", "", "", 0},
    {"redis://localhost/", 0, "localhost", 6379, "", "", "", 0},
    {"redis://localhost/3", 0, "localhost", 6379, "", "", "", 3},
    {"redis://localhost:7000", 0, "localhost", 7000, "", "", "", 0},
    {"redis://redis.example.com:1/15", 0, "redis.example.com", 1, "", "", "", 15},
    {"REDIS://Host:65535/2", 0, "Host", 65535, "", "", "", 2},
    {"redis://user:" PW "@host:6380/2", 0, "host", 6380, "", "user", PW, 2},
    {"redis://:" PW "@host", 0, "host", 6379, "", "", PW, 0},
    {"redis://:p%40ss%3Aw%2Frd@host/1", 0, "host", 6379, "", "", "p@ss:w/rd", 1},
    {"redis://:p@ss:w/rd@host/1", 0, "host", 6379, "", "", "p@ss:w/rd", 1},
    {"redis://:100%@host", 0, "host", 6379, "", "", "100%", 0},
    {"redis://[::1]:6380/1", 0, "::1", 6380, "", "", "", 1},
    {"redis://[::1]", 0, "::1", 6379, "", "", "", 0},
    {"redis://u:p@[fe80::1]/4", 0, "fe80::1", 6379, "", "u", "p", 4},
    {"redis://host?db=4", 0, "host", 6379, "", "", "", 4},
    {"redis://host:1234/?password=" PW, 0, "host", 1234, "", "", PW, 0},
    {"unix:///tmp/r.sock", 1, "", 0, "/tmp/r.sock", "", "", 0},
    {"unix:///tmp/r.sock?db=3", 1, "", 0, "/tmp/r.sock", "", "", 3},
    {"unix:///tmp/r.sock?password=" PW, 1, "", 0, "/tmp/r.sock", "", PW, 0},
    {"unix:///tmp/r.sock?db=2&password=" PW, 1, "", 0, "/tmp/r.sock", "", PW, 2},
    {"unix:///tmp/r.sock?password=a%26b%3D&db=2", 1, "", 0, "/tmp/r.sock", "", "a&b=", 2},
    {"unix://user:" PW "@/tmp/r.sock", 1, "", 0, "/tmp/r.sock", "user", PW, 0},
    {"unix://:" PW "@/tmp/r.sock?db=1", 1, "", 0, "/tmp/r.sock", "", PW, 1},
    {"unix:///tmp/at@sign/r.sock", 1, "", 0, "/tmp/at@sign/r.sock", "", "", 0},
};

Test(redis_url, accepts_every_form) {
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const struct good_case *g = &good[i];
        struct tq_redis_url u;
        char err[256] = "";
        cr_assert_eq(tq_redis_url_parse(g->url, &u, err, sizeof err), 0, "%s: %s", g->url, err);
        cr_assert_eq(u.is_unix, g->is_unix, "%s", g->url);
        if (!g->is_unix) {
            cr_assert_str_eq(u.host, g->host, "%s", g->url);
            cr_assert_eq(u.port, g->port, "%s: port %d", g->url, u.port);
        } else {
            cr_assert_str_eq(u.path, g->path, "%s", g->url);
        }
        cr_assert_str_eq(u.user, g->user, "%s", g->url);
        cr_assert_str_eq(u.password, g->password, "%s", g->url);
        cr_assert_eq(u.db, g->db, "%s: db %d", g->url, u.db);
    }
}

Test(redis_url, format_round_trips_and_safe_form_hides_password) {
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct tq_redis_url u, back;
        char err[256], full[1024], safe[1024];
        cr_assert_eq(tq_redis_url_parse(good[i].url, &u, err, sizeof err), 0);
        tq_redis_url_format(&u, full, sizeof full);
        cr_assert_eq(tq_redis_url_parse(full, &back, err, sizeof err), 0, "%s -> %s: %s",
                     good[i].url, full, err);
        cr_assert_eq(memcmp(&u, &back, sizeof u), 0, "%s -> %s differs", good[i].url, full);
        tq_redis_url_format_safe(&u, safe, sizeof safe);
        if (u.password[0]) {
            cr_assert_null(strstr(safe, u.password), "safe form %s shows the password", safe);
            cr_assert_not_null(strstr(safe, "***"), "%s", safe);
        } else {
            cr_assert_str_eq(safe, full);
        }
    }
}

Test(redis_url, format_examples) {
    struct tq_redis_url u;
    char err[256], buf[512];
    cr_assert_eq(tq_redis_url_parse("redis://user:" PW "@[::1]:7000/3", &u, err, sizeof err), 0);
    tq_redis_url_format_safe(&u, buf, sizeof buf);
    cr_assert_str_eq(buf, "redis://user:***@[::1]:7000/3");
    cr_assert_eq(tq_redis_url_parse("redis://localhost", &u, err, sizeof err), 0);
    tq_redis_url_format_safe(&u, buf, sizeof buf);
    cr_assert_str_eq(buf, "redis://localhost:6379/0");
    cr_assert_eq(tq_redis_url_parse("unix:///run/r.sock?db=2&password=" PW, &u, err, sizeof err), 0);
    tq_redis_url_format_safe(&u, buf, sizeof buf);
    cr_assert_str_eq(buf, "unix:///run/r.sock?db=2&password=***");
    tq_redis_url_format(&u, buf, sizeof buf);
    cr_assert_str_eq(buf, "unix:///run/r.sock?db=2&password=" PW);
    /* A short buffer truncates, still NUL-terminated. */
    char tiny[8];
    tq_redis_url_format_safe(&u, tiny, sizeof tiny);
    cr_assert_eq(strlen(tiny), sizeof tiny - 1);
}

struct bad_case {
    const char *url;
    const char *err_part;
};

static const struct bad_case bad[] = {
    {"", "empty"},
    {"localhost:6379", "missing scheme"},
    {":" PW "@localhost", "missing scheme"},
    {"://host", "missing scheme"},
    {"http://host", "unsupported scheme \"http\""},
    {"tcp://host:6379", "unsupported scheme"},
    {"rediss://host", "TLS"},
    {"redis://", "empty host"},
    {"redis://:6379/0", "empty host"},
    {"redis://:" PW "@", "empty host"},
    {"redis://:" PW "@:6379", "empty host"},
    {"redis://[]:6379", "empty host"},
    {"redis://[::1", "IPv6"},
    {"redis://::1:6379", "empty host"},
    {"redis://host:", "empty port"},
    {"redis://host:abc", "bad port (not a number)"},
    {"redis://host:-1", "bad port (not a number)"},
    {"redis://host:6379x/0", "bad port (not a number)"},
    {"redis://user:" PW, "bad port (not a number)"},
    {"redis://host:0", "bad port (want 1..65535)"},
    {"redis://host:65536", "bad port (want 1..65535)"},
    {"redis://host:99999999999", "bad port (want 1..65535)"},
    {"redis://[::1]x", "unexpected text after the host"},
    /* Found by tests/fuzz/fuzz_redis_url: brackets around a non-IPv6 host
     * were accepted, and tq_redis_url_format wrote it back without them. */
    {"redis://:" PW "@[f\\/f]/2", "bad IPv6 host"},
    {"redis://[a?b]:1", "bad IPv6 host"},
    {"redis://[localhost]", "bad IPv6 host"},
    {"redis://host/abc", "bad db"},
    {"redis://host/-1", "bad db"},
    {"redis://host/1x", "bad db"},
    {"redis://host/99999999999", "bad db"},
    {"redis://host/" PW, "bad db"},
    {"redis://host?db=x", "bad db"},
    {"redis://host/1?db=2", "db given twice"},
    {"redis://host?foo=1", "unknown query key"},
    {"redis://host?" PW "=1", "unknown query key"},
    {"redis://host?db", "without '='"},
    {"redis://host?" PW, "without '='"},
    {"redis://user@host", "credentials without a password"},
    {"redis://" PW "@host", "credentials without a password"},
    {"redis://user:@host", "credentials without a password"},
    {"redis://:" PW "@host?password=" PW, "password given twice"},
    {"unix://", "empty socket path"},
    {"unix://relative.sock", "must be absolute"},
    {"unix://:" PW "@relative.sock", "must be absolute"},
    {"unix:///tmp/r.sock?pw=" PW, "unknown query key"},
    {"unix:///tmp/r.sock?db=-2", "bad db"},
    {"unix:///tmp/r.sock?password=" PW "&password=" PW, "password given twice"},
    {"unix:///tmp/r.sock?db=1&db=2", "db given twice"},
};

Test(redis_url, rejects_bad_urls_without_leaking_the_password) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tq_redis_url u;
        memset(&u, 0x5a, sizeof u);
        struct tq_redis_url before = u;
        char err[256] = "";
        cr_assert_eq(tq_redis_url_parse(bad[i].url, &u, err, sizeof err), -1, "accepted %s",
                     bad[i].url);
        cr_assert_not_null(strstr(err, bad[i].err_part), "%s: err \"%s\" lacks \"%s\"", bad[i].url,
                           err, bad[i].err_part);
        cr_assert_null(strstr(err, PW), "%s: err \"%s\" shows the password", bad[i].url, err);
        cr_assert_eq(memcmp(&u, &before, sizeof u), 0, "%s: *u changed on error", bad[i].url);
    }
}

Test(redis_url, rejects_overlong_parts) {
    char url[1200], err[256];
    struct tq_redis_url u;
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    snprintf(url, sizeof url, "unix:///tmp/%s", longpath);
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "socket path too long"), "%s", err);
    char longhost[300];
    memset(longhost, 'h', sizeof longhost - 1);
    longhost[sizeof longhost - 1] = '\0';
    snprintf(url, sizeof url, "redis://%s:6379", longhost);
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "host too long"), "%s", err);
    char longpw[400];
    memset(longpw, 'p', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    snprintf(url, sizeof url, "redis://:%s@host", longpw);
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "password too long"), "%s", err);
    cr_assert_null(strstr(err, "pppp"), "%s", err);
    /* A NULL url and a zero-length err buffer are handled too. */
    cr_assert_eq(tq_redis_url_parse(NULL, &u, err, sizeof err), -1);
    cr_assert_eq(tq_redis_url_parse("http://x", &u, err, 0), -1);
}

/* "redis://" USER ":" PASSWORD "@" HOST ":6379/0" with a user of ulen bytes
 * (uat of them '@', percent-encoded as %40) and a password of 255 '@', so
 * the URL written back is 18 + (ulen + 2 * uat) + 765 + strlen(host) - 1. */
static void long_url(char *url, size_t n, int ulen, int uat, const char *host) {
    size_t o = (size_t)snprintf(url, n, "redis://");
    for (int i = 0; i < ulen; i++) o += (size_t)snprintf(url + o, n - o, i < uat ? "%%40" : "u");
    o += (size_t)snprintf(url + o, n - o, ":");
    for (int i = 0; i < 255; i++) o += (size_t)snprintf(url + o, n - o, "%%40");
    snprintf(url + o, n - o, "@%s:6379/0", host);
}

/* Every part fits its field, but the user and password percent-encoded
 * would not fit in a worker's argument: refused at parse time, and the
 * format functions say so rather than cut the password (issue 9). */
Test(redis_url, too_long_to_write_back) {
    char url[2048], err[256], full[TQ_REDIS_URL_MAX];
    struct tq_redis_url u;
    /* written back: 18 + 239 + 765 + 2 - 1 = 1023 bytes, the most that fits */
    long_url(url, sizeof url, 127, 56, "hh");
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tq_redis_url_format(&u, full, sizeof full), TQ_REDIS_URL_MAX - 1);
    cr_assert_eq(strlen(full), TQ_REDIS_URL_MAX - 1);
    cr_assert_str_eq(full, url, "written back differs from the URL parsed");
    /* one byte more: refused, naming the limit, quoting nothing */
    long_url(url, sizeof url, 127, 56, "hhh");
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), -1, "accepted a 1024-byte URL");
    cr_assert_not_null(strstr(err, "too long once written back"), "%s", err);
    cr_assert_not_null(strstr(err, "1024 bytes"), "%s", err);
    cr_assert_not_null(strstr(err, "at most 1023"), "%s", err);
    cr_assert_null(strstr(err, "%40"), "%s", err);
    long_url(url, sizeof url, 127, 127, "h");
    cr_assert_eq(tq_redis_url_parse(url, &u, err, sizeof err), -1);

    /* a struct built by hand with the same parts: format reports -1 and
     * leaves "" (never a URL cut inside the password); format_safe cuts,
     * NUL-terminated, and says so; a buffer large enough gets the length */
    memset(&u, 0, sizeof u);
    snprintf(u.host, sizeof u.host, "h");
    u.port = 6379;
    memset(u.user, '@', sizeof u.user - 1);
    memset(u.password, '@', sizeof u.password - 1);
    memset(full, 'x', sizeof full);
    cr_assert_eq(tq_redis_url_format(&u, full, sizeof full), -1);
    cr_assert_str_eq(full, "");
    char big[2048], tiny[16];
    int len = tq_redis_url_format(&u, big, sizeof big);
    cr_assert_eq(len, 8 + 127 * 3 + 1 + 255 * 3 + 1 + 8, "length %d", len);
    cr_assert_eq((size_t)len, strlen(big));
    cr_assert_eq(tq_redis_url_format_safe(&u, tiny, sizeof tiny), -1);
    cr_assert_eq(strlen(tiny), sizeof tiny - 1);
    cr_assert_eq(tq_redis_url_format_safe(&u, big, sizeof big), (int)strlen(big));
    cr_assert_not_null(strstr(big, ":***@h:6379/0"), "the safe form: %s", big);
    cr_assert_eq(strlen(big), 8 + 127 * 3 + 5 + 8, "the safe form holds the password");
}

Test(redis_url, default_url_parses) {
    struct tq_redis_url u;
    char err[256];
    cr_assert_eq(tq_redis_url_parse(TQ_REDIS_DEFAULT_URL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
}
