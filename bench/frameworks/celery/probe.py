"""probe - what one Celery worker command line does with one load, measured.

    /usr/bin/python3 probe.py [--task KIND=COUNT]... [--timeout S] -- CELERY-WORKER-ARGS...

KIND is noop, sleep:MS, cpu:US or fail:ATTEMPTS (a fail task is retried
through Celery's self.retry() until its attempts are used up). The worker
is `/usr/bin/python3 -m celery -A tqbench_tasks worker -Q probe ARGS...`
with tqbench's hook, against a private redis-server (unix socket in a temp
dir, no persistence), both stopped by pid at the end.

It prints, as one JSON line:
  startup_s   spawn to the hook's first heartbeat (Celery's worker_ready:
              the consumer is attached)
  pushed, completed, failed, retried, seconds, per_s
              the tasks, LPUSHed in one pipeline in the layout of
              common/tq_celery.c, until every one is counted completed or
              failed (the hook's counters), or --timeout
  left_on_list  messages still on the queue's list at the end
  bursts      completed tasks grouped by start time, a new group wherever
              no task started for 300 ms: count, tasks per burst (median,
              max), the gaps between bursts in s (median, max)

With no --task it only measures the start-up. The worker's log is kept
(path printed) when the run did not finish within --timeout.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

QUEUE = "probe"
RUN = "probe"
WORKER_ID = "probe"
BURST_GAP_US = 300000
KINDS = {"noop": "tqbench.noop", "sleep": "tqbench.sleep", "cpu": "tqbench.cpu",
         "fail": "tqbench.fail"}


def parse_task(spec):
    """KIND[:ARG]=COUNT -> (task name, args, max_attempts, count)."""
    try:
        what, count = spec.split("=")
        kind, _, arg = what.partition(":")
        count = int(count)
        task = KINDS[kind]
        value = int(arg) if arg else None
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(
            "bad --task %r (noop=N, sleep:MS=N, cpu:US=N, fail:ATTEMPTS=N)" % spec) from None
    if count < 1 or (kind in ("sleep", "cpu") and value is None) or (value is not None and value < 0):
        raise argparse.ArgumentTypeError("bad --task %r" % spec)
    if kind == "fail":
        return task, (), max(1, value or 1), count
    return task, ((value,) if value is not None else ()), 1, count


def bursts(starts_us):
    if not starts_us:
        return {"count": 0}
    sizes, gaps = [1], []
    for prev, cur in zip(starts_us, starts_us[1:]):
        if cur - prev > BURST_GAP_US:
            gaps.append((cur - prev) / 1e6)
            sizes.append(0)
        sizes[-1] += 1
    out = {"count": len(sizes), "tasks_median": statistics.median(sizes),
           "tasks_max": max(sizes)}
    if gaps:
        out.update(gap_s_median=round(statistics.median(gaps), 2), gap_s_max=round(max(gaps), 2))
    return out


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        print("usage: probe.py [--task KIND=COUNT]... [--timeout S] -- CELERY-WORKER-ARGS...",
              file=sys.stderr)
        return 2
    cut = argv.index("--")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", action="append", type=parse_task, default=[])
    ap.add_argument("--timeout", type=float, default=60.0)
    opts = ap.parse_args(argv[:cut])
    worker_args = argv[cut + 1:]

    with benchlib.PrivateRedis("tqbench-celery-probe-") as srv:
        r = srv.client
        log = open(os.path.join(srv.dir, "celery.log"), "ab")
        t_spawn = time.monotonic()
        worker = benchlib.start_worker(
            ["-A", "tqbench_tasks", "worker", "-Q", QUEUE] + worker_args,
            {"TQ_CELERY_REDIS_URL": srv.url, "TQ_CELERY_RUN": RUN,
             "TQ_CELERY_WORKER_ID": WORKER_ID}, log)
        out = {"worker_args": " ".join(worker_args)}
        try:
            benchlib.wait_until(lambda: r.exists("tq:worker:" + WORKER_ID) or worker.poll() is not None,
                                120, "the worker's heartbeat")
            if worker.poll() is not None:
                raise SystemExit("the Celery worker exited with status %d (log: %s/celery.log)"
                                 % (worker.returncode, srv.dir))
            out["startup_s"] = round(time.monotonic() - t_spawn, 2)
            msgs = []
            for task, args, attempts, count in opts.task:
                msgs += [benchlib.message(QUEUE, RUN, len(msgs) + i, task, args, attempts)
                         for i in range(count)]
            if msgs:
                stats = "tq:run:%s:stats" % RUN
                t0 = time.monotonic()
                pipe = r.pipeline(transaction=False)
                for i in range(0, len(msgs), 1000):
                    pipe.lpush(QUEUE, *msgs[i:i + 1000])
                pipe.execute()

                def counted():
                    v = r.hmget(stats, "completed", "failed")
                    return sum(int(x or 0) for x in v)
                while counted() < len(msgs) and time.monotonic() - t0 < opts.timeout:
                    time.sleep(0.02)
                seconds = time.monotonic() - t0
                time.sleep(0.3)  # a retried task is counted a flush after its last attempt
                c, f, rt = (int(x or 0) for x in r.hmget(stats, "completed", "failed", "retried"))
                starts = sorted(int(s.split(b",")[1])
                                for s in r.lrange("tq:run:%s:stamps" % RUN, 0, -1))
                out.update(pushed=len(msgs), completed=c, failed=f, retried=rt,
                           seconds=round(seconds, 2), per_s=round((c + f) / seconds, 1),
                           left_on_list=r.llen(QUEUE), bursts=bursts(starts))
                srv.keep_dir = c + f < len(msgs)
            else:
                srv.keep_dir = False
        finally:
            benchlib.stop_worker(worker)
            log.close()
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
