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

The configuration, the batch, the heartbeat, the Redis URL parsing and the
/proc readings are shared with the other hooks (bench/frameworks/tqbench_hooklib.py).

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
import sys
import threading

# bench/frameworks/ holds what the hooks share (tqbench_hooklib.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tqbench_hooklib import COMPLETED, FAILED, Batch, Heartbeat, HookConfig, now_us  # noqa: E402
from tqbench_hooklib import env as _env  # noqa: E402

# keyword arguments written by common/tq_asynctasq.c (TQ_ATQ_KW_*; keep in sync)
KW_RUN = "tqbench_run"
KW_SEQ = "tqbench_seq"
KW_ENQ = "tqbench_enq_us"
KW_SCHED = "tqbench_sched_us"
KW_PAD = "tqbench_pad"

log = logging.getLogger("tqbench.atq_hook")


class Config(HookConfig):
    def __init__(self):
        super().__init__("TQ_ATQ_", log)
        self.queues = _env("TQ_ATQ_QUEUES", "default")
        try:
            self.concurrency = max(1, int(_env("TQ_ATQ_CONCURRENCY", "10")))
        except ValueError:
            self.concurrency = 10


def _asynctasq_version():
    try:
        from importlib.metadata import version
        return version("asynctasq")
    except Exception:  # not installed as a distribution (source checkout), or no asynctasq
        return "unknown"


class Hook:
    """What the task functions call. Disabled (TQ_ATQ_HOOK=0): every call is
    a no-op, so the same task module measures the hook's own cost."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.batch = Batch(cfg, log) if cfg.enabled else None
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
            static = {"queues": self.cfg.queues, "concurrency": self.cfg.concurrency,
                      "prefetch": 1, "protocol": "asynctasq",
                      "version": "asynctasq-%s" % _asynctasq_version()}
            self.heartbeat = Heartbeat(self.cfg, log, static, self.batch.totals)
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
        return now_us()

    def end(self, kwargs, start_us, ok):
        """Called when a task ends (ok: returned, else raised)."""
        if self.batch is None:
            return
        done = now_us()
        run = kwargs.get(KW_RUN) or self.cfg.run
        origin = kwargs.get(KW_SCHED) or kwargs.get(KW_ENQ)
        stamp = "%d,%d,%d" % (origin, start_us, done) if origin else None
        self.batch.task_done(run, COMPLETED if ok else FAILED, stamp)


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
