/* fw_options.c - framework options (see fw_options.h): storing, parsing,
 * checking them against an adapter's table, and selecting a run's.
 *
 * Values are short strings compared exactly; what an option means is the
 * adapter's business. Errors name the framework and the option as the user
 * wrote them ("celery.pool") and what would have been accepted, so a typo
 * is a message, not a run with a different setting. */
#include "fw_options.h"

#include <stdio.h>
#include <string.h>

int fw_options_put(struct fw_option *opts, int *n, int max, const char *framework,
                   const char *name, const char *value, char *err, size_t errlen) {
    if (!*framework || !*name) {
        snprintf(err, errlen, "option \"%s.%s\": the framework and the option name must not be "
                 "empty", framework, name);
        return -1;
    }
    if (strlen(framework) >= sizeof opts->framework || strlen(name) >= sizeof opts->name ||
        strlen(value) >= sizeof opts->value) {
        snprintf(err, errlen, "option \"%.*s.%.*s\": framework, name or value too long (at most "
                 "%zu, %zu and %zu characters)", 64, framework, 64, name,
                 sizeof opts->framework - 1, sizeof opts->name - 1, sizeof opts->value - 1);
        return -1;
    }
    int i = 0;
    while (i < *n && (strcmp(opts[i].framework, framework) != 0 || strcmp(opts[i].name, name) != 0))
        i++;
    if (i == *n) {
        if (*n >= max) {
            snprintf(err, errlen, "option \"%s.%s\": more than %d options", framework, name, max);
            return -1;
        }
        (*n)++;
    }
    snprintf(opts[i].framework, sizeof opts[i].framework, "%s", framework);
    snprintf(opts[i].name, sizeof opts[i].name, "%s", name);
    snprintf(opts[i].value, sizeof opts[i].value, "%s", value);
    return 0;
}

int fw_options_parse(const char *arg, struct fw_option *out, char *err, size_t errlen) {
    const char *dot = strchr(arg, '.');
    const char *eq = strchr(arg, '=');
    if (!dot || !eq || dot > eq || dot == arg || eq == dot + 1) {
        snprintf(err, errlen, "must be FRAMEWORK.NAME=VALUE, e.g. celery.pool=threads (got \"%s\")",
                 arg);
        return -1;
    }
    size_t flen = (size_t)(dot - arg), nlen = (size_t)(eq - dot - 1);
    if (flen >= sizeof out->framework || nlen >= sizeof out->name ||
        strlen(eq + 1) >= sizeof out->value) {
        snprintf(err, errlen, "\"%s\": framework, name or value too long (at most %zu, %zu and %zu "
                 "characters)", arg, sizeof out->framework - 1, sizeof out->name - 1,
                 sizeof out->value - 1);
        return -1;
    }
    snprintf(out->framework, sizeof out->framework, "%.*s", (int)flen, arg);
    snprintf(out->name, sizeof out->name, "%.*s", (int)nlen, dot + 1);
    snprintf(out->value, sizeof out->value, "%s", eq + 1);
    return 0;
}

const struct fw_option_def *fw_options_find(const struct tq_framework *fw, const char *name) {
    for (const struct fw_option_def *d = fw->options; d && d->name; d++)
        if (strcmp(d->name, name) == 0) return d;
    return NULL;
}

const char *fw_options_accepts(const struct fw_option_def *def, char *buf, size_t n) {
    if (!def->values || !def->values[0]) {
        snprintf(buf, n, "%s", def->description ? def->description : "any value");
        return buf;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; def->values[i] && len < n; i++) {
        const char *sep = i == 0 ? "" : def->values[i + 1] ? ", " : " or ";
        int w = snprintf(buf + len, n - len, "%s%s", sep, def->values[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

/* The names fw declares, "pool, other" ("" when none). */
static void names_of(const struct tq_framework *fw, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (const struct fw_option_def *d = fw->options; d && d->name && len < n; d++) {
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", d->name);
        if (w < 0) break;
        len += (size_t)w;
    }
}

int fw_options_check(const struct tq_framework *fw, const char *name, const char *value,
                     char *err, size_t errlen) {
    const struct fw_option_def *d = fw_options_find(fw, name);
    if (!d) {
        char names[256];
        names_of(fw, names, sizeof names);
        if (names[0])
            snprintf(err, errlen, "%s: no option \"%s\" (%s takes: %s; see tqbench list)",
                     fw->name, name, fw->name, names);
        else snprintf(err, errlen, "%s: no option \"%s\" (%s takes no options)", fw->name, name,
                      fw->name);
        return -1;
    }
    if (d->values) {
        int ok = 0;
        for (int i = 0; d->values[i] && !ok; i++) ok = strcmp(d->values[i], value) == 0;
        if (!ok) {
            char acc[256];
            snprintf(err, errlen, "%s: unsupported %s \"%s\" (%s)", fw->name, name, value,
                     fw_options_accepts(d, acc, sizeof acc));
            return -1;
        }
    }
    if (d->check) {
        char why[256] = "";
        if (d->check(value, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: unsupported %s \"%s\" (%s)", fw->name, name, value,
                     why[0] ? why : "refused");
            return -1;
        }
    }
    return 0;
}

/* 0 when option name of fw can apply to run; -1 with err when it
 * configures the workers and run's are --external (not tqbench's). */
static int external_check(const struct tq_framework *fw, const struct fw_run *run,
                          const char *name, char *err, size_t errlen) {
    const struct fw_option_def *d = fw_options_find(fw, name);
    if (!run->external || !d || d->producer_side) return 0;
    snprintf(err, errlen, "%s.%s configures the workers tqbench starts; with --external the "
             "external workers' own settings apply (set it where they are started, or drop "
             "it)", fw->name, name);
    return -1;
}

/* Copies fw's entries of opts into run (replacing what an earlier source
 * set); where: the scenario file they come from, NULL for --option. */
static int select_from(const struct tq_framework *fw, const struct fw_option *opts, int n,
                       const char *where, struct fw_run *run, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        if (strcmp(opts[i].framework, fw->name) != 0) continue;
        char why[512];
        if (fw_options_check(fw, opts[i].name, opts[i].value, why, sizeof why) != 0 ||
            external_check(fw, run, opts[i].name, why, sizeof why) != 0 ||
            fw_options_put(run->options, &run->noptions, FW_OPTIONS_MAX, fw->name, opts[i].name,
                           opts[i].value, why, sizeof why) != 0) {
            if (where) snprintf(err, errlen, "%s; set by %s (\"options\": {\"%s\": {\"%s\": ...}})",
                                why, where, fw->name, opts[i].name);
            else snprintf(err, errlen, "%s; set by --option %s.%s=%s", why, fw->name, opts[i].name,
                          opts[i].value);
            return -1;
        }
    }
    return 0;
}

int fw_options_select(const struct tq_framework *fw, const struct fw_option *scenario, int nscen,
                      const char *where, const struct fw_option *cli, int ncli,
                      struct fw_run *run, char *err, size_t errlen) {
    run->noptions = 0;
    memset(run->options, 0, sizeof run->options);
    return select_from(fw, scenario, nscen, where, run, err, errlen) ||
                   select_from(fw, cli, ncli, NULL, run, err, errlen)
               ? -1
               : 0;
}

const char *fw_option(const struct fw_run *run, const char *name) {
    for (int i = 0; i < run->noptions; i++)
        if (strcmp(run->options[i].name, name) == 0) return run->options[i].value;
    return NULL;
}

cJSON *fw_options_json(const struct tq_framework *fw, const struct fw_run *run) {
    cJSON *o = cJSON_CreateObject();
    for (const struct fw_option_def *d = fw->options; d && d->name; d++) {
        const char *v = fw_option(run, d->name);
        /* --external: the workers' own setting, which tqbench does not know */
        if (!v && !(run->external && !d->producer_side)) v = d->default_value;
        if (v) cJSON_AddStringToObject(o, d->name, v);
        else cJSON_AddNullToObject(o, d->name);
    }
    return o;
}

const char *fw_options_describe(const struct tq_framework *fw, const struct fw_option_def *def,
                                char *buf, size_t n) {
    char acc[256] = "VALUE";
    if (def->values && def->values[0]) {
        size_t len = 0;
        for (int i = 0; def->values[i] && len < sizeof acc; i++) {
            int w = snprintf(acc + len, sizeof acc - len, "%s%s", i ? "|" : "", def->values[i]);
            if (w < 0) break;
            len += (size_t)w;
        }
    }
    snprintf(buf, n, "%s.%s=%s%s%s%s: %s", fw->name, def->name, acc,
             def->default_value ? " (default " : "", def->default_value ? def->default_value : "",
             def->default_value ? ")" : "", def->description ? def->description : "");
    return buf;
}
