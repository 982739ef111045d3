"""tqbench_atq_hook - counts and times AsyncTasQ tasks into tqbench's keys.

AsyncTasQ writes no heartbeat and no per-task timing of its own that a
benchmark could read exactly, so this hook does both from inside the worker
process, in tqworker's format (common/tq_keys.h):

  P:run:<run>:stats   HINCRBY completed / failed (a cross-check: the driver's
                      progress is AsyncTasQ's own queue:<q>:stats:* counters)
  P:run:<run>:stamps  RPUSH "origin_us,started_us,done_us" per completed task
  P:worker:<id>       heartbeat hash (MULTI HSET + PEXPIRE), SADD P:workers,
                      with the contract's fields (CPU and memory of the
                      worker process and its descendants from /proc)

Counts and stamps are batched and flushed every ~100 ms by a background
thread (and at exit), counters and stamps of one flush in one MULTI/EXEC.
The tasks of tqbench_tasks call task_started / task_done; the cpu task runs
in AsyncTasQ's thread pool, so the batch is locked. The heartbeat starts
before AsyncTasQ's worker does (tqbench_atq_worker.py), so "heartbeat
present" means "the process is up"; the task module is imported by
AsyncTasQ only when the first task arrives.

The run a task counts in and its enqueue time are the task's keyword
arguments written by common/tq_asynctasq.c (tqbench_run, tqbench_enq_us,
tqbench_sched_us); a task without them (sent by AsyncTasQ's own client)
counts in TQ_ATQ_RUN and has no stamp. The stamp's first field is the
latency origin: the scheduled time for open-loop runs, else the enqueue time.

The Redis URL parsing and /proc readings are shared with the Celery hook
(bench/frameworks/tqbench_hooklib.py).

Configuration (environment, set by tqbench's asynctasq adapter):
  TQ_ATQ_REDIS_URL            redis://[user:pass@]host[:port][/db] or
                              unix:///path[?db=N][&password=P]
  TQ_ATQ_PREFIX               key prefix (default tq)
  TQ_ATQ_RUN                  run id for tasks without tqbench kwargs
                              (default standalone)
  TQ_ATQ_WORKER_ID            heartbeat id (default <host>-<pid>)
  TQ_ATQ_QUEUES               the worker's queues, for the heartbeat
  TQ_ATQ_CONCURRENCY          the worker's --concurrency, for the heartbeat
  TQ_ATQ_HEARTBEAT_INTERVAL   seconds, 0.1..3600 (default 1); TTL 3 intervals
  TQ_ATQ_HOOK                 "0" disables the hook (overhead measurement)
"""

import atexit
import logging
import os
import socket
import sys
import threading
import time

import redis

# bench/frameworks/ holds what the hooks share (tqbench_hooklib.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tqbench_hooklib import process_tree_usage  # noqa: E402
from tqbench_hooklib import env as _env  # noqa: E402
from tqbench_hooklib import redis_client as _hooklib_client  # noqa: E402

FLUSH_INTERVAL_S = 0.1
STAMPS_PER_RPUSH = 1000

# keyword arguments written by common/tq_asynctasq.c (TQ_ATQ_KW_*; keep in sync)
KW_RUN = "tqbench_run"
KW_SEQ = "tqbench_seq"
KW_ENQ = "tqbench_enq_us"
KW_SCHED = "tqbench_sched_us"
KW_PAD = "tqbench_pad"

log = logging.getLogger("tqbench.atq_hook")


def redis_client(url=None):
    return _hooklib_client(url or _env("TQ_ATQ_REDIS_URL", "redis://127.0.0.1:6379/0"))


class Config:
    def __init__(self):
        self.prefix = _env("TQ_ATQ_PREFIX", "tq")
        self.run = _env("TQ_ATQ_RUN", "standalone")
        self.worker_id = _env("TQ_ATQ_WORKER_ID", "%s-%d" % (socket.gethostname(), os.getpid()))
        self.queues = _env("TQ_ATQ_QUEUES", "default")
        try:
            self.concurrency = max(1, int(_env("TQ_ATQ_CONCURRENCY", "10")))
        except ValueError:
            self.concurrency = 10
        raw = _env("TQ_ATQ_HEARTBEAT_INTERVAL", "1")
        try:
            self.interval = min(3600.0, max(0.1, float(raw)))
        except ValueError:
            log.warning("tqbench hook: TQ_ATQ_HEARTBEAT_INTERVAL=%r is not a number; using 1 s", raw)
            self.interval = 1.0
        self.enabled = _env("TQ_ATQ_HOOK", "1") != "0"

    def stats_key(self, run):
        return "%s:run:%s:stats" % (self.prefix, run)

    def stamps_key(self, run):
        return "%s:run:%s:stamps" % (self.prefix, run)

    def worker_key(self):
        return "%s:worker:%s" % (self.prefix, self.worker_id)

    def workers_key(self):
        return "%s:workers" % self.prefix


class Batch:
    """Counts and stamps of the tasks run since the last flush, and the
    process's running totals for the heartbeat."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.counts = {}   # run -> [completed, failed]
        self.stamps = {}   # run -> ["origin,start,done", ...]
        self.processed = self.failed = self.inflight = 0
        self.client = None
        self.thread = None
        self.stop = threading.Event()
        self.warned_at = 0.0

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="tqbench-flush", daemon=True)
        self.thread.start()

    def task_started(self):
        with self.lock:
            self.inflight += 1

    def task_done(self, run, ok, stamp):
        with self.lock:
            self.inflight -= 1
            self.processed += 1
            c = self.counts.get(run)
            if c is None:
                c = self.counts[run] = [0, 0]
            if not ok:
                c[1] += 1
                self.failed += 1
                return
            c[0] += 1
            if stamp is not None:  # latency of completed tasks only, as tqworker
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
                self.client = redis_client()
            pipe = self.client.pipeline(transaction=True)
            for run, (completed, nfailed) in counts.items():
                if completed:
                    pipe.hincrby(self.cfg.stats_key(run), "completed", completed)
                if nfailed:
                    pipe.hincrby(self.cfg.stats_key(run), "failed", nfailed)
            for run, items in stamps.items():
                for i in range(0, len(items), STAMPS_PER_RPUSH):
                    pipe.rpush(self.cfg.stamps_key(run), *items[i:i + STAMPS_PER_RPUSH])
            pipe.execute()
            return True
        except redis.RedisError as exc:
            # keep the batch for the next flush: a lost stamp would fail the run's latency check
            with self.lock:
                for run, c in counts.items():
                    mine = self.counts.setdefault(run, [0, 0])
                    mine[0] += c[0]
                    mine[1] += c[1]
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


def _asynctasq_version():
    try:
        from importlib.metadata import version
        return version("asynctasq")
    except Exception:  # not installed as a distribution (source checkout), or no asynctasq
        return "unknown"


class Heartbeat:
    def __init__(self, cfg, batch):
        self.cfg = cfg
        self.batch = batch
        self.pid = os.getpid()
        self.started_us = time.time_ns() // 1000
        self.host = socket.gethostname()
        self.version = "asynctasq-%s" % _asynctasq_version()
        self.client = redis_client()
        self.stop = threading.Event()
        self.thread = None
        self.warned_at = 0.0

    def fields(self):
        processed, failed, inflight = self.batch.totals()
        user, sys_, rss, pss = process_tree_usage(self.pid)
        fields = {"pid": self.pid, "host": self.host, "queues": self.cfg.queues,
                  "concurrency": self.cfg.concurrency, "prefetch": 1,
                  "protocol": "asynctasq", "version": self.version,
                  "started_us": self.started_us, "beat_us": time.time_ns() // 1000,
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


class Hook:
    """What the task functions call. Disabled (TQ_ATQ_HOOK=0): every call is
    a no-op, so the same task module measures the hook's own cost."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.batch = Batch(cfg) if cfg.enabled else None
        self.heartbeat = None
        self.started = False
        self.lock = threading.Lock()

    def start(self):
        """Starts the flush thread and the heartbeat once per process."""
        with self.lock:
            if self.started or self.batch is None:
                return
            self.started = True
            self.batch.start()
            self.heartbeat = Heartbeat(self.cfg, self.batch)
            self.heartbeat.start()
            atexit.register(self.close)

    def close(self):
        if self.batch is not None:
            self.batch.close()
        if self.heartbeat is not None:
            self.heartbeat.close()
            self.heartbeat = None

    def begin(self):
        """Called when a task starts: its start stamp (wall-clock µs)."""
        if self.batch is not None:
            self.batch.task_started()
        return time.time_ns() // 1000

    def end(self, kwargs, start_us, ok):
        """Called when a task ends (ok: returned, else raised)."""
        if self.batch is None:
            return
        done = time.time_ns() // 1000
        run = kwargs.get(KW_RUN) or self.cfg.run
        origin = kwargs.get(KW_SCHED) or kwargs.get(KW_ENQ)
        stamp = "%d,%d,%d" % (origin, start_us, done) if origin else None
        self.batch.task_done(run, ok, stamp)


_hook = None
_hook_lock = threading.Lock()


def get():
    """The process's hook (created, not started, on first use)."""
    global _hook
    with _hook_lock:
        if _hook is None:
            _hook = Hook(Config())
        return _hook


def install():
    """Creates and starts the process's hook (heartbeat and flushing)."""
    hook = get()
    hook.start()
    return hook
