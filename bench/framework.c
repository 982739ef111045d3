/* framework.c - the registry of benchmarked frameworks and the argv/env
 * builders adapters use (see framework.h). Adding a framework is one line in
 * tq_frameworks[]. */
#include "framework.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct tq_framework *const tq_frameworks[] = {
    &tq_framework_native,
    &tq_framework_celery,
    NULL,
};

const struct tq_framework *framework_find(const char *name) {
    for (int i = 0; tq_frameworks[i]; i++)
        if (strcmp(tq_frameworks[i]->name, name) == 0) return tq_frameworks[i];
    return NULL;
}

void fw_argv_reset(struct fw_argv *out) {
    out->argc = 0;
    out->envc = 0;
    out->argv[0] = NULL;
    out->env[0] = NULL;
}

static int slot_vformat(char *slot, char *err, size_t errlen, const char *what, const char *fmt,
                        va_list ap) {
    int len = vsnprintf(slot, FW_ARG_LEN, fmt, ap);
    if (len < 0 || len >= FW_ARG_LEN) {
        snprintf(err, errlen, "%s longer than %d bytes", what, FW_ARG_LEN - 1);
        return -1;
    }
    return 0;
}

int fw_argv_add(struct fw_argv *out, char *err, size_t errlen, const char *fmt, ...) {
    if (out->argc >= FW_ARGV_MAX) {
        snprintf(err, errlen, "worker argv has more than %d arguments", FW_ARGV_MAX);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = slot_vformat(out->args[out->argc], err, errlen, "worker argument", fmt, ap);
    va_end(ap);
    if (rc != 0) return -1;
    out->argv[out->argc] = out->args[out->argc];
    out->argc++;
    out->argv[out->argc] = NULL;
    return 0;
}

int fw_env_add(struct fw_argv *out, char *err, size_t errlen, const char *fmt, ...) {
    if (out->envc >= FW_ENV_MAX) {
        snprintf(err, errlen, "worker environment has more than %d extra entries", FW_ENV_MAX);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = slot_vformat(out->envs[out->envc], err, errlen, "worker environment entry", fmt, ap);
    va_end(ap);
    if (rc != 0) return -1;
    out->env[out->envc] = out->envs[out->envc];
    out->envc++;
    out->env[out->envc] = NULL;
    return 0;
}
