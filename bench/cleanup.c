/* cleanup.c - SCAN-and-DEL deletion of tqbench's keys (see cleanup.h). */
#include "cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tq_keys.h"
#include "tq_redis.h"

int cleanup_pattern(redisContext *c, const char *pattern, long *deleted, char *err, size_t errlen) {
    char cursor[32] = "0";
    do {
        redisReply *r = tq_redis_command(c, err, errlen, "SCAN %s MATCH %s COUNT 1000", cursor,
                                         pattern);
        if (!r) return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "SCAN: unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        if (keys->elements > 0) {
            const char **argv = malloc((keys->elements + 1) * sizeof *argv);
            size_t *lens = malloc((keys->elements + 1) * sizeof *lens);
            if (!argv || !lens) {
                free(argv);
                free(lens);
                freeReplyObject(r);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            argv[0] = "DEL";
            lens[0] = 3;
            for (size_t i = 0; i < keys->elements; i++) {
                argv[i + 1] = keys->element[i]->str;
                lens[i + 1] = keys->element[i]->len;
            }
            redisReply *d = redisCommandArgv(c, (int)keys->elements + 1, argv, lens);
            free(argv);
            free(lens);
            if (!d || d->type == REDIS_REPLY_ERROR) {
                snprintf(err, errlen, "DEL: %s", d ? d->str : c->errstr);
                if (d) freeReplyObject(d);
                freeReplyObject(r);
                return -1;
            }
            if (deleted && d->type == REDIS_REPLY_INTEGER) *deleted += (long)d->integer;
            freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int cleanup_run(redisContext *c, const char *prefix, const char *run_id, long *deleted, char *err,
                size_t errlen) {
    char pattern[TQ_KEY_MAX], sub[TQ_NAME_MAX + 16];
    if (tq_key_run_pattern(pattern, sizeof pattern, prefix, run_id) < 0) {
        snprintf(err, errlen, "run id %s too long for a key", run_id);
        return -1;
    }
    if (cleanup_pattern(c, pattern, deleted, err, errlen) != 0) return -1;
    snprintf(sub, sizeof sub, "%s-warmup", run_id);
    if (tq_key_run_pattern(pattern, sizeof pattern, prefix, sub) < 0) return 0;
    return cleanup_pattern(c, pattern, deleted, err, errlen);
}
