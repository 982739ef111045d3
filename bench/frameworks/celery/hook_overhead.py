"""hook_overhead - what tqbench's counting hook costs a Celery worker.

    /usr/bin/python3 hook_overhead.py [--tasks 20000] [--repeat 3]
                                      [--pool prefork] [--concurrency 10]

Drains the same backlog of noop tasks with the same Celery worker twice per
round, once with the hook (TQ_CELERY_HOOK=1) and once without (=0), rounds
interleaved so a noisy neighbour hits both alike, and prints each rate and
the median overhead, in tasks/s and in CPU time of the worker's process tree
per task (the steadier figure on a shared machine).

The worker runs with the arguments tqbench's adapter gives it
(bench/frameworks/celery.c, benchlib.adapter_worker_args) and Celery's
default early acknowledgement, as in a benchmark. Without the hook nothing counts tasks,
so both runs time the same event, read from kombu: the queue's list and
kombu's `unacked` hash both empty. With early acks a message leaves
`unacked` when a pool process has accepted it, so at that moment every task
has started and at most --concurrency noops (microseconds each) are still
running. The clock starts at the first LPUSH; the worker is already
consuming (its BRPOP is seen in CLIENT LIST) and the messages, tqbench
headers included, are built beforehand (benchlib.message). With the hook,
its count is checked afterwards to be exactly --tasks.

It starts its own redis-server (unix socket in a temp dir, no persistence)
and stops it by pid; workers are stopped by pid too. The temp dir, with the
workers' log, is removed after a successful measurement and kept otherwise.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from tqbench_hook import process_tree_usage  # noqa: E402

QUEUE = "hook-overhead"
RUN = "hook-overhead"


def consumer_blocked(r):
    return any(c.get("cmd") == "brpop" for c in r.client_list())


def one_run(r, url, hook, opts, log):
    r.flushall()  # our own private redis-server
    env = {"TQ_CELERY_REDIS_URL": url, "TQ_CELERY_HOOK": "1" if hook else "0",
           "TQ_CELERY_RUN": RUN, "TQ_CELERY_WORKER_ID": "overhead"}
    args = benchlib.adapter_worker_args(opts.pool, opts.concurrency, QUEUE)
    worker = benchlib.start_worker(args, env, log)
    try:
        benchlib.wait_until(lambda: consumer_blocked(r), 60, "the Celery worker's BRPOP")
        msgs = [benchlib.message(QUEUE, RUN, i) for i in range(opts.tasks)]
        user0, sys0, _, _ = process_tree_usage(worker.pid)
        t0 = time.monotonic()
        pipe = r.pipeline(transaction=False)
        for i in range(0, len(msgs), 1000):
            pipe.lpush(QUEUE, *msgs[i:i + 1000])
        pipe.execute()
        benchlib.wait_until(lambda: r.llen(QUEUE) == 0 and r.hlen("unacked") == 0, 600,
                            "the drain")
        seconds = time.monotonic() - t0
        user1, sys1, _, _ = process_tree_usage(worker.pid)
        cpu_us = (user1 + sys1 - user0 - sys0) / opts.tasks
        if hook:
            stats = "tq:run:%s:stats" % RUN
            benchlib.wait_until(lambda: int(r.hget(stats, "completed") or 0) >= opts.tasks, 10,
                                "the hook's count")
            counted = int(r.hget(stats, "completed"))
            if counted != opts.tasks:
                raise SystemExit("hook counted %d of %d" % (counted, opts.tasks))
        return opts.tasks / seconds, cpu_us
    finally:
        benchlib.stop_worker(worker)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pool", default="prefork", choices=("prefork", "threads", "solo"))
    ap.add_argument("--concurrency", type=int, default=10)
    opts = ap.parse_args()

    rates = {False: [], True: []}
    cpus = {False: [], True: []}
    with benchlib.PrivateRedis("tqbench-hook-overhead-") as srv:
        with open(os.path.join(srv.dir, "celery.log"), "ab") as log:
            for i in range(opts.repeat):
                for hook in (False, True):
                    rate, cpu_us = one_run(srv.client, srv.url, hook, opts, log)
                    rates[hook].append(rate)
                    cpus[hook].append(cpu_us)
                    print("round %d hook %-3s %8.1f tasks/s  %6.1f us CPU/task  (load %.2f)" %
                          (i + 1, "on" if hook else "off", rate, cpu_us, os.getloadavg()[0]),
                          flush=True)
        srv.keep_dir = False
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    coff, con = statistics.median(cpus[False]), statistics.median(cpus[True])
    print("median: hook off %.1f tasks/s %.1f us CPU/task; hook on %.1f tasks/s %.1f us CPU/task"
          % (off, coff, on, con))
    print("overhead: %.1f%% of throughput, %+.1f us (%+.1f%%) of worker CPU per task"
          % (100.0 * (off - on) / off, con - coff, 100.0 * (con - coff) / coff))
    print("(%d noop tasks, --pool %s --concurrency %d, the adapter's arguments, early acks;"
          " CPU = the worker's process tree, main process and pool children)"
          % (opts.tasks, opts.pool, opts.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
