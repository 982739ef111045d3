"""tqbench_rq_tasks - the RQ jobs tqbench benchmarks.

One function per tqworker kind, named in the jobs bench/frameworks/rq.c
writes ("tqbench_rq_tasks.<kind>" in the job's data, [func, null, args,
kwargs] read by RQ's JSONSerializer):

  noop            returns at once
  sleep(ms)       blocks ms milliseconds (I/O-bound: frees the GIL)
  cpu(us)         burns us microseconds of this thread's CPU time
  fail            raises; RQ retries it at once while the job's
                  retries_left (RQ's Retry, interval 0) allows, then it is
                  failed

The same semantics as Celery's tasks (bench/frameworks/celery/tqbench_tasks.py).
Results are not kept: every job is enqueued with result_ttl 0, so RQ deletes
a finished job at once. A payload pad arrives as the keyword argument "pad"
and is ignored. The worker must run with this directory on PYTHONPATH.
"""

import time


def noop(pad=None):
    return None


def sleep(ms, pad=None):
    time.sleep(ms / 1000.0)


def cpu(us, pad=None):
    # thread CPU time, as Celery's cpu task: the work, not the wait for it
    deadline = time.thread_time_ns() + us * 1000
    x = 0
    while time.thread_time_ns() < deadline:
        for i in range(64):
            x += i * i
    return None


class TqbenchFailure(RuntimeError):
    """What the fail task raises on purpose."""


def fail(pad=None):
    # RQ itself decides whether the attempt is retried (the job's
    # retries_left), so the task only has to fail
    raise TqbenchFailure("tqbench fail task")
