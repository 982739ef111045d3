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

The Redis URL parsing and /proc readings are shared with the other hooks
(bench/frameworks/tqbench_hooklib.py).

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
import socket
import struct
import sys
import threading
import time

import redis
from rq import __version__ as rq_version
from rq.worker import SimpleWorker, Worker

# bench/frameworks/ holds what the hooks share (tqbench_hooklib.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tqbench_hooklib import env, process_tree_usage, redis_client  # noqa: E402

# Job meta written by bench/frameworks/rq.c (keep in sync).
M_RUN = "tqbench_run"
M_ENQ = "tqbench_enq_us"
M_SCHED = "tqbench_sched_us"

FLUSH_INTERVAL_S = 0.1
STAMPS_PER_RPUSH = 1000

# the outcome page: outcome, started_us, done_us
OUTCOME = struct.Struct("qqq")
NONE, COMPLETED, FAILED, RETRIED = 0, 1, 2, 3

log = logging.getLogger("tqbench.rq_hook")


def now_us():
    return time.time_ns() // 1000


class Config:
    def __init__(self):
        self.url = env("TQ_RQ_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.prefix = env("TQ_RQ_PREFIX", "tq")
        self.run = env("TQ_RQ_RUN", "standalone")
        self.worker_id = env("TQ_RQ_WORKER_ID", "%s-%d" % (socket.gethostname(), os.getpid()))
        self.protocol = env("TQ_RQ_PROTOCOL", "rq")
        raw = env("TQ_RQ_HEARTBEAT_INTERVAL", "1")
        try:
            self.interval = min(3600.0, max(0.1, float(raw)))
        except ValueError:
            log.warning("tqbench hook: TQ_RQ_HEARTBEAT_INTERVAL=%r is not a number; using 1 s",
                        raw)
            self.interval = 1.0
        self.enabled = env("TQ_RQ_HOOK", "1") != "0"

    def stats_key(self, run):
        return "%s:run:%s:stats" % (self.prefix, run)

    def stamps_key(self, run):
        return "%s:run:%s:stamps" % (self.prefix, run)

    def worker_key(self):
        return "%s:worker:%s" % (self.prefix, self.worker_id)

    def workers_key(self):
        return "%s:workers" % self.prefix


class Batch:
    """Counts and stamps of the jobs the worker finished since the last
    flush, written by the worker's main thread, flushed by a thread."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.counts = {}   # run -> [completed, failed, retried]
        self.stamps = {}   # run -> ["origin,start,done", ...]
        self.processed = self.failed = self.inflight = 0
        self.client = None
        self.thread = None
        self.stop = threading.Event()
        self.warned_at = 0.0

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="tqbench-flush", daemon=True)
        self.thread.start()

    def job_done(self, run, outcome, stamp):
        with self.lock:
            c = self.counts.get(run)
            if c is None:
                c = self.counts[run] = [0, 0, 0]
            if outcome == RETRIED:
                c[2] += 1
                return
            self.processed += 1
            if outcome != COMPLETED:
                c[1] += 1
                self.failed += 1
                return
            c[0] += 1
            if stamp is not None:  # latency of completed jobs only, as tqworker
                self.stamps.setdefault(run, []).append(stamp)

    def totals(self):
        with self.lock:
            return self.processed, self.failed, self.inflight

    def _loop(self):
        while not self.stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def flush(self):
        with self.lock:
            counts, stamps = self.counts, self.stamps
            self.counts, self.stamps = {}, {}
        if not counts and not stamps:
            return True
        try:
            if self.client is None:
                self.client = redis_client(self.cfg.url)
            pipe = self.client.pipeline(transaction=True)
            for run, (completed, nfailed, retried) in counts.items():
                key = self.cfg.stats_key(run)
                if completed:
                    pipe.hincrby(key, "completed", completed)
                if nfailed:
                    pipe.hincrby(key, "failed", nfailed)
                if retried:
                    pipe.hincrby(key, "retried", retried)
            for run, items in stamps.items():
                key = self.cfg.stamps_key(run)
                for i in range(0, len(items), STAMPS_PER_RPUSH):
                    pipe.rpush(key, *items[i:i + STAMPS_PER_RPUSH])
            pipe.execute()
            return True
        except redis.RedisError as exc:
            # Keep the batch for the next flush: a lost count would stall the run.
            with self.lock:
                for run, c in counts.items():
                    mine = self.counts.setdefault(run, [0, 0, 0])
                    for i in range(3):
                        mine[i] += c[i]
                for run, items in stamps.items():
                    self.stamps[run] = items + self.stamps.get(run, [])
            now = time.monotonic()
            if now - self.warned_at > 5:
                self.warned_at = now
                log.warning("tqbench hook: flush to Redis failed, will retry: %s", exc)
            self.client = None
            return False

    def close(self):
        self.stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=2)
        for _ in range(3):
            if self.flush():
                break
            time.sleep(0.2)


class Heartbeat:
    def __init__(self, cfg, batch, worker, pool):
        self.cfg = cfg
        self.batch = batch
        self.pid = os.getpid()
        self.started_us = now_us()
        self.host = socket.gethostname()
        self.queues = ",".join(q.name for q in worker.queues)
        self.pool = pool
        self.client = redis_client(cfg.url)
        self.stop = threading.Event()
        self.thread = None
        self.warned_at = 0.0

    def fields(self):
        processed, failed, inflight = self.batch.totals()
        user, sys_, rss, pss = process_tree_usage(self.pid)
        # one job at a time per worker, popped one at a time (BLPOP)
        fields = {"pid": self.pid, "host": self.host, "queues": self.queues,
                  "concurrency": 1, "prefetch": 1, "protocol": self.cfg.protocol,
                  "version": "rq-%s" % rq_version, "pool": self.pool,
                  "started_us": self.started_us, "beat_us": now_us(),
                  "processed": processed, "failed": failed, "inflight": inflight,
                  "cpu_user_us": user, "cpu_sys_us": sys_, "rss_kb": rss}
        if pss is not None:
            fields["pss_kb"] = pss
        return fields

    def beat(self, first=False):
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self.cfg.worker_key(), mapping=self.fields())
            pipe.pexpire(self.cfg.worker_key(), int(3000 * self.cfg.interval))
            if first:
                pipe.sadd(self.cfg.workers_key(), self.cfg.worker_id)
            pipe.execute()
            return True
        except redis.RedisError as exc:
            now = time.monotonic()
            if now - self.warned_at > 5:
                self.warned_at = now
                log.warning("tqbench hook: heartbeat %s failed: %s", self.cfg.worker_key(), exc)
            return False

    def start(self):
        registered = self.beat(first=True)

        def loop():
            nonlocal registered
            while not self.stop.wait(self.cfg.interval):
                ok = self.beat(first=not registered)
                registered = registered or ok

        self.thread = threading.Thread(target=loop, name="tqbench-heartbeat", daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=2)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.srem(self.cfg.workers_key(), self.cfg.worker_id)
            pipe.delete(self.cfg.worker_key())
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("tqbench hook: could not deregister %s: %s", self.cfg.worker_id, exc)


class TqbenchMixin:
    """What both worker classes add to RQ's. TQBENCH_POOL names the class in
    the heartbeat's pool field."""

    TQBENCH_POOL = "fork"

    def _tq_setup(self):
        self._tq_cfg = Config()
        # MAP_SHARED | MAP_ANONYMOUS, made before any fork: the horse's
        # writes are seen by the worker process
        self._tq_page = mmap.mmap(-1, OUTCOME.size)
        self._tq_batch = Batch(self._tq_cfg)
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
        self._tq_beat = Heartbeat(self._tq_cfg, self._tq_batch, self, self.TQBENCH_POOL)
        self._tq_beat.start()

    def register_death(self):
        self._tq_batch.close()
        if self._tq_beat is not None:
            self._tq_beat.close()
            self._tq_beat = None
        super().register_death()

    def execute_job(self, job, queue):
        self._tq_set(NONE, 0, 0)
        with self._tq_batch.lock:
            self._tq_batch.inflight += 1
        try:
            super().execute_job(job, queue)
        finally:
            with self._tq_batch.lock:
                self._tq_batch.inflight -= 1
            outcome, started, done = OUTCOME.unpack_from(self._tq_page, 0)
            if outcome != NONE:
                meta = job.meta or {}
                run = meta.get(M_RUN) or self._tq_cfg.run
                origin = meta.get(M_SCHED) or meta.get(M_ENQ)
                stamp = None
                if outcome == COMPLETED and origin and started:
                    stamp = "%d,%d,%d" % (origin, started, done)
                self._tq_batch.job_done(run, outcome, stamp)

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
