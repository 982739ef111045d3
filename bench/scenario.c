/* scenario.c - loading and validating scenario files (see scenario.h).
 *
 * A file is one JSON object:
 *   {"name": "throughput", "description": "...", "tasks": 20000,
 *    "warmup_tasks": 1000, "workers": 1, "concurrency": 10, "prefetch": 1,
 *    "options": {"celery": {"pool": "prefork"}}, "mix": [{"kind": "noop", "weight": 1}],
 *    "payload_bytes": 0, "arrival": "backlog", "rate": 0, "duration_s": 0,
 *    "timeout_s": 600, "repeat": 1}
 * Only "tasks" is required (or "duration_s" with "arrival": "rate"); the rest
 * have the defaults set in scenario_defaults(). Mix entries: "kind" (noop,
 * sleep, cpu, fail), "weight" (> 0, default 1), "ms" (sleep, required), "us"
 * (cpu, required), "max_attempts" (any kind, default 1). "options" holds
 * framework options as strings, per framework (fw_options.h): which exist
 * is the adapters' to say when a run selects them, since a file is shared
 * by every framework; the top-level "pool" of earlier files is still read,
 * as options.celery.pool, with a warning.
 *
 * The file must be exactly that object: a NUL byte or text after it is
 * refused (a truncated or concatenated file is not silently half-read), and
 * every count is bounded, rate x duration_s included, with the bound named
 * in the error. The bounds are tq_limits.h's, shared with the flags and with
 * tqworker: "concurrency" and "prefetch" stop where tqworker's do, so a file
 * it would refuse fails here (exit 2), not at the health check. */
#include "scenario.h"

#include <errno.h>
#include "fw_options.h"
#include "tq_log.h"
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCENARIO_FILE_MAX (1 << 20)

static const char *const top_keys[] = {
    "name", "description", "tasks", "warmup_tasks", "workers", "concurrency", "prefetch", "pool",
    "mix", "payload_bytes", "arrival", "rate", "duration_s", "timeout_s", "repeat",
    "rate_fraction", "probe_min_s", "tasks_capacity_s", "sweep", "queues", "burst", "options", NULL,
};
static const char *const burst_keys[] = {"factor", "every_s", "at_s", "length_s", NULL};
static const char *const sweep_keys[] = {"param", "values", NULL};
static const char *const sweep_names[] = {"", "rate", "workers", "concurrency", "prefetch",
                                          "payload_bytes", "tasks"};
static const char *const mix_keys[] = {"kind", "weight", "ms", "us", "max_attempts", NULL};
static const char *const arrival_names[] = {"backlog", "live", "rate", "cold"};

const char *scenario_arrival_name(enum arrival a) {
    return (a >= ARRIVAL_BACKLOG && a <= ARRIVAL_COLD) ? arrival_names[a] : "unknown";
}

const char *sweep_param_name(enum sweep_param p) {
    return (p >= SWEEP_NONE && p <= SWEEP_TASKS) ? sweep_names[p] : "";
}

enum sweep_param sweep_param_parse(const char *name) {
    for (int i = SWEEP_RATE; i <= SWEEP_TASKS; i++)
        if (strcmp(name, sweep_names[i]) == 0) return (enum sweep_param)i;
    return SWEEP_NONE;
}

int scenario_needs_probe(const struct scenario *s) {
    return (s->arrival == ARRIVAL_RATE && s->rate <= 0 && s->capacity_given <= 0) ||
           s->tasks_capacity_s > 0;
}

static void scenario_defaults(struct scenario *s) {
    memset(s, 0, sizeof *s);
    s->warmup_tasks = 0;
    s->workers = 1;
    s->concurrency = 10;
    s->prefetch = 1;
    s->mix_len = 1;
    s->mix[0] = (struct fw_mix_entry){.kind = TQ_KIND_NOOP, .arg = 0, .max_attempts = 1,
                                      .weight = 1};
    s->arrival = ARRIVAL_BACKLOG;
    s->timeout_s = 600;
    s->repeat = 1;
    s->rate_fraction = 0.5;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

static int check_keys(const char *path, const char *where, const cJSON *obj,
                      const char *const *allowed, char *err, size_t errlen) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            if (it->string && strcmp(it->string, allowed[i]) == 0) ok = 1;
        if (!ok) {
            snprintf(err, errlen, "%s: key \"%s%s\" is unknown", path, where,
                     it->string ? it->string : "");
            return -1;
        }
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (o->string && it->string && strcmp(o->string, it->string) == 0) {
                snprintf(err, errlen, "%s: key \"%s%s\" appears twice", path, where, it->string);
                return -1;
            }
    }
    return 0;
}

/* An integer field in [min, max]; absent leaves *out unchanged. */
static int get_int(const char *path, const char *where, const cJSON *obj, const char *key,
                   double min, double max, long *out, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        char got[64];
        if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%.15g", v->valuedouble);
        else snprintf(got, sizeof got, "%s", json_type_name(v));
        /* the bound is always stated: "an integer >= 1" for 1e15 would
         * send the user looking for the wrong mistake */
        snprintf(err, errlen, "%s: \"%s%s\" must be an integer in %.0f..%.0f (got %s)", path,
                 where, key, min, max, got);
        return -1;
    }
    *out = (long)v->valuedouble;
    return 0;
}

static int get_num(const char *path, const char *where, const cJSON *obj, const char *key,
                   double min, double max, int min_exclusive, double *out, char *err,
                   size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        (min_exclusive ? v->valuedouble <= min : v->valuedouble < min) || v->valuedouble > max) {
        char got[64];
        if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%.15g", v->valuedouble);
        else snprintf(got, sizeof got, "%s", json_type_name(v));
        if (min_exclusive)
            snprintf(err, errlen, "%s: \"%s%s\" must be a number > %.15g and at most %.15g (got %s)",
                     path, where, key, min, max, got);
        else
            snprintf(err, errlen, "%s: \"%s%s\" must be a number in %.15g..%.15g (got %s)", path,
                     where, key, min, max, got);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

static int get_str(const char *path, const cJSON *obj, const char *key, char *out, size_t n,
                   char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a string (got %s)", path, key,
                 json_type_name(v));
        return -1;
    }
    if (strlen(v->valuestring) >= n) {
        snprintf(err, errlen, "%s: \"%s\" is longer than %zu characters", path, key, n - 1);
        return -1;
    }
    snprintf(out, n, "%s", v->valuestring);
    return 0;
}

static int load_mix(const char *path, const cJSON *mix, struct scenario *s, char *err,
                    size_t errlen) {
    if (!cJSON_IsArray(mix)) {
        snprintf(err, errlen, "%s: \"mix\" must be an array of {\"kind\": ...} objects (got %s)",
                 path, json_type_name(mix));
        return -1;
    }
    int n = cJSON_GetArraySize(mix);
    if (n < 1 || n > FW_MIX_MAX) {
        snprintf(err, errlen, "%s: \"mix\" must hold 1..%d entries (got %d)", path, FW_MIX_MAX, n);
        return -1;
    }
    s->mix_len = n;
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(mix, i);
        char where[32];
        snprintf(where, sizeof where, "mix[%d].", i);
        if (!cJSON_IsObject(e)) {
            snprintf(err, errlen, "%s: \"mix[%d]\" must be an object (got %s)", path, i,
                     json_type_name(e));
            return -1;
        }
        if (check_keys(path, where, e, mix_keys, err, errlen)) return -1;
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind");
        int kind = cJSON_IsString(k) ? tq_task_kind_parse(k->valuestring) : -1;
        if (kind < 0) {
            snprintf(err, errlen, "%s: \"mix[%d].kind\" must be one of noop, sleep, cpu, fail (got %s%s%s)",
                     path, i, cJSON_IsString(k) ? "\"" : "",
                     cJSON_IsString(k) ? k->valuestring : (k ? json_type_name(k) : "nothing"),
                     cJSON_IsString(k) ? "\"" : "");
            return -1;
        }
        struct fw_mix_entry *m = &s->mix[i];
        *m = (struct fw_mix_entry){.kind = (enum tq_task_kind)kind, .max_attempts = 1,
                                   .weight = 1};
        long arg = -1, attempts = 1;
        if (get_num(path, where, e, "weight", 0, 1e9, 1, &m->weight, err, errlen) ||
            get_int(path, where, e, "max_attempts", 1, 100, &attempts, err, errlen))
            return -1;
        m->max_attempts = (int)attempts;
        const char *need = kind == TQ_KIND_SLEEP ? "ms" : kind == TQ_KIND_CPU ? "us" : NULL;
        const char *other[] = {"ms", "us"};
        for (int j = 0; j < 2; j++)
            if ((!need || strcmp(need, other[j]) != 0) &&
                cJSON_GetObjectItemCaseSensitive(e, other[j])) {
                snprintf(err, errlen, "%s: key \"%s%s\" is not valid for kind %s%s%s%s", path,
                         where, other[j], tq_task_kind_name(m->kind),
                         need ? " (it takes \"" : "", need ? need : "", need ? "\")" : "");
                return -1;
            }
        if (need) {
            if (!cJSON_GetObjectItemCaseSensitive(e, need)) {
                snprintf(err, errlen, "%s: \"%s%s\" is required for kind %s", path, where, need,
                         tq_task_kind_name(m->kind));
                return -1;
            }
            if (get_int(path, where, e, need, 0,
                        kind == TQ_KIND_SLEEP ? (double)TQ_TASK_SLEEP_MS_MAX
                                              : (double)TQ_RUN_CPU_US_MAX,
                        &arg, err, errlen))
                return -1;
            m->arg = arg;
        }
    }
    return 0;
}

/* "sweep": {"param": NAME, "values": [v, ...]}: values increasing, each
 * within the bounds of the key it stands for (a rate as a fraction of the
 * probed capacity). */
static int load_sweep(const char *path, const cJSON *sw, struct scenario *s, char *err,
                      size_t errlen) {
    if (!cJSON_IsObject(sw)) {
        snprintf(err, errlen, "%s: \"sweep\" must be an object {\"param\": ..., \"values\": [...]} "
                 "(got %s)", path, json_type_name(sw));
        return -1;
    }
    if (check_keys(path, "sweep.", sw, sweep_keys, err, errlen)) return -1;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(sw, "param");
    enum sweep_param param = cJSON_IsString(p) ? sweep_param_parse(p->valuestring) : SWEEP_NONE;
    if (param == SWEEP_NONE) {
        snprintf(err, errlen, "%s: \"sweep.param\" must be one of rate, workers, concurrency, "
                 "prefetch, payload_bytes, tasks (got %s%s%s)", path,
                 cJSON_IsString(p) ? "\"" : "",
                 cJSON_IsString(p) ? p->valuestring : (p ? json_type_name(p) : "nothing"),
                 cJSON_IsString(p) ? "\"" : "");
        return -1;
    }
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(sw, "values");
    int n = cJSON_IsArray(vals) ? cJSON_GetArraySize(vals) : -1;
    if (n < 1 || n > SWEEP_POINTS_MAX) {
        snprintf(err, errlen, "%s: \"sweep.values\" must be an array of 1..%d numbers (got %s)",
                 path, SWEEP_POINTS_MAX, vals ? json_type_name(vals) : "nothing");
        return -1;
    }
    double lo = 1, hi = 1;
    int integer = 1;
    switch (param) {
    case SWEEP_RATE: lo = 0; hi = 100; integer = 0; break;
    case SWEEP_WORKERS: hi = TQ_RUN_WORKERS_MAX; break;
    case SWEEP_CONCURRENCY: hi = TQ_WORKER_CONCURRENCY_MAX; break;
    case SWEEP_PREFETCH: hi = TQ_WORKER_PREFETCH_MAX; break;
    case SWEEP_PAYLOAD_BYTES: lo = 0; hi = TQ_RUN_PAYLOAD_BYTES_MAX; break;
    case SWEEP_TASKS: hi = (double)SCENARIO_TASKS_MAX; break;
    case SWEEP_NONE: break;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(vals, i);
        double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        int bad = !isfinite(x) || x > hi || (integer ? x < lo || x != floor(x) : x <= lo);
        if (bad) {
            snprintf(err, errlen, "%s: \"sweep.values[%d]\" must be %s %s%.15g..%.15g for param %s%s",
                     path, i, integer ? "an integer" : "a number", integer ? "in " : "in (",
                     lo, hi, sweep_names[param],
                     param == SWEEP_RATE ? " (a fraction of the probed capacity)" : "");
            return -1;
        }
        if (i > 0 && x <= s->sweep_values[i - 1]) {
            snprintf(err, errlen, "%s: \"sweep.values\" must increase (values[%d] = %.15g follows "
                     "%.15g)", path, i, x, s->sweep_values[i - 1]);
            return -1;
        }
        s->sweep_values[i] = x;
    }
    s->sweep_param = param;
    s->sweep_n = n;
    return 0;
}

/* "options": {"<framework>": {"<name>": "<value>"}}, and the deprecated
 * top-level "pool" (celery.pool), never both for the same option. */
static int load_options(const char *path, const cJSON *root, struct scenario *s, char *err,
                        size_t errlen) {
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "options");
    if (opts && !cJSON_IsObject(opts)) {
        snprintf(err, errlen, "%s: \"options\" must be an object {\"<framework>\": {\"<name>\": "
                 "\"<value>\"}} (got %s)", path, json_type_name(opts));
        return -1;
    }
    for (const cJSON *f = opts ? opts->child : NULL; f; f = f->next) {
        if (!tq_name_valid(f->string)) {
            snprintf(err, errlen, "%s: key \"options.%.*s\" must be a framework name (1..%d "
                     "characters of [A-Za-z0-9._@-])", path, 64, f->string, TQ_NAME_MAX - 1);
            return -1;
        }
        for (const cJSON *o = opts->child; o != f; o = o->next)
            if (strcmp(o->string, f->string) == 0) {
                snprintf(err, errlen, "%s: key \"options.%s\" appears twice", path, f->string);
                return -1;
            }
        if (!cJSON_IsObject(f)) {
            snprintf(err, errlen, "%s: \"options.%s\" must be an object {\"<name>\": \"<value>\"} "
                     "(got %s)", path, f->string, json_type_name(f));
            return -1;
        }
        for (const cJSON *v = f->child; v; v = v->next) {
            for (const cJSON *o = f->child; o != v; o = o->next)
                if (strcmp(o->string, v->string) == 0) {
                    snprintf(err, errlen, "%s: key \"options.%s.%s\" appears twice", path,
                             f->string, v->string);
                    return -1;
                }
            if (!cJSON_IsString(v)) {
                snprintf(err, errlen, "%s: \"options.%s.%.*s\" must be a string (got %s)", path,
                         f->string, 64, v->string, json_type_name(v));
                return -1;
            }
            char why[512];
            if (fw_options_put(s->options, &s->noptions, FW_OPTIONS_MAX, f->string, v->string,
                               v->valuestring, why, sizeof why) != 0) {
                snprintf(err, errlen, "%s: \"options\": %s", path, why);
                return -1;
            }
        }
    }
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(root, "pool");
    if (!pool) return 0;
    char value[FW_OPTION_VALUE_MAX];
    if (get_str(path, root, "pool", value, sizeof value, err, errlen)) return -1;
    for (int i = 0; i < s->noptions; i++)
        if (strcmp(s->options[i].framework, "celery") == 0 &&
            strcmp(s->options[i].name, "pool") == 0) {
            snprintf(err, errlen, "%s: give \"options\": {\"celery\": {\"pool\": ...}} or the "
                     "deprecated \"pool\", not both", path);
            return -1;
        }
    tq_warn("%s: \"pool\" is deprecated: write \"options\": {\"celery\": {\"pool\": \"%s\"}} "
            "(read as that)", path, value);
    char why[512];
    if (fw_options_put(s->options, &s->noptions, FW_OPTIONS_MAX, "celery", "pool", value, why,
                       sizeof why) != 0) {
        snprintf(err, errlen, "%s: \"pool\": %s", path, why);
        return -1;
    }
    return 0;
}

static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* fopen() opens a directory and only read() fails (EISDIR): say what
     * it is rather than "read error" */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "%s: %s, not a scenario file", path,
                 S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
        return -1;
    }
    char *b = malloc(SCENARIO_FILE_MAX + 1);
    if (!b) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(b, 1, SCENARIO_FILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || n > SCENARIO_FILE_MAX) {
        free(b);
        snprintf(err, errlen, "%s: %s", path,
                 rerr ? "read error" : "larger than 1 MiB: not a scenario file");
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

static int line_of(const char *buf, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off; i++)
        if (buf[i] == '\n') line++;
    return line;
}

int scenario_load(const char *path, struct scenario *s, char *err, size_t errlen) {
    char *buf;
    size_t len;
    scenario_defaults(s);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (read_file(path, &buf, &len, err, errlen)) return -1;
    /* a NUL ends the text for cJSON's error pointer and for any tool the
     * user reads the file with: refuse it wherever it is */
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        size_t off = (size_t)(nul - buf);
        snprintf(err, errlen, "%s: holds a NUL byte (line %d, byte %zu): not a JSON text file",
                 path, line_of(buf, off), off);
        free(buf);
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = (at && at >= buf && at <= buf + len) ? (long)(at - buf) : -1;
        if (off >= 0)
            snprintf(err, errlen, "%s: not valid JSON (line %d, byte %ld)", path,
                     line_of(buf, (size_t)off), off);
        else snprintf(err, errlen, "%s: not valid JSON", path);
        free(buf);
        return -1;
    }
    /* cJSON stops at the end of the first value: whatever follows it
     * (a second object, a stray brace, text) would otherwise be ignored */
    size_t tail = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
    while (tail < len && strchr(" \t\r\n", buf[tail])) tail++;
    if (tail < len) {
        snprintf(err, errlen, "%s: text after the JSON object (line %d, byte %zu): one object "
                 "per file", path, line_of(buf, tail), tail);
        cJSON_Delete(root);
        free(buf);
        return -1;
    }
    free(buf);
    int rc = -1;
    long v;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: must hold a JSON object (got %s)", path, json_type_name(root));
        goto out;
    }
    if (check_keys(path, "", root, top_keys, err, errlen)) goto out;

    /* name: defaults to the file's base name without .json */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(s->name, sizeof s->name, "%.*s", (int)strcspn(base, "."), base);
    if (get_str(path, root, "name", s->name, sizeof s->name, err, errlen) ||
        get_str(path, root, "description", s->description, sizeof s->description, err, errlen) ||
        load_options(path, root, s, err, errlen))
        goto out;
    if (!tq_name_valid(s->name)) {
        snprintf(err, errlen, "%s: \"name\" must be 1..%d characters of [A-Za-z0-9._@-] (got \"%s\")",
                 path, TQ_NAME_MAX - 1, s->name);
        goto out;
    }
    v = 0;
    if (get_int(path, "", root, "tasks", 1, (double)SCENARIO_TASKS_MAX, &v, err, errlen)) goto out;
    s->tasks = v;
    v = s->warmup_tasks;
    if (get_int(path, "", root, "warmup_tasks", 0, (double)TQ_RUN_WARMUP_MAX, &v, err, errlen))
        goto out;
    s->warmup_tasks = v;
    v = s->workers;
    if (get_int(path, "", root, "workers", 1, TQ_RUN_WORKERS_MAX, &v, err, errlen)) goto out;
    s->workers = (int)v;
    v = s->concurrency;
    /* tqworker's bounds: a run passes these to it unchanged */
    if (get_int(path, "", root, "concurrency", 1, TQ_WORKER_CONCURRENCY_MAX, &v, err, errlen))
        goto out;
    s->concurrency = (int)v;
    v = s->prefetch;
    if (get_int(path, "", root, "prefetch", 1, TQ_WORKER_PREFETCH_MAX, &v, err, errlen)) goto out;
    s->prefetch = (int)v;
    v = 0;
    if (get_int(path, "", root, "payload_bytes", 0, TQ_RUN_PAYLOAD_BYTES_MAX, &v, err, errlen))
        goto out;
    s->payload_bytes = (size_t)v;
    v = s->repeat;
    if (get_int(path, "", root, "repeat", 1, TQ_RUN_REPEAT_MAX, &v, err, errlen)) goto out;
    s->repeat = (int)v;
    if (get_num(path, "", root, "timeout_s", 0, 7 * 86400, 1, &s->timeout_s, err, errlen) ||
        get_num(path, "", root, "rate", 0, TQ_RUN_RATE_MAX, 0, &s->rate, err, errlen) ||
        get_num(path, "", root, "duration_s", 0, 86400, 0, &s->duration_s, err, errlen))
        goto out;

    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "arrival");
    if (arr) {
        int found = -1;
        for (int i = 0; i < 4 && cJSON_IsString(arr); i++)
            if (strcmp(arr->valuestring, arrival_names[i]) == 0) found = i;
        if (found < 0) {
            snprintf(err, errlen, "%s: \"arrival\" must be \"backlog\", \"live\", \"rate\" or \"cold\" (got %s%s%s)",
                     path, cJSON_IsString(arr) ? "\"" : "",
                     cJSON_IsString(arr) ? arr->valuestring : json_type_name(arr),
                     cJSON_IsString(arr) ? "\"" : "");
            goto out;
        }
        s->arrival = (enum arrival)found;
    }
    const cJSON *mix = cJSON_GetObjectItemCaseSensitive(root, "mix");
    if (mix && load_mix(path, mix, s, err, errlen)) goto out;
    if (get_num(path, "", root, "rate_fraction", 0, 100, 1, &s->rate_fraction, err, errlen) ||
        get_num(path, "", root, "probe_min_s", 0, 600, 0, &s->probe_min_s, err, errlen) ||
        get_num(path, "", root, "tasks_capacity_s", 0, 3600, 1, &s->tasks_capacity_s, err, errlen))
        goto out;
    const cJSON *bu = cJSON_GetObjectItemCaseSensitive(root, "burst");
    if (bu) {
        if (!cJSON_IsObject(bu)) {
            snprintf(err, errlen, "%s: \"burst\" must be an object {\"factor\", \"every_s\", "
                     "\"at_s\", \"length_s\"} (got %s)", path, json_type_name(bu));
            goto out;
        }
        if (check_keys(path, "burst.", bu, burst_keys, err, errlen)) goto out;
        struct schedule *b = &s->burst;
        b->factor = 0;
        b->every_s = 10;
        b->at_s = 0;
        b->length_s = 1;
        if (get_num(path, "burst.", bu, "factor", 1, 1e4, 1, &b->factor, err, errlen) ||
            get_num(path, "burst.", bu, "every_s", 0, 86400, 1, &b->every_s, err, errlen) ||
            get_num(path, "burst.", bu, "at_s", 0, 86400, 0, &b->at_s, err, errlen) ||
            get_num(path, "burst.", bu, "length_s", 0, 86400, 1, &b->length_s, err, errlen))
            goto out;
        if (!cJSON_GetObjectItemCaseSensitive(bu, "factor")) {
            snprintf(err, errlen, "%s: \"burst.factor\" is required (a burst's rate is factor x "
                     "the base rate)", path);
            goto out;
        }
        if (b->at_s + b->length_s > b->every_s) {
            snprintf(err, errlen, "%s: \"burst.at_s\" + \"burst.length_s\" (%g s) must fit in "
                     "\"burst.every_s\" (%g s)", path, b->at_s + b->length_s, b->every_s);
            goto out;
        }
        if (s->arrival != ARRIVAL_RATE || !(s->duration_s > 0)) {
            snprintf(err, errlen, "%s: \"burst\" needs \"arrival\": \"rate\" and \"duration_s\"",
                     path);
            goto out;
        }
    }
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "queues");
    if (qs) {
        int nq = cJSON_IsArray(qs) ? cJSON_GetArraySize(qs) : -1;
        if (nq < 2 || nq > FW_QUEUES_MAX) {
            snprintf(err, errlen, "%s: \"queues\" must be an array of 2..%d weights, one per queue "
                     "(got %s)", path, FW_QUEUES_MAX, json_type_name(qs));
            goto out;
        }
        for (int i = 0; i < nq; i++) {
            const cJSON *w = cJSON_GetArrayItem(qs, i);
            if (!cJSON_IsNumber(w) || !(w->valuedouble > 0) || w->valuedouble > 1e9) {
                snprintf(err, errlen, "%s: \"queues[%d]\" must be a weight > 0 and at most 1e9", path,
                         i);
                goto out;
            }
            s->queue_weights[i] = w->valuedouble;
        }
        s->nqueues = nq;
        if (s->arrival != ARRIVAL_BACKLOG) {
            snprintf(err, errlen, "%s: \"queues\" needs \"arrival\": \"backlog\" (every queue's "
                     "backlog released at once)", path);
            goto out;
        }
    }
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(root, "sweep");
    if (sw && load_sweep(path, sw, s, err, errlen)) goto out;
    int has_tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks") != NULL;
    if (s->arrival != ARRIVAL_RATE && cJSON_GetObjectItemCaseSensitive(root, "rate_fraction")) {
        snprintf(err, errlen, "%s: \"rate_fraction\" needs \"arrival\": \"rate\"", path);
        goto out;
    }
    if (s->sweep_param == SWEEP_RATE &&
        (s->arrival != ARRIVAL_RATE || cJSON_GetObjectItemCaseSensitive(root, "rate") ||
         cJSON_GetObjectItemCaseSensitive(root, "rate_fraction"))) {
        snprintf(err, errlen, "%s: a \"rate\" sweep needs \"arrival\": \"rate\" and neither "
                 "\"rate\" nor \"rate_fraction\" (its values are the fractions)", path);
        goto out;
    }
    if (s->tasks_capacity_s > 0 && (s->arrival == ARRIVAL_RATE || s->arrival == ARRIVAL_COLD ||
                                    s->sweep_param == SWEEP_TASKS)) {
        snprintf(err, errlen, "%s: \"tasks_capacity_s\" sizes a backlog or live run (not %s%s)",
                 path, s->sweep_param == SWEEP_TASKS ? "a \"tasks\" sweep" : "arrival ",
                 s->sweep_param == SWEEP_TASKS ? "" : arrival_names[s->arrival]);
        goto out;
    }
    if (s->arrival == ARRIVAL_COLD && s->warmup_tasks > 0) {
        snprintf(err, errlen, "%s: \"warmup_tasks\" must be 0 for \"arrival\": \"cold\" (a warm-up "
                 "would make the start warm)", path);
        goto out;
    }
    /* the count that a capacity-relative size is capped at */
    if (s->tasks_capacity_s > 0 && !has_tasks) s->tasks = SCENARIO_TASKS_MAX;
    if (s->sweep_param == SWEEP_TASKS && !has_tasks) s->tasks = (long)s->sweep_values[0];

    if (s->arrival != ARRIVAL_RATE && (cJSON_GetObjectItemCaseSensitive(root, "rate") ||
                                       cJSON_GetObjectItemCaseSensitive(root, "duration_s"))) {
        snprintf(err, errlen, "%s: \"rate\" and \"duration_s\" need \"arrival\": \"rate\"", path);
        goto out;
    }
    if (s->arrival == ARRIVAL_RATE && s->duration_s > 0 && s->tasks > 0) {
        snprintf(err, errlen, "%s: give \"tasks\" or \"duration_s\", not both", path);
        goto out;
    }
    if (s->tasks == 0 && !(s->arrival == ARRIVAL_RATE && s->duration_s > 0)) {
        snprintf(err, errlen, "%s: \"tasks\" is required (an integer in 1..%ld)%s", path,
                 SCENARIO_TASKS_MAX, s->arrival == ARRIVAL_RATE ? ", or \"duration_s\"" : "");
        goto out;
    }
    if (scenario_check_total(s, 0, err, errlen)) goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

long scenario_rate_tasks(const struct scenario *s, double rate, const char *what, char *err,
                         size_t errlen) {
    /* in double: 1e8 x 86400 does not fit every long, and is what to report */
    struct schedule sc = s->burst;
    sc.rate = rate;
    double n = ceil(schedule_count(&sc, s->duration_s));
    if (!(n <= (double)SCENARIO_TASKS_MAX)) {
        /* a probed rate has decimals nobody asked for */
        char r[32];
        if (rate >= 100) snprintf(r, sizeof r, "%.0f", rate);
        else snprintf(r, sizeof r, "%.4g", rate);
        snprintf(err, errlen,
                 "%s: %s %s tasks/s x \"duration_s\" %.15g s = %.0f tasks, more than the %ld "
                 "one run may enqueue (the bound of \"tasks\"): lower one of them",
                 s->path, what, r, s->duration_s, n, SCENARIO_TASKS_MAX);
        return -1;
    }
    return n < 1 ? 1 : (long)n;
}

int scenario_check_total(const struct scenario *s, int rate_from_cli, char *err, size_t errlen) {
    if (s->arrival != ARRIVAL_RATE || s->duration_s <= 0 || s->rate <= 0) return 0;
    return scenario_rate_tasks(s, s->rate, rate_from_cli ? "--rate" : "\"rate\"", err, errlen) < 0
               ? -1 : 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int scenario_resolve(const char *dir, const char *arg, char *path, size_t n, char *err,
                     size_t errlen) {
    struct stat st;
    if (strchr(arg, '/') || ends_with(arg, ".json")) {
        if (stat(arg, &st) != 0) {
            snprintf(err, errlen, "--scenario %s: %s", arg,
                     errno == ENOENT ? "no such file" : strerror(errno));
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "--scenario %s: %s, not a scenario file", arg,
                     S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
            return -1;
        }
        snprintf(path, n, "%s", arg);
        return 0;
    }
    int len = snprintf(path, n, "%s/%s.json", dir, arg);
    if (len < 0 || (size_t)len >= n) {
        snprintf(err, errlen, "--scenario %s: path too long", arg);
        return -1;
    }
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "--scenario %s: no file %s (see `tqbench list`)", arg, path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "--scenario %s: %s %s, not a scenario file", arg, path,
                 S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
        return -1;
    }
    return 0;
}

int scenario_list(const char *dir, char ***paths, char *err, size_t errlen) {
    char pattern[FW_PATH_MAX + 16];
    snprintf(pattern, sizeof pattern, "%s/*.json", dir);
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc != 0) {
        snprintf(err, errlen, "no scenario files in %s (set TQ_SCENARIO_DIR?)", dir);
        if (rc != GLOB_NOMATCH) globfree(&g);
        return -1;
    }
    char **out = calloc(g.gl_pathc, sizeof *out);
    if (!out) {
        globfree(&g);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) out[n++] = strdup(g.gl_pathv[i]);
    globfree(&g);
    *paths = out;
    return n;
}

void scenario_paths_free(char **paths, int n) {
    if (!paths) return;
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

cJSON *scenario_to_json(const struct scenario *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "description", s->description);
    cJSON_AddStringToObject(o, "file", s->path);
    cJSON_AddNumberToObject(o, "tasks", (double)s->tasks);
    cJSON_AddNumberToObject(o, "warmup_tasks", (double)s->warmup_tasks);
    cJSON_AddNumberToObject(o, "workers", s->workers);
    cJSON_AddNumberToObject(o, "concurrency", s->concurrency);
    cJSON_AddNumberToObject(o, "prefetch", s->prefetch);
    /* as a file writes them: loads back to the same options */
    cJSON *opts = cJSON_AddObjectToObject(o, "options");
    for (int i = 0; i < s->noptions; i++) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(opts, s->options[i].framework);
        if (!f) f = cJSON_AddObjectToObject(opts, s->options[i].framework);
        cJSON_AddStringToObject(f, s->options[i].name, s->options[i].value);
    }
    cJSON *mix = cJSON_AddArrayToObject(o, "mix");
    for (int i = 0; i < s->mix_len; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "kind", tq_task_kind_name(s->mix[i].kind));
        cJSON_AddNumberToObject(e, "weight", s->mix[i].weight);
        if (s->mix[i].kind == TQ_KIND_SLEEP) cJSON_AddNumberToObject(e, "ms", (double)s->mix[i].arg);
        if (s->mix[i].kind == TQ_KIND_CPU) cJSON_AddNumberToObject(e, "us", (double)s->mix[i].arg);
        cJSON_AddNumberToObject(e, "max_attempts", s->mix[i].max_attempts);
        cJSON_AddItemToArray(mix, e);
    }
    cJSON_AddNumberToObject(o, "payload_bytes", (double)s->payload_bytes);
    cJSON_AddStringToObject(o, "arrival", scenario_arrival_name(s->arrival));
    /* a sweep point of a rate curve keeps its rate and rate_fraction in
     * results.json (the point's); a file with a rate sweep takes neither */
    if (s->arrival == ARRIVAL_RATE) {
        cJSON_AddNumberToObject(o, "rate", s->rate);
        cJSON_AddNumberToObject(o, "duration_s", s->duration_s);
    }
    cJSON_AddNumberToObject(o, "timeout_s", s->timeout_s);
    cJSON_AddNumberToObject(o, "repeat", s->repeat);
    if (s->arrival == ARRIVAL_RATE && s->rate <= 0)
        cJSON_AddNumberToObject(o, "rate_fraction", s->rate_fraction);
    if (s->probe_min_s > 0) cJSON_AddNumberToObject(o, "probe_min_s", s->probe_min_s);
    if (s->tasks_capacity_s > 0) cJSON_AddNumberToObject(o, "tasks_capacity_s", s->tasks_capacity_s);
    if (s->burst.factor > 1) {
        cJSON *b = cJSON_AddObjectToObject(o, "burst");
        cJSON_AddNumberToObject(b, "factor", s->burst.factor);
        cJSON_AddNumberToObject(b, "every_s", s->burst.every_s);
        cJSON_AddNumberToObject(b, "at_s", s->burst.at_s);
        cJSON_AddNumberToObject(b, "length_s", s->burst.length_s);
    }
    if (s->nqueues > 1)
        cJSON_AddItemToObject(o, "queues", cJSON_CreateDoubleArray(s->queue_weights, s->nqueues));
    if (s->sweep_param != SWEEP_NONE) {
        cJSON *sw = cJSON_AddObjectToObject(o, "sweep");
        cJSON_AddStringToObject(sw, "param", sweep_param_name(s->sweep_param));
        cJSON_AddItemToObject(sw, "values", cJSON_CreateDoubleArray(s->sweep_values, s->sweep_n));
    }
    return o;
}
