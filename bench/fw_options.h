/* fw_options.h - framework options: settings that mean something to one
 * framework alone (Celery's worker pool), kept out of the generic run
 * settings.
 *
 * An adapter declares what it accepts (tq_framework.options, a table of
 * struct fw_option_def); a scenario sets them as "options": {"celery":
 * {"pool": "threads"}} and the command line as --option celery.pool=threads,
 * which overrides the scenario's. For each run the driver selects the
 * options of the run's framework into fw_run.options (fw_options_select),
 * refusing an option the framework does not declare or a value it refuses;
 * options of other frameworks are left alone (a scenario file is shared by
 * every framework it runs on). With --external (fw_run.external) an option
 * that configures the workers is refused too: those workers were started
 * with their own settings; only a producer_side option (one that changes
 * how tqbench itself writes the jobs) applies then. The adapter reads them
 * with fw_option().
 *
 * This file depends on nothing but cJSON, so the scenario parser (and its
 * fuzz harness) use it without the adapters. */
#ifndef TQ_BENCH_FW_OPTIONS_H
#define TQ_BENCH_FW_OPTIONS_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "framework.h"

/* Sets framework.name to value in opts[0..*n) (max entries): replaces an
 * entry with the same framework and name, else appends. Returns 0, or -1
 * with err when a part is empty or too long or opts is full (err names
 * "framework.name"). */
int fw_options_put(struct fw_option *opts, int *n, int max, const char *framework,
                   const char *name, const char *value, char *err, size_t errlen);

/* Parses "FRAMEWORK.NAME=VALUE" (the argument of --option) into out.
 * Returns 0, or -1 with err saying which part is missing or too long. */
int fw_options_parse(const char *arg, struct fw_option *out, char *err, size_t errlen);

/* The entry of fw's table called name, or NULL. */
const struct fw_option_def *fw_options_find(const struct tq_framework *fw, const char *name);

/* What def accepts, for errors and listings: "prefork, threads or solo"
 * (its values), else its description. Returns buf. */
const char *fw_options_accepts(const struct fw_option_def *def, char *buf, size_t n);

/* 0 when fw declares name and accepts value; else -1 with err naming the
 * framework, the option, the value and what is accepted ("celery:
 * unsupported pool \"gevent\" (prefork, threads or solo)"; "native: no
 * option \"pool\" (native takes no options)"). */
int fw_options_check(const struct tq_framework *fw, const char *name, const char *value,
                     char *err, size_t errlen);

/* Fills run->options with fw's entries of scenario (nscen of them, set by
 * the scenario file where) and then of cli (ncli, --option), cli
 * overriding, each checked with fw_options_check and, when run->external
 * is set, refused unless producer_side ("native.reliable configures the
 * workers tqbench starts; with --external the external workers' own
 * settings apply ..."). Entries of other frameworks are skipped. Returns 0,
 * or -1 with err (naming where the bad option came from). */
int fw_options_select(const struct tq_framework *fw, const struct fw_option *scenario, int nscen,
                      const char *where, const struct fw_option *cli, int ncli,
                      struct fw_run *run, char *err, size_t errlen);

/* What fw applies in run, for results.json: {"name": value} for each option
 * it declares, the value set or its default (null when neither, and for a
 * workers' option with --external: theirs, which tqbench does not know). */
cJSON *fw_options_json(const struct tq_framework *fw, const struct fw_run *run);

/* One line describing def for `tqbench list`: "celery.pool=prefork|threads|solo
 * (default prefork): Celery's worker pool". Returns buf. */
const char *fw_options_describe(const struct tq_framework *fw, const struct fw_option_def *def,
                                char *buf, size_t n);

#endif
