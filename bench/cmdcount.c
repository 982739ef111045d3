/* cmdcount.c - counting the driver's own Redis commands (see cmdcount.h). */
#include "cmdcount.h"

#include <stdio.h>
#include <string.h>

void cmd_count_add(struct cmd_count *cc, const char *name, long long calls) {
    if (!cc || calls <= 0) return;
    for (int i = 0; i < cc->n; i++)
        if (strcmp(cc->cmd[i].name, name) == 0) {
            cc->cmd[i].calls += calls;
            return;
        }
    if (cc->n == CMD_COUNT_MAX) return;
    snprintf(cc->cmd[cc->n].name, sizeof cc->cmd[cc->n].name, "%s", name);
    cc->cmd[cc->n].calls = calls;
    cc->n++;
}

void cmd_count_connect(struct cmd_count *cc, const struct tq_redis_url *u) {
    if (u->password[0]) cmd_count_add(cc, "auth", 1);
    if (u->db != 0) cmd_count_add(cc, "select", 1);
    if (!u->password[0] && u->db == 0) cmd_count_add(cc, "ping", 1);
}

long long cmd_count_of(const struct cmd_count *cc, const char *name) {
    for (int i = 0; i < cc->n; i++)
        if (strcmp(cc->cmd[i].name, name) == 0) return cc->cmd[i].calls;
    return 0;
}

long long cmd_count_total(const struct cmd_count *cc) {
    long long t = 0;
    for (int i = 0; i < cc->n; i++) t += cc->cmd[i].calls;
    return t;
}

void cmd_count_diff(const struct cmd_count *before, const struct cmd_count *after,
                    struct cmd_count *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < after->n; i++)
        cmd_count_add(out, after->cmd[i].name,
                      after->cmd[i].calls - cmd_count_of(before, after->cmd[i].name));
}
