/* fuzz_redis_url.c - tq_redis_url_parse (common/tq_redis.c) on arbitrary
 * text (cut at the first NUL, as a C string from argv or the environment).
 *
 * Passwords: every byte 0x01 of the input stands for the secret SECRET, so
 * the seeds put it where passwords go (userinfo, ?password=) and the fuzzer
 * moves it everywhere else (host, port, db, query keys, scheme...). Invariants:
 *  - the secret never appears in an error message, wherever it stands (err
 *    never quotes the URL's text); tq_redis_url_format_safe's output does
 *    not depend on the password at all (only on whether there is one);
 *  - on failure err is non-empty and *u is unchanged;
 *  - on success tq_redis_url_format (password included, percent-encoded)
 *    parses back to the same struct. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tq_redis.h"

#define SECRET "S3cr!t"

static int same_url(const struct tq_redis_url *a, const struct tq_redis_url *b) {
    return a->is_unix == b->is_unix && strcmp(a->host, b->host) == 0 && a->port == b->port &&
           strcmp(a->path, b->path) == 0 && strcmp(a->user, b->user) == 0 &&
           strcmp(a->password, b->password) == 0 && a->db == b->db;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n = 0;
    for (size_t i = 0; i < size && data[i]; i++) n += data[i] == 1 ? sizeof SECRET - 1 : 1;
    char *url = malloc(n + 1);
    if (!url) return 0;
    size_t o = 0;
    for (size_t i = 0; i < size && data[i]; i++) {
        if (data[i] == 1) {
            memcpy(url + o, SECRET, sizeof SECRET - 1);
            o += sizeof SECRET - 1;
        } else {
            url[o++] = (char)data[i];
        }
    }
    url[o] = '\0';

    struct tq_redis_url u, untouched;
    memset(&u, 0x5a, sizeof u);
    untouched = u;
    char err[512];
    int rc = tq_redis_url_parse(url, &u, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "err not terminated");
    FUZZ_CHECK(strstr(err, SECRET) == NULL, "the password is in the error: %s", err);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0', "failure without a message");
        FUZZ_CHECK(memcmp(&u, &untouched, sizeof u) == 0, "failure changed *u");
        /* errlen 0 and a tiny buffer are honoured */
        char tiny[4] = "abc";
        FUZZ_CHECK(tq_redis_url_parse(url, &u, tiny, 0) == -1 && strcmp(tiny, "abc") == 0,
                   "errlen 0 written");
        FUZZ_CHECK(tq_redis_url_parse(url, &u, tiny, 2) == -1 && tiny[1] == '\0',
                   "errlen 2 overrun");
        free(url);
        return 0;
    }
    FUZZ_CHECK(memchr(u.host, '\0', sizeof u.host) && memchr(u.path, '\0', sizeof u.path) &&
                   memchr(u.user, '\0', sizeof u.user) &&
                   memchr(u.password, '\0', sizeof u.password),
               "unterminated field");
    FUZZ_CHECK(u.is_unix ? u.path[0] == '/' : (u.host[0] && u.port >= 1 && u.port <= 65535),
               "accepted an unusable address");
    FUZZ_CHECK(u.db >= 0, "db %d", u.db);
    FUZZ_CHECK(!u.user[0] || u.password[0], "user without a password");

    char safe[4096], safe2[4096], full[4096];
    tq_redis_url_format_safe(&u, safe, sizeof safe);
    struct tq_redis_url other = u;
    if (u.password[0]) snprintf(other.password, sizeof other.password, "%s", "other");
    tq_redis_url_format_safe(&other, safe2, sizeof safe2);
    FUZZ_CHECK(strcmp(safe, safe2) == 0, "format_safe depends on the password: %s", safe);

    tq_redis_url_format(&u, full, sizeof full);
    FUZZ_CHECK(strlen(full) + 1 < sizeof full, "format truncated");
    struct tq_redis_url back;
    rc = tq_redis_url_parse(full, &back, err, sizeof err);
    FUZZ_CHECK(rc == 0, "format's output does not parse (%s)", err);
    FUZZ_CHECK(same_url(&u, &back), "format does not round trip");
    free(url);
    return 0;
}
