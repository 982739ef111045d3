"""tqbench_rq_hook - RQ worker classes that count and time jobs into tqbench's
native keys.

Loaded by RQ's own command line, as a user loads a custom worker:

  /usr/bin/python3 -m rq.cli worker -w tqbench_rq_hook.TqbenchWorker ...
  /usr/bin/python3 -m rq.cli worker -w tqbench_rq_hook.TqbenchSimpleWorker ...

TqbenchWorker is RQ's default Worker (one forked work horse per job),
TqbenchSimpleWorker its SimpleWorker (jobs run in the worker process). Both
write what tqworker writes (common/tq_keys.h):

  P:run:<run>:stats   HINCRBY completed / failed / retried
  P:run:<run>:stamps  RPUSH "origin_us,started_us,done_us" per completed job
  P:worker:<id>       heartbeat hash (MULTI HSET + PEXPIRE), SADD P:workers,
                      with the contract's fields; CPU and RSS of the worker
                      and its work horses from /proc

Where the outcome is known: RQ runs perform_job, and with it
handle_job_success / handle_job_failure, in the work horse (forking Worker)
or in the worker process (SimpleWorker). The overrides below write the
outcome and the start / done times into a small shared anonymous page
created before any fork; the worker process reads it when execute_job
returns (the horse has exited by then) and counts the job in its own batch.
So one code path serves both classes, the horse does no Redis I/O of ours,
and a horse that dies before it could say anything is counted through RQ's
own handle_job_failure, which the worker process then runs.

The counts of a job are taken after RQ's own bookkeeping for it
(handle_job_success / handle_job_failure return after their pipeline ran),
so when tqbench's count is complete, RQ's worker counters
(rq:worker:<name> successful_job_count / failed_job_count) and its
FailedJobRegistry are too: bench/frameworks/rq.c cross-checks them.

Batches are flushed every ~100 ms by a background thread and when the worker
stops (register_death), counters and stamps of one flush in one MULTI/EXEC,
so a reader that sees the final count also sees every stamp.

The run a job counts in and its enqueue time come from the job's meta
(tqbench_run, tqbench_enq_us, tqbench_sched_us, written by rq.c); a job
without them (enqueued by RQ's own client) counts in TQ_RQ_RUN and has no
stamp. The stamp's origin is the scheduled time for open-loop runs, else the
enqueue time. The start is taken when RQ's preparation of the job is done
(right before the function runs), the end after RQ recorded the outcome.

The configuration, the batch, the heartbeat, the Redis URL parsing and the
/proc readings are shared with the other hooks (bench/frameworks/tqbench_hooklib.py).

Configuration (environment, set by tqbench's rq adapter):
  TQ_RQ_REDIS_URL            redis://[user:pass@]host[:port][/db] or
                             unix:///path[?db=N][&password=P]
  TQ_RQ_PREFIX               key prefix (default tq)
  TQ_RQ_RUN                  run id for jobs without tqbench meta
                             (default standalone)
  TQ_RQ_WORKER_ID            heartbeat id (default <host>-<pid>)
  TQ_RQ_PROTOCOL             the heartbeat's protocol: the adapter's name,
                             rq or rq-simple (default rq)
  TQ_RQ_HEARTBEAT_INTERVAL   seconds, 0.1..3600 (default 1); TTL 3 intervals
  TQ_RQ_HOOK                 "0" disables the hook (overhead measurement):
                             the classes are then RQ's own
"""

import logging
import mmap
import os
import struct
import sys

from rq import __version__ as rq_version
from rq.worker import SimpleWorker, Worker

# bench/frameworks/ holds what the hooks share (tqbench_hooklib.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tqbench_hooklib import (COMPLETED, FAILED, RETRIED, Batch, Heartbeat,  # noqa: E402
                             HookConfig, env, now_us)

# Job meta written by bench/frameworks/rq.c (keep in sync).
M_RUN = "tqbench_run"
M_ENQ = "tqbench_enq_us"
M_SCHED = "tqbench_sched_us"

# the outcome page: outcome, started_us, done_us
OUTCOME = struct.Struct("qqq")
NONE = 0

log = logging.getLogger("tqbench.rq_hook")


class Config(HookConfig):
    def __init__(self):
        super().__init__("TQ_RQ_", log)
        self.protocol = env("TQ_RQ_PROTOCOL", "rq")


class TqbenchMixin:
    """What both worker classes add to RQ's. TQBENCH_POOL names the class in
    the heartbeat's pool field."""

    TQBENCH_POOL = "fork"

    def _tq_setup(self):
        self._tq_cfg = Config()
        # MAP_SHARED | MAP_ANONYMOUS, made before any fork: the horse's
        # writes are seen by the worker process
        self._tq_page = mmap.mmap(-1, OUTCOME.size)
        self._tq_batch = Batch(self._tq_cfg, log)
        self._tq_beat = None

    def _tq_set(self, outcome=None, started=None, done=None):
        o, s, d = OUTCOME.unpack_from(self._tq_page, 0)
        OUTCOME.pack_into(self._tq_page, 0, o if outcome is None else outcome,
                          s if started is None else started, d if done is None else done)

    # -- worker process: birth, death, one job --

    def register_birth(self):
        super().register_birth()
        # the heartbeat from RQ's own registration on, so "heartbeat present"
        # means "the worker is about to pop"
        self._tq_batch.start()
        # one job at a time per worker, popped one at a time (BLPOP)
        static = {"queues": ",".join(q.name for q in self.queues), "concurrency": 1,
                  "prefetch": 1, "protocol": self._tq_cfg.protocol,
                  "version": "rq-%s" % rq_version, "pool": self.TQBENCH_POOL}
        self._tq_beat = Heartbeat(self._tq_cfg, log, static, self._tq_batch.totals)
        self._tq_beat.start()

    def register_death(self):
        self._tq_batch.close()
        if self._tq_beat is not None:
            self._tq_beat.close()
            self._tq_beat = None
        super().register_death()

    def execute_job(self, job, queue):
        self._tq_set(NONE, 0, 0)
        self._tq_batch.task_started()
        outcome = run = stamp = None
        try:
            super().execute_job(job, queue)
        finally:
            code, started, done = OUTCOME.unpack_from(self._tq_page, 0)
            if code != NONE:
                outcome = code
                meta = job.meta or {}
                run = meta.get(M_RUN) or self._tq_cfg.run
                origin = meta.get(M_SCHED) or meta.get(M_ENQ)
                if outcome == COMPLETED and origin and started:
                    stamp = "%d,%d,%d" % (origin, started, done)
            self._tq_batch.task_done(run, outcome, stamp)

    # -- work horse (forking Worker) or worker process (SimpleWorker) --

    def prepare_job_execution(self, job, *args, **kwargs):
        super().prepare_job_execution(job, *args, **kwargs)
        self._tq_set(started=now_us())

    def handle_job_success(self, job, queue, started_job_registry):
        super().handle_job_success(job, queue, started_job_registry)
        self._tq_set(COMPLETED, done=now_us())

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        # RQ's own test (Worker.handle_job_failure): retried while retries
        # remain, unless the job was stopped on purpose
        retry = bool(job.retries_left and job.retries_left > 0 and
                     self._stopped_job_id != job.id)
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=exc_string)
        self._tq_set(RETRIED if retry else FAILED, done=now_us())


def _enabled():
    return env("TQ_RQ_HOOK", "1") != "0"


if _enabled():
    class TqbenchWorker(TqbenchMixin, Worker):
        """RQ's default forking Worker, counted into tqbench's keys."""

        TQBENCH_POOL = "fork"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._tq_setup()

    class TqbenchSimpleWorker(TqbenchMixin, SimpleWorker):
        """RQ's SimpleWorker (no fork), counted into tqbench's keys."""

        TQBENCH_POOL = "simple"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._tq_setup()
else:
    # TQ_RQ_HOOK=0: RQ's own classes under the same names, so the overhead
    # measurement changes nothing but the hook
    TqbenchWorker = Worker
    TqbenchSimpleWorker = SimpleWorker
