/* main.c - tqbench's entry point: the subcommands.
 *
 *   run      scenarios x frameworks x repeats, results.json and a table
 *   list     scenarios and frameworks, one line each
 *   workers  live workers from their heartbeats
 *   clean    delete what runs that are over left (never a live run's keys or
 *            a queue tqbench did not create); --dry-run lists it
 *   enqueue  (benchmark helper) the producer alone, for scripts/bench-driver
 *   stats    one run's counters and latency percentiles (scripts/soak)
 *   report   report.html or an export from a results.json (report_cmd.c)
 *   compare  two results, figure by figure, with verdicts (compare.c)
 *
 * Exit codes: 0 every run complete, 1 a run failed, 2 usage/configuration. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "cleanup.h"
#include "collect.h"
#include "compare.h"
#include "config.h"
#include "export.h"
#include "fw_options.h"
#include "framework.h"
#include "outdir.h"
#include "producer.h"
#include "report.h"
#include "report_cmd.h"
#include "report_html.h"
#include "run.h"
#include "scenario.h"
#include "stale.h"
#include "sweep.h"
#include "tq_clock.h"
#include "tq_keys.h"
#include "tq_log.h"

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* A fw_run with the paths only, for available(). */
static void probe_run(const struct config *cfg, struct fw_run *fr) {
    memset(fr, 0, sizeof *fr);
    snprintf(fr->bin_dir, sizeof fr->bin_dir, "%s", cfg->exe_dir);
    snprintf(fr->frameworks_dir, sizeof fr->frameworks_dir, "%s", cfg->frameworks_dir);
    snprintf(fr->worker_bin, sizeof fr->worker_bin, "%s", cfg->worker_bin);
    snprintf(fr->asynctasq_python, sizeof fr->asynctasq_python, "%s", cfg->asynctasq_python);
    snprintf(fr->prefix, sizeof fr->prefix, "%s", cfg->prefix);
}

/* --framework: fills fws (available ones). Named-but-unavailable and
 * unknown names are configuration errors; "all" skips unavailable ones. */
static int frameworks_select(const struct config *cfg, const struct tq_framework **fws, int *n,
                             struct report *rep, char *err, size_t errlen) {
    struct fw_run fr;
    probe_run(cfg, &fr);
    char why[512];
    *n = 0;
    if (strcmp(cfg->frameworks, "all") == 0) {
        for (int i = 0; tq_frameworks[i]; i++) {
            if (tq_frameworks[i]->available(&fr, why, sizeof why)) fws[(*n)++] = tq_frameworks[i];
            else {
                if (!cfg->quiet) fprintf(stderr, "skipping %s: %s\n", tq_frameworks[i]->name, why);
                if (rep) report_add_skipped(rep, tq_frameworks[i]->name, why);
            }
        }
        if (*n == 0) {
            snprintf(err, errlen, "--framework all: no framework is available");
            return -1;
        }
        return 0;
    }
    char list[sizeof cfg->frameworks];
    snprintf(list, sizeof list, "%s", cfg->frameworks);
    char *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        const struct tq_framework *fw = framework_find(name);
        if (!fw) {
            int len = snprintf(err, errlen, "--framework: unknown framework \"%s\" (known:", name);
            for (int i = 0; tq_frameworks[i] && len > 0 && (size_t)len < errlen; i++)
                len += snprintf(err + len, errlen - (size_t)len, " %s", tq_frameworks[i]->name);
            if (len > 0 && (size_t)len < errlen) snprintf(err + len, errlen - (size_t)len, ", all)");
            return -1;
        }
        for (int i = 0; i < *n; i++)
            if (fws[i] == fw) {
                snprintf(err, errlen, "--framework: \"%s\" given twice", name);
                return -1;
            }
        if (!cfg->external && !fw->available(&fr, why, sizeof why)) {
            snprintf(err, errlen, "--framework %s is not available: %s", name, why);
            return -1;
        }
        fws[(*n)++] = fw;
    }
    if (*n == 0) {
        snprintf(err, errlen, "--framework: empty list");
        return -1;
    }
    return 0;
}

/* The scenario with the command line's overrides applied. */
static void scenario_override(const struct config *cfg, struct scenario *s) {
    if (cfg->tasks > 0) s->tasks = cfg->tasks;
    if (cfg->tasks > 0) s->tasks_capacity_s = 0; /* --tasks: that count, not a capacity's */
    if (cfg->workers > 0) s->workers = cfg->workers;
    if (cfg->concurrency > 0) s->concurrency = cfg->concurrency;
    if (cfg->prefetch > 0) s->prefetch = cfg->prefetch;
    if (cfg->repeat > 0) s->repeat = cfg->repeat;
    if (cfg->warmup >= 0) s->warmup_tasks = cfg->warmup;
    if (cfg->rate > 0 && s->arrival == ARRIVAL_RATE) s->rate = cfg->rate;
    if (cfg->tasks > 0 && s->arrival == ARRIVAL_RATE) s->duration_s = 0;
}

/* Every --scenario, loaded and validated before anything runs. */
static int scenarios_load(const struct config *cfg, struct scenario **out, int *n, char *err,
                          size_t errlen) {
    int cap = 16;
    struct scenario *s = malloc((size_t)cap * sizeof *s);
    *n = 0;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < cfg->nscenarios; i++) {
        char **paths = NULL;
        int np;
        char one[FW_PATH_MAX];
        if (strcmp(cfg->scenarios[i], "all") == 0) {
            np = scenario_list(cfg->scenario_dir, &paths, err, errlen);
            if (np < 0) goto fail;
        } else {
            if (scenario_resolve(cfg->scenario_dir, cfg->scenarios[i], one, sizeof one, err,
                                 errlen) != 0)
                goto fail;
            np = 1;
        }
        for (int k = 0; k < np; k++) {
            if (*n == cap) {
                cap *= 2;
                struct scenario *g = realloc(s, (size_t)cap * sizeof *s);
                if (!g) {
                    scenario_paths_free(paths, np);
                    snprintf(err, errlen, "out of memory");
                    goto fail;
                }
                s = g;
            }
            if (scenario_load(paths ? paths[k] : one, &s[*n], err, errlen) != 0) {
                scenario_paths_free(paths, np);
                goto fail;
            }
            scenario_override(cfg, &s[*n]);
            /* --rate x the file's duration_s: bounded like --tasks, before anything starts */
            if (scenario_check_total(&s[*n], cfg->rate > 0, err, errlen) != 0) {
                scenario_paths_free(paths, np);
                goto fail;
            }
            (*n)++;
        }
        scenario_paths_free(paths, np);
    }
    *out = s;
    return 0;
fail:
    free(s);
    return -1;
}

static void redis_version(redisContext *c, char *buf, size_t n) {
    char err[128];
    snprintf(buf, n, "unknown");
    redisReply *r = tq_redis_command(c, err, sizeof err, "INFO server");
    if (!r) return;
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:") : NULL;
    if (p) snprintf(buf, n, "%.*s", (int)strcspn(p + 14, "\r\n"), p + 14);
    freeReplyObject(r);
}

static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* Under the tables: the pins of a pinned invocation, so its figures are not
 * compared with unpinned ones by mistake. */
static void print_pins(const struct config *cfg) {
    const struct config_pin *pins[] = {&cfg->pin_workers, &cfg->pin_redis, &cfg->pin_driver};
    const char *roles[] = {"workers", "redis", "driver"};
    int shown = 0;
    for (int i = 0; i < 3; i++) {
        if (!pins[i]->set) continue;
        printf("%s%s on CPU %s", shown++ ? ", " : "\npinned: ", roles[i], pins[i]->list);
    }
    if (shown) printf(" (results.json: resources.*.cpus_allowed, cpus_seen)\n");
}

/* No further run once a signal came or the embedded Redis died. */
static int runs_go_on(const struct bench *b) { return !b->ev.signo && !b->redis.died[0]; }

static int cmd_run(const struct config *cfg) {
    char err[1024];
    struct scenario *scen = NULL;
    int nscen = 0;
    if (scenarios_load(cfg, &scen, &nscen, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        return EXIT_USAGE;
    }
    const struct tq_framework *fws[16];
    int nfw = 0;
    struct bench b;
    memset(&b, 0, sizeof b);
    b.cfg = cfg;
    b.tty = isatty(STDERR_FILENO);
    if (tq_cpuset_allowed(0, &b.cpus_start) != 0) {
        fprintf(stderr, "tqbench: cannot read its CPU affinity: %s\n", strerror(errno));
        free(scen);
        return EXIT_FAILED;
    }
    /* before anything starts: the producer, the monitor and the framework
     * helpers all run on the driver's CPUs */
    if (cfg->pin_driver.set &&
        sched_setaffinity(0, sizeof cfg->pin_driver.cpus, &cfg->pin_driver.cpus) != 0) {
        fprintf(stderr, "tqbench: --pin-driver %s: %s\n", cfg->pin_driver.list, strerror(errno));
        free(scen);
        return EXIT_USAGE;
    }
    struct report rep;
    if (report_init(&rep, cfg) != 0) {
        fprintf(stderr, "tqbench: out of memory\n");
        free(scen);
        return EXIT_FAILED;
    }
    if (frameworks_select(cfg, fws, &nfw, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        report_free(&rep);
        free(scen);
        return EXIT_USAGE;
    }
    /* settings an adapter refuses: a configuration error, before anything
     * starts (a scenario it lacks the capabilities for is skipped later) */
    for (int si = 0; si < nscen; si++)
        for (int f = 0; f < nfw; f++)
            if (run_admit(cfg, &scen[si], fws[f], err, sizeof err) < 0) {
                fprintf(stderr, "tqbench: %s\n", err);
                report_free(&rep);
                free(scen);
                return EXIT_USAGE;
            }
    if (evloop_init(&b.ev) != 0) {
        report_free(&rep);
        free(scen);
        return EXIT_FAILED;
    }
    int code = EXIT_USAGE;
    /* --redis: a server that cannot be reached is a configuration error,
     * found before anything is created or started */
    if (cfg->has_redis) {
        if (bench_set_redis(&b, &cfg->redis, err, sizeof err) != 0) {
            fprintf(stderr, "tqbench: --redis: %s\n", err);
            goto early;
        }
        if (bench_connect(&b, err, sizeof err) != 0) {
            fprintf(stderr, "tqbench: %s (--redis)\n", err);
            goto early;
        }
        /* an external queue holding others' tasks: refused before anything
         * is created, unless --shared-queue */
        for (int f = 0; f < nfw; f++) {
            int q = run_check_external_queue(&b, fws[f], err, sizeof err);
            if (q != 0) {
                fprintf(stderr, "tqbench: %s\n", err);
                if (q < 0) code = EXIT_FAILED;
                goto early;
            }
        }
    }
    /* what a tqbench killed with SIGKILL left: its embedded Redis's
     * directory, its results.json still "running" */
    const char *tmp = getenv("TMPDIR");
    stale_sweep_redis_dirs(tmp && *tmp ? tmp : "/tmp");
    if (outdir_root(cfg)) stale_mark_results(outdir_root(cfg));
    if (outdir_create(cfg, b.out_dir, sizeof b.out_dir, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        goto early;
    }
    snprintf(b.log_dir, sizeof b.log_dir, "%s/logs", b.out_dir);
    report_set_dir(&rep, b.out_dir);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(rep.doc, "config"), "out",
                              cJSON_CreateString(b.out_dir));
    if (report_write(&rep, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        goto early;
    }
    code = EXIT_OK;
    const char *status = "ok";
    cJSON *rj = cJSON_AddObjectToObject(rep.doc, "redis");
    if (cfg->has_redis) {
        cJSON_AddBoolToObject(rj, "embedded", 0);
        cJSON_AddStringToObject(rj, "url", b.url_safe);
    } else {
        if (redis_embed_start(&b.redis, &b.ev, bench_cpus(&b, &cfg->pin_redis), 10000, err,
                              sizeof err) != 0) {
            fprintf(stderr, "tqbench: %s\n", err);
            cJSON_AddStringToObject(rep.doc, "error", err);
            code = EXIT_FAILED;
            status = b.ev.signo ? "interrupted" : "failed";
            goto finish;
        }
        /* a socket path that long is refused when the server starts; the
         * check stays, so no URL reaches a worker unchecked */
        if (bench_set_redis(&b, &b.redis.url, err, sizeof err) != 0) {
            fprintf(stderr, "tqbench: embedded Redis: %s\n", err);
            cJSON_AddStringToObject(rep.doc, "error", err);
            code = EXIT_FAILED;
            status = "failed";
            goto finish;
        }
        cJSON_AddBoolToObject(rj, "embedded", 1);
        cJSON_AddNumberToObject(rj, "pid", b.redis.pid);
        redis_embed_to_json(&b.redis, rj);
        cJSON_AddStringToObject(rj, "url", b.url_safe);
        if (bench_connect(&b, err, sizeof err) != 0) {
            fprintf(stderr, "tqbench: %s\n", err);
            cJSON_AddStringToObject(rep.doc, "error", err);
            code = EXIT_FAILED;
            status = "failed";
            goto finish;
        }
    }
    {
        char ver[64];
        redis_version(b.c, ver, sizeof ver);
        cJSON_AddStringToObject(rj, "version", ver);
    }
    if (report_write(&rep, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        code = EXIT_USAGE;
        status = "failed";
        goto finish;
    }
    for (int si = 0; si < nscen && runs_go_on(&b); si++) {
        const struct scenario *s = &scen[si];
        if (s->sweep_param != SWEEP_NONE) { /* a curve: one run per point (sweep.h) */
            if (sweep_run(&b, &rep, s, fws, nfw) != 0) code = EXIT_FAILED;
            continue;
        }
        int reps = s->repeat;
        struct run_figures *figs = calloc((size_t)(nfw * reps), sizeof *figs);
        if (!figs) {
            code = EXIT_FAILED;
            break;
        }
        int ran = 0;
        for (int r = 0; r < reps && runs_go_on(&b); r++) {
            /* frameworks interleaved per repeat: slow drift of the machine
             * affects them alike */
            for (int f = 0; f < nfw && runs_go_on(&b); f++) {
                char why[512];
                if (run_admit(cfg, s, fws[f], why, sizeof why) != 0) {
                    figs[f * reps + r].skipped = 1;
                    if (r == 0) {
                        report_add_skipped_run(&rep, s->name, fws[f]->name, why);
                        if (!cfg->quiet) fprintf(stderr, "skipped: %s\n", why);
                    }
                    continue;
                }
                cJSON *run = run_one(&b, s, fws[f], r + 1, &figs[f * reps + r]);
                report_add_run(&rep, run);
                if (!figs[f * reps + r].ok) code = EXIT_FAILED;
                if (report_write(&rep, err, sizeof err) != 0) fprintf(stderr, "tqbench: %s\n", err);
                ran = r + 1;
            }
        }
        for (int f = 0; f < nfw; f++)
            report_add_summary(&rep, s->name, fws[f]->name, figs + f * reps, ran);
        if (!cfg->quiet && ran > 0 && export_parse_format(cfg->format) <= EXPORT_TABLE) {
            const char *names[16];
            for (int f = 0; f < nfw; f++) names[f] = fws[f]->name;
            /* a table over the repeats that ran: figs rows are reps wide */
            struct run_figures *t = calloc((size_t)(nfw * ran), sizeof *t);
            if (t) {
                for (int f = 0; f < nfw; f++)
                    memcpy(t + f * ran, figs + f * reps, (size_t)ran * sizeof *t);
                report_table(stdout, s->name, names, nfw, t, ran);
                free(t);
            }
        }
        free(figs);
    }
    if (b.ev.signo) {
        status = "interrupted";
        code = EXIT_FAILED;
    } else if (b.redis.died[0]) {
        fprintf(stderr, "tqbench: %s: no further run started\n", b.redis.died);
        cJSON_AddStringToObject(rep.doc, "error", b.redis.died);
        status = "failed";
        code = EXIT_FAILED;
    } else if (code != EXIT_OK) {
        status = "failed";
    }

finish:;
    char html[sizeof rep.path];
    /* peak RSS of the driver over the whole invocation: what bench-driver
     * compares between task counts (histograms, not per-task arrays) */
    cJSON_AddNumberToObject(rep.doc, "driver_peak_rss_kb", (double)vm_hwm_kb());
    if (b.c) redisFree(b.c);
    b.c = NULL;
    redis_embed_stop(&b.redis);
    if (report_finish(&rep, status, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        if (code == EXIT_OK) code = EXIT_FAILED;
    } else if (report_html_beside(rep.doc, rep.path, html, sizeof html) != 0) {
        if (code == EXIT_OK) code = EXIT_FAILED;
    } else if (export_parse_format(cfg->format) > EXPORT_TABLE) {
        /* --format json|md|csv: stdout is the export alone */
        if (export_write(stdout, rep.doc, (enum export_format)export_parse_format(cfg->format)))
            fprintf(stderr, "tqbench: writing the --format %s export failed\n", cfg->format);
        if (!cfg->quiet) fprintf(stderr, "results: %s\nreport: %s\n", rep.path, html);
    } else if (!cfg->quiet) {
        print_pins(cfg);
        printf("\nresults: %s\nreport: %s\n", rep.path, html);
        char host[FW_PATH_MAX + 64];
        if (outdir_host_path(cfg, rep.path, host, sizeof host) == 0)
            printf("results on the host: %s\n", host);
    }
    fflush(stdout);
    report_free(&rep);
    evloop_close(&b.ev);
    free(scen);
    return code;

early: /* a configuration error: nothing started */
    if (b.c) redisFree(b.c);
    evloop_close(&b.ev);
    report_free(&rep);
    free(scen);
    return code;
}

static int cmd_list(const struct config *cfg) {
    char err[512];
    char **paths = NULL;
    int n = scenario_list(cfg->scenario_dir, &paths, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        return EXIT_USAGE;
    }
    int bad = 0;
    printf("data: %s (%s)\n", cfg->data_dir, cfg->data_source);
    printf("scenarios (%s):\n", cfg->scenario_dir);
    for (int i = 0; i < n; i++) {
        struct scenario s;
        if (scenario_load(paths[i], &s, err, sizeof err) != 0) {
            printf("  %-14s INVALID: %s\n", "?", err);
            bad = 1;
            continue;
        }
        printf("  %-14s %s\n", s.name, s.description);
    }
    scenario_paths_free(paths, n);
    printf("frameworks (%s):\n", cfg->frameworks_dir);
    struct fw_run fr;
    probe_run(cfg, &fr);
    for (int i = 0; tq_frameworks[i]; i++) {
        char why[512];
        int ok = tq_frameworks[i]->available(&fr, why, sizeof why);
        printf("  %-14s %s%s%s\n", tq_frameworks[i]->name, tq_frameworks[i]->description,
               ok ? "" : " -- unavailable: ", ok ? "" : why);
        for (const struct fw_option_def *o = tq_frameworks[i]->options; o && o->name; o++)
            printf("  %-14s --option %s\n", "", fw_options_describe(tq_frameworks[i], o, why,
                                                                     sizeof why));
    }
    return bad ? EXIT_USAGE : EXIT_OK;
}

static const char *field(const redisReply *h, const char *name) {
    for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1]->str;
    return "";
}

/* A connection for workers/clean/enqueue; NULL after printing why (err
 * from tq_redis_connect starts with the safe URL). */
static redisContext *connect_or_say(const struct config *cfg) {
    char err[512];
    redisContext *c = tq_redis_connect(&cfg->redis, 5000, err, sizeof err);
    if (!c) fprintf(stderr, "tqbench: cannot connect to Redis %s\n", err);
    return c;
}

static int cmd_workers(const struct config *cfg) {
    char err[512], key[TQ_KEY_MAX];
    redisContext *c = connect_or_say(cfg);
    if (!c) return EXIT_USAGE; /* configuration: the wrong URL, or no server there */
    tq_key_workers(key, sizeof key, cfg->prefix);
    redisReply *m = tq_redis_command(c, err, sizeof err, "SMEMBERS %s", key);
    if (!m) {
        fprintf(stderr, "tqbench: %s: %s\n", cfg->redis_safe, err);
        redisFree(c);
        return EXIT_FAILED;
    }
    int live = 0, stale = 0;
    int64_t now = tq_clock_wall_us();
    for (size_t i = 0; i < m->elements; i++) {
        if (m->element[i]->type != REDIS_REPLY_STRING) continue;
        tq_key_worker(key, sizeof key, cfg->prefix, m->element[i]->str);
        redisReply *h = tq_redis_command(c, err, sizeof err, "HGETALL %s", key);
        if (!h) continue;
        if (h->elements == 0) {
            stale++;
        } else {
            if (live == 0)
                printf("%-32s %-16s %8s %-20s %7s %10s %9s %9s %8s %8s\n", "id", "host", "pid",
                       "queues", "age", "processed", "inflight", "cpu s", "rss MB", "pss MB");
            live++;
            long long beat = atoll(field(h, "beat_us"));
            double cpu =
                (double)(atoll(field(h, "cpu_user_us")) + atoll(field(h, "cpu_sys_us"))) / 1e6;
            /* pss_kb is absent from the heartbeats of older workers */
            const char *pss_kb = field(h, "pss_kb");
            char pss[32] = "-";
            if (pss_kb[0]) snprintf(pss, sizeof pss, "%.1f", (double)atoll(pss_kb) / 1024.0);
            printf("%-32s %-16s %8s %-20s %6.1fs %10s %9s %9.2f %8.1f %8s\n", m->element[i]->str,
                   field(h, "host"), field(h, "pid"), field(h, "queues"),
                   beat > 0 ? (double)(now - beat) / 1e6 : -1.0, field(h, "processed"),
                   field(h, "inflight"), cpu, (double)atoll(field(h, "rss_kb")) / 1024.0, pss);
        }
        freeReplyObject(h);
    }
    freeReplyObject(m);
    redisFree(c);
    if (stale) printf("(%d registry entr%s without a live heartbeat: `tqbench clean` removes them)\n",
                      stale, stale == 1 ? "y" : "ies");
    if (live == 0) {
        fprintf(stderr, "tqbench: no live workers on %s (prefix %s)\n", cfg->redis_safe, cfg->prefix);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* Deletes what runs that are over left behind, never a live run's keys nor a
 * queue tqbench did not create (cleanup_stale); --dry-run lists it all. */
static int cmd_clean(const struct config *cfg) {
    char err[512];
    redisContext *c = connect_or_say(cfg);
    if (!c) return EXIT_USAGE;
    struct cleanup_totals t;
    int rc = cleanup_stale(c, cfg->prefix, cfg->dry_run, stdout, &t, err, sizeof err);
    redisFree(c);
    if (rc != 0) {
        fprintf(stderr, "tqbench: clean on %s: %s\n", cfg->redis_safe, err);
        return EXIT_FAILED;
    }
    if (cfg->dry_run)
        printf("dry run on %s: would delete %ld run key(s) of %ld run(s) and %ld queue(s), "
               "would remove %ld stale worker registration(s); skipped %ld live run(s); "
               "nothing deleted\n",
               cfg->redis_safe, t.run_keys, t.runs, t.queues, t.stale_workers, t.live_runs);
    else
        printf("deleted %ld run key(s) of %ld run(s) and %ld queue(s), removed %ld stale worker "
               "registration(s), skipped %ld live run(s) on %s\n",
               t.run_keys, t.runs, t.queues, t.stale_workers, t.live_runs, cfg->redis_safe);
    return EXIT_OK;
}

/* One histogram as a text line or a JSON object (hist_to_json's figures). */
static void stats_hist_line(const char *name, const tq_hist *h) {
    if (h->total_count == 0) {
        printf("%-12s no values (out of range %lld)\n", name, (long long)h->out_of_range);
        return;
    }
    printf("%-12s p50 %lld  p90 %lld  p99 %lld  p99.9 %lld  max %lld us  (%lld values, %lld out "
           "of range)\n",
           name, (long long)tq_hist_value_at_percentile(h, 50),
           (long long)tq_hist_value_at_percentile(h, 90),
           (long long)tq_hist_value_at_percentile(h, 99),
           (long long)tq_hist_value_at_percentile(h, 99.9), (long long)tq_hist_max(h),
           (long long)h->total_count, (long long)h->out_of_range);
}

/* `tqbench stats --run ID`: the run's counters and its merged histograms
 * (latency_collect, the same merge as a run's collect). Exit 1 when the run
 * has no keys at all (a wrong id, or keys already deleted). */
static int cmd_stats(const struct config *cfg) {
    char err[512], key[TQ_KEY_MAX];
    redisContext *c = connect_or_say(cfg);
    if (!c) return EXIT_USAGE;
    tq_key_run_stats(key, sizeof key, cfg->prefix, cfg->run_id);
    redisReply *r = tq_redis_command(c, err, sizeof err, "HMGET %s completed failed", key);
    if (!r) {
        fprintf(stderr, "tqbench: stats on %s: %s\n", cfg->redis_safe, err);
        redisFree(c);
        return EXIT_FAILED;
    }
    long long completed = 0, failed = 0;
    int have_stats = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING) {
            completed = atoll(r->element[0]->str);
            have_stats = 1;
        }
        if (r->element[1]->type == REDIS_REPLY_STRING) {
            failed = atoll(r->element[1]->str);
            have_stats = 1;
        }
    }
    freeReplyObject(r);
    struct run_latency l;
    if (latency_init(&l) != 0) {
        fprintf(stderr, "tqbench: out of memory\n");
        redisFree(c);
        return EXIT_FAILED;
    }
    int rc = latency_collect(c, cfg->prefix, cfg->run_id, &l, err, sizeof err);
    redisFree(c);
    if (rc != 0) {
        fprintf(stderr, "tqbench: stats on %s: %s\n", cfg->redis_safe, err);
        latency_free(&l);
        return EXIT_FAILED;
    }
    long covered = latency_covered(&l);
    if (!have_stats && covered == 0 && l.snapshots == 0 && l.stamps == 0) {
        fprintf(stderr,
                "tqbench: no run \"%s\" on %s (prefix %s): %s and its histograms do not exist "
                "(a wrong --run, or its keys were deleted)\n",
                cfg->run_id, cfg->redis_safe, cfg->prefix, key);
        latency_free(&l);
        return EXIT_FAILED;
    }
    double window_s = l.first_start_us > 0 && l.last_done_us > l.first_start_us
                          ? (double)(l.last_done_us - l.first_start_us) / 1e6 : 0;
    if (cfg->format_json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "run", cfg->run_id);
        cJSON_AddNumberToObject(o, "completed", (double)completed);
        cJSON_AddNumberToObject(o, "failed", (double)failed);
        cJSON_AddNumberToObject(o, "latency_covered", (double)covered);
        cJSON_AddNumberToObject(o, "snapshots", l.snapshots);
        cJSON_AddNumberToObject(o, "stamps", (double)l.stamps);
        cJSON_AddNumberToObject(o, "malformed", (double)l.malformed);
        if (window_s > 0) cJSON_AddNumberToObject(o, "window_s", window_s);
        else cJSON_AddNullToObject(o, "window_s");
        cJSON_AddItemToObject(o, "end_to_end_us", hist_to_json(&l.end_to_end));
        cJSON_AddItemToObject(o, "queue_wait_us", hist_to_json(&l.queue_wait));
        char *s = cJSON_PrintUnformatted(o);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("run %s on %s\n", cfg->run_id, cfg->redis_safe);
        printf("completed %lld  failed %lld  latency-covered %ld  (%d worker snapshot(s), %ld "
               "stamp(s), %ld malformed)\n",
               completed, failed, covered, l.snapshots, l.stamps, l.malformed);
        if (window_s > 0)
            printf("window %.3f s (first start to last done): %.0f tasks/s\n", window_s,
                   (double)(completed + failed) / window_s);
        stats_hist_line("end_to_end", &l.end_to_end);
        stats_hist_line("queue_wait", &l.queue_wait);
    }
    latency_free(&l);
    return EXIT_OK;
}

static int cmd_enqueue(const struct config *cfg) {
    struct fw_run fr;
    probe_run(cfg, &fr);
    snprintf(fr.run_id, sizeof fr.run_id, "bench-enqueue");
    snprintf(fr.queue, sizeof fr.queue, "%s", cfg->queue);
    static const struct fw_mix_entry noop = {.kind = TQ_KIND_NOOP, .max_attempts = 1, .weight = 1};
    struct producer p;
    producer_init(&p);
    p.fw = &tq_framework_native;
    p.run = &fr;
    p.url = cfg->redis;
    tq_framework_native.queue_key(&fr, p.list_key, sizeof p.list_key);
    snprintf(p.task_run, sizeof p.task_run, "%s", fr.run_id);
    p.tasks = cfg->tasks;
    p.mix = &noop;
    p.mix_len = 1;
    if (cfg->payload_bytes > 0) {
        struct tq_task t = {.run = "bench-enqueue", .max_attempts = 1,
                            .id = (uint64_t)cfg->tasks, .enqueued_us = tq_clock_wall_us()};
        char buf[512];
        int len = tq_task_encode(&t, buf, sizeof buf);
        if (len > 0 && (size_t)len < cfg->payload_bytes) p.pad_len = cfg->payload_bytes - (size_t)len;
    }
    redisContext *c = connect_or_say(cfg);
    if (!c) return EXIT_USAGE;
    redisFree(c);
    if (producer_run(&p) != 0) {
        /* a connection error names the URL already */
        if (strstr(p.err, cfg->redis_safe)) fprintf(stderr, "tqbench enqueue: %s\n", p.err);
        else fprintf(stderr, "tqbench enqueue: %s (Redis %s)\n", p.err, cfg->redis_safe);
        return EXIT_FAILED;
    }
    double s = (double)(p.end_mono_us - p.start_mono_us) / 1e6;
    printf("enqueued %ld tasks onto %s in %.3f s: %.0f tasks/s; driver peak RSS (VmHWM) %ld kB\n",
           p.sent, p.list_key, s, s > 0 ? (double)p.sent / s : 0, vm_hwm_kb());
    return EXIT_OK;
}

int main(int argc, char **argv) {
    struct config cfg;
    char err[1024];
    /* subcommands that take positional files parse their own arguments */
    if (argc > 1 && strcmp(argv[1], "report") == 0) return report_cmd_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "compare") == 0) return compare_main(argc - 1, argv + 1);
    /* a Redis that goes away must be an error return, not a SIGPIPE death;
     * children get default dispositions back in tq_spawn */
    signal(SIGPIPE, SIG_IGN);
    if (config_parse(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "tqbench: %s\n", err);
        return EXIT_USAGE;
    }
    tq_log_init("tqbench", (enum tq_log_level)cfg.log_level);
    switch (cfg.cmd) {
    case CMD_HELP:
        config_usage(stdout);
        return EXIT_OK;
    case CMD_VERSION:
        printf("tqbench %s\n", TQ_VERSION);
        return EXIT_OK;
    case CMD_RUN:
        return cmd_run(&cfg);
    case CMD_LIST:
        return cmd_list(&cfg);
    case CMD_WORKERS:
        return cmd_workers(&cfg);
    case CMD_CLEAN:
        return cmd_clean(&cfg);
    case CMD_ENQUEUE:
        return cmd_enqueue(&cfg);
    case CMD_STATS:
        return cmd_stats(&cfg);
    case CMD_NONE:
        break;
    }
    config_usage(stderr);
    return EXIT_USAGE;
}
