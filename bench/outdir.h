/* outdir.h - where an invocation's results go, never over another's.
 *
 * By default each `tqbench run` gets a folder of its own, ROOT/<UTC
 * timestamp> (ROOT is "results", or --results-root), made with mkdir(2),
 * which fails when the folder exists: two invocations in the same second
 * get <stamp> and <stamp>-2 instead of sharing (and mixing) one. --out DIR
 * takes DIR as given (created when missing), but never over an earlier
 * run: DIR/results.json is created with O_EXCL, so when one is there the
 * invocation is refused and nothing is overwritten. */
#ifndef TQ_BENCH_OUTDIR_H
#define TQ_BENCH_OUTDIR_H

#include <stddef.h>
#include "config.h"

/* Creates the results folder (per cfg->out_dir / cfg->results_root), its
 * logs/ and an empty results.json claimed for this invocation; the folder's
 * path goes to dir. Returns 0, or -1 with err naming the flag and the path
 * (--out DIR holding a results.json: "--out DIR: DIR/results.json already
 * exists ..."). */
int outdir_create(const struct config *cfg, char *dir, size_t n, char *err, size_t errlen);

/* The folder that holds the timestamped results folders (--results-root,
 * else "results"), or NULL with --out. */
const char *outdir_root(const struct config *cfg);

/* Where a results file is on the host when tqbench runs in a container whose
 * results root is a mount of the host's folder TQ_HOST_RESULTS (set by
 * docker/compose.yaml, since the container cannot know it): path with the
 * root replaced by that folder, into out. Returns 0, or -1 when
 * TQ_HOST_RESULTS is unset or empty, with --out, or when path is not under
 * the root (nothing written). */
int outdir_host_path(const struct config *cfg, const char *path, char *out, size_t n);

#endif
