/* sweep.h - a scenario's sweep: one parameter over a list of values.
 *
 * A scenario with "sweep": {"param": P, "values": [v1, v2, ...]} is a curve:
 * each value is a point, a run of its own (the scenario with P set to the
 * value), with its own row in results.json tagged
 * "sweep": {"param": P, "value": v}. The points are run in an order that
 * favours neither end of the curve: every framework runs a point before any
 * runs the next (interleaved, as repeats are), and the points go up on odd
 * repeats and down on even ones; a rate sweep always goes up, since a curve
 * above capacity is reached from below and stops there. --repeat repeats
 * every point.
 *
 * A curve stops early, and says so, at a point that failed or, in a rate
 * sweep, at the first point the workers could not keep up with (achieved
 * rate, first task started to last done, below SWEEP_SATURATED x the
 * offered one: beyond it the backlog, and
 * the time to drain it, only grow): that point is recorded with why the
 * curve stopped there, the points beyond it are not run, and the invocation
 * does not fail for it (only a curve whose first point fails, which
 * measured nothing, fails it). The knee of a rate curve is the highest
 * offered rate whose p99 stays within SWEEP_BREAK_FACTOR x the lowest
 * point's: where latency broke away.
 *
 * The planning, stop rule and knee are pure functions (unit-tested);
 * sweep_run runs a whole sweep the way main.c runs a scenario. */
#ifndef TQ_BENCH_SWEEP_H
#define TQ_BENCH_SWEEP_H

#include <cjson/cJSON.h>
#include "bench.h"
#include "framework.h"
#include "report.h"
#include "scenario.h"

#define SWEEP_BREAK_FACTOR 10.0
#define SWEEP_SATURATED 0.9

/* One run of a sweep: repeat (0-based), point (index into the values),
 * framework (index into the invocation's frameworks). */
struct sweep_step {
    int rep, point, fw;
};

/* The scenario of one point: s with the swept parameter set to the
 * point's value (a rate as rate_fraction of the probed capacity). */
void sweep_apply(const struct scenario *s, int point, struct scenario *out);

/* The runs of a sweep in their order (see above): fills steps (repeats x
 * points x nfw of them) and returns how many. */
int sweep_plan(const struct scenario *s, int nfw, int repeats, struct sweep_step *steps);

/* The row tag {"param": name, "value": v}. */
cJSON *sweep_tag(const struct scenario *s, int point);

/* Whether a point's run (its results.json row) ends its curve: 1 with why,
 * else 0. */
int sweep_point_stops(const struct scenario *s, const cJSON *run, char *why, size_t n);

/* The knee of a rate curve from its points' p99 (ascending by rate; NAN
 * where a point has none): the index of the highest point reached from the
 * lowest without a p99 above SWEEP_BREAK_FACTOR x the lowest point's, or -1
 * when the lowest point has no p99. */
int sweep_knee(const double *p99_us, int n);

/* Runs the sweep s on fws: every step of sweep_plan, its rows, summaries
 * and curves into rep, and a table per framework on stdout (unless
 * --quiet). Returns 0, or 1 when a run failed other than by ending its
 * curve (the invocation's exit code 1). */
int sweep_run(struct bench *b, struct report *rep, const struct scenario *s,
              const struct tq_framework *const *fws, int nfw);

#endif
